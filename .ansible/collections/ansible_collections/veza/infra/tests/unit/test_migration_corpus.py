# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_compat_check's rules against real projects' migrations (tests/corpus/).

Each file of the pinned corpus (tests/corpus/sources.json: crates.io, supabase/auth) is checked
on its own, as the release that applies it would be, and its verdict (block / warn / pass) must
be the one recorded in tests/corpus/verdicts.tsv. The `expected` column is the verdict judged
right by hand; where the rules still get a file wrong, `veza` records what they say and the
note starts with "miss:" (a fix flips the row, and this test says so).
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _migration_rules as mr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "corpus")
sys.path.insert(0, CORPUS)
import materialize  # noqa: E402  pylint: disable=wrong-import-position

LEVELS = ("pass", "warn", "block")


def _rows():
    with open(os.path.join(CORPUS, "verdicts.tsv"), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="module")
def corpus():
    try:
        return materialize.materialize(allow_clone=os.environ.get("VEZA_CORPUS_CLONE") == "1")
    except (LookupError, subprocess.CalledProcessError) as exc:
        pytest.skip("external migration corpus not available here (%s); run "
                    "tests/corpus/materialize.py with network, or set VEZA_CORPUS_MIRROR" % exc)


def verdict(path):
    mset = mr.MigrationSet()
    mset.add_file(path)
    sev = [f["severity"] for f in mset.findings]
    return "block" if mr.BLOCKING in sev else ("warn" if sev else "pass")


def test_the_table_is_well_formed():
    rows = _rows()
    assert len(rows) >= 300
    assert len(set((r["project"], r["path"]) for r in rows)) == len(rows)
    for row in rows:
        assert row["expected"] in LEVELS and row["veza"] in LEVELS, row
        if row["expected"] != row["veza"]:
            assert row["note"].startswith("miss: "), row


def test_every_file_gets_its_recorded_verdict(corpus):
    wrong = []
    for row in _rows():
        path = os.path.join(corpus[row["project"]], row["path"])
        with open(path, "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == row["sha256"], path
        got = verdict(path)
        if got != row["veza"]:
            wrong.append("%s/%s: %s, recorded %s (expected by hand: %s)"
                         % (row["project"], row["path"], got, row["veza"], row["expected"]))
    assert not wrong, "\n".join(wrong)


def test_the_licenses_come_with_the_files(corpus):
    for proj in materialize.load_sources():
        for name in proj["license_files"]:
            assert os.path.getsize(os.path.join(corpus[proj["name"]], name)) > 500
        assert proj["license"] in ("MIT", "MIT OR Apache-2.0", "Apache-2.0", "BSD-3-Clause",
                                   "PostgreSQL")


def test_agreement_with_the_hand_verdicts_stays_high():
    rows = _rows()
    agree = sum(1 for r in rows if r["expected"] == r["veza"])
    assert agree / float(len(rows)) >= 0.98
    # no file judged block by hand passes the check
    assert not [r for r in rows if r["expected"] == "block" and r["veza"] != "block"]
