# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The stream servers through the same playbooks/canary.yml (issue 19, part 2): CANARY_SERVICE=
stream-server rolls stream-server-2 (canary, SLI gate on its own series) then stream-server-1,
through stream_pool, under URI-hashed load over a fixed set of 60 stream URIs.

1. A good build: the run is green, both stream servers run it, 0 failed requests (so no URI ever
   failed); while the canary was out only URIs of the canary were served elsewhere, while the peer
   was out only the peer's; after the run every URI is answered by its own server again.
2. A build answering 500 on /health: node health fails, the canary is rolled back to
   veza-stream.previous, the peer is not touched, 0 failed requests, only the canary's URIs moved
   and they came back.

Timing-free on purpose; the counts (URIs moved against the share the hash predicts, latencies)
are printed here and measured by tests/bench/bench_stream_canary.py.
"""
from __future__ import annotations

from lab import LOCK
from loadgen import summary
from stream_canary import CANARY, PEER, STREAM, STREAMS, moves, owners, settle, slowstart_s, build_of, stream_run


def check_routing(lab, before, res, t_peer, phase_b_expected):
    canary, peer = lab.node(CANARY), lab.node(PEER)
    got = moves(before, res, canary, peer, t_peer)
    print(summary(res).splitlines()[0])
    print("stream_pool: %d URIs (%s); moved while the canary was out: %d (its own: %d); while the peer was out: %d "
          "(its own: %d); ended on their own server: %d"
          % (len(before), {s: len(u) for s, u in got["own"].items()}, len(got["canary_phase"]), len(got["own"][canary]),
             len(got["peer_phase"]), len(got["own"][peer]), len(got["ended_home"])))
    assert res["failed"] == 0 and not got["failed"], res["failures"][:10]
    assert got["asked"] == set(before)
    # consistent hash: only the drained server's URIs move, to the other one
    assert got["canary_phase"] <= got["own"][canary], got["canary_phase"] - got["own"][canary]
    assert got["peer_phase"] <= got["own"][peer], got["peer_phase"] - got["own"][peer]
    if not phase_b_expected:
        assert not got["peer_phase"]
    # and they come back after it: the last answer of every URI came from its own server
    assert got["ended_home"] == set(before), set(before) - got["ended_home"]
    assert owners(lab) == before
    return got


def assert_nothing_left(lab):
    states = lab.server_states(STREAM)
    assert all((states.get(lab.node(s)) or "").split(" ")[0] == "UP" for s in STREAMS), states
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"


def test_stream_server_canary_good_then_bad_build_under_uri_hashed_load(lab, builds, reports):
    settle(lab)
    before = owners(lab)
    assert set(before.values()) == {lab.node(s) for s in STREAMS}, before
    pad = slowstart_s(lab) + 1.5

    # 1. a good build: canary, SLI gate, peer
    rc, output, res, t_peer = stream_run(lab, reports, builds["v1.0.10"], pad)
    assert rc == 0, output[-4000:]
    assert "prom_sli_watch [" in output and t_peer is not None
    assert [build_of(lab, lab.node(s)) for s in (CANARY, PEER)] == ["v1.0.10", "v1.0.10"]
    assert_nothing_left(lab)
    check_routing(lab, before, res, t_peer, phase_b_expected=True)

    # 2. a build whose /health answers 500: rolled back, the peer untouched (a 4 s node health wait)
    rc, output, res, t_peer = stream_run(lab, reports, builds["health500"], pad,
                                         extra_args=("-e", "canary_health_timeout=4"))
    assert rc != 0
    assert "Canary %s FAILED and was rolled back" % lab.node(CANARY) in output, output[-4000:]
    assert t_peer is None, "peers must not be touched after a canary failure"
    assert [build_of(lab, lab.node(s)) for s in (CANARY, PEER)] == ["v1.0.9", "v1.0.10"]  # veza-stream.previous
    assert_nothing_left(lab)
    check_routing(lab, before, res, t_peer, phase_b_expected=False)
