# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""prom_sli_background through the real ansible-playbook against a real Prometheus: the watcher
probes in the background while the play goes on, ``state=stopped`` reads its verdict, and no path
leaves it behind - the play that forgets to stop it, and ansible-playbook interrupted (Ctrl-C,
SIGINT) while it runs. The owner is ansible-playbook itself (found through /proc)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ansible_run import ansible_env
from prometheus_lab import ROOT, prom_lab, wait_until  # noqa: F401  pylint: disable=unused-import

ENV = ansible_env(json=False, ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                  PYTHONUNBUFFERED="1", ANSIBLE_NOCOLOR="1")


def _book(tmp_path, lab, after, stop=True):
    status = str(tmp_path / "bg.json")
    watch = {"url": lab.prometheus.url, "selector": lab.selector, "window": 600, "interval": 1, "min_window": 0,
             "scrape_interval": lab.scrape_interval}
    tasks = [{"name": "start", "veza.infra.prom_sli_background": {"state": "started", "status_path": status, "watch": watch},
              "register": "started"},
             {"name": "pid", "ansible.builtin.copy": {"content": "{{ started.pid }}", "dest": str(tmp_path / "pid")}},
             after]
    if stop:
        tasks.append({"name": "stop", "veza.infra.prom_sli_background": {"state": "stopped", "status_path": status},
                      "register": "stopped"})
        tasks.append({"name": "verdict", "ansible.builtin.debug": {"msg": "VERDICT {{ stopped.verdict }} {{ stopped.status.probes }}"}})
    book = tmp_path / "book.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return str(book), status


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _run(book):
    return subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=%s" % sys.executable, book], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_watcher_probes_while_the_play_goes_on_and_is_stopped(tmp_path, prom_lab):
    book, _status = _book(tmp_path, prom_lab, {"name": "work", "ansible.builtin.pause": {"seconds": 4}})
    proc = _run(book)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    line = [x for x in out.splitlines() if "VERDICT" in x][0]
    verdict, probes = line.split("VERDICT ", 1)[1].strip().strip('"').split()[:2]
    assert verdict == "green" and int(probes) >= 3, line  # it probed during the 4 s pause
    pid = int((tmp_path / "pid").read_text())
    assert not _alive(pid)


def test_no_watcher_left_when_the_play_forgets_it_or_is_interrupted(tmp_path, prom_lab):
    # the play ends without stopping it: ansible-playbook is gone, the watcher follows
    book, status = _book(tmp_path, prom_lab, {"name": "work", "ansible.builtin.pause": {"seconds": 1}}, stop=False)
    proc = _run(book)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]
    pid = int((tmp_path / "pid").read_text())
    wait_until(lambda: not _alive(pid), 5, what="watcher %d gone after the run ended" % pid)
    with open(status, encoding="utf-8") as fh:
        assert "is gone" in json.load(fh)["reason"]

    # Ctrl-C (SIGINT to the process group) while the play waits
    os.unlink(str(tmp_path / "pid"))
    book, status = _book(tmp_path, prom_lab, {"name": "work", "ansible.builtin.pause": {"seconds": 60}})
    proc = _run(book)
    wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), 60, what="watcher started")
    pid = int((tmp_path / "pid").read_text())
    assert _alive(pid)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
    wait_until(lambda: not _alive(pid), 5, what="watcher %d gone after Ctrl-C" % pid)
