# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An authenticated, TLS Prometheus (#14 items 14 and 15): a real Prometheus started with
--web.config.file (basic auth with a bcrypt hash, TLS with a throw-away CA made by the openssl
CLI) scraping the veza-api stand-in. The one client, veza.infra.prom_preflight, prom_sli_watch,
and the canary role's Prometheus pre-flight and gate with the PROM_* knobs, against it."""
from __future__ import annotations

import json

import ansible_run
import pytest
from prometheus_lab import (  # noqa: F401  pylint: disable=unused-import
    Prometheus, WebConfig, canary_role_run, p95_query, prom_lab, wait_until)
from test_prom_sli_watch import ENV, run

from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromClient

PASSWORD = "s3cret-pw"
ROLE = "veza.infra.canary : "
PREFLIGHT = ROLE + "Preflight | Prometheus answers with the canary's credentials and has its SLI series"
GATE = ROLE + "Gate | Step 7 - SLI watch on the canary for the window"
WRONG = "wr0ng-pw-here"


@pytest.fixture(scope="module")
def secure_prom(prom_lab):
    web = WebConfig(prom_lab.workdir, users={"veza-canary": PASSWORD}, tls=True)
    prom = Prometheus([prom_lab.stand_in.address], prom_lab.workdir, web=web)
    try:
        wait_until(lambda: prom.value(p95_query(prom_lab.selector)) is not None, 30, step=0.25,
                   what="data in the authenticated prometheus")
        yield prom
    finally:
        prom.cleanup()


def _module(name, args):
    done = ansible_run.run(["ansible", "localhost", "-m", name, "-a", json.dumps(args)], env=ENV, timeout=120)
    return done.rc, done.need_doc()["plays"][0]["tasks"][0]["hosts"]["localhost"], done.stdout + done.stderr


def test_the_client_through_tls_and_basic_auth(secure_prom):
    web = secure_prom.web
    assert secure_prom.url.startswith("https://")
    assert secure_prom.client.buildinfo().kind == "ok"
    res = PromClient(secure_prom.url, ca_path=web.ca, url_username="veza-canary", url_password=WRONG).query("up")
    assert res.kind == "error" and res.error_type == "auth" and res.status == 401
    res = PromClient(secure_prom.url, ca_path=web.ca).query("up")
    assert res.error_type == "auth" and "refused the credentials" in res.text
    res = PromClient(secure_prom.url, url_username="veza-canary", url_password=PASSWORD).query("up")
    assert res.kind == "error" and "CERTIFICATE_VERIFY_FAILED" in res.text
    res = PromClient(secure_prom.url, validate_certs=False, url_username="veza-canary", url_password=PASSWORD).query("up")
    assert res.kind == "ok"


def _conn(prom, **over):
    args = {"url": prom.url, "ca_path": prom.web.ca, "url_username": "veza-canary", "url_password": PASSWORD}
    args.update(over)
    return args


def test_preflight_passes_with_the_right_credentials(secure_prom, prom_lab):
    rc, res, _out = _module("veza.infra.prom_preflight", _conn(secure_prom, selector=prom_lab.selector))
    assert rc == 0, res
    assert res["changed"] is False and res["version"].startswith("2.")
    assert all(count >= 1 for count in res["series"].values()) and len(res["series"]) == 2


def test_preflight_refuses_a_wrong_password_without_showing_it(secure_prom, prom_lab):
    rc, res, out = _module("veza.infra.prom_preflight",
                           _conn(secure_prom, url_password=WRONG, selector=prom_lab.selector))
    assert rc != 0 and res["failed"] is True
    assert "refused the credentials (HTTP 401)" in res["msg"]
    assert WRONG not in out


def test_preflight_refuses_a_selector_without_series_and_lists_the_instances(secure_prom, prom_lab):
    # the runbook's naming, while this Prometheus labels the canary 127.0.0.1:<port> (#14 item 15)
    rc, res, _out = _module("veza.infra.prom_preflight",
                            _conn(secure_prom, selector='instance="backend-api-2.lxd:8080"'))
    assert rc != 0
    assert 'no series veza_gin_http_request_duration_seconds_bucket{instance="backend-api-2.lxd:8080"}' in res["msg"]
    assert "instance values of veza_gin_http_request_duration_seconds_bucket: %s" % prom_lab.stand_in.address \
        in res["msg"]
    assert res["label_values"] == {"instance": [prom_lab.stand_in.address]}


def test_sli_watch_through_tls_and_basic_auth(secure_prom, prom_lab):
    rc, res = run(_conn(secure_prom, selector=prom_lab.selector, window=2, interval=1, min_window=1,
                        scrape_interval=prom_lab.scrape_interval))
    assert rc == 0, res
    assert res["verdict"] == "green" and [p["status"] for p in res["probes"]] == ["green"] * 3
    rc, res = run(_conn(secure_prom, url_password=WRONG, selector=prom_lab.selector, window=1, interval=1,
                        min_window=0, scrape_interval=prom_lab.scrape_interval))
    assert rc != 0 and res["verdict"] == "red"
    assert "refused the credentials" in res["msg"] and "no evidence" in res["msg"]


def _canary(tmp_path, selector, **env):
    return canary_role_run(tmp_path, selector, SLI_WINDOW="2", SLI_MIN_WINDOW="1", SLI_PROBE_INTERVAL="1", **env)


def test_canary_role_knobs_against_an_authenticated_tls_prometheus(secure_prom, prom_lab, tmp_path):
    env = {"PROM_URL": secure_prom.url, "PROM_USERNAME": "veza-canary", "PROM_CA_CERT": secure_prom.web.ca}
    rc, tasks, out = _canary(tmp_path, prom_lab.selector, PROM_PASSWORD=PASSWORD, **env)
    assert rc == 0, out[-3000:]
    pre = tasks[(PREFLIGHT, "lb")]
    assert pre["series"] and not pre.get("failed")
    gate = tasks[(GATE, "canary-1")]
    assert gate["verdict"] == "green" and len(gate["probes"]) == 3
    assert PASSWORD not in out
    # a wrong password is refused by the pre-flight; the gate never runs
    rc, tasks, out = _canary(tmp_path, prom_lab.selector, PROM_PASSWORD=WRONG, **env)
    assert rc != 0
    pre = tasks[(PREFLIGHT, "lb")]
    assert pre["failed"] and "refused the credentials (HTTP 401)" in pre["msg"]
    assert not any(name.startswith(ROLE + "Gate") for name, _host in tasks)
    assert WRONG not in out
    # the runbook's naming while Prometheus labels the canary otherwise: refused, listing what exists
    rc, tasks, out = _canary(tmp_path, 'instance="canary-1.lxd:8080"', PROM_PASSWORD=PASSWORD, **env)
    assert rc != 0
    pre = tasks[(PREFLIGHT, "lb")]
    assert prom_lab.stand_in.address in pre["msg"] and "Fix canary_sli_selector" in pre["msg"]
    assert not any(name.startswith(ROLE + "Gate") for name, _host in tasks)
