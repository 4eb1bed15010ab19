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

Speed: libpg_query splits each file (a full parse in C that also validates the syntax, no
Python tree), and only the statements a rule can match (by their first keyword: ALTER, DROP,
CREATE, DO, UPDATE, ...) are parsed again into libpg_query's JSON tree and loaded as plain
dicts. INSERT, SELECT, COMMENT, GRANT, ... are validated but never turned into Python objects.

Entry points: read_migration(), MigrationSet (add_source(), then .result()), RULES.
"""

from __future__ import annotations

import bisect
import gc
import json
import os
import re

try:
    from pglast.parser import ParseError, parse_plpgsql_json, parse_sql_json, scan, split
    HAS_PGLAST = True
    PGLAST_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by ansible-test's import sanity
    HAS_PGLAST = False
    PGLAST_IMPORT_ERROR = exc
    parse_plpgsql_json = parse_sql_json = scan = split = None  # pylint: disable=invalid-name

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
    Rule("drop-function", BLOCKING,
         "The running binary may call the function or procedure (or rely on a trigger or "
         "default that calls it); its calls fail as soon as it is gone.",
         "Release N stops calling it; release N+1 drops it. To change a signature, create the "
         "new function beside the old one and drop the old one a release later."),
    Rule("rename-function", BLOCKING,
         "The running binary calls the function or procedure by its old name (ALTER ... SET "
         "SCHEMA moves it too).",
         "Create the function under the new name (the old one can call it), switch the binary "
         "in release N, drop the old name in release N+1."),
    Rule("drop-trigger", BLOCKING,
         "A trigger does work the running binary relies on (timestamps, audit rows, a "
         "dual-write during an expand/contract); dropping it silently stops that work.",
         "Release N does the work itself (or no longer needs it); release N+1 drops the "
         "trigger."),
    Rule("rename-type", BLOCKING,
         "The running binary sends the old enum label or casts to the old type or domain name "
         "(ALTER TYPE ... RENAME VALUE / RENAME TO / SET SCHEMA); its statements fail.",
         "Add the new label (ALTER TYPE ... ADD VALUE) or create the new type, switch the "
         "binary and migrate the rows in release N; retire the old one in release N+1."),
    Rule("drop-type", BLOCKING,
         "The running binary casts to the type or domain, or writes the columns that use it "
         "(DROP ... CASCADE also drops those columns).",
         "Release N stops using the type; release N+1 drops it."),
    Rule("do-block", BLOCKING,
         "A DO block the checker cannot read: its language is not PL/pgSQL, or its body does "
         "not parse. (The statements of a PL/pgSQL DO block are parsed and checked like any "
         "other, in every branch and loop, so such a block is judged by what it runs.)",
         "Write the migration as plain SQL statements; if the block is really needed, review "
         "it and suppress with a reason: -- veza:allow do-block reason: <why it is safe>."),
    Rule("dynamic-sql", BLOCKING,
         "A DO block runs EXECUTE of a string built at run time (format(), ||, a variable); "
         "the checker cannot see the SQL it runs. EXECUTE of a constant string is parsed and "
         "checked instead.",
         "Write the statements out as plain SQL; if dynamic SQL is really needed, review it and "
         "suppress with a reason: -- veza:allow dynamic-sql reason: <why it is safe>."),
    Rule("function-dynamic-sql", WARNING,
         "A PL/pgSQL function or procedure runs EXECUTE of a built string. Nothing runs when "
         "the migration creates it, only when it is called, so this is a warning: what it "
         "runs is not checked.",
         "Review what the function builds; prefer static statements or format() with %I/%L "
         "for identifiers and literals."),
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
    Rule("set-not-null-scan", WARNING,
         "SET NOT NULL (or ADD CONSTRAINT ... NOT NULL) scans the whole table under an ACCESS "
         "EXCLUSIVE lock (no reads, no writes) unless a valid CHECK (col IS NOT NULL) "
         "constraint already proves it.",
         "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; then ALTER TABLE ... VALIDATE "
         "CONSTRAINT c (weaker lock, reads and writes go on); then SET NOT NULL, which skips "
         "the scan; then DROP CONSTRAINT c."),
    Rule("backfill-in-transaction", WARNING,
         "An UPDATE of every row, then SET NOT NULL on the same table in one transaction: the "
         "row locks of the whole table are held until COMMIT (every concurrent write to those "
         "rows waits), then SET NOT NULL scans the table under ACCESS EXCLUSIVE.",
         "Backfill in batches (UPDATE ... WHERE id BETWEEN ...), each in its own transaction, "
         "outside the schema migration; then CHECK NOT VALID, VALIDATE, SET NOT NULL."),
    Rule("table-rewrite", WARNING,
         "The statement rewrites or locks the whole table under ACCESS EXCLUSIVE (no reads, "
         "no writes) for its whole run: VACUUM FULL, CLUSTER, SET LOGGED/UNLOGGED.",
         "Avoid it in a release migration: pg_repack (or pg_squeeze) instead of VACUUM FULL / "
         "CLUSTER; a new table created UNLOGGED/LOGGED from the start."),
    Rule("reindex-not-concurrent", WARNING,
         "REINDEX without CONCURRENTLY blocks writes to the table (and reads through the index) "
         "while it rebuilds.",
         "REINDEX ... CONCURRENTLY (PostgreSQL 12+), outside a transaction block."),
]
RULES = dict((r.id, r) for r in _RULE_LIST)

_VOLATILE_FUNCS = frozenset((
    "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
    "uuidv4", "uuidv7", "clock_timestamp", "timeofday", "nextval", "txid_current", "setseed",
))
# built-in functions that are not VOLATILE and common in column defaults; any other function
# that is not created in the set with IMMUTABLE or STABLE is taken to be VOLATILE (PostgreSQL's
# default for CREATE FUNCTION), so a default that calls it rewrites the table
_NON_VOLATILE_FUNCS = frozenset((
    "now", "timezone", "transaction_timestamp", "statement_timestamp", "current_setting",
    "jsonb_build_object", "json_build_object", "jsonb_build_array", "json_build_array", "to_jsonb",
    "to_json", "array_to_json", "lower", "upper", "concat", "make_interval", "date_trunc",
    "to_timestamp", "to_char", "to_date", "length", "btrim", "trim", "replace", "md5",
    "current_database", "current_schema", "current_user", "session_user", "inet_client_addr",
    "pg_current_xact_id", "array_fill", "date_part", "extract", "age", "make_date",
    "make_timestamp", "make_timestamptz",
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
            data = fh.read()
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


_DOWN_SECTION_RE = re.compile(r"--[ \t]*(?:\+goose[ \t]+down|migrate:down)\b", re.IGNORECASE)


class _Lines:
    """Line numbers of offsets in one text: one pass over it (on the first look-up: most
    statements never need their line), then a bisect per look-up."""

    def __init__(self, text):
        self.text = text
        self.newlines = None

    def of(self, offset):
        if self.newlines is None:
            self.newlines = [m.start() for m in re.finditer("\n", self.text)]
        return bisect.bisect_left(self.newlines, max(0, offset)) + 1


def up_section(text):
    """The text of a migration up to its down section (goose's '-- +goose Down', dbmate's
    '-- migrate:down'), or the whole text; line numbers are kept."""
    for match in _DOWN_SECTION_RE.finditer(text):
        # the marker starts its line (a '--' inside a statement or string is not a marker)
        line_start = text.rfind("\n", 0, match.start()) + 1
        if not text[line_start:match.start()].strip(" \t"):
            return text[:line_start]
    return text


def _short(sql):
    sql = " ".join(sql.split())
    return sql if len(sql) <= _STATEMENT_MAX else sql[:_STATEMENT_MAX - 3] + "..."


# Statements whose first keyword is one of these can trigger a rule (or change the context:
# new tables, transactions); every other statement (INSERT, SELECT, COMMENT, GRANT, SET, ...)
# is validated by the split but never parsed into a tree.
_PARSED_LEADS = frozenset((
    "ALTER", "DROP", "TRUNCATE", "CREATE", "DO", "UPDATE", "BEGIN", "START", "COMMIT", "END",
    "ROLLBACK", "ABORT", "PREPARE", "REINDEX", "VACUUM", "CLUSTER",
))
_LEAD_RE = re.compile(r"[A-Za-z]+")
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
# CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] [schema.]name ( or AS
# or PARTITION OF or OF; anything else (and any name this does not read) is parsed
_CREATE_TABLE_RE = re.compile(
    r"CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?P<temp>TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    r"(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?:(?P<schema>%s)\s*\.\s*)?(?P<name>%s)\s*"
    r"(?:\(|PARTITION\s+OF\b|OF\b|AS\b)" % (_IDENT, _IDENT), re.IGNORECASE)


# CREATE [UNIQUE] INDEX [CONCURRENTLY] [[IF NOT EXISTS] name] ON [ONLY] [schema.]table ( or USING
_CREATE_INDEX_RE = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?(?P<ine>IF\s+NOT\s+EXISTS\s+)?"
    r"(?:(?P<idx>%s)\s+)?ON\s+(?:ONLY\s+)?(?:(?P<schema>%s)\s*\.\s*)?(?P<name>%s)\s*"
    r"(?:\(|USING\b)" % (_IDENT, _IDENT, _IDENT), re.IGNORECASE)


def _ident(raw):
    if raw is None:
        return None
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def _head_relation(match):
    rel = {"relname": _ident(match.group("name"))}
    if match.group("schema"):
        rel["schemaname"] = _ident(match.group("schema"))
    return rel


def _node(wrapped):
    """(kind, fields) of a libpg_query JSON node such as {"DropStmt": {...}}."""
    if isinstance(wrapped, dict):
        for kind, fields in wrapped.items():
            return kind, fields if isinstance(fields, dict) else {}
    return None, {}


def _sval(wrapped):
    return _node(wrapped)[1].get("sval", "")


def _strings(items):
    return tuple(_sval(i) for i in items or ())


def _rel_key(rangevar):
    return ((rangevar.get("schemaname") or "public"), rangevar.get("relname"))


def _names_key(parts):
    return ("public", parts[0]) if len(parts) == 1 else (parts[-2], parts[-1])


def _object_names(wrapped):
    """Name parts of a DROP/RENAME object: List, String, ObjectWithArgs or TypeName."""
    kind, fields = _node(wrapped)
    if kind == "List":
        return _strings(fields.get("items"))
    if kind == "String":
        return (fields.get("sval", ""),)
    if kind == "ObjectWithArgs":
        return _strings(fields.get("objname"))
    if kind == "TypeName":
        return _strings(fields.get("names"))
    return ()


def _fmt(key):
    return "%s.%s" % key if key[0] != "public" else key[1]


def _walk_json(obj):
    """Every dict below obj, in document order."""
    stack = [obj]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            yield cur
            stack.extend(reversed(list(cur.values())))
        elif isinstance(cur, list):
            stack.extend(reversed(cur))


def _parse(sql):
    """libpg_query's JSON tree of sql: the list of {"stmt": ...} raw statements."""
    return json.loads(parse_sql_json(sql)).get("stmts", [])


def _constant_string(expr):
    """The value of a PL/pgSQL expression that is one string constant, else None."""
    try:
        stmts = _parse("SELECT " + expr)
    except ParseError:
        return None
    if len(stmts) != 1:
        return None
    targets = _node(stmts[0]["stmt"])[1].get("targetList") or []
    if len(targets) != 1:
        return None
    val = _node(targets[0])[1].get("val")
    kind, fields = _node(val)
    if kind == "A_Const" and isinstance(fields.get("sval"), dict):
        return fields["sval"].get("sval", "")
    return None


class _Stmt:
    """A statement as checked: its text, file and line, and the findings it produced."""

    def __init__(self, path, line, sql, lines=None, start=0):
        self.path = path
        self._line = line
        self._lines = lines
        self._start = start
        self.sql = sql
        self.findings = []

    @property
    def line(self):
        if self._line is None:
            self._line = self._lines.of(self._start)
        return self._line


class MigrationSet:
    """Rules over an ordered set of migration files, with context across them.

    Tables, views, types, functions and triggers created earlier in the set are new: changing
    them breaks no running binary. A column this set adds to a table that already exists is
    new to the running binary too (it never reads it), but the binary still inserts rows
    without it: making it NOT NULL without a default, or dropping the default of a NOT NULL
    one, breaks those inserts. ``CREATE ... IF NOT EXISTS`` and ``ADD COLUMN IF NOT EXISTS``
    do not count as new, since the object may already exist.
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
        self.maybe_new_tables = set()    # CREATE TABLE IF NOT EXISTS: not new for drops
        # (schema, table, column) -> {"not_null": bool, "default": bool} for columns this set
        # adds to tables that already exist
        self.added_columns = {}
        self.new_indexes = set()
        self.new_functions = set()
        self.stable_functions = {}       # functions created in the set IMMUTABLE or STABLE
        self.new_types = set()
        self.new_triggers = set()
        self.valid_not_null = set()      # (schema, table, column) proved by a valid CHECK
        self._pending_checks = {}        # (schema, table, constraint) -> column, NOT VALID
        self.findings = []
        self.suppressed = []
        self.files_checked = []
        self.statements_checked = 0
        self._in_tx = False
        self._tx_full_updates = set()
        self._created_later = {}
        self._stmt_index = 0

    # -- input -----------------------------------------------------------------------------

    def add_file(self, path, display_path=None):
        self.add_source(display_path or path, read_migration(path, self.max_file_size))

    def add_source(self, path, text):
        """Check one migration's SQL text; raises MigrationInputError when it does not parse."""
        if not HAS_PGLAST:
            raise RuntimeError("pglast is required")
        # the JSON trees are many small acyclic dicts: the cyclic collector would only walk
        # them again and again (20-50 % of the time on small files), so it waits
        collect = gc.isenabled()
        gc.disable()
        try:
            self._add_source(path, text)
        finally:
            if collect:
                gc.enable()

    def _add_source(self, path, text):
        # libpg_query reads a C string: it would stop at a NUL and check nothing after it
        nul = text.find("\x00")
        if nul >= 0:
            raise MigrationInputError(path, _Lines(text).of(nul), "binary content (NUL "
                                      "character): a migration must be a UTF-8 text .sql file")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MigrationInputError(path, _Lines(text).of(exc.start), "not valid UTF-8 text "
                                      "(lone surrogate at offset %d)" % exc.start)
        if not self.include_down:
            text = up_section(text)
        lines = _Lines(text)
        try:
            slices = split(text, with_parser=True, only_slices=True)
        except ParseError as exc:
            loc = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            raise MigrationInputError(path, lines.of(loc) if loc is not None else None,
                                      "SQL does not parse: %s" % exc.args[0])
        self.files_checked.append(path)
        self._in_tx = False
        self._tx_full_updates = set()
        spans = [(sl.start, sl.stop) for sl in slices]
        comments = self._comments(text, spans, lines) if "veza:allow" in text.lower() else {}
        trees = []
        for start, end in spans:
            lead = _LEAD_RE.match(text, start, end)
            if lead is None or lead.group(0).upper() not in _PARSED_LEADS:
                trees.append(())
                continue
            head = index = None
            if lead.group(0).upper() == "CREATE":
                head = _CREATE_TABLE_RE.match(text, start, end)
                index = None if head else _CREATE_INDEX_RE.match(text, start, end)
            if head is not None:
                # CREATE TABLE only names a new table: read the name, skip the (large) tree
                trees.append(({"stmt": {"CreateStmt": {
                    "relation": _head_relation(head), "if_not_exists": bool(head.group("ine"))}}},))
            elif index is not None and (index.group("idx") or "").upper() not in ("ON", "CONCURRENTLY"):
                # so does CREATE INDEX: its name, its table, CONCURRENTLY, IF NOT EXISTS
                trees.append(({"stmt": {"IndexStmt": {
                    "idxname": _ident(index.group("idx")), "relation": _head_relation(index),
                    "concurrent": bool(index.group("conc")),
                    "if_not_exists": bool(index.group("ine"))}}},))
            else:
                trees.append(None)  # parsed below, with the others, in one call
        wanted = [i for i, tree in enumerate(trees) if tree is None]
        if wanted:
            raws = _parse("\n;\n".join(text[spans[i][0]:spans[i][1]] for i in wanted))
            if len(raws) != len(wanted):  # pragma: no cover - one statement per split slice
                raws = [_parse(text[spans[i][0]:spans[i][1]]) for i in wanted]
            else:
                raws = [(raw,) for raw in raws]
            for i, tree in zip(wanted, raws):
                trees[i] = tree
        self._created_later = self._creations(trees)
        self.statements_checked += len(spans)
        for idx, (start, end) in enumerate(spans):
            if not trees[idx] and idx not in comments:
                continue  # no rule can match it, no comment to read
            stmt = _Stmt(path, None, text[start:end], lines, start)
            self._stmt_index = idx
            for raw in trees[idx]:
                self._check(raw["stmt"], stmt)
            self._apply_suppressions(stmt, comments.get(idx, []))
        for line, body in comments.get(None, []):
            if _SUPPRESS_RE.search(body):
                orphan = _Stmt(path, line, body)
                self._add(orphan, "invalid-suppression",
                          "veza:allow comment is not attached to any statement")
                self.findings.extend(orphan.findings)

    @staticmethod
    def _creations(trees):
        """{(kind, key): index of the last statement of the file that creates it} for views,
        functions, types and triggers: a DROP followed by a CREATE of the same name in the same
        migration (one transaction) replaces the object, it does not remove it."""
        out = {}
        for idx, raws in enumerate(trees):
            for raw in raws:
                kind, node = _node(raw["stmt"])
                key = None
                if kind == "ViewStmt":
                    key = ("relation", _rel_key(node["view"]))
                elif kind == "CreateTableAsStmt" and node.get("objtype") == "OBJECT_MATVIEW":
                    key = ("relation", _rel_key((node.get("into") or {}).get("rel") or {}))
                elif kind == "CreateFunctionStmt":
                    key = ("function", _names_key(_strings(node.get("funcname"))))
                elif kind == "CreateEnumStmt":
                    key = ("type", _names_key(_strings(node.get("typeName"))))
                elif kind == "CreateDomainStmt":
                    key = ("type", _names_key(_strings(node.get("domainname"))))
                elif kind == "CompositeTypeStmt":
                    key = ("type", _rel_key(node["typevar"]))
                elif kind == "CreateTrigStmt":
                    key = ("trigger", _rel_key(node["relation"]) + (node.get("trigname"),))
                if key is not None:
                    out[key] = idx
        return out

    def _recreated(self, kind, key):
        """True when a later statement of this file creates the object again."""
        return self._created_later.get((kind, key), -1) > self._stmt_index

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

    def _table_is_empty(self, key):
        """For lock warnings: a table created in the set, even with IF NOT EXISTS (it is new,
        or left by a failed run of the same migration), has no rows to lock for long."""
        return key in self.new_tables or key in self.maybe_new_tables

    def _column_is_new(self, key, column):
        return key in self.new_tables or (key[0], key[1], column) in self.added_columns

    def _check(self, wrapped, stmt, inner_sql=None):
        kind, node = _node(wrapped)
        handler = getattr(self, "_on_" + kind, None) if kind else None
        if handler is not None:
            handler(node, stmt, inner_sql)

    def _on_TransactionStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        kind = node.get("kind")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            self._in_tx = True
            self._tx_full_updates = set()
        elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE",
                      "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"):
            self._in_tx = False
            self._tx_full_updates = set()

    def _on_CreateStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        key = _rel_key(node["relation"])
        if not node.get("if_not_exists"):
            self.new_tables.add(key)
        elif key not in self.new_tables:
            self.maybe_new_tables.add(key)

    def _on_CreateTableAsStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        into = node.get("into") or {}
        if not into.get("rel"):
            return
        key = _rel_key(into["rel"])
        if not node.get("if_not_exists"):
            self.new_tables.add(key)
        elif key not in self.new_tables:
            self.maybe_new_tables.add(key)

    def _on_ViewStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        if not node.get("replace"):
            self.new_tables.add(_rel_key(node["view"]))

    def _on_CreateEnumStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        self.new_types.add(_names_key(_strings(node.get("typeName"))))

    def _on_CreateDomainStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        self.new_types.add(_names_key(_strings(node.get("domainname"))))

    def _on_CompositeTypeStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        self.new_types.add(_rel_key(node["typevar"]))

    def _on_CreateTrigStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        if not node.get("replace"):
            self.new_triggers.add(_rel_key(node["relation"]) + (node.get("trigname"),))

    def _on_UpdateStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        key = _rel_key(node["relation"])
        if node.get("whereClause") is None and not self._table_is_new(key):
            self._tx_full_updates.add(key)

    def _on_IndexStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        key = _rel_key(node["relation"])
        if node.get("concurrent") and self._in_tx:
            self._add(stmt, "concurrently-in-transaction",
                      "CREATE INDEX CONCURRENTLY inside BEGIN ... COMMIT fails at run time", sql)
        elif not node.get("concurrent") and not self._table_is_empty(key):
            label = node["idxname"] + " " if node.get("idxname") else ""
            self._add(stmt, "index-not-concurrent",
                      "CREATE INDEX %son existing table %s blocks writes while it builds; use "
                      "CREATE INDEX CONCURRENTLY" % (label, _fmt(key)), sql)
        if node.get("idxname") and not node.get("if_not_exists"):
            self.new_indexes.add((key[0], node["idxname"]))

    def _on_ReindexStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        params = [_node(p)[1].get("defname") for p in node.get("params") or ()]
        if "concurrently" not in params:
            what = node.get("kind", "").replace("REINDEX_OBJECT_", "")
            name = node["relation"]["relname"] if node.get("relation") else node.get("name", "")
            self._add(stmt, "reindex-not-concurrent",
                      "REINDEX %s %s without CONCURRENTLY blocks writes while it rebuilds"
                      % (what, name), sql)

    def _on_VacuumStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        opts = [_node(o)[1].get("defname") for o in node.get("options") or ()]
        if node.get("is_vacuumcmd") and "full" in opts:
            self._add(stmt, "table-rewrite", "VACUUM FULL rewrites each table under ACCESS "
                      "EXCLUSIVE (no reads, no writes) for its whole run", sql)

    def _on_ClusterStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        rel = node.get("relation")
        if rel is not None and self._table_is_new(_rel_key(rel)):
            return
        self._add(stmt, "table-rewrite", "CLUSTER %s rewrites the table under ACCESS EXCLUSIVE "
                  "(no reads, no writes) for its whole run"
                  % (_fmt(_rel_key(rel)) if rel else "(every clustered table)"), sql)

    def _on_AlterTableStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        key = _rel_key(node["relation"])
        objtype = node.get("objtype")
        for wrapped in node.get("cmds") or ():
            cmd = _node(wrapped)[1]
            sub = cmd.get("subtype")
            name = cmd.get("name")
            if sub == "AT_AddColumn":
                self._add_column(key, cmd, stmt, sql)
            elif sub == "AT_DropColumn" and not self._column_is_new(key, name):
                self._add(stmt, "drop-column",
                          "DROP COLUMN %s.%s: the running binary still uses it%s"
                          % (_fmt(key), name,
                             " (IF EXISTS does not make it safe)" if cmd.get("missing_ok") else ""),
                          sql)
            elif sub == "AT_AlterColumnType" and not self._column_is_new(key, name):
                # the rewrite this may cause is in change-column-type's reason; a column this
                # set adds is not flagged (the labelled case "TYPE change of a column added
                # earlier in the set" is safe)
                self._add(stmt, "change-column-type",
                          "ALTER COLUMN %s.%s TYPE changes what the running binary reads and "
                          "writes" % (_fmt(key), name), sql)
            elif sub == "AT_SetNotNull":
                self._set_not_null(key, name, stmt, sql, "SET NOT NULL")
            elif sub == "AT_ColumnDefault":
                self._column_default(key, name, cmd.get("def"), stmt, sql)
            elif sub == "AT_AddConstraint" and objtype == "OBJECT_TABLE":
                self._add_constraint(key, _node(cmd.get("def"))[1], stmt, sql)
            elif sub == "AT_ValidateConstraint":
                col = self._pending_checks.pop((key[0], key[1], name), None)
                if col is not None:
                    self.valid_not_null.add((key[0], key[1], col))
            elif sub in ("AT_SetLogged", "AT_SetUnLogged") and not self._table_is_new(key):
                self._add(stmt, "table-rewrite",
                          "SET %s rewrites %s under ACCESS EXCLUSIVE (no reads, no writes)"
                          % ("LOGGED" if sub == "AT_SetLogged" else "UNLOGGED", _fmt(key)), sql)

    def _set_not_null(self, key, column, stmt, sql, how):
        if self._table_is_new(key):
            return
        ckey = (key[0], key[1], column)
        info = self.added_columns.get(ckey)
        blocking = True
        if info is None:
            self._add(stmt, "set-not-null",
                      "%s on %s.%s: the running binary may still insert NULL"
                      % (how, _fmt(key), column), sql)
        elif not info["default"]:
            self._add(stmt, "set-not-null",
                      "%s on %s.%s, a column this set adds to an existing table without a "
                      "default: the running binary does not know the column, so its inserts "
                      "leave it NULL and fail" % (how, _fmt(key), column), sql)
        else:
            blocking = False
        if info is not None:
            info["not_null"] = True
        if key in self._tx_full_updates:
            self._add(stmt, "backfill-in-transaction",
                      "UPDATE of every row of %s, then %s in the same transaction: the row locks "
                      "of the whole table are held until COMMIT, then the table is scanned "
                      "under ACCESS EXCLUSIVE" % (_fmt(key), how), sql)
        elif not blocking and ckey not in self.valid_not_null:
            self._add(stmt, "set-not-null-scan",
                      "%s on %s.%s scans the whole table under ACCESS EXCLUSIVE: no valid CHECK "
                      "(%s IS NOT NULL) proves it first" % (how, _fmt(key), column, column), sql)

    def _column_default(self, key, column, default, stmt, sql):
        kind, fields = _node(default)
        dropped = default is None or (kind == "A_Const" and fields.get("isnull"))
        if self._table_is_new(key):
            return
        info = self.added_columns.get((key[0], key[1], column))
        if info is not None:
            if dropped and info["not_null"]:
                self._add(stmt, "drop-default",
                          "DROP DEFAULT on %s.%s, a NOT NULL column this set adds to an existing "
                          "table: the running binary does not know the column, so its inserts "
                          "fail without the default" % (_fmt(key), column), sql)
            info["default"] = not dropped
        elif dropped:
            self._add(stmt, "drop-default",
                      "DROP DEFAULT on %s.%s: inserts of the running binary that omit the "
                      "column get NULL (or fail on NOT NULL)" % (_fmt(key), column), sql)

    def _add_column(self, key, cmd, stmt, sql):
        col = _node(cmd.get("def"))[1]
        cons = [_node(c)[1] for c in col.get("constraints") or ()]
        contypes = [c.get("contype") for c in cons]
        names = _strings((col.get("typeName") or {}).get("names"))
        serial = bool(names) and names[-1].lower() in _SERIAL_TYPES
        null_default = any(c.get("contype") == "CONSTR_DEFAULT"
                           and _node(c.get("raw_expr"))[1].get("isnull") for c in cons)
        has_default = (("CONSTR_DEFAULT" in contypes and not null_default)
                       or "CONSTR_IDENTITY" in contypes or "CONSTR_GENERATED" in contypes or serial)
        not_null = "CONSTR_NOTNULL" in contypes or "CONSTR_PRIMARY" in contypes
        colname = col.get("colname")
        if self._table_is_new(key):
            return
        if not_null and not has_default:
            self._add(stmt, "add-column-not-null-no-default",
                      "ADD COLUMN %s.%s NOT NULL without DEFAULT: inserts from the running "
                      "binary fail" % (_fmt(key), colname), sql)
        volatile = self._volatile_default(cons, serial, self.stable_functions)
        if volatile:
            self._add(stmt, "volatile-default",
                      "ADD COLUMN %s.%s with %s rewrites the table"
                      % (_fmt(key), colname, volatile), sql)
        if "CONSTR_FOREIGN" in contypes:
            self._add(stmt, "constraint-not-valid",
                      "ADD COLUMN %s.%s REFERENCES validates the new foreign key and locks "
                      "both tables against writes; add the column, then ADD CONSTRAINT ... "
                      "FOREIGN KEY ... NOT VALID and VALIDATE it later" % (_fmt(key), colname),
                      sql)
        if "CONSTR_PRIMARY" in contypes or "CONSTR_UNIQUE" in contypes:
            self._add(stmt, "constraint-builds-index",
                      "ADD COLUMN %s.%s with PRIMARY KEY/UNIQUE builds an index while "
                      "blocking writes" % (_fmt(key), colname), sql)
        if not cmd.get("missing_ok"):
            self.added_columns[(key[0], key[1], colname)] = dict(not_null=not_null,
                                                                 default=has_default)

    @staticmethod
    def _volatile_default(cons, serial, stable_funcs):
        if serial:
            return "a serial type (nextval default)"
        for con in cons:
            contype = con.get("contype")
            if contype == "CONSTR_IDENTITY":
                return "an identity"
            if contype == "CONSTR_GENERATED":
                return "a stored generated expression"
            if contype == "CONSTR_DEFAULT" and con.get("raw_expr") is not None:
                for sub in _walk_json(con["raw_expr"]):
                    call = sub.get("FuncCall")
                    if call is None:
                        continue
                    parts = _strings(call.get("funcname"))
                    fname = parts[-1].lower()
                    if fname in _VOLATILE_FUNCS:
                        return "volatile default %s()" % fname
                    if fname in _NON_VOLATILE_FUNCS or parts[0] == "pg_catalog":
                        continue
                    vol = stable_funcs.get(_names_key(parts))
                    if vol is None:
                        return ("default %s(), a function not known to be IMMUTABLE or STABLE "
                                "(CREATE FUNCTION makes it VOLATILE unless it says otherwise)"
                                % ".".join(parts))
        return None

    @staticmethod
    def _not_null_check_column(con):
        """The column of CHECK (col IS NOT NULL), else None."""
        kind, test = _node(con.get("raw_expr"))
        if kind != "NullTest" or test.get("nulltesttype") != "IS_NOT_NULL":
            return None
        akind, arg = _node(test.get("arg"))
        fields = _strings(arg.get("fields")) if akind == "ColumnRef" else ()
        return fields[-1] if len(fields) == 1 else None

    def _add_constraint(self, key, con, stmt, sql):
        if self._table_is_new(key):
            return
        contype = con.get("contype", "")
        name = con.get("conname") or contype[7:].lower()
        if contype == "CONSTR_NOTNULL":
            # PostgreSQL 18: ALTER TABLE t ADD CONSTRAINT n NOT NULL col is a SET NOT NULL
            for column in _strings(con.get("keys")):
                self._set_not_null(key, column, stmt, sql, "ADD CONSTRAINT %s NOT NULL" % name)
            return
        if contype == "CONSTR_CHECK":
            column = self._not_null_check_column(con)
            if column is not None:
                info = self.added_columns.get((key[0], key[1], column))
                if info is not None and not info["default"]:
                    self._add(stmt, "set-not-null",
                              "CHECK (%s IS NOT NULL) on %s.%s, a column this set adds to an "
                              "existing table without a default: the running binary does not "
                              "know the column, so its inserts fail the check (NOT VALID "
                              "checks new rows too)" % (column, _fmt(key), column), sql)
                if con.get("skip_validation"):
                    self._pending_checks[(key[0], key[1], con.get("conname"))] = column
                else:
                    self.valid_not_null.add((key[0], key[1], column))
        if self._table_is_empty(key):
            return
        if contype in ("CONSTR_CHECK", "CONSTR_FOREIGN") and not con.get("skip_validation"):
            self._add(stmt, "constraint-not-valid",
                      "ADD CONSTRAINT %s on %s validates every row while blocking writes; add "
                      "it NOT VALID and VALIDATE it later" % (name, _fmt(key)), sql)
        elif (contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_EXCLUSION")
              and not con.get("indexname")):
            self._add(stmt, "constraint-builds-index",
                      "ADD CONSTRAINT %s on %s builds an index while blocking writes; build it "
                      "CONCURRENTLY and add the constraint USING INDEX" % (name, _fmt(key)), sql)

    def _on_RenameStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        rtype = node.get("renameType")
        if rtype in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE", "OBJECT_AGGREGATE"):
            fkey = _names_key(_object_names(node.get("object")))
            if fkey in self.new_functions:
                self.new_functions.add((fkey[0], node.get("newname")))
            else:
                self._add(stmt, "rename-function", "RENAME %s %s TO %s: the running binary calls "
                          "the old name" % (rtype[7:], _fmt(fkey), node.get("newname")), sql)
            return
        if rtype in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
            tkey = _names_key(_object_names(node.get("object")))
            if tkey in self.new_types:
                self.new_types.add((tkey[0], node.get("newname")))
            else:
                self._add(stmt, "rename-type", "RENAME %s %s TO %s: the running binary uses the "
                          "old name" % (rtype[7:], _fmt(tkey), node.get("newname")), sql)
            return
        if node.get("relation") is None:
            return
        key = _rel_key(node["relation"])
        if rtype == "OBJECT_COLUMN":
            old, new = node.get("subname"), node.get("newname")
            if self._column_is_new(key, old):
                info = self.added_columns.pop((key[0], key[1], old), None)
                if info is not None:
                    self.added_columns[(key[0], key[1], new)] = info
            else:
                self._add(stmt, "rename-column",
                          "RENAME COLUMN %s.%s TO %s: the running binary uses the old name"
                          % (_fmt(key), old, new), sql)
        elif rtype in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"):
            if self._table_is_new(key):
                self.new_tables.add((key[0], node.get("newname")))
            else:
                rule = "rename-table" if rtype in ("OBJECT_TABLE", "OBJECT_FOREIGN_TABLE") else "rename-view"
                self._add(stmt, rule, "RENAME %s TO %s: the running binary uses the old name"
                          % (_fmt(key), node.get("newname")), sql)

    def _on_AlterObjectSchemaStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        otype = node.get("objectType")
        newschema = node.get("newschema")
        if otype in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE", "OBJECT_AGGREGATE"):
            fkey = _names_key(_object_names(node.get("object")))
            if fkey not in self.new_functions:
                self._add(stmt, "rename-function", "SET SCHEMA %s on %s %s: the running binary "
                          "calls the old qualified name" % (newschema, otype[7:], _fmt(fkey)), sql)
            return
        if otype in ("OBJECT_TYPE", "OBJECT_DOMAIN"):
            tkey = _names_key(_object_names(node.get("object")))
            if tkey not in self.new_types:
                self._add(stmt, "rename-type", "SET SCHEMA %s on %s %s: the running binary uses "
                          "the old qualified name" % (newschema, otype[7:], _fmt(tkey)), sql)
            return
        if node.get("relation") is None or otype not in ("OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW"):
            return
        key = _rel_key(node["relation"])
        if self._table_is_new(key):
            self.new_tables.add((newschema, key[1]))
        else:
            self._add(stmt, "rename-table" if otype == "OBJECT_TABLE" else "rename-view",
                      "SET SCHEMA %s on %s: the running binary uses the old qualified name"
                      % (newschema, _fmt(key)), sql)

    def _on_AlterEnumStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        tkey = _names_key(_strings(node.get("typeName")))
        if node.get("oldVal") is not None and tkey not in self.new_types:
            self._add(stmt, "rename-type",
                      "RENAME VALUE '%s' TO '%s' of enum %s: the running binary still sends "
                      "'%s'" % (node["oldVal"], node.get("newVal"), _fmt(tkey), node["oldVal"]),
                      sql)

    def _on_AlterDomainStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        kind, con = _node(node.get("def"))
        if node.get("subtype") == "C" and kind == "Constraint" and not con.get("skip_validation"):
            self._add(stmt, "constraint-not-valid",
                      "ALTER DOMAIN %s ADD CONSTRAINT %s checks every column of that domain in "
                      "every table while blocking writes; add it NOT VALID and VALIDATE it later"
                      % (".".join(_strings(node.get("typeName"))), con.get("conname") or "(unnamed)"),
                      sql)

    def _on_DropdbStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        self._add(stmt, "drop-database", "DROP DATABASE %s removes everything both binaries use%s"
                  % (node.get("dbname"),
                     " (IF EXISTS does not make it safe)" if node.get("missing_ok") else ""), sql)

    def _on_TruncateStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        keys = [_rel_key(_node(r)[1]) for r in node.get("relations") or ()]
        old = [k for k in keys if not self._table_is_new(k)]
        cascade = node.get("behavior") == "DROP_CASCADE"
        if old or cascade:
            self._add(stmt, "truncate-table",
                      "TRUNCATE %s deletes rows the running binary reads%s"
                      % (", ".join(_fmt(k) for k in (old or keys)),
                         "; CASCADE also empties every table that references it" if cascade else ""),
                      sql)

    # removeType -> (rule, set of objects new in the set, kind re-created later in the file)
    _DROP_RULES = {
        "OBJECT_TABLE": ("drop-table", "new_tables", None),
        "OBJECT_FOREIGN_TABLE": ("drop-table", "new_tables", None),
        "OBJECT_VIEW": ("drop-view", "new_tables", "relation"),
        "OBJECT_MATVIEW": ("drop-view", "new_tables", "relation"),
        "OBJECT_FUNCTION": ("drop-function", "new_functions", "function"),
        "OBJECT_PROCEDURE": ("drop-function", "new_functions", "function"),
        "OBJECT_ROUTINE": ("drop-function", "new_functions", "function"),
        "OBJECT_AGGREGATE": ("drop-function", "new_functions", "function"),
        "OBJECT_TYPE": ("drop-type", "new_types", "type"),
        "OBJECT_DOMAIN": ("drop-type", "new_types", "type"),
    }

    def _on_DropStmt(self, node, stmt, sql):  # pylint: disable=invalid-name
        rtype = node.get("removeType")
        objects = node.get("objects") or ()
        if rtype == "OBJECT_SCHEMA":
            for obj in objects:
                name = _sval(obj)
                if not any(t[0] == name for t in self.new_tables):
                    self._add(stmt, "drop-schema", "DROP SCHEMA %s drops everything in it" % name,
                              sql)
            return
        if rtype == "OBJECT_INDEX":
            if node.get("concurrent") and self._in_tx:
                self._add(stmt, "concurrently-in-transaction",
                          "DROP INDEX CONCURRENTLY inside BEGIN ... COMMIT fails at run time", sql)
            elif not node.get("concurrent"):
                names = [_names_key(_object_names(o)) for o in objects]
                if any(n not in self.new_indexes for n in names):
                    self._add(stmt, "drop-index-not-concurrent",
                              "DROP INDEX %s without CONCURRENTLY locks its table"
                              % ", ".join(_fmt(n) for n in names), sql)
            return
        if rtype == "OBJECT_TRIGGER":
            for obj in objects:
                parts = _object_names(obj)
                tkey = _names_key(parts[:-1]) + (parts[-1],)
                if (tkey[:2] in self.new_tables or tkey in self.new_triggers
                        or self._recreated("trigger", tkey)):
                    continue
                why = " (IF EXISTS does not make it safe)" if node.get("missing_ok") else ""
                self._add(stmt, "drop-trigger", "DROP TRIGGER %s ON %s: the work it does for the "
                          "running binary stops%s" % (parts[-1], _fmt(tkey[:2]), why), sql)
            return
        rule, attr, kind = self._DROP_RULES.get(rtype, (None, None, None))
        if rule is None:
            return
        new = getattr(self, attr)
        for obj in objects:
            key = _names_key(_object_names(obj))
            if key in new or (kind is not None and self._recreated(kind, key)):
                continue
            self._add(stmt, rule, "DROP %s %s: the running binary still uses it%s"
                      % (rtype[7:].replace("_", " "), _fmt(key),
                         " (IF EXISTS does not make it safe)" if node.get("missing_ok") else ""), sql)

    @staticmethod
    def _body(defelems, key, lang="sql"):
        body = None
        for wrapped in defelems or ():
            opt = _node(wrapped)[1]
            if opt.get("defname") == "language":
                lang = _sval(opt.get("arg")).lower()
            elif opt.get("defname") == key:
                kind, arg = _node(opt.get("arg"))
                if kind == "List":
                    items = arg.get("items") or ()
                    body = _sval(items[0]) if len(items) == 1 else None
                elif kind == "String":
                    body = arg.get("sval")
        return lang, body

    @staticmethod
    def _plpgsql(body):
        """Read a PL/pgSQL body: (static SQL statements, dynamic EXECUTE expressions), in body
        order, or None when it does not parse."""
        tag = "veza_body"
        while "$%s$" % tag in body:
            tag += "_"
        wrapper = ("CREATE FUNCTION veza_check() RETURNS void LANGUAGE plpgsql AS $%s$%s$%s$"
                   % (tag, body, tag))
        try:
            tree = json.loads(parse_plpgsql_json(wrapper))
        except Exception:  # pylint: disable=broad-except
            return None
        statics, dynamic = [], []
        for obj in _walk_json(tree):
            for kind in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
                if kind in obj:
                    query = obj[kind].get("query", {}).get("PLpgSQL_expr", {}).get("query", "")
                    dynamic.append(query)
            if "PLpgSQL_stmt_execsql" in obj:
                query = obj["PLpgSQL_stmt_execsql"].get("sqlstmt", {}).get(
                    "PLpgSQL_expr", {}).get("query")
                if query:
                    statics.append(query)
        return statics, dynamic

    def _check_inner(self, query, stmt):
        try:
            inner = _parse(query)
        except ParseError:
            return
        for raw in inner:
            self._check(raw["stmt"], stmt, inner_sql=query)

    def _on_DoStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        lang, body = self._body(node.get("args"), "as", "plpgsql")
        if lang != "plpgsql" or body is None:
            self._add(stmt, "do-block", "DO block in language %s: the checker cannot see into it"
                      % lang)
            return
        parsed = self._plpgsql(body)
        if parsed is None:
            self._add(stmt, "do-block", "DO block whose PL/pgSQL body does not parse")
            return
        statics, dynamic = parsed
        for expr in dynamic:
            constant = _constant_string(expr)
            if constant is not None:
                statics.append(constant)
            else:
                self._add(stmt, "dynamic-sql",
                          "DO block runs EXECUTE %s, a string built at run time: the checker "
                          "cannot see that SQL (every other statement of the block was checked)"
                          % _short(expr)[:80])
        for query in statics:
            self._check_inner(query, stmt)

    def _on_CreateFunctionStmt(self, node, stmt, sql):  # pylint: disable=invalid-name,unused-argument
        fkey = _names_key(_strings(node.get("funcname")))
        if not node.get("replace"):
            self.new_functions.add(fkey)
        volatility = [_sval(_node(o)[1].get("arg")).lower() for o in node.get("options") or ()
                      if _node(o)[1].get("defname") == "volatility"]
        if volatility and volatility[-1] in ("immutable", "stable"):
            self.stable_functions[fkey] = volatility[-1]
        else:
            self.stable_functions.pop(fkey, None)
        lang, body = self._body(node.get("options"), "as")
        if lang != "plpgsql" or body is None or "execute" not in body.lower():
            # only a dynamic EXECUTE matters in a function body; no word, no parse
            return
        parsed = self._plpgsql(body)
        if parsed is not None and parsed[1]:
            self._add(stmt, "function-dynamic-sql",
                      "%s %s runs EXECUTE of a built string when it is called: what it runs is "
                      "not checked (nothing runs when the migration creates it)"
                      % ("PROCEDURE" if node.get("is_procedure") else "FUNCTION", _fmt(fkey)))


def check_sources(sources, ignore_rules=(), include_down=False):
    """Check [(name, text), ...] in order as one migration set; returns MigrationSet.result()."""
    mset = MigrationSet(ignore_rules, include_down=include_down)
    for name, text in sources:
        mset.add_source(name, text)
    return mset.result()
