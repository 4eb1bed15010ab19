# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""group_vars/ (all/main.yml + <env>.yml) is in effect for the inventories under inventory/:
run the real ansible-inventory and read the merged host variables."""
from __future__ import annotations

import json
import os

import pytest

from ansible_run import ROOT, ansible_env, run


def host_vars(inventory, host, cwd=ROOT):
    done = run(["ansible-inventory", "-i", os.path.join(ROOT, inventory), "--host", host], cwd=cwd,
               env=ansible_env(json=False), timeout=120)
    assert done.rc == 0, done.stderr
    return json.loads(done.stdout)


def resolved(inventory, host, var, **environ):
    """A variable as a task on `host` sees it (templated, environment applied), by ad-hoc debug
    with a local connection (the Incus hosts do not exist here)."""
    env = ansible_env(drop=[n for n in ("SLI_WINDOW", "PROM_URL") if n not in environ], **environ)
    done = run(["ansible", host, "-i", os.path.join(ROOT, inventory), "-m", "ansible.builtin.debug",
                "-a", "var=%s" % var, "-e", "ansible_connection=local"], env=env, timeout=120)
    assert done.rc == 0, done.stdout + done.stderr
    return done.need_doc()["plays"][0]["tasks"][0]["hosts"][host][var]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_env_inventory_reads_all_and_env_group_vars(env):
    hv = host_vars("inventory/%s.yml" % env, "backend-api-1")
    assert hv["ansible_connection"] == "community.general.incus"
    assert hv["veza_env"] == env                         # group_vars/<env>.yml
    assert hv["haproxy_health_path"] == "/api/v1/health"  # group_vars/all/main.yml
    # secrets are only referenced, never stored
    assert hv["veza_jwt_secret"] == "{{ vault_veza_jwt_secret }}"


def test_staging_shortens_the_canary_window_and_the_env_variable_wins():
    inv = "inventory/staging.yml"
    assert str(resolved(inv, "backend-api-2", "canary_sli_window")) == "300"
    assert str(resolved(inv, "backend-api-2", "canary_sli_window", SLI_WINDOW="900")) == "900"


def test_prod_keeps_the_runbook_defaults_of_the_canary_role():
    # No canary_* in prod's inventory: roles/canary/defaults/main.yml (1 h, prom.lxd) applies.
    assert not [k for k in host_vars("inventory/prod.yml", "backend-api-2") if k.startswith("canary_")]


def test_prod_only_values_stay_in_prod():
    assert host_vars("inventory/prod.yml", "haproxy")["haproxy_tls_cert_path"]
    assert "haproxy_tls_cert_path" not in host_vars("inventory/staging.yml", "haproxy")


def test_lab_inventory_gets_all_group_vars_from_elsewhere():
    """The group_vars come from beside the inventory file, not from the working directory."""
    hv = host_vars("inventory/lab.yml", "backend-api-1", cwd="/")
    assert hv["ansible_connection"] == "community.general.incus"
    assert hv["ansible_incus_project"] == "veza-lab"
    assert hv["haproxy_health_path"] == "/api/v1/health"


def test_lab_inventory_is_staging_but_for_remote_and_project():
    """The lab runs the collection's playbooks exactly as staging would: same connection, hosts and
    groups; only the Incus remote and project (and the top group naming the environment) differ."""
    import yaml  # pylint: disable=import-outside-toplevel

    def load(name):
        with open(os.path.join(ROOT, "inventory", name), encoding="utf-8") as fh:
            (group, body), = yaml.safe_load(fh).items()
        return group, body

    (lab_group, lab), (stg_group, staging) = load("lab.yml"), load("staging.yml")
    assert (lab_group, stg_group) == ("lab", "staging")
    assert lab["children"] == staging["children"]
    differ = {k for k in set(lab["vars"]) | set(staging["vars"]) if lab["vars"].get(k) != staging["vars"].get(k)}
    assert differ <= {"ansible_incus_remote", "ansible_incus_project"}, differ
    assert lab["vars"]["ansible_incus_project"] == "veza-lab"


def test_vault_example_holds_no_real_secret():
    with open(os.path.join(ROOT, "group_vars", "all", "vault.yml.example"), encoding="utf-8") as fh:
        values = [line.split(":", 1)[1] for line in fh if line.startswith("vault_")]
    assert values and all("CHANGE-ME" in v for v in values)
    assert not os.path.exists(os.path.join(ROOT, "group_vars", "all.yml"))
