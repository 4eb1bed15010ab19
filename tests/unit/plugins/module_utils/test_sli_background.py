# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The background SLI watcher (_sli_background, module prom_sli_background): the verdict a check
reads, the watcher's body against a canned Prometheus (red, stopped, owner gone), and a real
detached watcher started and stopped through the module, leaving no process behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _sli_background as bg
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import argument_spec
from ansible_collections.veza.infra.plugins.modules import prom_sli_background


def _vector(value):
    return (200, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}})


def _params(url, **over):
    p = {k: v.get("default") for k, v in argument_spec().items()}
    p.update(url=url, window=3600, interval=1, min_window=0, report_path=None)
    p.update(over)
    return p


@pytest.mark.parametrize("status,alive,want", [
    (None, True, "running"),
    (None, False, "error"),
    ({"state": "running", "verdict": "running"}, True, "running"),
    ({"state": "running", "verdict": "running"}, False, "error"),
    ({"state": "stopped", "verdict": "running"}, False, "green"),
    ({"state": "done", "verdict": "green"}, False, "green"),
    ({"state": "done", "verdict": "red", "reason": "SLI error_rate breached"}, False, "red"),
    ({"state": "done", "verdict": "inconclusive"}, True, "inconclusive"),
    ({"state": "done", "verdict": "error"}, False, "error"),
])
def test_verdict_of(status, alive, want):
    verdict, _reason = bg.verdict_of(status, alive)
    assert verdict == want
    assert (verdict in bg.STOPPING) == (want in ("red", "inconclusive", "error"))


def test_status_file_is_written_atomically(tmp_path):
    path = str(tmp_path / "s.json")
    assert bg.read_status(path) is None
    bg.write_status(path, {"state": "running"})
    assert bg.read_status(path) == {"state": "running"}
    assert os.listdir(str(tmp_path)) == ["s.json"]  # no temp file left


def test_red_probe_ends_the_watcher_done_red(canned_http, tmp_path):
    canned_http.answers["*"] = _vector("0.9")
    path = str(tmp_path / "s.json")
    final = bg.run_child(_params(canned_http.url), path, 0, None)
    assert final["state"] == "done" and final["verdict"] == "red"
    assert "p95_latency" in final["reason"]
    assert bg.read_status(path)["verdict"] == "red"


def test_watcher_stops_when_its_owner_is_gone(canned_http, tmp_path):
    canned_http.answers["*"] = _vector("0.001")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.2)"])
    try:
        t0 = time.monotonic()
        final = bg.run_child(_params(canned_http.url, window=20), str(tmp_path / "s.json"), owner.pid,
                             bg.proc_start(owner.pid))
        took = time.monotonic() - t0
    finally:
        owner.wait(10)
    assert final["state"] == "stopped" and "is gone" in final["reason"]
    assert bg.verdict_of(final, False)[0] == "green"
    assert took < 15  # long before the window (20 s)


def test_a_config_error_is_an_error_verdict_not_a_traceback(tmp_path):
    final = bg.run_child(_params("http://127.0.0.1:1", p95_threshold=-1), str(tmp_path / "s.json"), 0, None)
    assert final["verdict"] == "error" and "p95_threshold" in final["reason"]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_module_starts_a_detached_watcher_and_stops_it(run_module, canned_http, tmp_path):
    canned_http.answers["*"] = _vector("0.001")
    path = str(tmp_path / "bg.json")
    watch = {"url": canned_http.url, "window": 3600, "interval": 1, "min_window": 0}
    code, out = run_module(prom_sli_background, {"state": "started", "status_path": path, "watch": watch,
                                                 "owner_pid": 0})
    assert code == 0 and out["changed"] and out["verdict"] == "started", out
    pid = out["pid"]
    assert pid != os.getpid() and _alive(pid)
    deadline = time.monotonic() + 20
    while (bg.read_status(path) or {}).get("probes", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bg.read_status(path)["probes"] >= 2
    code, out = run_module(prom_sli_background, {"state": "stopped", "status_path": path})
    assert code == 0 and out["verdict"] == "green" and out["status"]["state"] == "stopped", out
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "watcher %d left running" % pid
    # a second stop reads the same final status, starts nothing
    code, out = run_module(prom_sli_background, {"state": "stopped", "status_path": path})
    assert code == 0 and out["verdict"] == "green" and out["changed"] is False


def test_module_red_watcher_is_read_as_red(run_module, canned_http, tmp_path):
    canned_http.answers["*"] = _vector("0.9")
    path = str(tmp_path / "bg.json")
    watch = {"url": canned_http.url, "window": 3600, "interval": 1, "min_window": 0}
    code, out = run_module(prom_sli_background, {"state": "started", "status_path": path, "watch": watch,
                                                 "owner_pid": 0})
    assert code == 0
    deadline = time.monotonic() + 20
    while (bg.read_status(path) or {}).get("state") != "done" and time.monotonic() < deadline:
        time.sleep(0.1)
    code, out = run_module(prom_sli_background, {"state": "stopped", "status_path": path})
    assert code == 0 and out["verdict"] == "red" and "p95_latency" in out["reason"], out


@pytest.mark.parametrize("watch,needle", [
    ({"url": "http://127.0.0.1:1", "interval": 600, "window": 300, "min_window": 0}, "watch: interval=600"),
    ({"url": "http://127.0.0.1:1", "on_no_data": "pass"}, "watch: "),
    ({"window": 1}, "watch: "),
])
def test_module_bad_watch_fails_before_starting(run_module, tmp_path, watch, needle):
    path = str(tmp_path / "bg.json")
    code, out = run_module(prom_sli_background, {"state": "started", "status_path": path, "watch": watch})
    assert code == 1 and needle in out["msg"] and "Traceback" not in out["msg"], out
    assert not os.path.exists(path + ".pid")


def test_module_stopped_without_any_watcher(run_module, tmp_path):
    code, out = run_module(prom_sli_background, {"state": "stopped", "status_path": str(tmp_path / "none.json")})
    assert code == 0 and out["verdict"] == "none" and out["changed"] is False


def test_module_missing_directory(run_module, tmp_path):
    code, out = run_module(prom_sli_background, {"state": "stopped", "status_path": str(tmp_path / "no" / "s.json")})
    assert code == 1 and "status_path" in out["msg"]


def test_module_check_mode_starts_nothing(run_module, tmp_path):
    path = str(tmp_path / "bg.json")
    code, out = run_module(prom_sli_background, {"state": "started", "status_path": path, "_ansible_check_mode": True,
                                                 "watch": {"url": "http://127.0.0.1:1", "min_window": 0, "window": 60}})
    assert code == 0 and out["changed"] is True and not os.path.exists(path + ".pid")
    assert json.dumps(out)
