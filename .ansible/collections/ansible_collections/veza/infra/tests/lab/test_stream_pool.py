# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""stream_pool on the lab: the haproxy role routes /stream/ and /hls/ to the stream servers by a
consistent hash of the URI (a segment keeps its server, so its cache stays warm), the API to
api_pool; when a stream server dies only its own URIs move, and they come back after it does.

The lab's stream servers run the veza-api stand-in on :8082 (tests/lab/baseline.yml); every
response names its host in X-Veza-Server.
"""
from __future__ import annotations

import re
import time

STREAM = "stream_pool"
STREAMS = ("stream-server-1", "stream-server-2")
URIS = ["/stream/track-%d/seg-%d.ts" % (t, s) for t in range(1, 11) for s in (1, 2)] + \
       ["/hls/track-%d/index.m3u8" % t for t in range(1, 5)]


def settle(lab, server):
    """Wait until `server` is UP and past its slowstart: while its weight ramps up, HAProxy's
    consistent hash hands it a growing share of the URIs (keys move; that is what slowstart does
    to a hashed pool). Returns the seconds until UP."""
    up = lab.wait_status(server, "UP", timeout=60, backend=STREAM)
    cfg = lab.exec("haproxy", "cat", "/etc/haproxy/haproxy.cfg").stdout
    ramp = re.search(r"\bslowstart (\d+)(ms|s)?\b", cfg)
    time.sleep((int(ramp.group(1)) / (1000.0 if ramp.group(2) == "ms" else 1.0) + 1.0) if ramp else 1.0)
    return up


def owners(lab, rounds=2):
    """{uri: server} through HAProxy; each URI asked `rounds` times must get the same server."""
    out = {}
    for unused_round in range(rounds):
        for uri in URIS:
            resp = lab.http_get(uri)
            assert resp.status == 200, (uri, resp.status)
            server = resp.headers.get("X-Veza-Server")
            assert server in STREAMS, (uri, server)
            assert out.setdefault(uri, server) == server, "%s moved from %s to %s" % (uri, out[uri], server)
    return out


def test_stream_uris_are_hashed_to_stream_servers_and_only_a_dead_servers_uris_move(lab):
    for server in STREAMS:
        settle(lab, server)
    api = lab.http_get("/api/v1/health")
    assert api.status == 200 and api.headers.get("X-Veza-Server", "").startswith("backend-api-")

    before = owners(lab)
    counts = {s: list(before.values()).count(s) for s in STREAMS}
    print("\nstream_pool: %d URIs -> %s" % (len(URIS), counts))
    assert all(counts.values()), "one stream server got no URI at all: %s" % counts

    victim, survivor = STREAMS
    lab.exec(victim, "systemctl", "stop", "veza-stream-server")
    try:
        down_after = lab.wait_status(victim, "DOWN", timeout=60, backend=STREAM)
        during = owners(lab)
        assert set(during.values()) == {survivor}
        # consistent hashing: the survivor's URIs did not move
        assert all(during[u] == survivor for u, s in before.items() if s == survivor)
    finally:
        lab.exec(victim, "systemctl", "start", "veza-stream-server")
    up_after = settle(lab, victim)
    assert owners(lab) == before, "URIs did not return to their server after it came back"
    print("stream_pool: %s DOWN after %.1f s, UP again %.1f s after its start (+ slowstart)" % (victim, down_after, up_after))
