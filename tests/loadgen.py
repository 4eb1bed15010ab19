# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bounded load generator for the veza.infra lab (standard library only).

Sends steady HTTP traffic through HAProxy's published port and records every failed request
and every latency. Four kinds of clients, mixed by share:

* sticky clients keep the ``SERVERID`` cookie HAProxy hands out, as browsers and WebSocket
  clients do, and take a new one when HAProxy re-dispatches them;
* fresh clients never send a cookie;
* either kind uses one keep-alive connection, or a new connection per request.

Bounded: ``duration`` (at most MAX_DURATION s), ``rate`` (at most MAX_RATE req/s in total) and
``clients`` (at most MAX_CLIENTS threads) are capped; ``stop()`` ends it early.

URI-hashed load (``uris=[...]``, at most MAX_URIS paths on the url's host): the clients take the
paths in turn, so every URI is asked about ``rate / len(uris)`` times a second, and the result
adds ``per_uri``: for each path its requests, failures and the servers that answered it in
order (``[[t, server], ...]``, one entry each time the server changes), what a consistent hash
such as HAProxy's ``stream_pool`` is judged by.

Python::

    gen = LoadGen("http://127.0.0.1:18080/api/v1/health", rate=100, duration=30)
    gen.start(); ...; res = gen.stop()     # or gen.run() to block for `duration`
    res["failed"], res["max_s"], res["per_backend"]

Several targets (a pair of load balancers without a virtual IP): ``LoadGen([url1, url2], ...)``;
client ``i`` sends to ``urls[i % len(urls)]`` (its own connection and cookie), and
``res["per_target"]`` counts sent and failed requests per URL.

CLI::

    python tests/loadgen.py --url http://127.0.0.1:18080/api/v1/health --rate 100 --duration 10
    python tests/loadgen.py --url http://127.0.0.1:48080/ --url http://127.0.0.1:48081/   # two LBs
"""
from __future__ import annotations

import argparse
import collections
import http.client
import json
import re
import signal
import sys
import threading
import time
import urllib.parse

MAX_DURATION = 3600.0
MAX_RATE = 2000.0
MAX_CLIENTS = 200
MAX_URIS = 10000
COOKIE = "SERVERID"
# Response headers the stand-in may use to say which backend answered (first one present wins).
BACKEND_HEADERS = ("X-Veza-Backend", "X-Served-By", "X-Backend", "X-Hostname", "X-Veza-Server")

COOKIE_RE = re.compile(r"(?:^|[;,]\s*)%s=([^;,\s]*)" % COOKIE)


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))  # ceil(pct/100 * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


class _Client(threading.Thread):
    def __init__(self, gen, idx, sticky, keepalive, interval, offset):
        super().__init__(name="loadgen-%d" % idx, daemon=True)
        self.gen = gen
        self.idx = idx
        self.sticky = sticky
        self.keepalive = keepalive
        self.interval = interval
        self.offset = offset
        self.cookie = None
        self.conn = None
        self.sent = 0
        self.target = gen.targets[idx % len(gen.targets)]   # (url, host, port, path)

    def kind(self):
        if self.gen.pin_cookie:
            return "pinned/%s" % ("keepalive" if self.keepalive else "newconn")
        return "%s/%s" % ("sticky" if self.sticky else "fresh", "keepalive" if self.keepalive else "newconn")

    def _connect(self):
        g = self.gen
        return http.client.HTTPConnection(self.target[1], self.target[2], timeout=g.timeout)

    def _one(self):
        g = self.gen
        headers = {"Connection": "keep-alive" if self.keepalive else "close", "User-Agent": "veza-loadgen"}
        if g.pin_cookie:
            headers["Cookie"] = "%s=%s" % (COOKIE, g.pin_cookie)
        elif self.sticky and self.cookie:
            headers["Cookie"] = "%s=%s" % (COOKIE, self.cookie)
        t0 = time.monotonic()
        status, error, backend = None, None, None
        # URI-hashed load: client i asks uris[i], uris[i + clients], ... (every URI in turn)
        path = g.uris[(self.idx + self.sent * g.clients) % len(g.uris)] if g.uris else self.target[3]
        self.sent += 1
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.request("GET", path, headers=headers)
            resp = self.conn.getresponse()
            resp.read()
            status = resp.status
            set_cookie = resp.getheader("Set-Cookie") or ""
            m = COOKIE_RE.search(set_cookie)
            new_cookie = m.group(1) if m else None
            for h in BACKEND_HEADERS:
                backend = resp.getheader(h)
                if backend:
                    break
            if not backend:
                backend = new_cookie or (self.cookie if self.sticky else None)
            if self.sticky and not g.pin_cookie and new_cookie and new_cookie != self.cookie:
                if self.cookie is not None:
                    g._note_switch(self, self.cookie, new_cookie, t0)
                self.cookie = new_cookie
            if not self.keepalive or resp.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException) as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
            if self.conn is not None:
                self.conn.close()
                self.conn = None
        g._record(self, t0, time.monotonic() - t0, status, error, backend, path)

    def run(self):
        g = self.gen
        next_at = g.t_start + self.offset
        while not g._stop.is_set():
            now = time.monotonic()
            if now >= g.t_end:
                break
            if next_at > now:
                if g._stop.wait(next_at - now):
                    break
                continue
            self._one()
            next_at += self.interval
            # Closed loop: a slow request is measured, missed slots are not replayed in a burst.
            if next_at < time.monotonic() - self.interval:
                next_at = time.monotonic()
        if self.conn is not None:
            self.conn.close()


class LoadGen:
    """Steady, bounded HTTP load with sticky and fresh clients; see the module docstring."""

    def __init__(self, url, rate=50.0, duration=30.0, clients=10, sticky_share=0.3,
                 keepalive_share=0.5, timeout=5.0, ok_statuses=(200,), slow_s=1.0, pin_cookie=None, uris=None,
                 timeline=False):
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("url must be http://HOST:PORT/PATH or a list of them, got an empty list")
        self.targets = []
        for one in urls:
            parsed = urllib.parse.urlsplit(one)
            if parsed.scheme != "http" or not parsed.hostname:
                raise ValueError("url must be http://HOST:PORT/PATH, got %r" % one)
            self.targets.append((one, parsed.hostname, parsed.port or 80,
                                 (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")))
        self.url = url if isinstance(url, str) else urls[0] if len(urls) == 1 else urls
        _url, self.host, self.port, self.path = self.targets[0]
        self.rate = min(float(rate), MAX_RATE)
        self.duration = min(float(duration), MAX_DURATION)
        self.clients = max(1, min(int(clients), MAX_CLIENTS))
        if not 0.0 <= sticky_share <= 1.0 or not 0.0 <= keepalive_share <= 1.0:
            raise ValueError("sticky_share and keepalive_share must be between 0 and 1")
        if self.rate <= 0 or self.duration <= 0:
            raise ValueError("rate and duration must be positive")
        self.sticky_share = sticky_share
        # A fixed set of paths on the url's host and port, taken in turn (URI-hashed load).
        self.uris = [str(u) for u in (uris or [])]
        if len(self.uris) > MAX_URIS or any(not u.startswith("/") for u in self.uris):
            raise ValueError("uris must be at most %d paths starting with /" % MAX_URIS)
        # Every client sends SERVERID=<pin_cookie> whatever HAProxy answers (a client pinned to one
        # server, e.g. by a stale cookie); sticky_share is then moot.
        self.pin_cookie = pin_cookie
        self.keepalive_share = keepalive_share
        self.timeout = float(timeout)
        self.ok_statuses = tuple(ok_statuses)
        self.slow_s = float(slow_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.t_start = self.t_end = None
        self.t_stopped = None
        self.latencies = []
        self.failures = []       # dicts: t (s since start), status, error, client kind
        self.switches = []       # sticky clients whose cookie changed: t, client, old, new
        self.per_backend = collections.Counter()
        self.per_kind = collections.Counter()
        self.per_uri = {}        # path: {"sent", "failed", "servers": [[t, server], ...] on change}
        self.per_target = {t[0]: {"sent": 0, "failed": 0} for t in self.targets}
        self.sent = 0
        # timeline=True: every request as (wall-clock time sent, backend, ok, latency s, client kind),
        # for the canary ramp's per-step shares (between(): counts in a wall-clock interval)
        self.keep_timeline = bool(timeline)
        self.timeline = []
        self.wall_start = None

    # -- recording (called from client threads) --------------------------------------------
    def _record(self, client, t0, latency, status, error, backend, path=None):
        with self._lock:
            self.sent += 1
            self.latencies.append(latency)
            self.per_kind[client.kind()] += 1
            self.per_target[client.target[0]]["sent"] += 1
            if backend:
                self.per_backend[backend] += 1
            failed = error is not None or status not in self.ok_statuses
            if self.keep_timeline:
                self.timeline.append((self.wall_start + (t0 - self.t_start), backend, not failed, latency, client.kind()))
            if failed:
                self.per_target[client.target[0]]["failed"] += 1
                self.failures.append({"t": round(t0 - self.t_start, 3), "status": status, "error": error,
                                      "client": client.kind(), "latency_s": round(latency, 4), "path": path,
                                      "target": client.target[0]})
            if self.uris:
                entry = self.per_uri.setdefault(path, {"sent": 0, "failed": 0, "servers": []})
                entry["sent"] += 1
                entry["failed"] += int(failed)
                if backend and not failed and (not entry["servers"] or entry["servers"][-1][1] != backend):
                    entry["servers"].append([round(t0 - self.t_start, 3), backend])

    def _note_switch(self, client, old, new, t0):
        with self._lock:
            self.switches.append({"t": round(t0 - self.t_start, 3), "client": client.idx, "old": old, "new": new})

    # -- control ------------------------------------------------------------------------------
    def start(self):
        if self._threads:
            raise RuntimeError("LoadGen already started")
        self.t_start = time.monotonic()
        self.wall_start = time.time()
        self.t_end = self.t_start + self.duration
        interval = self.clients / self.rate
        n_sticky = int(round(self.clients * self.sticky_share))
        groups = [(0, n_sticky, True), (n_sticky, self.clients, False)]
        for lo, hi, sticky in groups:
            n_keepalive = int(round((hi - lo) * self.keepalive_share))
            for i in range(lo, hi):
                keepalive = (i - lo) < n_keepalive
                self._threads.append(_Client(self, i, sticky, keepalive, interval,
                                             offset=interval * i / self.clients))
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        """Stop early (or after the end) and return result()."""
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)
        if self.t_stopped is None:
            self.t_stopped = min(time.monotonic(), self.t_end or time.monotonic())
        return self.result()

    def wait(self):
        """Block until the duration is over, then stop."""
        for t in self._threads:
            t.join(max(0.0, self.t_end - time.monotonic()) + self.timeout + 5)
        return self.stop()

    def run(self):
        return self.start().wait()

    def between(self, t_from, t_to, kinds=None):
        """With timeline=True: requests sent in [t_from, t_to) (wall-clock epoch seconds) as
        ``{"sent", "per_backend", "failed", "failed_per_backend", "slow_per_backend"}``; ``kinds``
        keeps only those client kinds (``sticky``/``fresh`` prefixes of ``per_client_kind``)."""
        if not self.keep_timeline:
            raise RuntimeError("LoadGen(timeline=True) is needed for between()")
        with self._lock:
            rows = [r for r in self.timeline if t_from <= r[0] < t_to
                    and (kinds is None or any(r[4].startswith(k) for k in kinds))]
        out = {"sent": len(rows), "per_backend": collections.Counter(), "failed": 0,
               "failed_per_backend": collections.Counter(), "slow_per_backend": collections.Counter()}
        for _t, backend, ok, latency, _kind in rows:
            out["per_backend"][backend] += 1
            if not ok:
                out["failed"] += 1
                out["failed_per_backend"][backend] += 1
            if latency > self.slow_s:
                out["slow_per_backend"][backend] += 1
        return out

    def result(self):
        with self._lock:
            lat = sorted(self.latencies)
            failures = list(self.failures)
            switches = list(self.switches)
            per_backend = dict(self.per_backend)
            per_kind = dict(self.per_kind)
            per_uri = {u: dict(e, servers=[list(x) for x in e["servers"]]) for u, e in self.per_uri.items()}
            per_target = {u: dict(c) for u, c in self.per_target.items()}
            sent = self.sent
        end = self.t_stopped or time.monotonic()
        elapsed = max(1e-9, end - self.t_start) if self.t_start else 0.0

        def r(v):
            return None if v is None else round(v, 4)

        return {
            "url": self.url, "elapsed_s": round(elapsed, 2), "sent": sent, "failed": len(failures),
            "rate_achieved": round(sent / elapsed, 1) if elapsed else 0.0,
            "p50_s": r(percentile(lat, 50)), "p99_s": r(percentile(lat, 99)),
            "p999_s": r(percentile(lat, 99.9)), "max_s": r(lat[-1] if lat else None),
            "over_1s": sum(1 for v in lat if v > self.slow_s),
            "per_backend": per_backend, "per_client_kind": per_kind, "per_target": per_target,
            "sticky_switches": switches, "failures": failures,
            **({"per_uri": per_uri} if self.uris else {}),
        }


def summary(res):
    """One human line (plus one line per failure) for a result() dict."""
    lines = ["loadgen: sent=%d failed=%d rate=%.1f/s p50=%ss p99=%ss p99.9=%ss max=%ss over_1s=%d "
             "per_backend=%s sticky_switches=%d" % (
                 res["sent"], res["failed"], res["rate_achieved"], res["p50_s"], res["p99_s"],
                 res["p999_s"], res["max_s"], res["over_1s"], json.dumps(res["per_backend"], sort_keys=True),
                 len(res["sticky_switches"]))]
    for f in res["failures"][:50]:
        lines.append("  failed at t=%.3fs status=%s error=%s client=%s" % (f["t"], f["status"], f["error"], f["client"]))
    if len(res["failures"]) > 50:
        lines.append("  ... %d more failures" % (len(res["failures"]) - 50))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--url", action="append", help="target URL; repeat it to spread the clients over several "
                   "(default http://127.0.0.1:18080/api/v1/health)")
    p.add_argument("--rate", type=float, default=50.0, help="total requests per second (max %d)" % MAX_RATE)
    p.add_argument("--duration", type=float, default=10.0, help="seconds (max %d)" % MAX_DURATION)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--sticky-share", type=float, default=0.3)
    p.add_argument("--keepalive-share", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    a = p.parse_args(argv)
    try:
        gen = LoadGen(a.url or "http://127.0.0.1:18080/api/v1/health", rate=a.rate, duration=a.duration, clients=a.clients, sticky_share=a.sticky_share,
                      keepalive_share=a.keepalive_share, timeout=a.timeout)
    except ValueError as exc:
        p.error(str(exc))
    # SIGTERM (and SIGINT, which a shell ignores in background jobs) end the run early with a result.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    gen.start()
    try:
        res = gen.wait()
    except KeyboardInterrupt:
        res = gen.stop()
    print(json.dumps(res, indent=1, sort_keys=True) if a.json else summary(res))
    return 0 if res["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
