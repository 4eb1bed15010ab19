# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How fast does prom_sli_watch turn red after a breach? Prints figures, asserts nothing.

Starts the Prometheus lab of tests/integration/prometheus_lab.py (real Prometheus, 1 s scrape,
the veza-api stand-in under bounded traffic), then for each kind of breach (slow, 5xx) and each
probe interval runs the module through `ansible` for a few rounds, switches the breach on after two
green probes and measures:
  breach->visible  until Prometheus itself shows the SLI over its threshold (watcher, 0.2 s polls)
  visible->red     from there to the start of the red probe
  breach->red      the whole detection delay
Writes the last report (JSON + HTML chart) and a JSON summary to tests/bench/results/.
Usage: python tests/bench/bench_prom_sli_watch.py [ROUNDS]
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
# conftest installs the collection loader for ansible_collections.veza.infra imports
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
import prometheus_lab as pl  # noqa: E402  pylint: disable=wrong-import-position
from integration.test_prom_sli_watch import Run, epoch, wait_until  # noqa: E402  pylint: disable=wrong-import-position

RESULTS = os.path.join(HERE, "results")
INTERVALS = (1, 2, 5)


def one_round(lab, behaviour, sli, query, interval, report):
    limit = 0.5 if sli == "p95_latency" else 0.005
    runner = Run({"url": lab.prometheus.url, "selector": lab.selector, "window": 60, "interval": interval,
                  "min_window": 1, "scrape_interval": lab.scrape_interval, "report_path": report})
    try:
        wait_until(lambda: len(runner.probe_lines()) >= 2 or runner.proc.poll() is not None, 60, what="two probes")
        breach = time.time()
        lab.stand_in.set(**behaviour)
        with pl.BreachWatch(lab.prometheus, query(lab.selector), limit) as watch:
            _rc, res = runner.wait(120)
    finally:
        lab.stand_in.set()
    red = epoch(res["probes"][-1]["time"]) if res["verdict"] == "red" else None
    lab.wait_healthy(60)
    # The next round must start clean: wait out the widest rate range any round uses
    # (the module's max(2 x interval, 4 x scrape) for the largest interval), plus a scrape.
    time.sleep(max(2 * max(INTERVALS), 4 * lab.scrape_interval) + lab.scrape_interval)
    visible = watch.visible_at if watch.visible_at is not None else float("nan")
    return {"breach_to_visible": visible - breach,
            "visible_to_red": (red - visible) if red else float("nan"),
            "breach_to_red": (red - breach) if red else float("nan"), "verdict": res["verdict"]}


def main(rounds=3):
    os.makedirs(RESULTS, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="veza-bench-prom-")
    lab = pl.Lab(workdir)
    rows = []
    try:
        lab.wait_healthy(60)
        for name, behaviour, sli, query in (("slow 0.9 s", {"delay": 0.9}, "p95_latency", pl.p95_query),
                                            ("5xx 20 %", {"error_rate": 0.2}, "error_rate", pl.error_ratio_query)):
            for interval in INTERVALS:
                runs = [one_round(lab, behaviour, sli, query, interval,
                                  os.path.join(RESULTS, "prom_sli_watch-report.json")) for _round in range(rounds)]
                row = {"breach": name, "interval": interval, "rounds": rounds,
                       "red": sum(r["verdict"] == "red" for r in runs)}
                for key in ("breach_to_visible", "visible_to_red", "breach_to_red"):
                    vals = [r[key] for r in runs]
                    row[key + "_median"] = round(statistics.median(vals), 2)
                    row[key + "_max"] = round(max(vals), 2)
                rows.append(row)
                print("%-11s interval %ds  red %d/%d  breach->visible med %.2f s  visible->red med %.2f max %.2f s"
                      "  breach->red med %.2f max %.2f s" % (
                          name, interval, row["red"], rounds, row["breach_to_visible_median"],
                          row["visible_to_red_median"], row["visible_to_red_max"], row["breach_to_red_median"],
                          row["breach_to_red_max"]), flush=True)
    finally:
        lab.close()
        shutil.rmtree(workdir, ignore_errors=True)
    with open(os.path.join(RESULTS, "bench_prom_sli_watch.json"), "w", encoding="utf-8") as fh:
        json.dump({"scrape_interval": pl.SCRAPE_INTERVAL, "rows": rows}, fh, indent=2)
    print("results: %s" % RESULTS)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
