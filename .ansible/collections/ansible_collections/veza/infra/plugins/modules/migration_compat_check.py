#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: migration_compat_check
short_description: Refuse SQL migrations that break the backend-api binary still running
version_added: 0.1.0
description:
  - During a rolling deploy the old and the new C(backend-api) binaries share one PostgreSQL
    schema. This module parses migration files with the real PostgreSQL parser (C(pglast), the
    libpg_query binding) and refuses the ones that are not backward compatible.
  - B(Blocking) findings break the old binary (drop or rename of a column, table, view,
    function, procedure, type or enum label; drop of a trigger; column type change;
    C(ADD COLUMN ... NOT NULL) without default on an existing table; C(SET NOT NULL) or
    PostgreSQL 18's C(ADD CONSTRAINT ... NOT NULL)) or cannot be checked (a C(DO) block in
    another language, or one that runs C(EXECUTE) of a string built at run time). The module
    fails when one remains.
  - B(Warning) findings are safe for the old binary but lock or rewrite a table (index built
    without C(CONCURRENTLY), constraint without C(NOT VALID), volatile default, C(SET NOT NULL)
    without a valid C(CHECK), a full-table C(UPDATE) then C(SET NOT NULL) in one transaction,
    C(VACUUM FULL), ...), or a function that runs dynamic SQL when called. They are returned
    and shown as warnings.
  - Files are checked in sorted order as one set, so tables, types and functions created
    earlier in the set are new and changing them is allowed. A column the set adds to a table
    that already exists is new too, but the old binary still inserts rows without it, so
    making it C(NOT NULL) without a default, or dropping the default of a C(NOT NULL) one,
    blocks.
  - "A statement can carry an inline suppression, a comment on it or just before it, that must
    give a reason, for example C(-- veza:allow drop-column reason: unused since v1.0.8).
    A suppression without a reason, or naming an unknown rule, is itself a blocking finding that
    neither O(force) nor O(ignore_rules) bypasses."
  - A file that does not parse, is not UTF-8 or is binary makes the module fail with the file,
    the line and the reason.
  - Unqualified table names are taken to be in schema C(public).
  - The rules, their reasons and the safe expand/contract alternatives are listed in the
    collection's C(docs/migrations.md).
author:
  - veza.infra maintainers (@veza)
requirements:
  - pglast >= 6 (on the host that runs the module, usually the deploy host)
  - git (on that host, for O(repo) mode)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads files; it behaves the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  paths:
    description:
      - Migration files, or directories searched recursively for C(*.sql) files (the suffix in
        any case, C(.SQL) too; directories whose name starts with C(.) are skipped). This
        covers the folder-per-migration layout (C(<version>/up.sql) with C(down.sql), as in diesel,
        sqlx, ...) and the C(NNN_name.up.sql) / C(NNN_name.down.sql) pairs (golang-migrate,
        goose, ...).
      - In a directory, rollback files (C(down.sql), C(*.down.sql), C(*_down.sql)) are not
        checked unless O(include_down) is set, since the release applies the up files. A file given
        by name is always checked.
      - All files are sorted by path and checked as one set.
      - An empty list, or paths that hold no migration statement, fail the module (a check
        that checked nothing is not a pass).
      - Mutually exclusive with O(repo).
    type: list
    elements: path
  repo:
    description:
      - Git work tree on the host that runs the module. The files under O(migrations_dir) that
        were added or changed since the merge base of O(base_ref) and C(HEAD) are checked
        (committed, staged, unstaged or untracked), in sorted order, with the same rules for
        names and rollback files as O(paths).
      - When no migration was added or changed (the runbook's normal feature release), the
        module passes with C(files_checked=[]) and says so, as long as O(migrations_dir) holds
        migration files; a directory without any C(.sql) file fails (it most likely points at
        the wrong place).
      - Mutually exclusive with O(paths). Requires O(migrations_dir).
    type: path
  base_ref:
    description:
      - Git revision the migrations are compared with, in O(repo) mode. It must exist in the
        repository (fetch it first); a missing ref fails the module.
    type: str
    default: origin/main
  migrations_dir:
    description:
      - Directory of the C(.sql) migrations, relative to O(repo).
    type: str
  force:
    description:
      - Conscious bypass (the runbook's C(FORCE_MIGRATE=1)). Blocking findings are reported as
        warnings, each one is shown as a warning, and the module succeeds.
      - Parse errors, unreadable files, invalid suppressions and a check that checked nothing
        still fail.
    type: bool
    default: false
  include_down:
    description:
      - Also check rollback migrations, the files named C(down.sql), C(*.down.sql) or
        C(*_down.sql), and the down section of a single-file migration (after a
        C(-- +goose Down) or C(-- migrate:down) line). They are skipped by default, since a
        release applies only the up migrations.
      - Each rollback is checked right after its up file, in the same set.
    type: bool
    default: false
  max_file_size:
    description:
      - Largest migration file, in bytes, that is checked. A larger file fails the module
        before it is read, naming the file and its size (checking is linear, about 0.2 s per
        MiB of SQL on one core, but a migration that size is a data load, not a schema
        change).
      - Set V(0) to lift the limit.
    type: int
    default: 10485760
  ignore_rules:
    description:
      - Rule ids whose findings are dropped (they are returned in RV(suppressed)).
      - C(invalid-suppression) cannot be ignored.
    type: list
    elements: str
    default: []
notes:
  - The module never changes anything; RV(ignore:changed) is always V(false).
  - A PL/pgSQL C(DO) block is judged by what it runs. Its statements, in every branch and
    loop, and C(EXECUTE) of a constant string are checked like top-level statements. Only
    C(EXECUTE) of a string built at run time is blocking (V(dynamic-sql)).
  - PL/pgSQL functions and procedures are only searched for dynamic C(EXECUTE), a warning.
    Their statements run when they are called, not by the migration.
seealso:
  - name: Canary runbook, pre-flight
    description: The pre-deploy hook this module replaces.
    link: https://example.invalid/veza/infra/-/tree/main/docs
  - name: squawk
    description: A PostgreSQL migration linter; see docs/migrations.md for a comparison.
    link: https://squawkhq.com/
"""

EXAMPLES = r"""
- name: Refuse migrations new since origin/main that break the running binary
  veza.infra.migration_compat_check:
    repo: /srv/backend-api
    base_ref: origin/main
    migrations_dir: migrations
    force: "{{ lookup('ansible.builtin.env', 'FORCE_MIGRATE') == '1' }}"
  delegate_to: localhost
  run_once: true

- name: Check given files and directories, ignoring index-lock warnings
  veza.infra.migration_compat_check:
    paths:
      - /srv/backend-api/migrations
      - /tmp/hotfix_0042.sql
    ignore_rules:
      - index-not-concurrent
  register: migration_check

- name: Show what would lock tables
  ansible.builtin.debug:
    msg: "{{ item.file }}:{{ item.line }} {{ item.rule }}: {{ item.message }}"
  loop: "{{ migration_check.findings }}"
"""

RETURN = r"""
findings:
  description:
    - Findings that remain after suppressions and O(ignore_rules), in file and line order.
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: Path of the migration file.
      type: str
      sample: migrations/0042_drop_email.sql
    line:
      description: Line of the statement in the file (1-based).
      type: int
      sample: 3
    statement:
      description: The statement, whitespace collapsed, cut at 240 characters.
      type: str
      sample: ALTER TABLE users DROP COLUMN email
    rule:
      description: Rule id.
      type: str
      sample: drop-column
    severity:
      description: V(blocking) or V(warning); with O(force) every finding is V(warning).
      type: str
      sample: blocking
    bypassed:
      description: V(true) when the finding was blocking and O(force) bypassed it.
      type: bool
      sample: false
    message:
      description: What is wrong with this statement.
      type: str
      sample: "DROP COLUMN users.email: the running binary still uses it"
    reason:
      description: Why the rule exists.
      type: str
    safe_alternative:
      description: The safe multi-step (expand/contract) way to make this change.
      type: str
  sample: []
suppressed:
  description: Findings dropped by an inline C(veza:allow) comment or by O(ignore_rules).
  returned: always
  type: list
  elements: dict
  contains:
    suppressed_by:
      description: V(comment) or V(ignore_rules).
      type: str
    suppression_reason:
      description: Reason given in the comment.
      type: str
  sample: []
files_checked:
  description: Migration files checked, in the order they were checked.
  returned: always
  type: list
  elements: str
  sample: [migrations/0041_add_nickname.sql, migrations/0042_drop_email.sql]
files_skipped:
  description: Rollback (down) files found under O(paths) or O(repo) and not checked.
  returned: always
  type: list
  elements: str
  sample: [migrations/20240101_add_plan/down.sql]
statements_checked:
  description: Number of top-level SQL statements checked.
  returned: always
  type: int
  sample: 12
bypassed:
  description: Number of blocking findings that O(force) turned into warnings.
  returned: always
  type: int
  sample: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.veza.infra.plugins.module_utils._migration_rules import (
    BLOCKING,
    DEFAULT_MAX_FILE_SIZE,
    HAS_PGLAST,
    PGLAST_IMPORT_ERROR,
    WARNING,
    MigrationInputError,
    MigrationSet,
)


def is_down_file(name):
    """True for a rollback migration: down.sql, NNN_name.down.sql, NNN_name_down.sql."""
    low = os.path.basename(name).lower()
    return low == "down.sql" or low.endswith(".down.sql") or low.endswith("_down.sql")


def is_sql_file(name):
    return name.lower().endswith(".sql")


def _order_key(path):
    """Sort by path, each rollback right after its up file (up.sql before down.sql)."""
    head, name = os.path.split(path)
    low = name.lower()
    if is_down_file(low):
        return (head, low[:-len("down.sql")] + "up.sql", 1, name)
    return (head, low, 0, name)


def _expand_paths(module, paths, include_down):
    """(files, skipped down files): files given by name, .sql files found under directories."""
    files, skipped = [], []
    for path in paths:
        if os.path.isdir(path):
            for top, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in names:
                    full = os.path.join(top, name)
                    if not is_sql_file(name) or not os.path.isfile(full):
                        continue
                    (skipped if is_down_file(name) and not include_down else files).append(full)
        elif os.path.isfile(path):
            files.append(path)
        else:
            module.fail_json(msg="paths: %s does not exist (give migration files or directories "
                                 "of .sql files)" % path)
    return sorted(set(files), key=_order_key), sorted(set(skipped))


def _git(module, git, repo, args, what):
    rc, out, err = module.run_command([git, "-C", repo] + args)
    if rc != 0:
        module.fail_json(msg="%s: git %s failed: %s" % (what, " ".join(args), (err or out).strip()))
    return out


def _changed_files(module, repo, base_ref, migrations_dir, include_down):
    git = module.get_bin_path("git", required=True)
    if not os.path.isdir(repo):
        module.fail_json(msg="repo: %s is not a directory" % repo)
    rc, out, err = module.run_command([git, "-C", repo, "rev-parse", "--show-toplevel"])
    if rc != 0:
        module.fail_json(msg="repo: %s is not a git work tree: %s" % (repo, err.strip()))
    top = out.strip()
    rc, out, err = module.run_command(
        [git, "-C", repo, "rev-parse", "--verify", "--quiet", base_ref + "^{commit}"])
    if rc != 0:
        module.fail_json(msg="base_ref: %s is not a commit in %s; fetch it first (git fetch "
                             "origin) or set base_ref to an existing branch, tag or commit"
                             % (base_ref, repo))
    base = _git(module, git, repo, ["merge-base", out.strip(), "HEAD"], "base_ref")
    base = base.strip()
    mdir = os.path.join(repo, migrations_dir)
    if not os.path.isdir(mdir):
        module.fail_json(msg="migrations_dir: %s is not a directory under repo %s"
                             % (migrations_dir, repo))
    rel = os.path.relpath(os.path.realpath(mdir), os.path.realpath(top))
    changed = _git(module, git, top, ["diff", "--name-only", "-z", "--no-renames",
                                      "--diff-filter=AM", base, "--", rel], "repo")
    untracked = _git(module, git, top, ["ls-files", "-z", "--others", "--exclude-standard",
                                        "--", rel], "repo")
    names = set(n for n in (changed + untracked).split("\0") if is_sql_file(n))
    found = [os.path.join(top, n) for n in sorted(names, key=_order_key) if os.path.isfile(os.path.join(top, n))]
    files = [f for f in found if include_down or not is_down_file(f)]
    return files, [f for f in found if f not in files]


def _existing_migrations(mdir):
    """How many .sql migration files the migrations directory holds (recursively)."""
    return sum(1 for _root, _dirs, names in os.walk(mdir) for n in names if is_sql_file(n))


def _nothing_checked(module, params, files, skipped, mset):
    """Fail: a safety check that checked nothing must not pass."""
    if params["repo"]:
        where = ("no .sql migration under %s in %s was added or changed since %s"
                 % (params["migrations_dir"], params["repo"], params["base_ref"]))
    elif not files:
        where = ("paths %s hold no .sql migration file (directories are searched recursively, "
                 "the suffix in any case)" % ", ".join(params["paths"]))
    else:
        where = "the %d file(s) under paths hold no SQL statement (empty or only comments)" % len(files)
    if skipped:
        where += "; %d rollback file(s) skipped (%s), set include_down to check them" % (
            len(skipped), ", ".join(os.path.basename(f) for f in skipped[:3])
            + (", ..." if len(skipped) > 3 else ""))
    result = mset.result()
    result.update(findings=[], bypassed=0, changed=False, files_skipped=skipped)
    module.fail_json(msg="nothing checked: %s. A release without schema change skips the check "
                         "(the canary's NO_MIGRATIONS=1); otherwise point paths or "
                         "repo/migrations_dir at the migrations" % where, **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path"),
            repo=dict(type="path"),
            base_ref=dict(type="str", default="origin/main"),
            migrations_dir=dict(type="str"),
            force=dict(type="bool", default=False),
            include_down=dict(type="bool", default=False),
            max_file_size=dict(type="int", default=DEFAULT_MAX_FILE_SIZE),
            ignore_rules=dict(type="list", elements="str", default=[]),
        ),
        mutually_exclusive=[("paths", "repo")],
        required_one_of=[("paths", "repo")],
        required_by={"repo": ("migrations_dir",)},
        supports_check_mode=True,
    )
    if not HAS_PGLAST:
        module.fail_json(msg=missing_required_lib("pglast"), exception=str(PGLAST_IMPORT_ERROR))

    params = module.params
    if params["max_file_size"] < 0:
        module.fail_json(msg="max_file_size: %d is negative; give a size in bytes (default %d), "
                             "or 0 for no limit" % (params["max_file_size"], DEFAULT_MAX_FILE_SIZE))
    if params["paths"] is not None and not params["paths"]:
        module.fail_json(msg="paths: the list is empty, so nothing would be checked; give "
                             "migration files or directories (or skip the check for a release "
                             "without schema change)")
    try:
        mset = MigrationSet(params["ignore_rules"], include_down=params["include_down"],
                            max_file_size=params["max_file_size"] or None)
    except ValueError as exc:
        module.fail_json(msg="ignore_rules: %s" % exc)

    if params["repo"]:
        files, skipped = _changed_files(module, params["repo"], params["base_ref"],
                                        params["migrations_dir"], params["include_down"])
    else:
        files, skipped = _expand_paths(module, params["paths"], params["include_down"])

    try:
        for path in files:
            mset.add_file(path)
    except MigrationInputError as exc:
        partial = mset.result()
        partial.update(findings=[], bypassed=0, changed=False, files_skipped=skipped)
        module.fail_json(msg=str(exc), file=exc.path, line=exc.line, error=exc.message, **partial)
    if params["repo"] and not files and not skipped:
        # The runbook's normal release: no migration since base_ref. That was checked (by git),
        # unless migrations_dir holds no migration at all - then it most likely points elsewhere.
        existing = _existing_migrations(os.path.join(params["repo"], params["migrations_dir"]))
        if existing:
            result = mset.result()
            result.update(findings=[], bypassed=0, changed=False, files_skipped=[],
                          msg="no migration under %s was added or changed since %s (%d existing "
                              "migration file(s), all already on %s): nothing new to check"
                              % (params["migrations_dir"], params["base_ref"], existing,
                                 params["base_ref"]))
            module.exit_json(**result)
    if not mset.statements_checked:
        _nothing_checked(module, params, files, skipped, mset)

    result = mset.result()
    findings = result["findings"]
    bypassed = 0
    for finding in findings:
        finding["bypassed"] = False
        if params["force"] and finding["severity"] == BLOCKING and finding["rule"] != "invalid-suppression":
            finding["severity"] = WARNING
            finding["bypassed"] = True
            bypassed += 1
    result.update(changed=False, bypassed=bypassed, files_skipped=skipped)

    def _where(f):
        return "%s:%s %s: %s" % (f["file"], f["line"], f["rule"], f["message"])

    blocking = [f for f in findings if f["severity"] == BLOCKING]
    for finding in findings:
        if finding["bypassed"]:
            module.warn("FORCED, NOT SAFE for the running binary: " + _where(finding))
        elif finding["severity"] == WARNING:
            module.warn("migration locks or rewrites: " + _where(finding))
    if blocking:
        module.fail_json(
            msg="%d blocking migration finding(s) would break the running binary: %s. Split the "
                "migration (expand/contract, see safe_alternative), suppress one statement with "
                "'-- veza:allow <rule> reason: ...', or bypass with force=true"
            % (len(blocking), "; ".join(_where(f) for f in blocking)), **result)
    if bypassed:
        result["msg"] = ("FORCE: %d blocking finding(s) bypassed; the running binary may break: %s"
                         % (bypassed, "; ".join(_where(f) for f in findings if f["bypassed"])))
    else:
        result["msg"] = "%d file(s), %d statement(s) checked: no blocking finding, %d warning(s)" % (
            len(result["files_checked"]), result["statements_checked"], len(findings))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
