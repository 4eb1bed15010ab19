# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One lab for the whole test session (tests/lab/*, and any test that imports this fixture).

The lab is brought up once (scripts/lab.sh up: a cold start, or a quick re-converge when it is
already running) and brought down at the end unless VEZA_KEEP_LAB=1.
"""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import Lab, make_builds  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def lab():
    the_lab = Lab()
    was_running = the_lab.state("haproxy") == "running"
    the_lab.up()
    print("\nlab: up (%s) took %.1f s" % ("warm" if was_running else "cold", the_lab.timings["up"]))
    yield the_lab
    if os.environ.get("VEZA_KEEP_LAB") == "1":
        print("\nlab: left running (VEZA_KEEP_LAB=1); `make lab-down` removes it")
        return
    the_lab.down()
    print("\nlab: down took %.1f s" % the_lab.timings["down"])


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    """{name: path} of the stand-in's builds (v1.0.9, v1.0.10, health500, slow, 5xx)."""
    return make_builds(tmp_path_factory.mktemp("builds"))


@pytest.fixture(scope="session")
def reports(tmp_path_factory):
    """Controller directory for the SLI reports of the lab's canary runs."""
    return str(tmp_path_factory.mktemp("sli-reports"))
