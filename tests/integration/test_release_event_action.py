# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.release_event through the real ``ansible``: its action plugin writes the event in the
controller's process (no module run), with the module's options, check mode and warnings."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import ansible_run


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies.append(json.loads(body))
        self.send_response(self.server.code)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def hook():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    srv.bodies, srv.code = [], 200
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_the_event_is_written_and_posted_by_the_action_plugin(tmp_path, hook):
    url = "http://127.0.0.1:%d/hooks/secret" % hook.server_address[1]
    res = ansible_run.module("veza.infra.release_event", {
        "report_dir": str(tmp_path / "reports"), "run_id": "host:1:2", "phase": "drain", "host": "backend-api-2",
        "summary": "out of rotation in 3.1 s", "notify_url": url})
    assert res.get("changed") is True and res["notified"] is True, res
    # no module ran: the action plugin's result has no module invocation
    assert "invocation" not in res, res
    lines = (tmp_path / "reports" / "events-host_1_2.jsonl").read_text().splitlines()
    assert [json.loads(x)["phase"] for x in lines] == ["drain"]
    assert hook.bodies and hook.bodies[0]["phase"] == "drain" and "backend-api-2" in hook.bodies[0]["text"]


def test_a_failing_webhook_warns_and_the_event_is_still_written(tmp_path, hook):
    hook.code = 500
    url = "http://127.0.0.1:%d/hooks/secret" % hook.server_address[1]
    res = ansible_run.module("veza.infra.release_event", {
        "path": str(tmp_path / "e.jsonl"), "run_id": "r", "phase": "done", "notify_url": url})
    assert not res.get("failed") and res["notified"] is False, res
    assert any("NOTIFY_URL" in w and "HTTP 500" in w and "/secret" not in w for w in res.get("warnings", [])), res
    assert (tmp_path / "e.jsonl").read_text().count("\n") == 1


def test_check_mode_writes_nothing(tmp_path):
    res = ansible_run.module("veza.infra.release_event", {"path": str(tmp_path / "e.jsonl"), "run_id": "r",
                                                          "phase": "peers"}, check=True)
    assert res.get("changed") is False and res["event"]["phase"] == "peers", res
    assert not (tmp_path / "e.jsonl").exists()


@pytest.mark.parametrize("args, needle", [
    ({"run_id": "r", "phase": "drain"}, "path, report_dir"),
    ({"path": "/tmp/x", "run_id": "r", "phase": "lunch"}, "phase"),
    ({"path": "/tmp/x", "report_dir": "/tmp", "run_id": "r", "phase": "drain"}, "mutually exclusive"),
])
def test_bad_options_fail_naming_the_option(args, needle):
    res = ansible_run.module("veza.infra.release_event", args)
    assert res.get("failed") is True and needle in res["msg"], res
    assert "Traceback" not in res["msg"]


def test_an_unwritable_events_file_fails_naming_the_option(tmp_path):
    res = ansible_run.module("veza.infra.release_event", {"path": str(tmp_path / "no" / "e.jsonl"), "run_id": "r",
                                                          "phase": "drain"})
    assert res.get("failed") is True and res["msg"].startswith("path: cannot append to"), res
