# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The relative gate of veza.infra.prom_sli_watch (#17 part 1) through `ansible` against a real
Prometheus on loopback scraping two veza-api stand-ins every second: the canary and one peer
still on the old binary (the baseline), each kept busy by its own bounded traffic.

- a fleet-wide slowdown (both stand-ins slowed through their control file): the absolute-only
  gate is red (the false rollback), the relative gate inconclusive (held, then no rollback);
- a canary-only regression below the SLO (its p95 x10, still under 0.5 s): red with the relative
  gate, green without;
- the canary role's pre-flight and gate with SLI_BASELINE=peers, and the canary play's rescue:
  inconclusive stops without rollback, red rolls back.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from loadgen import LoadGen

from ansible_run import ansible_env
from prometheus_lab import ROOT, TRAFFIC_MAX_SECONDS, Prometheus, StandIn, canary_role_run, p95_query, wait_until

ENV = ansible_env(ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", PYTHONUNBUFFERED="1")
LINE = re.compile(r"^prom_sli_watch \[localhost\] .*probe [0-9]+ .*p95_latency=\S+ vs \S+")


class PairLab:
    """Two stand-ins (canary, baseline), their traffic, one Prometheus scraping both."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="veza-prom-relative-")
        self.parts = []
        try:
            self.canary = self._stand_in("canary")
            self.peer = self._stand_in("peer")
            self.prometheus = Prometheus([self.canary.address, self.peer.address], self.workdir)
            self.parts.append((self.prometheus, "cleanup"))
        except BaseException:
            self.close()
            raise
        self.canary_sel = 'instance="%s"' % self.canary.address
        self.peer_sel = 'instance="%s"' % self.peer.address

    def _stand_in(self, name):
        workdir = os.path.join(self.workdir, name)
        os.mkdir(workdir)
        stand_in = StandIn(workdir)
        self.parts.append((stand_in, "stop"))
        traffic = LoadGen("http://%s/api/v1/tracks" % stand_in.address, rate=40, duration=TRAFFIC_MAX_SECONDS,
                          clients=4, sticky_share=0, keepalive_share=1).start()
        self.parts.append((traffic, "stop"))
        return stand_in

    def p95(self, selector):
        return self.prometheus.value(p95_query(selector))

    def settle(self, canary, peer, timeout=40):
        """Until Prometheus's p95 of each side is in its (low, high) range."""
        def ok():
            c, p = self.p95(self.canary_sel), self.p95(self.peer_sel)
            return (c is not None and p is not None and canary[0] <= c <= canary[1] and peer[0] <= p <= peer[1])
        wait_until(ok, timeout, step=0.25, what="p95 canary in %s, peer in %s" % (canary, peer))

    def close(self):
        for part, step in reversed(self.parts):
            getattr(part, step)()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def pair():
    lab = PairLab()
    try:
        lab.settle((0, 0.05), (0, 0.05))
        yield lab
    finally:
        lab.close()


def gate(lab, relative, **over):
    args = {"url": lab.prometheus.url, "selector": lab.canary_sel, "window": 6, "interval": 2, "min_window": 1,
            "scrape_interval": 1, "fail_on_red": False}
    if relative:
        args.update(baseline_instances=[lab.peer.address], min_requests=5, hold_limit=4)
    args.update(over)
    proc = subprocess.run(["ansible", "localhost", "-m", "veza.infra.prom_sli_watch", "-a", json.dumps(args)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r"^\{$", proc.stdout, re.M)  # the json callback's document
    assert found, proc.stdout + proc.stderr
    start = found.start()
    out = json.loads(proc.stdout[start:])
    result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    lines = [line for line in proc.stdout[:start].splitlines() if LINE.search(line)]
    return result, lines


def test_fleet_wide_slowdown_absolute_red_relative_inconclusive(pair):
    pair.canary.set(delay=0.7)
    pair.peer.set(delay=0.7)
    try:
        pair.settle((0.55, 10), (0.55, 10))
        absolute, _lines = gate(pair, relative=False)
        relative, lines = gate(pair, relative=True)
    finally:
        pair.canary.set()
        pair.peer.set()
    assert absolute["verdict"] == "red", absolute["reason"]  # the false rollback
    assert relative["verdict"] == "inconclusive", relative["reason"]
    assert "fleet-wide" in relative["reason"] and "Not rolled back" in relative["reason"]
    assert not relative.get("failed")  # fail_on_red=false: the caller reads the verdict
    assert relative["baseline"]["extension"] == 4 and len(relative["probes"]) == 4 + 2
    assert {p["status"] for p in relative["probes"]} == {"inconclusive"}
    assert lines and all("INCONCLUSIVE" in line for line in lines), lines
    pair.settle((0, 0.05), (0, 0.05))


def test_canary_only_regression_below_the_slo(pair):
    # the build's delay is 2-20 ms (p95 ~0.02 s); x10 on the canary only: 20-200 ms, p95 ~0.2 s < 0.5 s
    pair.canary.set(delay=[0.02, 0.2])
    try:
        pair.settle((0.12, 0.45), (0, 0.05))
        absolute, _lines = gate(pair, relative=False)
        relative, lines = gate(pair, relative=True)
    finally:
        pair.canary.set()
    assert absolute["verdict"] == "green", absolute["reason"]
    assert relative["verdict"] == "red", relative["reason"]
    assert "against the baseline" in relative["reason"]
    breach = relative["breach"]
    assert breach["sli"] == "p95_latency" and breach["value"] < 0.5 and breach["value"] > 1.5 * breach["baseline"]
    assert len(relative["probes"]) == 1  # red at the first probe
    assert "RED" in lines[0] and "vs" in lines[0]
    pair.settle((0, 0.05), (0, 0.05))


BASELINE_PREFLIGHT = "veza.infra.canary : Preflight | Prometheus has the SLI series of every peer of the relative gate's baseline"
KNOBS = "veza.infra.canary : Preflight | Relative gate knobs are valid (SLI_BASELINE and its thresholds)"
GATE = "veza.infra.canary : Gate | Step 7 - SLI watch on the canary for the window"


def role_run(lab, tmp_path, peer_port, **env):
    """The canary role's pre-flight and gate tasks; the peer is PEER_NODES=127.0.0.1 and
    canary_backend_port its port, so the role's own default builds the baseline instance."""
    knobs = dict(PEER_NODES="127.0.0.1", SLI_WINDOW="4", SLI_MIN_WINDOW="1", SLI_PROBE_INTERVAL="2",
                 SLI_MIN_REQUESTS="5", PROM_URL=lab.prometheus.url)
    knobs.update(env)
    return canary_role_run(tmp_path, lab.canary_sel, extra_vars={"canary_backend_port": peer_port}, **knobs)


def test_role_sli_baseline_peers_checks_the_peers_and_gates_against_them(pair, tmp_path):
    rc, tasks, out = role_run(pair, tmp_path, pair.peer.port, SLI_BASELINE="peers")
    assert rc == 0, out[-3000:]
    pre = tasks[(BASELINE_PREFLIGHT, "lb")]
    assert not pre.get("failed") and pre["results"][0]["series"]
    gate_res = tasks[(GATE, "canary-1")]
    assert gate_res["verdict"] == "green", gate_res["reason"]
    assert gate_res["baseline"]["selector"] == 'instance=~"^(127\\\\.0\\\\.0\\\\.1:%d)$"' % pair.peer.port
    assert all(p["requests"]["baseline"] >= 5 for p in gate_res["probes"])
    # the default, none: the absolute gate only, the peers' pre-flight skipped
    rc, tasks, out = role_run(pair, tmp_path, pair.peer.port)
    assert rc == 0, out[-3000:]
    assert tasks[(BASELINE_PREFLIGHT, "lb")].get("skipped")
    assert "baseline" not in tasks[(GATE, "canary-1")]


def test_role_refuses_a_peer_without_series_and_bad_knobs_before_the_gate(pair, tmp_path):
    rc, tasks, out = role_run(pair, tmp_path, 1, SLI_BASELINE="peers")  # no target on port 1
    assert rc != 0
    pre = tasks[(BASELINE_PREFLIGHT, "lb")]
    assert pre["failed"] and "canary_sli_baseline_instances" in out and pair.peer.address in out
    assert (GATE, "canary-1") not in tasks
    # the pre-flight's message names the knob; a value outside the role's choices is refused by its
    # argument spec first (Ansible's message names the variable), before any task too
    for knob, value, needle in (("SLI_BASELINE_P95_RATIO", "nan", "SLI_BASELINE_P95_RATIO=nan"),
                                ("SLI_MIN_REQUESTS", "-3", "SLI_MIN_REQUESTS=-3"),
                                ("SLI_BASELINE_ERR_DELTA", "2", "SLI_BASELINE_ERR_DELTA=2"),
                                ("SLI_INCONCLUSIVE", "pause", "canary_sli_inconclusive"),
                                ("SLI_BASELINE", "yes", "canary_sli_baseline")):
        rc, tasks, out = role_run(pair, tmp_path, pair.peer.port, **dict({"SLI_BASELINE": "peers"}, **{knob: value}))
        assert rc != 0, knob
        assert needle in out, out[-2000:]
        assert (GATE, "canary-1") not in tasks


class _Stub(BaseHTTPRequestHandler):
    """Prometheus's instant-query API: p95 ``canary_p95`` for the canary, ``peer_p95`` for the
    baseline (its queries carry the ``=~"^(...)$"`` selector), 0 errors, 100 requests."""

    def do_GET(self):  # pylint: disable=invalid-name
        self._answer(urllib.parse.urlparse(self.path).query)

    def do_POST(self):  # pylint: disable=invalid-name
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

    def _answer(self, form):
        query = urllib.parse.parse_qs(form).get("query", [""])[0]
        if "histogram_quantile" in query:
            value = self.server.peer_p95 if "^(" in query else self.server.canary_p95
        elif "vector(0)" in query:     # the 5xx ratio
            value = 0
        else:                          # requests over the rate range
            value = 100
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [time.time(), str(value)]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


def _rescue_run(tmp_path, canary_p95, peer_p95):
    """playbooks/canary.yml's canary play, its rescue as written, the block reduced to the gate
    (prom_sli_watch against a stub) so that the rescue sees the gate's real failure."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.canary_p95, server.peer_p95 = canary_p95, peer_p95
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with open(os.path.join(ROOT, "playbooks", "canary.yml"), encoding="utf-8") as fh:
            plays = yaml.safe_load(fh)
        play = [p for p in plays if p["hosts"] == "canary_target"][0]
        play["tasks"][0]["block"] = [{
            "name": "Gate", "register": "canary_sli_result", "delegate_to": "localhost",
            "veza.infra.prom_sli_watch": {"url": "http://127.0.0.1:%d" % server.server_address[1], "window": 1,
                                          "interval": 1, "min_window": 0, "baseline_instances": ["peer:8080"],
                                          "min_requests": 0, "hold_limit": 0}}]
        (tmp_path / "play.yml").write_text(yaml.safe_dump([play]))
        (tmp_path / "inv.yml").write_text(json.dumps({"all": {
            "vars": {"ansible_connection": "local"},
            "children": {"haproxy": {"hosts": {"lb": None}}, "canary_target": {"hosts": {"canary": None}},
                         "backend_api_instances": {"hosts": {"canary": None}}}}}))
        proc = subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inv.yml"), str(tmp_path / "play.yml")],
                              cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    finally:
        server.shutdown()
        server.server_close()
    doc = json.loads(proc.stdout[re.search(r"^\{$", proc.stdout, re.M).start():])
    return proc.returncode, dict((t["task"]["name"], t["hosts"].get("canary", {})) for t in doc["plays"][0]["tasks"])


def test_canary_rescue_inconclusive_stops_without_rollback_red_rolls_back(tmp_path):
    rc, tasks = _rescue_run(tmp_path, 0.9, 0.85)  # fleet-wide: both over 0.5 s, canary not much worse
    assert rc != 0
    assert tasks["Gate"]["verdict"] == "inconclusive", tasks["Gate"].get("reason")
    assert tasks["Roll the canary back to the last-known-good binary"].get("skipped")
    stop = tasks["Stop the release, fleet-wide (inconclusive, not rolled back)"]
    assert stop["failed"] and "NOT rolled back" in stop["msg"] and "fleet-wide" in stop["msg"]
    assert "ROLLBACK_NODES=canary ansible-playbook playbooks/rollback.yml" in stop["msg"]
    assert "Stop the release" not in tasks
    rc, tasks = _rescue_run(tmp_path, 0.9, 0.02)  # canary only: red, the rescue rolls back
    assert rc != 0
    assert tasks["Gate"]["verdict"] == "red"
    assert not tasks["Roll the canary back to the last-known-good binary"].get("skipped")
    assert "Stop the release, fleet-wide (inconclusive, not rolled back)" not in tasks or \
        tasks["Stop the release, fleet-wide (inconclusive, not rolled back)"].get("skipped")
