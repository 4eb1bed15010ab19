# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pytest fixtures for HAProxy integration tests: import them into the test module.

    from conftest_haproxy import haproxy_lab_module, lab, run_module  # noqa: F401

``haproxy_lab_module``: one real HAProxy (tests/integration/haproxy_lab.py) per test module,
stopped by its finalizer. ``lab``: the same lab, reset (every server ready, weight 100%, checks
on, backends healthy) before each test. ``run_module(args, check=False, diff=False)`` runs
``veza.infra.haproxy_server_state`` through ``ansible`` itself and returns the host result.
"""
from __future__ import annotations

import pytest

from ansible_run import module as run_ansible_module  # ansible localhost -m; bench_haproxy_runtime's too
from haproxy_lab import HAProxyLab


@pytest.fixture(scope="module")
def haproxy_lab_module():
    the_lab = HAProxyLab()
    the_lab.start()
    yield the_lab
    the_lab.stop()


@pytest.fixture()
def lab(haproxy_lab_module):  # pylint: disable=redefined-outer-name
    haproxy_lab_module.reset()
    return haproxy_lab_module


@pytest.fixture()
def run_module():
    def _run(args, check=False, diff=False):
        return run_ansible_module("veza.infra.haproxy_server_state", args, check=check, diff=diff)
    return _run
