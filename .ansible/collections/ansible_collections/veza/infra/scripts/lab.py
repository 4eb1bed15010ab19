# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The embedded lab (docs/lab.md): Incus system containers running real systemd, provisioned by
this collection's own playbooks through community.general.incus from inventory/lab.yml.

    scripts/lab.sh up|down|status|inventory     (scripts/lab.sh runs this file with the venv)

The lab is declared once, in LabSpec: an Incus project, a bridge network whose DNS domain is
`lxd` (names haproxy.lxd, backend-api-1.lxd, prometheus.lxd and the runbook's prom.lxd), the
image of scripts/build-image.sh, one instance per inventory host, proxy devices for the
published ports. `up` makes Incus match it (create what is missing, start what is stopped), then
converges with playbooks/site.yml + playbooks/prometheus.yml and tests/lab/baseline.yml, skipping
what is already in place; `down` deletes the instances, the project and the network.

HAProxy's state is read with the collection's runtime client (plugins/module_utils/_haproxy.py)
over the published TCP admin port, Prometheus with plugins/module_utils/_prom_client.py.

Environment (same names as before):
  VEZA_LAB_NAME (veza-lab): another name is a separate lab: Incus project and network <name>,
    instances <name>-haproxy, <name>-backend-api-1..N, ...; inventory .cache/labs/<name>/inventory.yml
    (same groups as inventory/lab.yml, so group_vars/lab.yml applies); it needs its own VEZA_LAB_*_PORT.
  VEZA_LAB_BACKENDS (2), VEZA_LAB_STREAM_SERVERS (2): sizes (the default lab is 2 + 2 only).
  VEZA_LAB_HTTP_PORT (18080) -> haproxy:80, VEZA_LAB_ADMIN_PORT (19100) -> haproxy:9100 (runtime API),
  VEZA_LAB_PROM_PORT (19090) -> prometheus:9090: proxy devices listening on 127.0.0.1.
  VEZA_LAB_SUBNET: the bridge's address (10.214.10.1/24 for the default lab, a /24 of 10.214.0.0/16
    derived from the name for the others).
  VEZA_LAB_BUILD (v1.0.9) / VEZA_LAB_BUILD_FILE: the baseline build. VEZA_LAB_WAIT_S (120).
  VEZA_LAB_CONVERGE=always: converge and reset the baseline even when nothing changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

IMAGE = os.environ.get("VEZA_INCUS_IMAGE", "veza-lab-bookworm")
DEFAULT = "veza-lab"
STAMP_KEY = "user.veza.converged"
TRANSIENT = "failed to resolve remote temporary directory"


class LabFailure(Exception):
    pass


def log(msg):
    print("lab: %s" % msg, flush=True)


def since(t0):
    return "%.1f" % (time.monotonic() - t0)


# -- the declaration ---------------------------------------------------------------------------
class LabSpec:
    """What the lab is: names, sizes, ports, project, network. Validated from the environment."""

    def __init__(self, environ):
        self.name = environ.get("VEZA_LAB_NAME", DEFAULT)
        if not re.match(r"^[a-z][a-z0-9-]{0,14}$", self.name):
            raise LabFailure("VEZA_LAB_NAME=%s: use 1-15 lower-case letters, digits or '-', starting with a letter "
                             "(it names the Incus bridge: 15 characters at most)" % self.name)
        self.backends_n = self._count(environ, "VEZA_LAB_BACKENDS", 2, 1)
        self.streams_n = self._count(environ, "VEZA_LAB_STREAM_SERVERS", 2, 0)
        self.default = self.name == DEFAULT
        if self.default and (self.backends_n != 2 or self.streams_n != 2):
            raise LabFailure("the default lab (inventory/lab.yml) has 2 backends and 2 stream servers; set "
                             "VEZA_LAB_NAME=<name> (and its own VEZA_LAB_*_PORT) for a lab of another size")
        if not self.default and not all(environ.get(v) for v in
                                        ("VEZA_LAB_HTTP_PORT", "VEZA_LAB_ADMIN_PORT", "VEZA_LAB_PROM_PORT")):
            raise LabFailure("lab %s: set VEZA_LAB_HTTP_PORT, VEZA_LAB_ADMIN_PORT and VEZA_LAB_PROM_PORT to free "
                             "loopback ports (the defaults belong to the default lab)" % self.name)
        self.http_port = int(environ.get("VEZA_LAB_HTTP_PORT", "18080"))
        self.admin_port = int(environ.get("VEZA_LAB_ADMIN_PORT", "19100"))
        self.prom_port = int(environ.get("VEZA_LAB_PROM_PORT", "19090"))
        self.project = self.name
        self.network = self.name
        third = 10 if self.default else 20 + zlib.crc32(self.name.encode()) % 200
        self.subnet = environ.get("VEZA_LAB_SUBNET", "10.214.%d.1/24" % third)
        prefix = "" if self.default else self.name + "-"
        self.haproxy = prefix + "haproxy"
        self.prometheus = prefix + "prometheus"
        self.backends = ["%sbackend-api-%d" % (prefix, i) for i in range(1, self.backends_n + 1)]
        self.streams = ["%sstream-server-%d" % (prefix, i) for i in range(1, self.streams_n + 1)]
        self.instances = [self.haproxy] + self.backends + self.streams + [self.prometheus]
        self.inventory = ("inventory/lab.yml" if self.default
                          else ".cache/labs/%s/inventory.yml" % self.name)
        self.build = environ.get("VEZA_LAB_BUILD", "v1.0.9")
        self.build_file = environ.get("VEZA_LAB_BUILD_FILE")
        self.wait_s = int(environ.get("VEZA_LAB_WAIT_S", "120"))
        self.always = environ.get("VEZA_LAB_CONVERGE", "auto") == "always"

    @staticmethod
    def _count(environ, var, default, low):
        raw = environ.get(var, str(default))
        if not raw.isdigit() or not low <= int(raw) <= 32:
            raise LabFailure("%s=%s: a whole number from %d to 32" % (var, raw, low))
        return int(raw)

    def proxies(self, instance):
        """{device: (host port, container port)} of the proxy devices of one instance."""
        if instance == self.haproxy:
            return {"veza-http": (self.http_port, 80), "veza-admin": (self.admin_port, 9100)}
        if instance == self.prometheus:
            return {"veza-prom": (self.prom_port, 9090)}
        return {}

    def network_config(self):
        # prom.lxd: the runbook's name of Prometheus, an alias of the instance's own name.
        return {"ipv4.address": self.subnet, "ipv4.nat": "true", "ipv6.address": "none", "dns.domain": "lxd",
                "raw.dnsmasq": "cname=prom.lxd,%s.lxd" % self.prometheus}

    def write_inventory(self):
        """A named lab's inventory: inventory/lab.yml with this lab's hosts and project."""
        if self.default:
            return
        import yaml  # pylint: disable=import-outside-toplevel
        path = os.path.join(ROOT, self.inventory)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        link = os.path.join(os.path.dirname(path), "group_vars")
        if not os.path.islink(link):
            os.symlink("../../../group_vars", link)

        def hosts(names):
            return {"hosts": {n: None for n in names}}
        inv = {"lab": {
            "vars": {"ansible_connection": "community.general.incus", "ansible_incus_remote": "local",
                     "ansible_incus_project": self.project, "ansible_python_interpreter": "/usr/bin/python3"},
            "children": {"haproxy": hosts([self.haproxy]), "backend_api_instances": hosts(self.backends),
                         "stream_server_instances": hosts(self.streams), "prometheus": hosts([self.prometheus])}}}
        text = "---\n# Generated by scripts/lab.py for the lab %s (%d backends); do not edit.\n%s" % (
            self.name, self.backends_n, yaml.safe_dump(inv, default_flow_style=False, sort_keys=False))
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(path + ".tmp", path)


# -- Incus --------------------------------------------------------------------------------------
def incus(*args, check=True, timeout=300, project=None):
    cmd = ["incus"] + (["--project", project] if project else []) + list(args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise LabFailure("%s failed (rc %d): %s" % (" ".join(cmd), proc.returncode, proc.stderr.strip()))
    return proc


def incus_json(*args, project=None):
    return json.loads(incus(*args, "-f", "json", project=project).stdout or "[]")


class Incus:
    """Makes Incus match a LabSpec; every step is idempotent."""

    def __init__(self, spec):
        self.spec = spec

    def project_exists(self):
        return any(p["name"] == self.spec.project for p in incus_json("project", "list"))

    def states(self):
        """{instance: status} ("Running", "Stopped", ...) of the lab's project; {} without the project."""
        if not self.project_exists():
            return {}
        return {i["name"]: i["status"] for i in incus_json("list", project=self.spec.project)}

    def ensure_platform(self):
        if incus("info", check=False).returncode != 0:
            raise LabFailure("incusd does not answer: run `make bootstrap` (it starts incusd and checks the platform)")
        if not incus("storage", "list", "-f", "csv", "-c", "n").stdout.strip():
            raise LabFailure("no Incus storage pool: run `make bootstrap` (incus admin init --preseed)")

    def ensure_network(self):
        spec = self.spec
        nets = {n["name"]: n for n in incus_json("network", "list")}
        want = spec.network_config()
        if spec.network not in nets:
            incus("network", "create", spec.network, *["%s=%s" % kv for kv in want.items()])
            log("network %s created (%s, dns.domain lxd)" % (spec.network, spec.subnet))
            return
        have = nets[spec.network].get("config") or {}
        for key, value in want.items():
            if have.get(key) != value:
                incus("network", "set", spec.network, key, value)

    def ensure_project(self):
        if not self.project_exists():
            # Images and profiles of the default project (the image of build-image.sh, the root disk).
            incus("project", "create", self.spec.project, "-c", "features.images=false",
                  "-c", "features.profiles=false", "-c", "features.storage.volumes=false")
            log("project %s created" % self.spec.project)

    def ensure_instances(self):
        spec = self.spec
        states = self.states()
        for name in spec.instances:
            if name not in states:
                incus("create", IMAGE, name, "--network", spec.network, project=spec.project)
                for dev, (hport, cport) in spec.proxies(name).items():
                    incus("config", "device", "add", name, dev, "proxy", "listen=tcp:127.0.0.1:%d" % hport,
                          "connect=tcp:127.0.0.1:%d" % cport, project=spec.project)
                log("instance %s created" % name)
        to_start = [n for n in spec.instances if states.get(n) != "Running"]
        if to_start:
            self.each(lambda n: incus("start", n, project=spec.project), to_start)
            log("started %s" % " ".join(to_start))
        self.wait_systemd(spec.instances)

    def wait_systemd(self, names, timeout=90):
        """systemd as PID 1 is ready when is-system-running answers running (or degraded)."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            pending = [n for n in pending
                       if self.exec(n, "systemctl", "is-system-running", check=False).stdout.strip()
                       not in ("running", "degraded")]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise LabFailure("systemd not up after %d s in: %s" % (timeout, " ".join(pending)))
            time.sleep(0.3)

    @staticmethod
    def each(action, names):
        """action(name) for every name, a few at a time (one `incus` call per instance is serial)."""
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(names)))) as pool:
            for _result in pool.map(action, names):
                pass

    def exec(self, name, *cmd, check=True, timeout=60):
        return incus("exec", name, "--", *cmd, check=check, timeout=timeout, project=self.spec.project)

    def get(self, name, key):
        return incus("config", "get", name, key, project=self.spec.project, check=False).stdout.strip()

    def set(self, name, key, value):
        incus("config", "set", name, "%s=%s" % (key, value), project=self.spec.project)

    def down(self):
        spec = self.spec
        if self.project_exists():
            names = list(self.states())
            if names:
                self.each(lambda n: incus("delete", "--force", n, project=spec.project), names)
                for n in names:
                    log("instance %s removed" % n)
            incus("project", "delete", spec.project)
            log("project %s removed" % spec.project)
        if any(n["name"] == spec.network for n in incus_json("network", "list")):
            incus("network", "delete", spec.network)
            log("network %s removed" % spec.network)


# -- the lab's services, through the project's own clients ----------------------------------------
def runtime(spec):
    from ansible_collections.veza.infra.plugins.module_utils._haproxy import (  # pylint: disable=import-outside-toplevel
        HAProxyRuntime)
    return HAProxyRuntime("127.0.0.1:%d" % spec.admin_port, timeout=3.0)


def prom(spec):
    from ansible_collections.veza.infra.plugins.module_utils._prom_client import (  # pylint: disable=import-outside-toplevel
        PromClient)
    return PromClient("http://127.0.0.1:%d" % spec.prom_port, timeout=3.0)


def pool_states(spec):
    """{server: status} of api_pool (empty when HAProxy does not answer)."""
    try:
        return {r["svname"]: r.get("status") for r in runtime(spec).show_stat()
                if r.get("pxname") == "api_pool" and r.get("svname") not in ("BACKEND", "FRONTEND")}
    except Exception:  # pylint: disable=broad-except
        return {}


def prom_up_count(spec):
    """How many backend-api targets Prometheus has scraped successfully (None when it does not answer)."""
    res = prom(spec).query('count(up{job="backend-api"} == 1)')
    if res.kind == "ok":
        return int(res.values[0])
    return 0 if res.kind == "empty" else None


# -- playbooks -------------------------------------------------------------------------------------
def env():
    e = dict(os.environ)
    venv = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
    e["PATH"] = os.path.join(venv, "bin") + os.pathsep + e.get("PATH", "")
    e.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
              "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
              "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"})
    return e


def failure_summary(output, lines=40):
    """The failing task and its message from an ansible-playbook output, then the output's end."""
    out = output.splitlines()
    picked = []
    task = None
    for i, line in enumerate(out):
        if line.startswith("TASK [") or line.startswith("RUNNING HANDLER ["):
            task = line
        elif line.startswith(("fatal:", "failed:")) or line.startswith("[ERROR]") or line.startswith("ERROR!"):
            block = [line] + [x for x in out[i + 1:i + 25] if x.startswith((" ", "\t"))][:24]
            picked.append("\n".join(([task] if task else []) + block))
    head = "failing task(s):\n" + "\n".join(picked[-3:]) + "\n" if picked else ""
    return head + "last lines:\n" + "\n".join(out[-lines:])


def run_playbooks(spec, playbooks, extra=()):
    """ansible-playbook each of `playbooks` in parallel; raise with the failing task and message."""
    results = {}

    def one(pb):
        for attempt in (1, 2):
            proc = subprocess.run(["ansible-playbook", "-i", spec.inventory, pb] + list(extra), cwd=ROOT, env=env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800,
                                  check=False)
            # Seen once under a load average of 12: `incus exec` of the temporary directory's mkdir
            # exited 0 with no output. Transient, and the playbooks are idempotent: run once more.
            if proc.returncode == 0 or attempt == 2 or TRANSIENT not in proc.stdout:
                break
            log("%s: transient `incus exec` failure (%s), running it again" % (pb, TRANSIENT))
        results[pb] = proc

    threads = [threading.Thread(target=one, args=(pb,)) for pb in playbooks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [pb for pb in playbooks if results[pb].returncode != 0]
    for pb in playbooks:
        recap = results[pb].stdout.split("PLAY RECAP", 1)
        if len(recap) == 2:
            for line in recap[1].strip("* \n").splitlines()[:40]:
                if line.strip():
                    print(line, flush=True)
    if failed:
        raise LabFailure("\n".join("%s failed (rc %d)\n%s" % (pb, results[pb].returncode, failure_summary(results[pb].stdout))
                                   for pb in failed))


def inputs_hash(spec, build_file):
    """Hash of everything a converge depends on (stamped on the haproxy instance after an up)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "roles/common", "roles/haproxy",
                            "roles/backend_api", "roles/prometheus", "playbooks/site.yml", "playbooks/haproxy.yml",
                            "playbooks/backend_api.yml", "playbooks/prometheus.yml", "group_vars", "inventory/lab.yml",
                            "tests/lab/baseline.yml", "ansible.cfg"], cwd=ROOT, stdout=subprocess.PIPE,
                           check=True).stdout.split(b"\0")
    h = hashlib.sha256()
    for f in sorted(x for x in files if x):
        path = os.path.join(ROOT, f.decode())
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                h.update(f + b"\0" + hashlib.sha256(fh.read()).digest())
    with open(build_file, "rb") as fh:
        h.update(hashlib.sha256(fh.read()).digest())
    h.update(("%d %d %d %s" % (spec.http_port, spec.admin_port, spec.prom_port, spec.instances)).encode())
    return h.hexdigest()[:16]


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def baseline_holds(spec, inc, build_file):
    """Every backend runs the build (also as .previous), every stream server runs it, HAProxy has
    the backends UP, ready, at full weight: then tests/lab/baseline.yml need not run."""
    want = sha256(build_file)
    for node in spec.backends:
        out = inc.exec(node, "sh", "-c", "sha256sum /opt/veza/backend-api/veza-api /opt/veza/backend-api/veza-api.previous"
                       " && systemctl is-active -q veza-backend-api", check=False)
        if out.returncode != 0 or [ln.split()[0] for ln in out.stdout.splitlines()] != [want, want]:
            return False
    for node in spec.streams:
        out = inc.exec(node, "sh", "-c", "sha256sum /opt/veza/stream-server/veza-stream"
                       " && systemctl is-active -q veza-stream-server", check=False)
        if out.returncode != 0 or out.stdout.split()[0] != want:
            return False
    try:
        rt = runtime(spec)
        for node in spec.backends:
            srv = rt.server("api_pool", node)
            if not (srv["fully_up"] and srv["forced_admin_state"] == "ready" and srv["weight"] == srv["initial_weight"]):
                return False
    except Exception:  # pylint: disable=broad-except
        return False
    return True


def wait_ready(spec):
    t0 = time.monotonic()
    while True:
        states = pool_states(spec)
        up = prom_up_count(spec)
        n_up = sum(1 for n in spec.backends if (states.get(n) or "").startswith("UP"))
        if n_up >= spec.backends_n and (up or 0) >= spec.backends_n:
            log("ready after %s s: HAProxy api_pool %s, Prometheus up{job=\"backend-api\"} == 1 for %d targets"
                % (since(t0), states, up))
            return
        if time.monotonic() - t0 > spec.wait_s:
            raise LabFailure("not ready after %d s: HAProxy api_pool %s, Prometheus targets up: %s"
                             % (spec.wait_s, states or "(no answer)", "no answer" if up is None else up))
        time.sleep(0.5)


def make_build(spec, dest):
    if spec.build_file:
        if not os.path.isfile(spec.build_file):
            raise LabFailure("VEZA_LAB_BUILD_FILE=%s: no such file" % spec.build_file)
        path = os.path.join(dest, "veza-api-" + spec.build)
        shutil.copy(spec.build_file, path)
        return path
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "veza_api", "make_builds.py"), dest],
                   check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(dest, "veza-api-" + spec.build)
    if not os.path.isfile(path):
        raise LabFailure("make_builds.py wrote no veza-api-%s in %s" % (spec.build, dest))
    return path


# -- commands ----------------------------------------------------------------------------------
def cmd_up(spec):
    t0 = time.monotonic()
    inc = Incus(spec)
    inc.ensure_platform()
    img = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build-image.sh"), "incus"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    print(img.stdout.rstrip(), flush=True)
    if img.returncode != 0:
        raise LabFailure("scripts/build-image.sh incus failed (rc %d)" % img.returncode)
    if not os.path.exists(os.path.join(ROOT, ".collections", "ansible_collections", "veza", "infra")):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "bootstrap.sh")], check=True)
    spec.write_inventory()
    states = inc.states()
    was_running = all(states.get(n) == "Running" for n in spec.instances)
    t1 = time.monotonic()
    inc.ensure_network()
    inc.ensure_project()
    inc.ensure_instances()
    log("instances up in %s s" % since(t1))
    with tempfile.TemporaryDirectory(prefix="veza-lab-builds.", dir="/var/tmp") as builds:
        build_file = make_build(spec, builds)
        stamp = inputs_hash(spec, build_file)
        if was_running and not spec.always and inc.get(spec.haproxy, STAMP_KEY) == stamp:
            log("converge skipped: lab running and roles/playbooks/vars unchanged since the last up (stamp %s; "
                "VEZA_LAB_CONVERGE=always forces it)" % stamp)
        else:
            inc.set(spec.haproxy, STAMP_KEY, "")
            t1 = time.monotonic()
            run_playbooks(spec, ["playbooks/site.yml", "playbooks/prometheus.yml"])
            log("site.yml + prometheus.yml converged in %s s" % since(t1))
        if not spec.always and baseline_holds(spec, inc, build_file):
            log("baseline holds: %s on all %d backends, api_pool servers UP and ready" % (spec.build, spec.backends_n))
        else:
            t1 = time.monotonic()
            run_playbooks(spec, ["tests/lab/baseline.yml"], ["-e", "veza_lab_build_file=%s" % build_file])
            log("baseline (%s installed, api_pool ready) in %s s" % (spec.build, since(t1)))
        inc.set(spec.haproxy, STAMP_KEY, stamp)
    wait_ready(spec)
    log("up (%s) in %s s: http://127.0.0.1:%d, HAProxy admin tcp 127.0.0.1:%d, Prometheus http://127.0.0.1:%d"
        % ("warm" if was_running else "cold", since(t0), spec.http_port, spec.admin_port, spec.prom_port))


def cmd_down(spec):
    t0 = time.monotonic()
    Incus(spec).down()
    if not spec.default:
        shutil.rmtree(os.path.dirname(os.path.join(ROOT, spec.inventory)), ignore_errors=True)
    log("down in %s s" % since(t0))


def cmd_status(spec):
    states = Incus(spec).states()
    for n in spec.instances:
        print("%-24s %s" % (n, states.get(n, "absent")))
    rc = 0
    if states.get(spec.haproxy) == "Running":
        print("HAProxy api_pool:")
        for srv, st in pool_states(spec).items():
            print("  %s %s" % (srv, st))
    else:
        rc = 1
    if states.get(spec.prometheus) == "Running":
        print('Prometheus up{job="backend-api"} == 1: %s targets' % prom_up_count(spec))
    else:
        rc = 1
    return rc


def main(argv):
    action = argv[1] if len(argv) > 1 else ""
    if action == "explain" and len(argv) == 3:
        # The failing task and message of an ansible-playbook log (scripts/demo.sh).
        with open(argv[2], encoding="utf-8", errors="replace") as fh:
            print(failure_summary(fh.read()))
        return 0
    if action not in ("up", "down", "status", "inventory"):
        print("usage: scripts/lab.sh up|down|status|inventory | explain <ansible-playbook log>", file=sys.stderr)
        return 2
    try:
        spec = LabSpec(os.environ)
        if action == "up":
            cmd_up(spec)
        elif action == "down":
            cmd_down(spec)
        elif action == "status":
            return cmd_status(spec)
        else:
            spec.write_inventory()
            print(os.path.join(ROOT, spec.inventory))
    except LabFailure as exc:
        print("lab: ERROR: %s" % exc, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
