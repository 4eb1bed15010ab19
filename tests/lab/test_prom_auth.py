# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The canary against an authenticated, TLS Prometheus on the lab (issue 14, item 14, last "done
when" bullet).

The lab's Prometheus container is reconfigured by the collection's own role (playbooks/prometheus.yml
with prometheus_web_config: TLS with a throw-away CA made by the openssl CLI, basic auth with a
bcrypt hash), then:
  - a real canary (playbooks/canary.yml, 30 s SLI window) under load, with PROM_URL=https://...,
    PROM_CA_CERT, PROM_USERNAME/PROM_PASSWORD, passes with no failed request;
  - the same run with a wrong password is refused by the pre-flight before anything changes: no
    drain task ran, HAProxy's servers are as before, no deploy lock, the versions are unchanged.
The module fixture ALWAYS puts the lab's Prometheus back on plain HTTP (the same role, no web
config), because every other lab test reads it that way.

The controller reaches Prometheus through the proxy device scripts/lab.py publishes on
127.0.0.1:VEZA_LAB_PROM_PORT (a TCP proxy: TLS goes through to Prometheus), so the server
certificate covers IP 127.0.0.1, plus the container's DNS names (<prometheus>.lxd, prom.lxd) for
a controller on the bridge.

Runs on the lab of the session fixture: the default lab inside `make test`, or a named one:
  VEZA_LAB_NAME=authlab VEZA_LAB_HTTP_PORT=28080 VEZA_LAB_ADMIN_PORT=29100 VEZA_LAB_PROM_PORT=29090 \
    python -m pytest -q -s tests/lab/test_prom_auth.py
"""
from __future__ import annotations

import json
import os
import sys
import time

import pytest
import yaml

from lab import LOCK, POOL, LabError, run_playbook
from loadgen import LoadGen, summary

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from prometheus_lab import WebConfig  # noqa: E402  pylint: disable=wrong-import-position

USER = "veza-canary"
PASSWORD = "lab-s3cret-pw"
WRONG = "wr0ng-lab-pw"
TLS_DIR = "/etc/prometheus/tls"  # on the Prometheus container
WEB_CONFIG_FILE = "/etc/prometheus/web.yml"  # roles/prometheus default prometheus_web_config_file


def _playbook_prometheus(reports, extra_args=()):
    proc, elapsed = run_playbook("prometheus", reports, extra_args=extra_args)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return elapsed


def _wait_scraping(lab, timeout=90.0):
    """Seconds until Prometheus, as lab.prom_query reaches it, has scraped every backend target
    in the last 5 s (samples from before its restart do not count)."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            if len(lab.prom_query('timestamp(up{job="backend-api"} == 1) > time() - 5')) == 2:
                return time.monotonic() - t0
        except LabError as exc:
            last = str(exc)
        time.sleep(1)
    raise LabError("Prometheus not scraping both backends %.0f s after its restart: %s" % (timeout, last))


@pytest.fixture(scope="module")
def secure_prom(lab, reports, tmp_path_factory):
    """The lab's Prometheus behind TLS + basic auth for the module; plain HTTP again afterwards."""
    prom = lab.node("prometheus")
    work = tmp_path_factory.mktemp("prom-auth")
    web = WebConfig(str(work), users={USER: PASSWORD}, tls=True,
                    san=("IP:127.0.0.1", "DNS:localhost", "DNS:%s.lxd" % prom, "DNS:%s" % prom, "DNS:prom.lxd"))
    with open(web.path, encoding="utf-8") as fh:
        users = yaml.safe_load(fh)["basic_auth_users"]  # the bcrypt hash WebConfig made
    web_config = {"tls_server_config": {"cert_file": TLS_DIR + "/server.pem", "key_file": TLS_DIR + "/server.key"},
                  "basic_auth_users": users}
    extra = os.path.join(str(work), "web-vars.json")
    with open(extra, "w", encoding="utf-8") as fh:
        json.dump({"prometheus_web_config": web_config}, fh)
    plain_url = lab.prom_url
    https_url = plain_url.replace("http://", "https://", 1)
    figures = {}
    try:
        lab.exec(prom, "install", "-d", "-m", "0750", "-g", "prometheus", TLS_DIR)
        lab.push(os.path.join(web.dir, "server.pem"), prom, TLS_DIR + "/server.pem", mode="0644")
        lab.push(os.path.join(web.dir, "server.key"), prom, TLS_DIR + "/server.key", mode="0640")
        lab.exec(prom, "chgrp", "prometheus", TLS_DIR + "/server.key")
        figures["secure_converge_s"] = round(_playbook_prometheus(reports, ("-e", "@" + extra)), 1)
        lab.prom_url = https_url
        lab.prom_options = {"ca_path": web.ca, "url_username": USER, "url_password": PASSWORD}
        figures["secure_ready_s"] = round(_wait_scraping(lab), 1)
        print("\nprom-auth: %s behind TLS + basic auth (converge %.1f s, scraping again after %.1f s)"
              % (https_url, figures["secure_converge_s"], figures["secure_ready_s"]))
        yield {"url": https_url, "ca": web.ca, "plain_url": plain_url, "figures": figures}
    finally:
        # Plain HTTP again, whatever happened above: the role with no web config removes web.yml
        # and restarts Prometheus without --web.config.file.
        lab.prom_url = plain_url
        lab.prom_options = {}
        t0 = time.monotonic()
        _playbook_prometheus(reports)
        lab.exec(prom, "rm", "-rf", TLS_DIR)
        ready = _wait_scraping(lab)
        assert lab.exec(prom, "test", "-e", WEB_CONFIG_FILE, check=False).returncode != 0
        print("\nprom-auth: Prometheus back on plain HTTP at %s in %.1f s (scraping after %.1f s)"
              % (plain_url, time.monotonic() - t0, ready))


def _other_build(lab):
    """The build the canary does not run now (v1.0.10, or v1.0.9 when it already runs 1.0.10):
    the run changes something on any lab, the default one after test_canary.py included."""
    return "v1.0.9" if lab.version(lab.node("backend-api-2")) == "1.0.10" else "v1.0.10"


def _knobs(lab, builds, secure, password):
    return {"ARTIFACT": builds[_other_build(lab)], "CANARY_NODE": lab.node("backend-api-2"),
            "PEER_NODES": lab.node("backend-api-1"), "PROM_URL": secure["url"], "PROM_CA_CERT": secure["ca"],
            "PROM_USERNAME": USER, "PROM_PASSWORD": password}


def _pool(lab):
    """(status, weight) of every api_pool server: what a drain would change."""
    return {name: (row.get("status"), row.get("weight")) for name, row in lab.server_rows(POOL).items()}


def _settled_pool(lab, timeout=60.0):
    """_pool once every api_pool server is UP at its configured weight: the run before may have
    left a re-enabled server in its slowstart ramp (weight 82 of 100), which ends by itself."""
    rt = lab.runtime()
    deadline = time.monotonic() + timeout
    while True:
        # show stat's weight is the effective one (it ramps during slowstart); initial_weight the configured one
        stat = lab.server_rows(POOL)
        if all(row.get("weight") == rt.server(POOL, name)["initial_weight"] for name, row in stat.items()) \
                or time.monotonic() > deadline:
            return _pool(lab)
        time.sleep(0.5)


def _tasks(output):
    return [line for line in output.splitlines() if line.startswith("TASK [")]


def test_the_lab_prometheus_refuses_plain_and_unauthenticated_clients(lab, secure_prom):
    from ansible_collections.veza.infra.plugins.module_utils._prom_client import (  # pylint: disable=import-outside-toplevel
        PromClient)
    assert lab.prom().buildinfo().kind == "ok"
    res = PromClient(secure_prom["plain_url"], timeout=5).query("up")
    assert res.kind == "error", res  # plain HTTP to a TLS listener
    res = PromClient(secure_prom["url"], timeout=5, ca_path=secure_prom["ca"]).query("up")
    assert res.error_type == "auth" and res.status == 401, res


def test_canary_passes_against_tls_and_basic_auth(lab, builds, reports, secure_prom):
    canary, peer = lab.node("backend-api-2"), lab.node("backend-api-1")
    want = _other_build(lab).lstrip("v")
    gen = LoadGen(lab.http_url + "/api/v1/tracks", rate=40, duration=600, clients=8, sticky_share=0.3)
    gen.start()
    try:
        proc, elapsed = run_playbook("canary", reports, **_knobs(lab, builds, secure_prom, PASSWORD))
    finally:
        res = gen.stop()
    print(summary(res))
    print("prom-auth canary: rc %d, wall %.1f s, requests %d, failed %d, over 1 s %d, max %.3f s"
          % (proc.returncode, elapsed, res["sent"], res["failed"], res["over_1s"], res["max_s"]))
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert PASSWORD not in proc.stdout
    tasks = _tasks(proc.stdout)
    assert any("Preflight | Prometheus answers with the canary's credentials" in t for t in tasks), tasks
    assert any("Drain | Step 2" in t for t in tasks), tasks  # a real roll: the canary was drained
    assert any("Gate | Step 7" in t for t in tasks), tasks
    assert [lab.version(b) for b in (canary, peer)] == [want, want]
    reports_of = sorted((os.path.join(reports, f) for f in os.listdir(reports)
                         if f.startswith("sli-%s-" % canary) and f.endswith(".json")), key=os.path.getmtime)
    with open(reports_of[-1], encoding="utf-8") as fh:
        report = json.load(fh)
    assert report["verdict"] == "green", report.get("reason")
    assert all(p["status"] != "error" for p in report["probes"]), report["probes"]
    assert all((s or "").split(" ")[0] == "UP" for s, _w in _pool(lab).values()), _pool(lab)
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock left behind"
    assert res["sent"] > 200, res["sent"]
    assert res["failed"] == 0, res["failures"][:10]


def test_wrong_password_is_refused_in_the_preflight_before_any_drain(lab, builds, reports, secure_prom):
    canary, peer = lab.node("backend-api-2"), lab.node("backend-api-1")
    pool_before = _settled_pool(lab)
    versions_before = [lab.version(b) for b in (canary, peer)]
    proc, elapsed = run_playbook("canary", reports, **_knobs(lab, builds, secure_prom, WRONG))
    print("prom-auth wrong password: rc %d, refused after %.1f s" % (proc.returncode, elapsed))
    assert proc.returncode != 0
    out = proc.stdout
    assert "refused the credentials (HTTP 401)" in out, out[-4000:]
    assert WRONG not in out
    tasks = _tasks(out)
    # The pre-flight's Prometheus check is the last task that ran: no lock, no drain, no push.
    assert "Preflight | Prometheus answers with the canary's credentials" in tasks[-1], tasks[-3:]
    assert not [t for t in tasks if "Drain" in t or "Step 2" in t or "Lock |" in t], tasks
    assert "PLAY [Canary - steps 2 to 7" not in out
    assert _pool(lab) == pool_before
    assert lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode != 0, "deploy lock taken"
    assert [lab.version(b) for b in (canary, peer)] == versions_before
