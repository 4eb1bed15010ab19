# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the HAProxy runtime client and haproxy_server_state against a real HAProxy 2.6.

Starts the lab of tests/integration/haproxy_lab.py (loopback, temp dir, stopped at the end), then
1. times client calls (one connection each) over the unix and the TCP admin socket:
   ``show stat``, ``server()`` (show stat + show servers state) and ``set server ... state``;
2. times the module through ``ansible`` (wall clock per run): a no-op (idempotent) call, and a
   drain of an idle server (cost of the ``drain_settle`` default, 1 s).

Prints a table; writes tests/bench/results/haproxy_runtime.json.
Usage: python tests/bench/bench_haproxy_runtime.py [--calls N] [--runs N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from ansible_collections.veza.infra.plugins.module_utils._haproxy import HAProxyRuntime  # noqa: E402
from haproxy_lab import HAProxyLab  # noqa: E402  pylint: disable=wrong-import-position
from conftest_haproxy import run_ansible_module  # noqa: E402  pylint: disable=wrong-import-position


def stats(samples):
    s = sorted(samples)
    return {"n": len(s), "p50_ms": round(s[len(s) // 2] * 1000, 3),
            "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))] * 1000, 3), "max_ms": round(s[-1] * 1000, 3)}


def timed(fn, n):
    out = []
    for dummy in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return stats(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    results = {"client": {}, "module": {}}
    lab = HAProxyLab()
    lab.start()
    try:
        for label, address in (("unix", lab.admin_socket), ("tcp", lab.tcp_socket)):
            rt = HAProxyRuntime(address, timeout=5)
            results["client"][label] = {
                "show stat": timed(lambda rt=rt: rt.command("show stat"), opts.calls),
                "server()": timed(lambda rt=rt: rt.server("api_pool", "s1"), opts.calls),
                "set server state": timed(lambda rt=rt: rt.set_server_state("api_pool", "s1", "ready"), opts.calls),
            }
        base = dict(backend="api_pool", server="s2", socket=lab.admin_socket)
        for label, args in (("no-op ready", dict(base, state="ready")),
                            ("drain idle server", dict(base, state="drain"))):
            walls, elapsed = [], []
            for dummy in range(opts.runs):
                lab.reset()
                t0 = time.perf_counter()
                res = run_ansible_module("veza.infra.haproxy_server_state", args)
                walls.append(time.perf_counter() - t0)
                elapsed.append(res["elapsed"])
                assert not res.get("failed"), res
            results["module"][label] = {"runs": opts.runs, "wall_s_min": round(min(walls), 3),
                                        "wall_s_max": round(max(walls), 3),
                                        "module_elapsed_s_min": round(min(elapsed), 3)}
    finally:
        lab.stop()

    print("%-6s %-18s %8s %8s %8s" % ("socket", "call", "p50 ms", "p95 ms", "max ms"))
    for label, calls in results["client"].items():
        for call, s in calls.items():
            print("%-6s %-18s %8.3f %8.3f %8.3f" % (label, call, s["p50_ms"], s["p95_ms"], s["max_ms"]))
    print("\n%-20s %10s %10s %18s" % ("module via ansible", "wall min s", "wall max s", "module elapsed s"))
    for label, s in results["module"].items():
        print("%-20s %10.3f %10.3f %18.3f" % (label, s["wall_s_min"], s["wall_s_max"], s["module_elapsed_s_min"]))
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "haproxy_runtime.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
