# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prom_sli_watch module: its documentation matches the shared argument spec, bad input
fails with a message (no traceback), a short window against a canned Prometheus API answers."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.veza.infra.plugins.module_utils import prom_client
from ansible_collections.veza.infra.plugins.modules import prom_sli_watch


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            prom_sli_watch.main()
    out = json.loads(capsys.readouterr().out)
    return exc.value.code, out


def test_documentation_matches_argument_spec():
    doc = yaml.safe_load(prom_sli_watch.DOCUMENTATION)
    spec = prom_client.argument_spec()
    assert sorted(doc["options"]) == sorted(spec)
    for name, opt in spec.items():
        assert doc["options"][name]["type"] == opt["type"], name
        assert doc["options"][name].get("default") == opt.get("default"), name
        assert doc["options"][name].get("choices") == opt.get("choices"), name
    assert doc["version_added"] == "0.1.0"
    for block in (prom_sli_watch.EXAMPLES, prom_sli_watch.RETURN):
        assert yaml.safe_load(block)


@pytest.mark.parametrize("args,needle", [
    ({"interval": 600, "window": 300, "min_window": 0}, "interval=600 is longer than window=300"),
    ({"window": 60}, "window=60 is shorter than min_window=300"),
    ({"p95_threshold": -1}, "p95_threshold: must not be negative"),
    ({"url": "not a url"}, "url: cannot parse"),
    ({"on_no_data": "pass"}, "on_no_data"),
    ({"url_username": "u"}, "url_password"),
])
def test_bad_input_fails_with_message(capsys, args, needle):
    code, out = run_module(capsys, args)
    assert code == 1 and out["failed"] is True
    assert needle in out["msg"]
    assert "Traceback" not in out["msg"] and "exception" not in out


class _Prom(BaseHTTPRequestHandler):
    value = "0.01"

    def do_POST(self):  # pylint: disable=invalid-name
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [0, self.value]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def canned_prom():
    server = HTTPServer(("127.0.0.1", 0), _Prom)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _args(server, **over):
    args = {"url": "http://127.0.0.1:%d" % server.server_address[1], "window": 1, "interval": 1, "min_window": 0,
            "_ansible_check_mode": True}
    args.update(over)
    return args


def test_green_window_in_check_mode_is_unchanged(capsys, canned_prom, tmp_path):
    _Prom.value = "0.001"
    code, out = run_module(capsys, _args(canned_prom, report_path=str(tmp_path / "r.json")))
    assert code == 0 and out["changed"] is False
    assert out["verdict"] == "green" and len(out["probes"]) == 2
    assert (tmp_path / "r.json").exists() and (tmp_path / "r.html").exists()


def test_red_fails_unless_fail_on_red_is_false(capsys, canned_prom):
    _Prom.value = "0.9"
    code, out = run_module(capsys, _args(canned_prom))
    assert code == 1 and out["failed"] is True and out["verdict"] == "red"
    assert out["msg"].startswith("SLI p95_latency breached its threshold: 0.9 > max 0.5")
    code, out = run_module(capsys, _args(canned_prom, fail_on_red=False))
    assert code == 0 and not out.get("failed") and out["verdict"] == "red"
