# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: time to rollback - a canary build that turns bad in the middle of its SLI window.

On the embedded lab (scripts/lab.sh up; brought down at the end unless VEZA_KEEP_LAB=1), under
steady load through HAProxy (40 req/s on /api/v1/tracks, 30 % sticky clients), for each
SLI_PROBE_INTERVAL (5 s, 30 s) and each way of turning bad (5xx: every API request answers 503;
slow: every API request takes 0.9 s):
1. the canary's unit environment file (roles/backend_api's backend_api_env_file) points the
   stand-in at a control file, and playbooks/canary.yml rolls a good build onto the canary (its
   restart reads the environment file);
2. right after the first green probe line of prom_sli_watch, the bench writes the bad behaviour
   into the control file (the flip: the build turns bad at a known instant, just after a probe,
   i.e. the worst phase);
3. detection = flip -> the first red probe line in the live output;
   restoration = red -> the canary back on veza-api.previous and UP in HAProxy (runtime API
   polled every 0.1 s), split into red -> out of rotation (MAINT) and MAINT -> UP again. Once the
   canary is in MAINT the bench empties the control file, so that the restored binary behaves as
   its build.
Before each run it waits out that run's rate range since the previous breach, so that a window
never sees an earlier run's breach (a probe 0 that is not green aborts the bench).
Prints a table and writes tests/bench/results/rollback.json. No timed assertions.

The ramp (#16, ``--mode ramp``; ``--mode all``, the default, runs both parts): the same bad
behaviours, wired before the canary's restart so that the build is bad from its first request, at
``CANARY_STEPS=100``, ``5,100`` and ``dark,5,100`` (smoke path /api/v1/tracks), for each interval of
RAMP_INTERVALS (default ``5,30``; ``RAMP_INTERVALS=5`` skips the slow 30 s runs): the requests that
failed and the requests slower than 1 s that users got between the canary's return to rotation and
its rollback (from the run's release events and the load generator's timeline, fresh clients only:
the sticky ones cannot reach the canary before the drain and are counted separately). Then, with a
good build: the shares measured per step of ``5,25,100`` against their targets, and the time from
``make canary-abort`` to the red verdict and to the canary back UP on the old binary.

Usage: python tests/bench/bench_rollback.py [--intervals 5,30] [--kinds 5xx,slow] [--mode flip|ramp|all]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests"))  # first: tests/conftest.py installs the collection loader
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from lab import (ROOT as LAB_ROOT, Lab, LiveRun, make_builds, previous_version, set_control,  # noqa: E402  pylint: disable=wrong-import-position
                 unwire_control, wire_control)
from loadgen import LoadGen, summary  # noqa: E402  pylint: disable=wrong-import-position

CANARY = "backend-api-2"
SCRAPE = 2  # the lab's Prometheus scrape interval (group_vars/lab.yml)
BAD = {"5xx": {"error_rate": 1.0}, "slow": {"delay": 0.9}}
ROW = "%-9s %-5s %10s %11s %10s %12s %9s %6s %8s %9s"


def rate_range(interval):
    """prom_sli_watch's rate range R: max(2 x interval, 4 x scrape interval)."""
    return max(2 * interval, 4 * SCRAPE)


def status(lab):
    try:
        return (lab.server_states().get(lab.node(CANARY)) or "").split(" ")[0]
    except Exception:  # pylint: disable=broad-except
        return "?"


def one_run(lab, builds, interval, kind, reports):
    window = max(60, 4 * interval)
    previous = previous_version(lab, CANARY)
    artifact = builds["v1.0.9"] if lab.version(CANARY) == "1.0.10" else builds["v1.0.10"]
    wire_control(lab, CANARY)
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=900, clients=8, sticky_share=0.3).start()
    row = {"interval_s": interval, "bad": kind, "window_s": window, "rate_range_s": rate_range(interval)}
    try:
        with LiveRun("canary", reports, ARTIFACT=artifact, SLI_WINDOW=window, SLI_PROBE_INTERVAL=interval) as run:
            idx, _t, line = run.wait_for("probe 0 ", timeout=300)
            if not line.rstrip().endswith("GREEN"):
                raise RuntimeError("probe 0 is not green before the flip (a previous breach still in range?): " + line)
            set_control(lab, CANARY, BAD[kind])
            t_flip = time.time()
            idx, t_red, red_line = run.wait_for("  RED", timeout=window + 60, after=idx)
            t_maint = t_up = None
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and t_up is None:
                st = status(lab)
                if t_maint is None and st == "MAINT":
                    t_maint = time.time()
                    set_control(lab, CANARY, {})  # out of rotation: the restored binary behaves as its build
                elif t_maint is not None and st == "UP":
                    t_up = time.time()
                time.sleep(0.1)
            rc, out = run.finish()
    finally:
        res = gen.stop()
        unwire_control(lab, CANARY)
    version = lab.version(CANARY)
    print(summary(res).split("\n", 1)[0])
    row.update({
        "red_probe": red_line.split("probe ", 1)[1].split()[0],
        "detection_s": round(t_red - t_flip, 2),
        "red_to_maint_s": round(t_maint - t_red, 2) if t_maint else None,
        "maint_to_up_s": round(t_up - t_maint, 2) if t_up and t_maint else None,
        "restoration_s": round(t_up - t_red, 2) if t_up else None,
        "total_s": round(t_up - t_flip, 2) if t_up else None,
        "rolled_back": rc != 0 and "FAILED and was rolled back" in out and version == previous,
        "version_after": version, "bad_responses": res["failed"], "sent": res["sent"],
        "max_latency_s": res["max_s"],
    })
    return row


# -- the ramp (#16) ---------------------------------------------------------------------------------
RAMP_STEPS = ("100", "5,100", "dark,5,100")
RAMP_ROW = "%-9s %-5s %-11s %8s %8s %8s %10s %9s %8s"


def _events(reports):
    import glob  # pylint: disable=import-outside-toplevel
    path = sorted(glob.glob(os.path.join(reports, "events-*.jsonl")), key=os.path.getmtime)[-1]
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _when(evs, phase, status=None, host=None, nth=0):
    hits = [e for e in evs if e["phase"] == phase and (status is None or e["status"] == status)
            and (host is None or e["host"] == host)]
    return hits[nth]["time"] if len(hits) > nth else None


def _knobs(lab, interval):
    return {"CANARY_NODE": lab.node(CANARY), "PEER_NODES": lab.node("backend-api-1"),
            "SLI_PROBE_INTERVAL": interval, "SLI_MIN_WINDOW": 10}


def ramp_run(lab, builds, interval, kind, steps, reports):
    """A build bad from its first request under steps: what users got until the rollback."""
    window = max(60, 4 * interval) * (1 if steps == "100" else 2)
    artifact = builds["v1.0.9"] if lab.version(lab.node(CANARY)) == "1.0.10" else builds["v1.0.10"]
    wire_control(lab, lab.node(CANARY))
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=900, clients=8, sticky_share=0.3,
                  timeline=True).start()
    t0 = time.time()
    try:
        # CANARY_MIN_REQUESTS=5: at 5 s probes (10 s rate range) 5 % of the fresh clients' 28 req/s is
        # about 14 users' requests per probe, below the default 20 (a "no data" rollback is not the SLI's)
        with LiveRun("canary", reports, ARTIFACT=artifact, SLI_WINDOW=window, CANARY_STEPS=steps,
                     CANARY_MIN_REQUESTS=5, CANARY_SMOKE_PATHS="/api/v1/health,/api/v1/tracks",
                     **_knobs(lab, interval)) as run:
            deadline = time.monotonic() + window + 400
            phase = 0
            while run.proc.poll() is None and time.monotonic() < deadline:
                st = status(lab)
                if phase == 0 and st == "MAINT":
                    set_control(lab, lab.node(CANARY), BAD[kind])   # drained: the new build is bad from its start
                    phase = 1
                elif phase == 1 and st == "MAINT" and _rolling_back(run):
                    set_control(lab, lab.node(CANARY), {})   # out of rotation again: the restored binary is itself
                    phase = 2
                time.sleep(0.1)
            rc, out = run.finish()
    finally:
        gen.stop()
        unwire_control(lab, lab.node(CANARY))
    evs = [e for e in _events(reports) if e["time"] >= t0]
    back = _when(evs, "health", host=lab.node(CANARY))          # the canary back in rotation (its first step)
    gone = _when(evs, "drain", host=lab.node(CANARY), nth=1)    # the rollback drained it (MAINT)
    red_step = next((e["data"]["step"]["label"] for e in evs
                     if e["phase"] == "rollback" and e["status"] == "start" and e["data"].get("step")), None)
    fresh = gen.between(back, gone, kinds=("fresh",)) if back and gone else None
    every = gen.between(back, gone) if back and gone else None
    node = lab.node(CANARY)
    return {"interval_s": interval, "bad": kind, "steps": steps, "window_s": window,
            "caught_at": "dark" if red_step == "dark" else (red_step or "?"),
            "rolled_back": rc != 0 and "FAILED and was rolled back" in out,
            "exposure_s": round(gone - back, 1) if back and gone else None,
            "errors_served": every["failed_per_backend"].get(node, 0) if every else None,
            "slow_served": every["slow_per_backend"].get(node, 0) if every else None,
            "fresh_to_canary": fresh["per_backend"].get(node, 0) if fresh else None,
            "fresh_sent": fresh["sent"] if fresh else None}


def _rolling_back(run):
    return any("Rollback | Step 2" in line for _t, line in run.lines[-200:] if line)


def shares_run(lab, builds, reports, steps="5,25,100", interval=5):
    """A good build ramping through steps under 48 req/s of fresh clients: share measured per step."""
    artifact = builds["v1.0.9"] if lab.version(lab.node(CANARY)) == "1.0.10" else builds["v1.0.10"]
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=48, duration=900, clients=8, sticky_share=0.0,
                  timeline=True).start()
    t0 = time.time()
    try:
        # CANARY_MIN_REQUESTS=5: the health checks no longer count (SLI_REQUESTS_SELECTOR), and 5 % of
        # 48 req/s over a 10 s rate range is about 24 requests, too close to the default 20
        with LiveRun("canary", reports, ARTIFACT=artifact, SLI_WINDOW=90, CANARY_STEPS=steps, CANARY_MIN_REQUESTS=5,
                     **_knobs(lab, interval)) as run:
            rc, _out = run.finish()
    finally:
        gen.stop()
    evs = [e for e in _events(reports) if e["time"] >= t0 and e["phase"] == "step"]
    rows = []
    for start in [e for e in evs if e["status"] == "start"]:
        label = start["data"]["step"]["label"]
        end = next(e for e in evs if e["status"] != "start" and e["data"]["step"]["label"] == label)
        got = gen.between(start["time"] + 3, end["time"])      # the first 3 s: the rate of the step before
        n = sum(got["per_backend"].values())
        rows.append({"step": label, "target": float(label), "weight": start["data"]["share"]["weight"],
                     "weight_share": start["data"]["share"]["effective"],
                     "measured": round(100.0 * got["per_backend"].get(lab.node(CANARY), 0) / n, 2) if n else None,
                     "requests": n, "rate": round(n / max(1e-9, end["time"] - start["time"] - 3), 1)})
    return {"rc": rc, "steps": rows}


def abort_run(lab, builds, reports, interval):
    """make canary-abort at the first probe line of a good build's 5 % step: time to red, to UP again."""
    import subprocess  # pylint: disable=import-outside-toplevel
    artifact = builds["v1.0.9"] if lab.version(lab.node(CANARY)) == "1.0.10" else builds["v1.0.10"]
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=900, clients=8, sticky_share=0.3).start()
    try:
        # CANARY_MIN_REQUESTS=5: at 40 req/s a 5 % step has ~15 canary requests per 10 s rate range, under
        # the default 20 (no data twice is red: the step would end before the abort)
        with LiveRun("canary", reports, ARTIFACT=artifact, SLI_WINDOW=max(60, 4 * interval) * 2, CANARY_STEPS="5,100",
                     CANARY_MIN_REQUESTS=5, **_knobs(lab, interval)) as run:
            idx, _t, _l = run.wait_for("probe 0 ", timeout=300)
            t_abort = time.time()
            subprocess.run([sys.executable, os.path.join(LAB_ROOT, "scripts", "canary-control.py"), "abort",
                            "--report-dir", reports], check=True, capture_output=True, timeout=30)
            _i, t_red, _l = run.wait_for("aborted by the on-call", timeout=4 * interval + 60, after=idx)
            t_up = None
            seen_maint = False
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and t_up is None:
                st = status(lab)
                seen_maint = seen_maint or st == "MAINT"
                if seen_maint and st == "UP":
                    t_up = time.time()
                time.sleep(0.1)
            run.finish()
    finally:
        gen.stop()
    return {"interval_s": interval, "abort_to_red_s": round(t_red - t_abort, 2),
            "abort_to_up_s": round(t_up - t_abort, 2) if t_up else None}


def ramp_main(lab, builds, work, kinds, abort_only=False):
    intervals = [int(x) for x in os.environ.get("RAMP_INTERVALS", "5,30").split(",") if x]
    out = {"ramp": [], "shares": {"steps": []}, "abort": []}
    for interval in ([] if abort_only else intervals):
        for kind in kinds:
            for steps in RAMP_STEPS:
                time.sleep(rate_range(interval) + 5)     # no earlier breach in this window's rate range
                out["ramp"].append(ramp_run(lab, builds, interval, kind, steps, work))
                print(json.dumps(out["ramp"][-1], sort_keys=True))
    if not abort_only:
        time.sleep(rate_range(5) + 5)
        out["shares"] = shares_run(lab, builds, work)
        print(json.dumps(out["shares"], sort_keys=True))
    for interval in intervals:
        time.sleep(rate_range(interval) + 5)
        out["abort"].append(abort_run(lab, builds, work, interval))
        print(json.dumps(out["abort"][-1], sort_keys=True))
    print()
    print(RAMP_ROW % ("interval", "bad", "steps", "caught", "exposed", "errors", "slow >1 s", "fresh->new", "rollback"))
    for r in out["ramp"]:
        print(RAMP_ROW % ("%d s" % r["interval_s"], r["bad"], r["steps"], r["caught_at"], _s(r["exposure_s"]),
                          r["errors_served"], r["slow_served"], r["fresh_to_canary"], "ok" if r["rolled_back"] else "NO"))
    print()
    print("%-6s %7s %7s %13s %9s %9s" % ("step", "target", "weight", "weight share", "measured", "req/s"))
    for r in out["shares"]["steps"]:
        print("%-6s %6.1f%% %7s %12.2f%% %8s%% %9s"
              % (r["step"], r["target"], r["weight"], r["weight_share"], r["measured"], r["rate"]))
    print()
    for r in out["abort"]:
        print("abort at %d s probes: red %.1f s after make canary-abort, canary UP on the old binary %s after"
              % (r["interval_s"], r["abort_to_red_s"], _s(r["abort_to_up_s"])))
    path = os.path.join(RESULTS, "rollback-ramp%s.json" % ("-abort" if abort_only else ""))
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
    print("results: %s" % path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--intervals", default="5,30", help="SLI_PROBE_INTERVAL values, comma separated")
    parser.add_argument("--kinds", default="5xx,slow", help="ways the build turns bad: 5xx, slow")
    parser.add_argument("--mode", default="all", choices=["flip", "ramp", "abort", "all"],
                        help="flip: a build turning bad mid-window; ramp: CANARY_STEPS (#16); abort: only the "
                             "ramp's make canary-abort runs; all: flip and ramp")
    a = parser.parse_args()
    intervals = [int(x) for x in a.intervals.split(",") if x]
    kinds = [k for k in a.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in BAD]
    if unknown or not intervals or min(intervals) < 1:
        parser.error("--kinds takes %s; --intervals positive integers" % ", ".join(sorted(BAD)))
    os.makedirs(RESULTS, exist_ok=True)
    lab = Lab()
    lab.up()
    work = tempfile.mkdtemp(prefix="veza-bench-rollback-")
    make_builds(work)
    builds = {"v1.0.9": os.path.join(work, "veza-api-v1.0.9"), "v1.0.10": os.path.join(work, "veza-api-v1.0.10")}
    rows = []
    last_bad = 0.0
    if a.mode in ("ramp", "abort", "all"):
        try:
            ramp_main(lab, builds, work, kinds, abort_only=a.mode == "abort")
        finally:
            unwire_control(lab, lab.node(CANARY))
            if a.mode != "all" and os.environ.get("VEZA_KEEP_LAB") != "1":
                lab.down()
        if a.mode != "all":
            return
    try:
        for interval in intervals:
            for kind in kinds:
                # The next window's rate range must not reach back into the previous run's breach
                # (its first probe comes 20 s or more after the run starts: this is conservative).
                time.sleep(max(0.0, last_bad + rate_range(interval) + 5 - time.time()))
                rows.append(one_run(lab, builds, interval, kind, work))
                last_bad = time.time()
                print(json.dumps(rows[-1], sort_keys=True))
    finally:
        unwire_control(lab, CANARY)
        if os.environ.get("VEZA_KEEP_LAB") != "1":
            lab.down()
    print()
    print(ROW % ("interval", "bad", "detection", "red->MAINT", "MAINT->UP", "restoration", "total", "probe",
                 "failed", "rollback"))
    for r in rows:
        print(ROW % ("%d s" % r["interval_s"], r["bad"], "%.1f s" % r["detection_s"], _s(r["red_to_maint_s"]),
                     _s(r["maint_to_up_s"]), _s(r["restoration_s"]), _s(r["total_s"]), r["red_probe"],
                     r["bad_responses"], "ok" if r["rolled_back"] else "NO"))
    path = os.path.join(RESULTS, "rollback.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"scrape_interval_s": SCRAPE, "load_rate": 40, "rows": rows}, fh, indent=1, sort_keys=True)
    print("results: %s" % path)


def _s(value):
    return "-" if value is None else "%.1f s" % value


if __name__ == "__main__":
    main()
