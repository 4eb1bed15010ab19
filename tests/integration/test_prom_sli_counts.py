# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the gate counts, on a real Prometheus: the default SLI queries count a counter series born
inside the rate range (_sli_watch.counts_over), and the minimum-request counts leave the health
checks out (requests_selector).

A build that starts answering 503 creates the route's status="503" series with its first 503 (as the
Go and Python client libraries do). rate()/increase() only see what happens between two samples of a
series, so what was counted before that series' first scrape is lost. At the traffic of a 5 % step
(a few requests per probe) that was every error of several probes: the lab's 5 %-step test saw a
20 %-5xx build at an error ratio of 0 for a whole step (CI, 2026-12-01). Here: 3 requests/s, a
build that turns 30 % 5xx, and from the first scrape that shows a 503 on, every poll of the default
error_rate query must be above 0; the plain rate() ratio of the same moments is printed alongside
(the control).
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import time

import ansible_run
from loadgen import LoadGen
from prometheus_lab import Prometheus, StandIn

from ansible_collections.veza.infra.plugins.module_utils._sli_watch import default_slis, requests_query

HIST = "veza_gin_http_request_duration_seconds"
RANGE = "8s"


@contextlib.contextmanager
def stand_in_under_load(path, rate, duration):
    """The veza-api stand-in, a real Prometheus scraping it every second, and ``rate`` req/s on
    ``path`` (one keep-alive client); all stopped and removed on the way out."""
    workdir = tempfile.mkdtemp(prefix="veza-prom-counts-")
    stand_in = prom = gen = None
    try:
        stand_in = StandIn(workdir)
        prom = Prometheus([stand_in.address], workdir)
        gen = LoadGen("http://%s%s" % (stand_in.address, path), rate=rate, duration=duration, clients=1,
                      sticky_share=0, keepalive_share=1).start()
        yield stand_in, prom
    finally:
        for part, step in ((gen, "stop"), (prom, "cleanup"), (stand_in, "stop")):
            if part is not None:
                getattr(part, step)()
        shutil.rmtree(workdir, ignore_errors=True)


def test_first_errors_of_a_new_5xx_series_count():
    with stand_in_under_load("/api/v1/tracks", rate=3, duration=60) as (stand_in, prom):
        sel = 'instance="%s"' % stand_in.address
        p95, err = (s["query"] for s in default_slis(HIST, sel, 0.5, 0.005, RANGE))
        control = ('(sum(rate(%s_count{%s,status=~"5.."}[%s])) or vector(0)) / sum(rate(%s_count{%s}[%s]))'
                   % (HIST, sel, RANGE, HIST, sel, RANGE))
        errors_seen = '%s_count{%s,status=~"5.."}' % (HIST, sel)
        # a history longer than two ranges first: every 200 series has samples before R
        time.sleep(2 * 8 + 2)
        assert prom.value(err) == 0.0 and prom.value(requests_query(HIST, sel, RANGE)) > 10
        stand_in.set(error_rate=0.3)
        polls, deadline = [], time.monotonic() + 8
        while time.monotonic() < deadline:
            polls.append((prom.value(errors_seen), prom.value(err), prom.value(control), prom.value(p95)))
            time.sleep(0.5)
        seen = [p for p in polls if p[0]]        # Prometheus has scraped a 503
        print("polls with a 503 scraped: %d; default error_rate: %s; plain rate() ratio: %s" % (
            len(seen), [round(p[1], 3) for p in seen], [round(p[2] or 0, 3) for p in seen]))
        assert seen, "no 503 reached Prometheus in 8 s at 3 req/s and 30 %% errors: %r" % polls
        assert all(p[1] and p[1] > 0.005 for p in seen), seen
        assert all(p[3] is not None and p[3] < 0.5 for p in polls)     # p95 from the same counts


def test_health_checks_are_not_the_minimum_requests():
    """HAProxy's health checks are requests too: with only them (2/s on the health path, an LB pair's
    checks every second), a probe must not count as served traffic. prom_sli_watch through Ansible,
    min_canary_requests=5 over a 6 s range: no data with the role's requests_selector (after the
    warm-up of the first range, red at no_data_limit), green without it (the control)."""
    with stand_in_under_load("/api/v1/health", rate=2, duration=90) as (stand_in, prom):
        time.sleep(2 * 6 + 2)
        # window 12 s: past the warm-up of the first rate range (6 s), too few requests is no data
        args = {"url": prom.url, "selector": 'instance="%s"' % stand_in.address, "window": 12, "interval": 2,
                "min_window": 0, "scrape_interval": 1, "rate_range": "6s", "min_canary_requests": 5,
                "fail_on_red": False}
        counted = ansible_run.module("veza.infra.prom_sli_watch", args)
        narrowed = ansible_run.module("veza.infra.prom_sli_watch",
                                      dict(args, requests_selector='path!="/api/v1/health"'))
        print("health checks only: every request counted: %s (%s); health path left out: %s (%s)" % (
            counted["verdict"], [p.get("requests") for p in counted["probes"]],
            narrowed["verdict"], [p.get("requests") for p in narrowed["probes"]]))
        assert counted["verdict"] == "green", counted["reason"]
        assert narrowed["verdict"] == "red", narrowed["reason"]
        assert "no data for 2 consecutive probes" in narrowed["reason"] and "requests: 0 < min_canary_requests 5" \
            in narrowed["reason"], narrowed["reason"]
        assert [p.get("warmup", False) for p in narrowed["probes"]] == [True] * 3 + [False] * 2
