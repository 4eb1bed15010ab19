# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (#17): detection time and bad requests served, for the four cases of
tests/lab/test_watch_roll.py, on the embedded lab (2 backends: 1 canary + 1 peer), 40 req/s on
/api/v1/tracks (30 % sticky), SLI windows of 12 s, a probe every 3 s, Prometheus scraping every 2 s:

a) fleet-wide slowdown (both stand-ins 0.6-0.7 s): fault -> first non-green probe of the absolute
   gate (red: the false rollback) and of the relative gate (inconclusive: no rollback);
b) canary-only regression below the SLO (canary 0.1-0.2 s, peers ~20 ms): fault -> relative red;
   bad requests = the canary's share of the requests sent in that time (estimate);
c) a build that turns bad (30 % 503) during the peer roll (SLI_DURING_PEERS=1, ROLLBACK_PEERS=on_red):
   fault -> the watcher's red probe, fault -> the playbook reads it (end of the batch in flight),
   fault -> the bad node in MAINT (rollback, newest first: the peer, then the canary); failed requests;
d) a bad bake (the peer 30 % 503 in BAKE_WINDOW=12): fault -> red, fault -> the bad node in MAINT.

It runs the lab test functions themselves (the same runs, the numbers they record in MEASURED),
prints a table and writes tests/bench/results/watch_roll.json. No timed assertions.

Usage: VEZA_LAB_NAME=... python tests/bench/bench_watch_roll.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from lab import Lab, make_builds  # noqa: E402  pylint: disable=wrong-import-position
import test_watch_roll as twr  # noqa: E402  pylint: disable=wrong-import-position


def _fmt(v, unit="s"):
    return "-" if v is None else ("%.1f %s" % (v, unit) if isinstance(v, float) else "%s" % v)


def main():
    lab = Lab()
    lab.up()
    work = tempfile.mkdtemp(prefix="bench-watch-roll-")
    builds = make_builds(os.path.join(work, "builds"))
    reports = os.path.join(work, "reports")
    os.makedirs(reports)
    wired = twr.wire_both(lab)
    nodes = next(wired)
    try:
        twr.test_fleet_wide_slowdown_and_canary_only_regression(lab, nodes)
        twr.test_bad_after_the_canary_window_is_caught_during_the_peer_roll(lab, nodes, builds, reports)
        twr.test_bad_bake_rolls_the_fleet_back(lab, nodes, builds, reports)
    finally:
        for _nodes in wired:
            pass
        if os.environ.get("VEZA_KEEP_LAB") != "1":
            lab.down()
    m = twr.MEASURED
    only = m["canary_only"]
    bad_b = (only["relative"]["first_not_green_s"] or 0) * only["rate"] * only["canary_share"]
    rows = [
        ("a) fleet-wide slowdown, absolute gate", m["fleet"]["absolute"]["verdict"], m["fleet"]["absolute"]["first_not_green_s"],
         "false rollback (every request slow, not the build)"),
        ("a) fleet-wide slowdown, relative gate", m["fleet"]["relative"]["verdict"], m["fleet"]["relative"]["first_not_green_s"],
         "no rollback; release stops at the end of the hold"),
        ("b) canary-only x10 below SLO, absolute", m["canary_only"]["absolute"]["verdict"], None, "never detected"),
        ("b) canary-only x10 below SLO, relative", m["canary_only"]["relative"]["verdict"],
         m["canary_only"]["relative"]["first_not_green_s"], "~%d slow requests on the canary before red" % bad_b),
        ("c) bad during the peer roll: watcher red", "red", m["during_peers"]["watcher_red_s"], ""),
        ("c)   ... read by the playbook", "stop", m["during_peers"]["read_s"], "end of the batch in flight"),
        ("c)   ... bad node in MAINT (rollback)", "rolled back", m["during_peers"]["maint_s"],
         "%d failed of %d requests" % (m["during_peers"]["failed"], m["during_peers"]["sent"])),
        ("d) bad bake: red", "red", m["bake"]["red_s"], ""),
        ("d)   ... bad node in MAINT (rollback)", "rolled back", m["bake"]["maint_s"],
         "%d failed of %d requests" % (m["bake"]["failed"], m["bake"]["sent"])),
    ]
    print("\n%-44s %-13s %-12s %s" % ("case", "verdict", "fault->", "bad requests served"))
    for name, verdict, t, note in rows:
        print("%-44s %-13s %-12s %s" % (name, verdict, _fmt(t), note))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "watch_roll.json"), "w", encoding="utf-8") as fh:
        json.dump(m, fh, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
