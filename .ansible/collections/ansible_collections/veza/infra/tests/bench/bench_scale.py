# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: the peer roll at 2, 4 and 8 backends, Ansible against a shell sequence, in one run.

A lab of its own next to the default one (scripts/lab.sh with VEZA_LAB_NAME=veza-scale: Incus project and
bridge veza-scale, free
loopback ports, no stream servers), grown from 2 to 4 to 8 backends. At each size, under a light
steady load through HAProxy (the SLI gate needs traffic):
1. playbooks/canary.yml rolls v1.0.9 -> v1.0.10 (canary with the lab's shortest SLI window, 30 s,
   then the peers one at a time). Per peer, from the JSON callback: wall time of the peer's
   batch, the mandatory waits (drain + maint settle and the drain grace as the module reports
   them in `elapsed`, node health retries x delay, HAProxy health checks until UP) and the rest,
   the orchestration overhead;
2. the reference: the same steps for every backend as an old deploy-canary.sh would do them,
   `incus exec` + socat to the runtime API, the runbook's own way (drain until sessions stay at 0 for 1 s or for at most
   the same 10 s grace as the role, maint, sessions at 0 for 1 s, copy,
   systemctl restart, poll node health, ready, poll until UP, one request through HAProxy),
   rolling the fleet back to v1.0.9; waits = the polling loops.
Per-node figures are medians (a drain that meets a cookie client waits the 10 s grace, both
ways); the ratio is the Ansible per-node median wall time over the shell's. At the largest size a second
canary.yml run rolls the peers with PEER_SERIAL (default "1,25%,100%") and shows the batches.
Bounded: every step has a timeout and the run stops starting steps after --budget seconds.
Prints a table; writes tests/bench/results/scale.json.

Usage: python tests/bench/bench_scale.py [--sizes 2,4,8] [--serial 1,25%,100%] [--keep]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
sys.path.insert(0, os.path.join(ROOT, "tests"))
from ansible_run import JSON_CALLBACK, parse_json  # noqa: E402  pylint: disable=wrong-import-position
from loadgen import LoadGen  # noqa: E402  pylint: disable=wrong-import-position

BINARY = "/opt/veza/backend-api/veza-api"
SOCK = "/run/haproxy/admin.sock"
HEALTH = "/api/v1/health"

# The reference sequence for one node, as an old deploy-canary.sh would run it. Prints
# "<step> <epoch seconds>" lines; the bench splits them into waits and the rest.
SHELL_ROLL = r'''
set -euo pipefail
H=$1 NODE=$2 BUILD=$3 HTTP=$4 P=$5
ts() { echo "$1 $(date +%s.%N)"; }
api() { incus --project "$P" exec "$H" -- sh -c "echo '$1' | socat -t 2 stdio unix-connect:/run/haproxy/admin.sock"; }
row() { api "show stat" | awk -F, -v s="$NODE" '$1 == "api_pool" && $2 == s { print $3 + $5, $8, $18 }'; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a }'; }
# Sessions (qcur + scur) at 0 and no new session (stot) for 1 s; with a grace, give up waiting
# for that after GRACE s at an instant with no session (cookie clients keep coming while draining).
settle() {
  local grace=$1 t0 since="" last="" n stot st
  t0=$(date +%s.%N)
  for _ in $(seq 1 240); do
    read -r n stot st < <(row)
    if [ "$n" = 0 ] && [ "$stot" = "$last" ]; then
      [ -n "$since" ] || since=$(date +%s.%N)
      [ "$(elapsed "$since")" -ge 1 ] && return 0
    else since=""; fi
    [ "$grace" -gt 0 ] && [ "$n" = 0 ] && [ "$(elapsed "$t0")" -ge "$grace" ] && return 0
    last=$stot; sleep 0.5
  done
  echo "drain of $NODE did not settle" >&2; return 1
}
ts start
api "set server api_pool/$NODE state drain" >/dev/null
settle 10
api "set server api_pool/$NODE state maint" >/dev/null
settle 0
ts drained
incus --project "$P" file push "$BUILD" "$NODE/opt/veza/backend-api/veza-api.new" >/dev/null
incus --project "$P" exec "$NODE" -- sh -c 'cd /opt/veza/backend-api && chmod 0755 veza-api.new && mv -f veza-api.new veza-api'
incus --project "$P" exec "$NODE" -- systemctl restart veza-backend-api
ts restarted
for _ in $(seq 1 120); do
  incus --project "$P" exec "$NODE" -- curl -sf -o /dev/null --max-time 5 http://127.0.0.1:8080/api/v1/health && break
  sleep 0.5
done
ts healthy
api "set server api_pool/$NODE state ready" >/dev/null
for _ in $(seq 1 180); do
  read -r _n _stot st < <(row)
  [ "$st" = UP ] && break
  sleep 0.5
done
[ "$st" = UP ] || { echo "$NODE not UP: $st" >&2; exit 1; }
ts up
curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$HTTP/api/v1/health"
ts end
'''


def free_ports(n):
    socks = [socket.socket() for _i in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def iso(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class ScaleLab:
    def __init__(self, name, ports):
        self.name = name
        self.http, self.admin, self.prom = ports
        self.n = 0

    def env(self, n=None):
        e = dict(os.environ)
        e.update({"PATH": os.path.join(VENV, "bin") + os.pathsep + e.get("PATH", ""),
                  "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                  "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                  "VEZA_LAB_NAME": self.name, "VEZA_LAB_BACKENDS": str(n or self.n or 2),
                  "VEZA_LAB_STREAM_SERVERS": "0", "VEZA_LAB_HTTP_PORT": str(self.http),
                  "VEZA_LAB_ADMIN_PORT": str(self.admin), "VEZA_LAB_PROM_PORT": str(self.prom)})
        return e

    def lab_sh(self, action, n=None, timeout=900):
        t0 = time.monotonic()
        proc = subprocess.run(["bash", "scripts/lab.sh", action], cwd=ROOT, env=self.env(n), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError("lab.sh %s failed:\n%s" % (action, proc.stdout[-4000:]))
        return proc.stdout, time.monotonic() - t0

    def up(self, n):
        out, elapsed = self.lab_sh("up", n)
        self.n = n
        return out, elapsed

    @property
    def haproxy(self):
        return self.name + "-haproxy"

    def backends(self):
        return ["%s-backend-api-%d" % (self.name, i) for i in range(1, self.n + 1)]

    @property
    def inventory(self):
        return os.path.join(ROOT, ".cache", "labs", self.name, "inventory.yml")


def canary_run(lab, artifact, reports, serial="1", timeout=900):
    """playbooks/canary.yml with the JSON callback; returns (rc, parsed JSON or None, wall s, tail)."""
    nodes = lab.backends()
    e = lab.env()
    e.update({"ARTIFACT": artifact, "CANARY_NODE": nodes[-1], "PEER_NODES": ",".join(nodes[:-1]),
              "PEER_SERIAL": serial, "SLI_WINDOW": "30", "SLI_PROBE_INTERVAL": "5", "SLI_REPORT_DIR": reports,
              "MIGRATIONS_PATHS": os.path.join(ROOT, "tests", "fixtures", "migrations"),
              "ANSIBLE_STDOUT_CALLBACK": JSON_CALLBACK, "ANSIBLE_JSON_INDENT": "0", "ANSIBLE_NOCOLOR": "1"})
    t0 = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", lab.inventory, "playbooks/canary.yml"], cwd=ROOT, env=e,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    wall = time.monotonic() - t0
    data = parse_json(proc.stdout)
    if data is not None:
        with open(os.path.join(reports, "canary-%d-%s.json" % (len(nodes), serial.replace("%", "pct").replace(",", "_"))),
                  "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    return proc.returncode, data, wall, proc.stdout[-3000:]


def task_wait(task_name, res):
    """Seconds of a task's result that are mandatory waiting, not orchestration."""
    if "Drain |" in task_name or "Step 5 - re-enable" in task_name:
        return float(res.get("elapsed") or 0.0)
    if "Step 4 - node health" in task_name or "Step 6 - LB-side health" in task_name:
        return max(0, int(res.get("attempts") or 1) - 1) * 2.0  # retries x delay (2 s)
    return 0.0


def peer_figures(data):
    """Per peer batch of the peer play: hosts, wall, waits (split), overhead; plus play totals."""
    batches = []
    plays = {}
    for play in data["plays"]:
        name = play["play"]["name"]
        start, end = iso(play["play"]["duration"]["start"]), iso(play["play"]["duration"]["end"])
        plays.setdefault(name.split(" - ")[0], []).append(end - start)
        if not name.startswith("Peers"):
            continue
        waits = {}
        hosts = set()
        for t in play["tasks"]:
            for host, res in t["hosts"].items():
                hosts.add(host)
                w = task_wait(t["task"]["name"], res)
                if w:
                    key = ("drain" if "Drain" in t["task"]["name"] else
                           "ready" if "re-enable" in t["task"]["name"] else "health")
                    waits.setdefault(host, {}).setdefault(key, 0.0)
                    waits[host][key] += w
        peers = sorted(h for h in hosts if not h.endswith("haproxy"))
        wall = end - start
        # A batch of several peers waits in parallel: its mandatory wait is the longest peer's.
        per_peer = {h: round(sum(waits.get(h, {}).values()), 2) for h in peers}
        wait = max(per_peer.values()) if per_peer else 0.0
        batches.append({"hosts": peers, "wall_s": round(wall, 2), "wait_s": round(wait, 2),
                        "overhead_s": round(wall - wait, 2), "waits": waits})
    return batches, {k: round(sum(v), 1) for k, v in plays.items()}


def shell_roll(lab, build):
    """The reference sequence on every backend; per node wall, waits and the rest."""
    rows = []
    for node in lab.backends():
        t0 = time.monotonic()
        proc = subprocess.run(["bash", "-c", SHELL_ROLL, "shell-roll", lab.haproxy, node, build, str(lab.http), lab.name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise RuntimeError("shell roll of %s failed: %s" % (node, proc.stderr[-2000:]))
        ts = {k: float(v) for k, v in (line.split() for line in proc.stdout.splitlines() if line.strip())}
        wait = {"drain": ts["drained"] - ts["start"], "health": ts["healthy"] - ts["restarted"],
                "ready": ts["up"] - ts["healthy"]}
        wall = ts["end"] - ts["start"]
        rows.append({"node": node, "wall_s": round(wall, 2), "wait_s": round(sum(wait.values()), 2),
                     "overhead_s": round(wall - sum(wait.values()), 2),
                     "waits": {k: round(v, 2) for k, v in wait.items()},
                     "process_s": round(time.monotonic() - t0, 2)})
    return rows


def median(values):
    return round(statistics.median(values), 2) if values else None


def main():  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="2,4,8", help="backends per lab size, growing (default 2,4,8)")
    parser.add_argument("--serial", default="1,25%,100%", help="PEER_SERIAL of the extra run at the largest size")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s through HAProxy during each roll")
    parser.add_argument("--budget", type=float, default=1140.0, help="no new step after this many seconds")
    parser.add_argument("--name", default="veza-scale", help="VEZA_LAB_NAME of the bench's lab")
    parser.add_argument("--keep", action="store_true", help="leave the lab running (scripts/lab.sh down later)")
    a = parser.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 2 or sizes[-1] > 16:
        parser.error("--sizes: growing numbers from 2 to 16, e.g. 2,4,8")
    os.makedirs(RESULTS, exist_ok=True)
    t_begin = time.monotonic()
    ports = [int(os.environ[v]) if os.environ.get(v) else p for v, p in
             zip(("VEZA_LAB_HTTP_PORT", "VEZA_LAB_ADMIN_PORT", "VEZA_LAB_PROM_PORT"), free_ports(3))]
    lab = ScaleLab(a.name, ports)
    work = tempfile.mkdtemp(prefix="veza-bench-scale-")
    reports = os.path.join(work, "reports")
    os.makedirs(reports)
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "veza_api", "make_builds.py"), work],
                   check=True, stdout=subprocess.DEVNULL)
    new, old = os.path.join(work, "veza-api-v1.0.10"), os.path.join(work, "veza-api-v1.0.9")
    out = {"sizes": {}, "serial": None, "rate": a.rate}

    def loaded(action):
        gen = LoadGen("http://127.0.0.1:%d/api/v1/tracks" % lab.http, rate=a.rate, duration=900, clients=4,
                      sticky_share=0.3)
        gen.start()
        try:
            return action()
        finally:
            res = gen.stop()
            print("  load: sent %d, failed %d, max %.0f ms" % (res["sent"], res["failed"], (res["max_s"] or 0) * 1000))

    try:
        for n in sizes:
            if time.monotonic() - t_begin > a.budget:
                print("budget of %.0f s spent: size %d skipped" % (a.budget, n))
                break
            _o, up_s = lab.up(n)
            print("\n== %d backends: lab up in %.1f s" % (n, up_s))
            rc, data, wall, tail = loaded(lambda: canary_run(lab, new, reports))
            if rc != 0 or data is None:
                raise RuntimeError("canary.yml on %d backends: rc %d\n%s" % (n, rc, tail))
            batches, plays = peer_figures(data)
            shell = loaded(lambda: shell_roll(lab, old))
            row = {"lab_up_s": round(up_s, 1), "canary_run_s": round(wall, 1), "plays_s": plays, "peers": batches,
                   "shell": shell,
                   "ansible_per_node_s": median([b["wall_s"] for b in batches]),
                   "ansible_wait_s": median([b["wait_s"] for b in batches]),
                   "ansible_overhead_s": median([b["overhead_s"] for b in batches]),
                   "shell_per_node_s": median([s["wall_s"] for s in shell]),
                   "shell_wait_s": median([s["wait_s"] for s in shell]),
                   "shell_overhead_s": median([s["overhead_s"] for s in shell])}
            row["ratio"] = round(row["ansible_per_node_s"] / row["shell_per_node_s"], 2)
            row["drain_grace_hits"] = sum(1 for b in batches for w in b["waits"].values() if w.get("drain", 0) > 5)
            out["sizes"][n] = row
            print("  canary.yml %.1f s (plays %s); per peer %s s = waits %s + overhead %s; shell per node %s s "
                  "(waits %s); ratio %.2f" % (
                      wall, plays, row["ansible_per_node_s"], row["ansible_wait_s"], row["ansible_overhead_s"],
                      row["shell_per_node_s"], row["shell_wait_s"], row["ratio"]))
        if a.serial and lab.n and time.monotonic() - t_begin <= a.budget:
            rc, data, wall, tail = loaded(lambda: canary_run(lab, new, reports, serial=a.serial))
            if rc != 0 or data is None:
                raise RuntimeError("canary.yml with PEER_SERIAL=%s: rc %d\n%s" % (a.serial, rc, tail))
            batches, plays = peer_figures(data)
            out["serial"] = {"backends": lab.n, "serial": a.serial, "canary_run_s": round(wall, 1), "plays_s": plays,
                             "batches": [{"hosts": len(b["hosts"]), "wall_s": b["wall_s"], "wait_s": b["wait_s"],
                                          "overhead_s": b["overhead_s"]} for b in batches]}
            print("\n== %d backends, PEER_SERIAL=%s: batches %s; peer play %.1f s; canary.yml %.1f s"
                  % (lab.n, a.serial, [len(b["hosts"]) for b in batches], plays.get("Peers", 0), wall))
    except Exception as exc:  # the figures so far are still written, with the error
        out["error"] = str(exc)[:3000]
        raise
    finally:
        if not a.keep:
            lab.lab_sh("down", n=max(sizes))
        out["total_s"] = round(time.monotonic() - t_begin, 1)
        with open(os.path.join(RESULTS, "scale.json"), "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, sort_keys=True)
    row_fmt = "%-8s %9s %8s %10s %10s %9s %11s %6s"
    print()
    print(row_fmt % ("backends", "peer s", "waits s", "overhead s", "shell s", "waits s", "overhead s", "ratio"))
    for n, r in out["sizes"].items():
        print(row_fmt % (n, r["ansible_per_node_s"], r["ansible_wait_s"], r["ansible_overhead_s"],
                         r["shell_per_node_s"], r["shell_wait_s"], r["shell_overhead_s"], r["ratio"]))
    if out["serial"]:
        s = out["serial"]
        print("PEER_SERIAL=%s on %d backends: batches of %s peers, %s s each; peer play %s s"
              % (s["serial"], s["backends"], [b["hosts"] for b in s["batches"]], [b["wall_s"] for b in s["batches"]],
                 s["plays_s"].get("Peers")))
    print("total %.0f s" % out["total_s"])
    print("results: %s" % os.path.join(RESULTS, "scale.json"))


if __name__ == "__main__":
    main()
