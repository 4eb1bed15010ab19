# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults injected in the middle of a running playbooks/canary.yml on the lab (issue 8, part A).

Each fault is injected at a precise step, found in the live output of the running
ansible-playbook (tests/lab/lab.py LiveRun), never after a sleep:
a) Prometheus stopped in the SLI window -> prom_sli_watch's error_limit -> automatic rollback;
b) the canary container killed in the SLI window -> gate red on no data -> the rollback cannot
   reach the node: the lock is released and the run says what to do;
c) the canary's install directory full when the push runs -> the push fails, the service is never
   touched, the node goes back in rotation on the binary it ran;
d) a peer whose health fails after its push -> the run stops, the canary is not rolled back, the
   peer is left ready in HAProxy (its health checks keep it out), the lock released.
Steady load runs through HAProxy during each run: no request may fail while a healthy peer exists.
"""
from __future__ import annotations

import json
import time

import pytest

from lab import (BACKENDS, LOCK, POOL, LabError, LiveRun, binary_sha256, lock_held, previous_version, run_playbook,
                 unwire_control)
from loadgen import LoadGen, summary

CANARY, PEER = "backend-api-2", "backend-api-1"
INSTALL_DIR = "/opt/veza/backend-api"


def load(lab):
    # the same traffic as the canary acceptance tests: an API route, 30 % sticky clients
    return LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=600, clients=8, sticky_share=0.3)


def status(lab, node):
    return (lab.server_states(POOL).get(node) or "").split(" ")[0]


def assert_nothing_left(lab, up=BACKENDS):
    """No api_pool server drained or in maintenance, the ones in `up` UP, no deploy lock."""
    states = {b: status(lab, b) for b in BACKENDS}
    assert not [b for b, s in states.items() if s in ("DRAIN", "MAINT", "NOLB")], states
    assert all(states[b] == "UP" for b in up), states
    assert not lock_held(lab), "deploy lock %s left behind" % LOCK


def other_build(builds, version):
    """A good build that differs from `version`, so that the push really writes and restarts."""
    return builds["v1.0.9"] if version == "1.0.10" else builds["v1.0.10"]


def test_prometheus_stopped_mid_window_rolls_back(lab, builds, reports):
    """a) Prometheus dies after the first probe: 3 failed queries in a row (error_limit) make the
    gate red, the canary is rolled back to veza-api.previous, the peer is not touched."""
    peer_before, previous = lab.version(PEER), previous_version(lab, CANARY)
    gen = load(lab).start()
    try:
        with LiveRun("canary", reports, ARTIFACT=builds["v1.0.10"], SLI_WINDOW=60) as run:
            run.wait_for("probe 0 ")
            lab.exec("prometheus", "systemctl", "stop", "prometheus")
            t_stop = time.time()
            rc, out = run.finish()
    finally:
        res = gen.stop()
        lab.exec("prometheus", "systemctl", "start", "prometheus")
        wait_prometheus(lab)
    print(summary(res))
    assert rc != 0
    assert "Canary %s FAILED and was rolled back" % CANARY in out
    red = [line for line in out.splitlines() if "prom_sli_watch [%s] RED" % CANARY in line]
    assert red and "error_limit=3" in red[0], red
    errors = [(t, line) for t, line in run.lines if line and " ERROR" in line and "probe " in line]
    assert len(errors) >= 3 and all(t > t_stop for t, _line in errors), errors
    assert "PLAY [Peers" not in out
    assert lab.version(CANARY) == previous and lab.version(PEER) == peer_before
    assert_nothing_left(lab)
    assert res["failed"] == 0, res["failures"][:10]


def wait_prometheus(lab, timeout=90):
    """Prometheus answers again and has a fresh sample of every backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len([r for r in lab.prom_query('up{job="backend-api"} == 1') if r]) == len(BACKENDS):
                return
        except (OSError, LabError, ValueError):
            pass
        time.sleep(1)
    raise LabError("Prometheus not back with both backends after %d s" % timeout)


def test_canary_killed_mid_window(lab, builds, reports):
    """b) The canary container is killed after the first probe. Its series go stale, the gate goes
    red on no data, the rescue tries to roll it back and cannot reach it. Safe state: the lock is
    released, the canary is left in MAINT (so that it cannot come back into rotation on the
    unproven build when its container restarts), the peer serves, and the run's message says what
    to do. Doing what it says (start the container, playbooks/rollback.yml for that node) ends with
    both nodes UP and the canary on veza-api.previous."""
    peer_before, previous = lab.version(PEER), previous_version(lab, CANARY)
    gen = load(lab).start()
    try:
        with LiveRun("canary", reports, ARTIFACT=other_build(builds, lab.version(CANARY)), SLI_WINDOW=60) as run:
            run.wait_for("probe 0 ")
            t_kill = time.monotonic() - gen.t_start
            lab.kill(CANARY)
            lab.wait_status(CANARY, "DOWN", timeout=30)
            t_down = time.monotonic() - gen.t_start
            rc, out = run.finish()
        t_end = time.monotonic() - gen.t_start
    finally:
        res = gen.stop()
        if lab.state(CANARY) != "running":
            lab.start(CANARY)
    print(summary(res))
    print("killed at t=%.1f s, DOWN in HAProxy at t=%.1f s, run ended at t=%.1f s" % (t_kill, t_down, t_end))
    assert rc != 0
    assert "Rollback of %s to the last-known-good binary FAILED" % CANARY in out, out[-3000:]
    assert "ROLLBACK_NODES=%s" % CANARY in out and "playbooks/rollback.yml" in out
    assert "PLAY [Peers" not in out
    assert not lock_held(lab), "deploy lock left behind"
    assert status(lab, CANARY) == "MAINT" and status(lab, PEER) == "UP"
    # The blind kill itself may cut requests in flight on the canary (the Day 19 bar measures
    # that); once HAProxy has the canary DOWN and the peer is healthy, nothing may fail.
    late = [f for f in res["failures"] if f["t"] > t_down + 1.0]
    assert not late, late[:10]

    # What the message says to do.
    proc, _elapsed = run_playbook("rollback", reports, ROLLBACK_NODES=CANARY)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert lab.version(CANARY) == previous and lab.version(PEER) == peer_before
    assert_nothing_left(lab)


@pytest.fixture()
def full_install_dir(lab):
    """A 256 KiB tmpfs over the canary's install directory, holding copies of its binaries, filled
    up; removed (the original directory shows again) at the end."""
    yield lambda: lab.exec(CANARY, "sh", "-c", (
        "set -e; d=%s; t=$(mktemp -d); cp -a $d/. $t/; "
        "mount -t tmpfs -o size=256k,mode=0750,uid=0,gid=$(id -g veza-api) veza-disk-full $d; "
        "cp -a $t/. $d/; rm -rf $t; dd if=/dev/zero of=$d/.disk-full bs=4k 2>/dev/null || true; "
        "test $(df --output=avail -k $d | tail -1) -eq 0") % INSTALL_DIR)
    lab.exec(CANARY, "sh", "-c", "while mountpoint -q %s; do umount %s; done" % (INSTALL_DIR, INSTALL_DIR))


def test_disk_full_during_push(lab, builds, reports, full_install_dir, tmp_path):
    """c) The canary's disk fills up between the drain and the push: the push fails, the service is
    never touched, the node goes back in rotation on the binary it ran, the lock is released. The
    last-known-good binary differs from the running file, so a rollback that tried to install it
    would hit the full disk too."""
    before = {b: lab.version(b) for b in BACKENDS}
    sha_before = binary_sha256(lab, CANARY)
    uptime = lab.health(CANARY)["uptime_s"]
    lkg = tmp_path / "veza-api-last-known-good"
    lkg.write_bytes(open(builds["v" + before[CANARY]], "rb").read() + b"# last-known-good, another file\n")
    lkg.chmod(0o755)
    gen = load(lab).start()
    try:
        with LiveRun("canary", reports, ARTIFACT=other_build(builds, before[CANARY]), ROLLBACK_BINARY=str(lkg)) as run:
            run.wait_for("TASK [veza.infra.canary : Drain |")
            run.pause()  # frozen before the push: fill the disk, then let it go on
            try:
                full_install_dir()
            finally:
                run.resume()
            rc, out = run.finish()
    finally:
        res = gen.stop()
    print(summary(res))
    assert rc != 0
    assert "No space left on device" in out
    assert "before its service was touched" in out, out[-3000:]
    assert "PLAY [Peers" not in out
    assert {b: lab.version(b) for b in BACKENDS} == before
    assert binary_sha256(lab, CANARY) == sha_before
    assert lab.health(CANARY)["uptime_s"] > uptime, "the canary's service was restarted"
    assert_nothing_left(lab)
    assert res["failed"] == 0, res["failures"][:10]


def test_disk_full_before_the_run_is_refused(lab, builds, reports, full_install_dir):
    """c') The canary's disk is already full when the run starts: the pre-flight sees it (free
    space vs the artifact + canary_disk_headroom_mb) and refuses before the drain; nothing changes."""
    before = {b: lab.version(b) for b in BACKENDS}
    sha_before = binary_sha256(lab, CANARY)
    uptime = lab.health(CANARY)["uptime_s"]
    full_install_dir()
    proc, _elapsed = run_playbook("canary", reports, ARTIFACT=other_build(builds, before[CANARY]))
    out = proc.stdout
    assert proc.returncode != 0
    assert "Refusing the canary before changing anything: %s has 0.0 MiB free in %s" % (CANARY, INSTALL_DIR) in out, out[-3000:]
    assert "canary_disk_headroom_mb=64" in out
    assert "Drain |" not in out and "Deploy lock" not in out
    assert {b: lab.version(b) for b in BACKENDS} == before
    assert binary_sha256(lab, CANARY) == sha_before
    assert lab.health(CANARY)["uptime_s"] > uptime
    assert_nothing_left(lab)


@pytest.fixture()
def broken_peer_health(lab):
    """The peer's next start answers 500 on its health route (the unit's environment file points the
    stand-in at a control file); removed, and the peer restarted healthy, at the end."""
    lab.exec(PEER, "sh", "-c", "printf '%s' > /etc/veza/lab-control.json && chmod 0644 /etc/veza/lab-control.json"
             " && echo VEZA_API_CONTROL=/etc/veza/lab-control.json > /etc/veza/backend-api.env"
             % json.dumps({"health_status": 500}))
    yield
    unwire_control(lab, PEER)
    lab.exec(PEER, "systemctl", "restart", "veza-backend-api")
    lab.wait_status(PEER, "UP", timeout=60)


def test_peer_failure_stops_without_rollback(lab, builds, reports, broken_peer_health):
    """d) The canary is green, the peer's node health fails after its push: the run stops with the
    runbook's message, the canary keeps the new build, the peer is left ready (not drained, not in
    maintenance) and HAProxy's checks keep it DOWN, the lock is released, no request fails."""
    artifact = other_build(builds, lab.version(PEER))
    new = "1.0.10" if artifact == builds["v1.0.10"] else "1.0.9"
    gen = load(lab).start()
    try:
        proc, _elapsed = run_playbook("canary", reports, ARTIFACT=artifact)
        lab.wait_status(PEER, "DOWN", timeout=30)
    finally:
        res = gen.stop()
    print(summary(res))
    out = proc.stdout
    assert proc.returncode != 0
    assert "Peer %s FAILED" % PEER in out and "No automatic rollback" in out, out[-3000:]
    assert "Install | Step 4 - node health" in out
    assert "Rollback |" not in out
    assert lab.version(CANARY) == new
    assert lab.exec(PEER, "python3", INSTALL_DIR + "/veza-api", "--version").stdout.strip() == "v" + new
    assert status(lab, PEER) == "DOWN" and status(lab, CANARY) == "UP"
    assert not lock_held(lab)
    assert res["failed"] == 0, res["failures"][:10]
