# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property tests of the migration rules: no input makes them raise anything but a clear
MigrationInputError, and the fast paths (CREATE TABLE / CREATE INDEX read from their head,
statements parsed together) find what the parser finds."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _migration_rules as mr

SETTINGS = settings(max_examples=100, deadline=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "ALTER TABLE users DROP COLUMN email", "ALTER TABLE t ADD COLUMN c int", "DROP TABLE t",
    "ALTER TABLE t ALTER COLUMN c SET NOT NULL", "CREATE TABLE t (c int)", "CREATE INDEX i ON t (c)",
    "BEGIN", "COMMIT", "DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'x'; END $$", "INSERT INTO t VALUES (1)",
    "-- veza:allow drop-table reason: x\n", "/* c */", "'", "$$", ";", "\n", " ", "(", "é",
    "DROP TRIGGER tr ON t", "ALTER TYPE e RENAME VALUE 'a' TO 'b'", "-- +goose Down\n",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE 'x'; END $f$",
]


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=12))
def test_any_text_is_checked_or_refused_clearly(parts):
    text = "".join(parts)
    try:
        result = mr.check_sources([("p.sql", text)])
    except mr.MigrationInputError as exc:
        assert exc.path == "p.sql" and exc.message
        return
    for finding in result["findings"]:
        assert finding["rule"] in mr.RULES and finding["line"] >= 1
        assert finding["severity"] in (mr.BLOCKING, mr.WARNING)


IDENT = st.one_of(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    st.from_regex(r"[A-Z][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.from_regex(r'"[A-Za-z .]{1,8}"', fullmatch=True),
).filter(lambda s: s.strip('"').lower() not in mr._PARSED_LEADS | {  # pylint: disable=protected-access
    "on", "only", "using", "as", "of", "partition", "if", "not", "exists", "table", "index",
    "concurrently", "unique", "temp", "temporary", "unlogged", "global", "local", "select", "with",
    "default", "user", "order", "group", "from", "where", "check", "primary", "references"})


def _tree_findings(sql):
    """Findings of sql through the parser only (no fast path)."""
    mset = mr.MigrationSet()
    stmt = mr._Stmt("a.sql", 1, sql)  # pylint: disable=protected-access
    for part in sql.split(";"):
        if part.strip():
            for raw in mr._parse(part):  # pylint: disable=protected-access
                mset._check(raw["stmt"], stmt)  # pylint: disable=protected-access
    return [(f["rule"], f["message"]) for f in stmt.findings], mset


@SETTINGS
@given(schema=st.none() | IDENT, table=IDENT, index=st.none() | IDENT,
       unique=st.booleans(), conc=st.booleans(), ine=st.booleans(), new=st.booleans())
def test_fast_create_heads_agree_with_the_parser(schema, table, index, unique, conc, ine, new):
    rel = "%s.%s" % (schema, table) if schema else table
    create = "CREATE TABLE %s%s (a int)" % ("IF NOT EXISTS " if ine else "", rel) if new else "SELECT 1"
    idx = "CREATE %sINDEX %s%s%s ON %s (a)" % (
        "UNIQUE " if unique else "", "CONCURRENTLY " if conc else "",
        "IF NOT EXISTS " if ine and index else "", (index + " ") if index else "", rel)
    sql = "%s; %s" % (create, idx)
    try:
        mr._parse(sql)  # pylint: disable=protected-access
    except mr.ParseError:
        return  # not SQL (a keyword as a name): the split refuses it for both paths
    fast = mr.MigrationSet()
    fast.add_source("a.sql", sql)
    slow, smset = _tree_findings(sql)
    assert [(f["rule"], f["message"]) for f in fast.findings] == slow
    assert (fast.new_tables, fast.maybe_new_tables, fast.new_indexes) == (
        smset.new_tables, smset.maybe_new_tables, smset.new_indexes)
