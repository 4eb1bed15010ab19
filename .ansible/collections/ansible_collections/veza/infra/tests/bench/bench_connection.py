# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the cost of one module run per connection, the same task loop on each.

One playbook of --tasks `ansible.builtin.command: /bin/true` tasks (gather_facts off), run on:
  * community.general.incus with pipelining (the lab's and staging's setting, ansible.cfg)
  * community.general.incus without pipelining (ANSIBLE_PIPELINING=false)
  * containers.podman.podman (Molecule's connection; it has no pipelining)
  * local (the floor: Ansible's own per-task cost)
against throwaway containers of the lab image (an Incus instance in project veza-bench without a
network, a podman container running `sleep`), removed at the end. Each variant runs --runs times;
the table shows the median seconds per task (wall time of the playbook minus its 0-task run,
divided by --tasks). Writes tests/bench/results/connection.json.

Usage: python tests/bench/bench_connection.py [--tasks 10] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
PROJECT = "veza-bench"
INSTANCE = "bench-conn"
PODMAN = "veza-bench-conn"


def sh(*cmd, check=True):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=check, timeout=300)


def playbook(path, n):
    tasks = "".join("    - name: Task %d\n      ansible.builtin.command: /bin/true\n      changed_when: false\n" % i
                    for i in range(n))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("---\n- name: Bench\n  hosts: all\n  gather_facts: false\n  tasks:\n%s" % (tasks or "    []\n"))


def run(inventory, pb, pipelining):
    env = dict(os.environ, PATH=os.path.join(VENV, "bin") + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_PIPELINING="true" if pipelining else "false")
    t0 = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", inventory, pb], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (pb, proc.stdout[-3000:]))
    return time.monotonic() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    a = parser.parse_args()
    if not 1 <= a.tasks <= 100 or not 1 <= a.runs <= 10:
        parser.error("--tasks 1..100, --runs 1..10")
    os.makedirs(RESULTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="veza-bench-conn-")
    inventories = {
        "incus (pipelining)": ("%s ansible_connection=community.general.incus ansible_incus_remote=local "
                               "ansible_incus_project=%s" % (INSTANCE, PROJECT), True),
        "incus (no pipelining)": ("%s ansible_connection=community.general.incus ansible_incus_remote=local "
                                  "ansible_incus_project=%s" % (INSTANCE, PROJECT), False),
        "podman": ("%s ansible_connection=containers.podman.podman" % PODMAN, False),
        "local": ("localhost ansible_connection=local", False),
    }
    out = {"tasks": a.tasks, "runs": a.runs, "per_task_s": {}, "raw": {}}
    try:
        sh("bash", os.path.join(ROOT, "scripts", "build-image.sh"))
        if PROJECT not in sh("incus", "project", "list", "-f", "csv", "-c", "n").stdout.split():
            sh("incus", "project", "create", PROJECT, "-c", "features.images=false", "-c", "features.profiles=false")
        sh("incus", "--project", PROJECT, "delete", "--force", INSTANCE, check=False)
        sh("incus", "--project", PROJECT, "launch", "veza-lab-bookworm", INSTANCE)
        sh("podman", "rm", "-f", "-t", "0", PODMAN, check=False)
        sh("podman", "run", "-d", "--name", PODMAN, "--network", "none", "localhost/veza-lab:bookworm",
           "sleep", "3600")
        pb0, pbn = os.path.join(work, "zero.yml"), os.path.join(work, "n.yml")
        playbook(pb0, 0)
        playbook(pbn, a.tasks)
        for label, (line, pipelining) in inventories.items():
            inv = os.path.join(work, label.split()[0] + ".ini")
            with open(inv, "w", encoding="utf-8") as fh:
                fh.write("[all]\n%s ansible_python_interpreter=/usr/bin/python3\n" % line)
            per = []
            for _i in range(a.runs):
                base = run(inv, pb0, pipelining)
                full = run(inv, pbn, pipelining)
                per.append((full - base) / a.tasks)
            out["raw"][label] = [round(x, 3) for x in per]
            out["per_task_s"][label] = round(statistics.median(per), 3)
            print("%-24s %.3f s per task (runs: %s)" % (label, out["per_task_s"][label], out["raw"][label]), flush=True)
    finally:
        sh("incus", "--project", PROJECT, "delete", "--force", INSTANCE, check=False)
        sh("incus", "project", "delete", PROJECT, check=False)
        sh("podman", "rm", "-f", "-t", "0", PODMAN, check=False)
        with open(os.path.join(RESULTS, "connection.json"), "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, sort_keys=True)
    print("results: %s" % os.path.join(RESULTS, "connection.json"))


if __name__ == "__main__":
    main()
