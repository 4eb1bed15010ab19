# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus HTTP API client of module_utils/_prom_client.py: answer parsing, auth, errors."""
from __future__ import annotations

import socket

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
