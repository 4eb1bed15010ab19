# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A CANARY_SERVICE=stream-server canary on the lab under URI-hashed load, and what stream_pool's
consistent hash did with every URI meanwhile (tests/lab/test_stream_canary.py asserts the robust
facts, tests/bench/bench_stream_canary.py prints the numbers).

``stream_run`` starts URI-hashed load (tests/loadgen.py ``uris``) over a fixed set of stream URIs,
runs playbooks/canary.yml with CANARY_SERVICE=stream-server on the lab's stream servers, keeps
the load for ``pad`` seconds after the end (past the returning server's slowstart), and returns
the run, the load result and when the peer play began. ``moves`` reads ``per_uri`` against the
owners before the run: which URIs were served by another server than their own, in the canary's
phase and in the peers' phase, and which ended on their own server.
"""
from __future__ import annotations

import json
import re
import time

from lab import LiveRun
from loadgen import LoadGen

STREAM = "stream_pool"
STREAMS = ("stream-server-1", "stream-server-2")
CANARY, PEER = "stream-server-2", "stream-server-1"
# 60 URIs of segments and playlists: every one asked about once a second at 60 req/s.
URIS = ["/stream/track-%d/seg-%d.ts" % (t, s) for t in range(1, 21) for s in (1, 2)] + \
       ["/hls/track-%d/index.m3u8" % t for t in range(1, 21)]
# A short lab gate: a 9 s window probed every 3 s, 4 probes (the lab's Prometheus scrapes every 2 s).
# The stream server ships no schema change: NO_MIGRATIONS=1.
KNOBS = {"SLI_WINDOW": "9", "SLI_MIN_WINDOW": "9", "SLI_PROBE_INTERVAL": "3", "NO_MIGRATIONS": "1"}


def slowstart_s(lab):
    """stream_pool's slowstart in seconds, as the lab's haproxy.cfg renders it (0 when none)."""
    cfg = lab.exec("haproxy", "cat", "/etc/haproxy/haproxy.cfg").stdout
    pool = cfg[cfg.index("backend stream_pool"):]
    ramp = re.search(r"\bslowstart (\d+)(ms|s)?\b", pool) or re.search(r"\bslowstart (\d+)(ms|s)?\b", cfg)
    return int(ramp.group(1)) / (1000.0 if ramp.group(2) == "ms" else 1.0) if ramp else 0.0


def settle(lab):
    """Both stream servers UP, ready, past their slowstart (a ramping server's share still grows):
    waits until each has been UP for the slowstart plus 1 s (HAProxy's lastchg)."""
    ramp = slowstart_s(lab) + 1.0
    for server in STREAMS:
        lab.wait_status(lab.node(server), "UP", timeout=60, backend=STREAM)
    since = min(int(row.get("lastchg") or 0) for name, row in lab.server_rows(STREAM).items()
                if name in {lab.node(s) for s in STREAMS})
    time.sleep(max(0.0, ramp - since))


def owners(lab, rounds=2):
    """{uri: server} through HAProxy, each URI asked `rounds` times and always answered by one server."""
    out = {}
    for _round in range(rounds):
        for uri in URIS:
            resp = lab.http_get(uri)
            assert resp.status == 200, (uri, resp.status)
            server = resp.headers.get("X-Veza-Server")
            assert out.setdefault(uri, server) == server, "%s moved from %s to %s" % (uri, out[uri], server)
    return out


def build_of(lab, node):
    """The build the stream server on `node` runs, from its own /health (port 8082, inside the node)."""
    out = lab.exec(node, "curl", "-s", "--max-time", "5", "http://127.0.0.1:8082/health").stdout
    return json.loads(out)["build"]


def stream_run(lab, reports, artifact, pad, rate=60, extra_args=(), **knobs):
    """The stream canary under URI-hashed load; returns (rc, output, load result, t_peer).

    t_peer: seconds after the load's start when the peer play began (None when it never did)."""
    gen = LoadGen(lab.http_url + "/stream/", rate=rate, duration=900, clients=12, sticky_share=0.0,
                  keepalive_share=0.5, uris=URIS)
    gen.start()
    wall0 = time.time()
    env = dict(KNOBS, CANARY_SERVICE="stream-server", CANARY_NODE=lab.node(CANARY), PEER_NODES=lab.node(PEER),
               ARTIFACT=artifact)
    env.update(knobs)
    try:
        with LiveRun("canary", reports, extra_args=extra_args, **env) as run:
            rc, output = run.finish(timeout=600)
            peer = [t for t, line in run.lines if line and line.startswith("PLAY [Peers")]
        time.sleep(pad)
    finally:
        res = gen.stop()
    return rc, output, res, (peer[0] - wall0) if peer else None


def moves(before, res, canary, peer, t_peer):
    """What the hash did with each URI: {"canary_phase": URIs served by another server than their
    own before t_peer, "peer_phase": the same after it, "own": {server: its URIs before},
    "ended_home": URIs whose last answer came from their own server, "failed": {uri: n}}."""
    per_uri = res.get("per_uri", {})
    split = float("inf") if t_peer is None else t_peer
    phase_a, phase_b, home = set(), set(), set()
    for uri, entry in per_uri.items():
        for t, server in entry["servers"]:
            if server != before[uri]:
                (phase_a if t < split else phase_b).add(uri)
        if entry["servers"] and entry["servers"][-1][1] == before[uri]:
            home.add(uri)
    own = {s: {u for u, o in before.items() if o == s} for s in (canary, peer)}
    return {"canary_phase": phase_a, "peer_phase": phase_b, "own": own, "ended_home": home,
            "asked": set(per_uri), "failed": {u: e["failed"] for u, e in per_uri.items() if e["failed"]}}
