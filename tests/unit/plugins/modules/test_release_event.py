# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.release_event: one JSON line per phase, the same event POSTed to a real HTTP server on
loopback (Slack-compatible ``text``), and a webhook that fails, hangs or answers 500 only warns."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _release_event as ev
from ansible_collections.veza.infra.plugins.modules import release_event


class Hook(BaseHTTPRequestHandler):
    received = []
    answer = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).answer)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def hook():
    Hook.received, Hook.answer = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def warnings(out):
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in out.get("warnings", [])]


def args(tmp_path, **kw):
    out = dict(path=str(tmp_path / "events-r1.jsonl"), run_id="r1", phase="step", status="green",
               host="backend-api-2", summary="step 5 green", data={"share": 5})
    out.update(kw)
    return out


def test_event_line_and_webhook(tmp_path, run_module, hook):
    url = "http://127.0.0.1:%d/services/T000/SECRET" % hook.server_port
    rc, out = run_module(release_event, args(tmp_path, notify_url=url))
    assert rc == 0 and out["changed"] and out["notified"] is True
    lines = (tmp_path / "events-r1.jsonl").read_text().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["run_id"], event["phase"], event["status"], event["host"], event["data"]) == (
        "r1", "step", "green", "backend-api-2", {"share": 5})
    assert event["text"] == ":large_green_circle: [veza canary r1] step green on backend-api-2: step 5 green"
    path, ctype, posted = Hook.received[0]
    assert path == "/services/T000/SECRET" and ctype == "application/json" and posted == event
    run_module(release_event, args(tmp_path, phase="done", status="ok", summary=""))
    assert len((tmp_path / "events-r1.jsonl").read_text().splitlines()) == 2


def test_failing_webhook_warns_never_fails(tmp_path, run_module, hook):
    Hook.answer = 500
    url = "http://127.0.0.1:%d/hooks/SECRET" % hook.server_port
    rc, out = run_module(release_event, args(tmp_path, notify_url=url))
    assert rc == 0 and not out.get("failed") and out["notified"] is False
    assert any("HTTP 500" in w and "SECRET" not in w for w in warnings(out))
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    rc, out = run_module(release_event, args(tmp_path, notify_url="http://127.0.0.1:%d/x" % dead, notify_timeout=2))
    assert rc == 0 and out["notified"] is False and "release goes on" in warnings(out)[-1]
    assert len((tmp_path / "events-r1.jsonl").read_text().splitlines()) == 2    # the events are still written


def test_hanging_webhook_times_out_as_a_warning(tmp_path, run_module):
    with socket.socket() as s:          # accepts (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = "http://127.0.0.1:%d/x" % s.getsockname()[1]
        rc, out = run_module(release_event, args(tmp_path, notify_url=url, notify_timeout=0.5))
    assert rc == 0 and out["notified"] is False and "timed out" in warnings(out)[-1].lower()


def test_check_mode_writes_nothing_and_missing_dir_fails_clearly(tmp_path, run_module):
    rc, out = run_module(release_event, dict(args(tmp_path), _ansible_check_mode=True))
    assert rc == 0 and not out["changed"] and not (tmp_path / "events-r1.jsonl").exists()
    rc, out = run_module(release_event, args(tmp_path, path=str(tmp_path / "no" / "e.jsonl")))
    assert rc == 1 and out["msg"].startswith("path: cannot append")


def test_report_dir_form_creates_the_dir_and_names_the_file(tmp_path, run_module):
    a = args(tmp_path, run_id="ctl:42:1700")
    del a["path"]
    rc, out = run_module(release_event, dict(a, report_dir=str(tmp_path / "reports")))
    assert rc == 0 and out["path"] == str(tmp_path / "reports" / "events-ctl_42_1700.jsonl")
    assert json.loads((tmp_path / "reports" / "events-ctl_42_1700.jsonl").read_text())["run_id"] == "ctl:42:1700"


def test_build_event_and_path():
    assert ev.events_path("/r", "h:1:2") == "/r/events-h_1_2.jsonl"
    with pytest.raises(ValueError, match="phase"):
        ev.build_event("r", "deploy", "ok")
    e = ev.build_event("r", "rollback", "failed", now=0)
    assert e["iso_time"] == "1970-01-01T00:00:00Z" and e["text"] == ":red_circle: [veza canary r] rollback failed"
    assert ev.redact("https://hooks.slack.com/services/T/B/SECRET") == "https://hooks.slack.com/..."
