# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures of the plugin unit tests.

``sent_to_haproxy``: every command any ``HAProxyRuntime`` would send, recorded; none reaches a
socket (each answers "unreachable"), so a test can assert that nothing was sent.
"""
from __future__ import annotations

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _haproxy


@pytest.fixture
def sent_to_haproxy(monkeypatch):
    sent = []

    def command(self, cmd):
        sent.append(cmd)
        raise _haproxy.HAProxyUnreachable("test: no HAProxy here", self.address)
    monkeypatch.setattr(_haproxy.HAProxyRuntime, "command", command)
    return sent
