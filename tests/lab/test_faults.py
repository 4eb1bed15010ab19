# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults and bad input against playbooks/canary.yml on the lab (issue 8's fault matrix, part).

Every refusal must come before anything changes: after it, both api_pool servers are UP and in
rotation, both backends still run the build they ran, and no deploy lock is left. Then two faults
of a running release: a second canary while one runs (the lock refuses it), and a run interrupted
with Ctrl-C in the SLI window, re-run to completion (the dead run's lock is taken over).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from lab import BACKENDS, LOCK, MIGRATIONS, POOL, ROOT, env, run_playbook
from loadgen import LoadGen

GAMEDAY = "/var/lib/veza/gameday"


def unchanged(lab, versions):
    states = lab.server_states(POOL)
    assert all((states.get(b) or "").split(" ")[0] == "UP" for b in BACKENDS), states
    assert {b: lab.version(b) for b in BACKENDS} == versions
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, builds):
    d = tmp_path_factory.mktemp("bad")
    noexec = d / "veza-api-noexec"
    noexec.write_bytes(open(builds["v1.0.10"], "rb").read())
    noexec.chmod(0o644)
    drop = d / "drop"
    drop.mkdir()
    (drop / "0043_drop_email.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    broken = d / "broken"
    broken.mkdir()
    (broken / "0044_broken.sql").write_text("ALTER TABLE users ADD COLUMN;\n")
    latin1 = d / "latin1"
    latin1.mkdir()
    (latin1 / "0045_latin1.sql").write_bytes("-- caf\xe9\nALTER TABLE t ADD COLUMN c int;\n".encode("latin-1"))
    return {"noexec": str(noexec), "drop": str(drop), "broken": str(broken), "latin1": str(latin1)}


# (case id, environment knobs on top of a good v1.0.10 canary, text the error must contain)
REFUSALS = [
    ("artifact-missing", {"ARTIFACT": "/nonexistent/veza-api"}, "does not exist on the controller"),
    ("artifact-not-executable", {"ARTIFACT": "{noexec}"}, "is not executable"),
    ("artifact-checksum", {"ARTIFACT_SHA256": "0" * 64}, "not ARTIFACT_SHA256=" + "0" * 64),
    ("rollback-binary-missing", {"ROLLBACK_BINARY": "/nonexistent/old"}, "ROLLBACK_BINARY=/nonexistent/old is missing"),
    ("unknown-canary-node", {"CANARY_NODE": "backend-api-9"}, "CANARY_NODE=backend-api-9 is not in group"),
    ("unknown-peer", {"PEER_NODES": "backend-api-1,backend-api-7"}, "PEER_NODES names unknown nodes backend-api-7"),
    ("canary-is-a-peer", {"PEER_NODES": "backend-api-2"}, "is also listed in PEER_NODES"),
    ("unknown-pool", {"POOL_BACKEND": "no_such_pool"}, "no_such_pool"),
    ("window-not-a-number", {"SLI_WINDOW": "an hour"}, "canary_sli_window"),
    ("window-below-minimum", {"SLI_WINDOW": "10"}, "SLI_WINDOW=10 is shorter than the minimum 30 s"),
    ("interval-zero", {"SLI_PROBE_INTERVAL": "0"}, "SLI_PROBE_INTERVAL=0 must be > 0"),
    ("interval-over-window", {"SLI_PROBE_INTERVAL": "90"}, "SLI_PROBE_INTERVAL=90 must be > 0 and <= SLI_WINDOW=30"),
    ("failure-limit-negative", {"SLI_FAILURE_LIMIT": "-1"}, "SLI_FAILURE_LIMIT=-1 must be >= 0"),
    ("failure-limit-whole-window", {"SLI_FAILURE_LIMIT": "7"}, "below the number of probes of the window (7)"),
    ("p95-negative", {"PROM_P95_THRESHOLD_S": "-1"}, "PROM_P95_THRESHOLD_S=-1 must be a positive number"),
    ("error-rate-not-a-number", {"PROM_ERR_RATE_THRESHOLD": "half"}, "canary_error_rate_threshold"),
    ("error-rate-over-one", {"PROM_ERR_RATE_THRESHOLD": "1.5"}, "must be a ratio in [0, 1)"),
    ("prometheus-down", {"PROM_URL": "http://127.0.0.1:9"}, "Prometheus at http://127.0.0.1:9 is not"),
    ("prometheus-url-malformed", {"PROM_URL": "prom lxd"}, "Prometheus at prom lxd is not"),
    ("migration-drop-column", {"MIGRATIONS_PATHS": "{drop}"}, "drop-column"),
    ("migration-unparsable", {"MIGRATIONS_PATHS": "{broken}"}, "0044_broken.sql"),
    ("migration-not-utf8", {"MIGRATIONS_PATHS": "{latin1}"}, "UTF-8"),
    ("no-migration-source", {"MIGRATIONS_PATHS": ""}, "no migrations to check"),
]


@pytest.mark.parametrize("case,knobs,needle", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_before_anything_changes(lab, builds, reports, bad_files, case, knobs, needle):
    before = {b: lab.version(b) for b in BACKENDS}
    knobs = {k: v.format(**bad_files) for k, v in knobs.items()}
    knobs.setdefault("ARTIFACT", builds["v1.0.10"])
    proc, elapsed = run_playbook("canary", reports, **knobs)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert needle in proc.stdout, (case, proc.stdout[-3000:])
    assert "Traceback" not in proc.stdout
    assert "Roll | Step 2" not in proc.stdout  # never reached the drain
    print("%s: refused in %.1f s" % (case, elapsed))
    unchanged(lab, before)


def test_haproxy_socket_missing_is_refused(lab, builds, reports):
    before = {b: lab.version(b) for b in BACKENDS}
    e = env()
    e.update(PYTHONUNBUFFERED="1", ANSIBLE_NOCOLOR="1", SLI_REPORT_DIR=reports, SLI_WINDOW="30",
             MIGRATIONS_PATHS=MIGRATIONS, ARTIFACT=builds["v1.0.10"])
    proc = subprocess.run(["ansible-playbook", "-i", "inventory/lab.yml", "playbooks/canary.yml",
                           "-e", "canary_haproxy_socket=/run/haproxy/missing.sock"], cwd=ROOT, env=e,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert proc.returncode != 0 and "/run/haproxy/missing.sock" in proc.stdout
    assert "Roll | Step 2" not in proc.stdout
    unchanged(lab, before)


def test_game_day_marker_refuses_unless_ignored(lab, builds, reports):
    before = {b: lab.version(b) for b in BACKENDS}
    lab.exec("haproxy", "sh", "-c", "mkdir -p /var/lib/veza && echo 'chaos drill, alice, until 16:00' > %s" % GAMEDAY)
    try:
        proc, _elapsed = run_playbook("canary", reports, ARTIFACT=builds["v1.0.10"])
    finally:
        lab.exec("haproxy", "rm", "-f", GAMEDAY)
    assert proc.returncode != 0
    assert "a game day is in progress" in proc.stdout and "chaos drill, alice, until 16:00" in proc.stdout
    unchanged(lab, before)


def test_lock_held_by_another_release_refuses_with_owner_and_age(lab, builds, reports):
    before = {b: lab.version(b) for b in BACKENDS}
    other = {"owner": "bob@laptop", "run_id": "laptop-777-x", "controller": "laptop", "pid": 777,
             "purpose": "canary v2", "created": time.time() - 120}
    lab.exec("haproxy", "sh", "-c", "mkdir -p /var/lib/veza && echo '%s' > %s" % (json.dumps(other), LOCK))
    try:
        proc, _elapsed = run_playbook("canary", reports, ARTIFACT=builds["v1.0.10"])
        assert proc.returncode != 0
        assert "another release is running" in proc.stdout and "bob@laptop" in proc.stdout
        assert "Roll | Step 2" not in proc.stdout
        # the other run's lock is left as it was
        assert json.loads(lab.exec("haproxy", "cat", LOCK).stdout)["run_id"] == "laptop-777-x"
    finally:
        lab.exec("haproxy", "rm", "-f", LOCK)
    unchanged(lab, before)


def _start_canary(reports, **knobs):
    e = env()
    e.update(PYTHONUNBUFFERED="1", ANSIBLE_NOCOLOR="1", SLI_REPORT_DIR=reports, SLI_WINDOW="30",
             SLI_PROBE_INTERVAL="5", MIGRATIONS_PATHS=MIGRATIONS, **knobs)
    return subprocess.Popen(["ansible-playbook", "-i", "inventory/lab.yml", "playbooks/canary.yml"], cwd=ROOT, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _read_until(proc, needle, timeout=300):
    """Lines of proc's output up to (and with) the first containing needle."""
    out, deadline = [], time.monotonic() + timeout
    for line in proc.stdout:
        out.append(line)
        if needle in line or time.monotonic() > deadline:
            break
    assert any(needle in line for line in out), "".join(out[-40:])
    return out


def _users(lab):
    """Users' traffic for a release that must end green: with the HAProxy health checks alone (a
    request every 2 s), one stalled check on a loaded machine left two 10 s probes without a request
    (no data, rolled back; CI 2026-12-01)."""
    return LoadGen(lab.http_url + "/api/v1/tracks", rate=20, duration=600, clients=4, sticky_share=0.0).start()


def test_second_canary_while_one_runs_is_refused(lab, builds, reports):
    gen = _users(lab)
    first = _start_canary(reports, ARTIFACT=builds["v1.0.9"])
    try:
        _read_until(first, "prom_sli_watch [")  # first run holds the lock, in its SLI window
        proc, _elapsed = run_playbook("canary", reports, ARTIFACT=builds["v1.0.10"])
        assert proc.returncode != 0 and "another release is running" in proc.stdout
        assert "Roll | Step 2" not in proc.stdout
        rest = first.communicate(timeout=600)[0]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        gen.stop()
    assert first.returncode == 0, rest[-3000:]
    unchanged(lab, {b: "1.0.9" for b in BACKENDS})


def test_interrupted_mid_canary_then_rerun_to_completion(lab, builds, reports):
    run = _start_canary(reports, ARTIFACT=builds["v1.0.10"])
    try:
        _read_until(run, "prom_sli_watch [")  # the canary is on v1.0.10, in its SLI window
        os.killpg(run.pid, signal.SIGINT)      # Ctrl-C in the terminal
        run.communicate(timeout=300)   # 120 s was too short once on a loaded machine
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode != 0
    # The interrupted run left its lock; a re-run of this controller takes it over and completes.
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode == 0
    gen = _users(lab)
    try:
        proc, elapsed = run_playbook("canary", reports, ARTIFACT=builds["v1.0.10"])
    finally:
        gen.stop()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "taking over the deploy lock" in proc.stdout
    print("re-run after Ctrl-C completed in %.1f s" % elapsed)
    unchanged(lab, {b: "1.0.10" for b in BACKENDS})
