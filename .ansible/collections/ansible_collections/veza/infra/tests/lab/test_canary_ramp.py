# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The canary's traffic ramp on the lab (#16): CANARY_STEPS, the dark step, the on-call controls,
the release events.

Four short runs (SLI windows of 12-24 s, a probe every 3 s) under load with the load generator's
timeline (per backend, per instant), the times of the phases from the run's events file:

1. a build that answers 503 on every API route (healthy on /api/v1/health) is caught at the dark step
   by its smoke path: rolled back, and no user request reached the canary while it ran the new binary;
2. a build answering 5xx on 20 % of API requests is caught at the 5 % step (red in that step's report);
3. a good build with dark,5,100: hold (make canary-hold) then promote (make canary-promote) end the 5 %
   step, the 100 % step is green, the peers roll; no sticky client changes backend during the ramp
   (the only switches are the drains'), 0 failed requests;
4. make canary-abort during a good build's 5 % step rolls it back at the next probe.

Figures (shares per step, errors served, time to rollback) are tests/bench/bench_rollback.py's.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

from lab import BACKENDS, LOCK, POOL, ROOT, LiveRun, run_playbook
from loadgen import LoadGen, summary

NODES = {}     # the lab's names: "backend-api-2" on the default lab, "<lab>-backend-api-2" on a named one
# CANARY_MIN_REQUESTS=1: a 5 % step of 50 req/s is a few requests per 8 s rate range (its unit tests hold
# the minimum itself)
FAST = {"SLI_PROBE_INTERVAL": "3", "SLI_MIN_WINDOW": "6", "CANARY_MIN_REQUESTS": "1", "NO_MIGRATIONS": "1"}


def assert_nothing_left(lab):
    names = [lab.node(b) for b in BACKENDS]
    states = lab.server_states(POOL)
    assert all((states.get(b) or "").split(" ")[0] == "UP" for b in names), states
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"
    weights = {name: row.get("uweight") for name, row in lab.server_rows(POOL).items()}
    assert weights == {b: 100 for b in names}, weights      # back at the configured weight


def load(sticky_share=0.0):
    # sticky clients only where the run measures stickiness: each drain waits its grace for them
    return LoadGen(lab_url() + "/api/v1/tracks", rate=50, duration=300, clients=12, sticky_share=sticky_share,
                   timeline=True)


_LAB = {}


def lab_url():
    return _LAB["lab"].http_url


def events(reports):
    path = sorted(glob.glob(os.path.join(reports, "events-*.jsonl")), key=os.path.getmtime)[-1]
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def when(evs, phase, status=None, host=None, nth=0):
    hits = [e for e in evs if e["phase"] == phase and (status is None or e["status"] == status)
            and (host is None or e["host"] == host)]
    return hits[nth]["time"] if len(hits) > nth else None


def control(reports, action, seconds=None):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "canary-control.py"), action, "--report-dir", reports]
    if seconds:
        cmd += ["--seconds", str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False,
                         env=dict(os.environ, VEZA_CONTROL_USER="lab-oncall"))
    assert out.returncode == 0, out.stderr
    return out.stdout


def share(gen, t0, t1):
    got = gen.between(t0, t1)
    n = sum(got["per_backend"].values())
    return (100.0 * got["per_backend"].get(NODES["canary"], 0) / n) if n else None, got


def nodes(lab):
    _LAB["lab"] = lab
    NODES["canary"], NODES["peer"] = lab.node("backend-api-2"), lab.node("backend-api-1")
    return NODES["canary"], NODES["peer"], dict(FAST, CANARY_NODE=NODES["canary"], PEER_NODES=NODES["peer"])


def test_bad_build_caught_at_the_dark_step_serves_no_user(lab, builds, reports):
    CANARY, PEER, fast = nodes(lab)
    before = [lab.version(b) for b in (CANARY, PEER)]
    gen = load().start()
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds["broken"], CANARY_STEPS="dark,5,100",
                                     CANARY_SMOKE_PATHS="/api/v1/health,/api/v1/tracks", SLI_WINDOW="12", **fast)
    finally:
        gen.stop()
    assert proc.returncode != 0 and "Canary %s FAILED and was rolled back" % CANARY in proc.stdout, proc.stdout[-3000:]
    assert "Dark step - smoke paths" in proc.stdout and "PLAY [Peers" not in proc.stdout
    assert "prom_sli_watch [%s]" % CANARY not in proc.stdout        # no user traffic, no SLI window
    evs = events(reports)
    assert [e["phase"] for e in evs][:4] == ["preflight", "drain", "push", "health"]
    new_from, new_until = when(evs, "drain", host=CANARY), when(evs, "drain", host=CANARY, nth=1)
    assert new_from and new_until and when(evs, "rollback", "ok") and when(evs, "done", "failed")
    _pct, dark = share(gen, new_from, new_until)
    print("dark step: %d user requests in %.1f s while the canary ran the new binary: %s"
          % (dark["sent"], new_until - new_from, dict(dark["per_backend"])))
    assert dark["sent"] > 50 and dark["per_backend"].get(CANARY, 0) == 0, dark
    assert dark["failed"] == 0
    assert [lab.version(b) for b in (CANARY, PEER)] == before
    assert_nothing_left(lab)


def test_bad_build_caught_at_the_5_percent_step(lab, builds, reports):
    CANARY, PEER, fast = nodes(lab)
    before = [lab.version(b) for b in (CANARY, PEER)]
    gen = load().start()
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds["5xx"], CANARY_STEPS="5,100",
                                     SLI_WINDOW="12", **fast)
    finally:
        res = gen.stop()
    assert proc.returncode != 0 and "Canary %s FAILED and was rolled back" % CANARY in proc.stdout, proc.stdout[-3000:]
    step5 = sorted(glob.glob(os.path.join(reports, "sli-%s-*-step5.json" % CANARY)), key=os.path.getmtime)[-1]
    report = json.load(open(step5))
    assert report["verdict"] == "red", report["reason"]
    evs = events(reports)
    assert when(evs, "step", "green") is None and when(evs, "rollback", "ok")
    pct, got = share(gen, when(evs, "step", "start"), when(evs, "rollback", "start"))
    print("5 %% step: canary share %.1f %% of %d requests, %d errors served: %s" % (
        pct or 0, got["sent"], got["failed"], summary(res)))
    assert [lab.version(b) for b in (CANARY, PEER)] == before
    assert_nothing_left(lab)


def test_good_build_ramps_hold_promote_peers_sticky(lab, builds, reports):
    CANARY, PEER, fast = nodes(lab)
    gen = load(sticky_share=0.3).start()
    try:
        with LiveRun("canary", reports, ARTIFACT=builds["v1.0.10"], CANARY_STEPS="dark,5,100", SLI_WINDOW="24",
                     **fast) as run:
            i, _t, _line = run.wait_for("prom_sli_watch [%s] " % CANARY, timeout=240)
            print(control(reports, "hold", 6))
            i, _t, _line = run.wait_for("CONTROL hold 6s by lab-oncall", timeout=30, after=i)
            print(control(reports, "promote"))
            run.wait_for("CONTROL promote by lab-oncall", timeout=30, after=i)
            rc = run.proc.wait(timeout=400)
            out = run.output
    finally:
        res = gen.stop()
    print(summary(res))
    assert rc == 0, out[-4000:]
    assert [lab.version(b) for b in (CANARY, PEER)] == ["1.0.10", "1.0.10"]
    assert_nothing_left(lab)
    evs = events(reports)
    steps = [e for e in evs if e["phase"] == "step" and e["status"] == "green"]
    assert [e["data"]["step"]["label"] for e in steps] == ["dark", "5", "100"], steps
    assert "promoted by the on-call: promote by lab-oncall" in steps[1]["message"]
    held = steps[1]["data"]["controls"]
    assert [c["action"] for c in held] == ["hold", "promote"] and held[0]["user"] == "lab-oncall"
    assert when(evs, "peers", host=PEER) and when(evs, "done", "ok")
    # the ramp: from the canary back in rotation to the last step's verdict, nobody switches version
    ramp_from, ramp_until = when(evs, "health", host=CANARY), steps[-1]["time"]
    moved = [s for s in res["sticky_switches"] if ramp_from <= gen.wall_start + s["t"] <= ramp_until]
    assert moved == [], moved
    # every other switch is a drain's: away from the node being drained
    assert all(s["old"] in (CANARY, PEER) for s in res["sticky_switches"]), res["sticky_switches"]
    assert len(res["sticky_switches"]) <= 2 * round(12 * 0.3), res["sticky_switches"]
    assert res["failed"] == 0, res["failures"][:10]
    for label, t0, t1 in (("5", when(evs, "step", "start", nth=1), steps[1]["time"]),
                          ("100", when(evs, "step", "start", nth=2), steps[2]["time"])):
        pct, got = share(gen, t0, t1)
        print("step %s: canary share %.1f %% of %d requests" % (label, pct or 0, got["sent"]))
    print("sticky switches: %d (drains only)" % len(res["sticky_switches"]))


def test_abort_rolls_back_at_the_next_probe(lab, builds, reports):
    CANARY, PEER, fast = nodes(lab)
    with LiveRun("canary", reports, ARTIFACT=builds["v1.0.10"], CANARY_STEPS="5,100", SLI_WINDOW="60",
                 ROLLBACK_BINARY=builds["v1.0.9"], **fast) as run:
        i, _t, _line = run.wait_for("prom_sli_watch [%s] " % CANARY, timeout=240)
        print(control(reports, "abort"))
        _i, _t, line = run.wait_for("CONTROL abort by lab-oncall", timeout=30, after=i)
        rc = run.proc.wait(timeout=300)
        out = run.output
    assert rc != 0 and "aborted by the on-call: abort by lab-oncall" in out, out[-3000:]
    assert "Canary %s FAILED and was rolled back" % CANARY in out
    assert lab.version(CANARY) == "1.0.9" and lab.version(PEER) == "1.0.10"
    assert_nothing_left(lab)
