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
    paths = []
    lock = threading.Lock()

    def do_GET(self):  # pylint: disable=invalid-name
        with _Handler.lock:
            _Handler.calls += 1
            _Handler.cookies.append(self.headers.get("Cookie"))
            _Handler.paths.append(self.path)
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
    _Handler.paths = []
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


def test_uri_hashed_load_asks_every_uri_in_turn_and_tracks_its_server(server):
    uris = ["/stream/track-%d/seg-1.ts" % i for i in range(1, 6)]
    res = LoadGen(server + "/ignored", rate=100, duration=1.5, clients=4, uris=uris).run()
    assert res["failed"] == 0 and res["sent"] >= 100
    assert set(_Handler.paths) == set(uris) and "/ignored" not in _Handler.paths
    per_uri = res["per_uri"]
    assert set(per_uri) == set(uris)
    assert sum(e["sent"] for e in per_uri.values()) == res["sent"]
    # taken in turn: every URI is asked as often as the others, give or take one per client
    counts = sorted(e["sent"] for e in per_uri.values())
    assert counts[-1] - counts[0] <= 4, counts
    # the "server" changes from s1 to s2 after 40 requests: one change per URI, in time order
    for uri, entry in per_uri.items():
        assert [srv for _t, srv in entry["servers"]] == ["s1", "s2"], (uri, entry)
        assert entry["servers"][0][0] <= entry["servers"][1][0]


def test_uri_failures_are_counted_per_uri(server):
    res = LoadGen(server + "/", rate=40, duration=0.5, clients=2, uris=["/fail", "/ok"]).run()
    assert res["per_uri"]["/fail"]["failed"] == res["per_uri"]["/fail"]["sent"] > 0
    assert res["per_uri"]["/ok"]["failed"] == 0
    assert {f["path"] for f in res["failures"]} == {"/fail"}


def test_uris_are_bounded_paths():
    with pytest.raises(ValueError, match="uris"):
        LoadGen("http://127.0.0.1:1/", uris=["stream/x"])
    with pytest.raises(ValueError, match="uris"):
        LoadGen("http://127.0.0.1:1/", uris=["/x"] * 10001)
    assert "per_uri" not in LoadGen("http://127.0.0.1:9/", rate=20, duration=0.2, clients=1, timeout=1).run()


def test_several_targets_share_the_clients_and_are_counted_apart(server):
    """Two load balancers without a virtual IP: clients alternate between the URLs; a dead one's
    failures are counted on its own URL."""
    dead = "http://127.0.0.1:9/ok"
    res = LoadGen([server + "/ok", dead], rate=40, duration=0.8, clients=4, timeout=1).run()
    ok, bad = res["per_target"][server + "/ok"], res["per_target"][dead]
    assert ok["sent"] > 0 and ok["failed"] == 0
    assert bad["sent"] > 0 and bad["failed"] == bad["sent"]
    assert ok["sent"] + bad["sent"] == res["sent"] and res["failed"] == bad["sent"]
    assert {f["target"] for f in res["failures"]} == {dead}
    with pytest.raises(ValueError, match="empty list"):
        LoadGen([])


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
