# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark and comparison: migration_compat_check's rules vs squawk, in one run.

1. Speed: generates a corpus of migration files (default 1,200; a seeded mix of safe and unsafe,
   realistic sizes) in a temp dir, then times on the same files, rounds interleaved, min of 3:
   - our rules (module_utils, in process),
   - ``squawk`` (squawk-cli) over all files,
   and the module once through ``ansible localhost -m veza.infra.migration_compat_check``;
   prints a table (seconds, files/s, ratio to squawk).
2. The same on the external corpus (tests/corpus: crates.io and supabase/auth migrations at a
   pinned commit, extracted by tests/corpus/materialize.py), plus each tool's verdicts against
   the hand verdicts of tests/corpus/verdicts.tsv.
3. Size: one file of 1, 5 and 10 MiB of INSERTs (linear, #14 item 13).
4. Catch table: runs both tools over a labelled set of cases (CASES below) and prints which
   cases each one catches, as the Markdown table used in docs/migrations.md.

Results: tests/bench/results/migration_check.json (migration_cases.json with --cases-only) and
migration_cases.md.
Usage: python tests/bench/bench_migration_check.py [--files N] [--cases-only] [--no-corpus]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import

from ansible_collections.veza.infra.plugins.module_utils import _migration_rules as mr  # noqa: E402

SQUAWK = shutil.which("squawk") or os.path.join(os.path.dirname(sys.executable), "squawk")
# squawk rules about migration hygiene rather than what a statement does to the schema; they
# fire on nearly every DDL statement, so they do not count as "catching" a case (shown apart).
SQUAWK_HYGIENE = frozenset((
    "require-lock-timeout", "require-statement-timeout", "prefer-robust-stmts",
    "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
    "prefer-text-field", "prefer-timestamptz", "prefer-timestamp-tz", "ban-char-field",
))

# (id, what it is, expected: block | warn | safe, SQL)
CASES = [
    ("drop-col", "DROP COLUMN on an existing table", "block",
     "ALTER TABLE users DROP COLUMN email;"),
    ("drop-col-if-exists", "DROP COLUMN IF EXISTS", "block",
     "ALTER TABLE IF EXISTS users DROP COLUMN IF EXISTS email;"),
    ("drop-col-qualified", "schema-qualified DROP COLUMN", "block",
     "ALTER TABLE app.users DROP COLUMN email;"),
    ("drop-col-same-line", "DROP COLUMN as 2nd statement on one line", "block",
     "SELECT 1; ALTER TABLE users DROP COLUMN email; SELECT 2;"),
    ("drop-col-in-tx", "DROP COLUMN inside BEGIN ... COMMIT", "block",
     "BEGIN;\nALTER TABLE users DROP COLUMN email;\nCOMMIT;"),
    ("drop-col-new-table", "DROP COLUMN of a table created earlier in the set", "safe",
     "CREATE TABLE drafts (id bigint, body text);\nALTER TABLE drafts DROP COLUMN body;"),
    ("drop-col-comment", "DROP COLUMN only in comments", "safe",
     "-- ALTER TABLE users DROP COLUMN email;\n/* DROP TABLE users; */\nSELECT 1;"),
    ("drop-col-string", "DROP COLUMN only in a string literal", "safe",
     "INSERT INTO audit (note) VALUES ('ALTER TABLE users DROP COLUMN email');"),
    ("drop-col-do", "DROP COLUMN hidden in a DO block", "block",
     "DO $$\nBEGIN\n  ALTER TABLE users DROP COLUMN email;\nEND\n$$;"),
    ("dynamic-sql", "EXECUTE of built SQL in a DO block", "block",
     "DO $$\nBEGIN\n  EXECUTE 'ALTER TABLE users DROP COLUMN ' || 'email';\nEND\n$$;"),
    ("drop-table", "DROP TABLE", "block", "DROP TABLE sessions;"),
    ("drop-view", "DROP VIEW", "block", "DROP VIEW active_users;"),
    ("rename-col", "RENAME COLUMN", "block", "ALTER TABLE users RENAME COLUMN name TO full_name;"),
    ("rename-table", "RENAME TABLE", "block", "ALTER TABLE users RENAME TO accounts;"),
    ("set-schema", "ALTER TABLE ... SET SCHEMA", "block", "ALTER TABLE users SET SCHEMA archive;"),
    ("type-change", "ALTER COLUMN ... TYPE", "block", "ALTER TABLE users ALTER COLUMN id TYPE bigint;"),
    ("type-change-new-col", "TYPE change of a column added earlier in the set", "safe",
     "ALTER TABLE users ADD COLUMN score integer;\nALTER TABLE users ALTER COLUMN score TYPE bigint;"),
    ("add-notnull-nodefault", "ADD COLUMN NOT NULL without DEFAULT", "block",
     "ALTER TABLE users ADD COLUMN plan text NOT NULL;"),
    ("add-notnull-default", "ADD COLUMN NOT NULL with a constant DEFAULT", "safe",
     "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';"),
    ("add-nullable", "ADD COLUMN nullable", "safe", "ALTER TABLE users ADD COLUMN nickname text;"),
    ("set-not-null", "ALTER COLUMN ... SET NOT NULL", "block",
     "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
    ("suppressed", "DROP COLUMN with a reviewed suppression (each tool's syntax)", "safe",
     "-- veza:allow drop-column reason: unread since v1.0.7\n-- squawk-ignore ban-drop-column\n"
     "ALTER TABLE users DROP COLUMN avatar_url;"),
    ("index", "CREATE INDEX without CONCURRENTLY", "warn",
     "CREATE INDEX users_email ON users (email);"),
    ("index-concurrent", "CREATE INDEX CONCURRENTLY", "safe",
     "CREATE INDEX CONCURRENTLY users_email ON users (email);"),
    ("index-concurrent-tx", "CREATE INDEX CONCURRENTLY inside a transaction", "warn",
     "BEGIN;\nCREATE INDEX CONCURRENTLY users_email ON users (email);\nCOMMIT;"),
    ("index-new-table", "CREATE INDEX on a table created in the set", "safe",
     "CREATE TABLE tags (id bigint, name text);\nCREATE INDEX tags_name ON tags (name);"),
    ("drop-index", "DROP INDEX without CONCURRENTLY", "warn", "DROP INDEX users_email;"),
    ("fk", "ADD FOREIGN KEY without NOT VALID", "warn",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);"),
    ("fk-not-valid", "ADD FOREIGN KEY NOT VALID, then VALIDATE", "safe",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) "
     "NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"),
    ("check", "ADD CHECK without NOT VALID", "warn",
     "ALTER TABLE orders ADD CONSTRAINT total_pos CHECK (total >= 0);"),
    ("unique", "ADD UNIQUE constraint (builds an index)", "warn",
     "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);"),
    ("volatile-default", "ADD COLUMN with a volatile DEFAULT", "warn",
     "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();"),
    # cases squawk caught and we did not until the rules drop-database, truncate-table,
    # drop-default and the inline-REFERENCES check of constraint-not-valid were added
    ("fk-inline", "ADD COLUMN ... REFERENCES (locks both tables)", "warn",
     "ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);"),
    ("drop-database", "DROP DATABASE", "block", "DROP DATABASE veza;"),
    ("truncate-cascade", "TRUNCATE ... CASCADE", "block", "TRUNCATE users CASCADE;"),
    ("drop-default", "DROP DEFAULT on a NOT NULL column the old binary omits", "block",
     "ALTER TABLE users ALTER COLUMN plan DROP DEFAULT;"),
    # a case neither rule set was written for: ALTER DOMAIN ... ADD CONSTRAINT checks every column
    # of that domain in every table while blocking writes
    ("domain-constraint", "ALTER DOMAIN ... ADD CONSTRAINT (checks every column of the domain)", "warn",
     "ALTER DOMAIN email_address ADD CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');"),
    # issue #15: classes 1-6, found on real projects' migrations
    ("added-col-set-not-null", "column added to an existing table, backfilled, then SET NOT NULL", "block",
     "ALTER TABLE invoice ADD COLUMN approver_id int REFERENCES account;\n"
     "UPDATE invoice SET approver_id = 1;\nALTER TABLE invoice ALTER COLUMN approver_id SET NOT NULL;"),
    ("added-col-drop-default", "column added NOT NULL DEFAULT, then DROP DEFAULT", "block",
     "ALTER TABLE shipment ADD COLUMN express boolean NOT NULL DEFAULT false;\n"
     "ALTER TABLE shipment ALTER COLUMN express DROP DEFAULT;"),
    ("new-table-set-not-null", "SET NOT NULL on a column of a table created in the set", "safe",
     "CREATE TABLE coupons (id bigint, code text);\nALTER TABLE coupons ALTER COLUMN code SET NOT NULL;"),
    ("pg18-not-null", "PostgreSQL 18 ADD CONSTRAINT ... NOT NULL col", "block",
     "ALTER TABLE users ADD CONSTRAINT users_email_nn NOT NULL email;"),
    ("drop-function", "DROP FUNCTION", "block", "DROP FUNCTION score_rank(integer);"),
    ("drop-trigger", "DROP TRIGGER", "block", "DROP TRIGGER users_touch ON users;"),
    ("rename-function", "ALTER FUNCTION ... SET SCHEMA", "block",
     "ALTER FUNCTION score_rank(integer) SET SCHEMA legacy;"),
    ("rename-enum-value", "ALTER TYPE ... RENAME VALUE", "block",
     "ALTER TYPE order_state RENAME VALUE 'shiped' TO 'shipped';"),
    ("rename-type", "ALTER TYPE ... RENAME TO", "block", "ALTER TYPE order_state RENAME TO order_status;"),
    ("function-execute", "CREATE FUNCTION whose body EXECUTEs a built string (runs when called)", "warn",
     "CREATE FUNCTION purge(t text) RETURNS void LANGUAGE plpgsql AS $f$\n"
     "BEGIN EXECUTE format('TRUNCATE %I', t); END $f$;"),
    ("do-dml-only", "DO block with only INSERT / UPDATE / SELECT / RAISE", "safe",
     "DO $$\nBEGIN\n  INSERT INTO plans (name) VALUES ('free') ON CONFLICT DO NOTHING;\n"
     "  UPDATE users SET plan = 'free' WHERE plan IS NULL;\n  RAISE NOTICE 'done';\nEND\n$$;"),
    ("backfill-in-tx", "full-table UPDATE then SET NOT NULL in one transaction (column has a default)", "warn",
     "BEGIN;\nALTER TABLE users ADD COLUMN tier text DEFAULT 'a';\nUPDATE users SET tier = 'b';\n"
     "ALTER TABLE users ALTER COLUMN tier SET NOT NULL;\nCOMMIT;"),
    ("set-not-null-scan", "SET NOT NULL without a valid CHECK (column with a default)", "warn",
     "ALTER TABLE users ADD COLUMN tier text DEFAULT 'a';\nALTER TABLE users ALTER COLUMN tier SET NOT NULL;"),
    ("vacuum-full", "VACUUM FULL (rewrites under ACCESS EXCLUSIVE)", "warn", "VACUUM FULL users;"),
    ("create-table", "CREATE TABLE", "safe",
     "CREATE TABLE invoices (id bigint PRIMARY KEY, user_id bigint, total numeric);"),
]

LEVEL = {"block": 2, "warn": 1, "safe": 0}


def veza_verdict(sql):
    found = mr.check_sources([("case.sql", sql)])["findings"]
    sev = "block" if any(f["severity"] == mr.BLOCKING for f in found) else ("warn" if found else "safe")
    return sev, sorted(set(f["rule"] for f in found))


def run_squawk(paths, extra=()):
    """squawk over paths; returns ({path: [rule, ...]}, seconds, exit code)."""
    start = time.perf_counter()
    proc = subprocess.run([SQUAWK, "--reporter", "json"] + list(extra) + list(paths), capture_output=True,
                          text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not proc.stdout.strip().startswith("["):
        raise SystemExit("squawk failed (rc %d): %s" % (proc.returncode, proc.stderr[-2000:]))
    by_file = {}
    for v in json.loads(proc.stdout):
        by_file.setdefault(v["file"], []).append(v["rule_name"])
    return by_file, took, proc.returncode


def catch_table(tmp):
    d = os.path.join(tmp, "cases")
    os.mkdir(d)
    paths = {}
    for case in CASES:
        cid, sql = case[0], case[3]
        paths[cid] = os.path.join(d, cid + ".sql")
        with open(paths[cid], "w", encoding="utf-8") as fh:
            fh.write(sql + "\n")
    squawk_rules = run_squawk(paths.values())[0]
    rows, score = [], {"veza": 0, "squawk": 0}
    for cid, what, expected, unused_sql in CASES:
        v_sev, v_rules = veza_verdict(open(paths[cid], encoding="utf-8").read())
        s_all = sorted(set(squawk_rules.get(paths[cid], [])))
        s_rules = [r for r in s_all if r not in SQUAWK_HYGIENE]
        v_ok = (v_sev == "safe") == (expected == "safe") and (expected != "block" or v_sev == "block")
        s_ok = bool(s_rules) == (expected != "safe")
        score["veza"] += v_ok
        score["squawk"] += s_ok
        rows.append(dict(case=cid, what=what, expected=expected, veza=v_sev, veza_rules=v_rules,
                         veza_ok=v_ok, squawk_rules=s_rules, squawk_hygiene=len(s_all) - len(s_rules),
                         squawk_ok=s_ok))
    lines = ["| case | expected | veza.infra | squawk 2.70 |", "|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %s | %s %s | %s %s |" % (
            r["what"], r["expected"],
            "OK" if r["veza_ok"] else "**MISS**", "%s (%s)" % (r["veza"], ", ".join(r["veza_rules"]) or "-"),
            "OK" if r["squawk_ok"] else "**MISS**", ", ".join(r["squawk_rules"]) or "silent"))
    lines.append("| **correct** | | **%d / %d** | **%d / %d** |"
                 % (score["veza"], len(rows), score["squawk"], len(rows)))
    return rows, score, "\n".join(lines)


# --- corpus -------------------------------------------------------------------------------------

def _corpus_file(rng, n):
    """One migration: a realistic mix; about 1 in 6 files carries an unsafe statement."""
    table = "t%04d" % n
    out = ["-- migration %04d: generated by bench_migration_check.py" % n, "BEGIN;"]
    kind = rng.random()
    ncols = rng.randint(4, 30)
    types = ["bigint", "text", "timestamptz", "numeric(12,2)", "boolean", "jsonb"]
    cols = ",\n  ".join(
        "c%d %s%s" % (i, rng.choice(types), rng.choice(["", " NOT NULL DEFAULT 0" if i % 3 == 0 else ""]))
        for i in range(ncols))
    out.append("CREATE TABLE %s (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  %s\n);"
               % (table, cols.replace("boolean NOT NULL DEFAULT 0", "boolean NOT NULL DEFAULT false")
                  .replace("jsonb NOT NULL DEFAULT 0", "jsonb NOT NULL DEFAULT '{}'")
                  .replace("text NOT NULL DEFAULT 0", "text NOT NULL DEFAULT ''")
                  .replace("timestamptz NOT NULL DEFAULT 0", "timestamptz NOT NULL DEFAULT now()")))
    out.append("COMMENT ON TABLE %s IS 'created by migration %04d; do not DROP COLUMN here';" % (table, n))
    for i in range(rng.randint(0, 4)):
        out.append("CREATE INDEX %s_c%d_idx ON %s (c%d);" % (table, i, table, i))
    for i in range(rng.randint(0, 3)):
        out.append("ALTER TABLE users ADD COLUMN f%04d_%d text;" % (n, i))
    if rng.random() < 0.5:
        values = ",\n  ".join("(%d, 'row %d', now())" % (i, i) for i in range(rng.randint(5, 80)))
        out.append("INSERT INTO audit_log (ref, note, at) VALUES\n  %s;" % values)
    out.append("UPDATE users SET updated_at = now() WHERE id IN (SELECT user_id FROM orders WHERE total > %d);"
               % rng.randint(1, 1000))
    out.append("COMMIT;")
    if kind < 0.04:
        out.append("ALTER TABLE users DROP COLUMN legacy_%d;" % n)
    elif kind < 0.08:
        out.append("ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2);")
    elif kind < 0.11:
        out.append("ALTER TABLE users ADD COLUMN must_%d text NOT NULL;" % n)
    elif kind < 0.13:
        out.append("ALTER TABLE users RENAME COLUMN name_%d TO full_name_%d;" % (n, n))
    elif kind < 0.15:
        out.append("DO $$ BEGIN EXECUTE 'ANALYZE users'; END $$;")
    elif kind < 0.17:
        out.append("CREATE INDEX users_f%d_idx ON users (email);" % n)
    return "\n".join(out) + "\n"


def make_corpus(tmp, count, seed=20250601):
    d = os.path.join(tmp, "corpus")
    os.mkdir(d)
    rng = random.Random(seed)
    total = 0
    for n in range(count):
        text = _corpus_file(rng, n)
        total += len(text)
        with open(os.path.join(d, "%05d_migration.sql" % n), "w", encoding="utf-8") as fh:
            fh.write(text)
    return d, total


def time_module(corpus):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    cmd = ["ansible", "localhost", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + sys.executable,
           "-m", "veza.infra.migration_compat_check", "-a", json.dumps({"paths": [corpus], "force": True})]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    res = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    if proc.returncode != 0:
        raise SystemExit("module run failed: %s" % res.get("msg"))
    startup = time.perf_counter()
    subprocess.run(["ansible", "localhost", "-i", "localhost,", "-c", "local",
                    "-e", "ansible_python_interpreter=" + sys.executable, "-m", "ansible.builtin.ping"],
                   cwd=ROOT, env=env, capture_output=True, check=False)
    return took, time.perf_counter() - startup, res


# squawk rules whose concern is a client that breaks (our "block"); its other non-hygiene rules
# are about locks (our "warn"). squawk has no severities: this is how its findings are mapped.
SQUAWK_BREAKING = frozenset((
    "ban-drop-column", "ban-drop-table", "ban-drop-view", "ban-drop-function", "ban-drop-type",
    "ban-drop-database", "ban-drop-schema", "ban-truncate-cascade", "renaming-column",
    "renaming-table", "renaming-object", "changing-column-type", "adding-required-field",
    "adding-not-nullable-field", "ban-drop-default", "ban-set-schema", "ban-drop-not-null",
    "ban-drop-constraint",
))


def squawk_level(rules):
    rules = [r for r in rules if r not in SQUAWK_HYGIENE]
    return "block" if set(rules) & SQUAWK_BREAKING else ("warn" if rules else "pass")


def time_pair(files, rounds=3, per_file=False):
    """Our rules and squawk over the same files, rounds interleaved; (ours, squawk, result)."""
    ours = sq = None
    result = None
    for unused_round in range(rounds):
        start = time.perf_counter()
        if per_file:
            result = {}
            for path in files:
                mset = mr.MigrationSet()
                mset.add_file(path)
                result[path] = mset.findings
        else:
            mset = mr.MigrationSet()
            for path in files:
                mset.add_file(path)
            result = mset.result()
        took = time.perf_counter() - start
        ours = took if ours is None else min(ours, took)
        sq_rules, took = run_squawk(files)[:2]
        sq = took if sq is None else min(sq, took)
    return ours, sq, result, sq_rules


def corpus_section():
    """Speed and verdicts on the external corpus; None when it cannot be extracted here."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "corpus"))
    import materialize  # pylint: disable=import-outside-toplevel
    try:
        dirs = materialize.materialize()
    except Exception as exc:  # pylint: disable=broad-except
        print("\n(external corpus not available: %s)" % exc)
        return None
    with open(os.path.join(ROOT, "tests", "corpus", "verdicts.tsv"), encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    files = [os.path.join(dirs[r["project"]], r["path"]) for r in rows]
    ours, sq, found, sq_rules = time_pair(files, per_file=True)
    agree = {"veza_hand": 0, "squawk_hand": 0, "veza_squawk": 0}
    disagree = []
    for row, path in zip(rows, files):
        sev = [f["severity"] for f in found[path]]
        veza = "block" if mr.BLOCKING in sev else ("warn" if sev else "pass")
        squawk = squawk_level(sq_rules.get(path, []))
        agree["veza_hand"] += veza == row["expected"]
        agree["squawk_hand"] += squawk == row["expected"]
        agree["veza_squawk"] += veza == squawk
        if veza != squawk or veza != row["expected"]:
            disagree.append(dict(file="%s/%s" % (row["project"], row["path"]), hand=row["expected"],
                                 veza=veza, squawk=squawk, note=row["note"]))
    # diesel and pop run each migration in a transaction: squawk's view of that
    sq_tx = run_squawk(files, ["--assume-in-transaction"])[0]
    agree["squawk_tx_hand"] = sum(1 for row, path in zip(rows, files)
                                  if squawk_level(sq_tx.get(path, [])) == row["expected"])
    n = len(rows)
    print("\n== external corpus: %d real migration files (%s), each its own release\n"
          % (n, ", ".join(sorted(dirs))))
    print("| checker | seconds | files/s | vs squawk |")
    print("|---|---|---|---|")
    print("| veza.infra rules (in process, min of 3) | %.3f | %.0f | %.2fx |" % (ours, n / ours, ours / sq))
    print("| squawk (min of 3) | %.3f | %.0f | 1.00x |" % (sq, n / sq))
    print("\nverdicts (block / warn / pass; squawk mapped, see SQUAWK_BREAKING): veza.infra = hand "
          "%d/%d (%.1f %%), squawk = hand %d/%d (%.1f %%), veza.infra = squawk %d/%d (%.1f %%)"
          % (agree["veza_hand"], n, 100.0 * agree["veza_hand"] / n, agree["squawk_hand"], n,
             100.0 * agree["squawk_hand"] / n, agree["veza_squawk"], n, 100.0 * agree["veza_squawk"] / n))
    print("squawk --assume-in-transaction (as diesel and pop run them) = hand %d/%d (%.1f %%)"
          % (agree["squawk_tx_hand"], n, 100.0 * agree["squawk_tx_hand"] / n))
    by_kind = {}
    for d in disagree:
        key = (d["hand"], d["veza"], d["squawk"])
        by_kind[key] = by_kind.get(key, 0) + 1
    print("\n| hand | veza.infra | squawk | files |\n|---|---|---|---|")
    for key in sorted(by_kind):
        print("| %s | %s | %s | %d |" % (key + (by_kind[key],)))
    return dict(files=n, veza_s=round(ours, 4), squawk_s=round(sq, 4), ratio=round(ours / sq, 3),
                agreement=agree, disagreements=disagree)


def big_file_section():
    row = "INSERT INTO audit_log (ref, note, at) VALUES (%d, 'row %d of the load', now());\n"
    out = []
    print("\n== one large file of INSERTs (linear time, #14 item 13)\n")
    print("| size | statements | seconds |\n|---|---|---|")
    for mib in (1, 5, 10):
        parts, size, i = [], 0, 0
        while size < mib * 1048576:
            line = row % (i, i)
            parts.append(line)
            size += len(line)
            i += 1
        text = "".join(parts) + "DROP TABLE scratch;\n"
        start = time.perf_counter()
        res = mr.check_sources([("big.sql", text)])
        took = time.perf_counter() - start
        assert res["findings"][0]["line"] == i + 1
        out.append(dict(mib=mib, statements=res["statements_checked"], seconds=round(took, 3)))
        print("| %d MiB | %d | %.2f |" % (mib, res["statements_checked"], took))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--files", type=int, default=1200, help="corpus size (at least 1000)")
    ap.add_argument("--cases-only", action="store_true", help="only the catch table")
    ap.add_argument("--no-corpus", action="store_true", help="skip the external corpus")
    args = ap.parse_args()
    if not args.cases_only and args.files < 1000:
        ap.error("--files must be at least 1000")
    os.makedirs(RESULTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="veza-bench-migrations-")
    try:
        out = {"pglast": __import__("pglast").__version__,
               "squawk": subprocess.run([SQUAWK, "--version"], capture_output=True, text=True,
                                        check=False).stdout.strip()}
        rows, score, table = catch_table(tmp)
        out["cases"] = rows
        out["cases_score"] = score
        print("== which cases each tool catches (%d labelled cases)\n" % len(rows))
        print(table)
        with open(os.path.join(RESULTS, "migration_cases.md"), "w", encoding="utf-8") as fh:
            fh.write(table + "\n")
        if not args.cases_only:
            corpus, size = make_corpus(tmp, args.files)
            files = sorted(os.path.join(corpus, f) for f in os.listdir(corpus))
            ours, sq_best, result, sq_rules = time_pair(files)
            mod_took, startup, mod_res = time_module(corpus)
            sq_files = sum(1 for f in files if any(r not in SQUAWK_HYGIENE for r in sq_rules.get(f, [])))
            blocking_files = len(set(f["file"] for f in result["findings"] if f["severity"] == mr.BLOCKING))
            n = len(files)
            out["corpus"] = dict(files=n, bytes=size, statements=result["statements_checked"])
            out["timings"] = {
                "veza_module_utils_s": round(ours, 4),
                "veza_module_via_ansible_s": round(mod_took, 4),
                "ansible_startup_ping_s": round(startup, 4),
                "squawk_s": round(sq_best, 4),
                "ratio_veza_to_squawk": round(ours / sq_best, 3),
            }
            out["findings"] = dict(veza_findings=len(result["findings"]),
                                   veza_files_with_blocking=blocking_files,
                                   veza_module_bypassed=mod_res["bypassed"],
                                   squawk_files_flagged_non_hygiene=sq_files)
            print("\n== speed: %d generated files, %.1f MiB, %d statements (cpu: %d cores)\n"
                  % (n, size / 1048576.0, result["statements_checked"], os.cpu_count() or 0))
            print("| checker | seconds | files/s | vs squawk |")
            print("|---|---|---|---|")
            for name, secs in (("veza.infra rules (module_utils, in process, min of 3)", ours),
                               ("veza.infra module via `ansible localhost -m` (once)", mod_took),
                               ("squawk %s (min of 3, same run)" % out["squawk"].split()[-1], sq_best)):
                print("| %s | %.3f | %.0f | %.2fx |" % (name, secs, n / secs, secs / sq_best))
            print("\n(ansible startup alone, `-m ping`: %.2f s; veza files with a blocking finding: %d; "
                  "squawk files with a non-hygiene violation: %d)" % (startup, blocking_files, sq_files))
            if not args.no_corpus:
                out["external_corpus"] = corpus_section()
            out["big_file"] = big_file_section()
        path = os.path.join(RESULTS, "migration_cases.json" if args.cases_only else "migration_check.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
        print("\nwrote %s" % path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
