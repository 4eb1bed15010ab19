# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""veza.infra.prom_preflight against a canned Prometheus API: reachability and credentials, the
canary's SLI series, the refusal that lists the label values that exist (#14 items 14 and 15)."""
from __future__ import annotations

import base64

import pytest
import yaml

from ansible_collections.veza.infra.plugins.module_utils import _sli_preflight
from ansible_collections.veza.infra.plugins.modules import prom_preflight
from ansible_collections.veza.infra.tests.unit.plugins.modules.prom_docs import documented_options

HIST = "veza_gin_http_request_duration_seconds"
BUILD = (200, {"status": "success", "data": {"version": "2.42.0"}})


def ok(data):
    return (200, {"status": "success", "data": data})


def test_documentation_matches_argument_spec():
    _doc, options = documented_options(prom_preflight)
    spec = _sli_preflight.argument_spec()
    assert sorted(options) == sorted(spec)
    for name, opt in spec.items():
        assert options[name]["type"] == opt["type"], name
        assert options[name].get("default") == opt.get("default"), name
    for block in (prom_preflight.EXAMPLES, prom_preflight.RETURN):
        assert yaml.safe_load(block)


def _args(server, **over):
    args = {"url": server.url, "selector": 'instance="backend-api-2:8080"', "timeout": 2}
    args.update(over)
    return args


@pytest.mark.parametrize("check_mode", [False, True])
def test_series_present_passes_read_only(run_module, canned_http, check_mode):
    canned_http.answers.update({"/api/v1/status/buildinfo": BUILD,
                                "/api/v1/series": ok([{"__name__": HIST + "_count", "instance": "backend-api-2:8080"}])})
    code, out = run_module(prom_preflight, _args(canned_http, _ansible_check_mode=check_mode,
                                                 url_username="veza", url_password="s3cret"))
    assert code == 0 and out["changed"] is False, out
    assert out["version"] == "2.42.0"
    assert out["series"] == {HIST + '_bucket{instance="backend-api-2:8080"}': 1,
                             HIST + '_count{instance="backend-api-2:8080"}': 1}
    paths = [seen[0].split("?")[0] for seen in canned_http.seen]
    assert paths == ["/api/v1/status/buildinfo", "/api/v1/series", "/api/v1/series"]
    assert all(seen[1] == "Basic " + base64.b64encode(b"veza:s3cret").decode() for seen in canned_http.seen)
    assert "match%5B%5D=" + HIST + "_count%7Binstance%3D%22backend-api-2%3A8080%22%7D" in canned_http.seen[2][2]
    assert "s3cret" not in repr(out)


def test_refused_credentials_fail_before_anything_else(run_module, canned_http):
    canned_http.answers["*"] = (401, b"Unauthorized\n")
    code, out = run_module(prom_preflight, _args(canned_http, url_username="veza", url_password="wrong"))
    assert code == 1 and out["failed"] is True
    assert "refused the credentials (HTTP 401)" in out["msg"] and "nothing was changed" in out["msg"]
    assert len(canned_http.seen) == 1 and "wrong" not in out["msg"]


def test_unreachable_prometheus_is_refused(run_module):
    code, out = run_module(prom_preflight, {"url": "http://127.0.0.1:9", "timeout": 2})
    assert code == 1 and "Prometheus at http://127.0.0.1:9 is not answering: cannot reach Prometheus at http://127.0.0.1:9" in out["msg"]


def test_missing_series_lists_the_label_values_that_exist(run_module, canned_http):
    canned_http.answers.update({
        "/api/v1/status/buildinfo": BUILD, "/api/v1/series": ok([]),
        "/api/v1/label/instance/values": ok(["backend-api-2.lxd:8080", "backend-api-1.lxd:8080"])})
    code, out = run_module(prom_preflight, _args(canned_http, selector_knob="canary_sli_selector"))
    assert code == 1
    msg = out["msg"]
    assert msg.startswith('no series %s_bucket{instance="backend-api-2:8080"}' % HIST)
    assert "instance values of %s_bucket: backend-api-1.lxd:8080, backend-api-2.lxd:8080" % HIST in msg
    assert 'Fix canary_sli_selector (now instance="backend-api-2:8080")' in msg
    assert out["label_values"] == {"instance": ["backend-api-1.lxd:8080", "backend-api-2.lxd:8080"]}
    label_calls = [s[0] for s in canned_http.seen if s[0].startswith("/api/v1/label/")]
    assert label_calls and "match%5B%5D=" + HIST + "_bucket" in label_calls[0]


def test_every_selector_label_is_listed(run_module, canned_http):
    canned_http.answers.update({
        "/api/v1/status/buildinfo": BUILD, "/api/v1/series": ok([]),
        "/api/v1/label/instance/values": ok(["a:8080"]), "/api/v1/label/job/values": ok(["backend-api"])})
    code, out = run_module(prom_preflight, _args(canned_http, selector='job="api", instance="b:8080"'))
    assert code == 1 and out["label_values"] == {"job": ["backend-api"], "instance": ["a:8080"]}
    assert "job values of" in out["msg"] and "instance values of" in out["msg"]


def test_no_histogram_at_all_says_so(run_module, canned_http):
    canned_http.answers.update({"/api/v1/status/buildinfo": BUILD, "/api/v1/series": ok([]),
                                "/api/v1/label/instance/values": ok([])})
    code, out = run_module(prom_preflight, _args(canned_http))
    assert code == 1 and "no series of %s_bucket at all" % HIST in out["msg"]


def test_custom_slis_must_be_accepted_and_have_data(run_module, canned_http):
    canned_http.answers.update({"/api/v1/status/buildinfo": BUILD,
                                "/api/v1/query": ok({"resultType": "vector", "result": []})})
    slis = [{"name": "healthy", "query": 'sum(up{job="x"})', "min": 1}]
    code, out = run_module(prom_preflight, _args(canned_http, slis=slis))
    assert code == 1 and "slis/healthy returns no data" in out["msg"]
    canned_http.answers["/api/v1/query"] = (400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
    code, out = run_module(prom_preflight, _args(canned_http, slis=slis))
    assert code == 1 and "slis/healthy: Prometheus rejected the query: bad_data: parse error" in out["msg"]
    canned_http.answers["/api/v1/query"] = ok({"resultType": "vector", "result": [{"metric": {}, "value": [1, "3"]}]})
    code, out = run_module(prom_preflight, _args(canned_http, slis=slis))
    assert code == 0 and out["series"] == {"healthy": 1}


@pytest.mark.parametrize("args,needle", [
    ({"lookback": 0}, "lookback: seconds of history"),
    ({"selector": "instance=b"}, "selector: expected PromQL label matchers"),
    ({"timeout": float("nan")}, "timeout: must be a positive, finite number"),
    ({"histogram": "a b"}, "histogram: 'a b' is not a Prometheus metric name"),
    ({"url": "prom:9090"}, "Prometheus at prom:9090 is not a usable address: url: cannot parse"),
    ({"url": "prom lxd"}, "Prometheus at prom lxd is not"),
    ({"bearer_token_file": "/nonexistent/token"}, "bearer_token_file: cannot read /nonexistent/token"),
    ({"ca_path": "/nonexistent/ca.pem"}, "ca_path: /nonexistent/ca.pem is not a file"),
    ({"bearer_token": "tok-abc", "url_username": "u", "url_password": "pw-xyz"}, "mutually exclusive"),
])
def test_bad_input_fails_with_the_field(run_module, canned_http, args, needle):
    code, out = run_module(prom_preflight, _args(canned_http, **args))
    assert code == 1 and needle in out["msg"] and "exception" not in out
    assert canned_http.seen == []


def test_bearer_token_file_is_sent(run_module, canned_http, tmp_path):
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    canned_http.answers.update({"/api/v1/status/buildinfo": BUILD, "/api/v1/series": ok([{"instance": "x"}])})
    code, out = run_module(prom_preflight, _args(canned_http, bearer_token_file=str(token)))
    assert code == 0, out
    assert {seen[1] for seen in canned_http.seen} == {"Bearer t0k3n"}
