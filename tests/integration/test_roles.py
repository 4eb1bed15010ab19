# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Roles through the real ansible-playbook: argument validation stops a bad variable before any
task (naming it), and the haproxy.cfg template renders configurations the real HAProxy 2.6
accepts (`haproxy -c`: the role's own validate step) for the lab groups, the fallback list and
HTTPS. What the roles do on a host is Molecule's part (roles/*/molecule)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from ansible_run import ROOT, task_results
from ansible_run import playbook as run_playbook


def playbook(tmp_path, text, *args, inventory=None):
    book = tmp_path / "play.yml"
    book.write_text(textwrap.dedent(text))
    inv = tmp_path / "inv.yml"
    inv.write_text(inventory or "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    done = run_playbook(book, inv, *args, cwd=tmp_path, env=dict(ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                                                                 ANSIBLE_DEPRECATION_WARNINGS="0"))
    if done.doc is None:
        pytest.fail("no JSON from ansible-playbook: %s\n%s" % (done.stdout[-2000:], done.stderr[-2000:]))
    return done.rc, done.doc


ROLE_PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: veza.infra.{role}
"""


@pytest.mark.parametrize("role,var,value,expect", [
    ("haproxy", "haproxy_check_interval", "5s", "haproxy_check_interval"),
    ("haproxy", "haproxy_http_port", "eighty", "haproxy_http_port"),
    ("haproxy", "haproxy_package_state", "absent", "haproxy_package_state"),
    ("haproxy", "haproxy_backend_api_fallback", [{"name": "x"}], "address"),
    ("backend_api", "backend_api_port", "http", "backend_api_port"),
    ("common", "common_journald_rate_limit_burst", "many", "common_journald_rate_limit_burst"),
])
def test_bad_variable_fails_at_validation_naming_it(tmp_path, role, var, value, expect):
    rc, out = playbook(tmp_path, ROLE_PLAY.format(role=role), "-e", json.dumps({var: value}))
    assert rc == 2
    results = list(task_results(out))
    # the validation task is the only task that ran, and it failed naming the variable
    assert len(results) == 1, [r[0] for r in results]
    name, _host, res = results[0]
    assert "Validating arguments" in name
    assert res.get("failed") is True
    assert expect in res["msg"], res["msg"]


@pytest.mark.parametrize("role", ["haproxy", "backend_api", "common"])
def test_defaults_pass_validation(tmp_path, role):
    # --tags nothing: only the always-tagged validation task runs, nothing touches this machine
    rc, out = playbook(tmp_path, ROLE_PLAY.format(role=role), "--tags", "veza_nothing")
    assert rc == 0, out
    results = list(task_results(out))
    assert [r[0] for r in results if "Validating arguments" in r[0]]
    assert all(not r[2].get("failed") for r in results)


RENDER_PLAY = """
- hosts: haproxy
  gather_facts: false
  vars_files:
    - {root}/roles/haproxy/defaults/main.yml
  tasks:
    - name: Render haproxy.cfg like the role does
      ansible.builtin.template:
        src: {root}/roles/haproxy/templates/haproxy.cfg.j2
        dest: {dest}
        mode: "0600"
        validate: haproxy -c -f %s
"""
LAB_INVENTORY = """
all:
  hosts:
    lb:
      ansible_connection: local
  children:
    haproxy:
      hosts:
        lb:
    backend_api_instances:
      hosts:
        backend-api-1: {ansible_host: 127.0.0.11}
        backend-api-2: {haproxy_upstream_address: 127.0.0.12}
"""


def render(tmp_path, extra=None, inventory=LAB_INVENTORY):
    dest = tmp_path / "haproxy.cfg"
    rc, out = playbook(tmp_path, RENDER_PLAY.format(root=ROOT, dest=dest), "-e",
                       json.dumps(dict({"haproxy_server_state_file": str(tmp_path / "state")}, **(extra or {}))),
                       inventory=inventory)
    assert rc == 0, [r[2].get("msg") for r in task_results(out)]
    return dest.read_text()


def test_lab_groups_become_servers(tmp_path):
    cfg = render(tmp_path, {"haproxy_check_interval": 1500})
    assert "server backend-api-1 127.0.0.11:8080 cookie backend-api-1" in cfg
    assert "server backend-api-2 127.0.0.12:8080 cookie backend-api-2" in cfg
    # stream_server_instances missing, empty fallback: an empty pool, still valid
    assert "server stream" not in cfg
    assert "default-server check inter 1500ms fall 3 rise 2 slowstart 30s on-marked-down shutdown-sessions" in cfg
    for line in ("stats socket ipv4@127.0.0.1:9100 level admin",
                 "stats socket /run/haproxy/admin.sock mode 660 level admin",
                 "load-server-state-from-file global", "option redispatch",
                 "retry-on conn-failure empty-response response-timeout",
                 "cookie SERVERID insert indirect nocache", "balance uri", "hash-type consistent",
                 "http-check send meth GET uri /api/v1/health"):
        assert line in cfg
    assert "ssl" not in cfg


def test_dark_step_rules_and_weights_rendered_and_valid(tmp_path):
    """The canary's dark step (#16): one use-server rule per api_pool server (the same text as
    tests/integration/haproxy_lab.py, whose real HAProxy 2.6 shows it routes), weight 100 on the
    server lines; `haproxy -c` (the template's validate) accepts it; an empty header renders none."""
    cfg = render(tmp_path)
    for n in ("backend-api-1", "backend-api-2"):
        assert ("use-server %s if { req.hdr(X-Veza-Canary) -m str 1 } { srv_uweight(api_pool/%s) eq 0 }" % (n, n)) in cfg
        assert "cookie %s weight 100" % n in cfg
    assert "http-response set-header X-Veza-Served-By %[srv_name] if { var(txn.veza_canary) -m str 1 }" in cfg
    assert "use-server" not in render(tmp_path, {"haproxy_canary_header": ""})


def test_fallback_when_group_missing(tmp_path):
    inventory = "all:\n  children:\n    haproxy:\n      hosts:\n        lb: {ansible_connection: local}\n"
    cfg = render(tmp_path, {"haproxy_stream_server_fallback": [{"name": "s1", "address": "127.0.0.21", "port": 9000}]},
                 inventory=inventory)
    assert "server backend-api-1 127.0.0.1:8080 cookie backend-api-1" in cfg
    assert "server s1 127.0.0.21:9000" in cfg


def test_https_with_mozilla_intermediate(tmp_path):
    pem = tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=veza.test",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "crt.pem")],
                   check=True, capture_output=True, timeout=60)
    pem.write_text((tmp_path / "crt.pem").read_text() + (tmp_path / "key.pem").read_text())
    cfg = render(tmp_path, {"haproxy_tls_cert_path": str(pem), "haproxy_https_redirect": True})
    assert "bind *:443 ssl crt %s alpn h2,http/1.1" % pem in cfg
    assert "ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:" in cfg
    assert "ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets" in cfg
    assert "http-request redirect scheme https code 301 unless { ssl_fc }" in cfg


def test_invalid_config_is_refused_by_validate(tmp_path):
    dest = tmp_path / "haproxy.cfg"
    rc, out = playbook(tmp_path, RENDER_PLAY.format(root=ROOT, dest=dest), "-e",
                       json.dumps({"haproxy_retry_on": "conn-failure bogus-event"}), inventory=LAB_INVENTORY)
    assert rc == 2
    msgs = [r[2].get("msg", "") for r in task_results(out) if r[2].get("failed")]
    assert msgs and "failed to validate" in msgs[0]
    assert not dest.exists()


STREAM_INVENTORY = LAB_INVENTORY + """    stream_server_instances:
      hosts:
        stream-server-1: {haproxy_upstream_address: 127.0.0.21}
        stream-server-2: {haproxy_upstream_address: 127.0.0.22}
"""


@pytest.mark.parametrize("extra, suffix", [
    ({}, ""),                                                   # default: the pool's slowstart (kept, issue 19)
    ({"haproxy_slowstart": 5000}, ""),                          # follows haproxy_slowstart
    ({"haproxy_stream_slowstart": 0}, " slowstart 0s"),         # off on stream_pool only
    ({"haproxy_stream_slowstart": 2500}, " slowstart 2500ms"),
])
def test_stream_pool_slowstart(tmp_path, extra, suffix):
    cfg = render(tmp_path, extra, inventory=STREAM_INVENTORY)
    stream = cfg[cfg.index("backend stream_pool"):]
    assert "    server stream-server-1 127.0.0.21:8082%s\n" % suffix in stream
    assert "    server stream-server-2 127.0.0.22:8082%s\n" % suffix in stream
    # api_pool keeps the defaults section's slowstart whatever stream_pool does
    assert "slowstart %s on-marked-down" % ("5s" if extra.get("haproxy_slowstart") else "30s") in cfg
    assert "slowstart" not in cfg[cfg.index("backend api_pool"):cfg.index("backend stream_pool")]
