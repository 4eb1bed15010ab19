# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.haproxy on a systemd container, in front of two stand-in backends. The runtime API is
read and driven through the project's one client (plugins/module_utils/_haproxy.py), run on the host."""
from __future__ import annotations

import base64
import json
import os
import time

import pytest
import testinfra

SOCK = "/run/haproxy/admin.sock"
BACKENDS = ("molecule-backend-api-1", "molecule-backend-api-2")
# The project's one runtime-API client (standard library only), run by the host's python3.
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 5,
                      "plugins", "module_utils", "_haproxy.py")
CLIENT_DIR = "/tmp/veza-verify"


@pytest.fixture(scope="module")
def host():
    """The load balancer, through `podman exec` (each command ~0.1 s; the ansible backend
    molecule would hand us costs ~1 s per command), with the runtime client copied in."""
    lb = testinfra.get_host("podman://molecule-haproxy")
    with open(CLIENT, "rb") as fh:
        code = base64.b64encode(fh.read()).decode()
    lb.check_output("mkdir -p %s && echo %s | base64 -d > %s/_haproxy.py", CLIENT_DIR, code, CLIENT_DIR)
    return lb


def client(host, expr, address=SOCK):
    """Evaluate ``expr`` with ``rt`` = HAProxyRuntime(address) on the host; its JSON-decoded value."""
    script = ("import json, sys; sys.path.insert(0, %r); from _haproxy import HAProxyRuntime; "
              "rt = HAProxyRuntime(%r, timeout=5); print(json.dumps(%s))" % (CLIENT_DIR, address, expr))
    return json.loads(host.check_output("python3 -c %s", script))


def set_state(host, server, state, backend="api_pool"):
    client(host, "rt.set_server_state(%r, %r, %r)" % (backend, server, state))


def stat_rows(host, backend="api_pool"):
    """{server: status} of the statistics of one backend."""
    return client(host, "{r['svname']: r['status'] for r in rt.show_stat() if r.get('pxname') == %r "
                        "and r.get('svname') not in ('FRONTEND', 'BACKEND')}" % backend)


def wait_for(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = predicate()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError("timed out after %.0f s waiting for %s; last seen: %r" % (timeout, what, last))


def both_up(host):
    rows = stat_rows(host)
    return all(rows.get(b) == "UP" for b in BACKENDS), rows


def servers_state(host, backend="api_pool"):
    """{server: srv_admin_state} from the server-state rows (the server-state-file format)."""
    return client(host, "{r['srv_name']: r['srv_admin_state'] for r in rt.servers_state(%r)}" % backend)


def same_state(host, expected):
    state = servers_state(host)
    return state == expected, state


def not_drained(host, server):
    state = servers_state(host)
    return not state[server] & 0x08, state


def test_service_enabled_and_running(host):
    svc = host.service("haproxy")
    assert svc.is_enabled
    assert svc.is_running


def test_config_file_and_validation(host):
    cfg = host.file("/etc/haproxy/haproxy.cfg")
    assert (cfg.user, cfg.group, cfg.mode) == ("root", "haproxy", 0o640)
    assert cfg.contains("Ansible managed")
    assert cfg.contains("cookie SERVERID insert indirect nocache")
    assert cfg.contains("retry-on conn-failure empty-response response-timeout")
    for name in BACKENDS:
        assert cfg.contains("server %s %s:8080 cookie %s" % (name, name, name))
    host.run_expect([0], "haproxy -c -q -f /etc/haproxy/haproxy.cfg")


def test_both_backends_up_through_admin_socket(host):
    rows = wait_for(lambda: both_up(host), "both backends UP")
    print("api_pool:", rows)
    assert sorted(rows) == sorted(BACKENDS)


def test_tcp_admin_socket_on_loopback(host):
    assert client(host, "rt.show_info()['Name']", address="127.0.0.1:9100") == "HAProxy"
    assert host.socket("tcp://127.0.0.1:9100").is_listening
    assert not host.socket("tcp://0.0.0.0:9100").is_listening


def test_serves_round_robin_and_sticky(host):
    wait_for(lambda: both_up(host), "both UP")
    seen = {host.check_output("curl -fsS http://127.0.0.1:80/api/v1/health") for _attempt in range(10)}
    assert seen == set(BACKENDS), seen
    headers = host.check_output("curl -fsS -o /dev/null -D - http://127.0.0.1:80/api/v1/health")
    assert "set-cookie: serverid=" in headers.lower()
    sticky = {host.check_output("curl -fsS -b SERVERID=molecule-backend-api-2 http://127.0.0.1:80/x")
              for _attempt in range(4)}
    assert sticky == {"molecule-backend-api-2"}


def test_reload_keeps_drain_and_maint(host):
    """An operator's drain/maint survives `systemctl reload haproxy` (the drop-in saves the state)."""
    main_pid = host.check_output("systemctl show -p MainPID --value haproxy")
    assert "veza-haproxy-save-state" in host.check_output("systemctl show -p ExecReload haproxy")
    set_state(host, "molecule-backend-api-2", "drain")
    set_state(host, "molecule-backend-api-1", "maint")
    before = servers_state(host)
    assert before["molecule-backend-api-2"] & 0x08, before  # SRV_ADMF_FDRAIN
    assert before["molecule-backend-api-1"] & 0x01, before  # SRV_ADMF_FMAINT
    try:
        host.run_expect([0], "systemctl reload haproxy")
        # the state file now holds what was live just before the reload
        saved = host.check_output("cat /var/lib/haproxy/server-state")
        assert "molecule-backend-api-2" in saved
        # the new worker answers on the socket with the same admin state; the master stayed
        time.sleep(1)
        after = wait_for(lambda: same_state(host, before), "state after reload")
        print("srv_admin_state before/after reload:", before, after)
        rows = stat_rows(host)
        assert rows["molecule-backend-api-2"].startswith("DRAIN"), rows
        assert rows["molecule-backend-api-1"].startswith("MAINT"), rows
        assert host.check_output("systemctl show -p MainPID --value haproxy") == main_pid
    finally:
        set_state(host, "molecule-backend-api-1", "ready")
        set_state(host, "molecule-backend-api-2", "ready")
    host.run_expect([0], "systemctl reload haproxy")
    wait_for(lambda: both_up(host), "both UP again after ready + reload")


def test_save_state_refuses_without_socket(host):
    """No admin socket, no reload: the helper fails loudly instead of losing the state."""
    cmd = host.run("sed 's#%s#/nonexistent.sock#' /usr/local/sbin/veza-haproxy-save-state > /tmp/save-test"
                   " && sh /tmp/save-test" % SOCK)
    assert cmd.rc == 1
    assert "no admin socket" in cmd.stderr


def test_control_reload_without_state_file_loses_drain(host):
    """Control for the test above: the same reload without the saved state (master signalled
    directly, state file removed) brings a drained server back, so the file is what keeps it."""
    set_state(host, "molecule-backend-api-2", "drain")
    try:
        assert servers_state(host)["molecule-backend-api-2"] & 0x08
        host.run_expect([0], "rm -f /var/lib/haproxy/server-state && systemctl kill -s USR2 --kill-whom=main haproxy")
        time.sleep(1)
        wait_for(lambda: not_drained(host, "molecule-backend-api-2"), "drain lost without the state file")
    finally:
        set_state(host, "molecule-backend-api-2", "ready")
