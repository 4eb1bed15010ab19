# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pytest fixtures: a real Prometheus (Debian's /usr/bin/prometheus) on a free loopback port,
with temp storage and a 1 s scrape interval, scraping the veza-api stand-in
(tests/fixtures/veza_api/veza_api.py) that a bounded traffic thread keeps busy.

Import the fixtures into a test module: ``from prometheus_lab import prom_lab, make_prometheus``.
Everything started here is stopped by the fixtures' finalizers.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings

import pytest
import ansible_run
from ansible_run import free_port, wait_until  # noqa: F401  (wait_until: test_prom_sli_watch imports it from here)
from loadgen import LoadGen

# tests/conftest.py (loaded first by pytest; imported by the benches) installs the collection loader.
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAND_IN = os.path.join(ROOT, "tests", "fixtures", "veza_api", "veza_api.py")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SCRAPE_INTERVAL = 1
TRAFFIC_MAX_SECONDS = 240  # the load loop ends by itself even if a finalizer never runs


def _stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class StandIn:
    """The veza-api stand-in as a subprocess, its behaviour driven by a control file."""

    def __init__(self, workdir):
        self.port = free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.control = os.path.join(workdir, "veza-api-control.json")
        self.log = open(os.path.join(workdir, "veza-api.log"), "wb")  # pylint: disable=consider-using-with
        env = dict(os.environ, VEZA_API_CONTROL=self.control)
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, STAND_IN, "--listen", self.address], env=env,
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._up, 10, what="veza-api stand-in on %s" % self.address)
        except BaseException:
            self.stop()
            raise

    def _up(self):
        try:
            with urllib.request.urlopen("http://%s/api/v1/health" % self.address, timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def set(self, **behaviour):
        """e.g. set(delay=0.9) or set(error_rate=1.0); set() restores the build's behaviour."""
        tmp = self.control + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(behaviour, fh)
        os.replace(tmp, self.control)

    def stop(self):
        _stop(self.proc)
        self.log.close()


def bcrypt_hash(password, cost=4):
    """A bcrypt hash for Prometheus's basic_auth_users, from libxcrypt (crypt(3), $2b$), with no
    extra package. Cost 4, the minimum, keeps each authenticated request fast in tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # pylint: disable=import-outside-toplevel,deprecated-module
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** cost))
    assert hashed and hashed.startswith("$2"), "this libcrypt has no bcrypt"
    return hashed


class WebConfig:
    """Prometheus's --web.config.file: TLS with a throw-away CA (openssl CLI) and basic auth.

    ``ca`` is the CA's PEM (what a client passes as ca_path); ``users`` the accepted
    user -> password pairs. The server certificate is for 127.0.0.1 and localhost, or for the
    subjectAltName entries of ``san`` (e.g. ("IP:127.0.0.1", "DNS:prom.lxd"): tests/lab/test_prom_auth.py).
    """

    def __init__(self, workdir, users=None, tls=True, san=("IP:127.0.0.1", "DNS:localhost")):
        self.dir = tempfile.mkdtemp(prefix="webcfg-", dir=workdir)
        self.san = tuple(san)
        self.users = dict(users if users is not None else {"veza-canary": "s3cret-pw"})
        self.tls = tls
        self.ca = os.path.join(self.dir, "ca.pem")
        self.path = os.path.join(self.dir, "web.yml")
        lines = []
        if tls:
            self._certs()
            lines += ["tls_server_config:", "  cert_file: %s" % os.path.join(self.dir, "server.pem"),
                      "  key_file: %s" % os.path.join(self.dir, "server.key")]
        if self.users:
            lines.append("basic_auth_users:")
            lines += ["  %s: '%s'" % (user, bcrypt_hash(pw)) for user, pw in self.users.items()]
        with open(self.path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), cwd=self.dir, check=True, capture_output=True, timeout=30)

    def _certs(self):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                      "-subj", "/CN=veza test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(self.dir, "san.ext"), "w", encoding="utf-8") as fh:
            fh.write("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % ",".join(self.san))
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", "server.pem", "-days", "2", "-extfile", "san.ext")

    def client_options(self, user=None):
        """The PromClient / module options that get through: ca_path and the first user."""
        opts = {"ca_path": self.ca} if self.tls else {}
        if self.users:
            name = user or sorted(self.users)[0]
            opts.update(url_username=name, url_password=self.users[name])
        return opts


class Prometheus:
    """A real Prometheus on loopback scraping ``targets`` every SCRAPE_INTERVAL seconds; with
    ``web`` (a WebConfig), behind TLS and/or basic auth (``--web.config.file``)."""

    def __init__(self, targets, workdir, web=None):
        self.port = free_port()
        self.web = web
        self.url = "%s://127.0.0.1:%d" % ("https" if web is not None and web.tls else "http", self.port)
        # The collection's one Prometheus client, as the modules use it.
        self.client = PromClient(self.url, timeout=5, **(web.client_options() if web is not None else {}))
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=workdir)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write("global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n  evaluation_interval: {s}s\n"
                     "scrape_configs:\n  - job_name: backend-api\n    static_configs:\n"
                     "      - targets: {t}\n".format(s=SCRAPE_INTERVAL, t=json.dumps(list(targets))))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"]
            + (["--web.config.file=" + web.path] if web is not None else []),
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, 30, what="prometheus on %s" % self.url)
        except BaseException:
            self.cleanup()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("prometheus exited with %s, see %s" % (self.proc.returncode, self.log.name))
        return self.client.query("vector(1)").kind == "ok"

    def query(self, promql):
        """One instant query through the collection's client: a PromResult (ok/empty/nan/error)."""
        return self.client.query(promql)

    def value(self, promql):
        """First sample value of a query, or None without data."""
        res = self.client.query(promql)
        return res.values[0] if res.kind == "ok" else None

    def stop(self):
        _stop(self.proc)
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class BreachWatch:
    """When does Prometheus itself first show ``promql`` above ``limit``? Polls in a thread.

    ``with BreachWatch(prometheus, promql, limit) as watch: ...``; then ``watch.visible_at``
    (epoch seconds, or None if it never did).
    """

    def __init__(self, prometheus, promql, limit, poll=0.2):
        self.prometheus, self.promql, self.limit, self.poll = prometheus, promql, limit, poll
        self.visible_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set() and self.visible_at is None:
            value = self.prometheus.value(self.promql)
            if value is not None and value > self.limit:
                self.visible_at = time.time()
            self._stop.wait(self.poll)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def p95_query(selector, rate_range="4s"):
    return ("histogram_quantile(0.95, sum by (le) (rate(veza_gin_http_request_duration_seconds_bucket{%s}[%s])))"
            % (selector, rate_range))


def error_ratio_query(selector, rate_range="4s"):
    name = "veza_gin_http_request_duration_seconds_count"
    return ('(sum(rate(%s{%s,status=~"5.."}[%s])) or vector(0)) / sum(rate(%s{%s}[%s]))'
            % (name, selector, rate_range, name, selector, rate_range))


class Lab:
    """What a test gets: the stand-in, its traffic and a Prometheus scraping it."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.stand_in = self.traffic = self.prometheus = None
        self.scrape_interval = SCRAPE_INTERVAL
        try:
            self.stand_in = StandIn(workdir)
            # Keep-alive clients on an API route: the histogram the SLIs read is fed by real requests.
            self.traffic = LoadGen("http://%s/api/v1/tracks" % self.stand_in.address, rate=40,
                                   duration=TRAFFIC_MAX_SECONDS, clients=4, sticky_share=0,
                                   keepalive_share=1).start()
            self.prometheus = Prometheus([self.stand_in.address], workdir)
        except BaseException:
            self.close()
            raise
        self.selector = 'instance="%s"' % self.stand_in.address

    def wait_healthy(self, timeout=30):
        """Until both default SLIs have data and are within the runbook's thresholds."""
        def ok():
            p95 = self.prometheus.value(p95_query(self.selector))
            err = self.prometheus.value(error_ratio_query(self.selector))
            return p95 is not None and p95 < 0.5 and err is not None and err <= 0.005
        wait_until(ok, timeout, step=0.25, what="healthy SLIs in prometheus")

    def close(self):
        for part, step in ((self.traffic, "stop"), (self.prometheus, "cleanup"), (self.stand_in, "stop")):
            if part is not None:
                getattr(part, step)()


@pytest.fixture(scope="module")
def prom_lab():
    workdir = tempfile.mkdtemp(prefix="veza-prom-lab-")
    lab = None
    try:
        lab = Lab(workdir)
        lab.wait_healthy()
        yield lab
    finally:
        if lab is not None:
            lab.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_prometheus(prom_lab):
    """Factory for an extra Prometheus scraping the lab's stand-in (a test may stop it)."""
    started = []

    def factory():
        prom = Prometheus([prom_lab.stand_in.address], prom_lab.workdir)
        started.append(prom)
        return prom

    yield factory
    for prom in started:
        prom.cleanup()


CANARY_PLAYBOOK = """---
- name: Canary pre-flight, Prometheus part (the haproxy host)
  hosts: haproxy
  gather_facts: false
  tasks:
    - name: Pre-flight
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: preflight_prometheus

- name: SLI gate (the canary)
  hosts: backend_api_instances
  gather_facts: false
  tasks:
    - name: Gate
      ansible.builtin.include_role:
        name: veza.infra.canary
        tasks_from: gate
"""


def canary_role_run(tmp_path, selector, extra_vars=None, **env):
    """The canary role's Prometheus pre-flight (on host ``lb``) and SLI gate (on ``canary-1``, whose
    canary_sli_selector is ``selector``), both local, through ansible-playbook with the role's
    environment knobs ``env``; returns ``(rc, {(task name, host): result}, output)``."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"children": {
        "haproxy": {"hosts": {"lb": {"ansible_connection": "local"}}},
        "backend_api_instances": {"hosts": {"canary-1": {"ansible_connection": "local",
                                                         "canary_sli_selector": selector}}}}}}))
    playbook = tmp_path / "canary.yml"
    playbook.write_text(CANARY_PLAYBOOK)
    knobs = dict(ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", CANARY_NODE="canary-1",
                 SLI_REPORT_DIR=str(tmp_path / "reports"))
    knobs.update(env)
    done = ansible_run.playbook(playbook, inventory, extra_vars=dict({"canary_prom_scrape_interval": 1}, **(extra_vars or {})),
                                env=knobs, timeout=180)
    tasks = {(name, host): res for name, host, res in ansible_run.task_results(done.need_doc())}
    return done.rc, tasks, done.stdout + done.stderr
