# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""On-call controls of a running canary (#16): ``make canary-abort``, ``canary-promote``,
``canary-hold SECONDS=...`` from a second terminal on the controller.

Files, in the report directory (SLI_REPORT_DIR) on the controller:

* ``control-current.json``: the run whose gate is running (``{"run_id", "control_file", "started"}``),
  written by the canary role before its first step; the make targets read it to find the run.
* ``control-<run_id>.jsonl``: one JSON object per control, appended by ``write_control``:
  ``{"run_id", "action", "seconds", "user", "uid", "time", "seq"}``.

prom_sli_watch reads the run's file at every probe (``ControlReader``). It applies a control
only when its ``run_id`` is the run's and its ``time`` is not before ``since`` (the end of the
previous step, or the gate's start), once each: a control of an earlier run, or one that a step
already applied, never reaches a new run or the next step. Lines that do not parse, unknown
actions and other runs' controls are skipped with a warning, never an error.
"""
from __future__ import annotations

import json
import os
import re
import time

ACTIONS = ("abort", "promote", "hold")
MAX_HOLD = 86400
CURRENT = "control-current.json"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ControlError(ValueError):
    """A control that cannot be written (the message says what to do)."""


def control_path(report_dir, run_id):
    """``<report_dir>/control-<run_id>.jsonl`` (characters outside ``[A-Za-z0-9_.-]`` become ``_``)."""
    return os.path.join(report_dir, "control-%s.jsonl" % _SAFE.sub("_", str(run_id)))


def check_control(action, seconds=None):
    """Validate one control; returns ``(action, seconds)``. Raises ControlError."""
    if action not in ACTIONS:
        raise ControlError("control %r: one of %s" % (action, ", ".join(ACTIONS)))
    if action == "hold":
        if isinstance(seconds, bool):
            seconds = None
        try:
            seconds = int(str(seconds).strip())
        except (TypeError, ValueError):
            raise ControlError("canary-hold needs SECONDS, a whole number of seconds from 1 to %d "
                               "(make canary-hold SECONDS=600), got %r" % (MAX_HOLD, seconds)) from None
        if not 1 <= seconds <= MAX_HOLD:
            raise ControlError("canary-hold SECONDS=%d: from 1 to %d seconds" % (seconds, MAX_HOLD))
        return action, seconds
    return action, None


def who(env=None, uid=None):
    """Who decides: ``$SUDO_USER`` / ``$USER`` / ``$LOGNAME``, else ``uid <n>``."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None and hasattr(os, "getuid") else uid
    name = env.get("VEZA_CONTROL_USER") or env.get("SUDO_USER") or env.get("USER") or env.get("LOGNAME")
    return (name or "uid %s" % uid), uid


def current_run(report_dir):
    """The running gate's record (``control-current.json``), or None when there is none or it is unreadable."""
    try:
        with open(os.path.join(report_dir, CURRENT)) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("run_id") else None


def write_current(report_dir, run_id, now=None):
    """Record the run whose gate starts (atomically); returns its control file's path."""
    path = control_path(report_dir, run_id)
    data = {"run_id": str(run_id), "control_file": path, "started": time.time() if now is None else now}
    tmp = os.path.join(report_dir, ".%s.%d" % (CURRENT, os.getpid()))
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, os.path.join(report_dir, CURRENT))
    return path


def write_control(report_dir, action, seconds=None, run_id=None, env=None, uid=None, now=None):
    """Append one control for the running run (``run_id`` or the one of ``control-current.json``).
    Returns the control written. Raises ControlError when there is no run to control."""
    action, seconds = check_control(action, seconds)
    if run_id is None:
        cur = current_run(report_dir)
        if cur is None:
            raise ControlError("no running canary gate found: %s does not exist or is unreadable (is a canary "
                               "running on this controller, with SLI_REPORT_DIR=%s?)"
                               % (os.path.join(report_dir, CURRENT), report_dir))
        run_id = cur["run_id"]
    user, uid = who(env, uid)
    path = control_path(report_dir, run_id)
    seq = 0
    try:
        with open(path) as fh:
            seq = sum(1 for _line in fh)
    except OSError:
        pass
    control = {"run_id": str(run_id), "action": action, "seconds": seconds, "user": user, "uid": uid,
               "time": round(time.time() if now is None else now, 3), "seq": seq + 1}
    with open(path, "a") as fh:
        fh.write(json.dumps(control, sort_keys=True) + "\n")
    return control


def parse_line(line, run_id):
    """One line of a control file -> ``(control, problem)``: exactly one of them is None."""
    try:
        data = json.loads(line)
    except ValueError:
        return None, "not JSON: %r" % line[:80]
    if not isinstance(data, dict):
        return None, "not a JSON object: %r" % line[:80]
    if str(data.get("run_id")) != str(run_id):
        return None, "control of another run (%s), not this one (%s): ignored" % (data.get("run_id"), run_id)
    try:
        action, seconds = check_control(data.get("action"), data.get("seconds"))
    except ControlError as exc:
        return None, str(exc)
    when = data.get("time")
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        return None, "control %s without a time: ignored" % action
    return {"action": action, "seconds": seconds, "user": str(data.get("user") or "?"), "uid": data.get("uid"),
            "time": float(when), "seq": data.get("seq")}, None


class ControlReader:
    """Reads the controls of one run that arrive from ``since`` (epoch seconds) on, each once."""

    def __init__(self, path, run_id, since):
        self.path = path
        self.run_id = str(run_id)
        self.since = float(since)
        self.lines_read = 0
        self.warned = set()

    def poll(self):
        """New controls since the last poll, and warnings (each one given once)."""
        try:
            with open(self.path) as fh:
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return [], []
        except OSError as exc:
            return [], self._warn("control file %s unreadable: %s" % (self.path, exc))
        if len(lines) < self.lines_read:   # truncated or replaced: start over, by time only
            self.lines_read = 0
        new, warnings = [], []
        for idx in range(self.lines_read, len(lines)):
            line = lines[idx].strip()
            if not line:
                continue
            control, problem = parse_line(line, self.run_id)
            if problem:
                warnings += self._warn("control file %s line %d: %s" % (self.path, idx + 1, problem))
            elif control["time"] >= self.since:
                new.append(control)
        self.lines_read = len(lines)
        return new, warnings

    def _warn(self, text):
        if text in self.warned:
            return []
        self.warned.add(text)
        return [text]


def describe(control):
    """``"abort by alice (uid 1000) at 2026-12-01T14:30:00Z"``."""
    what = control["action"] + (" %ds" % control["seconds"] if control["action"] == "hold" else "")
    return "%s by %s (uid %s) at %s" % (what, control["user"], control.get("uid"),
                                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(control["time"])))
