# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""group_vars/ (all/main.yml + <env>.yml) is in effect for the inventories under inventory/:
run the real ansible-inventory and read the merged host variables."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def host_vars(inventory, host, cwd=ROOT):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run(["ansible-inventory", "-i", os.path.join(ROOT, inventory), "--host", host],
                          cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("env,window", [("staging", 300), ("prod", 3600)])
def test_env_inventory_reads_all_and_env_group_vars(env, window):
    hv = host_vars("inventory/%s.yml" % env, "backend-api-1")
    assert hv["ansible_connection"] == "community.general.incus"
    assert hv["veza_env"] == env                       # group_vars/<env>.yml
    assert hv["veza_sli_window"] == window             # <env>.yml overrides all/main.yml
    assert hv["veza_canary_node"] == "backend-api-2"   # group_vars/all/main.yml
    # secrets are only referenced, never stored
    assert hv["veza_jwt_secret"] == "{{ vault_veza_jwt_secret }}"


def test_prod_only_values_stay_in_prod():
    assert host_vars("inventory/prod.yml", "haproxy")["haproxy_tls_cert_path"]
    assert "haproxy_tls_cert_path" not in host_vars("inventory/staging.yml", "haproxy")


def test_lab_inventory_gets_all_group_vars_from_elsewhere():
    """The group_vars come from beside the inventory file, not from the working directory."""
    hv = host_vars("inventory/lab.yml", "backend-api-1", cwd="/")
    assert hv["ansible_connection"] == "containers.podman.podman"
    assert hv["veza_canary_node"] == "backend-api-2"


def test_vault_example_holds_no_real_secret():
    with open(os.path.join(ROOT, "group_vars", "all", "vault.yml.example"), encoding="utf-8") as fh:
        values = [line.split(":", 1)[1] for line in fh if line.startswith("vault_")]
    assert values and all("CHANGE-ME" in v for v in values)
    assert not os.path.exists(os.path.join(ROOT, "group_vars", "all.yml"))
