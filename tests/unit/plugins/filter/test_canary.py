# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The canary pre-flight's filters (plugins/filter/canary.py): node lists, PEER_SERIAL batches,
knob consistency, artifact, rollback binary and disk space checks, and their messages.

The PEER_SERIAL cases were tests/integration/test_canary_peer_serial.py's, which rebuilt a
playbook out of preflight.yml's Jinja; that file keeps the end-to-end checks through
ansible-playbook. Property tests (hypothesis) use the profile of tests/conftest.py: bounded,
derandomized when CI is set.
"""
from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from ansible.utils.helpers import pct_to_int
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.veza.infra.plugins.filter import canary as cf

MIB = 1048576
BACKENDS = ["backend-api-1", "backend-api-2", "backend-api-3"]
GOOD = dict(artifact="/tmp/veza-api", node="backend-api-2", peer_nodes="backend-api-1", peer_serial="1",
            sli_window=3600, sli_min_window=300, sli_probe_interval=30, sli_failure_limit=0,
            p95_threshold=0.5, error_rate_threshold=0.005)


def checks(**knobs):
    return {c["knob"]: c for c in cf.knob_checks(dict(GOOD, **knobs), ["lb"], BACKENDS)}


def failed(**knobs):
    return {k: c["msg"] for k, c in checks(**knobs).items() if not c["ok"]}


# --- node lists -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, nodes", [
    ("backend-api-1", ["backend-api-1"]),
    ("a,b", ["a", "b"]),
    (" a , b  c,,", ["a", "b", "c"]),
    ("a\nb\tc", ["a", "b", "c"]),
    ("", []),
    (None, []),
    (["a", "b c"], ["a", "b", "c"]),
])
def test_node_list(value, nodes):
    assert cf.node_list(value) == nodes


def test_release_nodes_put_the_canary_first():
    assert cf.release_nodes("c", "p1, p2") == ["c", "p1", "p2"]
    assert cf.release_nodes("c", "") == ["c"]


@pytest.mark.parametrize("value, paths", [
    ("a.sql", ["a.sql"]),
    (" a.sql , my dir/ ,", ["a.sql", "my dir/"]),
    ("", []),
    (["a.sql", " "], ["a.sql"]),
])
def test_path_list_keeps_blanks_inside_a_path(value, paths):
    assert cf.path_list(value) == paths


NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)


@given(names=st.lists(NAME, max_size=8), seps=st.lists(st.sampled_from([",", " ", ", ", " ,\t", "\n"]), min_size=1))
def test_node_list_any_separators(names, seps):
    text = "".join(n + seps[i % len(seps)] for i, n in enumerate(names))
    assert cf.node_list(text) == names
    assert cf.node_list(names) == names


# --- PEER_SERIAL (the 21 cases of test_canary_peer_serial.py) ---------------------------------

@pytest.mark.parametrize("value, batches", [
    ("1", ["1"]),
    ("1,25%,100%", ["1", "25%", "100%"]),
    ('[1, "25%", "100%"]', ["1", "25%", "100%"]),
    (" 2 , 50% ", ["2", "50%"]),
    ([1, "25%", "100%"], ["1", "25%", "100%"]),   # as an extra var (-e), a real list
    (3, ["3"]),                                    # as an extra var, an int
])
def test_good_peer_serial_becomes_the_batches_and_passes_the_knob_check(value, batches):
    assert cf.peer_batches(value) == batches
    assert checks(peer_serial=value)["PEER_SERIAL"]["ok"]
    assert "PEER_SERIAL" not in failed(peer_serial=value)


@pytest.mark.parametrize("value", [
    "0", "-1", "abc", "", "1,,2", "150%", "0%", "1;2",
    [1, "0"], {"a": 1},                            # as extra vars
])
def test_bad_peer_serial_is_refused_naming_the_knob(value):
    msg = failed(peer_serial=value)["PEER_SERIAL"]
    assert "PEER_SERIAL=%s " % (value,) in msg
    assert "must be a positive number of peers" in msg, msg
    # Only PEER_SERIAL is wrong: the other checks pass.
    assert list(failed(peer_serial=value)) == ["PEER_SERIAL"]


@pytest.mark.parametrize("value, sizes", [
    ("1", [1] * 7),                   # default: the runbook's one at a time
    ("1,25%,100%", [1, 1, 5]),        # 25 % of 7 is 1 (Ansible rounds down, at least 1)
    ("2", [2, 2, 2, 1]),
    ("1,50%", [1, 3, 3]),             # the last size repeats
    ("100%", [7]),
])
def test_peer_batches_of_seven_peers(value, sizes):
    assert cf.batch_sizes(cf.peer_batches(value), 7) == sizes


def test_batch_sizes_refuse_a_malformed_size():
    with pytest.raises(AnsibleFilterError, match="0%"):
        cf.batch_sizes(["1", "0%"], 3)


SIZE = st.one_of(st.integers(1, 50).map(str), st.integers(1, 100).map(lambda p: "%d%%" % p))


@given(sizes=st.lists(SIZE, min_size=1, max_size=5), form=st.sampled_from(["csv", "json", "list", "spaced"]))
def test_every_form_of_a_valid_peer_serial_parses_to_its_sizes(sizes, form):
    value = {"csv": ",".join(sizes), "json": json.dumps(sizes), "list": sizes,
             "spaced": " , ".join(" %s " % s for s in sizes)}[form]
    assert cf.peer_batches(value) == sizes
    assert cf.bad_batches(cf.peer_batches(value)) == []


def _size_ok(size):
    """The documented grammar, written without the filter's regex: digits with no leading zero,
    optionally a % of 1 to 100."""
    digits = size[:-1] if size.endswith("%") else size
    if not (digits.isascii() and digits.isdigit()) or digits.startswith("0"):
        return False
    return 1 <= int(digits) <= 100 if size.endswith("%") else True


@given(text=st.text(max_size=20))
def test_peer_serial_check_accepts_exactly_the_documented_grammar(text):
    grammar_ok = all(_size_ok(b) for b in cf.peer_batches(text))
    assert checks(peer_serial=text)["PEER_SERIAL"]["ok"] == grammar_ok


@given(sizes=st.lists(SIZE, min_size=1, max_size=4), count=st.integers(1, 60))
def test_batch_sizes_cover_every_peer_once_as_ansible_serial_does(sizes, count):
    got = cf.batch_sizes(sizes, count)
    assert sum(got) == count and all(s >= 1 for s in got)
    for i, size in enumerate(got[:-1]):   # every batch but the last is exactly the serial's size
        assert size == pct_to_int(sizes[min(i, len(sizes) - 1)], count)


# --- knob consistency (messages the lab's test_faults.py and docs/reliability.md quote) -------

def test_good_knobs_pass_every_check_in_the_runbook_order():
    got = cf.knob_checks(GOOD, ["lb"], BACKENDS)
    assert [c["knob"] for c in got] == [
        "haproxy group", "ARTIFACT", "CANARY_NODE", "PEER_NODES", "CANARY_NODE/PEER_NODES", "SLI_WINDOW",
        "SLI_PROBE_INTERVAL", "SLI_FAILURE_LIMIT", "PEER_SERIAL", "PROM_P95_THRESHOLD_S", "PROM_ERR_RATE_THRESHOLD"]
    assert all(c["ok"] for c in got), got


@pytest.mark.parametrize("knobs, knob, text", [
    (dict(artifact=""), "ARTIFACT", "ARTIFACT (canary_artifact) is not set; pass the path of the new veza-api binary"),
    (dict(node="backend-api-9"), "CANARY_NODE",
     "CANARY_NODE=backend-api-9 is not in group backend_api_instances (backend-api-1, backend-api-2, backend-api-3)"),
    (dict(peer_nodes="backend-api-1,backend-api-7 backend-api-7"), "PEER_NODES",
     "PEER_NODES names unknown nodes backend-api-7 (known: backend-api-1, backend-api-2, backend-api-3)"),
    (dict(peer_nodes="backend-api-2"), "CANARY_NODE/PEER_NODES", "CANARY_NODE=backend-api-2 is also listed in PEER_NODES"),
    (dict(sli_window=10, sli_min_window=30, sli_probe_interval=5), "SLI_WINDOW",
     "SLI_WINDOW=10 is shorter than the minimum 30 s (300 s = 5 min is the floor for hot-fixes; only a lab lowers SLI_MIN_WINDOW)"),
    (dict(sli_probe_interval=0), "SLI_PROBE_INTERVAL", "SLI_PROBE_INTERVAL=0 must be > 0 and <= SLI_WINDOW=3600"),
    (dict(sli_window=30, sli_min_window=30, sli_probe_interval=90), "SLI_PROBE_INTERVAL",
     "SLI_PROBE_INTERVAL=90 must be > 0 and <= SLI_WINDOW=30"),
    (dict(sli_failure_limit=-1), "SLI_FAILURE_LIMIT", "SLI_FAILURE_LIMIT=-1 must be >= 0"),
    (dict(sli_window=30, sli_min_window=30, sli_probe_interval=5, sli_failure_limit=7), "SLI_FAILURE_LIMIT",
     "SLI_FAILURE_LIMIT=7 must be >= 0 (0 = roll back at the first red probe) and below the number of probes of the "
     "window (7), or the gate could never fail"),
    (dict(p95_threshold=-1), "PROM_P95_THRESHOLD_S", "PROM_P95_THRESHOLD_S=-1 must be a positive number of seconds"),
    (dict(p95_threshold=0), "PROM_P95_THRESHOLD_S", "PROM_P95_THRESHOLD_S=0 must be a positive number"),
    (dict(error_rate_threshold=1.5), "PROM_ERR_RATE_THRESHOLD", "PROM_ERR_RATE_THRESHOLD=1.5 must be a ratio in [0, 1)"),
    (dict(error_rate_threshold=1), "PROM_ERR_RATE_THRESHOLD", "must be a ratio in [0, 1)"),
    (dict(error_rate_threshold=-0.1), "PROM_ERR_RATE_THRESHOLD", "must be a ratio in [0, 1)"),
    (dict(sli_window="an hour"), "SLI_WINDOW", "SLI_WINDOW=an hour and SLI_MIN_WINDOW=300 must be whole numbers"),
    (dict(error_rate_threshold="half"), "PROM_ERR_RATE_THRESHOLD", "PROM_ERR_RATE_THRESHOLD=half must be a ratio"),
])
def test_each_bad_knob_is_refused_with_its_message(knobs, knob, text):
    bad = failed(**knobs)
    assert knob in bad, bad
    assert text in bad[knob]


def test_more_than_one_load_balancer_is_refused():
    got = {c["knob"]: c for c in cf.knob_checks(GOOD, ["lb1", "lb2"], BACKENDS)}
    assert not got["haproxy group"]["ok"]
    assert "exactly one host in group haproxy" in got["haproxy group"]["msg"]
    assert not {c["knob"]: c for c in cf.knob_checks(GOOD, [], BACKENDS)}["haproxy group"]["ok"]


def test_the_lb_host_must_be_the_haproxy_host():
    assert checks(lb_host="lb")["canary_lb_host"]["ok"]
    bad = failed(lb_host="backend-api-1")
    assert bad == {"canary_lb_host": "canary_lb_host=backend-api-1 is not the host of group haproxy (lb); "
                                     "leave it unset or name that host"}
    assert "canary_lb_host" not in checks()  # optional: eleven checks without it


def test_a_missing_knob_is_an_error_naming_it():
    knobs = dict(GOOD)
    del knobs["sli_window"]
    with pytest.raises(AnsibleFilterError, match="sli_window"):
        cf.knob_checks(knobs, ["lb"], BACKENDS)


@given(window=st.integers(1, 7200), interval=st.integers(-5, 600), limit=st.integers(-3, 400))
def test_failure_limit_is_below_the_probes_of_the_window(window, interval, limit):
    got = checks(sli_window=window, sli_min_window=1, sli_probe_interval=interval, sli_failure_limit=limit)
    probes = window // max(interval, 1) + 1
    assert got["SLI_PROBE_INTERVAL"]["ok"] == (0 < interval <= window)
    assert got["SLI_FAILURE_LIMIT"]["ok"] == (0 <= limit < probes)
    assert "(%d)" % probes in got["SLI_FAILURE_LIMIT"]["msg"]


@given(values=st.fixed_dictionaries({k: st.one_of(st.text(max_size=8), st.integers(-5, 5), st.floats(allow_nan=True),
                                                  st.none(), st.lists(st.integers(0, 3), max_size=2))
                                     for k in GOOD}))
def test_knob_checks_never_raise_on_any_value(values):
    got = cf.knob_checks(values, ["lb"], BACKENDS)
    assert len(got) == 11
    assert all(isinstance(c["ok"], bool) and isinstance(c["msg"], str) and c["msg"] for c in got)


# --- artifact, rollback binary -------------------------------------------------------------------

def stat(**kw):
    return {"stat": dict({"exists": True, "isreg": True, "executable": True, "checksum": "ab" * 32}, **kw)}


@pytest.mark.parametrize("result, sha, text", [
    ({"stat": {"exists": False}}, "", "ARTIFACT /a does not exist on the controller"),
    (stat(isreg=False), "", "ARTIFACT /a is not a regular file"),
    (stat(executable=False), "", "ARTIFACT /a is not executable (chmod +x it, or rebuild it)"),
    (stat(), "0" * 64, "ARTIFACT /a has sha256 %s, not ARTIFACT_SHA256=%s (corrupt or wrong file)" % ("ab" * 32, "0" * 64)),
])
def test_artifact_check_says_what_is_wrong(result, sha, text):
    got = cf.artifact_check(result, "/a", sha)
    assert not got["ok"] and got["msg"] == text


def test_artifact_check_passes_and_compares_the_sha256_case_blind():
    assert cf.artifact_check(stat(), "/a", "")["ok"]
    assert cf.artifact_check(stat(), "/a", "AB" * 32)["ok"]


SKIPPED = {"skipped": True, "changed": False}


def test_rollback_check_controller_binary():
    assert cf.rollback_check(stat(), SKIPPED, "/old/veza-api", "/opt/x", "veza-api", "n2")["ok"]
    got = cf.rollback_check({"stat": {"exists": False}}, SKIPPED, "/nonexistent/old", "/opt/x", "veza-api", "n2")
    assert not got["ok"]
    assert got["msg"] == ("auto-rollback cannot work without a last-known-good binary. ROLLBACK_BINARY=/nonexistent/old "
                          "is missing or not executable on the controller. Set ROLLBACK_BINARY=/path/to/old/veza-api, "
                          "or keep the previous release at /opt/x/veza-api.previous on n2.")
    assert not cf.rollback_check(stat(executable=False), SKIPPED, "/old", "/opt/x", "veza-api", "n2")["ok"]


def test_rollback_check_previous_on_the_node():
    assert cf.rollback_check(SKIPPED, stat(), "", "/opt/x", "veza-api", "n2")["ok"]
    got = cf.rollback_check(SKIPPED, {"stat": {"exists": False}}, "", "/opt/x", "veza-api", "n2")
    assert not got["ok"]
    assert "/opt/x/veza-api.previous does not exist on n2. Set ROLLBACK_BINARY=" in got["msg"]


# --- disk space --------------------------------------------------------------------------------

def df(node, free=None, rc=0, **kw):
    res = {"item": node, "rc": rc, "stdout_lines": ["Avail", str(free)] if free is not None else []}
    res.update(kw)
    return res


def test_disk_checks_one_item_per_node_with_the_figures():
    got = cf.disk_checks([df("n1", 100 * MIB), df("n2", 0)], 10 * MIB, 64, "/opt/veza/backend-api")
    assert [(c["node"], c["ok"]) for c in got] == [("n1", True), ("n2", False)]
    assert got[1]["msg"] == ("n2 has 0.0 MiB free in /opt/veza/backend-api, the push needs 74.0 MiB (the artifact + "
                             "canary_disk_headroom_mb=64); free space there first")


def test_disk_checks_a_node_that_cannot_tell():
    got = cf.disk_checks([df("n1", rc=1, stderr="df: /opt/x: No such file or directory\n"),
                          {"item": "n2", "unreachable": True, "msg": "Failed to connect " + "x " * 200}],
                         1, 64, "/opt/x")
    assert not got[0]["ok"] and not got[1]["ok"]
    assert got[0]["msg"] == ("n1: cannot read the free space of /opt/x (df: /opt/x: No such file or directory); "
                             "is the node up and converged by the backend_api role?")
    assert got[1]["msg"].startswith("n2: cannot read the free space of /opt/x (Failed to connect x")
    assert "...)" in got[1]["msg"] and len(got[1]["msg"]) < 320


@given(free=st.integers(0, 2 ** 40), size=st.integers(0, 2 ** 30), headroom=st.integers(0, 4096))
def test_disk_check_ok_exactly_when_the_artifact_and_headroom_fit(free, size, headroom):
    (got,) = cf.disk_checks([df("n", free)], size, headroom, "/d")
    assert got["ok"] == (free >= size + headroom * MIB)


# --- the rest ----------------------------------------------------------------------------------

@pytest.mark.parametrize("timeout, delay, tries", [(60, 2, 30), (61, 2, 31), (1, 2, 1), ("90", 5, 18)])
def test_retries_cover_the_timeout(timeout, delay, tries):
    assert cf.retries(timeout, delay) == tries


def test_every_filter_has_its_documentation():
    import os
    import yaml
    here = os.path.dirname(cf.__file__)
    for name in cf.FilterModule().filters():
        with open(os.path.join(here, name + ".yml"), encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        assert doc["DOCUMENTATION"]["name"] == name
        assert doc["EXAMPLES"] and doc["RETURN"]["_value"]


# --- the relative gate's knobs (SLI_BASELINE=peers) -----------------------------------------------

BASELINE = dict(baseline="peers", p95_ratio="1.5", p95_floor="0.05", error_delta="0.005", min_requests="50",
                inconclusive="hold", hold_limit="600")


def baseline_failed(instances=("backend-api-1:8080",), **knobs):
    return {c["knob"]: c["msg"] for c in cf.baseline_checks(dict(BASELINE, **knobs), list(instances)) if not c["ok"]}


def test_baseline_defaults_pass_and_native_numbers_too():
    assert baseline_failed() == {}
    assert baseline_failed(p95_ratio=1.5, p95_floor=0, error_delta=1, min_requests=0, hold_limit=0) == {}
    assert baseline_failed(instances=(), baseline="none") == {}


@pytest.mark.parametrize("knob,key,value", [
    ("SLI_BASELINE", "baseline", "canary"),
    ("SLI_BASELINE_P95_RATIO", "p95_ratio", "nan"),
    ("SLI_BASELINE_P95_RATIO", "p95_ratio", "0.9"),
    ("SLI_BASELINE_P95_RATIO", "p95_ratio", "1e3"),
    ("SLI_BASELINE_P95_FLOOR_S", "p95_floor", "-0.1"),
    ("SLI_BASELINE_P95_FLOOR_S", "p95_floor", "inf"),
    ("SLI_BASELINE_ERR_DELTA", "error_delta", "1.5"),
    ("SLI_MIN_REQUESTS", "min_requests", "2.5"),
    ("SLI_MIN_REQUESTS", "min_requests", True),
    ("SLI_INCONCLUSIVE", "inconclusive", "pause"),
    ("SLI_HOLD_LIMIT", "hold_limit", "-1"),
])
def test_baseline_bad_knob_is_named_with_its_value(knob, key, value):
    got = baseline_failed(**{key: value})
    assert list(got) == [knob], got
    assert got[knob].startswith("%s=%s must be" % (knob, value))


def test_baseline_peers_without_peers_is_refused():
    assert list(baseline_failed(instances=())) == ["SLI_BASELINE/PEER_NODES"]


def test_baseline_missing_knob_is_an_error():
    with pytest.raises(AnsibleFilterError, match="canary_baseline_checks: missing knobs hold_limit"):
        cf.baseline_checks({k: v for k, v in BASELINE.items() if k != "hold_limit"}, [])


ANY_VALUE = st.one_of(st.text(max_size=8), st.floats(), st.integers(), st.booleans(), st.none())


@given(st.dictionaries(st.sampled_from(sorted(BASELINE)), ANY_VALUE))
def test_baseline_checks_never_raise_on_any_value(values):
    got = cf.baseline_checks(dict(BASELINE, **values), ["backend-api-1:8080"])
    assert [c["knob"] for c in got][:1] == ["SLI_BASELINE"]
    assert all(isinstance(c["ok"], bool) and c["msg"] for c in got)


# --- CANARY_SERVICE: the service profiles (issue 19) -------------------------------------------
# The runbook's defaults (docs/runbooks/CANARY.md), which CANARY_SERVICE unset must keep.
RUNBOOK_BACKEND_API = {"host_group": "backend_api_instances", "pool_backend": "api_pool", "node": "backend-api-2",
                       "peer_nodes": "backend-api-1", "install_dir": "/opt/veza/backend-api", "binary_name": "veza-api",
                       "service": "veza-backend-api", "port": 8080, "health_path": "/api/v1/health",
                       "lb_health_path": "", "sli_histogram": "veza_gin_http_request_duration_seconds"}


def test_backend_api_profile_is_the_runbooks_defaults():
    assert cf.service_profile("backend-api") == RUNBOOK_BACKEND_API


def test_stream_server_profile_selects_the_stream_pool_and_group():
    prof = cf.service_profile(" stream-server ")
    assert prof["pool_backend"] == "stream_pool" and prof["host_group"] == "stream_server_instances"
    assert (prof["service"], prof["binary_name"], prof["port"], prof["health_path"]) == \
        ("veza-stream-server", "veza-stream", 8082, "/health")
    # the LB-side check asks a path HAProxy routes to stream_pool (roles/haproxy: haproxy_stream_path_prefixes)
    assert prof["lb_health_path"].startswith(("/stream/", "/hls/"))
    assert prof["node"] != prof["peer_nodes"] and {prof["node"], prof["peer_nodes"]} <= {"stream-server-1", "stream-server-2"}


def test_every_profile_has_the_same_keys_and_types():
    keys = {k: type(v) for k, v in RUNBOOK_BACKEND_API.items()}
    for name in cf.SERVICE_PROFILES:
        assert {k: type(v) for k, v in cf.service_profile(name).items()} == keys, name


def test_profile_is_a_copy():
    cf.service_profile("backend-api")["pool_backend"] = "mutated"
    assert cf.service_profile("backend-api")["pool_backend"] == "api_pool"


@pytest.mark.parametrize("name", ["", None, "streamer", "backend_api", "Stream-Server"])
def test_unknown_service_is_refused_naming_the_knob_and_the_choices(name):
    check = cf.service_check(name)
    assert check["knob"] == "CANARY_SERVICE" and not check["ok"]
    assert "CANARY_SERVICE=%s " % (name or "") in check["msg"] and "backend-api, stream-server" in check["msg"]
    with pytest.raises(AnsibleFilterError, match="choose one of backend-api, stream-server"):
        cf.service_profile(name)


@given(name=st.text(max_size=20))
def test_service_check_and_profile_agree(name):
    ok = cf.service_check(name)["ok"]
    assert ok == (name.strip() in cf.SERVICE_PROFILES)
    if ok:
        assert cf.service_profile(name) == cf.SERVICE_PROFILES[name.strip()]


def test_canary_node_message_names_the_services_group():
    knobs = dict(GOOD, node="backend-api-2", peer_nodes="stream-server-1", host_group="stream_server_instances")
    got = {c["knob"]: c for c in cf.knob_checks(knobs, ["lb"], ["stream-server-1", "stream-server-2"])}
    assert not got["CANARY_NODE"]["ok"]
    assert got["CANARY_NODE"]["msg"] == ("CANARY_NODE=backend-api-2 is not in group stream_server_instances "
                                         "(stream-server-1, stream-server-2)")
    assert got["PEER_NODES"]["ok"]


def test_service_filters_are_registered():
    filters = cf.FilterModule().filters()
    assert filters["canary_service_profile"] is cf.service_profile
    assert filters["canary_service_check"] is cf.service_check
# --- the LB set (LB_SET, canary_lb_set) -------------------------------------------------------------


def test_an_lb_set_allows_several_load_balancers():
    got = {c["knob"]: c for c in cf.knob_checks(dict(GOOD, lb_set="lb1, lb2"), ["lb1", "lb2"], BACKENDS)}
    assert got["haproxy group"]["ok"] and got["LB_SET"]["ok"], got
    assert got["LB_SET"]["msg"] == "LB_SET: lb1, lb2"
    empty = {c["knob"]: c for c in cf.knob_checks(dict(GOOD, lb_set=[]), [], BACKENDS)}
    assert not empty["haproxy group"]["ok"] and "group haproxy is empty" in empty["haproxy group"]["msg"]


@pytest.mark.parametrize("lb_set, text", [
    ("lb1,lb3", "LB_SET (canary_lb_set) names lb3, not in group haproxy (lb1, lb2)"),
    ("lb1 lb1", "LB_SET (canary_lb_set) names lb1 more than once"),
    ("", "LB_SET (canary_lb_set) is empty: leave it unset (every host of group haproxy: lb1, lb2)"),
])
def test_a_bad_lb_set_is_refused_naming_the_knob(lb_set, text):
    got = {c["knob"]: c for c in cf.knob_checks(dict(GOOD, lb_set=lb_set), ["lb1", "lb2"], BACKENDS)}
    assert not got["LB_SET"]["ok"]
    assert text in got["LB_SET"]["msg"], got["LB_SET"]["msg"]


def _res(lb, node, **kw):
    return dict(kw, item=[lb, node])


def test_lb_preflight_names_the_lb_that_does_not_answer_or_know_a_node():
    results = [_res("lb1", "n1"), _res("lb1", "n2"),
               _res("lb2", "n1", failed=True, msg="socket: nothing listening at /run/haproxy/admin.sock"),
               _res("lb2", "n2", failed=True, msg="socket: nothing listening at /run/haproxy/admin.sock"),
               _res("lb3", "n1"), _res("lb3", "n2", failed=True,
                                       msg="api_pool/n2: no server named 'n2' in backend api_pool; servers that exist: n1"),
               _res("lb4", "n1", unreachable=True, msg="Failed to connect")]
    checked = cf.lb_preflight_checks(results, "lb1,lb2,lb3,lb4,lb5", "/run/haproxy/admin.sock", "api_pool")
    got = {c["lb"]: c for c in checked}
    assert got["lb1"]["ok"]
    assert not any(got[lb]["ok"] for lb in ("lb2", "lb3", "lb4", "lb5"))
    assert "admin socket /run/haproxy/admin.sock does not answer" in got["lb2"]["msg"]
    assert "LB_SET=lb1,lb2,lb3,lb4,lb5" in got["lb2"]["msg"] and "LB_SET=<the other LBs>" in got["lb2"]["msg"]
    assert "does not know n2" in got["lb3"]["msg"] and "playbooks/haproxy.yml" in got["lb3"]["msg"]
    assert "cannot be reached" in got["lb4"]["msg"]
    assert "was not checked" in got["lb5"]["msg"]


def test_lb_results_split_the_lbs_that_failed_from_those_that_answered():
    got = cf.lb_results([{"item": "lb1", "changed": True}, {"item": "lb2", "failed": True, "msg": "socket:  gone\n"},
                         {"item": "lb3", "unreachable": True, "msg": "no route"}, {"item": "lb4", "skipped": True}])
    assert got == {"failed": [{"lb": "lb2", "msg": "socket: gone"}, {"lb": "lb3", "msg": "no route"}],
                   "answered": ["lb1", "lb4"]}
    assert cf.lb_results(None) == {"failed": [], "answered": []}
# -- issue 17 parts 2-3: background analysis, bake, rollback of the upgraded nodes ----------------


ROLLOUT = {"during_peers": "0", "rollback_peers": "never", "bake_window": "0", "probe_interval": "30"}


def rollout_failed(**knobs):
    return {c["knob"]: c["msg"] for c in cf.rollout_checks(dict(ROLLOUT, **knobs)) if not c["ok"]}


def test_rollout_defaults_and_good_values_pass():
    assert rollout_failed() == {}
    assert rollout_failed(during_peers="1", rollback_peers="on_red", bake_window="30") == {}
    assert rollout_failed(during_peers=True, bake_window=600) == {}
    assert rollout_failed(during_peers="Yes") == {}


@pytest.mark.parametrize("knob,key,value", [
    ("SLI_DURING_PEERS", "during_peers", "maybe"),
    ("SLI_DURING_PEERS", "during_peers", ""),
    ("ROLLBACK_PEERS", "rollback_peers", "always"),
    ("ROLLBACK_PEERS", "rollback_peers", "On_Red"),
    ("BAKE_WINDOW", "bake_window", "-5"),
    ("BAKE_WINDOW", "bake_window", "1.5"),
    ("BAKE_WINDOW", "bake_window", "10"),  # shorter than one probe interval (30 s)
    ("BAKE_WINDOW", "bake_window", True),
])
def test_rollout_bad_knob_is_named_with_its_value(knob, key, value):
    got = rollout_failed(**{key: value})
    assert list(got) == [knob], got
    assert got[knob].startswith("%s=%s must be" % (knob, value))


def test_rollout_missing_knob_is_an_error():
    with pytest.raises(AnsibleFilterError, match="canary_rollout_checks: missing knobs bake_window"):
        cf.rollout_checks({k: v for k, v in ROLLOUT.items() if k != "bake_window"})


@given(st.dictionaries(st.sampled_from(sorted(ROLLOUT)), ANY_VALUE))
def test_rollout_checks_never_raise_on_any_value(values):
    got = cf.rollout_checks(dict(ROLLOUT, **values))
    assert [c["knob"] for c in got] == ["SLI_DURING_PEERS", "ROLLBACK_PEERS", "BAKE_WINDOW"]
    assert all(isinstance(c["ok"], bool) and c["msg"] for c in got)


@pytest.mark.parametrize("value,want", [("1", True), ("0", False), ("TRUE", True), (" no ", False), (True, True),
                                        ("2", None), ("", None), (None, None)])
def test_flag(value, want):
    assert cf.flag(value) is want


def test_watch_sets_baseline_excludes_the_rolling_batch_and_the_upgraded():
    got = cf.watch_sets(["b2"], "b1, b3 b4", ["b1"], 8080)
    assert got == {"selector": 'instance=~"^(b2:8080)$"', "nodes": ["b2"], "baseline": ["b3:8080", "b4:8080"]}
    got = cf.watch_sets(["b2", "b1"], ["b1", "b3", "b4"], ["b3", "b4"], 8080)
    assert got["selector"] == 'instance=~"^(b2:8080|b1:8080)$"' and got["baseline"] == []


def test_watch_sets_escapes_regex_characters():
    got = cf.watch_sets(["api.1"], [], [], 8080)
    assert got["selector"] == 'instance=~"^(api\\\\.1:8080)$"'


def test_stop_message_never_gives_the_exact_rollback_command_newest_first():
    msg = cf.stop_message({"kind": "background", "verdict": "red", "reason": "SLI error_rate breached",
                           "upgraded": ["b2", "b1", "b3"]}, "never", "inventory/prod.yml")
    assert "Release STOPPED: the background analysis during the peer roll (SLI_DURING_PEERS=1) is RED" in msg
    assert "NOT rolled back (ROLLBACK_PEERS=never" in msg
    assert "ROLLBACK_NODES=b3,b1,b2 ansible-playbook -i inventory/prod.yml playbooks/rollback.yml" in msg
    assert "make rollback ROLLBACK_NODES=b3,b1,b2" in msg


def test_stop_message_on_red_says_what_was_rolled_back():
    msg = cf.stop_message({"kind": "bake", "verdict": "red", "reason": "r", "upgraded": ["b2", "b1"]}, "on_red")
    assert "bake over the whole pool" in msg and "newest first (ROLLBACK_PEERS=on_red): b1, b2" in msg
    assert "ROLLBACK_NODES" not in msg


@pytest.mark.parametrize("verdict,needle", [("inconclusive", "fleet-wide"), ("error", "without a verdict")])
def test_stop_message_inconclusive_or_error_is_never_rolled_back(verdict, needle):
    msg = cf.stop_message({"kind": "background", "verdict": verdict, "reason": "r", "upgraded": ["b2"]}, "on_red")
    assert "NOT rolled back" in msg and needle in msg and "ROLLBACK_NODES=b2 " in msg
# -- canary_ramp_checks (#16) ------------------------------------------------------------------------


def test_ramp_checks_plan_and_defaults():
    out = cf.ramp_checks({"steps": "dark,5,100", "sli_window": "60", "sli_probe_interval": "3",
                          "smoke_paths": "", "min_requests": "20"}, "/api/v1/health")
    assert out["ok"] and out["smoke_paths"] == ["/api/v1/health"] and out["min_requests"] == 20
    assert [(s["label"], s["window"]) for s in out["plan"]] == [("dark", 0), ("5", 30), ("100", 30)]
    assert out["summary"] == "dark, 5 % for 30 s, 100 % for 30 s" and out["dark"] is True
    one = cf.ramp_checks({"steps": "100", "sli_window": 3600, "sli_probe_interval": 30,
                          "smoke_paths": "/a, /b", "min_requests": 0})
    assert one["plan"] == [{"index": 0, "share": 100.0, "label": "100", "window": 3600, "dark": False}]
    assert one["smoke_paths"] == ["/a", "/b"] and one["dark"] is False
    assert out["requests_selector"] == one["requests_selector"] == ""


def test_ramp_checks_requests_selector_normalized_and_auto():
    base = {"steps": "5,100", "sli_window": 600, "sli_probe_interval": 30, "smoke_paths": "", "min_requests": 20}
    out = cf.ramp_checks(dict(base, requests_selector='{method="GET"}'))
    assert out["ok"] and out["requests_selector"] == 'method="GET"'
    # auto (the role's default): every path but the health path the role checks (HEALTH_PATH)
    assert cf.ramp_checks(dict(base, requests_selector="auto"), "/healthz")["requests_selector"] == 'path!="/healthz"'
    assert cf.ramp_checks(dict(base, requests_selector="auto"), '/a"b')["requests_selector"] == 'path!="/a\\"b"'


@pytest.mark.parametrize("knobs, needle", [
    ({"steps": "5,25"}, "CANARY_STEPS"),
    ({"steps": "5,100", "sli_window": 20, "sli_probe_interval": 10}, "SLI_WINDOW=20"),
    ({"smoke_paths": "api/health"}, "CANARY_SMOKE_PATHS"),
    ({"min_requests": "-1"}, "CANARY_MIN_REQUESTS"),
    ({"min_requests": "many"}, "CANARY_MIN_REQUESTS"),
    ({"sli_window": "x"}, "SLI_WINDOW"),
    ({"requests_selector": "path=/api/v1/health"}, "SLI_REQUESTS_SELECTOR"),
    ({"requests_selector": 'sum(x{path!="/h"})'}, "SLI_REQUESTS_SELECTOR"),
])
def test_ramp_checks_refuse_naming_the_knob(knobs, needle):
    base = {"steps": "5,100", "sli_window": 600, "sli_probe_interval": 30, "smoke_paths": "", "min_requests": 20}
    out = cf.ramp_checks(dict(base, **knobs))
    assert not out["ok"] and needle in out["msg"]
