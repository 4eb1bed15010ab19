# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The canary through a pair of HAProxies (issue 19, the LB set) on a lab with VEZA_LAB_LBS=2.

Runs on a named lab with two load balancers, haproxy and haproxy-2, both in group haproxy (so
the LB set, LB_SET, is both); the load generator sends to both published HTTP ports (no
keepalived in the lab, docs/lab.md). `make test`'s lab stage runs this file on its own lab
(scripts/run-tests.sh: VEZA_LAB_NAME=veza-lbpair VEZA_LAB_LBS=2); on a one-LB lab it is skipped.

1. Both LBs render the same HAProxy configuration. A canary and its peer roll under load through
   both LBs with 0 failed requests and none over 1 s; a thread samples both runtime APIs: each
   node shows DRAIN on both LBs at the same time, then MAINT on both at the same time, and never
   MAINT on one LB while the other still balances to it.
2. haproxy-2 stopped mid-roll (its HAProxy service, during the canary's drain): the run stops with
   the LB-set failure message, without rollback; nothing is left drained or in MAINT on haproxy,
   no request through haproxy failed, the peer was not touched, the lock is released.
"""
from __future__ import annotations

import hashlib
import threading
import time

import pytest

from lab import LOCK, POOL, LiveRun, run_playbook
from loadgen import LoadGen, summary

CANARY, PEER = "backend-api-2", "backend-api-1"
# One short run proves the roll (make test's budget for this file: 3 min with its own lab's bring-up):
# a 6 s SLI window, a probe every 3 s, 3 s of drain before MAINT (sticky clients are then redispatched).
SHORT = {"SLI_WINDOW": "6", "SLI_MIN_WINDOW": "6", "SLI_PROBE_INTERVAL": "3"}
GRACE = ("-e", "canary_drain_grace=3")


@pytest.fixture(scope="module")
def pair(lab):
    if lab.lbs_n < 2:
        pytest.skip("this lab has one load balancer: the LB pair tests need a named lab with VEZA_LAB_LBS=2 "
                    "(make test's lab stage brings one up: scripts/run-tests.sh)")
    return lab


class Sampler(threading.Thread):
    """(t, node, state on haproxy, state on haproxy-2) of the forced admin states, every 50 ms."""

    def __init__(self, lab, nodes):
        super().__init__(daemon=True)
        self.rts = [lab.runtime(0), lab.runtime(1)]
        self.nodes = nodes
        self.samples = []
        self.errors = 0
        self.halt = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.halt.is_set():
            for node in self.nodes:
                states = []
                for rt in self.rts:
                    try:
                        states.append(rt.server(POOL, node)["forced_admin_state"])
                    except Exception:  # pylint: disable=broad-except  # an LB stopped on purpose
                        states.append("?")
                        self.errors += 1
                self.samples.append((round(time.monotonic() - t0, 2), node, states[0], states[1]))
            self.halt.wait(0.05)

    def stop(self):
        self.halt.set()
        self.join(10)
        return self.samples


def load(lab):
    # through both LBs: every other client on haproxy-2; 30 % sticky clients
    return LoadGen([u + "/api/v1/tracks" for u in lab.http_urls], rate=60, duration=600, clients=12,
                   sticky_share=0.3)


def states_of(samples, node):
    return [(a, b) for _t, n, a, b in samples if n == node]


def test_same_config_on_both_lbs(pair):
    sums = {lb: hashlib.sha256(pair.exec(lb, "cat", "/etc/haproxy/haproxy.cfg").stdout.encode()).hexdigest()
            for lb in pair.lbs}
    assert len(set(sums.values())) == 1, sums
    for lb in (0, 1):
        assert set(pair.server_states_of(lb)) >= {pair.node(CANARY), pair.node(PEER)}


def test_canary_and_peer_roll_through_both_lbs(pair, builds, reports):
    nodes = [pair.node(CANARY), pair.node(PEER)]
    gen = load(pair)
    sampler = Sampler(pair, nodes)
    gen.start()
    sampler.start()
    try:
        proc, elapsed = run_playbook("canary", reports, GRACE, ARTIFACT=builds["v1.0.10"], CANARY_NODE=nodes[0],
                                     PEER_NODES=nodes[1], **SHORT)
    finally:
        res = gen.stop()
        samples = sampler.stop()
    print(summary(res))
    print("per target: %s; canary run %.1f s; %d samples of both sockets" % (res["per_target"], elapsed, len(samples)))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert [pair.version(n) for n in nodes] == ["1.0.10", "1.0.10"]
    for node in nodes:
        seen = states_of(samples, node)
        both_drain = [i for i, s in enumerate(seen) if s == ("drain", "drain")]
        both_maint = [i for i, s in enumerate(seen) if s == ("maint", "maint")]
        steps = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
        print("%s: both DRAIN in %d samples, both MAINT in %d; (haproxy, haproxy-2) went %s"
              % (node, len(both_drain), len(both_maint), " -> ".join("%s/%s" % s for s in steps)))
        assert both_drain and both_maint, steps
        assert both_drain[0] < both_maint[0]
        # on the way out, never MAINT on one LB while the other still balances new traffic to it
        # (on the way back, ready on one LB while the other is still in MAINT is the set-then-wait order)
        way_out = seen[:both_maint[0]]
        assert ("maint", "ready") not in way_out and ("ready", "maint") not in way_out, steps
        assert seen[-1] == ("ready", "ready")
    assert all(t["sent"] > 100 for t in res["per_target"].values()), res["per_target"]
    assert res["failed"] == 0, res["failures"][:10]
    assert res["over_1s"] == 0, res["max_s"]


def test_an_lb_stopped_mid_roll_stops_the_run_and_leaves_nothing_drained(pair, builds, reports):
    nodes = [pair.node(CANARY), pair.node(PEER)]
    versions = [pair.version(n) for n in nodes]
    gen = load(pair)
    gen.start()
    try:
        with LiveRun("canary", reports, GRACE, ARTIFACT=builds["v1.0.9"], CANARY_NODE=nodes[0], PEER_NODES=nodes[1],
                     **SHORT) as run:
            run.wait_for("LB set | Wait on every LB of the set (drain)", timeout=240)
            pair.exec("haproxy-2", "systemctl", "stop", "haproxy")
            rc, out = run.finish(timeout=300)
    finally:
        res = gen.stop()
        try:
            pair.exec("haproxy-2", "systemctl", "start", "haproxy")
            rt = None
            for _attempt in range(50):
                try:
                    rt = pair.runtime(1)
                    for n in nodes:
                        rt.set_server_state(POOL, n, "ready")
                    break
                except Exception:  # pylint: disable=broad-except
                    time.sleep(0.2)
        except Exception as exc:  # pylint: disable=broad-except
            print("could not restore haproxy-2: %s" % exc)
    print("loadgen: sent=%d, per target %s (haproxy-2 stopped on purpose), max latency %ss"
          % (res["sent"], res["per_target"], res["max_s"]))
    assert rc != 0
    assert "LB set failure (LB_SET=%s)" % ",".join(pair.node(lb) for lb in pair.lbs) in out, out[-4000:]
    assert "Canary %s STOPPED, not rolled back" % nodes[0] in out
    assert "was put back to ready on %s" % pair.node("haproxy") in out
    assert "PLAY [Peers" not in out or "Peer %s" % nodes[1] not in out
    # nothing left drained or in MAINT on the LB that answered, and it served every request
    rows = {n: pair.runtime(0).server(POOL, n) for n in nodes}
    assert all(r["forced_admin_state"] == "ready" for r in rows.values()), rows
    assert res["per_target"][pair.http_urls[0] + "/api/v1/tracks"]["failed"] == 0, res["failures"][:10]
    assert [pair.version(n) for n in nodes] == versions  # stopped before the push, no rollback needed
    assert pair.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"
