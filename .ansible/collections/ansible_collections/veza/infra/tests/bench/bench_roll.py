# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: zero-drop, zero-stall roll of the lab fleet, against a control roll in the same run.

On the embedded lab (scripts/lab.sh up; brought down at the end unless VEZA_KEEP_LAB=1), with the
same steady load through HAProxy (tests/loadgen.py: 30 % sticky clients, half keep-alive):
1. canary + peers roll by playbooks/canary.yml (drain -> maint -> push -> restart -> health ->
   re-enable, SLI window of 30 s on the canary), v1.0.9 -> v1.0.10;
2. control: the same fleet rolled back to v1.0.9 by plain `systemctl restart` of each backend
   after copying the binary (no drain), one after the other, waiting for node health between.
Load runs from 10 s before each roll to 10 s after it.
Prints requests sent, failed, p50/p99/p99.9, max latency and requests over 1 s for each, and the
ratio; writes tests/bench/results/roll.json.

Usage: python tests/bench/bench_roll.py [--rate 60]
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

from lab import BACKENDS, Lab, make_builds, run_playbook  # noqa: E402  pylint: disable=wrong-import-position
from loadgen import LoadGen, summary  # noqa: E402  pylint: disable=wrong-import-position

ROW = "%-26s %7s %6s %8s %8s %9s %8s %7s %8s"


def control_roll(lab, build):
    """What deploy-canary.sh without drain amounts to: copy, restart, wait for node health."""
    for node in BACKENDS:
        lab.push(build, node, "/opt/veza/backend-api/veza-api")
        lab.exec(node, "systemctl", "restart", "veza-backend-api")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if lab.exec(node, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8080/api/v1/health",
                        check=False).returncode == 0:
                break
            time.sleep(0.2)
        lab.wait_status(node, "UP", timeout=60)


def measured(lab, rate, action, pad=10.0):
    """Load from `pad` s before the roll to `pad` s after it (a fast control roll would else see few requests)."""
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=rate, duration=900, clients=12, sticky_share=0.3)
    gen.start()
    time.sleep(pad)
    t0 = time.monotonic()
    try:
        action()
        roll_s = time.monotonic() - t0
        time.sleep(pad)
    finally:
        res = gen.stop()
    res["roll_s"] = round(roll_s, 1)
    print(summary(res))
    return res


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rate", type=float, default=60.0, help="requests/s through HAProxy (bounded)")
    a = parser.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    lab = Lab()
    lab.up()
    work = tempfile.mkdtemp(prefix="veza-bench-roll-")
    make_builds(work)
    try:
        def canary():
            proc, _elapsed = run_playbook("canary", work, ARTIFACT=os.path.join(work, "veza-api-v1.0.10"))
            if proc.returncode != 0:
                raise RuntimeError("canary failed:\n" + proc.stdout[-3000:])

        rows = {"canary.yml (drain, maint)": measured(lab, a.rate, canary),
                "control: systemctl restart": measured(
                    lab, a.rate, lambda: control_roll(lab, os.path.join(work, "veza-api-v1.0.9")))}
    finally:
        if os.environ.get("VEZA_KEEP_LAB") != "1":
            lab.down()
    print()
    print(ROW % ("roll (2 backends)", "sent", "failed", "p50 ms", "p99 ms", "p99.9 ms", "max ms", ">1 s", "roll s"))
    for name, r in rows.items():
        print(ROW % (name, r["sent"], r["failed"], round(r["p50_s"] * 1000, 1), round(r["p99_s"] * 1000, 1),
                     round(r["p999_s"] * 1000, 1), round(r["max_s"] * 1000, 1), r["over_1s"], r["roll_s"]))
    with open(os.path.join(RESULTS, "roll.json"), "w", encoding="utf-8") as fh:
        json.dump({"rate": a.rate, "rows": {k: {x: v for x, v in r.items() if x != "failures"} for k, r in rows.items()}},
                  fh, indent=1, sort_keys=True)
    print("results: %s" % os.path.join(RESULTS, "roll.json"))


if __name__ == "__main__":
    main()
