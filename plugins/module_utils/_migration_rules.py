# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This module util is PRIVATE to veza.infra, with no compatibility promise: do not import it
# from other collections, its API may change in any release.
"""Backward-compatibility rules for PostgreSQL migrations checked during a rolling deploy.

During a canary the old and the new backend-api binaries share one schema, so a migration must
not break the binary that is still running. The SQL is parsed with pglast (libpg_query, the real
PostgreSQL parser); rules look at the parse tree, never at the text, so comments, string literals
and dollar-quoted bodies cannot fool them.

Entry points: read_migration(), MigrationSet (add_source(), then .result()), RULES.
"""

from __future__ import annotations

import bisect
import os
import re

try:
    from pglast import parse_plpgsql, parse_sql
    from pglast.parser import ParseError, scan
    HAS_PGLAST = True
    PGLAST_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by ansible-test's import sanity
    HAS_PGLAST = False
    PGLAST_IMPORT_ERROR = exc
    parse_plpgsql = parse_sql = scan = None  # pylint: disable=invalid-name

    class ParseError(Exception):  # type: ignore[no-redef]
        """Placeholder so that except clauses work without pglast."""


BLOCKING = "blocking"
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
WARNING = "warning"


class Rule:
    """One rule: id, severity, why it matters, and the safe multi-step alternative."""

    def __init__(self, rule_id, severity, reason, safe_alternative):
        self.id = rule_id
        self.severity = severity
        self.reason = reason
        self.safe_alternative = safe_alternative

    def as_dict(self):
        return dict(id=self.id, severity=self.severity, reason=self.reason,
                    safe_alternative=self.safe_alternative)


_RULE_LIST = [
    Rule("drop-column", BLOCKING,
         "The running binary still selects or inserts the column; its queries fail as soon as "
         "the column is gone.",
         "Contract in two releases: release N stops reading and writing the column (and drops a "
         "NOT NULL / default it relied on); once no binary older than N runs, release N+1 drops "
         "the column."),
    Rule("drop-table", BLOCKING,
         "The running binary still queries the table.",
         "Release N stops using the table; release N+1 drops it (or rename it aside first and "
         "drop it one release later if you want an undo path)."),
    Rule("drop-view", BLOCKING,
         "The running binary still queries the view or materialized view.",
         "Release N stops using the view; release N+1 drops it."),
    Rule("drop-schema", BLOCKING,
         "Dropping a schema drops every table and view in it that the running binary may use.",
         "Move users off the schema in release N, drop it in release N+1."),
    Rule("drop-database", BLOCKING,
         "Dropping the database removes every table both binaries use.",
         "Never in a release migration: decommission a database by hand, after every binary "
         "that used it is gone."),
    Rule("truncate-table", BLOCKING,
         "TRUNCATE deletes every row the running binary reads (CASCADE also empties every table "
         "that references it) under an ACCESS EXCLUSIVE lock.",
         "Delete the rows the release really must remove, in batches (DELETE ... WHERE ... "
         "LIMIT via a key range), or stop using the table in release N and drop it in N+1."),
    Rule("drop-default", BLOCKING,
         "The running binary may insert rows without the column and rely on its default; "
         "without it the column is NULL, or the insert fails on a NOT NULL column.",
         "Release N writes the column explicitly on every insert; once no older binary runs, "
         "release N+1 drops the default."),
    Rule("rename-column", BLOCKING,
         "The running binary uses the old column name.",
         "Expand/contract: add the new column, write both (trigger or binary N), backfill in "
         "batches, switch reads to the new column in release N, drop the old column in "
         "release N+1."),
    Rule("rename-table", BLOCKING,
         "The running binary uses the old table name (ALTER ... SET SCHEMA moves it too).",
         "Create the new table (or an updatable view under the new name), dual-write, backfill, "
         "switch the binary, drop the old name one release later."),
    Rule("rename-view", BLOCKING,
         "The running binary uses the old view name.",
         "Create the view under the new name, switch the binary, drop the old view one release "
         "later."),
    Rule("change-column-type", BLOCKING,
         "The running binary reads and writes the old type; most type changes also rewrite "
         "the table under an ACCESS EXCLUSIVE lock.",
         "Add a column of the new type, dual-write, backfill in batches, switch reads in "
         "release N, drop the old column in release N+1."),
    Rule("add-column-not-null-no-default", BLOCKING,
         "The running binary inserts rows without the new column, which then fail the NOT NULL "
         "constraint (and the ALTER itself fails on a table with rows).",
         "Add the column nullable (or NOT NULL with a constant DEFAULT); release N writes it; "
         "backfill; then enforce NOT NULL (see set-not-null)."),
    Rule("set-not-null", BLOCKING,
         "The running binary may still insert NULL into the column; SET NOT NULL also scans "
         "the whole table under an ACCESS EXCLUSIVE lock.",
         "Once every running binary writes the column and the backfill is done: ADD CONSTRAINT "
         "... CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT, then SET NOT NULL "
         "(PostgreSQL skips the scan thanks to the valid check) and drop the check."),
    Rule("do-block", BLOCKING,
         "A DO block is procedural code: the checker reports the plain statements it can see "
         "inside, but cannot prove what the block does (loops, conditions, dynamic SQL).",
         "Write the migration as plain SQL statements; if the block is really needed, review "
         "it and suppress with a reason: -- veza:allow do-block reason: <why it is safe>."),
    Rule("dynamic-sql", BLOCKING,
         "EXECUTE of a string in PL/pgSQL builds SQL at run time; the checker cannot see what "
         "it runs.",
         "Write the statements out as plain SQL; if dynamic SQL is really needed, review it and "
         "suppress with a reason: -- veza:allow dynamic-sql reason: <why it is safe>."),
    Rule("invalid-suppression", BLOCKING,
         "A veza:allow comment must name known rules and carry a reason, so that every bypass "
         "is explained in the migration itself.",
         "Write it as: -- veza:allow <rule>[,<rule>] reason: <why this is safe>, on or just "
         "before the statement."),
    Rule("index-not-concurrent", WARNING,
         "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds.",
         "CREATE INDEX CONCURRENTLY, outside a transaction block (a failed build leaves an "
         "INVALID index: drop it and retry)."),
    Rule("drop-index-not-concurrent", WARNING,
         "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table.",
         "DROP INDEX CONCURRENTLY, outside a transaction block."),
    Rule("concurrently-in-transaction", WARNING,
         "CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block: the migration "
         "fails at that statement.",
         "Put the concurrent index statement in its own migration without BEGIN/COMMIT."),
    Rule("constraint-not-valid", WARNING,
         "Adding a CHECK or FOREIGN KEY constraint (to a table, a domain, or inline on an added "
         "column) validates every row under a lock that blocks writes.",
         "ADD CONSTRAINT ... NOT VALID (fast), then ALTER TABLE ... VALIDATE CONSTRAINT in a "
         "later statement (takes a weaker lock)."),
    Rule("constraint-builds-index", WARNING,
         "Adding a PRIMARY KEY, UNIQUE or EXCLUDE constraint builds its index while blocking "
         "writes.",
         "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX."),
    Rule("volatile-default", WARNING,
         "A new column with a volatile default (random(), gen_random_uuid(), clock_timestamp(), "
         "serial, identity, stored generated) rewrites the whole table under an ACCESS "
         "EXCLUSIVE lock.",
         "Add the column without default (or with a constant one), SET DEFAULT for new rows, "
         "backfill existing rows in batches."),
]
RULES = dict((r.id, r) for r in _RULE_LIST)

_VOLATILE_FUNCS = frozenset((
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
    "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval", "txid_current", "setseed",
))
_SERIAL_TYPES = frozenset(("serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"))
_SUPPRESS_RE = re.compile(r"veza:allow\b(?P<rest>.*)", re.IGNORECASE | re.DOTALL)
_SUPPRESS_BODY_RE = re.compile(
    r"^\s*(?P<rules>[A-Za-z0-9_-]+(?:\s*,\s*[A-Za-z0-9_-]+)*)\s*(?:reason:(?P<reason>.*))?$",
    re.DOTALL)
_STATEMENT_MAX = 240


class MigrationInputError(Exception):
    """A migration cannot be checked: unreadable, not UTF-8, binary or not parseable."""

    def __init__(self, path, line, message):
        super().__init__("%s:%s: %s" % (path, line, message) if line else "%s: %s" % (path, message))
        self.path = path
        self.line = line
        self.message = message


def read_migration(path, max_size=None):
    """Read one migration file as text; binary or non-UTF-8 content raises MigrationInputError.

    A file larger than max_size bytes is refused before it is read.
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if max_size and size > max_size:
                raise MigrationInputError(
                    path, None, "file is %d bytes, above max_file_size (%d): a migration that "
                    "size is a data load, not a schema change; split it, or raise "
                    "max_file_size (0 lifts the limit)" % (size, max_size))
            data = fh.read(max_size + 1) if max_size else fh.read()
    except (IOError, OSError) as exc:
        raise MigrationInputError(path, None, "cannot read file: %s" % exc)
    if max_size and len(data) > max_size:
        raise MigrationInputError(path, None, "file grew above max_file_size (%d) while being "
                                  "read" % max_size)
    return decode_migration(path, data)


def decode_migration(path, data):
    """Decode bytes of a migration; refuse binary data and anything that is not UTF-8."""
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise MigrationInputError(
            path, line, "binary content (NUL byte): a migration must be a UTF-8 text .sql file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MigrationInputError(
            path, line, "not valid UTF-8 (byte 0x%02x at offset %d): re-encode the file as UTF-8"
            % (data[exc.start], exc.start))
    if text.startswith(u"\ufeff"):
        text = text[1:]
    return text


_DOWN_SECTION_RE = re.compile(r"^[ \t]*--[ \t]*(?:\+goose[ \t]+down|migrate:down)\b",
                              re.IGNORECASE | re.MULTILINE)


class _Lines:
    """Line numbers of offsets in one text: one pass over it, then a bisect per look-up."""

    def __init__(self, text):
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def of(self, offset):
        return bisect.bisect_left(self.newlines, max(0, offset)) + 1


def up_section(text):
    """The text of a migration up to its down section (goose's '-- +goose Down', dbmate's
    '-- migrate:down'), or the whole text; line numbers are kept."""
    match = _DOWN_SECTION_RE.search(text)
    return text if match is None else text[:match.start()]


def _short(sql):
    sql = " ".join(sql.split())
    return sql if len(sql) <= _STATEMENT_MAX else sql[:_STATEMENT_MAX - 3] + "..."


def _kind(node):
    return node.__class__.__name__


def _enum(value):
    return getattr(value, "name", value)


def _rel_key(rangevar):
    return ((rangevar.schemaname or "public"), rangevar.relname)


def _names_key(names):
    parts = tuple(n.sval for n in names)
    return ("public", parts[0]) if len(parts) == 1 else (parts[-2], parts[-1])


def _fmt(key):
    return "%s.%s" % key if key[0] != "public" else key[1]


def _walk(node):
    """Yield every pglast node below node (node included)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (tuple, list)):
            stack.extend(cur)
            continue
        if cur is None or not hasattr(cur, "__slots__"):
            continue
        yield cur
        for attr in getattr(cur, "__slots__", ()):
            child = getattr(cur, attr, None)
            if isinstance(child, (tuple, list)) or hasattr(child, "__slots__"):
                stack.append(child)


def _walk_json(obj):
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


class _Stmt:
    """A statement as checked: its text, file and line, and the findings it produced."""

    def __init__(self, path, line, sql):
        self.path = path
        self.line = line
        self.sql = sql
        self.findings = []


class MigrationSet:
    """Rules over an ordered set of migration files, with context across them.

    Tables, views, columns and indexes created earlier in the set are new: changing them breaks
    no running binary. ``CREATE ... IF NOT EXISTS`` and ``ADD COLUMN IF NOT EXISTS`` do not
    count as new, since the object may already exist.
    """

    def __init__(self, ignore_rules=(), include_down=False, max_file_size=DEFAULT_MAX_FILE_SIZE):
        unknown = sorted(set(ignore_rules) - set(RULES))
        if unknown:
            raise ValueError("unknown rule id(s) %s; known rules: %s"
                             % (", ".join(unknown), ", ".join(sorted(RULES))))
        if "invalid-suppression" in ignore_rules:
            raise ValueError("invalid-suppression cannot be ignored: fix the veza:allow comment")
        self.ignore_rules = frozenset(ignore_rules)
        self.include_down = include_down
        self.max_file_size = max_file_size
        self.new_tables = set()
        self.new_columns = set()
        self.new_indexes = set()
        self.findings = []
        self.suppressed = []
        self.files_checked = []
        self.statements_checked = 0
        self._in_tx = False

    # -- input -----------------------------------------------------------------------------

    def add_file(self, path, display_path=None):
        self.add_source(display_path or path, read_migration(path, self.max_file_size))

    def add_source(self, path, text):
        """Check one migration's SQL text; raises MigrationInputError when it does not parse."""
        if not HAS_PGLAST:
            raise RuntimeError("pglast is required")
        if not self.include_down:
            text = up_section(text)
        lines = _Lines(text)
        try:
            raw = parse_sql(text)
        except ParseError as exc:
            loc = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            raise MigrationInputError(path, lines.of(loc) if loc is not None else None,
                                      "SQL does not parse: %s" % exc.args[0])
        self.files_checked.append(path)
        self._in_tx = False
        spans = []
        for rs in raw:
            start = rs.stmt_location or 0
            end = start + rs.stmt_len if rs.stmt_len else len(text)
            spans.append((start, end))
        comments = self._comments(text, spans, lines) if "veza:allow" in text.lower() else {}
        for idx, rs in enumerate(raw):
            start, end = spans[idx]
            stmt = _Stmt(path, lines.of(start), text[start:end])
            self.statements_checked += 1
            self._check(rs.stmt, stmt)
            self._apply_suppressions(stmt, comments.get(idx, []))
        for line, body in comments.get(None, []):
            if _SUPPRESS_RE.search(body):
                orphan = _Stmt(path, line, body)
                self._add(orphan, "invalid-suppression",
                          "veza:allow comment is not attached to any statement")
                self.findings.extend(orphan.findings)

    @staticmethod
    def _comments(text, spans, lines):
        """Map statement index -> [(line, comment)]; None holds comments after the last one.

        A comment inside a statement, or after its ';' on the same line, belongs to it; any
        other comment belongs to the next statement.
        """
        out = {}
        starts = [span[0] for span in spans]
        for tok in scan(text):
            if tok.name not in ("SQL_COMMENT", "C_COMMENT"):
                continue
            pos = tok.start
            nxt = bisect.bisect_right(starts, pos)
            owner = nxt if nxt < len(spans) else None
            if nxt > 0:
                prev_end = spans[nxt - 1][1]
                if pos < prev_end or lines.of(prev_end) == lines.of(pos):
                    owner = nxt - 1
            out.setdefault(owner, []).append((lines.of(pos), text[tok.start:tok.end + 1]))
        return out

    def _apply_suppressions(self, stmt, comments):
        allowed = {}
        for line, body in comments:
            match = _SUPPRESS_RE.search(body)
            if not match:
                continue
            rest = match.group("rest").strip()
            if rest.endswith("*/"):
                rest = rest[:-2].strip()
            parsed = _SUPPRESS_BODY_RE.match(rest)
            if not parsed:
                self._add(stmt, "invalid-suppression",
                          "cannot read veza:allow comment at line %d; expected "
                          "'veza:allow <rule>[,<rule>] reason: <text>'" % line)
                continue
            ids = [r.strip().lower() for r in parsed.group("rules").split(",")]
            reason = (parsed.group("reason") or "").strip()
            bad = [r for r in ids if r not in RULES or r == "invalid-suppression"]
            if bad:
                self._add(stmt, "invalid-suppression",
                          "veza:allow at line %d names unknown rule(s) %s; known rules: %s"
                          % (line, ", ".join(bad), ", ".join(sorted(RULES))))
                continue
            if not reason:
                self._add(stmt, "invalid-suppression",
                          "veza:allow %s at line %d has no reason; add 'reason: <why this is "
                          "safe for the running binary>'" % (",".join(ids), line))
                continue
            for rid in ids:
                allowed[rid] = reason
        for finding in stmt.findings:
            rid = finding["rule"]
            if rid in self.ignore_rules:
                self.suppressed.append(dict(finding, suppressed_by="ignore_rules"))
            elif rid in allowed:
                self.suppressed.append(dict(finding, suppressed_by="comment",
                                            suppression_reason=allowed[rid]))
            else:
                self.findings.append(finding)

    def result(self):
        return dict(findings=list(self.findings), suppressed=list(self.suppressed),
                    files_checked=list(self.files_checked),
                    statements_checked=self.statements_checked)

    # -- rules -----------------------------------------------------------------------------

    def _add(self, stmt, rule_id, message, sql=None):
        rule = RULES[rule_id]
        stmt.findings.append(dict(
            file=stmt.path, line=stmt.line, statement=_short(sql or stmt.sql), rule=rule_id,
            severity=rule.severity, message=message, reason=rule.reason,
            safe_alternative=rule.safe_alternative))

    def _table_is_new(self, key):
        return key in self.new_tables

    def _column_is_new(self, key, column):
        return key in self.new_tables or (key[0], key[1], column) in self.new_columns

    def _check(self, node, stmt, inner_sql=None):
        handler = getattr(self, "_on_" + _kind(node), None)
        if handler is not None:
            handler(node, stmt, inner_sql)

    def _on_TransactionStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        kind = _enum(node.kind)
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            self._in_tx = True
        elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE",
                      "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"):
            self._in_tx = False

    def _on_CreateStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        if not node.if_not_exists:
            self.new_tables.add(_rel_key(node.relation))

    def _on_CreateTableAsStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        if not node.if_not_exists and node.into is not None:
            self.new_tables.add(_rel_key(node.into.rel))

    def _on_ViewStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        if not node.replace:
            self.new_tables.add(_rel_key(node.view))

    def _on_IndexStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        key = _rel_key(node.relation)
        if node.concurrent and self._in_tx:
            self._add(stmt, "concurrently-in-transaction",
                      "CREATE INDEX CONCURRENTLY inside BEGIN ... COMMIT fails at run time", sql)
        elif not node.concurrent and not self._table_is_new(key):
            label = node.idxname + " " if node.idxname else ""
            self._add(stmt, "index-not-concurrent",
                      "CREATE INDEX %son existing table %s blocks writes while it builds; use "
                      "CREATE INDEX CONCURRENTLY" % (label, _fmt(key)), sql)
        if node.idxname and not node.if_not_exists:
            self.new_indexes.add((key[0], node.idxname))

    def _on_AlterTableStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        key = _rel_key(node.relation)
        objtype = _enum(node.objtype)
        for cmd in node.cmds or ():
            sub = _enum(cmd.subtype)
            if sub == "AT_AddColumn":
                self._add_column(key, cmd, stmt, sql)
            elif sub == "AT_DropColumn" and not self._column_is_new(key, cmd.name):
                self._add(stmt, "drop-column",
                          "DROP COLUMN %s.%s: the running binary still uses it%s"
                          % (_fmt(key), cmd.name,
                             " (IF EXISTS does not make it safe)" if cmd.missing_ok else ""), sql)
            elif sub == "AT_AlterColumnType" and not self._column_is_new(key, cmd.name):
                self._add(stmt, "change-column-type",
                          "ALTER COLUMN %s.%s TYPE changes what the running binary reads and "
                          "writes" % (_fmt(key), cmd.name), sql)
            elif sub == "AT_SetNotNull" and not self._column_is_new(key, cmd.name):
                self._add(stmt, "set-not-null",
                          "SET NOT NULL on %s.%s: the running binary may still insert NULL"
                          % (_fmt(key), cmd.name), sql)
            elif (sub == "AT_ColumnDefault" and cmd.def_ is None
                  and not self._column_is_new(key, cmd.name)):
                self._add(stmt, "drop-default",
                          "DROP DEFAULT on %s.%s: inserts of the running binary that omit the "
                          "column get NULL (or fail on NOT NULL)" % (_fmt(key), cmd.name), sql)
            elif sub == "AT_AddConstraint" and objtype == "OBJECT_TABLE":
                self._add_constraint(key, cmd.def_, stmt, sql)

    def _add_column(self, key, cmd, stmt, sql):
        col = cmd.def_
        contypes = [_enum(c.contype) for c in (col.constraints or ())]
        typename = col.typeName.names[-1].sval if col.typeName is not None else ""
        serial = typename.lower() in _SERIAL_TYPES
        has_default = ("CONSTR_DEFAULT" in contypes or "CONSTR_IDENTITY" in contypes
                       or "CONSTR_GENERATED" in contypes or serial)
        not_null = "CONSTR_NOTNULL" in contypes or "CONSTR_PRIMARY" in contypes
        if not self._table_is_new(key):
            if not_null and not has_default:
                self._add(stmt, "add-column-not-null-no-default",
                          "ADD COLUMN %s.%s NOT NULL without DEFAULT: inserts from the running "
                          "binary fail" % (_fmt(key), col.colname), sql)
            volatile = self._volatile_default(col, serial)
            if volatile:
                self._add(stmt, "volatile-default",
                          "ADD COLUMN %s.%s with %s rewrites the table"
                          % (_fmt(key), col.colname, volatile), sql)
            if "CONSTR_FOREIGN" in contypes:
                self._add(stmt, "constraint-not-valid",
                          "ADD COLUMN %s.%s REFERENCES validates the new foreign key and locks "
                          "both tables against writes; add the column, then ADD CONSTRAINT ... "
                          "FOREIGN KEY ... NOT VALID and VALIDATE it later" % (_fmt(key), col.colname),
                          sql)
            if "CONSTR_PRIMARY" in contypes or "CONSTR_UNIQUE" in contypes:
                self._add(stmt, "constraint-builds-index",
                          "ADD COLUMN %s.%s with PRIMARY KEY/UNIQUE builds an index while "
                          "blocking writes" % (_fmt(key), col.colname), sql)
        if not cmd.missing_ok:
            self.new_columns.add((key[0], key[1], col.colname))

    @staticmethod
    def _volatile_default(col, serial):
        if serial:
            return "a serial type (nextval default)"
        for con in col.constraints or ():
            contype = _enum(con.contype)
            if contype == "CONSTR_IDENTITY":
                return "an identity"
            if contype == "CONSTR_GENERATED":
                return "a stored generated expression"
            if contype == "CONSTR_DEFAULT" and con.raw_expr is not None:
                for sub in _walk(con.raw_expr):
                    if _kind(sub) == "FuncCall":
                        name = sub.funcname[-1].sval.lower()
                        if name in _VOLATILE_FUNCS:
                            return "volatile default %s()" % name
        return None

    def _add_constraint(self, key, con, stmt, sql):
        if self._table_is_new(key):
            return
        contype = _enum(con.contype)
        name = con.conname or contype[7:].lower()
        if contype in ("CONSTR_CHECK", "CONSTR_FOREIGN") and not con.skip_validation:
            self._add(stmt, "constraint-not-valid",
                      "ADD CONSTRAINT %s on %s validates every row while blocking writes; add "
                      "it NOT VALID and VALIDATE it later" % (name, _fmt(key)), sql)
        elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION") and not con.indexname:
            self._add(stmt, "constraint-builds-index",
                      "ADD CONSTRAINT %s on %s builds an index while blocking writes; build it "
                      "CONCURRENTLY and add the constraint USING INDEX" % (name, _fmt(key)), sql)

    def _on_RenameStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        rtype = _enum(node.renameType)
        if node.relation is None:
            return
        key = _rel_key(node.relation)
        if rtype == "OBJECT_COLUMN":
            if self._column_is_new(key, node.subname):
                self.new_columns.add((key[0], key[1], node.newname))
            else:
                self._add(stmt, "rename-column",
                          "RENAME COLUMN %s.%s TO %s: the running binary uses the old name"
                          % (_fmt(key), node.subname, node.newname), sql)
        elif rtype in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
            if self._table_is_new(key):
                self.new_tables.add((key[0], node.newname))
            else:
                rule = "rename-table" if rtype in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE") else "rename-view"
                self._add(stmt, rule, "RENAME %s TO %s: the running binary uses the old name"
                          % (_fmt(key), node.newname), sql)

    def _on_AlterObjectSchemaStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        otype = _enum(node.objectType)
        if node.relation is None or otype not in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"):
            return
        key = _rel_key(node.relation)
        if self._table_is_new(key):
            self.new_tables.add((node.newschema, key[1]))
        else:
            self._add(stmt, "rename-table" if otype == "OBJECT_TABLE" else "rename-view",
                      "SET SCHEMA %s on %s: the running binary uses the old qualified name"
                      % (node.newschema, _fmt(key)), sql)

    def _on_AlterDomainStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        con = node.def_
        if node.subtype == "C" and _kind(con) == "Constraint" and not con.skip_validation:
            self._add(stmt, "constraint-not-valid",
                      "ALTER DOMAIN %s ADD CONSTRAINT %s checks every column of that domain in "
                      "every table while blocking writes; add it NOT VALID and VALIDATE it later"
                      % (".".join(n.sval for n in node.typeName), con.conname or "(unnamed)"), sql)

    def _on_DropdbStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        self._add(stmt, "drop-database", "DROP DATABASE %s removes everything both binaries use%s"
                  % (node.dbname, " (IF EXISTS does not make it safe)" if node.missing_ok else ""),
                  sql)

    def _on_TruncateStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        keys = [_rel_key(r) for r in node.relations or ()]
        old = [k for k in keys if not self._table_is_new(k)]
        cascade = _enum(node.behavior) == "DROP_CASCADE"
        if old or cascade:
            self._add(stmt, "truncate-table",
                      "TRUNCATE %s deletes rows the running binary reads%s"
                      % (", ".join(_fmt(k) for k in (old or keys)),
                         "; CASCADE also empties every table that references it" if cascade else ""),
                      sql)

    def _on_DropStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        rtype = _enum(node.removeType)
        if rtype == "OBJECT_SCHEMA":
            for obj in node.objects or ():
                name = obj.sval if hasattr(obj, "sval") else str(obj)
                if not any(t[0] == name for t in self.new_tables):
                    self._add(stmt, "drop-schema", "DROP SCHEMA %s drops everything in it" % name,
                              sql)
            return
        if rtype == "OBJECT_INDEX":
            if node.concurrent and self._in_tx:
                self._add(stmt, "concurrently-in-transaction",
                          "DROP INDEX CONCURRENTLY inside BEGIN ... COMMIT fails at run time", sql)
            elif not node.concurrent:
                names = [_names_key(o) for o in node.objects or ()]
                if any(n not in self.new_indexes for n in names):
                    self._add(stmt, "drop-index-not-concurrent",
                              "DROP INDEX %s without CONCURRENTLY locks its table"
                              % ", ".join(_fmt(n) for n in names), sql)
            return
        rule = {"OBJECT_TABLE": "drop-table", "OBJECT_FOREIGN_TABLE": "drop-table",
                "OBJECT_VIEW": "drop-view", "OBJECT_MATVIEW": "drop-view"}.get(rtype)
        if rule is None:
            return
        for obj in node.objects or ():
            key = _names_key(obj)
            if self._table_is_new(key):
                continue
            self._add(stmt, rule, "DROP %s %s: the running binary still uses it%s"
                      % (rtype[7:].replace("_", " "), _fmt(key),
                         " (IF EXISTS does not make it safe)" if node.missing_ok else ""), sql)

    @staticmethod
    def _body(defelems, key, lang="sql"):
        body = None
        for opt in defelems or ():
            if opt.defname == "language":
                lang = opt.arg.sval.lower()
            elif opt.defname == key:
                arg = opt.arg
                if isinstance(arg, (tuple, list)):
                    arg = arg[0] if len(arg) == 1 else None
                body = arg.sval if arg is not None and hasattr(arg, "sval") else None
        return lang, body

    @staticmethod
    def _plpgsql(body):
        """Parse a PL/pgSQL body; returns (static SQL statements, has dynamic EXECUTE) or None."""
        tag = "veza_body"
        while "$%s$" % tag in body:
            tag += "_"
        wrapper = ("CREATE FUNCTION veza_check() RETURNS void LANGUAGE plpgsql AS $%s$%s$%s$"
                   % (tag, body, tag))
        try:
            tree = parse_plpgsql(wrapper)
        except Exception:  # pylint: disable=broad-except
            return None
        statics, dynamic = [], False
        for obj in _walk_json(tree):
            if "PLpgSQL_stmt_dynexecute" in obj or "PLpgSQL_stmt_dynfors" in obj:
                dynamic = True
            elif "PLpgSQL_stmt_execsql" in obj:
                query = obj["PLpgSQL_stmt_execsql"].get("sqlstmt", {}).get(
                    "PLpgSQL_expr", {}).get("query")
                if query:
                    statics.append(query)
        statics.reverse()
        return statics, dynamic

    def _on_DoStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        lang, body = self._body(node.args, "as", "plpgsql")
        if lang != "plpgsql" or body is None:
            self._add(stmt, "do-block", "DO block in language %s: the checker cannot see into it"
                      % lang)
            return
        parsed = self._plpgsql(body)
        if parsed is None:
            self._add(stmt, "do-block", "DO block whose PL/pgSQL body does not parse")
            return
        statics, dynamic = parsed
        self._add(stmt, "do-block",
                  "DO block: %d plain statement(s) inside were checked, but conditions and loops "
                  "are not followed" % len(statics))
        if dynamic:
            self._add(stmt, "dynamic-sql",
                      "DO block runs EXECUTE of a built string: the checker cannot see that SQL")
        for query in statics:
            try:
                inner = parse_sql(query)
            except ParseError:
                continue
            for rs in inner:
                self._check(rs.stmt, stmt, inner_sql=query)

    def _on_CreateFunctionStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        lang, body = self._body(node.options, "as")
        if lang != "plpgsql" or body is None:
            return
        parsed = self._plpgsql(body)
        if parsed is not None and parsed[1]:
            self._add(stmt, "dynamic-sql",
                      "%s %s runs EXECUTE of a built string: the checker cannot see that SQL"
                      % ("PROCEDURE" if node.is_procedure else "FUNCTION",
                         ".".join(n.sval for n in node.funcname)))


def check_sources(sources, ignore_rules=(), include_down=False):
    """Check [(name, text), ...] in order as one migration set; returns MigrationSet.result()."""
    mset = MigrationSet(ignore_rules, include_down=include_down)
    for name, text in sources:
        mset.add_source(name, text)
    return mset.result()
