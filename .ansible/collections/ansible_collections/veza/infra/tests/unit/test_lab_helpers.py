# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/lab/lab.py (the lab tests' helpers) drives the lab scripts/lab.py declares: the same
instance names, inventory, ports and project, for the default lab and a named one; its
Prometheus queries go through the collection's one client."""
from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, *path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load("veza_lab_script_for_helpers", ("scripts", "lab.py"))
helpers = _load("veza_lab_helpers", ("tests", "lab", "lab.py"))

NAMED = {"VEZA_LAB_NAME": "authlab", "VEZA_LAB_HTTP_PORT": "28080", "VEZA_LAB_ADMIN_PORT": "29100",
         "VEZA_LAB_PROM_PORT": "29090"}


@pytest.mark.parametrize("environ", [{}, NAMED], ids=["default", "named"])
def test_the_helpers_follow_the_lab_declaration(monkeypatch, environ):
    for var in ("VEZA_LAB_NAME", "VEZA_LAB_HTTP_PORT", "VEZA_LAB_ADMIN_PORT", "VEZA_LAB_PROM_PORT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    spec = script.LabSpec(dict(environ))
    lab = helpers.Lab()
    assert lab.project == spec.project
    assert lab.inventory == helpers.inventory() == spec.inventory
    assert (lab.http_port, lab.admin_port, lab.prom_port) == (spec.http_port, spec.admin_port, spec.prom_port)
    assert [lab.node(n) for n in helpers.CONTAINERS] == spec.instances
    assert [lab.node(lab.node(n)) for n in helpers.CONTAINERS] == spec.instances  # idempotent
    assert [lab.node(b) for b in helpers.BACKENDS] == spec.backends


def test_prom_query_goes_through_the_one_client_with_the_lab_options(monkeypatch):
    monkeypatch.delenv("VEZA_LAB_NAME", raising=False)
    lab = helpers.Lab()
    lab.prom_url = "https://127.0.0.1:1"
    lab.prom_options = {"ca_path": "/tmp/ca.pem", "url_username": "u", "url_password": "p"}
    client = lab.prom(timeout=2.0)
    assert type(client).__name__ == "PromClient" and type(client).__module__.endswith("module_utils._prom_client")
    assert (client.url, client.timeout, client.ca_path, client.url_username, client.url_password) == (
        "https://127.0.0.1:1", 2.0, "/tmp/ca.pem", "u", "p")
    with pytest.raises(helpers.LabError, match="Prometheus query 'up' failed"):
        lab.prom_query("up", timeout=2.0)  # nothing listens on port 1: an error, not an empty answer
