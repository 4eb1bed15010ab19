# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus HTTP API client of module_utils/_prom_client.py: answer parsing, auth, errors."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _prom_client as pc


# ---- HTTP client and parsing -------------------------------------------------------------------
@pytest.mark.parametrize("payload,kind,values", [
    ({"status": "success", "data": {"resultType": "vector", "result": []}}, "empty", []),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}]}},
     "nan", []),
    ({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"a": "1"}, "value": [1, "NaN"]}, {"metric": {"a": "2"}, "value": [1, "0.25"]}]}}, "ok", [0.25]),
    ({"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}}, "ok", [3.0]),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]}},
     "ok", [float("inf")]),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "error", []),
    ({"status": "error", "errorType": "execution", "error": "boom"}, "error", []),
    ({"no": "status"}, "error", []),
])
def test_parse_query_response(payload, kind, values):
    res = pc.parse_query_response(payload)
    assert res.kind == kind
    assert res.values == values


def test_client_ok_bad_data_and_auth(canned_http):
    url = canned_http.url + "/prom/"
    canned_http.answers["/prom/api/v1/query"] = (
        400, {"status": "error", "errorType": "bad_data",
              "error": "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"})
    res = pc.PromClient(url, timeout=2, bearer_token="t0k").query("sum(up")
    assert res.kind == "error" and res.rejected
    assert res.text == 'bad_data: invalid parameter "query": 1:5: parse error: unclosed left parenthesis'
    path, auth, body = canned_http.seen[-1]
    assert path == "/prom/api/v1/query" and auth == "Bearer t0k" and body == "query=sum%28up"

    canned_http.answers["/prom/api/v1/query"] = (
        200, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.1"]}]}})
    res = pc.PromClient(url, url_username="u", url_password="p").query("up")
    assert res.kind == "ok" and res.values == [0.1]
    assert canned_http.seen[-1][1] == "Basic dTpw"

    canned_http.answers["/prom/api/v1/query"] = (502, b"<html>bad gateway</html>")
    res = pc.PromClient(url).query("up")
    assert res.kind == "error" and not res.rejected and "HTTP 502" in res.text

    canned_http.answers["/prom/api/v1/query"] = (200, b"not json")
    res = pc.PromClient(url).query("up")
    assert res.kind == "error" and "did not answer JSON" in res.text


def test_client_unreachable_is_an_error_result():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = pc.PromClient("http://127.0.0.1:%d" % port, timeout=1).query("up")
    assert res.kind == "error" and res.error_type == "transport"
    assert res.text.startswith("cannot reach Prometheus at http://127.0.0.1:%d" % port)


# ---- #14 item 3: timeout bounds the whole query, bodies are capped ------------------------------
class _RawServer:
    """A loopback TCP server that answers every connection with ``handler(conn)`` in a thread."""

    def __init__(self, handler):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.handler = handler
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                self.handler(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw_server():
    servers = []

    def make(handler):
        servers.append(_RawServer(handler))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def _drip(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    for _second in range(30):  # one byte a second, 30 s at most
        if stop.wait(1.0):
            return
        conn.sendall(b" ")


def test_timeout_bounds_the_whole_query_not_each_read(raw_server):
    server = raw_server(_drip)
    start = time.monotonic()
    res = pc.PromClient(server.url, timeout=2).query("up")
    took = time.monotonic() - start
    assert res.kind == "error" and res.error_type == "timeout", res
    assert "within timeout=2" in res.text
    assert took < 2 + 1.5, "the query took %.1fs with timeout=2" % took


def _huge(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    chunk = b"[" * 65536
    for _chunk in range(200):  # up to 12.5 MiB, no Content-Length
        if stop.is_set():
            return
        conn.sendall(chunk)


def test_body_larger_than_the_cap_is_refused(raw_server):
    server = raw_server(_huge)
    res = pc.PromClient(server.url, timeout=10).query("up")
    assert res.kind == "error" and res.error_type == "response"
    assert "answered more than %d bytes" % pc.MAX_BODY_BYTES in res.text
    res = pc.PromClient(server.url, timeout=10, max_body=1000).query("up")
    assert "answered more than 1000 bytes" in res.text


def test_declared_content_length_over_the_cap_is_refused_unread(canned_http):
    canned_http.answers["*"] = (200, b"x" * 5000)
    res = pc.PromClient(canned_http.url, max_body=4096).query("up")
    assert res.kind == "error" and "answered more than 4096 bytes" in res.text


# ---- #14 item 5: malformed answers are error results, never tracebacks ---------------------------
@pytest.mark.parametrize("payload", [
    {"status": "success", "data": [1]},
    {"status": "success", "data": "x"},
    {"status": "success", "data": {"resultType": "vector", "result": {"a": 1}}},
    {"status": "success", "data": {"resultType": "vector", "result": [1]}},
    {"status": "success", "data": {"resultType": "vector", "result": [{"value": 1}]}},
    {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, {"x": 1}]}]}},
    {"status": "success", "data": {"resultType": "scalar", "result": 3}},
    {"status": "success", "data": {"resultType": ["vector"], "result": []}},
    {"status": "error", "errorType": ["bad_data"], "error": None},
])
def test_malformed_answers_are_error_results(payload):
    res = pc.parse_query_response(payload)
    assert res.kind == "error" and res.error_type in ("response", "bad_data", "error")
    assert not res.rejected or payload.get("status") == "success"


def test_deeply_nested_json_is_an_error_result(canned_http):
    canned_http.answers["*"] = (200, b"[" * 200000 + b"]" * 200000)
    res = pc.PromClient(canned_http.url).query("up")
    assert res.kind == "error" and "did not answer JSON" in res.text


def test_one_tls_context_per_client_not_per_call(canned_http, monkeypatch):
    # Building a context loads the system CA store: ~100 ms a call before (bench_prom_client.py).
    from ansible.module_utils import urls  # pylint: disable=import-outside-toplevel
    calls = []
    real = urls.make_context

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(urls, "make_context", counting)
    monkeypatch.setattr(pc, "make_context", counting, raising=False)
    canned_http.answers["*"] = (200, {"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}})
    client = pc.PromClient(canned_http.url)
    for _call in range(3):
        assert client.query("1").kind == "ok"
    assert len(calls) == 1
