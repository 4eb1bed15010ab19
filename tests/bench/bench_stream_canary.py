# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: a stream-server canary (CANARY_SERVICE=stream-server) under URI-hashed load, and
what stream_pool's consistent hash did with every URI (issue 19).

On the embedded lab (scripts/lab.sh up; brought down at the end unless VEZA_KEEP_LAB=1), URI-hashed
load (tests/loadgen.py ``uris``: 60 stream URIs taken in turn) through HAProxy while
playbooks/canary.yml rolls stream-server-2 (9 s SLI gate) then stream-server-1 to v1.0.10, and
for stream_pool's slowstart + 3 s after. Prints, per phase (the canary out, then the peer out):
the URIs the drained server owned before (the share the hash predicts will move: a consistent
hash moves exactly the drained server's keys), the URIs that moved, those that moved without
being its own (0 expected), how many came back to their own server, and how the returns spread
over time (slowstart ramps the weight, so they come back over the ramp, not at once); plus
requests, failures and latencies. Writes tests/bench/results/stream_canary.json.

Usage: python tests/bench/bench_stream_canary.py [--rate 60]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # first: tests/conftest.py installs the collection loader
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from lab import Lab, make_builds  # noqa: E402  pylint: disable=wrong-import-position
from loadgen import summary  # noqa: E402  pylint: disable=wrong-import-position
from stream_canary import (  # noqa: E402  pylint: disable=wrong-import-position
    CANARY, PEER, moves, owners, settle, slowstart_s, stream_run)

ROW = "%-22s %6s %9s %7s %9s %9s %10s"


def returns(res, before, uris, server, t_from, t_to):
    """Seconds (after the load's start) at which each of `uris` came back to `server` between t_from and t_to."""
    out = []
    for uri in uris:
        back = [t for t, s in res["per_uri"][uri]["servers"] if s == server and t_from <= t < t_to and s == before[uri]]
        if back:
            out.append(back[-1])
    return sorted(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rate", type=float, default=60.0, help="requests/s through HAProxy (bounded)")
    a = parser.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    lab = Lab()
    lab.up()
    work = tempfile.mkdtemp(prefix="veza-bench-stream-")
    builds = make_builds(work)
    try:
        settle(lab)
        before = owners(lab)
        ramp = slowstart_s(lab)
        rc, output, res, t_peer = stream_run(lab, work, builds["v1.0.10"], ramp + 3.0, rate=a.rate)
        if rc != 0 or t_peer is None:
            raise RuntimeError("stream canary failed (rc %s):\n%s" % (rc, output[-3000:]))
        after = owners(lab)
    finally:
        if os.environ.get("VEZA_KEEP_LAB") != "1":
            lab.down()
    canary, peer = lab.node(CANARY), lab.node(PEER)
    got = moves(before, res, canary, peer, t_peer)
    n = len(before)
    print(summary(res).splitlines()[0])
    print("\nstream_pool, %d URIs, slowstart %.0f s; owners before: %s" % (
        n, ramp, {s: len(u) for s, u in got["own"].items()}))
    print(ROW % ("phase", "owned", "predicted", "moved", "not own", "returned", "return spread"))
    rows = {}
    for phase, server, moved_set, t_from, t_to in (("canary out", canary, got["canary_phase"], 0.0, t_peer),
                                                   ("peer out", peer, got["peer_phase"], t_peer, float("inf"))):
        own = got["own"][server]
        back = returns(res, before, moved_set, server, t_from, t_to)
        spread = round(back[-1] - back[0], 1) if back else None
        rows[phase] = {"server": server, "owned": len(own), "predicted_share": round(len(own) / n, 3),
                       "moved": len(moved_set), "moved_share": round(len(moved_set) / n, 3),
                       "moved_not_own": len(moved_set - own), "returned": len(back), "return_spread_s": spread}
        print(ROW % (phase, len(own), "%.1f %%" % (100.0 * len(own) / n), len(moved_set), len(moved_set - own),
                     len(back), "%s s" % spread))
    out = {"uris": n, "rate": a.rate, "slowstart_s": ramp, "rows": rows, "ended_home": len(got["ended_home"]),
           "owners_unchanged_after": after == before, "failed_uris": len(got["failed"]),
           "load": {k: v for k, v in res.items() if k not in ("failures", "per_uri", "sticky_switches")}}
    print("ended on their own server: %d of %d; owners after == before: %s; URIs with a failed request: %d"
          % (len(got["ended_home"]), n, after == before, len(got["failed"])))
    with open(os.path.join(RESULTS, "stream_canary.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
    print("results: %s" % os.path.join(RESULTS, "stream_canary.json"))


if __name__ == "__main__":
    main()
