# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/ansible_run.py, the one runner of Ansible for tests, labs and benches."""
from __future__ import annotations

import os
import socket
import time

import pytest

import ansible_run as ar


@pytest.mark.parametrize("text, plays", [
    ('{"plays": [1], "stats": {}}', [1]),                                   # the whole stdout
    ('[WARNING]: noise\n{"plays": [2], "stats": {}}\n', [2]),               # ANSIBLE_JSON_INDENT=0 after noise
    ('Cloning into x...\n{\n  "other": 1\n}\n{\n    "plays": [3]\n}\ntail', [3]),  # ansible-pull: git first
])
def test_parse_json_finds_the_callback_document(text, plays):
    assert ar.parse_json(text)["plays"] == plays


@pytest.mark.parametrize("text", ["", "no json at all", "[1, 2]", "{\n  \"plays\": [unclosed\n"])
def test_parse_json_none_without_a_document(text):
    assert ar.parse_json(text) is None


def test_env_has_the_checkout_and_one_callback_name(monkeypatch):
    monkeypatch.setenv("PEER_SERIAL", "9")
    env = ar.ansible_env(drop=("PEER_SERIAL",), SLI_WINDOW=30)
    assert env["ANSIBLE_STDOUT_CALLBACK"] == ar.JSON_CALLBACK == "ansible.posix.json"
    assert env["ANSIBLE_CONFIG"] == os.path.join(ar.ROOT, "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"] == os.path.join(ar.ROOT, ".collections")
    assert "PEER_SERIAL" not in env and env["SLI_WINDOW"] == "30"
    text = ar.ansible_env(json=False)
    assert "ANSIBLE_STDOUT_CALLBACK" not in text or text["ANSIBLE_STDOUT_CALLBACK"] == os.environ.get("ANSIBLE_STDOUT_CALLBACK")


def test_run_without_a_document_says_so():
    done = ar.run(["ansible", "--version"], env=ar.ansible_env(json=False), timeout=120)
    assert done.rc == 0 and done.doc is None
    with pytest.raises(AssertionError, match="no JSON from ansible --version"):
        done.need_doc()


def test_free_port_is_free_on_loopback():
    port = ar.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_until_returns_or_times_out_naming_what():
    t0 = time.monotonic()
    ar.wait_until(lambda: time.monotonic() - t0 > 0.2, 5, step=0.05)
    with pytest.raises(TimeoutError, match="the moon"):
        ar.wait_until(lambda: False, 0.2, step=0.05, what="the moon")
