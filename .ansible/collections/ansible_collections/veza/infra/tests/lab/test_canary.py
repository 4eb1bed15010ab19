# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/canary.yml end to end on the lab (issue 7 acceptance).

Day 23 bar: canary deploys of good builds under steady load (sticky clients included) with zero
failed requests and none over 1 s; a build answering 500 on /api/v1/health rolls back
automatically; a build whose SLI breaches during the window rolls back within one probe
interval plus one scrape interval. Plus the manual full rollback playbook.

The tests run in file order and share the lab (one bring-up for tests/lab).
"""
from __future__ import annotations

import glob
import json
import os

from lab import BACKENDS, LOCK, POOL, run_playbook
from loadgen import LoadGen, summary

CANARY, PEER = "backend-api-2", "backend-api-1"
INTERVAL, SCRAPE = 5, 2  # SLI_PROBE_INTERVAL used by run_playbook; the lab's Prometheus scrape interval


def assert_nothing_left(lab):
    """Every api_pool server back in rotation (UP, not DRAIN/MAINT) and the deploy lock released."""
    states = lab.server_states(POOL)
    assert all((states.get(b) or "").split(" ")[0] == "UP" for b in BACKENDS), states
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"


def under_load(lab):
    # Realistic traffic on an API route (it feeds the canary's SLI histogram); 30 % sticky clients.
    return LoadGen(lab.http_url + "/api/v1/tracks", rate=60, duration=600, clients=12, sticky_share=0.3)


def latest_report(reports, node):
    return json.load(open(sorted(glob.glob(os.path.join(reports, "sli-%s-*.json" % node)), key=os.path.getmtime)[-1]))


def deploy_green(lab, builds, reports, build, expect_version, **knobs):
    gen = under_load(lab)
    gen.start()
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds[build], **knobs)
    finally:
        res = gen.stop()
    print(summary(res))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert [lab.version(b) for b in (CANARY, PEER)] == [expect_version] * 2
    assert latest_report(reports, CANARY)["verdict"] == "green"
    assert_nothing_left(lab)
    # The bar of every successful canary run: no failed request, none slower than 1 s.
    assert res["sent"] > 500, res["sent"]
    assert res["failed"] == 0, res["failures"][:10]
    assert res["over_1s"] == 0, res["max_s"]
    return res, elapsed


def test_day23_normal_deploy_1(lab, builds, reports):
    deploy_green(lab, builds, reports, "v1.0.10", "1.0.10")


def test_manual_full_rollback(lab, builds, reports):
    """playbooks/rollback.yml puts every backend back on veza-api.previous without dropping a request."""
    gen = under_load(lab)
    gen.start()
    try:
        proc, _elapsed = run_playbook("rollback", reports)
    finally:
        res = gen.stop()
    print(summary(res))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert [lab.version(b) for b in BACKENDS] == ["1.0.9", "1.0.9"]
    assert_nothing_left(lab)
    assert res["failed"] == 0 and res["over_1s"] == 0, (res["failures"][:10], res["max_s"])


def test_day23_normal_deploy_2_is_idempotent_on_rerun(lab, builds, reports):
    deploy_green(lab, builds, reports, "v1.0.10", "1.0.10")
    # A re-run with the same binary changes nothing on the nodes (no push, no restart).
    uptime = {b: lab.health(b)["uptime_s"]
              for b in BACKENDS}
    proc, _elapsed = run_playbook("canary", reports, ARTIFACT=builds["v1.0.10"])
    assert proc.returncode == 0, proc.stdout[-4000:]
    after = {b: lab.health(b)["uptime_s"]
             for b in BACKENDS}
    assert all(after[b] > uptime[b] for b in BACKENDS), (uptime, after)  # not restarted


def test_day23_health500_build_rolls_back(lab, builds, reports):
    """A binary answering 500 on /api/v1/health never serves: node health fails, automatic rollback
    to ROLLBACK_BINARY (on the controller), peers untouched, nothing left drained or locked."""
    gen = under_load(lab)
    gen.start()
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds["health500"], ROLLBACK_BINARY=builds["v1.0.10"])
    finally:
        res = gen.stop()
    print(summary(res))
    assert proc.returncode != 0
    assert "Canary %s FAILED and was rolled back" % CANARY in proc.stdout
    assert "node health" in proc.stdout
    assert [lab.version(b) for b in (CANARY, PEER)] == ["1.0.10", "1.0.10"]
    assert "PLAY [Peers" not in proc.stdout, "peers must not be touched after a canary failure"
    assert_nothing_left(lab)
    assert res["failed"] == 0, res["failures"][:10]


def test_sli_breach_rolls_back_within_one_interval_plus_one_scrape(lab, builds, reports):
    """A build answering 5xx on a share of API requests passes node and LB health, then breaches
    the error-rate SLI: the gate goes red and the canary rolls back to veza-api.previous."""
    gen = under_load(lab)
    gen.start()
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds["5xx"])
    finally:
        res = gen.stop()
    print(summary(res))
    assert proc.returncode != 0
    assert "Canary %s FAILED and was rolled back" % CANARY in proc.stdout
    report = latest_report(reports, CANARY)
    assert report["verdict"] == "red" and report["breach"]["sli"] == "error_rate", report["reason"]
    red = [p for p in report["probes"] if p["status"] == "red"][0]
    print("SLI breach: red at probe %d, %.1f s into the window (bound: interval %d s + scrape %d s); %s"
          % (red["index"], red["elapsed"], INTERVAL, SCRAPE, report["reason"]))
    # The bad build serves from before the window starts, so the breach is visible by the first
    # probe's time: red no later than one probe interval plus one scrape interval after it.
    assert red["elapsed"] <= INTERVAL + SCRAPE
    assert lab.version(CANARY) == "1.0.9"  # veza-api.previous
    assert lab.version(PEER) == "1.0.10"
    assert_nothing_left(lab)
