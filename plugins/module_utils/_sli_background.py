# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background SLI analysis of veza.infra.prom_sli_background (issue 17, part 2).

This module util is PRIVATE to veza.infra. There is no compatibility promise: do not import it
from other collections. Its interface can change (or it can be removed) in any release.

A watcher is the SLI watch of ``_sli_watch.execute`` run in a detached process (double fork,
new session, stdin/stdout/stderr on /dev/null) while the playbook goes on. It writes its state to
a status file after every probe (``running``) and once at its end (``done`` with the verdict, or
``stopped``). It ends:

- when its policy decides (red, or the window over): state ``done``;
- on SIGTERM (``stop()``, the playbook's next check point): state ``stopped``, the verdict so far;
- when its owner (the ``ansible-playbook`` process, PID and start time) is gone: a finished,
  failed or interrupted (Ctrl-C) run never leaves a watcher behind; it checks twice a second.

``verdict_of()`` is the pure decision the playbook's check reads: red / inconclusive / error stop
the peer roll, green / running let it go on.
"""
from __future__ import annotations

import json
import os
import signal
import time

from ansible_collections.veza.infra.plugins.module_utils._deploy_lock import holder_alive, proc_start
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import PromSliConfigError, execute

# Verdicts of a check: the ones that stop the peer roll.
STOPPING = ("red", "inconclusive", "error")
OWNER_POLL = 0.5


class Stopped(Exception):
    """Raised inside the watch loop's sleep: SIGTERM received, or the owner is gone."""


def write_status(path, status):
    """Write ``status`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(status, fh, sort_keys=True)
    os.replace(tmp, path)


def read_status(path):
    """The status dict, or None when the file is absent or unreadable (not written yet)."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def verdict_of(status, alive):
    """``(verdict, reason)`` of a watcher from its status file and whether its process still runs.

    - a final status (``done``/``stopped``) gives its verdict (``running`` for a watcher stopped
      before its window ended counts as green: nothing was red so far);
    - ``running`` while the process lives: ``running``;
    - no status, or ``running``, with the process gone: ``error`` (it died without a verdict:
      nothing vouches for the nodes it watched).
    """
    if status is None:
        if alive:
            return "running", "the watcher has not probed yet"
        return "error", "the background watcher ended without writing a status (it could not start?)"
    state = status.get("state")
    verdict = status.get("verdict") or "running"
    reason = status.get("reason") or ""
    if state in ("done", "stopped"):
        if verdict == "running":
            return "green", reason or "no red probe before the watcher was stopped"
        return verdict, reason
    if alive:
        return "running", reason
    return "error", "the background watcher died while running (last status: %s)" % (reason or "none")


def run_child(params, status_path, owner_pid, owner_start, clock=time.monotonic, sleep=time.sleep):
    """The watcher's body (in the detached process; also called directly by the unit tests)."""
    state = {"stop": None, "slis": None, "probes": 0, "last": None}

    def on_term(_signum, _frame):
        state["stop"] = "stopped by the playbook (SIGTERM)"

    def owner_gone():
        return bool(owner_pid) and not holder_alive(owner_pid, owner_start)

    def guarded_sleep(seconds):
        end = clock() + max(seconds, 0)
        while True:
            if state["stop"] is None and owner_gone():
                state["stop"] = "its ansible-playbook (PID %s) is gone" % owner_pid
            if state["stop"] is not None:
                raise Stopped(state["stop"])
            left = end - clock()
            if left <= 0:
                return
            sleep(min(left, OWNER_POLL))

    def on_start(slis):
        state["slis"] = slis

    def on_probe(probe):
        state["probes"] += 1
        state["last"] = probe.get("status")
        write_status(status_path, {"state": "running", "pid": os.getpid(), "verdict": "running",
                                   "probes": state["probes"], "last_status": state["last"],
                                   "reason": "probe %d %s" % (probe.get("index", 0), probe.get("status")),
                                   "red": probe.get("status") == "red"})

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (unit tests)
        pass
    write_status(status_path, {"state": "running", "pid": os.getpid(), "verdict": "running", "probes": 0,
                               "reason": "starting"})
    try:
        out = execute(params, on_probe=on_probe, on_start=on_start, clock=clock, sleep=guarded_sleep)
    except Stopped as exc:
        final = {"state": "stopped", "verdict": "running", "probes": state["probes"],
                 "reason": "%s after %d probe(s), none red" % (exc, state["probes"])}
    except PromSliConfigError as exc:
        final = {"state": "done", "verdict": "error", "probes": state["probes"], "reason": str(exc)}
    except Exception as exc:  # pylint: disable=broad-except
        final = {"state": "done", "verdict": "error", "probes": state["probes"],
                 "reason": "background watcher failed: %s: %s" % (type(exc).__name__, exc)}
    else:
        final = {"state": "done", "verdict": out["verdict"], "probes": len(out["probes"]), "reason": out["reason"],
                 "breach": out.get("breach"), "counts": out.get("counts"),
                 "report_path": out.get("report_path")}
    final["pid"] = os.getpid()
    final["ended"] = time.time()
    write_status(status_path, final)
    return final


def spawn(params, status_path, owner_pid):
    """Start the watcher detached; returns ``(pid, start ticks)`` of the watcher process.

    Double fork (the watcher is not a child of the caller, which a module's runner waits for) and
    a new session (a Ctrl-C on the terminal does not reach it; its owner check ends it then).
    """
    owner_start = proc_start(owner_pid) if owner_pid else None
    read_fd, write_fd = os.pipe()
    first = os.fork()
    if first == 0:  # pragma: no cover - runs in the forked processes
        try:
            os.close(read_fd)
            os.setsid()
            second = os.fork()
            if second != 0:
                os.write(write_fd, str(second).encode())
                os._exit(0)
            os.close(write_fd)
            os.chdir("/")
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            try:
                run_child(params, status_path, owner_pid, owner_start)
            finally:
                os._exit(0)
        except BaseException:  # pylint: disable=broad-except
            os._exit(1)
    os.close(write_fd)
    os.waitpid(first, 0)
    with os.fdopen(read_fd, "rb") as fh:
        raw = fh.read()
    pid = int(raw or 0)
    if not pid:
        raise OSError("the background watcher could not be started")
    return pid, proc_start(pid)


def stop(status_path, pid, pid_start=None, timeout=15.0, clock=time.monotonic, sleep=time.sleep):
    """Stop the watcher ``pid`` (SIGTERM, then SIGKILL after ``timeout``) unless it already ended;
    returns ``(verdict, reason, status)`` as ``verdict_of`` reads its final status."""
    alive = bool(pid) and holder_alive(pid, pid_start)
    status = read_status(status_path)
    if alive and (status is None or status.get("state") == "running"):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = clock() + timeout
        while clock() < deadline:
            status = read_status(status_path)
            if status is not None and status.get("state") != "running":
                break
            if not holder_alive(pid, pid_start):
                break
            sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        status = read_status(status_path)
        alive = holder_alive(pid, pid_start) and status is not None and status.get("state") == "running"
    verdict, reason = verdict_of(status, alive)
    return verdict, reason, status
