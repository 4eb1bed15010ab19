# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""#17 on the lab, real Prometheus, the default 2 backends (1 canary + 1 peer), steady load:

a) a fleet-wide slowdown (both stand-ins slowed through their control files): in the same window
   the absolute gate is red (the canary play's rescue rolls back on red: the false rollback) and the
   relative gate (SLI_BASELINE=peers) is inconclusive (its rescue stops without rolling back);
b) a canary-only regression below the SLO (p95 about x10, still < 0.5 s): relative red, absolute green;
c) a build that turns bad after the canary window, while the peer rolls (SLI_DURING_PEERS=1,
   ROLLBACK_PEERS=on_red): the background watcher catches it, the peer roll stops, both upgraded nodes
   end on veza-api.previous, newest first; no request fails before the fault nor after the bad node
   left the rotation;
d) a bad bake (BAKE_WINDOW, ROLLBACK_PEERS=on_red): the fleet is rolled back, the lock released.

a) and b) run the gate's own code (``_sli_watch.execute``, the module's) twice at once over one window,
so that both gates see the very same traffic; c) and d) are full canary runs. Detection times and
bad requests served are printed here and measured by tests/bench/bench_watch_roll.py.
"""
from __future__ import annotations

import os
import threading
import time

import pytest

from lab import (POOL, LiveRun, lock_held, previous_version, set_control, unwire_control, wire_control)
from loadgen import LoadGen, summary

from ansible_collections.veza.infra.plugins.module_utils._deploy_lock import holder_alive
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import argument_spec, execute

CANARY, PEER = "backend-api-2", "backend-api-1"
SHORT = {"SLI_WINDOW": "12", "SLI_MIN_WINDOW": "12", "SLI_PROBE_INTERVAL": "3"}
# 2 s of plain drain before maintenance instead of 10 s: the four drains of each run cost 8 s, not 40 s
# (the lab's requests last milliseconds; sticky clients are redispatched once in MAINT).
FAST_DRAIN = ("-e", "canary_drain_grace=2")
GOOD = {}
FLEET_SLOW = {"delay": [0.6, 0.7]}     # p95 over the 0.5 s SLO on every backend
CANARY_SLOWER = {"delay": [0.1, 0.2]}  # about x10 the good p95 (~20 ms), still under 0.5 s
BAD = {"error_rate": 0.3}
# What each case measured (tests/bench/bench_watch_roll.py prints it; nothing here asserts on time).
MEASURED = {}


def load(lab):
    return LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=600, clients=16, sticky_share=0.3)


def wire_both(lab):
    """Both stand-ins read /etc/veza/lab-control.json (their services restarted once to read the
    environment file); unwired and restarted with their build's behaviour at the end (a generator)."""
    nodes = [lab.node(CANARY), lab.node(PEER)]
    for n in nodes:
        wire_control(lab, n)
        lab.exec(n, "systemctl", "restart", "veza-backend-api")
    for n in nodes:
        lab.wait_status(n, "UP", timeout=60)
    try:
        yield nodes
    finally:
        for n in nodes:
            unwire_control(lab, n)
            lab.exec(n, "systemctl", "restart", "veza-backend-api")
        for n in nodes:
            lab.wait_status(n, "UP", timeout=60)


@pytest.fixture(scope="module")
def wired(lab):
    yield from wire_both(lab)


def _gate(lab, baseline, window=12, interval=3):
    p = {k: v.get("default") for k, v in argument_spec().items()}
    p.update(url=lab.prom_url, window=window, interval=interval, min_window=0, scrape_interval=2,
             selector='instance="%s:8080"' % lab.node(CANARY), min_requests=10, hold_limit=0, fail_on_red=False)
    if baseline:
        p["baseline_instances"] = ["%s:8080" % lab.node(PEER)]
    return p


def both_gates(lab):
    """The absolute and the relative gate over the same window, at the same time."""
    out = {}

    def run(name, baseline):
        out[name] = execute(_gate(lab, baseline))
    threads = [threading.Thread(target=run, args=(n, b)) for n, b in (("absolute", False), ("relative", True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for name in ("absolute", "relative"):
        print("%s gate: %s - %s" % (name, out[name]["verdict"], out[name]["reason"]))
    return out


def _first(result, t_fault):
    """Seconds from the fault to the first probe that was not green (None: all green), the verdict."""
    import datetime  # pylint: disable=import-outside-toplevel
    bad = [p for p in result["probes"] if p["status"] != "green"]
    when = None
    if bad:
        when = datetime.datetime.strptime(bad[0]["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp() - t_fault
    return {"verdict": result["verdict"], "first_not_green_s": when, "status": bad[0]["status"] if bad else None,
            "duration_s": result["duration"]}


def test_fleet_wide_slowdown_and_canary_only_regression(lab, wired):
    """a) and b), one load run."""
    canary, peer = wired
    gen = load(lab).start()
    try:
        for n in (canary, peer):
            set_control(lab, n, FLEET_SLOW)
        t_fleet = time.time()
        time.sleep(8)  # one rate range of slowed traffic in Prometheus
        fleet = both_gates(lab)
        set_control(lab, peer, GOOD)
        set_control(lab, canary, CANARY_SLOWER)
        t_only = time.time()
        # the rate range (8 s), plus the fleet case's requests still in flight (0.7 s) and one scrape
        # (2 s): with 8 s alone, those late 0.7 s answers were once 1 in 10 of the canary's range (p95
        # 0.61 s, absolute red, on the lab)
        time.sleep(8 + 1 + 2)
        only = both_gates(lab)
    finally:
        for n in (canary, peer):
            set_control(lab, n, GOOD)
        res = gen.stop()
    print(summary(res))
    MEASURED["fleet"] = {name: _first(fleet[name], t_fleet) for name in fleet}
    MEASURED["canary_only"] = {name: _first(only[name], t_only) for name in only}
    MEASURED["canary_only"]["canary_share"] = res["per_backend"].get(canary, 0) / max(1, res["sent"])
    MEASURED["canary_only"]["rate"] = res["rate_achieved"]
    # a) the false rollback of the absolute gate; the relative gate sees the peers breach too
    assert fleet["absolute"]["verdict"] == "red" and fleet["absolute"]["breach"]["sli"] == "p95_latency"
    assert fleet["relative"]["verdict"] == "inconclusive", fleet["relative"]["reason"]
    assert "fleet-wide" in fleet["relative"]["reason"]
    # b) below the SLO: the absolute gate passes it, the relative gate does not
    assert only["absolute"]["verdict"] == "green", only["absolute"]["reason"]
    assert only["relative"]["verdict"] == "red", only["relative"]["reason"]
    red = [p for p in only["relative"]["probes"] if p["status"] == "red"][0]
    assert red["values"]["p95_latency"] < 0.5, red


def drains(out):
    """The nodes the run drained, in order: Drain | Step 2 sets DRAIN on every LB of the set in one
    looped task of roles/canary/tasks/lb.yml; its first result line names the node."""
    nodes, task, seen = [], "", False
    for line in out.splitlines():
        if line.startswith("TASK ["):
            task, seen = line, False
        elif ("LB set | Set the state on every LB of the set, without waiting (drain)" in task and not seen
              and line.startswith(("changed: [", "ok: ["))):
            nodes.append(line.split("[", 1)[1].split(" ", 1)[0].rstrip("]"))
            seen = True
    return nodes


def _versions(lab, nodes):
    return [lab.version(n) for n in nodes]


def _other(builds, lab):
    return builds["v1.0.9"] if lab.version(lab.node(CANARY)) == "1.0.10" else builds["v1.0.10"]


def _knobs(lab, builds, **extra):
    k = dict(SHORT, ARTIFACT=_other(builds, lab), CANARY_NODE=lab.node(CANARY), PEER_NODES=lab.node(PEER),
             ROLLBACK_PEERS="on_red")
    k.update(extra)
    return k


def _out_of_rotation(lab, node, timeout=240):
    """time.monotonic() when `node` is first seen in maintenance (a drained server still takes the
    requests of the clients its cookie sticks to, until drain_then_maint puts it in MAINT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = (lab.server_states(POOL).get(node) or "").split(" ")[0]
        if st == "MAINT":
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError("%s never left the rotation" % node)


def _status_breach(reports):
    """time.time() of the red probe the newest background watcher wrote in its status file."""
    import datetime  # pylint: disable=import-outside-toplevel
    import glob  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    path = sorted((p for p in glob.glob(os.path.join(reports, "sli-background-*.json")) if not p.endswith(".pid")),
                  key=os.path.getmtime)[-1]
    with open(path, encoding="utf-8") as fh:
        breach = json.load(fh)["breach"]
    return datetime.datetime.strptime(breach["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def _watcher_pids(reports):
    """The PIDs of every background watcher the runs started (their .pid files)."""
    import glob  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel
    pids = []
    for path in glob.glob(os.path.join(reports, "sli-background-*.json.pid")):
        with open(path, encoding="utf-8") as fh:
            pids.append(int(json.load(fh)["pid"]))
    return pids


def _mono(wall):
    """A LiveRun line's time.time() on the monotonic clock."""
    return wall - time.time() + time.monotonic()


def test_bad_after_the_canary_window_is_caught_during_the_peer_roll(lab, wired, builds, reports):
    """c) SLI_DURING_PEERS=1, ROLLBACK_PEERS=on_red: the canary turns bad once the peer is drained."""
    canary, peer = wired
    previous = {n: previous_version(lab, n) for n in (canary, peer)}
    gen = load(lab).start()
    try:
        with LiveRun("canary", reports, FAST_DRAIN, SLI_DURING_PEERS="1", **_knobs(lab, builds)) as run:
            run.wait_for("Background | Watch the upgraded nodes while this batch rolls", timeout=240)
            run.wait_for("TASK [veza.infra.canary : Drain |", timeout=60)
            set_control(lab, canary, BAD)
            t_bad, t_bad_wall = time.monotonic(), time.time()
            t_out = _out_of_rotation(lab, canary)
            set_control(lab, canary, GOOD)  # the bad build is what the rollback replaces
            rc, out = run.finish()
    finally:
        set_control(lab, canary, GOOD)
        res = gen.stop()
    print(summary(res))
    t_red = [_mono(t) for t, line in run.lines if line and "background analysis of" in line and "RED" in line]
    MEASURED["during_peers"] = {"watcher_red_s": _status_breach(reports) - t_bad_wall,
                                "read_s": (t_red[0] - t_bad) if t_red else None, "maint_s": t_out - t_bad,
                                "failed": res["failed"], "sent": res["sent"]}
    print("during-peers: bad at +0, red verdict read at +%.1f s, canary out of rotation at +%.1f s, %d failed of %d"
          % ((t_red[0] - t_bad) if t_red else -1, t_out - t_bad, res["failed"], res["sent"]))
    assert rc != 0
    assert "Release STOPPED: the background analysis during the peer roll (SLI_DURING_PEERS=1) is RED" in out, out[-4000:]
    assert "Rolled back to the last-known-good binary, newest first (ROLLBACK_PEERS=on_red): %s, %s" % (peer, canary) in out
    with open(os.path.join(reports, "during-peers-run.log"), "w", encoding="utf-8") as fh:
        fh.write(out)
    drained = drains(out)
    assert drained == [canary, peer, peer, canary], drained  # roll, roll, then the rollback newest first
    assert _versions(lab, (canary, peer)) == [previous[canary], previous[peer]]
    assert not lock_held(lab)
    assert all((s or "").split(" ")[0] == "UP" for s in lab.server_states(POOL).values())
    # nothing failed before the fault, nor once the bad canary was out of rotation (MAINT)
    lo, hi = t_bad - gen.t_start - 0.5, t_out - gen.t_start + 1.0
    outside = [f for f in res["failures"] if not lo <= f["t"] <= hi]
    assert not outside, (lo, hi, outside[:3], outside[-3:], len(outside))
    assert not [pid for pid in _watcher_pids(reports) if holder_alive(pid, None)], "background watcher left"


def test_bad_bake_rolls_the_fleet_back(lab, wired, builds, reports):
    """d) BAKE_WINDOW=12, ROLLBACK_PEERS=on_red: the peer turns bad in the bake."""
    canary, peer = wired
    previous = {n: previous_version(lab, n) for n in (canary, peer)}
    gen = load(lab).start()
    try:
        with LiveRun("canary", reports, FAST_DRAIN, BAKE_WINDOW="12", **_knobs(lab, builds)) as run:
            run.wait_for("TASK [veza.infra.canary : Bake | SLI gate over the whole pool", timeout=300)
            set_control(lab, peer, BAD)
            t_bad = time.monotonic()
            t_maint = _out_of_rotation(lab, peer)
            set_control(lab, peer, GOOD)  # the bad build is what the rollback replaces
            rc, out = run.finish()
    finally:
        set_control(lab, peer, GOOD)
        res = gen.stop()
    print(summary(res))
    with open(os.path.join(reports, "bake-run.log"), "w", encoding="utf-8") as fh:
        fh.write(run.output)
    red = [_mono(t) for t, line in run.lines if line and "prom_sli_watch [" in line and "RED" in line]
    print("bake: bad at +0, red at +%.1f s; %d failed of %d" % ((red[0] - t_bad) if red else -1, res["failed"], res["sent"]))
    MEASURED["bake"] = {"red_s": (red[0] - t_bad) if red else None, "maint_s": t_maint - t_bad,
                        "failed": res["failed"], "sent": res["sent"]}
    assert rc != 0
    assert "Release STOPPED: the bake over the whole pool after the last peer (BAKE_WINDOW) is RED" in out, out[-4000:]
    assert "newest first (ROLLBACK_PEERS=on_red): %s, %s" % (peer, canary) in out
    assert drains(out) == [canary, peer, peer, canary], drains(out)
    assert _versions(lab, (canary, peer)) == [previous[canary], previous[peer]]
    assert not lock_held(lab)
    assert all((s or "").split(" ")[0] == "UP" for s in lab.server_states(POOL).values())
