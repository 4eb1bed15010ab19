#!/usr/bin/env bash
# make demo (until the canary lab lands): the real thing at the scale of one machine.
#
# Starts a real HAProxy on loopback (tests/integration/haproxy_lab.py: two HTTP backends, cookie
# SERVERID, option redispatch, health checks), sends bounded traffic through it (20 req/s plus a
# client pinned to s2 by its cookie and one 4 s request held open on s2), then runs a playbook
# that drains s2 with veza.infra.haproxy_server_state (drain_then_maint: the sticky client is
# moved after a 3 s grace), waits for the held request, and makes s2 ready again. A live line
# shows both servers while the playbook runs. Prints sent/failed, stops everything; exits non-zero
# if the playbook failed or any request failed. Bounded: about 20 s, at most 55 s.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="${VEZA_VENV:-/opt/veza-infra/venv}/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$here/.collections"
export ANSIBLE_FORCE_COLOR=0 PYTHONDONTWRITEBYTECODE=1 VEZA_ROOT="$here"
[ -e "$here/.collections/ansible_collections/veza/infra" ] || bash "$here/scripts/bootstrap.sh"

exec timeout --signal=INT --kill-after=5 55 python - <<'PY'
import os
import subprocess
import sys
import tempfile
import threading
import time

root = os.environ["VEZA_ROOT"]
sys.path.insert(0, os.path.join(root, "tests", "integration"))
sys.path.insert(0, os.path.join(root, "tests"))
sys.path.insert(0, os.path.join(root, ".collections"))
from haproxy_lab import HAProxyLab, HeldRequest  # noqa: E402
from loadgen import LoadGen  # noqa: E402
from ansible_collections.veza.infra.plugins.module_utils._haproxy import HAProxyRuntime  # noqa: E402

PLAYBOOK = """\
- name: Take s2 out of rotation and back, with the wait visible
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: {python}
  module_defaults:
    group/veza.infra.veza:
      socket: {socket}
  tasks:
    - name: Drain s2 (sticky clients moved to MAINT after 3 s; waits until its sessions ended)
      veza.infra.haproxy_server_state:
        backend: api_pool
        server: s2
        state: drain
        drain_then_maint: true
        drain_grace: 3
        wait_timeout: 30
        wait_interval: 0.2
      register: drained

    - name: Report the drain
      ansible.builtin.debug:
        msg: >-
          s2 {{{{ drained.before.admin_state }}}} -> {{{{ drained.after.admin_state }}}} in
          {{{{ drained.elapsed }}}} s; sessions {{{{ drained.before.scur }}}} -> {{{{ drained.after.scur }}}};
          escalated to MAINT: {{{{ drained.escalated }}}}; sent {{{{ drained.commands }}}}

    - name: The binary would be replaced here
      ansible.builtin.pause:
        seconds: 2

    - name: Make s2 ready again (waits for health checks)
      veza.infra.haproxy_server_state:
        backend: api_pool
        server: s2
        state: ready
        wait_timeout: 20
        wait_interval: 0.2
      register: ready

    - name: Report the return
      ansible.builtin.debug:
        msg: "s2 {{{{ ready.before.admin_state }}}} -> {{{{ ready.after.admin_state }}}}, {{{{ ready.after.status }}}} in {{{{ ready.elapsed }}}} s"
"""


def live(rt, stop, traffic):
    t0 = time.monotonic()
    while not stop.wait(0.5):
        try:
            parts = []
            for name in ("s1", "s2"):
                v = rt.server("api_pool", name)
                parts.append("%s %-5s %-5s scur=%d" % (name, v["admin_state"], v["status"], v["scur"]))
            print("  [live %5.1fs] %s | traffic sent=%d failed=%d" % (
                time.monotonic() - t0, " | ".join(parts), traffic.sent, len(traffic.failures)), flush=True)
        except Exception as exc:  # pylint: disable=broad-except
            print("  [live] %s" % exc, flush=True)


rc = 1
lab = HAProxyLab()
lab.start()
traffic = LoadGen(lab.frontend_url + "/", rate=20, duration=40, clients=4, sticky_share=0)
sticky = LoadGen(lab.frontend_url + "/", rate=5, duration=40, clients=1, pin_cookie="s2")
held = HeldRequest(lab, "s2", 4)
stop = threading.Event()
try:
    print("demo: HAProxy %s up; frontend %s; admin socket %s" % (
        HAProxyRuntime(lab.admin_socket).show_info()["Version"], lab.frontend_url, lab.admin_socket), flush=True)
    traffic.start()
    sticky.start()
    time.sleep(1)
    held.start()
    held.wait_open()
    print("demo: traffic on (20 req/s balanced + 5 req/s pinned to s2 by cookie), "
          "one 4 s request held open on s2", flush=True)
    monitor = threading.Thread(target=live, args=(HAProxyRuntime(lab.admin_socket, timeout=2), stop, traffic),
                               daemon=True)
    monitor.start()
    with tempfile.TemporaryDirectory() as tmp:
        pb = os.path.join(tmp, "demo.yml")
        with open(pb, "w", encoding="utf-8") as fh:
            fh.write(PLAYBOOK.format(python=sys.executable, socket=lab.admin_socket))
        rc = subprocess.call(["ansible-playbook", "-i", "localhost,", pb], cwd=root, timeout=45)
    stop.set()
    monitor.join(2)
    time.sleep(0.5)
finally:
    stop.set()
    summary, pinned = traffic.stop(), sticky.stop()
    held.join(10)
    lab.stop()

print("demo: balanced traffic sent=%(sent)d failed=%(failed)d by_server=%(per_backend)s max_latency=%(max_s)ss"
      % summary)
print("demo: cookie-s2 traffic sent=%(sent)d failed=%(failed)d by_server=%(per_backend)s" % pinned)
print("demo: held request on s2 -> %s" % (held.result,))
ok = rc == 0 and summary["failed"] == 0 and pinned["failed"] == 0 and held.result == (200, "s2")
print("demo: %s" % ("OK" if ok else "FAILED (playbook rc %s)" % rc))
sys.exit(0 if ok else 1)
PY
