# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_haproxy (the runtime API client): parsers on text captured from HAProxy 2.6.12, addresses, errors, transport."""
from __future__ import annotations

import os
import socket
import tempfile
import threading

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _haproxy as hr

# Captured on this machine from HAProxy 2.6.12 (tests/integration/haproxy_lab.py config):
# api_pool/s1 in DRAIN holding one request, api_pool/s2 in MAINT, static_pool/st1 at weight 0%.
SHOW_STAT = (
    '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu'
    's,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat'
    'e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_'
    '5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co'
    'mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che'
    'ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie'
    ',mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c'
    'ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur'
    ',used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss'
    'l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str'
    'eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str'
    'eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_'
    'total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,'
    'h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n'
    'fe_http,FRONTEND,,,1,1,2000,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,1,,,,0,0,0,0,0,0,,1,1,1,,,0,'
    '0,0,0,,,,,,,,,,,,,,,,,,,,,http,,1,1,1,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,'
    '0,1,1,1,1,97,0,0,0,\n'
    'fe_nocheck,FRONTEND,,,0,0,2000,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,'
    ',0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,0,0,0,0,0,0,0,,,0,0,,,,,,,0,,,,,,,,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0'
    ',0,0,0,0,0,0,0,0,0,0,\n'
    'api_pool,s1,0,0,1,1,,1,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,0,0,0,,1,4,1,,0,,2,1,,1,L7OK,200,1,0,0,0,0,0,0,'
    ',,,0,0,0,,,,,0,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,127.0.0.1:43335,s1,http,,,,,,,,0,1,0,,,0,,'
    '0,0,0,0,0,0,0,1,2,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'api_pool,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,1,0,0,,1,4,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0'
    ',,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:45725,s2,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,'
    '0,,,,,,,,,,,,,,,,,,,,,,\n'
    'api_pool,BACKEND,0,0,1,1,200,1,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,0,0,,1,4,0,,0,,1,1,,1,,,,0,0,0,0,0,0,,'
    ',,0,0,0,0,0,0,0,0,,,0,0,0,0,,,,,,,,,,,,,SERVERID,http,roundrobin,,,,,,,0,1,0,0,0,,,0,0,0,0,0,,,,,0,0'
    ',0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,5,5,622,172,0,0,\n'
    'nocheck_pool,n1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,0,,,1,5,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0'
    ',0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:43335,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,'
    '0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'nocheck_pool,BACKEND,0,0,0,0,200,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,0,0,,1,5,0,,0,,1,0,,0,,,,0,0,0,0,0,0'
    ',,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,1,0,0,0,'
    '-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,\n'
    'static_pool,st1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,0,1,0,,,0,,,1,6,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0'
    ',0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:43335,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,0,,,,-,0,'
    '0,0,,,,,,,,,,,,,,,,,,,,,,\n'
    'static_pool,BACKEND,0,0,0,0,1,0,0,0,0,0,,0,0,0,0,DOWN,0,0,0,,1,0,0,,1,6,0,,0,,1,0,,0,,,,0,0,0,0,0,0,'
    ',,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,source,,,,,,,0,0,0,0,0,,,0,0,0,0,0,,,,,0,0,0,0,-,0,0'
    ',0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,\n'
    '\n'
)

SHOW_SERVERS_STATE = (
    '1\n'
    '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti'
    'me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st'
    'ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_'
    'addr srv_agent_addr srv_agent_port\n'
    '4 api_pool 1 s1 127.0.0.1 2 8 1 1 0 15 3 2 6 0 0 0 - 43335 - 0 0 - - 0\n'
    '4 api_pool 2 s2 127.0.0.1 0 1 1 1 0 15 3 0 14 0 0 0 - 45725 - 0 0 - - 0\n'
    '5 nocheck_pool 1 n1 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 43335 - 0 0 - - 0\n'
    '6 static_pool 1 st1 127.0.0.1 2 0 0 10 0 1 0 2 0 0 0 0 - 43335 - 0 0 - - 0\n'
    '\n'
)

SHOW_INFO = (
    'Name: HAProxy\n'
    'Version: 2.6.12-1+deb12u4\n'
    'Release_date: 2026/10/17\n'
    'Nbthread: 2\n'
    'Nbproc: 1\n'
    'Process_num: 1\n'
    'Pid: 23819\n'
    'Uptime: 0d 0h00m00s\n'
    '\n'
)


# -- parsers -------------------------------------------------------------------------------------
def _stat(backend, server):
    return next(r for r in hr.parse_stat_csv(SHOW_STAT) if (r["pxname"], r["svname"]) == (backend, server))


def test_show_stat_rows_and_types():
    rows = hr.parse_stat_csv(SHOW_STAT)
    names = [(r["pxname"], r["svname"]) for r in rows]
    assert ("api_pool", "s1") in names and ("static_pool", "BACKEND") in names and len(rows) == 9
    s1 = _stat("api_pool", "s1")
    assert (s1["status"], s1["scur"], s1["stot"], s1["weight"], s1["check_status"]) == ("DRAIN", 1, 1, 1, "L7OK")
    assert s1["addr"].startswith("127.0.0.1:") and s1["cookie"] == "s1"
    assert (s1["check_rise"], s1["check_fall"], s1["check_health"]) == (1, 2, 2)
    assert s1["qlimit"] is None  # empty column
    assert "-" not in s1  # the unnamed column is dropped
    s2 = _stat("api_pool", "s2")
    assert s2["status"] == "MAINT" and s2["check_status"] is None
    assert _stat("nocheck_pool", "n1")["status"] == "no check"


def test_show_stat_rejects_error_text():
    with pytest.raises(hr.HAProxyCommandError, match="unexpected answer to 'show stat': Permission denied"):
        hr.parse_stat_csv("Permission denied\n")


def test_servers_state_rows_and_types():
    rows = hr.parse_servers_state(SHOW_SERVERS_STATE)
    assert [(r["be_name"], r["srv_name"]) for r in rows] == [
        ("api_pool", "s1"), ("api_pool", "s2"), ("nocheck_pool", "n1"), ("static_pool", "st1")]
    s1, s2, n1, st1 = rows
    assert (s1["srv_op_state"], s1["srv_admin_state"], s1["srv_uweight"], s1["srv_check_state"]) == (2, 8, 1, 6)
    assert (s2["srv_op_state"], s2["srv_admin_state"], s2["srv_check_state"]) == (0, 1, 14)
    assert n1["srv_check_state"] == 0 and n1["srv_fqdn"] is None
    assert (st1["srv_uweight"], st1["srv_iweight"]) == (0, 10)
    assert isinstance(s1["srv_port"], int) and s1["srv_addr"] == "127.0.0.1"


@pytest.mark.parametrize("text, match", [
    ("Can't find backend.\n", "unexpected answer"),
    ("2\n# be_id be_name\n", "format version 2"),
    ("1\n", "no header line"),
])
def test_servers_state_rejects(text, match):
    with pytest.raises(hr.HAProxyCommandError, match=match):
        hr.parse_servers_state(text)


def test_show_info():
    info = hr.parse_info(SHOW_INFO)
    assert info["Name"] == "HAProxy" and info["Version"].startswith("2.6.") and isinstance(info["Nbthread"], int)
    with pytest.raises(hr.HAProxyCommandError):
        hr.parse_info("Unknown command\n")


def test_merge_server_views():
    rows = {r["srv_name"]: r for r in hr.parse_servers_state(SHOW_SERVERS_STATE)}
    s1 = hr.merge_server(rows["s1"], _stat("api_pool", "s1"))
    assert (s1["admin_state"], s1["forced_admin_state"], s1["admin_flags"]) == ("drain", "drain", ["FDRAIN"])
    assert (s1["operational_state"], s1["scur"], s1["health_check"], s1["agent_check"]) == ("UP", 1, "enabled", "none")
    assert s1["fully_up"] is True
    s2 = hr.merge_server(rows["s2"], _stat("api_pool", "s2"))
    assert (s2["admin_state"], s2["operational_state"], s2["fully_up"]) == ("maint", "DOWN", False)
    n1 = hr.merge_server(rows["n1"], _stat("nocheck_pool", "n1"))
    assert (n1["admin_state"], n1["health_check"], n1["fully_up"]) == ("ready", "none", True)


@pytest.mark.parametrize("flags, effective, forced, inherited", [
    (0, "ready", "ready", False),
    (hr.ADMF_FDRAIN, "drain", "drain", False),
    (hr.ADMF_FMAINT, "maint", "maint", False),
    (hr.ADMF_FMAINT | hr.ADMF_CMAINT, "maint", "maint", False),  # "disabled" in the config
    (hr.ADMF_IMAINT, "maint", "ready", True),                     # tracked server in maint
    (hr.ADMF_IDRAIN, "drain", "ready", True),
    (hr.ADMF_RMAINT, "maint", "ready", True),                     # DNS resolution failure
    (hr.ADMF_FDRAIN | hr.ADMF_IMAINT, "maint", "drain", True),
    (hr.ADMF_HMAINT, "ready", "ready", False),                    # FQDN set from CLI: not maint
])
def test_admin_state_from_flags(flags, effective, forced, inherited):
    row = dict(hr.parse_servers_state(SHOW_SERVERS_STATE)[0], srv_admin_state=flags)
    view = hr.merge_server(row, {})
    assert (view["admin_state"], view["forced_admin_state"], view["inherited"]) == (effective, forced, inherited)


def test_fully_up_needs_full_health():
    row = hr.parse_servers_state(SHOW_SERVERS_STATE)[0]
    row = dict(row, srv_admin_state=0)
    stat = {"check_rise": 2, "check_fall": 3, "check_health": 2}   # just back from MAINT: "UP 1/3"
    assert hr.merge_server(row, stat)["fully_up"] is False
    assert hr.merge_server(row, dict(stat, check_health=4))["fully_up"] is True


# -- addresses, names, weights ---------------------------------------------------------------------
@pytest.mark.parametrize("address, family, sockaddr", [
    ("/run/haproxy/admin.sock", socket.AF_UNIX, "/run/haproxy/admin.sock"),
    ("unix@/tmp/a.sock", socket.AF_UNIX, "/tmp/a.sock"),
    ("./rel.sock", socket.AF_UNIX, "./rel.sock"),
    ("127.0.0.1:9100", socket.AF_UNSPEC, ("127.0.0.1", 9100)),
    ("tcp://lb.example:9100", socket.AF_UNSPEC, ("lb.example", 9100)),
    ("ipv4@127.0.0.1:9100", socket.AF_INET, ("127.0.0.1", 9100)),
    ("ipv6@[::1]:9100", socket.AF_INET6, ("::1", 9100)),
    ("[::1]:9100", socket.AF_UNSPEC, ("::1", 9100)),
])
def test_parse_address(address, family, sockaddr):
    assert hr.parse_address(address) == (family, sockaddr)


@pytest.mark.parametrize("address, match", [
    ("", "empty"),
    ("http://lb:9100", "unsupported scheme"),
    ("admin.sock", "neither an absolute unix socket path nor host:port"),
    ("127.0.0.1:0", "port between 1 and 65535"),
    ("127.0.0.1:http", "port between 1 and 65535"),
    ("[::1:9100", "missing ']'"),
    ("unix@", "no path"),
])
def test_parse_address_rejects(address, match):
    with pytest.raises(hr.HAProxyAddressError, match=match):
        hr.parse_address(address)


@pytest.mark.parametrize("name", ["s1;disable server x/y", "a b", "", "be/srv", "x\ny"])
def test_check_name_rejects_injection(name):
    with pytest.raises(hr.HAProxyAddressError, match="not a valid HAProxy name"):
        hr.check_name(name, "server")


@pytest.mark.parametrize("weight, initial, expected", [
    ("50%", 100, 50), ("50%", 1, 0), ("100%", 10, 10), ("0%", 10, 0), ("300%", 100, 256),
    ("7", 100, 7), (7, 1, 7), ("256", 1, 256), (" 12 ", 5, 12),
])
def test_resolve_weight(weight, initial, expected):
    assert hr.resolve_weight(weight, initial) == expected


@pytest.mark.parametrize("weight", ["257", "-1", "1.5", "heavy", "%", True])
def test_parse_weight_rejects(weight):
    with pytest.raises(hr.HAProxyAddressError):
        hr.parse_weight(weight)


# -- HAProxy error texts ---------------------------------------------------------------------------
@pytest.mark.parametrize("output, cls, match", [
    ("", None, None),
    ("\n", None, None),
    ("Permission denied\n\n", hr.HAProxyPermissionDenied, "not at 'level admin'"),
    ("No such server.\n\n", hr.HAProxyCommandError, "No such server."),
    ("No such backend.\n\n", hr.HAProxyCommandError, "No such backend."),
    ("Unknown command, but maybe one of the following ones is a better match:\n  add acl\n",
     hr.HAProxyCommandError, "does not know the command"),
    ("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n",
     hr.HAProxyCommandError, "static LB algorithm"),
])
def test_error_for(output, cls, match):
    err = hr.error_for("set weight a/b 5", output, "/x.sock")
    if cls is None:
        assert err is None
    else:
        assert type(err) is cls and match in err.message  # pylint: disable=unidiomatic-typecheck


def test_not_found_message_lists_what_exists():
    err = hr.HAProxyNotFound("server", "s9", ["s1", "s2"], backend="api_pool")
    assert err.message == "no server named 's9' in backend api_pool; servers that exist: s1, s2"
    assert hr.HAProxyNotFound("backend", "x", []).message.endswith("backends that exist: (none)")


# -- transport against real sockets -----------------------------------------------------------------
class _OneShotServer(threading.Thread):
    """A unix socket that answers every connection with canned text, as HAProxy does, then closes."""

    def __init__(self, path, answers):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.answers = answers
        self.received = []

    def run(self):
        for answer in self.answers:
            conn, dummy = self.sock.accept()
            with conn:
                self.received.append(conn.recv(4096).decode())
                conn.sendall(answer.encode())

    def close(self):
        self.sock.close()


def test_client_reads_until_close_and_maps_errors():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        srv = _OneShotServer(path, [SHOW_STAT, SHOW_SERVERS_STATE, "\n", "No such server.\n\n", "user\n\n"])
        srv.start()
        rt = hr.HAProxyRuntime(path, timeout=2)
        try:
            view = rt.server("api_pool", "s1")
            assert view["admin_state"] == "drain" and view["scur"] == 1
            rt.set_server_state("api_pool", "s1", "ready")
            with pytest.raises(hr.HAProxyCommandError, match="No such server"):
                rt.set_weight("api_pool", "s1", "50%")
            assert rt.cli_level() == "user"
        finally:
            srv.join(5)
            srv.close()
        assert srv.received == ["show stat\n", "show servers state api_pool\n",
                                "set server api_pool/s1 state ready\n", "set weight api_pool/s1 50%\n",
                                "show cli level\n"]


def test_client_missing_backend_and_server_list_existing():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        srv = _OneShotServer(path, [SHOW_STAT, SHOW_STAT])
        srv.start()
        rt = hr.HAProxyRuntime(path, timeout=2)
        try:
            with pytest.raises(hr.HAProxyNotFound) as exc:
                rt.server("nope", "s1")
            assert exc.value.available == ["api_pool", "nocheck_pool", "static_pool"]
            with pytest.raises(hr.HAProxyNotFound) as exc:
                rt.server("api_pool", "s9")
            assert (exc.value.kind, exc.value.available) == ("server", ["s1", "s2"])
        finally:
            srv.join(5)
            srv.close()


def test_client_transport_errors():
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(hr.HAProxyUnreachable, match="does not exist"):
            hr.HAProxyRuntime(os.path.join(tmp, "missing.sock")).command("show info")
        regular = os.path.join(tmp, "file")
        with open(regular, "w", encoding="utf-8") as fh:
            fh.write("x")
        with pytest.raises(hr.HAProxyUnreachable, match="not a socket"):
            hr.HAProxyRuntime(regular).command("show info")
        silent = os.path.join(tmp, "silent.sock")
        with socket.socket(socket.AF_UNIX) as srv:
            srv.bind(silent)
            srv.listen(1)
            with pytest.raises(hr.HAProxyTimeout, match="did not answer 'show info' within 0.2s"):
                hr.HAProxyRuntime(silent, timeout=0.2).command("show info")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(hr.HAProxyUnreachable, match="connection refused"):
            hr.HAProxyRuntime("127.0.0.1:%d" % s.getsockname()[1]).command("show info")
    with pytest.raises(hr.HAProxyAddressError, match="one line"):
        hr.HAProxyRuntime("/x.sock").command("show info\nshow stat")
    with pytest.raises(hr.HAProxyAddressError, match="timeout must be > 0"):
        hr.HAProxyRuntime("/x.sock", timeout=0)


# -- new in the one client: durations, static algorithms, write methods return their command ---------
@pytest.mark.parametrize("value, match", [
    (float("nan"), "finite"), (float("inf"), "finite"), (1e308, "at most"), (True, "number of seconds"),
    ("5", "number of seconds"), (0, "> 0"), (-1, "> 0"),
])
def test_check_seconds_rejects(value, match):
    with pytest.raises(hr.HAProxyAddressError, match=match):
        hr.check_seconds(value, "socket_timeout", minimum=0, maximum=hr.MAX_TIMEOUT, strict=True)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 1e308, True])
def test_client_timeout_must_be_finite(timeout):
    with pytest.raises(hr.HAProxyAddressError, match="timeout"):
        hr.HAProxyRuntime("/x.sock", timeout=timeout)


@pytest.mark.parametrize("address", ["127.0.0.1:\u0669\u0661\u0660\u0660", "[::1]:\uff19\uff11"])
def test_parse_address_ascii_port_only(address):
    with pytest.raises(hr.HAProxyAddressError, match="port between 1 and 65535"):
        hr.parse_address(address)


@pytest.mark.parametrize("algo, weight, initial, refused", [
    ("static-rr", 5, 10, True), ("static-rr", "0%", 10, False), ("static-rr", "100%", 10, False),
    ("static-rr", 10, 10, False), ("static-rr", "50%", 10, True), ("first", 5, 10, False),
    ("roundrobin", 5, 10, False), ("source", 5, 10, False), (None, 5, 10, False),
])
def test_weight_refusal(algo, weight, initial, refused):
    msg = hr.weight_refusal(algo, weight, initial)
    assert (msg is not None) is refused
    if refused:
        assert "static LB algorithm" in msg


def test_write_methods_send_and_return_the_builders_command():
    class Rec(hr.HAProxyRuntime):
        def __init__(self):  # pylint: disable=super-init-not-called
            self.address, self.sent = "/x.sock", []

        def command(self, command):
            self.sent.append(command)
            return ""
    rt = Rec()
    assert rt.set_server_state("b", "s", "drain") == hr.state_command("b", "s", "drain") == "set server b/s state drain"
    assert rt.set_weight("b", "s", "50%") == hr.weight_command("b", "s", "50%") == "set weight b/s 50%"
    assert rt.shutdown_sessions("b", "s") == "shutdown sessions server b/s"
    assert rt.set_health("b", "s", False) == "disable health b/s"
    assert rt.set_agent("b", "s", True) == "enable agent b/s"
    assert rt.sent == ["set server b/s state drain", "set weight b/s 50%", "shutdown sessions server b/s",
                       "disable health b/s", "enable agent b/s"]
    with pytest.raises(hr.HAProxyAddressError):
        rt.set_server_state("b", "s;x", "drain")
    assert len(rt.sent) == 5


def test_wait_for_never_sleeps_past_the_deadline():
    class Never(hr.HAProxyRuntime):
        def __init__(self):  # pylint: disable=super-init-not-called
            self.address = "/x.sock"

        def server(self, backend, server):
            return {"scur": 1}
    t = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        t[0] += s
    view, ok = Never().wait_for("b", "s", lambda v: v["scur"] == 0, timeout=2.5, interval=1e6,
                                clock=lambda: t[0], sleep=sleep)
    assert ok is False and t[0] == 2.5 and slept == [2.5]
    with pytest.raises(hr.HAProxyAddressError, match="interval"):
        Never().wait_for("b", "s", bool, timeout=1, interval=float("nan"))


def test_server_view_carries_the_backend_algorithm():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.sock")
        srv = _OneShotServer(path, [SHOW_STAT, SHOW_SERVERS_STATE])
        srv.start()
        try:
            assert hr.HAProxyRuntime(path, timeout=2).server("static_pool", "st1")["algo"] == "source"
        finally:
            srv.join(5)
            srv.close()


def test_common_argument_spec_matches_the_doc_fragment():
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible_collections.veza.infra.plugins.doc_fragments._haproxy import ModuleDocFragment
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = hr.haproxy_common_argument_spec()
    assert sorted(doc) == sorted(spec)
    for name, opt in spec.items():
        assert doc[name]["type"] == opt["type"] and float(doc[name]["default"]) == float(opt["default"]) \
            if opt["type"] == "float" else doc[name]["default"] == opt["default"]
