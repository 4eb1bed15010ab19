# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PEER_SERIAL (canary_peer_serial): the peer play's `serial`, through ansible-playbook itself.

1. playbooks/canary.yml refuses a bad value in its pre-flight knob check, before any task that
   could change something, with a message naming PEER_SERIAL; a good value in any of its forms
   passes that check and becomes the list of batch sizes.
2. The batches Ansible makes of 7 peers: a two-play playbook built from the pre-flight's own
   set_fact (roles/canary/tasks/preflight.yml) and the peer play's own `serial` (canary.yml),
   on local hosts. The real roll with PEER_SERIAL runs in tests/bench/bench_scale.py.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
PEERS = ["peer-%d" % i for i in range(1, 8)]

INVENTORY = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
                     "children": {"haproxy": {"hosts": {"lb": None}},
                                  "backend_api_instances": {"hosts": dict.fromkeys(["canary"] + PEERS)}}}}


def ansible_playbook(playbook, inventory, env=None, extra=None):
    e = dict(os.environ)
    e.update({"PATH": os.path.join(VENV, "bin") + os.pathsep + e.get("PATH", ""),
              "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
              "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
              "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_JSON_INDENT": "0",
              "CANARY_NODE": "canary", "PEER_NODES": ",".join(PEERS)})
    for k in ("ARTIFACT", "PEER_SERIAL"):
        e.pop(k, None)
    e.update(env or {})
    cmd = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    if extra is not None:
        cmd += ["-e", json.dumps(extra)]
    proc = subprocess.run(cmd, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, "no JSON from ansible-playbook (rc %d): %s %s" % (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.returncode, json.loads(lines[-1])


def tasks(data):
    return [(t["task"]["name"], t["hosts"]) for play in data["plays"] for t in play["tasks"]]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "inventory.yml"
    path.write_text(yaml.safe_dump(INVENTORY))
    return path


def knob_check(inventory, value, as_extra_var):
    """canary.yml up to its knob check; returns (rc, batches fact, PEER_SERIAL item, names of tasks run)."""
    if as_extra_var:
        rc, data = ansible_playbook("playbooks/canary.yml", inventory, extra={"canary_peer_serial": value})
    else:
        rc, data = ansible_playbook("playbooks/canary.yml", inventory, env={"PEER_SERIAL": value})
    run = tasks(data)
    resolve = [h["lb"] for name, h in run if name.endswith("Preflight | Resolve the nodes of this release")][0]
    check = [h["lb"] for name, h in run if name.endswith("Preflight | Knobs are consistent")][0]
    item = [r for r in check["results"] if r["item"]["knob"] == "PEER_SERIAL"][0]
    return rc, resolve["ansible_facts"]["canary_peer_batches"], item, [name for name, _h in run]


@pytest.mark.parametrize("value, as_extra_var, batches", [
    ("1", False, ["1"]),
    ("1,25%,100%", False, ["1", "25%", "100%"]),
    ('[1, "25%", "100%"]', False, ["1", "25%", "100%"]),
    (" 2 , 50% ", False, ["2", "50%"]),
    ([1, "25%", "100%"], True, ["1", "25%", "100%"]),
    (3, True, ["3"]),
])
def test_good_value_passes_the_knob_check(inventory, value, as_extra_var, batches):
    rc, got, item, _run = knob_check(inventory, value, as_extra_var)
    assert got == batches
    assert not item.get("failed"), item
    # ARTIFACT is unset on purpose: the run still stops in the knob check, before anything changes.
    assert rc != 0


@pytest.mark.parametrize("value, as_extra_var", [
    ("0", False), ("-1", False), ("abc", False), ("", False), ("1,,2", False), ("150%", False),
    ("0%", False), ("1;2", False), ([1, "0"], True), ({"a": 1}, True),
])
def test_bad_value_is_refused_before_anything_changes(inventory, value, as_extra_var):
    rc, _got, item, run = knob_check(inventory, value, as_extra_var)
    assert rc != 0
    assert item.get("failed"), item
    assert "PEER_SERIAL=" in item["msg"] and "must be a positive number of peers" in item["msg"], item["msg"]
    assert "Refusing the canary before changing anything" in item["msg"]
    # Nothing after the knob check ran (no stat, no lock, no host touched).
    assert run[-1].endswith("Preflight | Knobs are consistent"), run


def serial_playbook(tmp_path):
    """The pre-flight's set_fact and the peer play's serial, taken from the real files."""
    with open(os.path.join(ROOT, "roles", "canary", "tasks", "preflight.yml"), encoding="utf-8") as fh:
        resolve = yaml.safe_load(fh)[0]
    with open(os.path.join(ROOT, "playbooks", "canary.yml"), encoding="utf-8") as fh:
        peer_play = [p for p in yaml.safe_load(fh) if p.get("hosts") == "peer_targets"][0]
    assert "canary_peer_batches" in resolve["ansible.builtin.set_fact"], "pre-flight no longer sets the batches"
    book = [
        {"name": "pre-flight", "hosts": "haproxy", "gather_facts": False,
         "vars": {"canary_peer_serial": "{{ lookup('ansible.builtin.env', 'PEER_SERIAL', default='1') }}",
                  "canary_peer_nodes": ",".join(PEERS)},
         "tasks": [resolve]},
        {"name": "peers", "hosts": ":".join(PEERS), "gather_facts": False, "serial": peer_play["serial"],
         "tasks": [{"name": "batch", "ansible.builtin.debug": {"var": "ansible_play_batch"}, "run_once": True}]},
    ]
    path = tmp_path / "serial.yml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


@pytest.mark.parametrize("value, sizes", [
    (None, [1] * 7),                  # default: the runbook's one at a time
    ("1,25%,100%", [1, 1, 5]),        # 25 % of 7 is 1 (Ansible rounds down, at least 1)
    ("2", [2, 2, 2, 1]),
    ("1,50%", [1, 3, 3]),             # the last size repeats
    ("100%", [7]),
])
def test_peer_batches(tmp_path, inventory, value, sizes):
    env = {"PEER_SERIAL": value} if value is not None else {}
    rc, data = ansible_playbook(serial_playbook(tmp_path), inventory, env=env)
    assert rc == 0
    batches = [list(t["hosts"].values())[0]["ansible_play_batch"] for play in data["plays"] if play["play"]["name"] == "peers"
               for t in play["tasks"]]
    assert [len(b) for b in batches] == sizes
    assert sorted(h for b in batches for h in b) == sorted(PEERS)
