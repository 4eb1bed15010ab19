# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CANARY_SERVICE (canary_service_profile) through ansible-playbook itself (issue 19, part 2).

The profile table and its check are the veza.infra.canary_service_profile / canary_service_check
filters, tested in tests/unit/plugins/filter/test_canary.py. What only Ansible shows is here:

1. the role's defaults as Ansible templates them (roles/canary/defaults/main.yml read as vars):
   unset, they are the runbook's backend-api values, unchanged; CANARY_SERVICE=stream-server
   selects the stream server's pool, group, binary, unit, port, health paths and SLI selector; a
   knob set on its own (its environment variable, or -e) still wins over the profile;
2. playbooks/canary.yml and playbooks/rollback.yml refuse an unknown CANARY_SERVICE in their first
   task, naming the knob and the choices, before anything else runs; with CANARY_SERVICE=stream-server
   the canary's nodes are the stream servers (CANARY_NODE must be one of stream_server_instances).
"""
from __future__ import annotations

import pytest
import yaml

from ansible_run import ROOT, playbook, task_results

STREAMS = ["stream-server-1", "stream-server-2"]
INVENTORY = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"},
                     "children": {"haproxy": {"hosts": {"lb": None}},
                                  "backend_api_instances": {"hosts": dict.fromkeys(["backend-api-1", "backend-api-2"])},
                                  "stream_server_instances": {"hosts": dict.fromkeys(STREAMS)}}}}
KNOBS = ("canary_service_profile", "canary_host_group", "canary_pool_backend", "canary_node", "canary_peer_nodes",
         "canary_install_dir", "canary_binary_name", "canary_service", "canary_backend_port", "canary_health_path",
         "canary_lb_health_path", "canary_sli_histogram", "canary_sli_selector")
# The runbook's defaults (docs/runbooks/CANARY.md): CANARY_SERVICE unset must give exactly these.
BACKEND_API = {"canary_service_profile": "backend-api", "canary_host_group": "backend_api_instances",
               "canary_pool_backend": "api_pool", "canary_node": "backend-api-2", "canary_peer_nodes": "backend-api-1",
               "canary_install_dir": "/opt/veza/backend-api", "canary_binary_name": "veza-api",
               "canary_service": "veza-backend-api", "canary_backend_port": 8080, "canary_health_path": "/api/v1/health",
               "canary_lb_health_path": "", "canary_sli_histogram": "veza_gin_http_request_duration_seconds",
               "canary_sli_selector": 'instance="backend-api-2:8080"'}
STREAM_SERVER = {"canary_service_profile": "stream-server", "canary_host_group": "stream_server_instances",
                 "canary_pool_backend": "stream_pool", "canary_node": "stream-server-2", "canary_peer_nodes": "stream-server-1",
                 "canary_install_dir": "/opt/veza/stream-server", "canary_binary_name": "veza-stream",
                 "canary_service": "veza-stream-server", "canary_backend_port": 8082, "canary_health_path": "/health",
                 "canary_lb_health_path": "/stream/health", "canary_sli_histogram": "veza_gin_http_request_duration_seconds",
                 "canary_sli_selector": 'instance="stream-server-2:8082"'}
# Every environment variable the knobs above read, unset unless a case sets it.
UNSET = ("CANARY_SERVICE", "POOL_BACKEND", "CANARY_NODE", "PEER_NODES", "HEALTH_PATH", "LB_HEALTH_PATH", "SLI_HISTOGRAM",
         "ARTIFACT", "ROLLBACK_NODES")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("service") / "inventory.yml"
    path.write_text(yaml.safe_dump(INVENTORY))
    return path


def defaults(tmp_path, inventory, env=None, extra_vars=None):  # pylint: disable=redefined-outer-name
    """The knobs as Ansible templates roles/canary/defaults/main.yml (read as play vars)."""
    book = [{"name": "defaults", "hosts": "lb", "gather_facts": False,
             "vars_files": ["%s/roles/canary/defaults/main.yml" % ROOT],
             "tasks": [{"name": "knobs", "ansible.builtin.set_fact": {"knobs": {k: "{{ %s }}" % k for k in KNOBS}}}]}]
    path = tmp_path / "defaults.yml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    rc, doc = playbook(path, inventory, env=env, extra_vars=extra_vars, drop=UNSET)
    assert rc == 0 and doc, "rc %s" % rc
    return [res for name, host, res in task_results(doc) if name == "knobs"][0]["ansible_facts"]["knobs"]


def test_unset_is_the_runbooks_backend_api(tmp_path, inventory):  # pylint: disable=redefined-outer-name
    assert defaults(tmp_path, inventory) == BACKEND_API


def test_stream_server_profile_selects_every_knob(tmp_path, inventory):  # pylint: disable=redefined-outer-name
    assert defaults(tmp_path, inventory, env={"CANARY_SERVICE": "stream-server"}) == STREAM_SERVER


def test_a_knob_set_on_its_own_wins_over_the_profile(tmp_path, inventory):  # pylint: disable=redefined-outer-name
    got = defaults(tmp_path, inventory, env={"CANARY_SERVICE": "stream-server", "POOL_BACKEND": "hls_pool",
                                             "HEALTH_PATH": "/healthz", "CANARY_NODE": "stream-server-1",
                                             "PEER_NODES": "stream-server-2"},
                   extra_vars={"canary_service": "veza-streamer", "canary_backend_port": 9000})
    assert got == dict(STREAM_SERVER, canary_pool_backend="hls_pool", canary_health_path="/healthz",
                       canary_node="stream-server-1", canary_peer_nodes="stream-server-2",
                       canary_service="veza-streamer", canary_backend_port=9000,
                       canary_sli_selector='instance="stream-server-1:9000"')


def _run(book, inventory, env):  # pylint: disable=redefined-outer-name
    rc, doc = playbook(book, inventory, env=env, drop=UNSET)
    assert doc, "no JSON from ansible-playbook (rc %d)" % rc
    return rc, [(name, res) for name, host, res in task_results(doc) if host == "lb"]


@pytest.mark.parametrize("book", ["playbooks/canary.yml", "playbooks/rollback.yml"])
def test_unknown_service_is_refused_first_naming_the_knob(inventory, book):  # pylint: disable=redefined-outer-name
    rc, run = _run(book, inventory, {"CANARY_SERVICE": "streamer"})
    assert rc != 0
    failed = [(name, res) for name, res in run if res.get("failed")]
    assert len(failed) == 1, failed
    name, res = failed[0]
    assert name.endswith("The service to release is known (CANARY_SERVICE)"), run
    assert "Refusing" in res["msg"] and "CANARY_SERVICE=streamer" in res["msg"], res["msg"]
    assert "backend-api, stream-server" in res["msg"], res["msg"]
    # nothing ran after the check: no node resolved, no stat, no lock
    assert run[-1][0] == name, [n for n, _r in run]


def test_stream_server_canary_takes_its_nodes_from_the_stream_group(inventory):  # pylint: disable=redefined-outer-name
    rc, run = _run("playbooks/canary.yml", inventory, {"CANARY_SERVICE": "stream-server"})
    resolve = [res for name, res in run if name.endswith("Preflight | Resolve the nodes of this release")][0]
    assert resolve["ansible_facts"]["__canary_release_nodes"] == ["stream-server-2", "stream-server-1"]
    check = {r["item"]["knob"]: r for r in [res for name, res in run if name.endswith("Knobs are consistent")][0]["results"]}
    assert not check["CANARY_NODE"].get("failed") and not check["PEER_NODES"].get("failed")
    assert check["ARTIFACT"].get("failed")  # ARTIFACT unset on purpose: the run stops in the knob check
    assert rc != 0

    rc, run = _run("playbooks/canary.yml", inventory, {"CANARY_SERVICE": "stream-server", "CANARY_NODE": "backend-api-2"})
    check = {r["item"]["knob"]: r for r in [res for name, res in run if name.endswith("Knobs are consistent")][0]["results"]}
    assert check["CANARY_NODE"].get("failed")
    assert "CANARY_NODE=backend-api-2 is not in group stream_server_instances (stream-server-1, stream-server-2)" \
        in check["CANARY_NODE"]["msg"], check["CANARY_NODE"]["msg"]
