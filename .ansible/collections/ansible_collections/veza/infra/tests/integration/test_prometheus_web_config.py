# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/prometheus's prometheus_web_config, without Molecule: the role's own templates rendered
by ansible-playbook, the web config checked by promtool, and a real Prometheus started with the
rendered service arguments serves TLS with basic auth that the collection's client gets through."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

from prometheus_lab import ROOT, Prometheus, WebConfig, bcrypt_hash
from test_prom_sli_watch import ENV

from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromClient

TEMPLATES = os.path.join(ROOT, "roles", "prometheus", "templates")


def _render(tmp_path, web_config):
    out = tmp_path / "out"
    out.mkdir()
    variables = {"prometheus_web_config": web_config, "prometheus_web_config_file": str(out / "web.yml"),
                 "prometheus_listen_address": "127.0.0.1:9090", "prometheus_retention_time": "15d"}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "render.yml").write_text("""---
- name: Render roles/prometheus templates
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Web config
      ansible.builtin.template:
        src: %(t)s/web.yml.j2
        dest: %(o)s/web.yml
        mode: "0640"
        validate: promtool check web-config %%s
      when: prometheus_web_config | length > 0
    - name: Service arguments
      ansible.builtin.template:
        src: %(t)s/default.j2
        dest: %(o)s/default
        mode: "0644"
""" % {"t": TEMPLATES, "o": out})
    proc = subprocess.run(["ansible-playbook", str(tmp_path / "render.yml"), "-e", "@" + str(tmp_path / "vars.json")],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = re.search(r'^ARGS="(.*)"$', (out / "default").read_text(), re.M).group(1)
    return out, shlex.split(args)


def test_no_web_config_renders_no_flag(tmp_path):
    out, args = _render(tmp_path, {})
    assert not (out / "web.yml").exists()
    assert not any(a.startswith("--web.config.file") for a in args)
    assert "--web.listen-address=127.0.0.1:9090" in args


def test_web_config_serves_tls_and_basic_auth(tmp_path):
    certs = WebConfig(str(tmp_path), users={}, tls=True)  # the throw-away CA and server certificate
    web_config = {"tls_server_config": {"cert_file": os.path.join(certs.dir, "server.pem"),
                                        "key_file": os.path.join(certs.dir, "server.key")},
                  "basic_auth_users": {"veza-canary": bcrypt_hash("s3cret-pw")}}
    out, args = _render(tmp_path, web_config)
    assert "--web.config.file=%s" % (out / "web.yml") in args
    check = subprocess.run(["promtool", "check", "web-config", str(out / "web.yml")], capture_output=True,
                           text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # the rendered file, as the role's service arguments name it, in front of a real Prometheus
    certs.path, certs.users = str(out / "web.yml"), {"veza-canary": "s3cret-pw"}
    prom = Prometheus(["127.0.0.1:1"], str(tmp_path), web=certs)
    try:
        assert prom.url.startswith("https://") and prom.client.buildinfo().kind == "ok"
        res = PromClient(prom.url, ca_path=certs.ca, url_username="veza-canary", url_password="wrong").buildinfo()
        assert res.error_type == "auth" and res.status == 401
        assert PromClient(prom.url, ca_path=certs.ca).buildinfo().status == 401
    finally:
        prom.cleanup()
