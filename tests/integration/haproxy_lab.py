# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real HAProxy on loopback for tests, benchmarks and ``make demo`` (standard library only).

``HAProxyLab`` starts ``/usr/sbin/haproxy`` in the foreground with a config written to a temp
dir, on free loopback ports, in front of real HTTP backends (``http.server`` threads):

* admin sockets: unix ``<dir>/admin.sock`` and TCP ``ipv4@127.0.0.1:<port>`` (``level admin``),
  plus a ``level user`` unix socket ``<dir>/user.sock``;
* ``backend api_pool``: servers ``s1``, ``s2`` (one backend thread each, weight 100), ``roundrobin``,
  ``cookie SERVERID insert indirect nocache``, ``option redispatch``, HTTP health checks on
  ``/health`` every 200 ms (fall 2, rise 1); the dark-step rules of roles/haproxy
  (``use-server <s> if { req.hdr(X-Veza-Canary) -m str 1 } { srv_uweight(api_pool/<s>) eq 0 }``);
* ``backend nocheck_pool``: server ``n1`` without health checks;
* ``backend static_pool``: server ``st1`` with a static algorithm (``balance source``); ``srr_pool``
  (``r1``, ``balance static-rr``) and ``first_pool`` (``f1``, ``balance first``), weight 10 each.

Set-up and reads go through the project's one runtime client (``lab.rt``, an ``HAProxyRuntime`` on
the unix admin socket); ``lab.stat_row(backend, server)`` is its typed statistics row.

Backends answer ``GET /health`` (200, or 503 after ``lab.backends[name].healthy = False``), and
``GET /hold?s=SECONDS`` (answers after SECONDS, to keep a session open); every other path answers
200 at once. Every response carries ``X-Served-By: <server>`` and the body ``<server>\\n``.

Traffic through the frontend comes from the project's one load generator, ``tests/loadgen.py``
(``LoadGen``; ``pin_cookie="s2"`` for a client pinned to one server).

Usage::

    with HAProxyLab() as lab:
        lab.admin_socket, lab.tcp_socket, lab.user_socket, lab.frontend_url
        lab.get("/", cookie="s2")  ->  (status, server)

Run as a script (``python tests/integration/haproxy_lab.py``) it starts the lab, prints its
addresses as JSON and stays up until Ctrl-C.
"""
from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    from ansible_collections.veza.infra.plugins.module_utils._haproxy import (  # the one runtime client
        HAProxyRuntime, HAProxyRuntimeError)
except ImportError:  # run as a script, outside pytest (tests/conftest.py installs the collection loader)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    ".collections"))
    from ansible_collections.veza.infra.plugins.module_utils._haproxy import (  # noqa: E402
        HAProxyRuntime, HAProxyRuntimeError)

from ansible_run import free_port  # bound then released; HAProxy binds it right after

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
MAX_HOLD = 60.0           # s, longest /hold a backend accepts


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002  pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # noqa: N802
        backend = self.server.lab_backend
        url = urllib.parse.urlsplit(self.path)
        status = 200
        if url.path == "/health":
            status = 200 if backend.healthy else 503
        else:
            backend.count_request()
            if url.path == "/hold":
                query = urllib.parse.parse_qs(url.query)
                hold = min(float(query.get("s", ["1"])[0]), MAX_HOLD)
                backend.holding += 1
                try:
                    backend.stop_event.wait(hold)
                finally:
                    backend.holding -= 1
        body = ("%s\n" % backend.name).encode()
        self.send_response(status)
        self.send_header("X-Served-By", backend.name)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # a health check that hung up early
            pass


class Backend:
    """One HTTP backend server (a ThreadingHTTPServer on a free loopback port)."""

    def __init__(self, name):
        self.name = name
        self.healthy = True
        self.holding = 0
        self.requests = 0
        self._lock = threading.Lock()
        self.stop_event = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, client_address: None  # client hang-ups: not news
        self.httpd.lab_backend = self
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="backend-%s" % name, daemon=True)

    def count_request(self):
        with self._lock:
            self.requests += 1

    def start(self):
        self._thread.start()

    def stop(self):
        self.stop_event.set()  # releases /hold requests
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


CONFIG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    stats socket ipv4@127.0.0.1:{admin_port} level admin
    stats socket {dir}/user.sock mode 600 level user
    stats timeout 30s
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 70s
    timeout server 70s
    timeout queue 5s
    option redispatch
    retries 3

frontend fe_http
    bind 127.0.0.1:{fe_port}
    default_backend api_pool

frontend fe_nocheck
    bind 127.0.0.1:{fe_nocheck_port}
    default_backend nocheck_pool

backend api_pool
    balance roundrobin
    cookie SERVERID insert indirect nocache
    option httpchk GET /health
    default-server check inter 200ms fall 2 rise 1 weight 100
    http-request set-var(txn.veza_canary) req.hdr(X-Veza-Canary)
    http-response set-header X-Veza-Served-By %[srv_name] if {{ var(txn.veza_canary) -m str 1 }}
    use-server s1 if {{ req.hdr(X-Veza-Canary) -m str 1 }} {{ srv_uweight(api_pool/s1) eq 0 }}
    use-server s2 if {{ req.hdr(X-Veza-Canary) -m str 1 }} {{ srv_uweight(api_pool/s2) eq 0 }}
    server s1 127.0.0.1:{s1} cookie s1
    server s2 127.0.0.1:{s2} cookie s2

backend nocheck_pool
    server n1 127.0.0.1:{s1}

backend static_pool
    balance source
    server st1 127.0.0.1:{s1} weight 10

backend srr_pool
    balance static-rr
    server r1 127.0.0.1:{s1} weight 10

backend first_pool
    balance first
    server f1 127.0.0.1:{s1} weight 10
"""


class HAProxyLab:
    """A real HAProxy (foreground child process) with its backends; ``stop()`` ends both."""

    def __init__(self, workdir=None):
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="veza-haproxy-lab-")
        self.backends = {name: Backend(name) for name in ("s1", "s2")}
        self.admin_port = free_port()
        self.fe_port = free_port()
        self.fe_nocheck_port = free_port()
        self.admin_socket = os.path.join(self.dir, "admin.sock")
        self.user_socket = os.path.join(self.dir, "user.sock")
        self.tcp_socket = "127.0.0.1:%d" % self.admin_port
        self.frontend_url = "http://127.0.0.1:%d" % self.fe_port
        self.config_path = os.path.join(self.dir, "haproxy.cfg")
        self.proc = None
        self.rt = HAProxyRuntime(self.admin_socket, timeout=5)   # test set-up goes through the client too

    # -- life cycle -------------------------------------------------------------------------
    def start(self, timeout=10.0):
        for b in self.backends.values():
            b.start()
        with open(self.config_path, "w", encoding="utf-8") as fh:
            fh.write(CONFIG.format(dir=self.dir, admin_port=self.admin_port, fe_port=self.fe_port,
                                   fe_nocheck_port=self.fe_nocheck_port,
                                   s1=self.backends["s1"].port, s2=self.backends["s2"].port))
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", self.config_path],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError("haproxy -c rejected the lab config:\n%s" % check.stderr)
        # -db: stay in the foreground (a child we can stop); -Ws would add a master process.
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.config_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                self.stop()
                raise RuntimeError("haproxy exited with %s:\n%s" % (self.proc.returncode, err))
            if self._ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("haproxy did not come up within %ss" % timeout)

    def _ready(self):
        if not os.path.exists(self.admin_socket):
            return False
        try:
            rows = self.rt.show_stat()
        except HAProxyRuntimeError:
            return False
        # both checked servers UP
        return sum(1 for r in rows if r.get("pxname") == "api_pool" and r.get("status") == "UP") == 2

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        for b in self.backends.values():
            b.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers ------------------------------------------------------------------------------
    def stat_row(self, backend, server):
        """The statistics row of backend/server, typed by the client (ints, None for empty)."""
        for row in self.rt.show_stat():
            if (row.get("pxname"), row.get("svname")) == (backend, server):
                return row
        raise KeyError("%s/%s" % (backend, server))

    def reset(self):
        """Every server back to ready, weight 100%, checks enabled, backends healthy; wait for UP."""
        for b in self.backends.values():
            b.healthy = True
        for be, srv, checked in (("api_pool", "s1", True), ("api_pool", "s2", True),
                                 ("nocheck_pool", "n1", False), ("static_pool", "st1", False),
                                 ("srr_pool", "r1", False), ("first_pool", "f1", False)):
            self.rt.set_server_state(be, srv, "ready")
            self.rt.set_weight(be, srv, "100%")
            if checked:
                self.rt.set_health(be, srv, True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(self.stat_row("api_pool", s)["status"] == "UP" for s in ("s1", "s2")):
                return
            time.sleep(0.05)
        raise RuntimeError("lab servers not UP after reset")

    def get(self, path="/", cookie=None, timeout=10.0, headers=None):
        """One request through the frontend; returns (status, server that answered or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.fe_port, timeout=timeout)
        try:
            headers = dict(headers or {}, **({"Cookie": "SERVERID=%s" % cookie} if cookie else {}))
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("X-Served-By")
        finally:
            conn.close()


class HeldRequest(threading.Thread):
    """A request to ``/hold?s=N`` pinned to one server by cookie: one session open for N s."""

    def __init__(self, lab, server, seconds):
        super().__init__(daemon=True, name="held-%s" % server)
        self.lab, self.server, self.seconds = lab, server, seconds
        self.baseline = lab.backends[server].requests   # requests the backend had seen before this one
        self.result = None
        self.finished_at = None

    def run(self):
        try:
            self.result = self.lab.get("/hold?s=%s" % self.seconds, cookie=self.server,
                                       timeout=self.seconds + 30)
        except OSError as exc:
            self.result = ("error", str(exc))
        self.finished_at = time.monotonic()

    def wait_open(self, timeout=5.0):
        """Block until the backend holds this request (scur counts it). A request of an earlier test
        cut by HAProxy may still hold a backend thread: count this one's arrival, not just holding."""
        backend = self.lab.backends[self.server]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if backend.holding > 0 and backend.requests > self.baseline:
                return
            time.sleep(0.01)
        raise RuntimeError("held request never reached %s" % self.server)


if __name__ == "__main__":
    with HAProxyLab() as _lab:
        print(json.dumps({"admin_socket": _lab.admin_socket, "tcp_socket": _lab.tcp_socket,
                          "user_socket": _lab.user_socket, "frontend": _lab.frontend_url,
                          "config": _lab.config_path}, indent=2), flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
