# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Day 19 bar on the lab (port of the seed's test_backend_failover.sh).

Both backends UP; 5 baseline requests 200; backend-api-1 stopped hard; HAProxy marks it DOWN
(about fall x inter); requests during the down window all 200; restart; UP again. And the
sticky SERVERID cookie keeps a client on one backend until that backend dies, then the client
is rebalanced. Steady load with sticky clients runs through the whole sequence; its figures are
printed, and requests sent while backend-api-1 is marked DOWN must all succeed.
"""
from __future__ import annotations

import time

from lab import BACKENDS, POOL
from loadgen import LoadGen, summary

VICTIM, SURVIVOR = BACKENDS


def _check_params(lab):
    """(inter seconds, fall, rise) of api_pool's servers, read from the rendered haproxy.cfg."""
    cfg = lab.exec("haproxy", "cat", "/etc/haproxy/haproxy.cfg").stdout
    inter, fall, rise = 2.0, 3, 2
    for line in cfg.splitlines():
        words = line.split()
        if words and words[0] == "default-server":
            for k, v in zip(words, words[1:]):
                if k == "inter":
                    inter = float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))
                elif k == "fall":
                    fall = int(v)
                elif k == "rise":
                    rise = int(v)
    return inter, fall, rise


def test_backend_failover(lab):
    inter, fall, rise = _check_params(lab)

    # step 0: pre-flight, both backends UP per HAProxy's runtime API
    states = lab.server_states(POOL)
    assert all(states.get(b, "").startswith("UP") for b in BACKENDS), states

    # step 1: 5 baseline requests through the LB, all 200
    baseline = [lab.http_get("/api/v1/health").status for _attempt in range(5)]
    assert baseline == [200] * 5, baseline

    # sticky: a client holding SERVERID=backend-api-1 stays there while it lives
    # (which server answered is read from HAProxy's per-server session counters: no load yet)
    pinned = [lab.served_by(cookie=VICTIM)[1] for _attempt in range(10)]
    assert pinned == [VICTIM] * 10, "sticky cookie did not keep the client on %s: %s" % (VICTIM, pinned)
    fresh = [lab.served_by() for _attempt in range(10)]
    assert {srv for _resp, srv in fresh} == set(BACKENDS), "fresh clients not balanced: %s" % fresh
    assert all(resp.set_cookie == srv for resp, srv in fresh), "HAProxy must hand fresh clients their SERVERID"

    gen = LoadGen(lab.http_url + "/api/v1/health", rate=100, duration=180, clients=20,
                  sticky_share=0.5, keepalive_share=0.5, timeout=10)
    gen.start()
    try:
        time.sleep(2)
        # step 2: stop backend-api-1 hard
        t_kill = time.monotonic()
        lab.kill(VICTIM)
        # step 3: HAProxy marks it DOWN (or MAINT when its name no longer resolves)
        down_after = lab.wait_status(VICTIM, ("DOWN", "MAINT"), timeout=max(30.0, 3 * inter * fall))
        t_down = time.monotonic()
        status_down = lab.server_states(POOL)[VICTIM]
        # step 4: requests during the down window all 200, and the sticky client is rebalanced
        during = [lab.http_get("/api/v1/health") for _attempt in range(5)]
        assert [r.status for r in during] == [200] * 5, [r.status for r in during]
        moved = lab.http_get("/api/v1/health", cookie=VICTIM)
        assert moved.status == 200
        assert moved.set_cookie == SURVIVOR, \
            "a client holding SERVERID=%s should be re-dispatched to %s with a new cookie, got Set-Cookie %r" % (
                VICTIM, SURVIVOR, moved.headers.get("Set-Cookie"))
        time.sleep(2)
        # step 5: start it again; UP again after rise x inter once its service answers
        t_start = time.monotonic()
        lab.start(VICTIM)
        up_after = lab.wait_status(VICTIM, "UP", timeout=90)
        t_up = time.monotonic()
        time.sleep(1)
        res_window = [f for f in gen.result()["failures"]
                      if t_down - gen.t_start <= f["t"] <= t_start - gen.t_start]
    finally:
        res = gen.stop()

    # after recovery a client pinned to the survivor stays there; one pinned to the victim is back on it
    stays = [lab.served_by(cookie=SURVIVOR)[1] for _attempt in range(5)]
    assert stays == [SURVIVOR] * 5, stays
    back = [lab.served_by(cookie=VICTIM)[1] for _attempt in range(5)]
    assert back == [VICTIM] * 5, back

    print("\nfailover: check inter %.1f s fall %d rise %d (expected DOWN after ~%.1f s)" % (inter, fall, rise, inter * fall))
    print("failover: %s marked %s %.1f s after the kill" % (VICTIM, status_down, down_after))
    print("failover: %s UP %.1f s after `incus start` (container + systemd + service + rise)" % (VICTIM, up_after))
    print("failover: window kill->DOWN %.1f s, DOWN->restart %.1f s, restart->UP %.1f s"
          % (t_down - t_kill, t_start - t_down, t_up - t_start))
    print(summary(res))
    assert res["sent"] > 0
    assert not res_window, "requests failed while %s was marked DOWN: %s" % (VICTIM, res_window)
