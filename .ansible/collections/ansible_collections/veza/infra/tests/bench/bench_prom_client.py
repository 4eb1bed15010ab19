# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What do TLS and basic auth cost a probe? Prints figures, asserts nothing.

Starts two real Prometheus on loopback (tests/integration/prometheus_lab.py): plain HTTP, and
behind --web.config.file (TLS from a throw-away CA, basic auth with a bcrypt hash of cost 4 as in
the tests; production hashes cost 10-12 and Prometheus caches the check). For each, times QUERIES
instant queries and QUERIES pre-flight calls (buildinfo + series) through the collection's
PromClient, a new connection each, as prom_sli_watch and prom_preflight make them.
Usage: python tests/bench/bench_prom_client.py [QUERIES]
"""
from __future__ import annotations

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


def timed(call, n):
    out = []
    for _round in range(n):
        start = time.perf_counter()
        res = call()
        out.append((time.perf_counter() - start) * 1000)
        assert res.kind == "ok", res
    return out


def row(name, ms):
    ms = sorted(ms)
    print("%-34s n=%d  median %.2f ms  p95 %.2f ms  max %.2f ms" % (
        name, len(ms), statistics.median(ms), ms[int(0.95 * (len(ms) - 1))], ms[-1]), flush=True)


def main(queries=200):
    queries = max(1, min(queries, 2000))  # bounded load, loopback only
    workdir = tempfile.mkdtemp(prefix="veza-bench-promclient-")
    proms = []
    try:
        proms.append(("plain HTTP", pl.Prometheus(["127.0.0.1:1"], workdir)))
        web = pl.WebConfig(workdir, users={"veza-canary": "s3cret-pw"}, tls=True)
        proms.append(("TLS + basic auth", pl.Prometheus(["127.0.0.1:1"], workdir, web=web)))
        for name, prom in proms:
            client = prom.client
            row("%s: instant query" % name, timed(lambda c=client: c.query("vector(1)"), queries))
            row("%s: pre-flight (buildinfo+series)" % name,
                timed(lambda c=client: c.buildinfo() if c.buildinfo().kind != "ok" else c.series("up"), queries))
    finally:
        for _name, prom in proms:
            prom.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
