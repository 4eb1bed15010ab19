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

import json
import os
import subprocess
import sys

import pytest

from haproxy_lab import HAProxyLab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ansible_env():
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_NOCOLOR="1",
    )
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def _run_json(cmd, timeout):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), cwd=ROOT,
                          timeout=timeout, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("ansible gave no JSON result (rc %s)\nstdout: %s\nstderr: %s"
                             % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])) from None


def _clean(result):
    # a module failure is a clean message, never a Python traceback
    assert "Traceback" not in result.get("module_stderr", ""), result
    assert "Traceback" not in str(result.get("exception", "")), result.get("exception")
    return result


def run_ansible_module(module, args, check=False, diff=False, timeout=180):
    """``ansible localhost -m <module> -a <json>``; returns the localhost result dict."""
    cmd = ["ansible", "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable,
           "-m", module, "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    out = _run_json(cmd, timeout)
    try:
        return _clean(out["plays"][0]["tasks"][0]["hosts"]["localhost"])
    except (KeyError, IndexError):
        raise AssertionError("no task result in %s" % json.dumps(out)[-3000:]) from None


def run_ansible_playbook(playbook, inventory, extra_vars=None, timeout=300):
    """``ansible-playbook`` with the JSON callback; returns ``[(task name, host, result), ...]``."""
    cmd = ["ansible-playbook", "-i", inventory, playbook, "-e", "ansible_python_interpreter=%s" % sys.executable]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    out = _run_json(cmd, timeout)
    return [(task["task"]["name"], host, _clean(res)) for play in out["plays"] for task in play["tasks"]
            for host, res in task["hosts"].items()]


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
