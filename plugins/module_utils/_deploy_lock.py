# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The deploy lock: its decision (a pure function), its race-free file operations, and the run's
identity and holder liveness on the controller (used by the deploy_lock action plugin).

Only one holder, ever
=====================
Every change of the lock file (create, take-over, release) happens under a *guard*: an exclusive
``flock(2)`` on the sidecar file ``<path>.guard`` (created once, never removed, so every run locks
the same inode). Under the guard the run reads the lock again and goes on only if it is still the
lock it decided about (same bytes, same inode): a take-over (``break_stale``, ``force``, a dead run
of this controller) replaces exactly the lock that was seen, never one a concurrent run has just
taken; and ``force`` never breaks a lock taken after the run started (``run_started_ago``, a
duration measured on the controller, so clock skew does not matter) nor after this module process
started (same host and clock as the lock: a direct module call is fenced too). A lock whose age is
unknown (both times in the future) is the exception: only force can take it. The new lock is
written to a temp file in the same directory and put in place atomically: ``link(2)`` for a new
lock (fails if one exists), ``rename(2)`` for a take-over. Readers never see a half-written lock.
Local file systems only (the lock lives on the load balancer's disk).

Age of a lock (``created``)
===========================
``created`` is the load balancer's ``time.time()`` when the lock was written. When it is missing,
not a finite number, or more than ``FUTURE_SLACK`` seconds in the future (a clock that went back,
or a hand-written lock), the lock file's modification time is used instead and a warning says so.
If that is in the future too, the age is 0: such a lock is held and never stale by age; only
``force=true`` takes it over.
"""
from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import socket
import stat
import tempfile
import time

FUTURE_SLACK = 300.0   # s of clock difference tolerated before a future ``created`` is not believed
GUARD_TIMEOUT = 10.0   # s to wait for the guard (another run writing the lock holds it for milliseconds)


class LockError(Exception):
    """A lock path or file that cannot be used; the message says what and how to fix it."""


# --------------------------------------------------------------------------------------------
# validation and decision (pure)
# --------------------------------------------------------------------------------------------
def check_params(p):
    """Problems with the parameters, as messages (empty: fine)."""
    problems = []
    for field in ("run_id", "owner"):
        value = p.get(field)
        if value is not None and not str(value).strip():
            problems.append("%s must not be empty: it is how runs tell each other apart%s"
                            % (field, " (leave it unset to let the action plugin compute it)" if field == "run_id"
                               else ""))
    if p.get("state") in ("present", "absent") and p.get("run_id") is None:
        problems.append("run_id is required with state=%s" % p.get("state"))
    if p.get("state") == "present" and p.get("owner") is None:
        problems.append("owner is required with state=present")
    stale_after = p.get("stale_after")
    if isinstance(stale_after, bool) or not isinstance(stale_after, int) or stale_after <= 0:
        problems.append("stale_after must be a positive number of seconds, got %r" % (stale_after,))
    ago = p.get("run_started_ago")
    if ago is not None and (isinstance(ago, bool) or not isinstance(ago, (int, float)) or not math.isfinite(ago)
                            or ago < 0):
        problems.append("run_started_ago must be a finite number of seconds >= 0, got %r" % (ago,))
    for field in ("pid", "pid_start"):
        value = p.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append("%s must be a non-negative integer, got %r" % (field, value))
    return problems


def lock_age(lock, now, mtime=None):
    """``(age, source, warning)`` of a lock: ``source`` is ``created``, ``mtime`` or ``future``."""
    created = lock.get("created")
    value = None
    if not isinstance(created, bool):
        try:
            value = float(created)
        except (TypeError, ValueError):
            value = None
    if value is not None and math.isfinite(value) and value <= now + FUTURE_SLACK:
        return max(0.0, now - value), "created", None
    why = "is in the future" if value is not None and math.isfinite(value) else "is not a time"
    fallback = mtime if mtime is not None and math.isfinite(mtime) else None
    if fallback is not None and fallback <= now + FUTURE_SLACK:
        return (max(0.0, now - fallback), "mtime",
                "the deploy lock's created=%r %s; its age comes from the file's modification time" % (created, why))
    return (0.0, "future",
            "the deploy lock's created=%r %s and so is the file's modification time: it counts as held, "
            "never stale; force=true takes it over" % (created, why))


def describe(lock, age):
    return "%s (run %s, pid %s on %s, purpose %r) for %d s" % (
        lock.get("owner"), lock.get("run_id"), lock.get("pid"), lock.get("controller"),
        lock.get("purpose", ""), int(age))


def decide(current, p, age, age_known=True):
    """What to do about ``current`` (the lock dict, {} when none) for parameters ``p``.

    Returns a dict: ``action`` in ``report`` (query), ``keep`` (ours already), ``create``,
    ``takeover``, ``release``, ``noop`` (nothing to release), ``refuse``; ``stale``; ``msg`` (refusal);
    ``warn`` (take-over / forced release); ``previous`` (the lock replaced or released).
    """
    ours = bool(current) and current.get("run_id") == p.get("run_id")
    stale = bool(current) and not ours and age > p["stale_after"]
    out = dict(action="report", stale=stale, msg=None, warn=None, previous=None)
    state = p.get("state", "present")
    path = p.get("path")
    if state == "query":
        return out
    if state == "absent":
        if not current:
            return dict(out, action="noop")
        if ours:
            return dict(out, action="release")
        if not p.get("force"):
            return dict(out, action="refuse",
                        msg="deploy lock %s is held by another run: %s. Not releasing it; use force=true "
                            "(BREAK_LOCK=1) if that run is dead." % (path, describe(current, age)))
        return dict(out, action="release", previous=current,
                    warn="releasing a deploy lock held by another run: %s" % describe(current, age))
    if ours:
        return dict(out, action="keep")
    if not current:
        return dict(out, action="create")
    dead = p.get("dead_holder")
    if dead and current.get("run_id") == dead:
        return dict(out, action="takeover", previous=current,
                    warn="taking over the deploy lock held by a dead run of this controller: %s"
                         % describe(current, age))
    started_ago = p.get("run_started_ago")
    if p.get("force") and started_ago is not None and age_known and age < started_ago:
        # The lock was taken after this run started: the operator who set force could not have meant
        # it (20 concurrent forcers would otherwise each take it from the previous one).
        return dict(out, action="refuse",
                    msg="deploy lock %s was taken %d s ago, after this run started (%d s ago): force=true only breaks a "
                        "lock older than the run. Held by %s."
                        % (path, int(age), int(started_ago), describe(current, age)))
    if p.get("force") or (stale and p.get("break_stale")):
        return dict(out, action="takeover", previous=current,
                    warn="taking over the deploy lock held by %s" % describe(current, age))
    if stale:
        return dict(out, action="refuse",
                    msg="deploy lock %s looks stale: held by %s, older than stale_after=%d s. If that run is gone, "
                        "re-run with BREAK_LOCK=1 (force=true) to take it over."
                        % (path, describe(current, age), p["stale_after"]))
    return dict(out, action="refuse",
                msg="another release is running: deploy lock %s is held by %s. Wait for it to finish; if that run "
                    "is dead, re-run with BREAK_LOCK=1 (force=true)." % (path, describe(current, age)))


# --------------------------------------------------------------------------------------------
# the lock file
# --------------------------------------------------------------------------------------------
def check_path(path):
    """Refuse a lock path that is a symlink (dangling or not), a directory or another non-file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        state = "exists" if os.path.exists(path) else "does not exist"
        raise LockError("deploy lock path %s is a symbolic link (to %s, which %s): the lock must be a regular file. "
                        "Remove the link (rm %s) or point path elsewhere." % (path, target, state, path))
    if not stat.S_ISREG(st.st_mode):
        raise LockError("deploy lock path %s exists and is not a regular file (%s): remove it or point path elsewhere"
                        % (path, "a directory" if stat.S_ISDIR(st.st_mode) else "mode %o" % st.st_mode))


def read_lock(path):
    """``(lock, identity, mtime)``: the lock dict ({} when none), what identifies this exact file
    (None when none) and its modification time. A corrupt lock is reported as held, not ignored."""
    check_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return {}, None, None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        data = fh.read()
    identity = (st.st_ino, st.st_mtime_ns, data)
    try:
        lock = json.loads(data.decode("utf-8"))
        if not isinstance(lock, dict):
            raise ValueError("not an object")
    except ValueError:
        lock = {"owner": "unknown (unreadable lock file)", "run_id": None, "created": st.st_mtime, "corrupt": True}
    return lock, identity, st.st_mtime


class Guard:
    """Exclusive flock on ``<path>.guard`` for the time of one change of the lock."""

    def __init__(self, path, timeout=GUARD_TIMEOUT, clock=time.monotonic, sleep=time.sleep):
        self.path = path + ".guard"
        self.timeout, self.clock, self.sleep = timeout, clock, sleep
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise LockError("cannot open the deploy lock's guard %s: %s" % (self.path, exc.strerror or exc)) from None
        deadline = self.clock() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(self.fd)
                    raise LockError("cannot lock the deploy lock's guard %s: %s" % (self.path, exc)) from None
            if self.clock() >= deadline:
                os.close(self.fd)
                raise LockError("another run kept the deploy lock's guard %s for more than %ss; retry"
                                % (self.path, self.timeout))
            self.sleep(0.01)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _write_temp(path, lock):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(lock, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def create(path, lock):
    """Put a new lock in place; False when one exists (link(2) never overwrites)."""
    return _put(path, lock, os.link)


def replace(path, lock):
    """Replace the lock in one step (rename(2))."""
    return _put(path, lock, os.rename)


def _put(path, lock, how):
    tmp = _write_temp(path, lock)
    try:
        how(tmp, path)
    except FileExistsError:
        return False
    finally:
        if os.path.lexists(tmp):   # link leaves it, rename moved it
            os.unlink(tmp)
    return True


def new_lock(p, now):
    return dict(owner=p["owner"], run_id=p["run_id"], controller=p.get("controller") or socket.gethostname(),
                pid=p.get("pid"), pid_start=p.get("pid_start"), purpose=p.get("purpose") or "", created=now,
                created_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))


def apply(p, check_mode=False, now=None):
    """Run the lock for parameters ``p``: ``(failed, result, warnings)``; never raises for bad input."""
    problems = check_params(p)
    if problems:
        return True, dict(changed=False, msg="; ".join(problems) + "; the lock was not touched", lock={},
                          age=0.0, stale=False), []
    path = p["path"]
    warnings = []
    now = time.time() if now is None else now
    # force never breaks a lock younger than this run: the action plugin's run_started_ago, and at least
    # this process's own age (same host as the lock, same clock), so a direct module call is fenced too
    own_age = process_age()
    if p.get("force") and own_age is not None:
        p = dict(p, run_started_ago=max(p.get("run_started_ago") or 0.0, own_age))
    try:
        observed, identity, mtime = read_lock(path)
        age, source, warning = lock_age(observed, now, mtime) if observed else (0.0, "created", None)
        if warning:
            warnings.append(warning)
        d = decide(observed, p, age, age_known=source != "future")
        result = dict(changed=False, lock=observed, age=round(age, 1), stale=d["stale"], age_source=source)
        if d["action"] in ("report", "keep", "noop"):
            return False, result, warnings
        if d["action"] == "refuse":
            return True, dict(result, msg=d["msg"]), warnings
        lock = new_lock(p, now)
        if not check_mode:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with Guard(path):
                current, cur_identity, cur_mtime = read_lock(path)
                if cur_identity != identity:
                    # Someone changed the lock between our look and the guard: decide again on what is
                    # there now, and never take over a lock we did not see.
                    cur_age, cur_source = lock_age(current, now, cur_mtime)[:2] if current else (0.0, "created")
                    again = decide(current, p, cur_age, age_known=cur_source != "future")
                    if again["action"] in ("takeover", "release") and again["previous"] is not None:
                        again = dict(again, action="refuse",
                                     msg="another run changed deploy lock %s while this one was taking it: now held by "
                                         "%s. Not taking it over." % (path, describe(current, cur_age)))
                    d, result = again, dict(result, lock=current, age=round(cur_age, 1), stale=again["stale"])
                    if d["action"] in ("keep", "noop", "report"):
                        return False, result, warnings
                    if d["action"] == "refuse":
                        return True, dict(result, msg=d["msg"]), warnings
                if d["action"] == "create":
                    if not create(path, lock):
                        other = read_lock(path)[0]
                        return True, dict(result, lock=other, msg="another release took deploy lock %s first: %s"
                                          % (path, describe(other, 0))), warnings
                elif d["action"] == "takeover":
                    replace(path, lock)
                else:  # release
                    os.unlink(path)
        if d["warn"]:
            warnings.append(d["warn"])
        if d["previous"] is not None:
            result["previous"] = d["previous"]
        if d["action"] == "release":
            result.update(changed=True, lock={}, age=0.0)
        else:
            result.update(changed=True, lock=lock, age=0.0, stale=d["stale"])
        return False, result, warnings
    except LockError as exc:
        return True, dict(changed=False, msg=str(exc), lock={}, age=0.0, stale=False), warnings
    except OSError as exc:
        return True, dict(changed=False, msg="deploy lock %s: %s" % (path, exc.strerror or exc), lock={}, age=0.0,
                          stale=False), warnings


# --------------------------------------------------------------------------------------------
# the controller side: identity of this run, liveness of a holder (action plugin)
# --------------------------------------------------------------------------------------------
def _stat_fields(pid, proc):
    with open(os.path.join(proc, str(pid), "stat"), "r", encoding="utf-8", errors="replace") as fh:
        data = fh.read()
    # "pid (comm) state ppid ..." - comm may hold spaces and parentheses: split after the last ')'
    return data[data.rindex(")") + 2:].split()


def proc_parent(pid, proc="/proc"):
    return int(_stat_fields(pid, proc)[1])


def proc_start(pid, proc="/proc"):
    """The process start time in clock ticks since boot (/proc/<pid>/stat field 22), None without /proc."""
    try:
        return int(_stat_fields(pid, proc)[19])
    except (OSError, ValueError, IndexError):
        return None


def _cmdline(pid, proc):
    try:
        with open(os.path.join(proc, str(pid), "cmdline"), "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def playbook_pid(pid=None, proc="/proc"):
    """PID of the ``ansible-playbook`` (or ``ansible``) process this worker runs for.

    Walks the parents from ``pid`` (default: this process, an Ansible worker) in /proc up to the
    first process whose command line runs ``ansible-playbook``, then past its ancestors with the
    very same command line: a worker is forked from the main process and keeps its argv, so the
    first match is usually the worker itself (a new PID for every task, gone when the task ends),
    not the run. Without /proc, or when none is found, the worker's parent.
    """
    pid = os.getpid() if pid is None else pid
    seen = set()
    current = pid
    try:
        while current > 1 and current not in seen:
            seen.add(current)
            argv = _cmdline(current, proc)
            if any(os.path.basename(a).startswith("ansible-playbook") for a in argv[:3]):
                parent = proc_parent(current, proc)
                while parent > 1 and parent not in seen and _cmdline(parent, proc) == argv:
                    seen.add(parent)
                    current, parent = parent, proc_parent(parent, proc)
                return current
            current = proc_parent(current, proc)
    except (OSError, ValueError, IndexError):
        pass
    return os.getppid() if pid == os.getpid() else pid


def holder_alive(pid, pid_start=None, proc="/proc"):
    """Whether the process ``pid`` (started at ``pid_start`` ticks, when known) still runs here.

    A zombie (state ``Z``: it has ended, only its parent has not reaped it yet) does not run: an
    ``ansible-playbook`` killed under a shell that has not waited for it holds nothing any more.
    The lock's holder check and the background SLI watcher's owner check both ask this."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True   # unknown: never assume dead
    if os.path.isdir(proc):
        try:
            fields = _stat_fields(pid, proc)
            state, start = fields[0], int(fields[19])
        except (OSError, ValueError, IndexError):
            return os.path.exists(os.path.join(proc, str(pid)))
        return state != "Z" and (pid_start is None or pid_start == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_age(pid=None, proc="/proc"):
    """Seconds since process ``pid`` (default: this one) started, None without /proc."""
    start, btime = proc_start(os.getpid() if pid is None else pid, proc), boot_time(proc)
    if start is None or btime is None:
        return None
    return max(0.0, time.time() - (btime + start / float(os.sysconf("SC_CLK_TCK"))))


def boot_time(proc="/proc"):
    try:
        with open(os.path.join(proc, "stat"), "r", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_identity(proc="/proc", hostname=None):
    """``dict(controller, pid, pid_start, run_id)`` of this Ansible run, the same for every task of it."""
    controller = hostname or socket.gethostname()
    pid = playbook_pid(proc=proc)
    start = proc_start(pid, proc)
    btime = boot_time(proc)
    if start is not None and btime is not None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(btime + start / float(os.sysconf("SC_CLK_TCK"))))
    else:
        stamp = "start%s" % (start if start is not None else "unknown")
    started_ago = process_age(pid, proc)
    return dict(controller=controller, pid=pid, pid_start=start, run_id="%s-%d-%s" % (controller, pid, stamp),
                run_started_ago=started_ago)
