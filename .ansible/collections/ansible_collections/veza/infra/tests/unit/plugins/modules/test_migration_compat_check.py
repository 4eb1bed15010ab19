# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_compat_check's main(): argument handling, force, ignore_rules, input errors and
the git base_ref mode (against a real temporary repository)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.veza.infra.plugins.modules import migration_compat_check as mod


@pytest.fixture
def run(run_module):
    def _run(**args):
        rc, out = run_module(mod, args)
        out["_rc"] = rc
        return out
    return _run


@pytest.fixture
def migrations(tmp_path):
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "002_drop.sql").write_text("ALTER TABLE new_t DROP COLUMN a;\nALTER TABLE users DROP COLUMN email;\n")
    (d / "001_create.sql").write_text("CREATE TABLE new_t (a int, b int);\n")
    (d / "003_index.sql").write_text("CREATE INDEX i ON users (created_at);\n")
    (d / "README.md").write_text("DROP TABLE users;\n")
    return d


def test_directory_is_sorted_and_checked_as_one_set(run, migrations):
    out = run(paths=[str(migrations)])
    assert out["failed"] is True and out["changed"] is False
    assert [p.rsplit("/", 1)[1] for p in out["files_checked"]] == [
        "001_create.sql", "002_drop.sql", "003_index.sql"]
    assert out["statements_checked"] == 4
    assert [(f["rule"], f["line"], f["severity"]) for f in out["findings"]] == [
        ("drop-column", 2, "blocking"), ("index-not-concurrent", 1, "warning")]
    assert "1 blocking" in out["msg"] and "002_drop.sql:2 drop-column" in out["msg"]


def test_check_mode_gives_the_same_verdict(run, migrations):
    out = run(paths=[str(migrations)], _ansible_check_mode=True)
    assert out["failed"] is True and out["changed"] is False
    assert [f["rule"] for f in out["findings"]] == ["drop-column", "index-not-concurrent"]


def test_force_reports_and_succeeds_loudly(run, migrations):
    out = run(paths=[str(migrations)], force=True)
    assert out["_rc"] == 0 and not out.get("failed")
    assert out["bypassed"] == 1
    assert out["msg"].startswith("FORCE: 1 blocking finding(s) bypassed")
    assert [(f["rule"], f["severity"], f["bypassed"]) for f in out["findings"]] == [
        ("drop-column", "warning", True), ("index-not-concurrent", "warning", False)]
    # ansible-core 2.19 returns structured warnings; older ones plain strings
    warnings = [w["event"]["msg"] if isinstance(w, dict) else w for w in out["warnings"]]
    assert any("FORCED, NOT SAFE" in w and "drop-column" in w for w in warnings)


def test_force_does_not_bypass_an_invalid_suppression(run, tmp_path):
    (tmp_path / "a.sql").write_text("-- veza:allow drop-table\nDROP TABLE users;\n")
    out = run(paths=[str(tmp_path)], force=True)
    assert out["failed"] is True
    assert [f["rule"] for f in out["findings"] if f["severity"] == "blocking"] == ["invalid-suppression"]


def test_ignore_rules_drops_and_reports(run, migrations):
    out = run(paths=[str(migrations / "003_index.sql")], ignore_rules=["index-not-concurrent"])
    assert out["_rc"] == 0 and out["findings"] == []
    assert [f["rule"] for f in out["suppressed"]] == ["index-not-concurrent"]


def test_unknown_ignore_rule_fails_naming_the_option(run, migrations):
    out = run(paths=[str(migrations)], ignore_rules=["drop-colum"])
    assert out["failed"] is True
    assert out["msg"].startswith("ignore_rules: unknown rule id(s) drop-colum")
    assert "drop-column" in out["msg"]


def test_missing_path_fails_clearly(run, tmp_path):
    out = run(paths=[str(tmp_path / "nope")])
    assert out["failed"] is True and out["msg"].startswith("paths: ") and "does not exist" in out["msg"]


def test_parse_error_names_file_and_line(run, tmp_path):
    (tmp_path / "a.sql").write_text("SELECT 1;\nALTER TABLE users DROP COLUMNS email;\n")
    out = run(paths=[str(tmp_path)])
    assert out["failed"] is True
    assert out["file"].endswith("a.sql") and out["line"] == 2
    assert "SQL does not parse: syntax error" in out["msg"]


def test_non_utf8_fails_clearly(run, tmp_path):
    (tmp_path / "a.sql").write_bytes(b"SELECT 1;\nSELECT '\xff';\n")
    out = run(paths=[str(tmp_path)])
    assert out["failed"] is True and out["line"] == 2 and "not valid UTF-8" in out["msg"]


@pytest.mark.parametrize("args,needle", [
    (dict(paths=["/tmp"], repo="/tmp", migrations_dir="m"), "mutually exclusive"),
    (dict(repo="/tmp"), "migrations_dir"),
    (dict(), "one of the following is required"),
])
def test_argument_constraints(run, args, needle):
    out = run(**args)
    assert out["failed"] is True and needle in out["msg"]


def test_missing_pglast_fails_with_missing_required_lib(run, monkeypatch, migrations):
    monkeypatch.setattr(mod, "HAS_PGLAST", False)
    out = run(paths=[str(migrations)])
    assert out["failed"] is True and "pglast" in out["msg"] and "required" in out["msg"]


@pytest.fixture
def git_repo(tmp_path):
    if not shutil.which("git"):
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    (repo / "db").mkdir(parents=True)

    def git(*args):
        subprocess.run(["git", "-C", str(repo)] + list(args), check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (repo / "db" / "001_old.sql").write_text("DROP TABLE legacy;\n")  # already on main: not checked
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    (repo / "db" / "002_new.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    git("add", "-A")
    git("commit", "-qm", "feature")
    (repo / "db" / "003_untracked.sql").write_text("CREATE INDEX i ON users (a);\n")
    return repo


def test_base_ref_mode_checks_only_new_files(run, git_repo):
    out = run(repo=str(git_repo), base_ref="main", migrations_dir="db")
    assert [p.rsplit("/", 1)[1] for p in out["files_checked"]] == ["002_new.sql", "003_untracked.sql"]
    assert [f["rule"] for f in out["findings"]] == ["drop-column", "index-not-concurrent"]


def test_missing_base_ref_fails_clearly(run, git_repo):
    out = run(repo=str(git_repo), migrations_dir="db")  # default origin/main: no remote
    assert out["failed"] is True
    assert out["msg"].startswith("base_ref: origin/main is not a commit")


# --- a check that checked nothing fails (#14 item 12) --------------------------------------------

def test_empty_directory_fails_and_says_nothing_was_checked(run, tmp_path):
    (tmp_path / "README.md").write_text("DROP TABLE users;\n")
    out = run(paths=[str(tmp_path)])
    assert out["failed"] is True and out["msg"].startswith("nothing checked: paths ")
    assert "hold no .sql migration file" in out["msg"]


def test_empty_paths_list_fails_naming_the_option(run):
    out = run(paths=[])
    assert out["failed"] is True and out["msg"].startswith("paths: the list is empty")


def test_only_comments_fails_as_nothing_checked(run, tmp_path):
    (tmp_path / "0001_noop.sql").write_text("-- nothing yet\n/* later */\n")
    out = run(paths=[str(tmp_path)])
    assert out["failed"] is True and "hold no SQL statement" in out["msg"]
    assert out["files_checked"] == [str(tmp_path / "0001_noop.sql")]


def test_upper_case_suffix_is_a_migration(run, tmp_path):
    (tmp_path / "0001_DROP.SQL").write_text("DROP TABLE users;\n")
    out = run(paths=[str(tmp_path)])
    assert out["failed"] is True
    assert [f["rule"] for f in out["findings"]] == ["drop-table"]


@pytest.fixture
def folder_layout(tmp_path):
    """diesel / sqlx style: one folder per migration with up.sql and down.sql."""
    root = tmp_path / "migrations"
    for version, up, down in (
            ("2024-01-01-000000_create_drafts", "CREATE TABLE drafts (id int);",
             "DROP TABLE drafts; DROP TABLE legacy;"),
            ("2024-02-01-000000_add_plan", "ALTER TABLE users ADD COLUMN plan text;",
             "ALTER TABLE users DROP COLUMN plan;")):
        (root / version).mkdir(parents=True)
        (root / version / "up.sql").write_text(up + "\n")
        (root / version / "down.sql").write_text(down + "\n")
    (root / ".git").mkdir()
    (root / ".git" / "x.sql").write_text("DROP TABLE users;\n")
    return root


def test_folder_per_migration_checks_up_files_and_skips_rollbacks(run, folder_layout):
    out = run(paths=[str(folder_layout)])
    assert out["_rc"] == 0 and not out.get("failed"), out["msg"]
    assert [p.split("/")[-2:] for p in out["files_checked"]] == [
        ["2024-01-01-000000_create_drafts", "up.sql"], ["2024-02-01-000000_add_plan", "up.sql"]]
    assert [p.split("/")[-1] for p in out["files_skipped"]] == ["down.sql", "down.sql"]
    assert out["statements_checked"] == 2


def test_include_down_checks_rollbacks_too(run, folder_layout):
    out = run(paths=[str(folder_layout)], include_down=True)
    assert out["failed"] is True and out["files_skipped"] == []
    # each rollback right after its up file: drafts and users.plan are new in the set
    assert [p.split("/")[-2][:10] + "/" + p.split("/")[-1] for p in out["files_checked"]] == [
        "2024-01-01/up.sql", "2024-01-01/down.sql", "2024-02-01/up.sql", "2024-02-01/down.sql"]
    assert [(f["rule"], f["message"]) for f in out["findings"]] == [
        ("drop-table", "DROP TABLE legacy: the running binary still uses it")]


def test_only_rollbacks_fails_and_names_include_down(run, folder_layout):
    for up in folder_layout.glob("*/up.sql"):
        up.unlink()
    out = run(paths=[str(folder_layout)])
    assert out["failed"] is True and out["msg"].startswith("nothing checked")
    assert "2 rollback file(s) skipped" in out["msg"] and "include_down" in out["msg"]


def test_up_down_file_pairs(run, tmp_path):
    (tmp_path / "000001_init.up.sql").write_text("CREATE TABLE a (id int);\n")
    (tmp_path / "000001_init.down.sql").write_text("DROP TABLE a;\n")
    (tmp_path / "000002_users.up.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    (tmp_path / "000002_users.down.sql").write_text("ALTER TABLE users ADD COLUMN email text;\n")
    out = run(paths=[str(tmp_path)])
    assert [p.rsplit("/", 1)[1] for p in out["files_checked"]] == [
        "000001_init.up.sql", "000002_users.up.sql"]
    assert [f["rule"] for f in out["findings"]] == ["drop-column"]


def test_a_down_file_given_by_name_is_checked(run, tmp_path):
    (tmp_path / "down.sql").write_text("DROP TABLE users;\n")
    out = run(paths=[str(tmp_path / "down.sql")])
    assert out["failed"] is True and [f["rule"] for f in out["findings"]] == ["drop-table"]


def test_single_file_down_sections_are_rollbacks(run, tmp_path):
    (tmp_path / "00001_goose.sql").write_text(
        "-- +goose Up\nALTER TABLE users ADD COLUMN plan text;\n\n"
        "-- +goose Down\nALTER TABLE users DROP COLUMN plan;\n")
    (tmp_path / "00002_dbmate.sql").write_text(
        "-- migrate:up\nCREATE INDEX CONCURRENTLY i ON users (plan);\n"
        "-- migrate:down\nDROP TABLE users;\n")
    out = run(paths=[str(tmp_path)])
    assert out["_rc"] == 0 and out["findings"] == [], out["msg"]
    out = run(paths=[str(tmp_path)], include_down=True)
    # goose's down drops a column its own up added (new in the set); dbmate's drops a table
    assert [f["rule"] for f in out["findings"]] == ["drop-table"]


def test_base_ref_mode_with_nothing_new_passes_and_says_so(run, git_repo):
    # The runbook's normal feature release ships no migration: git showed nothing new under a
    # directory that does hold migrations, so there is nothing to check and the release goes on.
    (git_repo / "db" / "003_untracked.sql").unlink()
    subprocess.run(["git", "-C", str(git_repo), "checkout", "-q", "main"], check=True)
    out = run(repo=str(git_repo), base_ref="main", migrations_dir="db")
    assert out["_rc"] == 0, out["msg"]
    assert out["files_checked"] == [] and out["findings"] == []
    assert out["msg"].startswith("no migration under db was added or changed since main (1 existing")


def test_base_ref_mode_on_a_directory_without_migrations_fails(run, git_repo):
    # ... but a migrations_dir that holds no migration at all most likely points elsewhere.
    (git_repo / "db" / "003_untracked.sql").unlink()
    subprocess.run(["git", "-C", str(git_repo), "checkout", "-q", "main"], check=True)
    (git_repo / "docs").mkdir()
    out = run(repo=str(git_repo), base_ref="main", migrations_dir="docs")
    assert out["failed"] is True
    assert out["msg"].startswith("nothing checked: no .sql migration under docs")
    assert "NO_MIGRATIONS=1" in out["msg"]


# --- size: linear, with a documented refusal (#14 item 13) ----------------------------------------

def test_file_above_max_file_size_is_refused_before_reading(run, tmp_path):
    big = tmp_path / "0001_load.sql"
    big.write_text("INSERT INTO t VALUES (1);\n" * 100)
    out = run(paths=[str(tmp_path)], max_file_size=1000)
    assert out["failed"] is True and out["file"] == str(big)
    assert "2600 bytes, above max_file_size (1000)" in out["msg"]
    assert run(paths=[str(tmp_path)], max_file_size=0)["_rc"] == 0
    assert run(paths=[str(tmp_path)])["_rc"] == 0


def test_negative_max_file_size_fails_naming_the_option(run, migrations):
    out = run(paths=[str(migrations)], max_file_size=-1)
    assert out["failed"] is True and out["msg"].startswith("max_file_size: -1 is negative")
