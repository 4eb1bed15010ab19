# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""Release events of the canary (#16): one JSON line per phase in
``<report_dir>/events-<run_id>.jsonl``, and the same event as a JSON POST to an optional webhook
(``NOTIFY_URL``) with a Slack-compatible ``text`` field. A webhook that fails is a warning, never a
failure of the release: ``post_event`` returns the problem instead of raising.
"""
from __future__ import annotations

import json
import os
import re
import time

PHASES = ("preflight", "drain", "push", "health", "step", "rollback", "peers", "done")
STATUSES = ("start", "ok", "green", "red", "failed", "info")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")

# The options of veza.infra.release_event, for the module and for its action plugin (which runs it
# in the controller's own process: no module transfer, so an event costs no module run).
ARGUMENT_SPEC = dict(
    path=dict(type="path"),
    report_dir=dict(type="path"),
    run_id=dict(type="str", required=True),
    phase=dict(type="str", required=True, choices=list(PHASES)),
    status=dict(type="str", default="ok", choices=list(STATUSES)),
    host=dict(type="str"),
    summary=dict(type="str", default=""),
    data=dict(type="dict", default={}),
    notify_url=dict(type="str"),
    notify_timeout=dict(type="float", default=5.0),
    validate_certs=dict(type="bool", default=True),
)
REQUIRED_ONE_OF = [["path", "report_dir"]]
MUTUALLY_EXCLUSIVE = [["path", "report_dir"]]


def events_path(report_dir, run_id):
    """``<report_dir>/events-<run_id>.jsonl`` (characters outside ``[A-Za-z0-9_.-]`` become ``_``)."""
    return os.path.join(report_dir, "events-%s.jsonl" % _SAFE.sub("_", str(run_id)))


def build_event(run_id, phase, status, host=None, message=None, data=None, now=None):
    """The event dict (``text``: one line a chat channel shows). Raises ValueError on a bad phase/status."""
    if phase not in PHASES:
        raise ValueError("phase: one of %s, got %r" % (", ".join(PHASES), phase))
    if status not in STATUSES:
        raise ValueError("status: one of %s, got %r" % (", ".join(STATUSES), status))
    when = time.time() if now is None else now
    event = {"run_id": str(run_id), "phase": phase, "status": status, "host": host, "message": message or "",
             "data": data or {}, "time": round(when, 3),
             "iso_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))}
    event["text"] = slack_text(event)
    return event


def slack_text(event):
    """``[veza canary run-1] step red on backend-api-2: <message>``."""
    mark = {"red": ":red_circle:", "failed": ":red_circle:", "green": ":large_green_circle:", "ok": ":white_check_mark:"}
    return "%s[veza canary %s] %s %s%s%s" % (
        mark.get(event["status"], "") + (" " if event["status"] in mark else ""), event["run_id"], event["phase"],
        event["status"], " on %s" % event["host"] if event.get("host") else "",
        ": %s" % event["message"] if event.get("message") else "")


def append_event(path, event):
    """Append one JSON line (the directory must exist)."""
    with open(path, "a") as fh:
        fh.write(json.dumps(event, sort_keys=True) + "\n")


def post_event(url, event, open_url, timeout=5.0, validate_certs=True):
    """POST the event as JSON with ``open_url`` (ansible.module_utils.urls); returns None or the problem."""
    body = json.dumps(event).encode("utf-8")
    try:
        resp = open_url(url, data=body, method="POST", headers={"Content-Type": "application/json"},
                        timeout=timeout, validate_certs=validate_certs, http_agent="veza.infra.release_event")
        code = resp.getcode() if hasattr(resp, "getcode") else getattr(resp, "status", 200)
        resp.read()
    except Exception as exc:  # pylint: disable=broad-except  # any webhook failure is a warning, never a failure
        if isinstance(getattr(exc, "code", None), int):
            return "webhook %s answered HTTP %s" % (redact(url), exc.code)
        return "webhook %s: %s: %s" % (redact(url), type(exc).__name__, exc)
    if code is not None and not 200 <= int(code) < 300:
        return "webhook %s answered HTTP %s" % (redact(url), code)
    return None


def redact(url):
    """The webhook's URL without its path and query (Slack puts the secret in the path)."""
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]+)", str(url))
    return (m.group(1) + "/...") if m else "(url)"


def record(params, open_url, check_mode=False):
    """Append the event of ``params`` (validated against ARGUMENT_SPEC) and post it to the webhook.

    Returns ``(result, warnings, error)``: the task's result (``changed``, ``event``, ``notified``,
    ``path``), the warnings (a failing webhook), and the message of the one failure (the events file
    cannot be written) or None."""
    path = params["path"] or events_path(params["report_dir"], params["run_id"])
    event = build_event(params["run_id"], params["phase"], params["status"], params["host"], params["summary"],
                        params["data"])
    if check_mode:
        return {"changed": False, "event": event, "notified": False, "path": path}, [], None
    try:
        if params["report_dir"]:
            os.makedirs(params["report_dir"], exist_ok=True)
        append_event(path, event)
    except OSError as exc:
        return ({"changed": False, "event": event, "notified": False, "path": path}, [],
                "%s: cannot append to %s: %s (does its directory exist?)"
                % ("path" if params["path"] else "report_dir", path, exc))
    warnings, notified = [], False
    if params["notify_url"]:
        problem = post_event(params["notify_url"], event, open_url, timeout=params["notify_timeout"],
                             validate_certs=params["validate_certs"])
        if problem:
            warnings.append("NOTIFY_URL: %s; the release goes on (the event is in %s)" % (problem, path))
        else:
            notified = True
    return {"changed": True, "event": event, "notified": notified, "path": path}, warnings, None
