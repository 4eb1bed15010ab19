# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prom_sli_watch module: its documentation matches the shared argument spec, bad input
fails with a message (no traceback), a short window against a canned Prometheus API answers."""
from __future__ import annotations

import socket

import pytest
import yaml

from ansible_collections.veza.infra.plugins.module_utils import _sli_watch
from ansible_collections.veza.infra.plugins.modules import prom_sli_watch
from ansible_collections.veza.infra.tests.unit.plugins.modules.prom_docs import documented_options


def test_documentation_matches_argument_spec():
    doc, options = documented_options(prom_sli_watch)
    doc["options"] = options
    spec = _sli_watch.argument_spec()
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
def test_bad_input_fails_with_message(run_module, args, needle):
    code, out = run_module(prom_sli_watch, args)
    assert code == 1 and out["failed"] is True
    assert needle in out["msg"]
    assert "Traceback" not in out["msg"] and "exception" not in out


def _vector(value):
    return (200, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}})


def _args(server, **over):
    args = {"url": server.url, "window": 1, "interval": 1, "min_window": 0,
            "_ansible_check_mode": True}
    args.update(over)
    return args


def test_green_window_in_check_mode_is_unchanged(run_module, canned_http, tmp_path):
    canned_http.answers["*"] = _vector("0.001")
    code, out = run_module(prom_sli_watch, _args(canned_http, report_path=str(tmp_path / "r.json")))
    assert code == 0 and out["changed"] is False
    assert out["verdict"] == "green" and len(out["probes"]) == 2
    assert (tmp_path / "r.json").exists() and (tmp_path / "r.html").exists()


def test_red_fails_unless_fail_on_red_is_false(run_module, canned_http):
    canned_http.answers["*"] = _vector("0.9")
    code, out = run_module(prom_sli_watch, _args(canned_http))
    assert code == 1 and out["failed"] is True and out["verdict"] == "red"
    assert out["msg"].startswith("SLI p95_latency breached its threshold: 0.9 > max 0.5")
    code, out = run_module(prom_sli_watch, _args(canned_http, fail_on_red=False))
    assert code == 0 and not out.get("failed") and out["verdict"] == "red"


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_prometheus_is_never_green(run_module):
    # #14 item 1: two error probes below error_limit=3 used to end "green ... recovered"
    args = {"url": "http://127.0.0.1:%d" % _closed_port(), "window": 1, "interval": 1, "min_window": 0,
            "slis": [{"name": "zero", "query": "vector(0)", "max": 1}]}
    code, out = run_module(prom_sli_watch, args)
    assert code == 1 and out["failed"] is True and out["verdict"] == "red"
    assert [p["status"] for p in out["probes"]] == ["error", "error"]
    assert "no evidence" in out["msg"]


@pytest.mark.parametrize("args,needle", [
    ({"timeout": float("inf")}, "timeout: must be a positive, finite number"),
    ({"timeout": 1e308}, "timeout: must be a positive, finite number"),
    ({"timeout": float("nan")}, "timeout: must be a positive, finite number"),
    ({"p95_threshold": float("nan")}, "p95_threshold: must be a finite"),
])
def test_non_finite_numbers_fail_without_traceback(run_module, canned_http, args, needle):
    canned_http.answers["*"] = _vector("0.001")
    code, out = run_module(prom_sli_watch, _args(canned_http, **args))
    assert code == 1 and needle in out["msg"]
    assert "exception" not in out and out["probes"] == []


def test_malformed_answer_is_an_error_probe_not_a_traceback(run_module, canned_http):
    canned_http.answers["*"] = (200, {"status": "success", "data": [1]})
    code, out = run_module(prom_sli_watch, _args(canned_http))
    assert code == 1 and "exception" not in out and out["verdict"] == "red"
    assert out["probes"][0]["status"] == "error"
    assert "malformed Prometheus answer" in out["probes"][0]["errors"]["p95_latency"]


def test_inconclusive_fails_the_task_and_is_told_from_red(run_module, canned_http):
    """Relative gate: canary and baseline both over the threshold (fleet-wide) is inconclusive;
    the task fails like red (fail_on_red) but the verdict says inconclusive."""
    canned_http.answers["*"] = _vector("0.9")
    args = _args(canned_http, baseline_instances=["peer-1:8080"], min_requests=0, hold_limit=0)
    code, out = run_module(prom_sli_watch, args)
    assert code == 1 and out["failed"] is True and out["verdict"] == "inconclusive"
    assert "fleet-wide" in out["msg"] and "Not rolled back" in out["msg"]
    code, out = run_module(prom_sli_watch, dict(args, fail_on_red=False))
    assert code == 0 and not out.get("failed") and out["verdict"] == "inconclusive"
    assert out["counts"]["inconclusive"] == len(out["probes"])
