# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_compat_check through ``ansible`` itself: real files, a real temporary git
repository (base_ref mode), force, ignore_rules, input errors, and a play that a blocking
finding stops before a later task changes anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible_run import ansible_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = "veza.infra.migration_compat_check"


def _env(tmp_path):
    return ansible_env(ANSIBLE_LOCAL_TEMP=tmp_path / "ansible-local", ANSIBLE_HOME=tmp_path / "ansible-home")


def _common_args():
    # the controller's python (the venv with pglast) runs the module on localhost
    return ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable]


def _task_results(proc):
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    return [task["hosts"]["localhost"] for play in doc["plays"] for task in play["tasks"]]


def run_module(tmp_path, args, check=False):
    """Run the module once via `ansible localhost -m`; returns (rc, result dict)."""
    cmd = ["ansible", "localhost", "-m", MODULE, "-a", json.dumps(args)] + _common_args()
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)
    results = _task_results(proc)
    assert len(results) == 1, proc.stdout
    return proc.returncode, results[0]


def warning_texts(result):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


@pytest.fixture
def migrations(tmp_path):
    d = tmp_path / "migrations"
    d.mkdir()
    (d / "0001_create_sessions.sql").write_text(
        "-- sessions are new in this release\n"
        "CREATE TABLE sessions (id bigserial PRIMARY KEY, user_id bigint NOT NULL, token text);\n"
        "CREATE INDEX sessions_user ON sessions (user_id);\n")
    (d / "0002_tweak_sessions.sql").write_text(
        "BEGIN;\n"
        "ALTER TABLE sessions ALTER COLUMN token TYPE varchar(64);\n"
        "ALTER TABLE sessions DROP COLUMN token;\n"
        "COMMIT;\n")
    return d


def test_safe_set_succeeds_and_is_read_only(tmp_path, migrations):
    rc, res = run_module(tmp_path, {"paths": [str(migrations)]})
    assert rc == 0, res
    assert res["changed"] is False and res["findings"] == []
    assert len(res["files_checked"]) == 2 and res["statements_checked"] == 6


def test_blocking_finding_fails_with_location(tmp_path, migrations):
    (migrations / "0003_users.sql").write_text(
        "ALTER TABLE users ADD COLUMN plan text NOT NULL;\n\n"
        "SELECT 'ALTER TABLE users DROP COLUMN email'; ALTER TABLE users RENAME COLUMN name TO full_name;\n")
    for check in (False, True):
        rc, res = run_module(tmp_path, {"paths": [str(migrations)]}, check=check)
        assert rc != 0 and res["failed"] is True and res["changed"] is False
        assert [(os.path.basename(f["file"]), f["line"], f["rule"]) for f in res["findings"]] == [
            ("0003_users.sql", 1, "add-column-not-null-no-default"),
            ("0003_users.sql", 3, "rename-column")]
        assert all(f["safe_alternative"] for f in res["findings"])


def test_force_succeeds_and_warns_what_was_bypassed(tmp_path, migrations):
    (migrations / "0003_drop.sql").write_text("DROP TABLE legacy_tokens;\n")
    rc, res = run_module(tmp_path, {"paths": [str(migrations)], "force": True})
    assert rc == 0, res
    assert res["bypassed"] == 1 and res["msg"].startswith("FORCE: 1 blocking finding(s) bypassed")
    assert res["findings"][0]["rule"] == "drop-table" and res["findings"][0]["severity"] == "warning"
    assert any("FORCED, NOT SAFE" in w and "drop-table" in w for w in warning_texts(res))


def test_ignore_rules_and_inline_suppression(tmp_path, migrations):
    (migrations / "0003_idx.sql").write_text(
        "CREATE INDEX users_email ON users (email);\n"
        "-- veza:allow drop-column reason: avatar_url unread since v1.0.7\n"
        "ALTER TABLE users DROP COLUMN avatar_url;\n")
    rc, res = run_module(tmp_path, {"paths": [str(migrations)], "ignore_rules": ["index-not-concurrent"]})
    assert rc == 0, res
    assert res["findings"] == []
    assert sorted((f["rule"], f["suppressed_by"]) for f in res["suppressed"]) == [
        ("drop-column", "comment"), ("index-not-concurrent", "ignore_rules")]
    rc, res = run_module(tmp_path, {"paths": [str(migrations)]})
    assert rc == 0 and [f["rule"] for f in res["findings"]] == ["index-not-concurrent"]
    assert any("index-not-concurrent" in w for w in warning_texts(res))


def test_parse_error_and_non_utf8(tmp_path, migrations):
    bad = migrations / "0003_bad.sql"
    bad.write_text("SELECT 1;\nALTER TABLE users ADD COLUMN x int NOT NULL DEFAULT;\n")
    rc, res = run_module(tmp_path, {"paths": [str(migrations)]})
    assert rc != 0 and res["failed"] is True
    assert res["file"] == str(bad) and res["line"] == 2
    assert "SQL does not parse" in res["msg"] and "syntax error" in res["msg"]
    bad.write_bytes(b"-- r\xe9sum\xe9\nSELECT 1;\n")
    rc, res = run_module(tmp_path, {"paths": [str(bad)]})
    assert rc != 0 and res["line"] == 1 and "not valid UTF-8" in res["msg"]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    rc, res = run_module(tmp_path, {"paths": [str(bad)]})
    assert rc != 0 and "binary content" in res["msg"]


def test_nothing_checked_fails_and_folder_layout_checks_up_files(tmp_path):
    """#14 item 12 through ansible: an empty directory fails; <version>/up.sql is checked and
    <version>/down.sql is a rollback, skipped unless include_down."""
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, res = run_module(tmp_path, {"paths": [str(empty)]})
    assert rc != 0 and res["failed"] is True and res["msg"].startswith("nothing checked: ")
    layout = tmp_path / "migrations"
    (layout / "2024-05-01-000000_add_plan").mkdir(parents=True)
    (layout / "2024-05-01-000000_add_plan" / "up.sql").write_text(
        "ALTER TABLE users ADD COLUMN plan text;\n")
    (layout / "2024-05-01-000000_add_plan" / "DOWN.SQL").write_text(
        "ALTER TABLE users DROP COLUMN plan;\nDROP TABLE users;\n")
    rc, res = run_module(tmp_path, {"paths": [str(layout)]})
    assert rc == 0, res
    assert [os.path.basename(p) for p in res["files_checked"]] == ["up.sql"]
    assert [os.path.basename(p) for p in res["files_skipped"]] == ["DOWN.SQL"]
    rc, res = run_module(tmp_path, {"paths": [str(layout)], "include_down": True})
    assert rc != 0 and [f["rule"] for f in res["findings"]] == ["drop-table"]


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo)] + list(args), check=True, capture_output=True, text=True)


@pytest.fixture
def git_repo(tmp_path):
    """A repository whose origin/main holds one old migration, cloned into a work tree."""
    origin = tmp_path / "origin"
    (origin / "db" / "migrations").mkdir(parents=True)
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "config", "user.email", "ci@example.invalid")
    _git(origin, "config", "user.name", "ci")
    (origin / "db" / "migrations" / "0001_old_drop.sql").write_text("DROP TABLE very_old;\n")
    (origin / "db" / "migrations" / "0002_users.sql").write_text("CREATE TABLE users (id int, email text);\n")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "initial")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True, capture_output=True)
    _git(work, "config", "user.email", "dev@example.invalid")
    _git(work, "config", "user.name", "dev")
    _git(work, "checkout", "-qb", "release")
    return work


def test_base_ref_mode_checks_new_and_changed_files(tmp_path, git_repo):
    mig = git_repo / "db" / "migrations"
    (mig / "0003_add_plan.sql").write_text("ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';\n")
    _git(git_repo, "add", "-A")
    _git(git_repo, "commit", "-qm", "plan")
    rc, res = run_module(tmp_path, {"repo": str(git_repo), "migrations_dir": "db/migrations"})
    assert rc == 0, res
    assert [os.path.basename(p) for p in res["files_checked"]] == ["0003_add_plan.sql"]
    # a changed (uncommitted) old file is checked too; the untouched 0001 drop is not
    with open(mig / "0002_users.sql", "a", encoding="utf-8") as fh:
        fh.write("ALTER TABLE accounts DROP COLUMN email;\n")
    rc, res = run_module(tmp_path, {"repo": str(git_repo), "migrations_dir": "db/migrations"})
    assert rc != 0
    assert [os.path.basename(p) for p in res["files_checked"]] == ["0002_users.sql", "0003_add_plan.sql"]
    assert [f["rule"] for f in res["findings"]] == ["drop-column"]


def test_base_ref_mode_missing_ref(tmp_path, git_repo):
    rc, res = run_module(tmp_path, {"repo": str(git_repo), "migrations_dir": "db/migrations",
                                    "base_ref": "origin/nope"})
    assert rc != 0 and res["msg"].startswith("base_ref: origin/nope is not a commit")


PLAYBOOK = """\
- name: Migrate then change something
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse migrations that break the running binary
      veza.infra.migration_compat_check:
        paths: ["{migrations}"]
        force: "{{{{ force_migrate | default(false) | bool }}}}"
    - name: Stand-in for the deploy step
      ansible.builtin.copy:
        dest: "{marker}"
        content: deployed
        mode: "0644"
"""


@pytest.mark.parametrize("force", [False, True])
def test_blocking_finding_stops_the_play_before_any_change(tmp_path, migrations, force):
    (migrations / "0003_drop.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    marker = tmp_path / "deployed.txt"
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK.format(migrations=migrations, marker=marker))
    cmd = ["ansible-playbook", str(book)] + _common_args() + ["-e", "force_migrate=%s" % force]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)
    results = _task_results(proc)
    if force:
        assert proc.returncode == 0, proc.stdout
        assert marker.read_text() == "deployed"
        assert [r.get("changed") for r in results] == [False, True]
    else:
        assert proc.returncode == 2, proc.stdout
        assert not marker.exists()
        assert len(results) == 1 and results[0]["failed"] is True
        assert results[0]["findings"][0]["rule"] == "drop-column"
