# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The one client for the HAProxy runtime API (stats socket, unix or TCP), standard library only.

Every caller goes through it: the haproxy_server_state module (with the drain policy of
``_drain.py``), the unit and integration tests, the benchmarks, the Molecule verifier (which runs
this file with the host's python3) and the lab (plain import:
``ansible_collections.veza.infra.plugins.module_utils._haproxy``). It imports nothing outside the
standard library, so it can also run as a single file.

One command per connection: HAProxy answers and closes the connection (non-interactive mode), so
an error in one command never leaks into the next. Every connection has an explicit timeout.

::

    rt = HAProxyRuntime("/run/haproxy/admin.sock", timeout=5)   # or "127.0.0.1:9100"
    rt.server("api_pool", "s1")["admin_state"]                  # 'ready' | 'drain' | 'maint'
    rt.set_server_state("api_pool", "s1", "drain")                # returns the command it sent
    rt.wait_for("api_pool", "s1", lambda v: v["scur"] == 0, timeout=30)
    rt.command("show info")                                      # raw text

Errors are typed (all derive from HAProxyRuntimeError): HAProxyAddressError (malformed socket
address), HAProxyUnreachable (no socket / nothing listening), HAProxyPermissionDenied (socket file
not accessible, or socket below ``level admin``), HAProxyTimeout, HAProxyCommandError (HAProxy's
own error text) and its subclass HAProxyNotFound (missing backend or server, with what exists).
"""
from __future__ import annotations

import errno
import math
import os
import re
import socket
import stat
import time

DEFAULT_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 3600.0   # s; socket timeouts above this are refused (settimeout overflows near 1e308)

# srv_admin_state bits (include/haproxy/server-t.h, enum srv_admin)
ADMF_FMAINT = 0x01   # forced into maintenance (CLI / "disabled")
ADMF_IMAINT = 0x02   # maintenance inherited from a tracked server
ADMF_CMAINT = 0x04   # maintenance from the configuration ("disabled" keyword)
ADMF_FDRAIN = 0x08   # forced into drain (CLI)
ADMF_IDRAIN = 0x10   # drain inherited from a tracked server
ADMF_RMAINT = 0x20   # maintenance after a DNS resolution failure
ADMF_HMAINT = 0x40   # FQDN set from the CLI (not a maintenance state)
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_RMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN
ADMIN_FLAG_NAMES = ((ADMF_FMAINT, "FMAINT"), (ADMF_IMAINT, "IMAINT"), (ADMF_CMAINT, "CMAINT"),
                    (ADMF_FDRAIN, "FDRAIN"), (ADMF_IDRAIN, "IDRAIN"), (ADMF_RMAINT, "RMAINT"),
                    (ADMF_HMAINT, "HMAINT"))

# srv_op_state (enum srv_state)
OP_STATES = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}

# srv_check_state / srv_agent_state bits (include/haproxy/check-t.h)
CHK_ST_CONFIGURED = 0x0002
CHK_ST_ENABLED = 0x0004
CHK_ST_PAUSED = 0x0008

SERVER_STATES = ("ready", "drain", "maint")

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_WEIGHT_RE = re.compile(r"^\s*([0-9]+)\s*(%?)\s*$", re.ASCII)   # ASCII digits only: "\u0665" is not 5
_INT_RE = re.compile(r"^-?[0-9]+$", re.ASCII)
# balance algorithms that only take weights 0% and 100% whatever the hash-type (no BE_LB_PROP_DYN;
# measured on HAProxy 2.6.12: static-rr refuses "set weight x/y 5", first accepts it); map-based hashes
# (source, uri, hdr, ...) are static too, unless hash-type consistent, which "show stat" does not tell:
# for those HAProxy's answer is the judge.
STATIC_ALGOS = frozenset(("static-rr",))
HASH_ALGOS = frozenset(("source", "uri", "url_param", "hdr", "rdp-cookie"))

# show stat columns that stay strings even when they look numeric
_STAT_STR_FIELDS = frozenset((
    "pxname", "svname", "status", "check_status", "last_chk", "last_agt", "agent_status",
    "check_desc", "agent_desc", "addr", "cookie", "mode", "algo", "tracked",
))
_STATE_STR_FIELDS = frozenset((
    "be_name", "srv_name", "srv_addr", "srv_fqdn", "srvrecord", "srv_check_addr", "srv_agent_addr",
))


class HAProxyRuntimeError(Exception):
    """Base class: every failure of this client."""

    def __init__(self, message, address=None):
        super().__init__(message)
        self.message = message
        self.address = address


class HAProxyAddressError(HAProxyRuntimeError, ValueError):
    """A socket address or a name that cannot be used (bad syntax)."""


class HAProxyUnreachable(HAProxyRuntimeError):
    """Nothing answers at the address (missing socket file, connection refused, no route)."""


class HAProxyPermissionDenied(HAProxyRuntimeError):
    """The socket file is not accessible, or the socket is not at ``level admin``."""


class HAProxyTimeout(HAProxyRuntimeError):
    """Connect or read took longer than the timeout."""


class HAProxyCommandError(HAProxyRuntimeError):
    """HAProxy answered with an error text (``output`` holds it, ``command`` the command)."""

    def __init__(self, message, address=None, command=None, output=None):
        super().__init__(message, address)
        self.command = command
        self.output = output


class HAProxyNotFound(HAProxyCommandError):
    """A backend or server does not exist; ``kind``, ``name`` and ``available`` say what does."""

    def __init__(self, kind, name, available, address=None, backend=None):
        where = " in backend %s" % backend if backend else ""
        msg = "no %s named %r%s; %ss that exist: %s" % (
            kind, name, where, kind, ", ".join(available) if available else "(none)")
        super().__init__(msg, address)
        self.kind = kind
        self.name = name
        self.available = list(available)
        self.backend = backend


# --------------------------------------------------------------------------------------------
# addresses and input
# --------------------------------------------------------------------------------------------
def parse_address(address):
    """Split a stats socket address into ``(family, sockaddr)``.

    Accepts a unix path (``/run/haproxy/admin.sock``, ``unix@/path``, ``./rel.sock``), or TCP
    ``host:port``, ``tcp://host:port``, ``ipv4@host:port``, ``ipv6@[::1]:port``, ``[::1]:port``.
    Raises HAProxyAddressError on anything else.
    """
    if not isinstance(address, str) or not address.strip():
        raise HAProxyAddressError("socket address is empty; give a unix socket path "
                                  "(/run/haproxy/admin.sock) or host:port", address)
    addr = address.strip()
    if addr.startswith("unix@"):
        addr = addr[5:]
        if not addr:
            raise HAProxyAddressError("socket address %r has no path after unix@" % address, address)
        return socket.AF_UNIX, addr
    if addr.startswith(("/", "./", "../", "~")):
        return socket.AF_UNIX, addr
    family = socket.AF_UNSPEC
    for prefix, fam in (("tcp://", socket.AF_UNSPEC), ("ipv4@", socket.AF_INET), ("ipv6@", socket.AF_INET6)):
        if addr.startswith(prefix):
            addr, family = addr[len(prefix):], fam
            break
    else:
        if "://" in addr or "@" in addr:
            raise HAProxyAddressError(
                "socket address %r: unsupported scheme; use a unix path, host:port, tcp://host:port, "
                "ipv4@host:port or ipv6@[addr]:port" % address, address)
    if addr.startswith("["):
        host, sep, rest = addr[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if not sep:
            raise HAProxyAddressError("socket address %r: missing ']' after the IPv6 address" % address, address)
    else:
        host, sep, port = addr.rpartition(":")
        if not sep:
            raise HAProxyAddressError(
                "socket address %r is neither an absolute unix socket path nor host:port" % address, address)
    if not host or not re.match(r"^[0-9]{1,5}$", port, re.ASCII) or not 0 < int(port) < 65536:
        raise HAProxyAddressError("socket address %r: needs a host and a port between 1 and 65535" % address,
                                  address)
    return family, (host, int(port))


def check_name(value, field):
    """Backend/server names go verbatim into CLI commands: refuse anything HAProxy would not name."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise HAProxyAddressError(
            "%s %r is not a valid HAProxy name (letters, digits, '-', '_', '.', ':' only)" % (field, value))
    return value


def parse_weight(weight):
    """``'50%'`` -> ``(50, True)``, ``'7'`` or ``7`` -> ``(7, False)``; HAProxyAddressError otherwise."""
    if isinstance(weight, bool):
        raise HAProxyAddressError("weight %r must be an integer 0-256 or a percentage like '50%%'" % (weight,))
    m = _WEIGHT_RE.match(str(weight))
    if not m:
        raise HAProxyAddressError("weight %r must be an integer 0-256 or a percentage like '50%%'" % (weight,))
    value, pct = int(m.group(1)), bool(m.group(2))
    if not pct and value > 256:
        raise HAProxyAddressError("weight %r is out of range: absolute weights are 0-256" % (weight,))
    return value, pct


def check_seconds(value, field, minimum=0.0, maximum=None, strict=False):
    """A duration in seconds: a finite real number (not a bool, nan or inf), >= ``minimum``
    (> with ``strict``) and <= ``maximum``; HAProxyAddressError naming ``field`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HAProxyAddressError("%s must be a number of seconds, got %r (%s)" % (field, value, type(value).__name__))
    if not math.isfinite(value):
        raise HAProxyAddressError("%s must be a finite number of seconds, got %r" % (field, value))
    if (value <= minimum) if strict else (value < minimum):
        raise HAProxyAddressError("%s must be %s %s (got %r)" % (field, ">" if strict else ">=", minimum, value))
    if maximum is not None and value > maximum:
        raise HAProxyAddressError("%s must be at most %s s (got %r)" % (field, maximum, value))
    return float(value)


def weight_refusal(algo, weight, initial_weight):
    """HAProxy 2.6's refusal of ``set weight`` on a static algorithm, predicted; None if accepted.

    Static algorithms (``STATIC_ALGOS``) take only a user weight of 0 or the configured one
    (``0%`` / ``100%``). Map-based hashes are not predicted (see ``HASH_ALGOS``).
    """
    if algo not in STATIC_ALGOS:
        return None
    target = resolve_weight(weight, initial_weight)
    if target in (0, initial_weight):
        return None
    return ("Backend is using a static LB algorithm (balance %s) and only accepts weights '0%%' and '100%%' "
            "(weight %s would be %d of %d)" % (algo, weight, target, initial_weight))


# --------------------------------------------------------------------------------------------
# commands (the write methods send exactly these; the drain planner reports them)
# --------------------------------------------------------------------------------------------
def _target(backend, server):
    return "%s/%s" % (check_name(backend, "backend"), check_name(server, "server"))


def state_command(backend, server, state):
    if state not in SERVER_STATES:
        raise HAProxyAddressError("state %r must be one of %s" % (state, ", ".join(SERVER_STATES)))
    return "set server %s state %s" % (_target(backend, server), state)


def weight_command(backend, server, weight):
    value, pct = parse_weight(weight)
    return "set weight %s %d%s" % (_target(backend, server), value, "%" if pct else "")


def shutdown_sessions_command(backend, server):
    return "shutdown sessions server %s" % _target(backend, server)


def health_command(backend, server, enabled):
    return "%s health %s" % ("enable" if enabled else "disable", _target(backend, server))


def agent_command(backend, server, enabled):
    return "%s agent %s" % ("enable" if enabled else "disable", _target(backend, server))


def resolve_weight(weight, initial_weight):
    """The user weight HAProxy will set for ``weight`` (as ``set weight`` computes it in 2.6)."""
    value, pct = parse_weight(weight)
    if not pct:
        return value
    return min(initial_weight * min(value, 25600) // 100, 256)


# --------------------------------------------------------------------------------------------
# parsers
# --------------------------------------------------------------------------------------------
def _typed(value, field, str_fields):
    if value == "":
        return None
    if field not in str_fields and _INT_RE.match(value):
        return int(value)
    return value


def parse_stat_csv(text):
    """``show stat`` CSV -> list of dicts; numeric columns as int, empty columns as None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# pxname,"):
        raise HAProxyCommandError("unexpected answer to 'show stat': %s" % _first_line(text),
                                  command="show stat", output=text)
    header = lines[0][2:].split(",")
    rows = []
    for line in lines[1:]:
        values = line.split(",")
        row = {}
        for field, value in zip(header, values):
            if field and field != "-":
                row[field] = _typed(value, field, _STAT_STR_FIELDS)
        rows.append(row)
    return rows


def parse_servers_state(text):
    """``show servers state`` (format version 1) -> list of dicts; ``-`` as None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].strip().isdigit():
        raise HAProxyCommandError("unexpected answer to 'show servers state': %s" % _first_line(text),
                                  command="show servers state", output=text)
    if lines[0].strip() != "1":
        raise HAProxyCommandError("unsupported 'show servers state' format version %s (this client reads 1)"
                                  % lines[0].strip(), command="show servers state", output=text)
    if len(lines) < 2 or not lines[1].startswith("# "):
        raise HAProxyCommandError("'show servers state' answer has no header line",
                                  command="show servers state", output=text)
    header = lines[1][2:].split()
    rows = []
    for line in lines[2:]:
        values = line.split()
        row = {}
        for field, value in zip(header, values):
            row[field] = None if value == "-" else _typed(value, field, _STATE_STR_FIELDS)
        rows.append(row)
    return rows


def parse_info(text):
    """``show info`` -> dict; integer values as int."""
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            value = value.strip()
            info[key.strip()] = int(value) if _INT_RE.match(value) else value
    if "Name" not in info and "Version" not in info:
        raise HAProxyCommandError("unexpected answer to 'show info': %s" % _first_line(text),
                                  command="show info", output=text)
    return info


def admin_flag_names(flags):
    return [name for bit, name in ADMIN_FLAG_NAMES if flags & bit]


def admin_state(flags):
    """Effective admin state from srv_admin_state bits: 'maint' > 'drain' > 'ready'."""
    if flags & ADMF_MAINT:
        return "maint"
    if flags & ADMF_DRAIN:
        return "drain"
    return "ready"


def forced_state(flags):
    """The admin state set through the CLI/config (what ``set server ... state`` controls)."""
    if flags & (ADMF_FMAINT | ADMF_CMAINT):
        return "maint"
    if flags & ADMF_FDRAIN:
        return "drain"
    return "ready"


def merge_server(state_row, stat_row):
    """One server's view from its ``show servers state`` row and its ``show stat`` row."""
    flags = state_row["srv_admin_state"]
    chk, agt = state_row["srv_check_state"] or 0, state_row["srv_agent_state"] or 0
    stat_row = stat_row or {}
    rise, fall, health = stat_row.get("check_rise"), stat_row.get("check_fall"), stat_row.get("check_health")
    return {
        "backend": state_row["be_name"],
        "server": state_row["srv_name"],
        "address": stat_row.get("addr") or state_row["srv_addr"],
        "admin_state": admin_state(flags),
        "forced_admin_state": forced_state(flags),
        "admin_flags": admin_flag_names(flags),
        "inherited": bool(flags & (ADMF_IMAINT | ADMF_IDRAIN | ADMF_RMAINT)),
        "operational_state": OP_STATES.get(state_row["srv_op_state"], str(state_row["srv_op_state"])),
        "status": stat_row.get("status"),
        "scur": stat_row.get("scur") or 0,
        "qcur": stat_row.get("qcur") or 0,
        "stot": stat_row.get("stot") or 0,
        "weight": state_row["srv_uweight"],
        "initial_weight": state_row["srv_iweight"],
        "effective_weight": stat_row.get("weight"),
        "check_status": stat_row.get("check_status"),
        "check_desc": stat_row.get("check_desc"),
        "health_check": ("enabled" if chk & CHK_ST_ENABLED else "disabled") if chk & CHK_ST_CONFIGURED else "none",
        "agent_check": ("enabled" if agt & CHK_ST_ENABLED else "disabled") if agt & CHK_ST_CONFIGURED else "none",
        "fully_up": bool(state_row["srv_op_state"] in (1, 2) and not flags & ADMF_MAINT and (
            not chk & CHK_ST_ENABLED or None in (rise, fall, health) or health >= rise + fall - 1)),
    }


def _first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0] if text else "(empty answer)"


def error_for(command, output, address=None):
    """Map HAProxy's error text to a typed exception (None when ``output`` is empty)."""
    text = (output or "").strip()
    if not text:
        return None
    first = _first_line(text)
    if first.startswith("Permission denied"):
        return HAProxyPermissionDenied(
            "HAProxy refused %r: Permission denied (the stats socket %s is not at 'level admin'; "
            "point 'socket' at a 'stats socket ... level admin')" % (command, address or ""), address)
    if first.startswith("Unknown command"):
        return HAProxyCommandError("HAProxy does not know the command %r (Unknown command)" % command,
                                   address, command, text)
    return HAProxyCommandError("HAProxy refused %r: %s" % (command, first), address, command, text)


# --------------------------------------------------------------------------------------------
# client
# --------------------------------------------------------------------------------------------
class HAProxyRuntime:
    """Runtime API client. ``timeout`` (s) bounds the connect and every read."""

    def __init__(self, address=DEFAULT_SOCKET, timeout=DEFAULT_TIMEOUT):
        self.address = address
        self.family, self.sockaddr = parse_address(address)
        self.timeout = check_seconds(timeout, "timeout", minimum=0, maximum=MAX_TIMEOUT, strict=True)

    # -- transport ------------------------------------------------------------------------
    def _connect(self):
        try:
            if self.family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.sockaddr)
                except BaseException:
                    sock.close()
                    raise
                return sock
            host, port = self.sockaddr
            infos = socket.getaddrinfo(host, port, self.family, socket.SOCK_STREAM)
            last = None
            for fam, kind, proto, _canon, sa in infos:
                sock = socket.socket(fam, kind, proto)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(sa)
                    return sock
                except OSError as exc:
                    sock.close()
                    last = exc
                    if isinstance(exc, socket.timeout):
                        break
            raise last or OSError(errno.EHOSTUNREACH, "no address")
        except socket.timeout:
            raise HAProxyTimeout("no connection to the HAProxy stats socket %s within %ss"
                                 % (self.address, self.timeout), self.address) from None
        except socket.gaierror as exc:
            raise HAProxyUnreachable("cannot resolve the host of the HAProxy stats socket %s: %s"
                                     % (self.address, exc), self.address) from None
        except OSError as exc:
            raise self._os_error(exc) from None

    def _os_error(self, exc):
        where = "HAProxy stats socket %s" % self.address
        if exc.errno in (errno.EACCES, errno.EPERM):
            return HAProxyPermissionDenied("permission denied on the %s (run as a user that may open it, "
                                           "e.g. become: true)" % where, self.address)
        if exc.errno == errno.ENOENT:
            return HAProxyUnreachable("%s does not exist (is HAProxy running, and is this the path of its "
                                      "'stats socket'?)" % where, self.address)
        if exc.errno == errno.ECONNREFUSED and self.family == socket.AF_UNIX:
            try:
                is_sock = stat.S_ISSOCK(os.stat(self.sockaddr).st_mode)
            except OSError:
                is_sock = True
            if not is_sock:
                exc = OSError(errno.ENOTSOCK, "not a socket")
        if exc.errno == errno.ENOTSOCK:
            return HAProxyUnreachable("%s is not a socket (wrong path?)" % where, self.address)
        if exc.errno == errno.ECONNREFUSED:
            return HAProxyUnreachable("connection refused by the %s (HAProxy not running, or no 'stats socket' "
                                      "there)" % where, self.address)
        return HAProxyUnreachable("cannot talk to the %s: %s" % (where, exc.strerror or exc), self.address)

    def command(self, command):
        """Send one command, return HAProxy's answer (trailing blank lines removed).

        Transport failures raise; HAProxy's own error texts are returned as they are (see
        ``execute`` for commands that print nothing on success).
        """
        if "\n" in command or "\r" in command:
            raise HAProxyAddressError("a runtime API command must be one line: %r" % command, self.address)
        sock = self._connect()
        chunks = []
        try:
            sock.sendall(command.encode("utf-8") + b"\n")
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            raise HAProxyTimeout("HAProxy stats socket %s did not answer %r within %ss"
                                 % (self.address, command, self.timeout), self.address) from None
        except OSError as exc:
            raise self._os_error(exc) from None
        finally:
            sock.close()
        return b"".join(chunks).decode("utf-8", "replace").rstrip("\n")

    def execute(self, command):
        """Send a command that prints nothing on success; raise the mapped error otherwise."""
        out = self.command(command)
        err = error_for(command, out, self.address)
        if err is not None:
            raise err
        return out

    # -- reads ----------------------------------------------------------------------------------
    def _show(self, command, parser):
        out = self.command(command)
        try:
            return parser(out)
        except HAProxyCommandError:
            err = error_for(command, out, self.address)
            if isinstance(err, HAProxyPermissionDenied):
                raise err from None
            raise

    def show_stat(self):
        """Every ``show stat`` row (frontends, servers, backends), typed."""
        return self._show("show stat", parse_stat_csv)

    def show_info(self):
        return self._show("show info", parse_info)

    def servers_state(self, backend=None):
        """``show servers state [backend]`` rows (version 1 format), typed."""
        if backend is None:
            return self._show("show servers state", parse_servers_state)
        check_name(backend, "backend")
        out = self.command("show servers state %s" % backend)
        if out.strip().startswith("Can't find backend"):
            raise HAProxyNotFound("backend", backend, self.backends(), self.address)
        return parse_servers_state(out)

    def cli_level(self):
        """'admin', 'operator' or 'user' (``show cli level``, HAProxy >= 2.0), None if unknown."""
        out = self.command("show cli level").strip()
        return out if out in ("admin", "operator", "user") else None

    def backends(self, stat=None):
        """Names of the backends (proxies with a BACKEND row), in configuration order."""
        stat = self.show_stat() if stat is None else stat
        return [r["pxname"] for r in stat if r.get("svname") == "BACKEND"]

    def server(self, backend, server):
        """The merged state of one server; HAProxyNotFound lists what exists when it is missing."""
        check_name(backend, "backend")
        check_name(server, "server")
        stat = self.show_stat()
        if backend not in self.backends(stat):
            raise HAProxyNotFound("backend", backend, self.backends(stat), self.address)
        stat_row = None
        names = []
        for row in stat:
            if row.get("pxname") == backend and row.get("svname") not in ("BACKEND", "FRONTEND"):
                names.append(row["svname"])
                if row["svname"] == server:
                    stat_row = row
        if stat_row is None:
            raise HAProxyNotFound("server", server, names, self.address, backend=backend)
        algo = next((r.get("algo") for r in stat if r.get("pxname") == backend and r.get("svname") == "BACKEND"), None)
        for row in self.servers_state(backend):
            if row["srv_name"] == server:
                return dict(merge_server(row, stat_row), algo=algo)
        raise HAProxyNotFound("server", server, names, self.address, backend=backend)

    def servers(self, backend):
        """The merged state of every server of ``backend`` (configuration order): what the ramp's
        share arithmetic weighs a server against (``_ramp.share_weight``)."""
        check_name(backend, "backend")
        stat = self.show_stat()
        if backend not in self.backends(stat):
            raise HAProxyNotFound("backend", backend, self.backends(stat), self.address)
        rows = dict((r["svname"], r) for r in stat
                    if r.get("pxname") == backend and r.get("svname") not in ("BACKEND", "FRONTEND"))
        return [merge_server(row, rows.get(row["srv_name"])) for row in self.servers_state(backend)]

    def backend_algo(self, backend, stat=None):
        """The ``balance`` algorithm of a backend as ``show stat`` names it (``roundrobin``, ``source``,
        ``static-rr``, ...); None when HAProxy does not say."""
        stat = self.show_stat() if stat is None else stat
        for row in stat:
            if row.get("pxname") == backend and row.get("svname") == "BACKEND":
                return row.get("algo")
        raise HAProxyNotFound("backend", backend, self.backends(stat), self.address)

    # -- writes: each sends one command and returns it ------------------------------------------
    def _send(self, command):
        self.execute(command)
        return command

    def set_server_state(self, backend, server, state):
        return self._send(state_command(backend, server, state))

    def set_weight(self, backend, server, weight):
        return self._send(weight_command(backend, server, weight))

    def shutdown_sessions(self, backend, server):
        return self._send(shutdown_sessions_command(backend, server))

    def set_health(self, backend, server, enabled):
        return self._send(health_command(backend, server, enabled))

    def set_agent(self, backend, server, enabled):
        return self._send(agent_command(backend, server, enabled))

    def wait_for(self, backend, server, predicate, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
        """Poll ``server()`` until ``predicate(view)`` is true; returns ``(view, ok)``.

        Never sleeps past the deadline: the last sleep is cut to what is left of ``timeout``.
        """
        timeout = check_seconds(timeout, "timeout")
        interval = check_seconds(interval, "interval", strict=True)
        deadline = clock() + timeout
        while True:
            view = self.server(backend, server)
            if predicate(view):
                return view, True
            left = deadline - clock()
            if left <= 0:
                return view, False
            sleep(min(interval, left))


def haproxy_common_argument_spec():
    """The socket options every module of the runtime API takes (doc fragment ``veza.infra._haproxy``)."""
    return dict(
        socket=dict(type="str", default=DEFAULT_SOCKET),
        socket_timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )
