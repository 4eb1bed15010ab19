# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: time to rollback - a canary build that turns bad in the middle of its SLI window.

On the embedded lab (scripts/lab.sh up; brought down at the end unless VEZA_KEEP_LAB=1), under
steady load through HAProxy (40 req/s on /api/v1/tracks, 30 % sticky clients), for each
SLI_PROBE_INTERVAL (5 s, 30 s) and each way of turning bad (5xx: every API request answers 503;
slow: every API request takes 0.9 s):
1. the canary's unit environment file (roles/backend_api's backend_api_env_file) points the
   stand-in at a control file, and playbooks/canary.yml rolls a good build onto the canary (its
   restart reads the environment file);
2. right after the first green probe line of prom_sli_watch, the bench writes the bad behaviour
   into the control file (the flip: the build turns bad at a known instant, just after a probe,
   i.e. the worst phase);
3. detection = flip -> the first red probe line in the live output;
   restoration = red -> the canary back on veza-api.previous and UP in HAProxy (runtime API
   polled every 0.1 s), split into red -> out of rotation (MAINT) and MAINT -> UP again. Once the
   canary is in MAINT the bench empties the control file, so that the restored binary behaves as
   its build.
Before each run it waits out that run's rate range since the previous breach, so that a window
never sees an earlier run's breach (a probe 0 that is not green aborts the bench).
Prints a table and writes tests/bench/results/rollback.json. No timed assertions.

Usage: python tests/bench/bench_rollback.py [--intervals 5,30] [--kinds 5xx,slow]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # first: tests/conftest.py installs the collection loader
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from lab import (Lab, LiveRun, make_builds, previous_version, set_control, unwire_control,  # noqa: E402  pylint: disable=wrong-import-position
                 wire_control)
from loadgen import LoadGen, summary  # noqa: E402  pylint: disable=wrong-import-position

CANARY = "backend-api-2"
SCRAPE = 2  # the lab's Prometheus scrape interval (group_vars/lab.yml)
BAD = {"5xx": {"error_rate": 1.0}, "slow": {"delay": 0.9}}
ROW = "%-9s %-5s %10s %11s %10s %12s %9s %6s %8s %9s"


def rate_range(interval):
    """prom_sli_watch's rate range R: max(2 x interval, 4 x scrape interval)."""
    return max(2 * interval, 4 * SCRAPE)


def status(lab):
    try:
        return (lab.server_states().get(CANARY) or "").split(" ")[0]
    except Exception:  # pylint: disable=broad-except
        return "?"


def one_run(lab, builds, interval, kind, reports):
    window = max(60, 4 * interval)
    previous = previous_version(lab, CANARY)
    artifact = builds["v1.0.9"] if lab.version(CANARY) == "1.0.10" else builds["v1.0.10"]
    wire_control(lab, CANARY)
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=900, clients=8, sticky_share=0.3).start()
    row = {"interval_s": interval, "bad": kind, "window_s": window, "rate_range_s": rate_range(interval)}
    try:
        with LiveRun("canary", reports, ARTIFACT=artifact, SLI_WINDOW=window, SLI_PROBE_INTERVAL=interval) as run:
            idx, _t, line = run.wait_for("probe 0 ", timeout=300)
            if not line.rstrip().endswith("GREEN"):
                raise RuntimeError("probe 0 is not green before the flip (a previous breach still in range?): " + line)
            set_control(lab, CANARY, BAD[kind])
            t_flip = time.time()
            idx, t_red, red_line = run.wait_for("  RED", timeout=window + 60, after=idx)
            t_maint = t_up = None
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and t_up is None:
                st = status(lab)
                if t_maint is None and st == "MAINT":
                    t_maint = time.time()
                    set_control(lab, CANARY, {})  # out of rotation: the restored binary behaves as its build
                elif t_maint is not None and st == "UP":
                    t_up = time.time()
                time.sleep(0.1)
            rc, out = run.finish()
    finally:
        res = gen.stop()
        unwire_control(lab, CANARY)
    version = lab.version(CANARY)
    print(summary(res).split("\n", 1)[0])
    row.update({
        "red_probe": red_line.split("probe ", 1)[1].split()[0],
        "detection_s": round(t_red - t_flip, 2),
        "red_to_maint_s": round(t_maint - t_red, 2) if t_maint else None,
        "maint_to_up_s": round(t_up - t_maint, 2) if t_up and t_maint else None,
        "restoration_s": round(t_up - t_red, 2) if t_up else None,
        "total_s": round(t_up - t_flip, 2) if t_up else None,
        "rolled_back": rc != 0 and "FAILED and was rolled back" in out and version == previous,
        "version_after": version, "bad_responses": res["failed"], "sent": res["sent"],
        "max_latency_s": res["max_s"],
    })
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--intervals", default="5,30", help="SLI_PROBE_INTERVAL values, comma separated")
    parser.add_argument("--kinds", default="5xx,slow", help="ways the build turns bad: 5xx, slow")
    a = parser.parse_args()
    intervals = [int(x) for x in a.intervals.split(",") if x]
    kinds = [k for k in a.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in BAD]
    if unknown or not intervals or min(intervals) < 1:
        parser.error("--kinds takes %s; --intervals positive integers" % ", ".join(sorted(BAD)))
    os.makedirs(RESULTS, exist_ok=True)
    lab = Lab()
    lab.up()
    work = tempfile.mkdtemp(prefix="veza-bench-rollback-")
    make_builds(work)
    builds = {"v1.0.9": os.path.join(work, "veza-api-v1.0.9"), "v1.0.10": os.path.join(work, "veza-api-v1.0.10")}
    rows = []
    last_bad = 0.0
    try:
        for interval in intervals:
            for kind in kinds:
                # The next window's rate range must not reach back into the previous run's breach
                # (its first probe comes 20 s or more after the run starts: this is conservative).
                time.sleep(max(0.0, last_bad + rate_range(interval) + 5 - time.time()))
                rows.append(one_run(lab, builds, interval, kind, work))
                last_bad = time.time()
                print(json.dumps(rows[-1], sort_keys=True))
    finally:
        unwire_control(lab, CANARY)
        if os.environ.get("VEZA_KEEP_LAB") != "1":
            lab.down()
    print()
    print(ROW % ("interval", "bad", "detection", "red->MAINT", "MAINT->UP", "restoration", "total", "probe",
                 "failed", "rollback"))
    for r in rows:
        print(ROW % ("%d s" % r["interval_s"], r["bad"], "%.1f s" % r["detection_s"], _s(r["red_to_maint_s"]),
                     _s(r["maint_to_up_s"]), _s(r["restoration_s"]), _s(r["total_s"]), r["red_probe"],
                     r["bad_responses"], "ok" if r["rolled_back"] else "NO"))
    path = os.path.join(RESULTS, "rollback.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"scrape_interval_s": SCRAPE, "load_rate": 40, "rows": rows}, fh, indent=1, sort_keys=True)
    print("results: %s" % path)


def _s(value):
    return "-" if value is None else "%.1f s" % value


if __name__ == "__main__":
    main()
