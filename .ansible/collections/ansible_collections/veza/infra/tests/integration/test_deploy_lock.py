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

import pytest

import ansible_run

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


PLAY = """\
- name: Lock twice (re-entrant), look, unlock - the canary role's own task files
  hosts: haproxy
  connection: local
  gather_facts: false
  vars:
    canary_lock_path: {path}
    canary_artifact: /tmp/veza-api-test
    canary_node: backend-api-2
    canary_peer_nodes: backend-api-1
  tasks:
    - name: Lock
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: lock
    - name: Lock again
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: lock
    - name: Lock file while held
      ansible.builtin.slurp:
        src: {path}
      register: held
    - name: Unlock
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: unlock
    - name: Lock file after
      ansible.builtin.stat:
        path: {path}
"""


def test_canary_lock_and_unlock_tasks(tmp_path):
    path = tmp_path / "canary.lock"
    playbook = tmp_path / "lock.yml"
    playbook.write_text(PLAY.format(path=path))
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[haproxy]\nlocalhost\n")
    done = ansible_run.playbook(playbook, inventory, "-e", "ansible_python_interpreter=%s" % sys.executable)
    results = list(ansible_run.task_results(done.need_doc()))
    for _name, _host, res in results:   # a module failure is a clean message, never a traceback
        assert "Traceback" not in res.get("module_stderr", ""), res
    by_name = {}
    for name, _host, res in results:
        by_name.setdefault(name.split(" : ", 1)[-1], []).append(res)   # "veza.infra.canary : Lock | ..."
    takes = by_name["Lock | Take the deploy lock"]
    assert [r.get("changed") for r in takes] == [True, False], takes   # re-entrant within one run
    assert takes[0]["run_id"] == takes[1]["run_id"]
    assert not any(r.get("failed") for _n, _h, r in results), results
    held = json.loads(__import__("base64").b64decode(by_name["Lock file while held"][0]["content"]))
    assert held["run_id"] == takes[0]["run_id"] and held["controller"] == socket.gethostname()
    assert by_name["Unlock | Release the deploy lock"][0]["changed"] is True
    assert by_name["Lock file after"][0]["stat"]["exists"] is False


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "plugins", "modules", "deploy_lock.py")


@pytest.mark.parametrize("mode", ["break_stale", "force"])
def test_twenty_module_processes_one_winner(tmp_path, mode):
    """The module itself, 20 processes at once per round (as 20 ansible runs would start it, with no
    action plugin in front): exactly one winner. Measured before the fix: break_stale 1-2, force 20."""
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".collections"))
    for rnd in range(3):
        path = tmp_path / ("r%d" % rnd) / "canary.lock"
        path.parent.mkdir()
        path.write_text(json.dumps({"owner": "old", "run_id": "dead", "created": time.time() - 10000}))
        procs = []
        for i in range(20):
            args = tmp_path / ("r%d-a%d.json" % (rnd, i))
            args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
                "path": str(path), "owner": "o%d" % i, "run_id": "run-%d" % i, "stale_after": 3600, mode: True}}))
            procs.append(subprocess.Popen([sys.executable, MODULE, str(args)], stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, env=env))
        outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        winners = [o for o in outs if o.get("changed") and not o.get("failed")]
        assert len(winners) == 1, (mode, rnd, [o.get("msg") for o in outs])
        assert json.loads(path.read_text())["run_id"] == winners[0]["run_id"]
