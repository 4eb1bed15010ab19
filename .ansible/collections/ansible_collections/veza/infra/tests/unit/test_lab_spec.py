# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""scripts/lab.py without Incus: the lab's declaration (names, sizes, ports, network) and the
failure summary that `make lab-up` / `make demo` print when a playbook fails."""
from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("veza_lab_script", os.path.join(ROOT, "scripts", "lab.py"))
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)

PORTS = {"VEZA_LAB_HTTP_PORT": "28080", "VEZA_LAB_ADMIN_PORT": "29100", "VEZA_LAB_PROM_PORT": "29090"}


def test_default_lab_is_the_inventory_of_inventory_lab_yml():
    spec = lab.LabSpec({})
    assert spec.project == spec.network == "veza-lab"
    assert spec.instances == ["haproxy", "backend-api-1", "backend-api-2", "stream-server-1", "stream-server-2",
                              "prometheus"]
    assert spec.inventory == "inventory/lab.yml"
    assert spec.proxies("haproxy") == {"veza-http": (18080, 80), "veza-admin": (19100, 9100)}
    assert spec.proxies("prometheus") == {"veza-prom": (19090, 9090)}
    assert spec.proxies("backend-api-1") == {}
    net = spec.network_config()
    assert net["dns.domain"] == "lxd" and net["ipv4.address"] == "10.214.10.1/24"
    assert net["raw.dnsmasq"] == "cname=prom.lxd,prometheus.lxd"  # the runbook's name of Prometheus


def test_named_lab_has_its_own_names_project_and_subnet():
    spec = lab.LabSpec(dict(PORTS, VEZA_LAB_NAME="veza-scale", VEZA_LAB_BACKENDS="4", VEZA_LAB_STREAM_SERVERS="0"))
    assert spec.project == spec.network == "veza-scale"
    assert spec.backends == ["veza-scale-backend-api-%d" % i for i in range(1, 5)]
    assert spec.streams == []
    assert spec.inventory == ".cache/labs/veza-scale/inventory.yml"
    assert spec.subnet != "10.214.10.1/24" and spec.subnet.startswith("10.214.")
    assert spec.network_config()["raw.dnsmasq"] == "cname=prom.lxd,veza-scale-prometheus.lxd"


@pytest.mark.parametrize("environ, words", [
    ({"VEZA_LAB_BACKENDS": "3"}, "the default lab"),
    ({"VEZA_LAB_NAME": "Bad_Name"}, "VEZA_LAB_NAME=Bad_Name"),
    ({"VEZA_LAB_NAME": "a-name-longer-than-15"}, "15 characters"),
    ({"VEZA_LAB_NAME": "other", "VEZA_LAB_BACKENDS": "0"}, "VEZA_LAB_BACKENDS=0: a whole number from 1 to 32"),
    ({"VEZA_LAB_NAME": "other", "VEZA_LAB_STREAM_SERVERS": "x"}, "VEZA_LAB_STREAM_SERVERS=x"),
    ({"VEZA_LAB_NAME": "other"}, "set VEZA_LAB_HTTP_PORT"),
])
def test_bad_environment_is_refused_naming_the_variable(environ, words):
    if environ.get("VEZA_LAB_NAME") == "other" and "set VEZA_LAB_HTTP_PORT" not in words:
        environ = dict(PORTS, **environ)
    with pytest.raises(lab.LabFailure) as exc:
        lab.LabSpec(environ)
    assert words in str(exc.value)


def test_failure_summary_names_the_failing_task_and_its_message():
    output = "\n".join([
        "PLAY [HAProxy] ****",
        "TASK [veza.infra.haproxy : Validate the configuration] ****",
        "ok: [haproxy]",
        "TASK [veza.infra.haproxy : Start haproxy] ****",
        "fatal: [haproxy]: FAILED! => changed=false",
        "  msg: 'Unable to start service haproxy: Job for haproxy.service failed'",
        "",
        "PLAY RECAP ****",
        "haproxy : ok=1 changed=0 unreachable=0 failed=1",
    ])
    text = lab.failure_summary(output)
    first = text.split("last lines:")[0]
    assert "TASK [veza.infra.haproxy : Start haproxy]" in first
    assert "Validate the configuration" not in first
    assert "Unable to start service haproxy" in first
    assert text.rstrip().endswith("failed=1")


def test_failure_summary_of_a_run_without_fatal_is_its_last_lines():
    text = lab.failure_summary("\n".join("line %d" % i for i in range(100)), lines=5)
    assert "failing task" not in text
    assert text.splitlines()[-5:] == ["line %d" % i for i in range(95, 100)]
