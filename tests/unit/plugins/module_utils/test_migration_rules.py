# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rules of migration_compat_check over pglast's parse tree: one positive and one negative case
per rule, then the traps a grep gets wrong."""

from __future__ import annotations

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _migration_rules as mr


def rules_of(*sources, **kw):
    named = [("m%03d.sql" % i, s) for i, s in enumerate(sources)]
    return [f["rule"] for f in mr.check_sources(named, **kw)["findings"]]


# (rule, SQL that must trigger it, SQL that must not)
CASES = [
    ("drop-column", "ALTER TABLE users DROP COLUMN email;",
     "CREATE TABLE t (a int, b int); ALTER TABLE t DROP COLUMN b;"),
    ("drop-table", "DROP TABLE users;", "CREATE TABLE tmp (a int); DROP TABLE tmp;"),
    ("drop-view", "DROP MATERIALIZED VIEW stats;", "CREATE VIEW v AS SELECT 1; DROP VIEW v;"),
    ("drop-schema", "DROP SCHEMA billing CASCADE;",
     "CREATE TABLE scratch.t (a int); DROP SCHEMA scratch CASCADE;"),
    ("drop-database", "DROP DATABASE IF EXISTS veza;", "CREATE DATABASE scratch;"),
    ("truncate-table", "TRUNCATE users CASCADE;", "CREATE TABLE tmp (a int); TRUNCATE tmp;"),
    ("truncate-table", "TRUNCATE TABLE sessions;", "DELETE FROM sessions WHERE id < 100;"),
    ("drop-default", "ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;",
     "ALTER TABLE users ALTER COLUMN plan SET DEFAULT 'free';"),
    ("drop-default", "ALTER TABLE users ALTER plan DROP DEFAULT;",
     "ALTER TABLE users ADD COLUMN tier text DEFAULT 'a'; ALTER TABLE users ALTER COLUMN tier DROP DEFAULT;"),
    ("rename-column", "ALTER TABLE users RENAME COLUMN name TO full_name;",
     "ALTER TABLE users ADD COLUMN nick text; ALTER TABLE users RENAME COLUMN nick TO nickname;"),
    ("rename-table", "ALTER TABLE users RENAME TO accounts;",
     "CREATE TABLE t (a int); ALTER TABLE t RENAME TO t2; DROP TABLE t2;"),
    ("rename-table", "ALTER TABLE users SET SCHEMA archive;",
     "CREATE TABLE t (a int); ALTER TABLE t SET SCHEMA archive; DROP TABLE archive.t;"),
    ("rename-view", "ALTER VIEW active_users RENAME TO live_users;",
     "CREATE VIEW v AS SELECT 1; ALTER VIEW v RENAME TO w;"),
    ("change-column-type", "ALTER TABLE users ALTER COLUMN id TYPE bigint;",
     "ALTER TABLE users ADD COLUMN score int; ALTER TABLE users ALTER COLUMN score TYPE bigint;"),
    ("add-column-not-null-no-default", "ALTER TABLE users ADD COLUMN plan text NOT NULL;",
     "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';"),
    ("add-column-not-null-no-default", "ALTER TABLE users ADD COLUMN plan text PRIMARY KEY;",
     "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b int NOT NULL;"),
    ("set-not-null", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
     "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"),
    ("do-block", "DO $$ BEGIN PERFORM 1; END $$;", "SELECT 'DO $$ BEGIN PERFORM 1; END $$';"),
    ("dynamic-sql", "DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$;",
     "DO $$ BEGIN PERFORM 1; END $$;"),
    ("dynamic-sql",
     "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $f$ BEGIN EXECUTE format('x'); END $f$;",
     "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN 1; END $f$;"),
    ("index-not-concurrent", "CREATE INDEX users_email ON users (email);",
     "CREATE INDEX CONCURRENTLY users_email ON users (email);"),
    ("index-not-concurrent", "CREATE UNIQUE INDEX ON public.users (email);",
     "CREATE TABLE t (a int); CREATE INDEX t_a ON t (a);"),
    ("drop-index-not-concurrent", "DROP INDEX users_email;", "DROP INDEX CONCURRENTLY users_email;"),
    ("concurrently-in-transaction",
     "BEGIN; CREATE INDEX CONCURRENTLY i ON users (a); COMMIT;",
     "BEGIN; SELECT 1; COMMIT; CREATE INDEX CONCURRENTLY i ON users (a);"),
    ("concurrently-in-transaction", "START TRANSACTION; DROP INDEX CONCURRENTLY i;",
     "DROP INDEX CONCURRENTLY i;"),
    ("constraint-not-valid",
     "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);",
     "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;"),
    ("constraint-not-valid", "ALTER TABLE orders ADD CHECK (total >= 0);",
     "ALTER TABLE orders ADD CONSTRAINT c CHECK (total >= 0) NOT VALID;"
     " ALTER TABLE orders VALIDATE CONSTRAINT c;"),
    ("constraint-not-valid", "ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);",
     "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b bigint REFERENCES coupons (id);"),
    ("constraint-not-valid", "ALTER DOMAIN email ADD CONSTRAINT at CHECK (VALUE LIKE '%@%');",
     "ALTER DOMAIN email ADD CONSTRAINT at CHECK (VALUE LIKE '%@%') NOT VALID;"),
    ("constraint-builds-index", "ALTER TABLE users ADD CONSTRAINT u UNIQUE (email);",
     "ALTER TABLE users ADD CONSTRAINT u UNIQUE USING INDEX users_email;"),
    ("volatile-default", "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
     "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT now();"),
    ("volatile-default", "ALTER TABLE users ADD COLUMN seq bigserial;",
     "CREATE TABLE t (id bigserial PRIMARY KEY, token uuid DEFAULT gen_random_uuid());"),
    ("volatile-default", "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS IDENTITY;",
     "ALTER TABLE users ADD COLUMN n int DEFAULT 0;"),
]


@pytest.mark.parametrize("rule,bad,good", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_rule_positive_and_negative(rule, bad, good):
    assert rule in rules_of(bad)
    assert rule not in rules_of(good)


def test_every_rule_is_tested_and_documented():
    tested = set(c[0] for c in CASES) | {"invalid-suppression"}
    assert tested == set(mr.RULES)
    for rule in mr.RULES.values():
        assert rule.severity in (mr.BLOCKING, mr.WARNING)
        assert rule.reason and rule.safe_alternative


def test_severities_follow_the_issue():
    blocking = {r.id for r in mr.RULES.values() if r.severity == mr.BLOCKING}
    assert {"drop-column", "drop-table", "drop-view", "rename-column", "rename-table",
            "change-column-type", "add-column-not-null-no-default", "set-not-null", "do-block",
            "dynamic-sql", "drop-database", "truncate-table", "drop-default"} <= blocking
    assert {"index-not-concurrent", "constraint-not-valid", "volatile-default"}.isdisjoint(blocking)


# --- traps ------------------------------------------------------------------------------------

def test_comments_and_string_literals_are_not_statements():
    sql = ("-- ALTER TABLE users DROP COLUMN email;\n"
           "/* DROP TABLE users; */\n"
           "INSERT INTO audit (note) VALUES ('ALTER TABLE users DROP COLUMN email');\n"
           "SELECT $tag$ DROP TABLE users; $tag$;\n")
    assert rules_of(sql) == []


def test_dollar_quoted_do_block_is_seen_into():
    sql = "DO $body$\nBEGIN\n  IF true THEN ALTER TABLE users DROP COLUMN email; END IF;\nEND\n$body$;"
    assert sorted(rules_of(sql)) == ["do-block", "drop-column"]


def test_do_block_in_other_language_is_opaque():
    assert rules_of("DO LANGUAGE plpython3u $$ plpy.execute('DROP TABLE users') $$;") == ["do-block"]


def test_statements_inside_a_transaction_are_checked():
    sql = "BEGIN;\nALTER TABLE users DROP COLUMN email;\nCOMMIT;"
    result = mr.check_sources([("a.sql", sql)])
    assert [(f["rule"], f["line"]) for f in result["findings"]] == [("drop-column", 2)]
    assert result["statements_checked"] == 3


def test_multiple_statements_per_line_and_line_numbers():
    sql = "\n\nSELECT 1; ALTER TABLE a DROP COLUMN x; DROP TABLE b;\n\n  ALTER TABLE c RENAME TO d;"
    found = mr.check_sources([("a.sql", sql)])["findings"]
    assert [(f["rule"], f["line"]) for f in found] == [
        ("drop-column", 3), ("drop-table", 3), ("rename-table", 5)]
    assert found[0]["statement"] == "ALTER TABLE a DROP COLUMN x"


def test_schema_qualified_names():
    # public.t and t are the same table; app.t is another one
    assert rules_of("CREATE TABLE t (a int); ALTER TABLE public.t DROP COLUMN a;") == []
    assert rules_of("CREATE TABLE t (a int); ALTER TABLE app.t DROP COLUMN a;") == ["drop-column"]
    assert rules_of('CREATE TABLE "Users" (a int); DROP TABLE users;') == ["drop-table"]


def test_if_exists_does_not_make_a_drop_safe():
    assert rules_of("ALTER TABLE IF EXISTS users DROP COLUMN IF EXISTS email;") == ["drop-column"]
    assert rules_of("DROP TABLE IF EXISTS users;") == ["drop-table"]


def test_if_not_exists_does_not_make_an_object_new():
    assert rules_of("CREATE TABLE IF NOT EXISTS users (a int); DROP TABLE users;") == ["drop-table"]
    assert rules_of("ALTER TABLE users ADD COLUMN IF NOT EXISTS email text;"
                    " ALTER TABLE users DROP COLUMN email;") == ["drop-column"]


def test_context_spans_files_of_the_set_in_order():
    assert rules_of("CREATE TABLE t (a int);", "ALTER TABLE t DROP COLUMN a;") == []
    # the reverse order is a drop of an existing table's column
    assert rules_of("ALTER TABLE t DROP COLUMN a;", "CREATE TABLE t (a int);") == ["drop-column"]


def test_transaction_state_resets_per_file():
    assert rules_of("BEGIN;", "CREATE INDEX CONCURRENTLY i ON users (a);") == []


def test_several_subcommands_of_one_alter_table():
    assert rules_of("ALTER TABLE users ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c TYPE text;") \
        == ["drop-column", "change-column-type"]


# --- suppressions -------------------------------------------------------------------------------

def test_suppression_with_reason_on_the_statement():
    sql = ("-- veza:allow drop-column reason: email unused since v1.0.8\n"
           "ALTER TABLE users DROP COLUMN email;\n"
           "ALTER TABLE users DROP COLUMN phone;\n")
    result = mr.check_sources([("a.sql", sql)])
    assert [(f["rule"], f["line"]) for f in result["findings"]] == [("drop-column", 3)]
    assert result["suppressed"][0]["suppression_reason"] == "email unused since v1.0.8"
    assert result["suppressed"][0]["suppressed_by"] == "comment"


def test_trailing_suppression_belongs_to_its_own_line_statement():
    sql = ("DROP TABLE a; -- veza:allow drop-table reason: empty since 2024\n"
           "DROP TABLE b;\n")
    assert [(f["rule"], f["line"]) for f in mr.check_sources([("x.sql", sql)])["findings"]] \
        == [("drop-table", 2)]


def test_suppression_inside_statement_and_block_comment():
    sql = "ALTER TABLE users /* veza:allow set-not-null reason: backfilled in 0041 */\n" \
          "  ALTER COLUMN email SET NOT NULL;"
    assert rules_of(sql) == []


def test_suppression_of_several_rules():
    sql = ("-- veza:allow do-block, dynamic-sql reason: reviewed by DBA, only grants\n"
           "DO $$ BEGIN EXECUTE 'GRANT SELECT ON users TO ro'; END $$;")
    assert rules_of(sql) == []


def test_suppression_without_reason_is_an_error():
    sql = "-- veza:allow drop-column\nALTER TABLE users DROP COLUMN email;"
    assert sorted(rules_of(sql)) == ["drop-column", "invalid-suppression"]
    sql = "-- veza:allow drop-column reason:   \nALTER TABLE users DROP COLUMN email;"
    assert sorted(rules_of(sql)) == ["drop-column", "invalid-suppression"]


def test_suppression_with_unknown_rule_or_orphaned_is_an_error():
    assert rules_of("-- veza:allow drop-everything reason: x\nSELECT 1;") == ["invalid-suppression"]
    assert rules_of("SELECT 1;\n\n-- veza:allow drop-table reason: x\n") == ["invalid-suppression"]


def test_suppression_text_in_a_string_literal_does_not_suppress():
    sql = "ALTER TABLE users DROP COLUMN email; SELECT '-- veza:allow drop-column reason: x';"
    assert rules_of(sql) == ["drop-column"]


def test_ignore_rules():
    result = mr.check_sources([("a.sql", "CREATE INDEX i ON users (a); DROP TABLE x;")],
                              ignore_rules=["index-not-concurrent"])
    assert [f["rule"] for f in result["findings"]] == ["drop-table"]
    assert [(f["rule"], f["suppressed_by"]) for f in result["suppressed"]] \
        == [("index-not-concurrent", "ignore_rules")]


@pytest.mark.parametrize("bad", [["no-such-rule"], ["invalid-suppression"]])
def test_ignore_rules_validation(bad):
    with pytest.raises(ValueError) as exc:
        mr.MigrationSet(bad)
    assert bad[0] in str(exc.value)


# --- input errors -----------------------------------------------------------------------------

def test_parse_error_carries_file_line_and_parser_message():
    with pytest.raises(mr.MigrationInputError) as exc:
        mr.check_sources([("ok.sql", "SELECT 1;"), ("bad.sql", "SELECT 1;\n\nALTER TABLE x DROPP y;")])
    assert (exc.value.path, exc.value.line) == ("bad.sql", 3)
    assert 'syntax error at or near "DROPP"' in exc.value.message


def test_non_utf8_and_binary_are_refused_with_line(tmp_path):
    latin = tmp_path / "latin1.sql"
    latin.write_bytes(u"-- caf\u00e9\nSELECT 1;\n".encode("latin-1"))
    with pytest.raises(mr.MigrationInputError) as exc:
        mr.read_migration(str(latin))
    assert exc.value.line == 1 and "not valid UTF-8" in exc.value.message
    binary = tmp_path / "dump.sql"
    binary.write_bytes(b"SELECT 1;\n\x00\x01\x02")
    with pytest.raises(mr.MigrationInputError) as exc:
        mr.read_migration(str(binary))
    assert exc.value.line == 2 and "binary" in exc.value.message


def test_utf8_with_bom_and_non_ascii_keeps_line_numbers(tmp_path):
    path = tmp_path / "bom.sql"
    path.write_bytes(u"\ufeff-- caf\u00e9 \u2603\nCOMMENT ON TABLE users IS '\u00e9\u00e9';\n"
                     u"ALTER TABLE users DROP COLUMN email;\n".encode("utf-8"))
    mset = mr.MigrationSet()
    mset.add_file(str(path))
    assert [(f["rule"], f["line"]) for f in mset.findings] == [("drop-column", 3)]


def test_suppressing_a_do_block_still_reports_what_is_seen_inside():
    sql = ("-- veza:allow do-block reason: reviewed, only backfills\n"
           "DO $$ BEGIN UPDATE users SET plan = 'free'; ALTER TABLE users DROP COLUMN email; END $$;")
    assert rules_of(sql) == ["drop-column"]


# --- size and line numbers (#14 item 13) ---------------------------------------------------------

def test_line_numbers_and_comment_owners_over_many_statements():
    # one newline index for the file, a bisect per statement and per comment
    body = "".join("INSERT INTO t VALUES (%d); -- row %d\n" % (i, i) for i in range(3000))
    sql = body + "\n-- veza:allow drop-table reason: scratch table\nDROP TABLE scratch;\nDROP TABLE t;\n"
    result = mr.check_sources([("a.sql", sql)])
    assert result["statements_checked"] == 3002
    assert [(f["rule"], f["line"]) for f in result["findings"]] == [("drop-table", 3004)]
    assert [(f["line"], f["suppression_reason"]) for f in result["suppressed"]] == [(3003, "scratch table")]


def test_lines_index_matches_counting():
    text = "a\n\nb\nc"
    lines = mr._Lines(text)  # pylint: disable=protected-access
    assert [lines.of(i) for i in range(len(text) + 1)] == [text.count("\n", 0, i) + 1 for i in range(len(text) + 1)]


def test_read_migration_refuses_a_file_above_the_limit(tmp_path):
    path = tmp_path / "big.sql"
    path.write_text("SELECT 1;\n" * 50)
    with pytest.raises(mr.MigrationInputError) as exc:
        mr.read_migration(str(path), max_size=100)
    assert "500 bytes, above max_file_size (100)" in exc.value.message
    assert mr.read_migration(str(path), max_size=500).count("SELECT") == 50
    assert mr.DEFAULT_MAX_FILE_SIZE == 10 * 1024 * 1024


def test_down_section_of_a_single_file_migration_is_cut():
    sql = "-- +goose Up\nALTER TABLE u ADD COLUMN a int;\n-- +goose Down\nDROP TABLE u;\n"
    assert rules_of(sql) == []
    assert mr.check_sources([("a.sql", sql)], include_down=True)["findings"][0]["rule"] == "drop-table"
    assert mr.up_section("SELECT 1;\n--migrate:down\nDROP TABLE u;") == "SELECT 1;\n"
