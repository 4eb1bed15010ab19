# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""stream_pool's consistent URI hash on the real HAProxy 2.6, while a stream server is drained,
put in maintenance and made ready again, as the canary does it (issue 19, part 2).

Three servers behind two copies of stream_pool (``balance uri``, ``hash-type consistent``, the
haproxy role's), one with ``slowstart``, one without. What the canary's drain relies on, and what
slowstart does to it:

1. drain (weight 0) and maintenance move exactly the drained server's URIs to the others, and no
   other URI;
2. ready again without slowstart: every URI is back on its own server at once;
3. ready again with slowstart: the server's weight ramps up, and its URIs come back over the ramp
   (part of them, then all); each URI moves at most once on the way (HAProxy adds the server's
   points to the ring as its weight grows, it never removes any), and no other URI ever moves.

Counts are printed; tests/bench/bench_stream_canary.py measures the same on the lab, under load.
"""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from haproxy_lab import HAPROXY, Backend
from ansible_run import free_port
from ansible_collections.veza.infra.plugins.module_utils._haproxy import HAProxyRuntime, HAProxyRuntimeError

SERVERS = ("st1", "st2", "st3")
URIS = ["/stream/track-%d/seg-%d.ts" % (t, s) for t in range(1, 41) for s in (1, 2, 3)]  # 120
SLOWSTART_S = 4

CONFIG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    stats timeout 30s

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    option redispatch
    retries 3

frontend fe_slow
    bind 127.0.0.1:{fe_slow}
    default_backend stream_slow

frontend fe_nos
    bind 127.0.0.1:{fe_nos}
    default_backend stream_nos

backend stream_slow
    balance uri
    hash-type consistent
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1 slowstart {slowstart}s
{servers}

backend stream_nos
    balance uri
    hash-type consistent
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1
{servers}
"""


class StreamLab:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="veza-stream-hash-")
        self.backends = {name: Backend(name) for name in SERVERS}
        self.ports = {"stream_slow": free_port(), "stream_nos": free_port()}
        self.rt = HAProxyRuntime(os.path.join(self.dir, "admin.sock"), timeout=5)
        self.proc = None

    def start(self):
        for b in self.backends.values():
            b.start()
        servers = "\n".join("    server %s 127.0.0.1:%d" % (n, b.port) for n, b in self.backends.items())
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(CONFIG.format(dir=self.dir, fe_slow=self.ports["stream_slow"], fe_nos=self.ports["stream_nos"],
                                   slowstart=SLOWSTART_S, servers=servers))
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.wait_up(SERVERS, 10)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)
        for b in self.backends.values():
            b.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self, pool):
        try:
            return {r["svname"]: r for r in self.rt.show_stat() if r.get("pxname") == pool}
        except HAProxyRuntimeError:
            return {}

    def wait_up(self, servers, timeout, pool=None):
        deadline = time.monotonic() + timeout
        pools = [pool] if pool else list(self.ports)
        while time.monotonic() < deadline:
            if all((self.rows(p).get(s) or {}).get("status") == "UP" for p in pools for s in servers):
                return
            time.sleep(0.05)
        raise RuntimeError("servers %s not UP in %s" % (servers, pools))

    def owners(self, pool):
        """{uri: server} through the pool's frontend, a connection per request (no delayed ACKs)."""
        out = {}
        for uri in URIS:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports[pool], timeout=5)
            try:
                conn.request("GET", uri, headers={"Connection": "close"})
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, (uri, resp.status)
                out[uri] = resp.getheader("X-Served-By")
            finally:
                conn.close()
        return out


@pytest.fixture(scope="module")
def stream_lab():
    lab = StreamLab().start()
    try:
        yield lab
    finally:
        lab.stop()


def moved(before, after):
    return {u for u in before if before[u] != after[u]}


def drain_and_maint(lab, pool, victim):
    """The canary's step 2 on `victim` (drain, then maint); returns (owners drained, owners in maint)."""
    lab.rt.set_server_state(pool, victim, "drain")
    drained = lab.owners(pool)
    lab.rt.set_server_state(pool, victim, "maint")
    return drained, lab.owners(pool)


@pytest.mark.parametrize("pool", ["stream_nos", "stream_slow"])
def test_drain_moves_only_the_drained_servers_uris(stream_lab, pool):  # pylint: disable=redefined-outer-name
    before = stream_lab.owners(pool)
    assert set(before.values()) == set(SERVERS)
    victim = "st2"
    own = {u for u, s in before.items() if s == victim}
    try:
        drained, maint = drain_and_maint(stream_lab, pool, victim)
        for during in (drained, maint):
            assert moved(before, during) == own   # exactly its URIs, no other
            assert victim not in during.values()
    finally:
        stream_lab.rt.set_server_state(pool, victim, "ready")
        stream_lab.wait_up([victim], 10, pool)
        time.sleep(SLOWSTART_S + 1 if pool == "stream_slow" else 0)
    print("\n%s: %d URIs, %s owned %d (%.1f %%), %d moved while drained, all of them its own"
          % (pool, len(URIS), victim, len(own), 100.0 * len(own) / len(URIS), len(own)))


def test_without_slowstart_the_uris_return_at_once(stream_lab):  # pylint: disable=redefined-outer-name
    pool, victim = "stream_nos", "st3"
    before = stream_lab.owners(pool)
    drain_and_maint(stream_lab, pool, victim)
    stream_lab.rt.set_server_state(pool, victim, "ready")
    stream_lab.wait_up([victim], 10, pool)
    assert stream_lab.owners(pool) == before


def test_with_slowstart_the_uris_return_over_the_ramp_each_once(stream_lab):  # pylint: disable=redefined-outer-name
    pool, victim = "stream_slow", "st1"
    before = stream_lab.owners(pool)
    own = {u for u, s in before.items() if s == victim}
    _drained, maint = drain_and_maint(stream_lab, pool, victim)
    t0 = time.monotonic()
    stream_lab.rt.set_server_state(pool, victim, "ready")
    samples = []  # (seconds after ready, weight, owners)
    while time.monotonic() - t0 < SLOWSTART_S + 2:
        row = stream_lab.rows(pool).get(victim) or {}
        samples.append((time.monotonic() - t0, row.get("weight"), stream_lab.owners(pool)))
        time.sleep(0.2)
    final = stream_lab.owners(pool)
    assert final == before, "URIs did not return to their own server after the ramp"
    back = [sum(1 for u in own if o[u] == victim) for _t, _w, o in samples]
    print("\nstream_slow: %s owns %d URIs; back on it during the %d s slowstart ramp: %s"
          % (victim, len(own), SLOWSTART_S, ", ".join("%.1fs w%s %d" % (t, w, n) for (t, w, _o), n in zip(samples, back))))
    # the ramp hands them back progressively: the first sample has fewer than all of them
    assert back[0] < len(own), back
    previous = maint
    for _t, _w, owners in samples:
        # no URI of another server ever moves; a URI of the victim only ever moves back to it
        assert all(owners[u] == before[u] for u in before if u not in own)
        assert all(owners[u] == victim for u in own if previous[u] == victim), "a returned URI left again"
        previous = owners
