# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-pull of playbooks/pull.yml (docs/ansible-pull.md) inside one systemd container of the
lab image, from a git repository of the working tree being tested.

The container is ``backend-api-1`` (its hostname, the name ansible-pull limits the run to) in the
repository's own inventory/lab.yml. On the fresh host, ``--check`` predicts changes and writes
nothing; then a real pull converges common + backend_api (unit active, config and directories in
place, the stand-in answering) and installs the veza-pull timer; the second run, started through
veza-pull.service itself, changes nothing. A host in no converged group, a host not in the
inventory and a run without the documented collections path fail with a clear message.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile

import pytest

from pull_host import BASE, DEST, ROOT, PullHost, snapshot_repo, run

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is needed (make bootstrap)")

HOST = "backend-api-1"
UNIT = "/etc/systemd/system/veza-backend-api.service"


@pytest.fixture(scope="module")
def pulled():
    """The host after: --check on the fresh container, the stand-in binary delivered (the canary's
    job, not the role's), one real ansible-pull. Removed by the finalizer."""
    workdir = tempfile.mkdtemp(prefix="veza-pull-test.")
    host = PullHost(snapshot_repo(workdir), hostname=HOST)
    try:
        host.start()
        state = {"before_check": host.disk_state()}
        state["check"] = host.pull("--check")
        state["after_check"] = host.disk_state()
        builds = os.path.join(workdir, "builds")
        run(["python3", os.path.join(ROOT, "tests", "fixtures", "veza_api", "make_builds.py"), builds])
        host.sh("mkdir -p /opt/veza/backend-api")
        host.copy_in(os.path.join(builds, "veza-api-v1.0.9"), "/opt/veza/backend-api/veza-api")
        state["first"] = host.pull()
        yield host, state
    finally:
        host.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_check_mode_on_a_fresh_host_predicts_and_writes_nothing(pulled):
    _host, state = pulled
    check = state["check"]
    assert check.rc == 0, check.output[-4000:]
    stats = check.stats(HOST)
    assert stats["failures"] == 0 and stats["changed"] > 0, stats
    # it predicted the role's work...
    changed = check.changed_tasks(HOST)
    assert "veza.infra.backend_api : Render the hardened systemd unit" in changed, changed
    assert "veza.infra.backend_api : Create the service user" in changed, changed
    assert "Render the veza-pull command, its service and its timer" in changed, changed
    # ...and did none of it
    before, after = set(state["before_check"]), set(state["after_check"])
    assert before - after == set() and after - before == set(), (sorted(before - after)[:20],
                                                                 sorted(after - before)[:20])
    assert not any(p.startswith((UNIT, "/opt/veza ", "/etc/veza ")) for p in after)


def test_first_pull_converges_backend_api(pulled):
    host, state = pulled
    first = state["first"]
    assert first.rc == 0, first.output[-4000:]
    assert first.stats(HOST)["failures"] == 0
    # only the roles of the host's group ran: common + backend_api, not haproxy/prometheus
    roles = {name.split(" : ")[0] for name, _res in first.tasks(HOST) if " : " in name}
    assert roles == {"veza.infra.common", "veza.infra.backend_api"}, roles
    assert host.sh("systemctl is-active veza-backend-api; systemctl is-enabled veza-backend-api").split() == \
        ["active", "enabled"]
    unit = host.sh("cat %s" % UNIT)
    assert "User=veza-api" in unit and "ExecStart=/opt/veza/backend-api/veza-api" in unit
    assert "ProtectSystem=strict" in unit
    assert host.sh("stat -c '%n %U %G %a' /opt/veza/backend-api /etc/veza /var/log/veza").splitlines() == [
        "/opt/veza/backend-api root veza-api 750", "/etc/veza root veza-api 750",
        "/var/log/veza veza-api veza-api 750"]
    assert "SystemMaxUse=200M" in host.sh("cat /etc/systemd/journald.conf.d/veza.conf")
    # the stand-in runs under the unit, as the service user
    health = host.sh("curl -fsS --retry 20 --retry-connrefused --retry-delay 1 http://127.0.0.1:8080/api/v1/health")
    assert '"build": "v1.0.9"' in health, health
    assert host.sh("ps -o user= -p $(systemctl show -p MainPID --value veza-backend-api)").strip() == "veza-api"


def test_timer_installed_and_second_run_through_it_changes_nothing(pulled):
    host, _state = pulled
    assert host.sh("systemctl is-enabled veza-pull.timer; systemctl is-active veza-pull.timer").split() == \
        ["enabled", "active"]
    host.sh("systemd-analyze verify /etc/systemd/system/veza-pull.service /etc/systemd/system/veza-pull.timer")
    wrapper = host.sh("cat /usr/local/sbin/veza-pull")
    for line in ("ANSIBLE_COLLECTIONS_PATH=%s" % BASE, "--directory %s" % DEST, "--inventory inventory/lab.yml",
                 "--limit %s" % HOST, "--url file:///srv/veza-infra.git", "flock --nonblock"):
        assert line in wrapper, wrapper
    # the second run, as the timer starts it: through the service and its lock
    start = host.exec(["systemctl", "start", "veza-pull.service"], check=False)
    invocation = host.sh("systemctl show -p InvocationID --value veza-pull.service").strip()
    journal = host.sh("journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID=%s" % invocation)
    assert start.returncode == 0, journal[-4000:]
    recap = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % HOST, journal, re.M)
    assert recap, journal[-4000:]
    assert (recap.group(2), recap.group(4)) == ("0", "0"), journal[-4000:]
    assert host.sh("systemctl is-active veza-backend-api").strip() == "active"


def test_a_second_run_while_one_holds_the_lock_does_nothing(pulled):
    host, _state = pulled
    proc = host.exec(["flock", "/run/lock/veza-pull.lock", "/usr/local/sbin/veza-pull"], check=False)
    assert proc.returncode == 75, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "another run holds /run/lock/veza-pull.lock" in proc.stderr


def test_haproxy_member_gets_the_same_group_vars(pulled):
    # --limit picks another inventory host: the haproxy role, with group_vars/lab.yml's runtime API
    # address (0.0.0.0, the role's default is 127.0.0.1), predicted in check mode only
    host, _state = pulled
    before = host.disk_state(("/etc/haproxy",))
    res = host.pull("--check", "--diff", "--limit", "haproxy")
    assert res.rc == 0, res.output[-4000:]
    roles = {name.split(" : ")[0] for name, _res in res.tasks("haproxy") if " : " in name}
    assert roles == {"veza.infra.common", "veza.infra.haproxy"}, roles
    cfg = [r for name, r in res.tasks("haproxy") if name.endswith(" : Render haproxy.cfg (validated with haproxy -c)")]
    assert cfg, [name for name, _r in res.tasks("haproxy")]
    after = "".join(d.get("after", "") for d in cfg[0].get("diff", []))
    assert "stats socket ipv4@0.0.0.0:9100 level admin" in after, after[-2000:]
    # group_vars/lab.yml addresses the upstreams by their Incus name, as staging and prod do
    assert "server backend-api-1 backend-api-1.lxd:8080 cookie backend-api-1" in after, after[-2000:]
    assert host.disk_state(("/etc/haproxy",)) == before


def test_host_in_no_converged_group_fails_naming_the_groups(pulled):
    host, _state = pulled
    res = host.pull("--limit", "stream-server-1")
    assert res.rc != 0
    ran = list(res.tasks("stream-server-1"))
    assert [name for name, _r in ran] == ["Check that this host is in a group this playbook converges"]
    msg = ran[0][1]["msg"]
    assert "stream-server-1 is in no group that playbooks/pull.yml converges" in msg, msg
    assert "backend_api_instances, haproxy, prometheus" in msg, msg
    assert "[lab, stream_server_instances]" in msg, msg
    assert res.stats("stream-server-1")["changed"] == 0


def test_host_not_in_the_inventory_fails_before_any_task(pulled):
    host, _state = pulled
    res = host.pull("--limit", "ghost-1")
    assert res.rc != 0
    assert "Could not match supplied host pattern, ignoring: ghost-1" in res.output
    assert "no hosts to target" in res.output, res.output[-2000:]


def test_without_the_collections_path_veza_infra_does_not_resolve(pulled):
    # ansible-core 2.19 does not take a playbook inside <base>/ansible_collections/veza/infra as
    # the collection itself: the documented ANSIBLE_COLLECTIONS_PATH=<base> is what resolves it
    host, _state = pulled
    res = host.pull("--check", collections_path=None)
    assert res.rc != 0
    failed = [(name, r) for name, r in res.tasks(HOST) if r.get("failed")]
    assert [name for name, _r in failed] == ["Host baseline"], failed
    assert "the role 'veza.infra.common' was not found" in failed[0][1]["reason"], failed
