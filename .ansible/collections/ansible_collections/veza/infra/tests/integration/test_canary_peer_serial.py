# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PEER_SERIAL (canary_peer_serial) end to end, through ansible-playbook itself.

Its parsing, validation and messages are the veza.infra.canary_* filters, tested case by case in
tests/unit/plugins/filter/test_canary.py (the 21 cases this file used to run here). What only
ansible-playbook shows stays here:

1. playbooks/canary.yml refuses a bad value in its pre-flight knob check, before any task that
   could change something, with the pre-flight's "Refusing the canary" wording; a good value
   given as an environment variable or as an extra var becomes the list of batch sizes.
2. The batches Ansible makes of 7 peers: the pre-flight's own set_fact
   (roles/canary/tasks/preflight.yml) and the peer play's own `serial` (canary.yml) on local
   hosts cut them as the canary_batch_sizes filter says. The real roll with PEER_SERIAL runs in
   tests/bench/bench_scale.py.
"""
from __future__ import annotations

import os

import pytest
import yaml

from ansible_run import ROOT, playbook, task_results
from ansible_collections.veza.infra.plugins.filter.canary import batch_sizes, peer_batches

PEERS = ["peer-%d" % i for i in range(1, 8)]
KNOBS = {"CANARY_NODE": "canary", "PEER_NODES": ",".join(PEERS)}
UNSET = ("ARTIFACT", "PEER_SERIAL")

INVENTORY = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
                     "children": {"haproxy": {"hosts": {"lb": None}},
                                  "backend_api_instances": {"hosts": dict.fromkeys(["canary"] + PEERS)}}}}


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "inventory.yml"
    path.write_text(yaml.safe_dump(INVENTORY))
    return path


def knob_check(inventory, env=None, extra_vars=None):  # pylint: disable=redefined-outer-name
    """canary.yml up to its knob check; returns (rc, batches fact, PEER_SERIAL item, names of tasks run)."""
    rc, doc = playbook("playbooks/canary.yml", inventory, env=dict(KNOBS, **(env or {})), extra_vars=extra_vars,
                       drop=UNSET)
    assert doc, "no JSON from ansible-playbook (rc %d)" % rc
    run = [(name, res) for name, host, res in task_results(doc) if host == "lb"]
    resolve = [res for name, res in run if name.endswith("Preflight | Resolve the nodes of this release")][0]
    check = [res for name, res in run if name.endswith("Preflight | Knobs are consistent")][0]
    item = [r for r in check["results"] if r["item"]["knob"] == "PEER_SERIAL"][0]
    return rc, resolve["ansible_facts"]["canary_peer_batches"], item, [name for name, _res in run]


@pytest.mark.parametrize("env, extra_vars, batches", [
    ({"PEER_SERIAL": " 2 , 50% "}, None, ["2", "50%"]),
    (None, {"canary_peer_serial": [1, "25%", "100%"]}, ["1", "25%", "100%"]),
])
def test_good_value_passes_the_knob_check(inventory, env, extra_vars, batches):  # pylint: disable=redefined-outer-name
    rc, got, item, _run = knob_check(inventory, env=env, extra_vars=extra_vars)
    assert got == batches
    assert not item.get("failed"), item
    # ARTIFACT is unset on purpose: the run still stops in the knob check, before anything changes.
    assert rc != 0


@pytest.mark.parametrize("env, extra_vars", [({"PEER_SERIAL": "1,,2"}, None), (None, {"canary_peer_serial": [1, "0"]})])
def test_bad_value_is_refused_before_anything_changes(inventory, env, extra_vars):  # pylint: disable=redefined-outer-name
    rc, _got, item, run = knob_check(inventory, env=env, extra_vars=extra_vars)
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
                  "canary_node": "canary", "canary_peer_nodes": ",".join(PEERS)},
         "tasks": [resolve]},
        {"name": "peers", "hosts": ":".join(PEERS), "gather_facts": False, "serial": peer_play["serial"],
         "tasks": [{"name": "batch", "ansible.builtin.debug": {"var": "ansible_play_batch"}, "run_once": True}]},
    ]
    path = tmp_path / "serial.yml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


@pytest.mark.parametrize("value", ["1,50%", "1,25%,100%"])
def test_ansible_cuts_the_peer_batches_as_the_filter_says(tmp_path, inventory, value):  # pylint: disable=redefined-outer-name
    rc, doc = playbook(serial_playbook(tmp_path), inventory, env={"PEER_SERIAL": value})
    assert rc == 0 and doc
    batches = [list(t["hosts"].values())[0]["ansible_play_batch"] for play in doc["plays"] if play["play"]["name"] == "peers"
               for t in play["tasks"]]
    assert [len(b) for b in batches] == batch_sizes(peer_batches(value), len(PEERS))
    assert [len(b) for b in batches] == {"1,50%": [1, 3, 3], "1,25%,100%": [1, 1, 5]}[value]
    assert sorted(h for b in batches for h in b) == sorted(PEERS)
