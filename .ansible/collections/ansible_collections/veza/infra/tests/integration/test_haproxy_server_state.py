# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""veza.infra.haproxy_server_state run through ``ansible`` against a real HAProxy 2.6 on loopback."""
from __future__ import annotations

import http.client
import os
import socket
import tempfile
import time

import pytest

from conftest_haproxy import haproxy_lab_module, lab, run_module  # noqa: F401  pylint: disable=unused-import
from haproxy_lab import HeldRequest
from loadgen import LoadGen

BE = "api_pool"


def args(lab_, server="s1", state="drain", **kw):
    out = dict(backend=BE, server=server, state=state, socket=lab_.admin_socket, wait_interval=0.1,
               drain_settle=0.3)
    out.update(kw)
    return out


def status(lab_, server, backend=BE):
    return lab_.stat_row(backend, server)["status"]


# -- every state change, idempotence -----------------------------------------------------------
@pytest.mark.parametrize("path", [("drain", "DRAIN"), ("maint", "MAINT"), ("ready", "UP")], ids=lambda p: p[0])
def test_single_transition_from_ready(lab, run_module, path):  # noqa: F811
    state, shown = path
    first = run_module(args(lab, state=state))
    assert not first.get("failed"), first
    assert first["changed"] is (state != "ready")
    assert status(lab, "s1") == shown
    assert first["after"]["admin_state"] == state
    second = run_module(args(lab, state=state))
    assert second["changed"] is False and second["commands"] == []


def test_all_transitions(lab, run_module):  # noqa: F811
    """ready -> drain -> maint -> drain -> ready -> maint -> ready, each changed once, then not."""
    seen = []
    for state, shown in (("drain", "DRAIN"), ("maint", "MAINT"), ("drain", "DRAIN"), ("ready", "UP"),
                         ("maint", "MAINT"), ("ready", "UP")):
        res = run_module(args(lab, server="s2", state=state))
        assert res["changed"] is True, (state, res)
        assert res["commands"][-1] == "set server api_pool/s2 state %s" % state
        assert status(lab, "s2") == shown
        seen.append((res["before"]["admin_state"], res["after"]["admin_state"]))
    assert seen == [("ready", "drain"), ("drain", "maint"), ("maint", "drain"), ("drain", "ready"),
                    ("ready", "maint"), ("maint", "ready")]


# -- drain wait ------------------------------------------------------------------------------------
def test_drain_returns_only_after_held_connection_closed(lab, run_module):  # noqa: F811
    held = HeldRequest(lab, "s1", 3)
    held.start()
    held.wait_open()
    res = run_module(args(lab, wait_timeout=30))
    returned = time.monotonic()
    held.join(10)
    assert not res.get("failed"), res
    assert res["before"]["scur"] == 1  # the session was open when the module looked
    assert held.result == (200, "s1")
    assert held.finished_at <= returned  # ... and closed before the module returned
    assert res["after"]["scur"] == 0 and res["waited"] is True


def test_drain_timeout_names_sessions_left(lab, run_module):  # noqa: F811
    held = HeldRequest(lab, "s1", 8)
    held.start()
    held.wait_open()
    res = run_module(args(lab, wait_timeout=1))
    assert res["failed"] is True
    assert "1 session(s) left" in res["msg"] and res["sessions_left"] == 1
    assert res["changed"] is True
    assert status(lab, "s1") == "DRAIN"  # the drain itself stays
    held.join(15)
    assert held.result == (200, "s1")  # the session was left alone


def test_drain_timeout_with_shutdown_sessions_kills(lab, run_module):  # noqa: F811
    held = HeldRequest(lab, "s1", 8)
    held.start()
    held.wait_open()
    res = run_module(args(lab, wait_timeout=1, shutdown_sessions=True))
    assert not res.get("failed"), res
    assert res["sessions_killed"] == 1
    assert any(c.startswith("shutdown sessions server api_pool/s1") for c in res["commands"])
    held.join(5)
    assert held.result[0] != 200  # the client saw its session cut
    assert lab.stat_row(BE, "s1")["scur"] == 0


def test_maint_with_shutdown_sessions(lab, run_module):  # noqa: F811
    held = HeldRequest(lab, "s2", 8)
    held.start()
    held.wait_open()
    res = run_module(args(lab, server="s2", state="maint", shutdown_sessions=True, wait_timeout=5))
    assert not res.get("failed"), res
    assert res["sessions_killed"] == 1 and res["after"]["scur"] == 0
    assert status(lab, "s2") == "MAINT"
    held.join(5)
    assert held.result[0] != 200


# -- sticky clients --------------------------------------------------------------------------------
def test_sticky_client_plain_drain_times_out_with_hint(lab, run_module):  # noqa: F811
    traffic = LoadGen(lab.frontend_url + "/", rate=20, duration=20, clients=1, pin_cookie="s2")
    traffic.start()
    try:
        time.sleep(0.5)
        res = run_module(args(lab, server="s2", wait_timeout=2.5, drain_settle=1.0))
    finally:
        summary = traffic.stop()
    assert res["failed"] is True, res
    assert "new session(s) arrived while draining" in res["msg"] and "drain_then_maint" in res["msg"]
    assert summary["failed"] == 0
    assert summary["per_backend"].get("s2", 0) > 0  # the cookie kept it on s2 during the drain


def test_sticky_client_drain_then_maint_redispatches(lab, run_module):  # noqa: F811
    traffic = LoadGen(lab.frontend_url + "/", rate=20, duration=20, clients=1, pin_cookie="s2")
    traffic.start()
    try:
        time.sleep(0.5)
        res = run_module(args(lab, server="s2", drain_then_maint=True, drain_grace=1.5, drain_settle=1.0,
                              wait_timeout=15))
        served_before = traffic.result()["per_backend"]
        time.sleep(1.0)
        served_after = traffic.result()["per_backend"]
    finally:
        summary = traffic.stop()
    assert not res.get("failed"), res
    assert res["escalated"] is True
    assert res["commands"] == ["set server api_pool/s2 state drain", "set server api_pool/s2 state maint"]
    assert res["after"]["admin_state"] == "maint" and status(lab, "s2") == "MAINT"
    assert res["elapsed"] >= 1.5
    assert summary["failed"] == 0, summary
    # after the escalation the sticky client is served by s1, its cookie ignored
    assert served_after.get("s2", 0) == served_before.get("s2", 0)
    assert served_after.get("s1", 0) > served_before.get("s1", 0)
    again = run_module(args(lab, server="s2", drain_then_maint=True, drain_grace=1.5))
    assert again["changed"] is False and again["escalated"] is False


def test_drain_then_maint_without_traffic_does_not_escalate(lab, run_module):  # noqa: F811
    res = run_module(args(lab, server="s2", drain_then_maint=True, drain_grace=10, wait_timeout=20))
    assert not res.get("failed"), res
    assert res["escalated"] is False
    assert status(lab, "s2") == "MAINT"


# -- sockets, check mode, diff -------------------------------------------------------------------
@pytest.mark.parametrize("form", ["{}", "tcp://{}", "ipv4@{}"])
def test_tcp_socket(lab, run_module, form):  # noqa: F811
    res = run_module(args(lab, socket=form.format(lab.tcp_socket)))
    assert not res.get("failed"), res
    assert res["changed"] is True and status(lab, "s1") == "DRAIN"


def test_check_mode_changes_nothing(lab, run_module):  # noqa: F811
    res = run_module(args(lab, state="maint", weight="50%", health=False), check=True, diff=True)
    assert res["changed"] is True
    assert res["commands"] == ["disable health api_pool/s1", "set weight api_pool/s1 50%",
                               "set server api_pool/s1 state maint"]
    assert res["after"]["admin_state"] == "maint" and res["after"]["weight"] == 50
    assert res["diff"]["before"] == {"admin_state": "ready", "weight": 100, "health_check": "enabled",
                                     "agent_check": "none"}
    assert res["diff"]["after"] == {"admin_state": "maint", "weight": 50, "health_check": "disabled",
                                    "agent_check": "none"}
    row = lab.stat_row(BE, "s1")
    assert (row["status"], row["uweight"], row["check_status"]) == ("UP", 100, "L7OK")
    noop = run_module(args(lab, state="ready"), check=True)
    assert noop["changed"] is False and noop["commands"] == []


def test_diff_on_real_change(lab, run_module):  # noqa: F811
    res = run_module(args(lab, state="drain", weight=30), diff=True)
    assert res["diff"]["before"]["admin_state"] == "ready" and res["diff"]["after"]["admin_state"] == "drain"
    assert res["diff"]["after"]["weight"] == 30 and lab.stat_row(BE, "s1")["uweight"] == 30


# -- weight, checks --------------------------------------------------------------------------------
def test_weight_idempotent_absolute_and_percent(lab, run_module):  # noqa: F811
    res = run_module(args(lab, state="ready", weight="50%"))
    assert res["changed"] is True and res["after"]["weight"] == 50
    assert run_module(args(lab, state="ready", weight="50"))["changed"] is False  # 50 == 50% of 100
    assert run_module(args(lab, state="ready", weight="50%"))["changed"] is False
    res = run_module(args(lab, state="ready", weight="100%"))
    assert res["changed"] is True and lab.stat_row(BE, "s1")["uweight"] == 100


def test_health_toggle(lab, run_module):  # noqa: F811
    res = run_module(args(lab, state="ready", health=False))
    assert res["changed"] is True and res["after"]["health_check"] == "disabled"
    assert run_module(args(lab, state="ready", health=False))["changed"] is False
    res = run_module(args(lab, state="ready", health=True))
    assert res["changed"] is True and res["after"]["health_check"] == "enabled"


def test_ready_waits_for_health_checks(lab, run_module):  # noqa: F811
    lab.rt.set_server_state("api_pool", "s2", "maint")
    lab.backends["s2"].healthy = False
    res = run_module(args(lab, server="s2", state="ready", wait_timeout=2))
    assert res["failed"] is True and res["changed"] is True
    assert "do not report it UP" in res["msg"] and "L7STS" in res["msg"]
    lab.backends["s2"].healthy = True
    res = run_module(args(lab, server="s2", state="ready", wait_timeout=10))
    assert not res.get("failed"), res
    assert res["changed"] is False and res["waited"] is True
    assert res["after"]["operational_state"] == "UP" and status(lab, "s2") == "UP"


def test_ready_without_checks_says_so(lab, run_module):  # noqa: F811
    lab.rt.set_server_state("nocheck_pool", "n1", "maint")
    res = run_module(args(lab, backend="nocheck_pool", server="n1", state="ready"))
    assert not res.get("failed"), res
    assert res["changed"] is True and res["waited"] is False
    assert any("no enabled health check" in w for w in res.get("warnings", []))


# -- errors: clear message, nothing changed ------------------------------------------------------
def _unchanged(lab_):
    return [status(lab_, s) for s in ("s1", "s2")] == ["UP", "UP"]


def test_missing_backend_lists_backends(lab, run_module):  # noqa: F811
    res = run_module(args(lab, backend="nope"))
    assert res["failed"] is True and res["changed"] is False
    assert "no backend named 'nope'" in res["msg"]
    assert "api_pool, nocheck_pool, static_pool" in res["msg"]


def test_missing_server_lists_servers(lab, run_module):  # noqa: F811
    res = run_module(args(lab, server="s9"))
    assert res["failed"] is True and "servers that exist: s1, s2" in res["msg"]
    res = run_module(args(lab, server="s9", fail_on_not_found=False))
    assert not res.get("failed") and res["found"] is False and res["changed"] is False


def test_user_level_socket_refused(lab, run_module):  # noqa: F811
    res = run_module(args(lab, socket=lab.user_socket))
    assert res["failed"] is True and res["changed"] is False
    assert "level 'user'" in res["msg"] and "level admin" in res["msg"]
    assert _unchanged(lab)


def test_wrong_path(lab, run_module):  # noqa: F811
    res = run_module(args(lab, socket=os.path.join(lab.dir, "nope.sock")))
    assert res["failed"] is True and "does not exist" in res["msg"] and "nothing was changed" in res["msg"]


def test_path_not_a_socket(lab, run_module):  # noqa: F811
    res = run_module(args(lab, socket=lab.config_path))
    assert res["failed"] is True and "is not a socket (wrong path?)" in res["msg"]


def test_unreachable_tcp_socket(lab, run_module):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        res = run_module(args(lab, socket="127.0.0.1:%d" % port))
    assert res["failed"] is True and "connection refused" in res["msg"]


def test_silent_socket_times_out(lab, run_module):  # noqa: F811
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "silent.sock")
        with socket.socket(socket.AF_UNIX) as srv:
            srv.bind(path)
            srv.listen(4)  # accepts (kernel backlog) but never answers
            res = run_module(args(lab, socket=path, socket_timeout=0.5))
    assert res["failed"] is True and "did not answer" in res["msg"] and "0.5s" in res["msg"]


@pytest.mark.parametrize("bad, needle", [
    (dict(weight="300"), "absolute weights are 0-256"),
    (dict(weight="heavy"), "weight 'heavy' must be an integer"),
    (dict(socket="http://x:1"), "unsupported scheme"),
    (dict(server="s1;disable server api_pool/s2"), "not a valid HAProxy name"),
    (dict(state="maint", drain_then_maint=True), "only applies to state=drain"),
    (dict(wait_interval=0), "wait_interval must be > 0"),
])
def test_bad_input_clear_message(lab, run_module, bad, needle):  # noqa: F811
    res = run_module(args(lab, **bad))
    assert res["failed"] is True and needle in res["msg"], res["msg"]
    assert _unchanged(lab)


def test_haproxy_refusal_reported(lab, run_module):  # noqa: F811
    res = run_module(args(lab, backend="static_pool", server="st1", state="ready", weight=5))
    assert res["failed"] is True and "static LB algorithm" in res["msg"]
    res = run_module(args(lab, backend="nocheck_pool", server="n1", state="ready", health=True))
    assert res["failed"] is True and "has no health check" in res["msg"] and res["changed"] is False


# -- hostile input (#14 items 6-9) on the real HAProxy ----------------------------------------------
@pytest.mark.parametrize("bad, needle", [
    (dict(wait_interval="nan"), "wait_interval must be a finite number"),
    (dict(wait_interval="inf", wait_timeout=2), "wait_interval must be a finite number"),
    (dict(wait_timeout="nan"), "wait_timeout must be a finite number"),
    (dict(socket_timeout="nan"), "socket_timeout must be a finite number"),
    (dict(socket_timeout=1e308), "socket_timeout must be at most 3600"),
    (dict(wait_interval=1e9, wait_timeout=2), "wait_interval must be at most 86400"),
    (dict(wait_timeout=True), "wait_timeout must be a number of seconds, got the boolean True"),
    (dict(wait_timeout=0.1, drain_settle=1), "shorter than drain_settle"),
    (dict(state="ready", weight="\u0665"), "must be an integer 0-256"),
])
def test_hostile_numbers_refused_nothing_sent(lab, run_module, bad, needle):  # noqa: F811
    res = run_module(args(lab, **bad))
    assert res["failed"] is True and needle in res["msg"], res["msg"]
    assert res["changed"] is False and res["commands"] == []
    assert _unchanged(lab)


@pytest.mark.parametrize("check", [False, True])
def test_weight_on_static_rr_fails_unchanged(lab, run_module, check):  # noqa: F811
    res = run_module(args(lab, backend="srr_pool", server="r1", state="drain", weight=5), check=check)
    assert res["failed"] is True and res["changed"] is False, res
    assert "static LB algorithm" in res["msg"] and "nothing was changed" in res["msg"]
    row = lab.stat_row("srr_pool", "r1")
    assert (row["status"], row["uweight"]) == ("no check", 10)   # neither drained nor reweighted
    # HAProxy itself refuses the same command: the prediction is not stricter than HAProxy
    with pytest.raises(Exception, match="static LB algorithm"):
        lab.rt.set_weight("srr_pool", "r1", 5)
    assert run_module(args(lab, backend="srr_pool", server="r1", state="ready", weight="0%"))["changed"] is True


def test_weight_on_first_is_accepted(lab, run_module):  # noqa: F811
    """balance first takes any weight on HAProxy 2.6 (measured): no refusal predicted there."""
    res = run_module(args(lab, backend="first_pool", server="f1", state="ready", weight=5), check=True)
    assert not res.get("failed") and res["changed"] is True, res
    res = run_module(args(lab, backend="first_pool", server="f1", state="ready", weight=5))
    assert not res.get("failed") and res["changed"] is True and lab.stat_row("first_pool", "f1")["uweight"] == 5


def test_haproxy_refusal_on_hash_says_nothing_changed(lab, run_module):  # noqa: F811
    res = run_module(args(lab, backend="static_pool", server="st1", state="ready", weight=5))
    assert res["failed"] is True and res["changed"] is False
    assert "static LB algorithm" in res["msg"] and "nothing was changed" in res["msg"]
    res = run_module(args(lab, backend="static_pool", server="st1", state="drain", weight=5, wait=False))
    assert res["failed"] is True and res["changed"] is False   # the weight goes before the drain: refused first
    assert status(lab, "st1", backend="static_pool") == "no check"


def test_check_mode_lists_shutdown_sessions_like_the_real_run(lab, run_module):  # noqa: F811
    held = HeldRequest(lab, "s2", 40)   # outlives two ansible runs on a loaded machine
    held.start()
    held.wait_open()
    predicted = run_module(args(lab, server="s2", state="maint", shutdown_sessions=True), check=True)
    assert predicted["commands"] == ["set server api_pool/s2 state maint", "shutdown sessions server api_pool/s2"]
    assert predicted["after"]["status"] == "MAINT" and predicted["after"]["admin_flags"] == ["FMAINT"]
    assert status(lab, "s2") == "UP" and lab.stat_row(BE, "s2")["scur"] == 1
    real = run_module(args(lab, server="s2", state="maint", shutdown_sessions=True, wait_timeout=5))
    held.join(10)
    assert held.result[0] != 200   # the real run cut it, as it said
    assert real["commands"] == predicted["commands"], (real, held.result)
    assert real["after"]["status"] == predicted["after"]["status"]
    assert real["after"]["admin_flags"] == predicted["after"]["admin_flags"]


# -- share and the dark step (the canary's traffic ramp, #16) ----------------------------------------
def test_share_sets_the_weight_from_the_peers_weight(lab, run_module):  # noqa: F811
    res = run_module(args(lab, server="s2", state="ready", share=5, wait=False))
    assert not res.get("failed"), res
    assert res["share"] == {"target": 5.0, "weight": 5, "peers": ["s1"], "peers_weight": 100, "effective": 4.76}
    assert lab.stat_row(BE, "s2")["uweight"] == 5
    assert run_module(args(lab, server="s2", state="ready", share=5, wait=False))["changed"] is False
    res = run_module(args(lab, server="s2", state="ready", share=100, wait=False))
    assert res["changed"] is True and lab.stat_row(BE, "s2")["uweight"] == 100


def test_share_with_the_only_peer_in_maint_fails_before_sending(lab, run_module):  # noqa: F811
    lab.rt.set_server_state(BE, "s1", "maint")
    res = run_module(args(lab, server="s2", state="ready", share=5, wait=False))
    assert res.get("failed") and "no other server" in res["msg"] and res["commands"] == []
    assert lab.stat_row(BE, "s2")["uweight"] == 100


def test_dark_step_weight_0_takes_only_header_requests_on_haproxy_26(lab, run_module):  # noqa: F811
    """share=0 (the dark step): the server stays UP, takes no balanced request, but the use-server rule of
    roles/haproxy sends it every request with X-Veza-Canary: 1; a cookie client pinned to it stays on it
    (nothing moves a pinned client), and a header request does not pin its client (no Set-Cookie)."""
    res = run_module(args(lab, server="s2", state="ready", share=0))   # wait=true: still fully UP at weight 0
    assert not res.get("failed") and res["after"]["weight"] == 0 and res["after"]["status"] == "UP", res
    assert {lab.get("/")[1] for _i in range(10)} == {"s1"}
    assert {lab.get("/", headers={"X-Veza-Canary": "1"})[1] for _i in range(10)} == {"s2"}
    assert {lab.get("/", headers={"X-Veza-Canary": "0"})[1] for _i in range(4)} == {"s1"}
    assert {lab.get("/", cookie="s2")[1] for _i in range(4)} == {"s2"}
    conn = http.client.HTTPConnection("127.0.0.1", lab.fe_port, timeout=5)
    conn.request("GET", "/", headers={"X-Veza-Canary": "1"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.getheader("X-Served-By") == "s2" and resp.getheader("Set-Cookie") is None
    assert resp.getheader("X-Veza-Served-By") == "s2"     # what the dark step's smoke check reads
    # at its normal weight the header no longer selects it: plain round robin
    run_module(args(lab, server="s2", state="ready", share=100, wait=False))
    assert {lab.get("/", headers={"X-Veza-Canary": "1"})[1] for _i in range(10)} == {"s1", "s2"}
