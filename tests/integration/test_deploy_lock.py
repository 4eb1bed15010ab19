# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.deploy_lock through ``ansible`` (action plugin on the controller + module): run identity,
re-entrance, dead-run take-over, refusal of a live holder."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from conftest_haproxy import run_ansible_module


def lock(path, **kw):
    return run_ansible_module("veza.infra.deploy_lock", dict(path=str(path), **kw))


def test_identity_computed_on_the_controller(tmp_path):
    path = tmp_path / "canary.lock"
    res = lock(path, purpose="test")
    assert not res.get("failed"), res
    data = json.loads(path.read_text())
    host = socket.gethostname()
    assert data["controller"] == host and data["run_id"] == res["run_id"]
    assert res["run_id"].startswith("%s-%d-" % (host, data["pid"])) and data["owner"].endswith("@" + host)
    assert data["pid_start"] is not None
    # a second ansible run is another run; the first one's process has exited: a dead run of this
    # controller, taken over with a warning
    again = lock(path)
    assert not again.get("failed") and again["run_id"] != res["run_id"], again
    assert again["previous"]["run_id"] == res["run_id"]
    assert any("dead run of this controller" in str(w) for w in again.get("warnings", []))


def test_dead_run_of_this_controller_taken_over_live_one_refused(tmp_path):
    path = tmp_path / "canary.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(dead.stdout)
    path.write_text(json.dumps({"owner": "me@here", "run_id": "dead-run", "controller": socket.gethostname(),
                                "pid": dead_pid, "created": time.time() - 60}))
    res = lock(path)
    assert not res.get("failed"), res
    assert res["previous"]["run_id"] == "dead-run"
    assert any("taking over the deploy lock" in str(w) for w in res.get("warnings", []))
    # a live holder on this controller (this pytest process) is refused
    path.write_text(json.dumps({"owner": "me@here", "run_id": "live-run", "controller": socket.gethostname(),
                                "pid": os.getpid(), "created": time.time() - 60}))
    res = lock(path)
    assert res["failed"] and "another release is running" in res["msg"]
    assert json.loads(path.read_text())["run_id"] == "live-run"
    # another controller's holder: never judged from here
    path.write_text(json.dumps({"owner": "bob@laptop", "run_id": "laptop-777-x", "controller": "laptop",
                                "pid": dead_pid, "created": time.time() - 60}))
    res = lock(path)
    assert res["failed"] and "bob@laptop" in res["msg"]
    rel = lock(path, state="absent", force=True)
    assert not rel.get("failed") and not path.exists()
