# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The load generator counts what it must: failures, stalls, backends, sticky switches.

Runs against a tiny local HTTP server on a free loopback port (no lab needed).
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from loadgen import LoadGen, percentile


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0
    cookies = []
    lock = threading.Lock()

    def do_GET(self):  # pylint: disable=invalid-name
        with _Handler.lock:
            _Handler.calls += 1
            _Handler.cookies.append(self.headers.get("Cookie"))
            n = _Handler.calls
        status = 500 if self.path == "/fail" else 200
        backend = "s2" if n > 40 else "s1"   # the "server" changes after 40 requests
        body = b"x"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if "SERVERID=%s" % backend not in (self.headers.get("Cookie") or ""):
            self.send_header("Set-Cookie", "SERVERID=%s; path=/" % backend)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture()
def server():
    _Handler.calls = 0
    _Handler.cookies = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_percentile_nearest_rank():
    values = sorted(float(i) for i in range(1, 1001))
    assert percentile(values, 50) == 500.0
    assert percentile(values, 99.9) == 999.0
    assert percentile([], 50) is None


def test_counts_requests_backends_and_sticky_switches(server):
    res = LoadGen(server + "/ok", rate=100, duration=1.5, clients=4, sticky_share=0.5).run()
    assert res["failed"] == 0 and res["sent"] >= 100
    assert set(res["per_backend"]) == {"s1", "s2"}
    assert sum(res["per_backend"].values()) == res["sent"]
    # the two sticky clients held SERVERID=s1 and were handed s2: one switch each
    assert len(res["sticky_switches"]) == 2
    assert {(s["old"], s["new"]) for s in res["sticky_switches"]} == {("s1", "s2")}
    assert res["per_client_kind"].keys() == {"sticky/keepalive", "sticky/newconn", "fresh/keepalive", "fresh/newconn"}


def test_pinned_clients_always_send_their_cookie(server):
    res = LoadGen(server + "/ok", rate=60, duration=1.2, clients=2, pin_cookie="s9").run()
    assert res["failed"] == 0 and res["sent"] > 40  # the server hands out s2 after 40: ignored
    assert set(_Handler.cookies) == {"SERVERID=s9"}
    assert res["sticky_switches"] == [] and set(res["per_client_kind"]) <= {"pinned/keepalive", "pinned/newconn"}


def test_records_every_failure(server):
    res = LoadGen(server + "/fail", rate=40, duration=0.5, clients=2).run()
    assert res["sent"] > 0 and res["failed"] == res["sent"]
    assert all(f["status"] == 500 for f in res["failures"])


def test_connection_errors_are_failures():
    res = LoadGen("http://127.0.0.1:9/", rate=20, duration=0.3, clients=1, timeout=1).run()
    assert res["sent"] > 0 and res["failed"] == res["sent"]
    assert "ConnectionRefusedError" in res["failures"][0]["error"]


def test_bounds_and_bad_input():
    gen = LoadGen("http://127.0.0.1:1/", rate=10 ** 6, duration=10 ** 6, clients=10 ** 4)
    assert (gen.rate, gen.duration, gen.clients) == (2000.0, 3600.0, 200)
    with pytest.raises(ValueError, match="url"):
        LoadGen("https://example.invalid/")
    with pytest.raises(ValueError, match="sticky_share"):
        LoadGen("http://127.0.0.1:1/", sticky_share=2)


def test_timeline_counts_between_wall_clock_times(server):
    gen = LoadGen(server + "/ok", rate=100, duration=0.6, clients=4, sticky_share=0.5, timeline=True)
    t0 = time.time()
    res = gen.run()
    t1 = time.time()
    whole = gen.between(t0 - 1, t1 + 1)
    assert whole["sent"] == res["sent"] > 20 and sum(whole["per_backend"].values()) == sum(res["per_backend"].values())
    assert whole["failed"] == res["failed"]
    half = gen.between(t0 - 1, gen.wall_start + 0.3)
    assert 0 < half["sent"] < whole["sent"]
    assert gen.between(t0 - 1, t1 + 1, kinds=("sticky",))["sent"] + gen.between(
        t0 - 1, t1 + 1, kinds=("fresh",))["sent"] == whole["sent"]
    with pytest.raises(RuntimeError):
        LoadGen(server + "/ok").between(0, 1)
