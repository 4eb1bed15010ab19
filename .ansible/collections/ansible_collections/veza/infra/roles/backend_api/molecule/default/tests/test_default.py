# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.backend_api (and veza.infra.common) on a systemd container."""
from __future__ import annotations

import re
import time

import pytest
import testinfra

UNIT = "veza-backend-api"
BINARY = "/opt/veza/backend-api/veza-api"
# What the issue aims for; systemd 252 scores the unit 1.2 in the lab image (printed by the test).
EXPOSURE_MAX = 2.0

STANDIN = """#!/usr/bin/python3
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok"
        self.send_response(200 if self.path == "/api/v1/health" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


with open("/var/log/veza/standin.log", "a") as log:
    log.write("started as uid %d\\n" % os.getuid())
    for probe in (__file__, "/etc/veza/probe", "/var/lib/veza-probe/x"):
        try:
            open(probe, "a").close()
            log.write("write %s allowed\\n" % probe)
        except OSError:
            log.write("write %s denied\\n" % probe)
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def host():
    """The instance through `podman exec` (much faster than molecule's ansible backend)."""
    return testinfra.get_host("podman://molecule-backend-api")


def test_user(host):
    user = host.user("veza-api")
    assert user.exists
    assert user.group == "veza-api"
    assert user.shell == "/usr/sbin/nologin"
    assert user.uid < 1000  # system user


@pytest.mark.parametrize("path,owner,group,mode", [
    ("/opt/veza", "root", "root", 0o755),
    ("/opt/veza/backend-api", "root", "veza-api", 0o750),
    ("/etc/veza", "root", "veza-api", 0o750),
    ("/var/log/veza", "veza-api", "veza-api", 0o750),
    ("/etc/systemd/system/veza-backend-api.service", "root", "root", 0o644),
])
def test_modes_and_owners(host, path, owner, group, mode):
    f = host.file(path)
    assert f.exists
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_unit_enabled_not_started_without_binary(host):
    assert not host.file(BINARY).exists
    svc = host.service(UNIT)
    assert svc.is_enabled
    assert not svc.is_running
    unit = host.file("/etc/systemd/system/veza-backend-api.service")
    assert unit.contains("Ansible managed")
    assert unit.contains("^ExecStart=%s$" % BINARY)
    assert unit.contains("^EnvironmentFile=-/etc/veza/backend-api.env$")
    assert unit.contains("^Environment=PORT=8080$")


def test_unit_hardened(host):
    out = host.check_output("systemd-analyze security --no-pager %s.service", UNIT)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
    assert m, out[-500:]
    exposure = float(m.group(1))
    print("\nsystemd-analyze security %s: exposure %.1f %s" % (UNIT, exposure, m.group(2)))
    assert exposure <= EXPOSURE_MAX


def test_hardened_unit_runs_a_python_standin(host):
    """The hardening leaves what a python3 stand-in needs: it starts, writes its log, serves 8080."""
    host.check_output("printf '%%s' %s > %s && chmod 0755 %s", STANDIN, BINARY, BINARY)
    host.check_output("install -d -o veza-api -g veza-api -m 0700 /var/lib/veza-probe")
    try:
        verify = host.run("systemd-analyze verify /etc/systemd/system/%s.service", UNIT)
        assert verify.rc == 0, verify.stderr
        host.run_expect([0], "systemctl start %s", UNIT)
        deadline = time.monotonic() + 15
        code = None
        while time.monotonic() < deadline:
            code = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/api/v1/health").stdout
            if code == "200":
                break
            time.sleep(0.3)
        assert code == "200", host.run("journalctl -u %s --no-pager -n 20", UNIT).stdout
        pid = host.check_output("systemctl show -p MainPID --value %s", UNIT)
        assert host.check_output("ps -o user=,args= -p %s", pid).split()[:3] == ["veza-api", "/usr/bin/python3", BINARY]
        log = host.file("/var/log/veza/standin.log")
        assert log.user == "veza-api"
        # read-only everywhere else: the service cannot rewrite its own binary or /etc
        text = log.content_string
        assert "write %s denied" % BINARY in text, text
        assert "write /etc/veza/probe denied" in text, text
        assert "write /var/lib/veza-probe/x denied" in text, text
        # control: outside the unit's sandbox the same user may write there (its own directory)
        assert host.run("runuser -u veza-api -- touch /var/lib/veza-probe/x").rc == 0
    finally:
        host.run("systemctl stop %s; rm -rf %s /var/log/veza/standin.log /var/lib/veza-probe", UNIT, BINARY)


def test_common_baseline(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Etc/UTC"
    assert host.file("/etc/timezone").content_string == "Etc/UTC\n"
    conf = host.file("/etc/systemd/journald.conf.d/veza.conf")
    assert conf.contains("^SystemMaxUse=200M$")
    assert host.service("systemd-journald").is_running
