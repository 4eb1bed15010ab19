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
import urllib.error
import urllib.parse
import urllib.request

import pytest
from ansible_run import free_port, wait_until  # noqa: F401  (wait_until: test_prom_sli_watch imports it from here)
from loadgen import LoadGen

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


class Prometheus:
    """A real Prometheus on loopback scraping ``targets`` every SCRAPE_INTERVAL seconds."""

    def __init__(self, targets, workdir):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.dir = tempfile.mkdtemp(prefix="prom-", dir=workdir)
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write("global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n  evaluation_interval: {s}s\n"
                     "scrape_configs:\n  - job_name: backend-api\n    static_configs:\n"
                     "      - targets: {t}\n".format(s=SCRAPE_INTERVAL, t=json.dumps(list(targets))))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, 30, what="prometheus on %s" % self.url)
        except BaseException:
            self.cleanup()
            raise

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("prometheus exited with %s, see %s" % (self.proc.returncode, self.log.name))
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def query(self, promql):
        """Raw /api/v1/query answer (also for errors): the decoded JSON."""
        data = urllib.parse.urlencode({"query": promql}).encode()
        try:
            with urllib.request.urlopen(self.url + "/api/v1/query", data=data, timeout=5) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            return json.load(exc)

    def value(self, promql):
        """First sample value of a query, or None without data."""
        answer = self.query(promql)
        result = (answer.get("data") or {}).get("result") or []
        if answer.get("status") != "success" or not result:
            return None
        return float(result[0]["value"][1])

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
