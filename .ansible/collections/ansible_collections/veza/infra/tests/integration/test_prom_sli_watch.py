# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""veza.infra.prom_sli_watch through `ansible` / `ansible-playbook` against a real Prometheus
(Debian's 2.42) on loopback scraping the veza-api stand-in every second.

Breach tests assert on probe timestamps: the red probe comes no later than one probe interval
plus one scrape interval after the breach became visible in Prometheus (measured by a watcher
polling the same query), and never before the breach was switched on.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from ansible_run import ansible_env
from prometheus_lab import (  # noqa: F401  pylint: disable=unused-import
    ROOT, BreachWatch, error_ratio_query, make_prometheus, p95_query, prom_lab, wait_until)

ENV = ansible_env(ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", PYTHONUNBUFFERED="1")
INTERVAL = 2
PROBE_LINE = re.compile(r"^prom_sli_watch \[localhost\] +[0-9.]+s/[0-9]+s  probe [0-9]+ ")


def epoch(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def base_args(lab, **over):
    args = {"url": lab.prometheus.url, "selector": lab.selector, "window": 6, "interval": INTERVAL,
            "min_window": 1, "scrape_interval": lab.scrape_interval}
    args.update(over)
    return args


class Run:
    """`ansible localhost -m veza.infra.prom_sli_watch` in the background, its stdout read live."""

    def __init__(self, args, extra=()):
        self.lines = []
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["ansible", "localhost", "-m", "veza.infra.prom_sli_watch", "-a", json.dumps(args)] + list(extra),
            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def probe_lines(self):
        return [line for line in self.lines if PROBE_LINE.search(line)]

    def wait(self, timeout=90):
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        self.reader.join(5)
        stderr = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        text = "".join(self.lines)
        start = text.find("\n{")
        assert start >= 0 or text.startswith("{"), "no JSON in output:\n%s\n%s" % (text, stderr)
        doc = json.loads(text[start + 1:] if start >= 0 else text)
        return self.proc.returncode, doc["plays"][0]["tasks"][0]["hosts"]["localhost"]


def run(args, extra=()):
    return Run(args, extra).wait()


def test_green_window_passes(prom_lab, tmp_path):
    rc, res = run(base_args(prom_lab, report_path=str(tmp_path / "gate.json")))
    assert rc == 0, res
    assert res["verdict"] == "green" and res["changed"] is False
    assert [p["status"] for p in res["probes"]] == ["green"] * 4
    assert [round(p["elapsed"]) for p in res["probes"]] == [0, 2, 4, 6]
    for probe in res["probes"]:
        assert 0 < probe["values"]["p95_latency"] < 0.5 and probe["values"]["error_rate"] == 0
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "green"
    assert (tmp_path / "gate.html").read_text().count("<svg") == 2


@pytest.mark.parametrize("behaviour,sli,query", [
    ({"delay": 0.9}, "p95_latency", p95_query),       # the veza-api-slow build
    ({"error_rate": 0.2}, "error_rate", error_ratio_query),  # the veza-api-5xx build
])
def test_breach_mid_window_fails_within_interval_plus_scrape(prom_lab, behaviour, sli, query):
    limit = 0.5 if sli == "p95_latency" else 0.005
    runner = Run(base_args(prom_lab, window=40))
    try:
        wait_until(lambda: len(runner.probe_lines()) >= 2, 30, what="two green probes")
        breach_at = time.time()
        prom_lab.stand_in.set(**behaviour)
        with BreachWatch(prom_lab.prometheus, query(prom_lab.selector), limit) as watch:
            rc, res = runner.wait(60)
    finally:
        prom_lab.stand_in.set()
    assert rc != 0 and res["failed"] is True
    assert res["verdict"] == "red" and res["breach"]["sli"] == sli
    red = res["probes"][-1]
    assert red["status"] == "red" and red["sli_status"][sli] == "breach"
    assert all(p["status"] == "green" for p in res["probes"][:-1])
    assert epoch(red["time"]) >= breach_at - 0.01  # no red before the breach existed
    assert watch.visible_at is not None, "the watcher never saw the breach in Prometheus"
    assert epoch(red["time"]) <= watch.visible_at + INTERVAL + prom_lab.scrape_interval
    assert sli in res["msg"] and red["time"] in res["msg"] and "query:" in res["msg"]
    prom_lab.wait_healthy()


def test_prometheus_stopped_mid_window_hits_error_limit(prom_lab, make_prometheus):
    prom = make_prometheus()
    wait_until(lambda: prom.value(p95_query(prom_lab.selector)) is not None, 30, step=0.25,
               what="data in the second prometheus")
    runner = Run(base_args(prom_lab, url=prom.url, window=30, interval=1, error_limit=3))
    try:
        wait_until(lambda: len(runner.probe_lines()) >= 2, 30, what="two probes")
    finally:
        prom.stop()
    rc, res = runner.wait(60)
    assert rc != 0 and res["verdict"] == "red"
    statuses = [p["status"] for p in res["probes"]]
    first_error = statuses.index("error")
    assert first_error >= 2 and set(statuses[:first_error]) == {"green"}
    assert statuses[first_error:] == ["error"] * 3  # red on the 3rd consecutive error, not later
    assert "3 consecutive probes could not query Prometheus (error_limit=3)" in res["msg"]
    assert "cannot reach Prometheus at %s" % prom.url in res["msg"]


def test_promql_rejected_before_the_window_with_prometheus_text(prom_lab):
    bad = "sum(rate(veza_gin_http_request_duration_seconds_count[1m])"
    expected = prom_lab.prometheus.query(bad)
    assert expected.kind == "error" and expected.rejected
    runner = Run(base_args(prom_lab, slis=[{"name": "broken", "query": bad, "max": 1}]))
    rc, res = runner.wait(60)
    assert rc != 0 and res["probes"] == [] and res["duration"] == 0
    assert expected.text in res["msg"] and "before the window started" in res["msg"]
    assert runner.probe_lines() == []


@pytest.mark.parametrize("on_no_data,verdict,statuses,reason", [
    ("fail", "red", ["no_data", "no_data"], "no data for 2 consecutive probes"),
    # #14 item 1: ignoring quiet probes never makes a window of nothing but no-data green
    ("ignore", "red", ["no_data", "no_data"], "no evidence for green: the window ended on a no_data probe"),
])
def test_no_data_policy(prom_lab, on_no_data, verdict, statuses, reason):
    rc, res = run(base_args(prom_lab, selector='instance="127.0.0.1:1"', window=1, interval=1, on_no_data=on_no_data))
    assert res["verdict"] == verdict and (rc != 0) == (verdict == "red")
    assert [p["status"] for p in res["probes"]] == statuses
    assert res["probes"][0]["sli_status"] == {"p95_latency": "empty", "error_rate": "empty"}
    assert reason in res["msg"]


def test_bad_input_fails_with_field_and_fix(prom_lab):
    rc, res = run(base_args(prom_lab, interval=10, window=5))
    assert rc != 0 and "interval=10 is longer than window=5" in res["msg"]
    rc, res = run(base_args(prom_lab, window=60, min_window=300))
    assert rc != 0 and "lower min_window explicitly" in res["msg"]
    rc, res = run(base_args(prom_lab, no_such_option=1))
    assert rc != 0 and "no_such_option" in res["msg"]  # the action plugin honours the argument spec


def test_live_progress_in_playbook_output(prom_lab, tmp_path):
    playbook = tmp_path / "gate.yml"
    playbook.write_text("""---
- name: SLI gate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Watch
      veza.infra.prom_sli_watch: %s
      check_mode: true
      register: gate
    - name: Check
      ansible.builtin.assert:
        that: [gate.verdict == 'green', not gate.changed, gate.probes | length == 5]
""" % json.dumps(base_args(prom_lab, window=4, interval=1)))
    env = dict(ENV, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    proc = subprocess.Popen(["ansible-playbook", str(playbook)], cwd=ROOT, env=env,  # pylint: disable=consider-using-with
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append((line, proc.poll() is None))
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    out = "".join(line for line, _alive in seen)
    assert proc.returncode == 0, out
    probe_lines = [(line, alive) for line, alive in seen if PROBE_LINE.search(line)]
    assert len(probe_lines) == 5, out
    first, alive = probe_lines[0]
    assert alive, "the first probe line only arrived after ansible-playbook ended: not live"
    assert "0.0s/4s  probe 0  p95_latency=" in first and "(max 0.5)" in first and "error_rate=0 (max 0.005)" in first
    assert first.rstrip().endswith("GREEN")
    assert "GREEN: all 5 probes within thresholds" in out


def test_module_runs_without_the_action_plugin(prom_lab, tmp_path):
    argsfile = tmp_path / "args.json"
    argsfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": base_args(prom_lab, window=2, interval=1)}))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.veza.infra.plugins.modules.prom_sli_watch",
                           str(argsfile)], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    res = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert res["verdict"] == "green" and res["changed"] is False and len(res["probes"]) == 3
