# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Python helpers for tests that run on the embedded lab (scripts/lab.py, docs/lab.md): Incus
containers of the project veza-lab, driven with the Incus CLI (`incus exec`, `incus stop --force`).

    lab = Lab()
    lab.up()                                  # scripts/lab.sh up (idempotent)
    lab.server_states()                       # {"backend-api-1": "UP", ...} via the issue-3 client
    lab.http_get("/api/v1/health", cookie="backend-api-1")
    lab.prom_query('up{job="backend-api"}')
    lab.kill("backend-api-1"); lab.start("backend-api-1")
    lab.down()

HAProxy's runtime API is read with veza.infra's own client
(plugins/module_utils/_haproxy.py) through the TCP admin port the lab publishes on
127.0.0.1; there is no second socket client here.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

from ansible_run import ansible_env
from loadgen import COOKIE_RE, BACKEND_HEADERS, COOKIE  # one definition of the cookie and backend headers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
CONTAINERS = ("haproxy", "backend-api-1", "backend-api-2", "stream-server-1", "stream-server-2", "prometheus")
BACKENDS = ("backend-api-1", "backend-api-2")
POOL = "api_pool"


def env():
    """Environment for scripts/lab.sh and ansible from this checkout (text output, no JSON)."""
    return ansible_env(json=False)


def lab_name():
    """The lab these helpers drive: VEZA_LAB_NAME, as scripts/lab.py reads it (veza-lab: the default lab)."""
    return os.environ.get("VEZA_LAB_NAME", "veza-lab")


def inventory():
    """The lab's inventory, as scripts/lab.py writes it: inventory/lab.yml for the default lab,
    .cache/labs/<name>/inventory.yml (hosts <name>-haproxy, <name>-backend-api-1, ...) for a named one."""
    name = lab_name()
    return "inventory/lab.yml" if name == "veza-lab" else ".cache/labs/%s/inventory.yml" % name


MIGRATIONS = os.path.join(ROOT, "tests", "fixtures", "migrations")
LOCK = "/var/lib/veza/canary.lock"


def make_builds(dest):
    """Write the stand-in's builds into dest (tests/fixtures/veza_api/make_builds.py); returns
    {version: path}, e.g. {"v1.0.9": ..., "v1.0.10": ..., "health500": ..., "5xx": ..., "slow": ...}."""
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "veza_api", "make_builds.py"), str(dest)],
                   check=True, stdout=subprocess.DEVNULL)
    return {name[len("veza-api-"):]: os.path.join(str(dest), name)
            for name in os.listdir(str(dest)) if name.startswith("veza-api-")}


def run_playbook(playbook, reports, extra_args=(), **knobs):
    """ansible-playbook playbooks/<playbook>.yml of this checkout on the lab (extra_args: more
    command-line arguments, e.g. ("-e", "@vars.json")).

    knobs are the runbook's environment variables, on top of a short lab run (30 s SLI window,
    a probe every 5 s, the lab's additive migration). Prints the SLI lines and failures.
    """
    e = env()
    e.update({"PYTHONUNBUFFERED": "1", "ANSIBLE_NOCOLOR": "1", "SLI_REPORT_DIR": reports,
              "SLI_WINDOW": "30", "SLI_PROBE_INTERVAL": "5", "MIGRATIONS_PATHS": MIGRATIONS})
    e.update({k: str(v) for k, v in knobs.items()})
    t0 = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", inventory(), "playbooks/%s.yml" % playbook] + list(extra_args),
                          cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=900, check=False)
    elapsed = time.monotonic() - t0
    print("\n%s %s: rc %d in %.1f s" % (playbook, knobs.get("ARTIFACT", ""), proc.returncode, elapsed))
    for line in proc.stdout.splitlines():
        if "prom_sli_watch [" in line or "FAILED" in line or line.startswith(("fatal", "[ERROR]")):
            print("  | " + line)
    return proc, elapsed


class LabError(RuntimeError):
    pass


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.elapsed = elapsed

    @property
    def set_cookie(self):
        """SERVERID value HAProxy set in this response (None when it set none)."""
        m = COOKIE_RE.search(self.headers.get("Set-Cookie") or "")
        return m.group(1) if m else None

    @property
    def backend(self):
        """Backend that answered, from the stand-in's response header (None if it sent none)."""
        for h in BACKEND_HEADERS:
            if self.headers.get(h):
                return self.headers.get(h)
        return None


class Lab:
    """The lab's ports and helpers; ports and name follow the same VEZA_LAB_* variables as lab.sh.

    Containers are named as in the default lab ("haproxy", "backend-api-2"); on a named lab
    (VEZA_LAB_NAME=authlab) ``node()`` gives the instance and inventory name ("authlab-haproxy"),
    and the container helpers below accept either.
    ``prom_options`` are the PromClient options (ca_path, url_username, ...) of ``prom_query``
    while the lab's Prometheus is authenticated (tests/lab/test_prom_auth.py).
    """

    def __init__(self):
        self.http_port = int(os.environ.get("VEZA_LAB_HTTP_PORT", "18080"))
        self.admin_port = int(os.environ.get("VEZA_LAB_ADMIN_PORT", "19100"))
        self.prom_port = int(os.environ.get("VEZA_LAB_PROM_PORT", "19090"))
        self.http_url = "http://127.0.0.1:%d" % self.http_port
        self.prom_url = "http://127.0.0.1:%d" % self.prom_port
        self.project = lab_name()  # the lab's Incus project
        self.prefix = "" if self.project == "veza-lab" else self.project + "-"
        self.inventory = inventory()
        self.prom_options = {}
        self.timings = {}

    def node(self, name):
        """Instance / inventory host name of a default-lab name on this lab ("backend-api-2" ->
        "authlab-backend-api-2" on the lab authlab); a name already prefixed is kept."""
        return name if not self.prefix or name.startswith(self.prefix) else self.prefix + name

    # -- lifecycle ------------------------------------------------------------------------------
    def _lab_sh(self, action, timeout):
        t0 = time.monotonic()
        proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "lab.sh"), action], cwd=ROOT, env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              check=False)
        elapsed = time.monotonic() - t0
        self.timings[action] = round(elapsed, 1)
        if proc.returncode != 0:
            raise LabError("scripts/lab.sh %s failed (rc %d) after %.1f s:\n%s"
                           % (action, proc.returncode, elapsed, proc.stdout[-6000:]))
        return proc.stdout

    def up(self, timeout=900):
        """Bring the lab up (or re-converge it); returns lab.sh's output."""
        return self._lab_sh("up", timeout)

    def down(self, timeout=300):
        return self._lab_sh("down", timeout)

    # -- containers (Incus instances of the lab's project) ----------------------------------------
    def incus(self, *args, timeout=120, check=True):
        cmd = ("incus", "--project", self.project) + args
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise LabError("%s failed (rc %d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()))
        return proc

    def exec(self, container, *cmd, timeout=60, check=True):
        """Run a command inside a lab container (`incus exec`); returns the CompletedProcess."""
        return self.incus("exec", self.node(container), "--", *cmd, timeout=timeout, check=check)

    def push(self, src, container, dest, mode="0755"):
        """Copy a controller file into a container (`incus file push`)."""
        self.incus("file", "push", "--mode", mode, src, "%s%s" % (self.node(container), dest))

    def state(self, container):
        """"running", "stopped", ... or "absent" (also when the lab's project does not exist)."""
        container = self.node(container)
        proc = self.incus("list", container, "-f", "json", check=False)
        try:
            found = [i for i in json.loads(proc.stdout or "[]") if i.get("name") == container]
        except ValueError:
            found = []
        return found[0]["status"].lower() if proc.returncode == 0 and found else "absent"

    def health(self, node):
        """What the backend on `node` answers on its health route, asked from inside the node."""
        out = self.exec(node, "curl", "-s", "--max-time", "5", "http://127.0.0.1:8080/api/v1/health").stdout
        return json.loads(out)

    def version(self, node):
        return self.health(node)["version"]

    def kill(self, container):
        """Stop a container hard (`incus stop --force`: its processes killed, no clean shutdown)."""
        self.incus("stop", "--force", self.node(container))

    def start(self, container, wait_systemd=60):
        self.incus("start", self.node(container))
        if wait_systemd:
            self.wait_systemd(container, wait_systemd)

    def wait_systemd(self, container, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.exec(container, "systemctl", "is-system-running", check=False).stdout.strip()
            if out in ("running", "degraded"):
                return
            time.sleep(0.3)
        raise LabError("systemd in %s not running after %d s" % (container, timeout))

    # -- HAProxy ----------------------------------------------------------------------------------
    def runtime(self):
        """veza.infra's HAProxy runtime client on the published TCP admin port."""
        from ansible_collections.veza.infra.plugins.module_utils._haproxy import (  # pylint: disable=import-outside-toplevel
            HAProxyRuntime)
        return HAProxyRuntime("127.0.0.1:%d" % self.admin_port, timeout=3.0)

    def server_rows(self, backend=POOL):
        """{server name: typed `show stat` row} of one backend."""
        return {r["svname"]: r for r in self.runtime().show_stat()
                if r.get("pxname") == backend and r.get("svname") not in ("BACKEND", "FRONTEND")}

    def server_states(self, backend=POOL):
        """{server name: status} of one backend, e.g. {"backend-api-1": "UP", ...}."""
        return {name: row.get("status") for name, row in self.server_rows(backend).items()}

    def sessions_total(self, backend=POOL):
        """{server name: stot} (cumulative sessions): which server took a request, by difference."""
        return {name: row.get("stot") or 0 for name, row in self.server_rows(backend).items()}

    def served_by(self, path="/api/v1/health", cookie=None, backend=POOL):
        """(Response, server) for one request, the server read from HAProxy's counters.

        Only meaningful while no other traffic goes through the backend.
        """
        before = self.sessions_total(backend)
        resp = self.http_get(path, cookie=cookie)
        after = self.sessions_total(backend)
        took = [name for name in after if after[name] > before.get(name, 0)]
        return resp, (took[0] if len(took) == 1 else None)

    def wait_status(self, server, wanted, timeout=60.0, backend=POOL, poll=0.2):
        """Wait until `server`'s status starts with one of `wanted`; returns seconds waited."""
        wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            try:
                last = self.server_states(backend).get(server)
            except Exception as exc:  # pylint: disable=broad-except
                last = "error: %s" % exc
            if last and last.split(" ")[0] in wanted:
                return time.monotonic() - t0
            time.sleep(poll)
        raise LabError("%s/%s not %s after %.0f s (last status %s)" % (backend, server, "|".join(wanted), timeout, last))

    # -- HTTP through HAProxy -------------------------------------------------------------------
    def http_get(self, path="/api/v1/health", cookie=None, timeout=10.0):
        """One GET through HAProxy's published port on a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        headers = {"Connection": "close"}
        if cookie:
            headers["Cookie"] = "%s=%s" % (COOKIE, cookie)
        t0 = time.monotonic()
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return Response(resp.status, resp.msg, body, time.monotonic() - t0)
        finally:
            conn.close()

    # -- Prometheus ---------------------------------------------------------------------------------
    def prom(self, timeout=5.0):
        """veza.infra's Prometheus client on the published port, with ``prom_options``."""
        from ansible_collections.veza.infra.plugins.module_utils._prom_client import (  # pylint: disable=import-outside-toplevel
            PromClient)
        return PromClient(self.prom_url, timeout=timeout, **self.prom_options)

    def prom_query(self, query, timeout=5.0):
        """Instant query; returns the sample values, one per series ([] for an empty answer)."""
        res = self.prom(timeout).query(query)
        if res.kind == "error":
            raise LabError("Prometheus query %r failed: %s" % (query, res.text))
        return res.values


# -- faults at a precise step of a running playbook (tests/lab/test_faults_midrun.py, bench_rollback) --
class LiveRun:
    """ansible-playbook of this checkout running in the background, its output read as it comes.

    Each line is kept with the wall-clock time it arrived, so a test can inject a fault right when a
    marker appears (``wait_for``), or freeze the run at that point (``pause``/``resume``: SIGSTOP /
    SIGCONT to its process group) while it injects. Knobs as for run_playbook. Use as a context
    manager: the run is killed if still alive when the block ends.
    """

    def __init__(self, playbook, reports, **knobs):
        e = env()
        e.update({"PYTHONUNBUFFERED": "1", "ANSIBLE_NOCOLOR": "1", "SLI_REPORT_DIR": reports,
                  "SLI_WINDOW": "30", "SLI_PROBE_INTERVAL": "5", "MIGRATIONS_PATHS": MIGRATIONS})
        e.update({k: str(v) for k, v in knobs.items()})
        self.t0 = time.time()
        self.lines = []  # (time.time() when read, line without newline)
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(["ansible-playbook", "-i", inventory(), "playbooks/%s.yml" % playbook],
                                     cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.time(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self.lines.append((time.time(), None))  # end of output
            self._cond.notify_all()

    @property
    def output(self):
        return "\n".join(line for _t, line in self.lines if line is not None)

    def wait_for(self, needle, timeout=300.0, after=0):
        """(index, time, line) of the first line from index `after` on containing `needle`."""
        deadline = time.monotonic() + timeout
        i = after
        with self._cond:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    if line is None:
                        raise LabError("playbook ended without %r; last lines:\n%s"
                                       % (needle, "\n".join(x for _t, x in self.lines[-40:] if x)))
                    if needle in line:
                        return i, t, line
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError("no %r after %.0f s; last lines:\n%s"
                                   % (needle, timeout, "\n".join(x for _t, x in self.lines[-40:] if x)))
                self._cond.wait(min(left, 1.0))

    def pause(self):
        os.killpg(self.proc.pid, signal.SIGSTOP)  # ansible-playbook and its workers stop where they are

    def resume(self):
        os.killpg(self.proc.pid, signal.SIGCONT)

    def finish(self, timeout=600.0):
        """Wait for the end; returns (rc, output)."""
        self.proc.wait(timeout=timeout)
        self._reader.join(10)
        print("\n%s: rc %d in %.1f s" % (" ".join(self.proc.args[-1:]), self.proc.returncode, time.time() - self.t0))
        for _t, line in self.lines:
            if line and ("prom_sli_watch [" in line or "FAILED" in line or line.startswith(("fatal", "[ERROR]"))):
                print("  | " + line)
        return self.proc.returncode, self.output

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.resume()
            self.kill()
        return False


def lock_held(lab):
    """True while the deploy lock file exists on the load balancer."""
    return lab.exec("haproxy", "test", "-e", LOCK, check=False).returncode == 0


def previous_version(lab, node):
    """Version of <install dir>/veza-api.previous on `node` (what an automatic rollback restores)."""
    out = lab.exec(node, "python3", "/opt/veza/backend-api/veza-api.previous", "--version").stdout.strip()
    return out.lstrip("v")


def binary_sha256(lab, node):
    return lab.exec(node, "sha256sum", "/opt/veza/backend-api/veza-api").stdout.split()[0]


# The stand-in re-reads VEZA_API_CONTROL on every request; the unit reads its environment file
# (roles/backend_api: backend_api_env_file) when the service starts. So: write the environment
# file before the (re)start that a run does, then flip the control file at a known instant.
ENV_FILE = "/etc/veza/backend-api.env"
CONTROL_FILE = "/etc/veza/lab-control.json"


def wire_control(lab, node):
    """Point the next start of `node`'s service at CONTROL_FILE (empty control: the build's behaviour)."""
    lab.exec(node, "sh", "-c", "printf '{}' > %s && chmod 0644 %s && echo VEZA_API_CONTROL=%s > %s && chmod 0640 %s"
             " && chgrp veza-api %s" % (CONTROL_FILE, CONTROL_FILE, CONTROL_FILE, ENV_FILE, ENV_FILE, ENV_FILE))


def set_control(lab, node, cfg):
    """Change the behaviour of `node`'s running stand-in now (when wired), e.g. {"error_rate": 1.0}."""
    lab.exec(node, "sh", "-c", "printf '%%s' '%s' > %s.tmp && chmod 0644 %s.tmp && mv %s.tmp %s"
             % (json.dumps(cfg), CONTROL_FILE, CONTROL_FILE, CONTROL_FILE, CONTROL_FILE))


def unwire_control(lab, node):
    """Remove the environment and control files (a process started with them behaves as its build)."""
    lab.exec(node, "rm", "-f", ENV_FILE, CONTROL_FILE)
