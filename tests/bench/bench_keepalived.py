# -*- coding: utf-8 -*-
# Copyright (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: keepalived (VRRP) and a virtual IP in front of the lab's LB pair (issue 19).

Needs a running named lab with two HAProxies (VEZA_LAB_NAME=<name> VEZA_LAB_LBS=2 and its ports,
scripts/lab.sh up). On both LBs: installs Debian's keepalived if it is missing (apt, needs the
bridge's NAT to reach the mirror), writes a VRRP instance (virtual_router_id 61, the LB's eth0,
a virtual IP .250 of the lab's subnet, priority 150 / 100, advert_int 1, a track script on
`systemctl is-active haproxy` every 1 s) and starts it. Then, under a steady load through the
virtual IP (tests/loadgen.py, from the host over the lab's bridge):
1. HAProxy stopped on the MASTER: requests failed, how long, and when the VIP answered again;
2. HAProxy started again: the MASTER takes the VIP back (preemption): the same figures.
Cleans up (keepalived stopped and disabled, its configuration removed; the VIP goes with it).
Prints a table; writes tests/bench/results/keepalived.json. Not part of make test.

Usage: VEZA_LAB_NAME=lbpair VEZA_LAB_LBS=2 VEZA_LAB_HTTP_PORT=... python tests/bench/bench_keepalived.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from loadgen import LoadGen  # noqa: E402  pylint: disable=wrong-import-position

CONF = """vrrp_script chk_haproxy {{
  script "/usr/bin/systemctl is-active -q haproxy"
  interval 1
  fall 1
  rise 1
}}
vrrp_instance VEZA {{
  state {state}
  interface eth0
  virtual_router_id 61
  priority {priority}
  advert_int 1
  virtual_ipaddress {{
    {vip}/24
  }}
  track_script {{
    chk_haproxy
  }}
}}
"""


def ex(project, name, *cmd, check=True, timeout=300):
    return subprocess.run(["incus", "--project", project, "exec", name, "--"] + list(cmd), capture_output=True,
                          text=True, check=check, timeout=timeout)


def span(fails):
    return [min(f["t"] for f in fails), max(f["t"] for f in fails)] if fails else None


def main():
    name = os.environ.get("VEZA_LAB_NAME", "")
    if not name or os.environ.get("VEZA_LAB_LBS") != "2":
        sys.exit("bench_keepalived: run it on a named lab with VEZA_LAB_LBS=2 (scripts/lab.sh up first)")
    lbs = [name + "-haproxy", name + "-haproxy-2"]
    addr = ex(name, lbs[0], "ip", "-4", "-o", "addr", "show", "eth0").stdout.split()[3].split("/")[0]
    vip = ".".join(addr.split(".")[:3] + ["250"])
    out = {"lab": name, "vip": vip}
    try:
        for i, lb in enumerate(lbs):
            if ex(name, lb, "sh", "-c", "command -v keepalived", check=False).returncode != 0:
                t0 = time.monotonic()
                ex(name, lb, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                   "--no-install-recommends keepalived")
                out.setdefault("install_s", []).append(round(time.monotonic() - t0, 1))
            conf = CONF.format(state="MASTER" if i == 0 else "BACKUP", priority=150 - 50 * i, vip=vip)
            subprocess.run(["incus", "--project", name, "exec", lb, "--", "sh", "-c",
                            "cat > /etc/keepalived/keepalived.conf && systemctl restart keepalived"],
                           input=conf, text=True, check=True, timeout=60)
        t0 = time.monotonic()
        while vip not in ex(name, lbs[0], "ip", "-4", "-o", "addr", "show", "eth0").stdout:
            if time.monotonic() - t0 > 30:
                raise RuntimeError("the MASTER %s did not take %s within 30 s" % (lbs[0], vip))
            time.sleep(0.2)
        out["master_after_s"] = round(time.monotonic() - t0, 1)
        gen = LoadGen("http://%s/api/v1/health" % vip, rate=50, duration=60, clients=10, sticky_share=0.3,
                      timeout=2).start()
        time.sleep(5)
        t_stop = time.monotonic() - gen.t_start
        ex(name, lbs[0], "systemctl", "stop", "haproxy")
        time.sleep(12)
        t_back = time.monotonic() - gen.t_start
        ex(name, lbs[0], "systemctl", "start", "haproxy")
        time.sleep(12)
        res = gen.stop()
        fails = res["failures"]
        over, back = [f for f in fails if f["t"] < t_back], [f for f in fails if f["t"] >= t_back]
        out.update(sent=res["sent"], failed=res["failed"], max_s=res["max_s"],
                   failover={"at_s": round(t_stop, 2), "failed": len(over), "span_s": span(over)},
                   failback={"at_s": round(t_back, 2), "failed": len(back), "span_s": span(back)},
                   errors=sorted({f["error"] or str(f["status"]) for f in fails}))
    finally:
        for lb in lbs:
            ex(name, lb, "sh", "-c", "systemctl disable --now keepalived; rm -f /etc/keepalived/keepalived.conf; "
               "systemctl start haproxy", check=False)
    print("keepalived on %s, VIP %s: MASTER after %s s; %d requests through the VIP at 50/s, %d failed, max %s s"
          % (name, vip, out["master_after_s"], out["sent"], out["failed"], out["max_s"]))
    for what in ("failover", "failback"):
        f = out[what]
        print("  %-8s (HAProxy %s on the MASTER at %5.2f s): %2d failed, between %s s"
              % (what, "stopped" if what == "failover" else "started", f["at_s"], f["failed"], f["span_s"]))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "keepalived.json"), "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
