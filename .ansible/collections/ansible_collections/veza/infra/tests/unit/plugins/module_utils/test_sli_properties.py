# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests (hypothesis) of the SLI gate (#14): argument validation, answer parsing and the
verdict policy over any sequence of probe outcomes.

Bounded examples; with CI set (CI=true/1/yes), derandomized, so CI runs the same examples every
time. The settings live here, not in a shared profile, so that no conftest is shared with the
other modules' property tests.
"""
from __future__ import annotations

import math
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _sli_watch as sw
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult as R
from ansible_collections.veza.infra.plugins.module_utils._prom_client import parse_query_response
from ansible_collections.veza.infra.plugins.module_utils._sli_policy import WatchPolicy

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PROPS = settings(max_examples=200, deadline=None, derandomize=CI, database=None if CI else settings().database)

SLIS = [{"name": "p95_latency", "query": "P95", "max": 0.5, "min": None},
        {"name": "error_rate", "query": "ERR", "max": 0.005, "min": None}]

any_float = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324])
any_int = st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.sampled_from([0, 1, -1, 3600, 30, 300])
maybe_text = st.none() | st.text(max_size=40) | st.sampled_from(
    ["", 'instance="a:8080"', "{job=\"x\"}", "http://127.0.0.1:9090", "https://p:1/x", "1m", "90s", "a b"])
sli_item = st.fixed_dictionaries({
    "name": st.none() | st.text(max_size=12) | st.sampled_from(["a", "p99", "up"]),
    "query": st.none() | st.text(max_size=20) | st.just("sum(up)"),
    "max": st.none() | any_float,
    "min": st.none() | any_float,
})


def base_params():
    spec = sw.argument_spec()
    return {k: v.get("default") for k, v in spec.items()}


@PROPS
@given(over=st.fixed_dictionaries({}, optional={
    "url": maybe_text, "window": any_int, "interval": any_int, "min_window": any_int,
    "p95_threshold": any_float, "error_rate_threshold": any_float, "selector": maybe_text,
    "histogram": maybe_text, "scrape_interval": any_int, "rate_range": maybe_text, "timeout": any_float,
    "no_data_limit": any_int, "error_limit": any_int, "failure_limit": any_int, "min_good_ratio": any_float,
    "slis": st.none() | st.lists(sli_item, max_size=3),
}))
def test_validation_never_raises_anything_but_a_config_error(over):
    params = base_params()
    params.update(over)
    try:
        cfg = sw.validate_params(params)
    except sw.PromSliConfigError as exc:
        text = str(exc)
        assert text and "Traceback" not in text
        # the message names a field (the part before the first colon is a known option or slis[i])
        head = text.split(":", 1)[0].split("=", 1)[0].split("[", 1)[0].split(".", 1)[0]
        assert head in params or head in ("slis", "interval", "window"), text
        return
    # accepted: every bound the gate compares with is a finite number
    for sli in cfg["slis"]:
        for key in ("max", "min"):
            assert sli[key] is None or math.isfinite(sli[key])
        assert sli["max"] is not None or sli["min"] is not None
    assert math.isfinite(params["timeout"]) and 0 < params["timeout"] <= 600
    assert 0 < params["min_good_ratio"] <= 1


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_any = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.sampled_from(["status", "data", "resultType", "result", "value", "metric", "errorType", "error", "x"]),
    kids, max_size=4), max_leaves=20)
answer = st.fixed_dictionaries({"status": st.sampled_from(["success", "error"]) | json_leaf}, optional={
    "data": json_any | st.fixed_dictionaries({
        "resultType": st.sampled_from(["vector", "scalar", "matrix", "string"]) | json_leaf,
        "result": json_any}),
    "errorType": json_any, "error": json_any})


@PROPS
@given(payload=answer | json_any)
def test_any_answer_parses_to_a_result_never_an_exception(payload):
    res = parse_query_response(payload)
    assert res.kind in ("ok", "empty", "nan", "error")
    if res.kind == "ok":
        assert res.values and not any(math.isnan(v) for v in res.values)


OUTCOMES = {
    "green": lambda q: R.ok([0.01]) if q == "P95" else R.ok([0.0]),
    "breach": lambda q: R.ok([0.9]) if q == "P95" else R.ok([0.0]),
    "empty": lambda q: R.empty(),
    "nan": lambda q: R.nan() if q == "P95" else R.ok([0.0]),
    "error": lambda q: R.error("cannot reach Prometheus", "transport"),
    "timeout": lambda q: R.error("timed out", "timeout") if q == "ERR" else R.ok([0.01]),
    "rejected": lambda q: R.error("bad_data: parse error", "bad_data"),
}


@PROPS
@given(seq=st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=0, max_size=40),
       on_no_data=st.sampled_from(["fail", "ignore"]), no_data_limit=st.integers(1, 5),
       error_limit=st.integers(1, 5), failure_limit=st.integers(0, 4),
       ratio=st.floats(min_value=0.01, max_value=1.0))
def test_no_green_unless_the_last_probe_and_enough_probes_were_good(
        seq, on_no_data, no_data_limit, error_limit, failure_limit, ratio):
    policy = WatchPolicy(SLIS, on_no_data, no_data_limit, error_limit, failure_limit, ratio)
    for i, outcome in enumerate(seq):
        policy.observe({s["name"]: OUTCOMES[outcome](s["query"]) for s in SLIS}, 1_700_000_000 + i, float(i))
        if policy.decided:
            break
    policy.finish(float(len(seq)))
    assert policy.verdict in ("green", "red") and policy.reason
    seen = seq[:len(policy.probes)]
    statuses = [p["status"] for p in policy.probes]
    if policy.verdict == "green":
        assert statuses and statuses[-1] == "green"
        good = statuses.count("green")
        assert good >= 1 and good >= ratio * len(statuses) - 1e-9
        assert "rejected" not in seen
        assert statuses.count("red") <= failure_limit
    if seen and seen[-1] in ("error", "empty", "rejected", "timeout") or not seen:
        assert policy.verdict == "red"
    if seq and all(o in ("error", "empty", "nan", "timeout") for o in seq):
        assert policy.verdict == "red"  # a window of errors and no-data is never green


@PROPS
@given(over=st.fixed_dictionaries({}, optional={
    "url": maybe_text, "timeout": any_float, "histogram": maybe_text, "selector": maybe_text,
    "lookback": any_int | st.none() | st.booleans(), "bearer_token": maybe_text,
    "slis": st.none() | st.lists(sli_item, max_size=3),
}))
def test_preflight_validation_never_raises_anything_but_a_config_error(over):
    from ansible_collections.veza.infra.plugins.module_utils import _sli_preflight  # pylint: disable=import-outside-toplevel
    params = {k: v.get("default") for k, v in _sli_preflight.argument_spec().items()}
    params.update(over)
    try:
        cfg = _sli_preflight.validate_params(params)
    except sw.PromSliConfigError as exc:
        head = str(exc).split(":", 1)[0].split("[", 1)[0]
        assert head in params, str(exc)
        return
    assert 0 < cfg["lookback"] <= 604800 and math.isfinite(cfg["connection"]["timeout"])


class _Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0 and math.isfinite(seconds)
        self.now += seconds

    def wall(self):
        return 1_700_000_000.0 + self.now


@PROPS
@given(window=st.integers(1, 600), interval=st.integers(1, 120), cost=st.floats(0, 20),
       outcomes=st.lists(st.sampled_from(sorted(OUTCOMES)), min_size=1, max_size=8))
def test_the_watch_never_runs_past_its_window_plus_one_probe(window, interval, cost, outcomes):
    interval = min(interval, window)
    clock = _Clock()

    class Client:  # pylint: disable=too-few-public-methods
        calls = 0

        def query(self, promql):
            Client.calls += 1
            clock.now += cost
            outcome = outcomes[(Client.calls // len(SLIS)) % len(outcomes)]
            return OUTCOMES["green" if outcome == "rejected" else outcome](promql)
    result = sw.run_watch(Client(), SLIS, window, interval, clock=clock.monotonic, sleep=clock.sleep,
                          wallclock=clock.wall)
    probes = result["probes"]
    assert probes and all(p["elapsed"] <= window + 1e-3 for p in probes)  # no probe starts after the window (3 decimals)
    assert result["duration"] <= window + len(SLIS) * cost + 1e-3  # ends within one probe's cost of it
    starts = [p["elapsed"] for p in probes]
    assert all(b - a >= interval - 1e-3 for a, b in zip(starts, starts[1:]))
