# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LB set (LB_SET, canary_lb_set; roles/canary/tasks/lb.yml) against two real HAProxy 2.6 on loopback.

The canary role's own drain and enable entry points run through ansible-playbook with two hosts
in group haproxy, each with its own admin socket; a thread samples both runtime APIs through the
project's one client while the drain runs:

1. the drain sets DRAIN on both LBs, then MAINT on both: some sample shows the node in DRAIN on
   both, a later one in MAINT on both, and no sample shows MAINT on one LB while the other is still
   ready; enable puts it back to ready on both.
2. an LB whose HAProxy is gone: the drain stops with the LB-set failure message (naming the LB and
   what to do), and the node is left ready on the LB that answers.
The same on the Incus lab, under load: tests/lab/test_lb_pair.py.
"""
from __future__ import annotations

import threading
import time

import pytest
import yaml

from ansible_run import playbook, task_results
from haproxy_lab import HAProxyLab

PLAY = """
- name: LB set
  hosts: s2
  gather_facts: false
  module_defaults:
    group/veza.infra.haproxy:
      # each LB has its own socket here; on real LBs it is the same path (canary_haproxy_socket)
      socket: "{{ hostvars[item if item is string else item.0].lb_socket }}"
      backend: api_pool
  tasks:
    - name: The role's entry point
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: "{{ entry }}"
"""


@pytest.fixture(scope="module")
def lbs():
    pair = [HAProxyLab(), HAProxyLab()]
    for lab in pair:
        lab.start()
    yield pair
    for lab in pair:
        lab.stop()


def inventory(tmp_path, pair):
    inv = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
                   "children": {"haproxy": {"hosts": {"lb1": {"lb_socket": pair[0].admin_socket},
                                                      "lb2": {"lb_socket": pair[1].admin_socket}}},
                                "backend_api_instances": {"hosts": {"s2": None}}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    (tmp_path / "play.yml").write_text(PLAY)
    return path


def run(tmp_path, pair, entry):
    return playbook(str(tmp_path / "play.yml"), inventory(tmp_path, pair),
                    extra_vars={"entry": entry, "canary_drain_grace": 2, "canary_drain_timeout": 20})


class Sampler(threading.Thread):
    """(status on LB1, status on LB2) of api_pool/s2 every 20 ms, through the one runtime client."""

    def __init__(self, pair):
        super().__init__(daemon=True)
        self.pair, self.samples, self.stop = pair, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(tuple(lab.rt.server("api_pool", "s2")["forced_admin_state"] for lab in self.pair))
            time.sleep(0.02)


def test_drain_goes_to_every_lb_then_maint_on_every_lb(tmp_path, lbs):
    for lab in lbs:
        lab.reset()
    sampler = Sampler(lbs)
    sampler.start()
    done = run(tmp_path, lbs, "drain")
    sampler.stop.set()
    sampler.join()
    assert done.rc == 0, done.stdout[-3000:]
    seen = sampler.samples
    assert ("drain", "drain") in seen, sorted(set(seen))
    assert seen[-1] == ("maint", "maint"), seen[-1]
    first_both_drain = seen.index(("drain", "drain"))
    assert ("maint", "maint") in seen[first_both_drain:]
    # MAINT on one LB only after the other LB had the node drained too (set on all, then wait on all)
    assert ("maint", "ready") not in seen and ("ready", "maint") not in seen, sorted(set(seen))

    done = run(tmp_path, lbs, "enable")
    assert done.rc == 0, done.stdout[-3000:]
    assert [lab.rt.server("api_pool", "s2")["forced_admin_state"] for lab in lbs] == ["ready", "ready"]


def test_an_lb_that_fails_stops_the_run_and_leaves_nothing_drained_on_the_other(tmp_path):
    pair = [HAProxyLab(), HAProxyLab()]
    for lab in pair:
        lab.start()
    try:
        pair[1].proc.terminate()
        pair[1].proc.wait(5)
        done = run(tmp_path, pair, "drain")
        assert done.rc != 0
        msgs = [res.get("msg", "") for name, host, res in task_results(done.need_doc()) if res.get("failed")
                and "Stop the run" in name]
        assert msgs, done.stdout[-3000:]
        msg = msgs[-1]
        assert "LB set failure (LB_SET=lb1,lb2)" in msg and "lb2: connection refused" in msg, msg
        assert "s2 was put back to ready on lb1" in msg and "LB_SET=lb1" in msg, msg
        assert pair[0].rt.server("api_pool", "s2")["forced_admin_state"] == "ready"
    finally:
        for lab in pair:
            lab.stop()
