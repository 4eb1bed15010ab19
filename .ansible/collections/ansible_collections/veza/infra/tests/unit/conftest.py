# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the unit tests.

``run_module``: run a module's ``main()`` with arguments, as Ansible would, and return
``(exit code, result dict)`` from the JSON it prints.

``canned_http``: a loopback HTTP server (a stand-in for Prometheus' API) answering each path
with a canned ``(status, payload)`` from ``server.answers`` (key ``"*"``: any other path) and recording every request in
``server.seen`` as ``(path, Authorization header, body)``.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible.module_utils import _internal as _module_utils_internal
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys, monkeypatch):
    # A module runs on a target host: once any controller code is imported in this process (a
    # filter or action plugin test imports ansible.errors), module_utils' warn() would go to the
    # controller's Display instead of the result's "warnings".
    monkeypatch.setattr(_module_utils_internal, "is_controller", False)

    def run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run


class _Canned(BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.seen.append((self.path, self.headers.get("Authorization"), body))
        answers = self.server.answers
        path = self.path.split("?", 1)[0]
        status, payload = answers[path] if path in answers else answers["*"]
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer  # noqa: N815  pylint: disable=invalid-name

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def canned_http():
    server = HTTPServer(("127.0.0.1", 0), _Canned)
    server.answers = {}
    server.seen = []
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)
