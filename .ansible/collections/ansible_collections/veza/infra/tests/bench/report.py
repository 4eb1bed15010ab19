# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One summary of every benchmark's JSON under tests/bench/results/ (the end of `make bench`).

Each known result file gets its headline figures; any other JSON file is listed with its
top-level numbers, so a new bench shows up without a change here. The age of each file is shown:
a figure from an older run is not silently mixed with today's. Writes results/summary.json.

Usage: python tests/bench/report.py [--results DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _ms(seconds):
    return "-" if seconds is None else "%.0f ms" % (seconds * 1000)


def roll(d):
    for name, r in sorted(d.get("rows", {}).items()):
        yield "%-30s sent %s, failed %s, p99 %s, max %s, over 1 s %s, roll %s s" % (
            name, r.get("sent"), r.get("failed"), _ms(r.get("p99_s")), _ms(r.get("max_s")), r.get("over_1s"),
            r.get("roll_s"))


def rollback(d):
    for r in d.get("rows", []):
        yield "%-5s build, probe every %2s s: detection %s s + restoration %s s, rolled back %s" % (
            r.get("bad"), r.get("interval_s"), r.get("detection_s"), r.get("restoration_s"), r.get("rolled_back"))


def scale(d):
    for n, r in sorted(d.get("sizes", {}).items(), key=lambda kv: int(kv[0])):
        yield ("%2s backends: per peer %s s (waits %s + overhead %s), shell per node %s s (overhead %s), "
               "ratio %s" % (n, r.get("ansible_per_node_s"), r.get("ansible_wait_s"), r.get("ansible_overhead_s"),
                             r.get("shell_per_node_s"), r.get("shell_overhead_s"), r.get("ratio")))
    s = d.get("serial")
    if s:
        yield "PEER_SERIAL=%s on %s backends: batches of %s peers, peer play %s s" % (
            s.get("serial"), s.get("backends"), [b.get("hosts") for b in s.get("batches", [])],
            s.get("plays_s", {}).get("Peers"))


def migration_check(d):
    t, c = d.get("timings", {}), d.get("corpus", {})
    files = c.get("files") or 0
    ours, squawk = t.get("veza_module_utils_s"), t.get("squawk_s")
    if files and ours and squawk:
        yield "%d files: veza.infra rules %.2f s (%.0f files/s), squawk %.2f s (%.0f files/s), squawk %.1fx faster" % (
            files, ours, files / ours, squawk, files / squawk, ours / squawk)
    if t.get("veza_module_via_ansible_s"):
        yield "the module through ansible: %.2f s (ansible start-up alone %.2f s)" % (
            t["veza_module_via_ansible_s"], t.get("ansible_startup_ping_s") or 0)
    score = d.get("cases_score")
    if score:
        yield "labelled cases right: %s" % ", ".join("%s %s/%d" % (k, v, len(d.get("cases", []))) for k, v in sorted(score.items()))


def prom_sli_watch(d):
    for r in d.get("rows", []):
        yield "%-12s probe every %s s: breach -> red %s s (median)" % (
            r.get("breach"), r.get("interval"), r.get("breach_to_red_median"))


def haproxy_runtime(d):
    for kind, calls in sorted(d.get("client", {}).items()):
        yield "client %-4s %s" % (kind, ", ".join("%s p50 %s ms" % (k, v.get("p50_ms")) for k, v in sorted(calls.items())))
    for name, m in sorted(d.get("module", {}).items()):
        yield "module %s: %s-%s s wall" % (name, m.get("wall_s_min"), m.get("wall_s_max"))


def generic(d):
    nums = {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} if isinstance(d, dict) else {}
    yield ", ".join("%s %s" % kv for kv in sorted(nums.items())) or "(no top-level figures)"


KNOWN = {
    "roll.json": ("Zero drop: canary roll vs plain restart", roll),
    "rollback.json": ("Time to rollback", rollback),
    "scale.json": ("Scale: peer roll per node vs a shell sequence", scale),
    "migration_check.json": ("Migration check vs squawk", migration_check),
    "bench_prom_sli_watch.json": ("SLI gate: breach to red probe", prom_sli_watch),
    "haproxy_runtime.json": ("HAProxy runtime API", haproxy_runtime),
}
# Files other benches write that are details, not results of their own.
DETAILS = {"migration_cases.json", "prom_sli_watch-report.json", "summary.json"}


def age(path):
    minutes = (time.time() - os.path.getmtime(path)) / 60
    return "%.0f min ago" % minutes if minutes < 120 else "%.1f h ago" % (minutes / 60)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    a = parser.parse_args()
    if not os.path.isdir(a.results):
        print("no results in %s: run a bench first (make bench)" % a.results)
        return 0
    names = sorted(n for n in os.listdir(a.results) if n.endswith(".json") and n not in DETAILS)
    names.sort(key=lambda n: (n not in KNOWN, list(KNOWN).index(n) if n in KNOWN else 0, n))
    summary = {}
    print("\n======== bench summary (%s) ========" % a.results)
    for name in names:
        path = os.path.join(a.results, name)
        title, fmt = KNOWN.get(name, (name, generic))
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            lines = list(fmt(data))
        except (OSError, ValueError, TypeError, AttributeError, KeyError, ZeroDivisionError) as exc:
            lines = ["unreadable: %s" % exc]
        print("\n%s  [%s, %s]" % (title, name, age(path)))
        for line in lines:
            print("  " + line)
        summary[name] = {"title": title, "lines": lines, "mtime": round(os.path.getmtime(path))}
    with open(os.path.join(a.results, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
