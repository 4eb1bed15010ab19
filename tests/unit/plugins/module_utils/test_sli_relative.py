# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The relative gate of prom_sli_watch (#17 part 1): the canary against a baseline measured by the
same queries at the same time. Pure policy (_sli_policy), validation and the loop (_sli_watch)
with a scripted client and a fake clock, the live line and the report (_sli_report); property
tests (hypothesis, bounded, derandomized when CI is set)."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _sli_policy as pol
from ansible_collections.veza.infra.plugins.module_utils import _sli_report as rep
from ansible_collections.veza.infra.plugins.module_utils import _sli_watch as sw
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult as R

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PROPS = settings(max_examples=200, deadline=None, derandomize=CI, database=None if CI else settings().database)

CANARY = 'instance="c:8080"'
PEERS = ["p1:8080", "p2.lxd:8080"]


def params(**over):
    out = {k: v.get("default") for k, v in sw.argument_spec().items()}
    out.update(url="http://prom:9090", window=100, interval=10, min_window=0, selector=CANARY,
               baseline_instances=list(PEERS))
    out.update(over)
    return out


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def wall(self):
        return 1_700_000_000.0 + self.now


class SidesClient:
    """Answers by side (the baseline's queries hold its selector) and kind of query, per probe:
    ``script(probe, side, kind)`` -> PromResult, kind p95|err|req. Probe -1 is the preflight."""

    def __init__(self, script, clock, cfg):
        self.script, self.clock, self.cfg = script, clock, cfg
        self.start = None
        self.queries = []

    def query(self, promql):
        self.queries.append(promql)
        side = "baseline" if "^(" in promql else "canary"
        kind = ("p95" if "histogram_quantile" in promql else "err" if "vector(0)" in promql else "req")
        probe = -1 if self.start is None else int(round((self.clock.now - self.start) / self.cfg["interval"]))
        return self.script(probe, side, kind)


def run(script, **over):
    p = params(**over)
    clock = FakeClock()
    client = SidesClient(script, clock, p)
    orig = clock.monotonic

    def mono():
        if client.start is None and client.queries:
            client.start = orig()
        return orig()
    clock.monotonic = mono
    return sw.execute(p, client=client, clock=clock.monotonic, sleep=clock.sleep, wallclock=clock.wall), client


def sides(canary_p95=0.02, base_p95=0.02, canary_err=0.0, base_err=0.0, canary_req=500, base_req=900):
    values = {("canary", "p95"): canary_p95, ("baseline", "p95"): base_p95, ("canary", "err"): canary_err,
              ("baseline", "err"): base_err, ("canary", "req"): canary_req, ("baseline", "req"): base_req}

    def script(probe, side, kind):
        val = values[(side, kind)]
        val = val(probe) if callable(val) else val
        return val if isinstance(val, R) else R.ok([val])
    return script


REL = {"p95_ratio": 1.5, "p95_floor": 0.05, "error_delta": 0.005}
P95 = {"name": "p95_latency", "max": 0.5, "min": None}
ERR = {"name": "error_rate", "max": 0.005, "min": None}


def judged(sli, value):
    return pol.judge_sli(sli, R.ok([value]))


# ------------------------------------------------------------------------------------------
# pure rules
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("canary,base,expected", [
    (0.02, 0.02, "ok"),
    (0.2, 0.02, "red"),          # x10, +0.18 s: a regression below the SLO
    (0.04, 0.02, "ok"),          # x2 but +0.02 s < floor 0.05
    (0.12, 0.1, "ok"),           # +0.02, x1.2
    (0.6, 0.02, "red"),          # absolute breach, healthy baseline
    (0.7, 0.6, "inconclusive"),  # both breach, canary not much worse: fleet-wide
    (2.0, 0.6, "red"),           # much worse than a degraded fleet: still a regression
    (0.1, 0.6, "inconclusive"),  # the baseline breaches, the canary does not
])
def test_latency_rules(canary, base, expected):
    status, text = pol.judge_relative("p95_latency", judged(P95, canary), judged(P95, base), REL)
    assert status == expected, text
    if expected != "ok":
        assert text


@pytest.mark.parametrize("canary,base,expected", [
    (0.0, 0.0, "ok"), (0.004, 0.0, "ok"), (0.006, 0.0, "red"), (0.010, 0.006, "inconclusive"),
    (0.03, 0.006, "red"), (0.0, 0.01, "inconclusive")])
def test_error_rules(canary, base, expected):
    assert pol.judge_relative("error_rate", judged(ERR, canary), judged(ERR, base), REL)[0] == expected


def test_compare_probe_red_wins_over_inconclusive():
    slis = [dict(P95, query="a"), dict(ERR, query="b")]
    status, per = pol.compare_probe(slis, {"p95_latency": judged(P95, 0.7), "error_rate": judged(ERR, 0.05)},
                                    {"p95_latency": judged(P95, 0.7), "error_rate": judged(ERR, 0.0)}, REL)
    assert status == "red" and per["p95_latency"][0] == "inconclusive" and per["error_rate"][0] == "red"


# ------------------------------------------------------------------------------------------
# validation and queries
# ------------------------------------------------------------------------------------------
def test_baseline_queries_use_the_instances_literally():
    cfg = sw.validate_params(params())
    rel = cfg["relative"]
    assert rel["selector"] == 'instance=~"^(p1:8080|p2\\\\.lxd:8080)$"'
    assert all(rel["selector"] in s["query"] for s in rel["baseline_slis"])
    assert [s["name"] for s in rel["baseline_slis"]] == [s["name"] for s in cfg["slis"]]
    hist = "veza_gin_http_request_duration_seconds_count{%s}" % CANARY
    assert rel["requests"]["canary"] == "sum(%s)" % sw.counts_over(hist, "60s", hist)


def test_no_baseline_is_the_absolute_gate():
    assert sw.validate_params(params(baseline_instances=None))["relative"] is None


@pytest.mark.parametrize("over,needle", [
    ({"baseline_p95_ratio": float("nan")}, "baseline_p95_ratio"),
    ({"baseline_p95_ratio": 0.5}, "baseline_p95_ratio"),
    ({"baseline_p95_floor": float("inf")}, "baseline_p95_floor"),
    ({"baseline_p95_floor": -1.0}, "baseline_p95_floor"),
    ({"baseline_error_delta": 2.0}, "baseline_error_delta"),
    ({"baseline_error_delta": float("nan")}, "baseline_error_delta"),
    ({"min_requests": -1}, "min_requests"),
    ({"hold_limit": -5}, "hold_limit"),
    ({"on_inconclusive": "pause"}, "on_inconclusive"),
    ({"baseline_instances": ["", "x"]}, "baseline_instances"),
    ({"baseline_label": "1bad"}, "baseline_label"),
    ({"baseline_instances": None, "baseline_selector": "not a selector"}, "baseline_selector"),
    ({"slis": [{"name": "x", "query": "up", "max": 1.0, "min": None}]}, "cannot be combined with slis"),
])
def test_bad_relative_options_name_the_field(over, needle):
    with pytest.raises(sw.PromSliConfigError) as exc:
        sw.validate_params(params(**over))
    assert needle in str(exc.value)


# ------------------------------------------------------------------------------------------
# whole windows
# ------------------------------------------------------------------------------------------
def test_healthy_window_is_green_with_both_sides_in_every_probe():
    result, _client = run(sides())
    assert result["verdict"] == "green", result["reason"]
    assert "against the baseline" in result["reason"]
    probe = result["probes"][0]
    assert probe["baseline"]["values"]["p95_latency"] == 0.02 and probe["requests"] == {"canary": 500, "baseline": 900}
    assert result["counts"]["inconclusive"] == 0 and result["baseline"]["selector"].startswith("instance=~")


def test_canary_only_regression_below_the_slo_is_red():
    result, _client = run(sides(canary_p95=lambda k: 0.2 if k >= 3 else 0.02))
    assert result["verdict"] == "red"
    assert result["probes"][-1]["index"] == 3
    assert "against the baseline" in result["reason"] and "x 1.5" in result["reason"]
    assert result["breach"]["baseline"] == 0.02 and result["breach"]["value"] == 0.2


def test_same_regression_is_green_without_the_baseline():
    result, _client = run(sides(canary_p95=lambda k: 0.2 if k >= 3 else 0.02), baseline_instances=None)
    assert result["verdict"] == "green"


def test_fleet_wide_slowdown_held_then_inconclusive_without_rollback():
    result, _client = run(sides(canary_p95=lambda k: 0.8 if k >= 2 else 0.02, base_p95=lambda k: 0.75 if k >= 2 else 0.02),
                          hold_limit=30)
    assert result["verdict"] == "inconclusive", result["reason"]
    assert "fleet-wide" in result["reason"] and "Not rolled back" in result["reason"]
    # held three intervals past the window (hold_limit=30), not one more
    assert result["baseline"]["extension"] == 30
    assert len(result["probes"]) == 11 + 3


def test_fleet_wide_slowdown_is_red_for_the_absolute_gate():
    result, _client = run(sides(canary_p95=lambda k: 0.8 if k >= 2 else 0.02, base_p95=0.75), baseline_instances=None)
    assert result["verdict"] == "red"


def test_fleet_blip_that_recovers_is_held_and_green():
    result, _client = run(sides(canary_p95=lambda k: 0.8 if 2 <= k < 4 else 0.02,
                          base_p95=lambda k: 0.75 if 2 <= k < 4 else 0.02))
    assert result["verdict"] == "green", result["reason"]
    assert result["counts"]["inconclusive"] == 2 and result["baseline"]["extension"] == 20
    assert len(result["probes"]) == 13


def test_inconclusive_rollback_policy_is_red():
    result, _client = run(sides(canary_p95=0.8, base_p95=0.75), on_inconclusive="rollback")
    assert result["verdict"] == "red" and "on_inconclusive=rollback" in result["reason"]
    assert len(result["probes"]) == 1


def test_inconclusive_ignore_still_needs_a_green_end():
    result, _client = run(sides(canary_p95=lambda k: 0.8 if k >= 5 else 0.02, base_p95=lambda k: 0.75 if k >= 5 else 0.02),
                          on_inconclusive="ignore")
    assert result["verdict"] == "red" and "inconclusive probe" in result["reason"]
    assert len(result["probes"]) == 11  # no extension


def test_below_min_requests_on_either_side_is_no_data_never_green():
    result, _client = run(sides(base_req=10), min_requests=50)
    assert result["verdict"] == "red" and "min_requests" in result["reason"]
    assert {p["status"] for p in result["probes"]} == {"no_data"}
    result, _client = run(sides(canary_req=R.empty()), on_no_data="ignore")
    assert result["verdict"] == "red" and result["counts"]["green"] == 0


def test_baseline_query_errors_are_error_probes():
    result, _client = run(sides(base_p95=R.error("timeout", "timeout")), error_limit=2)
    assert result["verdict"] == "red" and "baseline/p95_latency" in result["reason"]


def test_live_line_and_report_show_both_sides(tmp_path):
    result, _client = run(sides(canary_p95=lambda k: 0.2 if k >= 1 else 0.02), report_path=str(tmp_path / "r.json"))
    line = rep.probe_line(result["probes"][1], result["slis"], 100)
    assert "p95_latency=0.2 vs 0.02" in line and "RED" in line and "req 500/900" in line
    html = (tmp_path / "r.html").read_text()
    assert html.count("<polyline") == 4  # canary and baseline for both SLIs
    assert "baseline" in html and "x 1.5" in html
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["probes"][1]["relative"]["p95_latency"]["status"] == "red"


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
value = st.floats(min_value=0, max_value=5, allow_nan=False)
outcome = st.one_of(value.map(lambda v: R.ok([v])), st.sampled_from([R.empty(), R.nan(), R.error("x", "timeout")]))


@PROPS
@given(canary=st.floats(min_value=0.5000001, max_value=100), base=st.floats(min_value=0, max_value=0.5),
       err_c=st.floats(min_value=0, max_value=1), err_b=st.floats(min_value=0, max_value=0.005),
       ratio=st.floats(min_value=1, max_value=100), floor=st.floats(min_value=0, max_value=100))
def test_a_breaching_canary_with_a_healthy_baseline_is_never_green(canary, base, err_c, err_b, ratio, floor):
    rel = {"p95_ratio": ratio, "p95_floor": floor, "error_delta": 0.005}
    slis = [dict(P95, query="a"), dict(ERR, query="b")]
    status, _per = pol.compare_probe(slis, {"p95_latency": judged(P95, canary), "error_rate": judged(ERR, err_c)},
                                     {"p95_latency": judged(P95, base), "error_rate": judged(ERR, err_b)}, rel)
    assert status == "red"


@PROPS
@given(probes=st.lists(st.tuples(outcome, outcome, outcome, outcome, st.integers(0, 200), st.integers(0, 200)),
                       min_size=1, max_size=15),
       policy=st.sampled_from(pol.INCONCLUSIVE_POLICIES), hold=st.integers(0, 50))
def test_inconclusive_never_becomes_green(probes, policy, hold):
    """Whatever the outcomes: a window whose last probe was not green is never green; one whose
    every probe was inconclusive is never green; a green verdict always ends on a green probe."""
    def script(k, side, kind):
        row = probes[min(max(k, 0), len(probes) - 1)]
        idx = {("canary", "p95"): 0, ("baseline", "p95"): 1, ("canary", "err"): 2, ("baseline", "err"): 3}
        if kind == "req":
            return R.ok([row[4] if side == "canary" else row[5]])
        return row[idx[(side, kind)]]
    result, _client = run(script, window=10 * (len(probes) - 1) or 10, on_inconclusive=policy, hold_limit=hold,
                          min_requests=20, failure_limit=0)
    statuses = [p["status"] for p in result["probes"]]
    assert result["verdict"] in ("green", "red", "inconclusive")
    if result["verdict"] == "green":
        assert statuses[-1] == "green"
    if set(statuses) == {"inconclusive"}:
        assert result["verdict"] != "green"
    if result["verdict"] == "inconclusive":
        assert policy == "hold" and "inconclusive" in statuses
    for probe in result["probes"]:
        if probe["status"] == "green":
            assert all(probe["requests"][s] >= 20 for s in ("canary", "baseline"))


any_val = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10, 10 ** 10) | st.text(max_size=5) \
    | st.booleans()


@PROPS
@given(over=st.fixed_dictionaries({}, optional={
    "baseline_p95_ratio": any_val, "baseline_p95_floor": any_val, "baseline_error_delta": any_val,
    "min_requests": any_val, "hold_limit": any_val, "on_inconclusive": any_val, "baseline_label": any_val,
    "baseline_selector": any_val, "baseline_instances": st.none() | st.lists(any_val, max_size=3)}))
def test_relative_validation_never_raises_anything_but_a_config_error(over):
    p = params(**over)
    try:
        cfg = sw.validate_params(p)
    except sw.PromSliConfigError as exc:
        assert str(exc).split(":", maxsplit=1)[0] in ("baseline_selector", "baseline_instances", "baseline_label",
                                                      "baseline_p95_ratio", "baseline_p95_floor",
                                                      "baseline_error_delta", "min_requests", "hold_limit",
                                                      "on_inconclusive")
        return
    rel = cfg["relative"]
    if rel is not None:
        assert rel["p95_ratio"] >= 1 and 0 <= rel["error_delta"] <= 1 and rel["p95_floor"] >= 0
        assert rel["on_inconclusive"] in pol.INCONCLUSIVE_POLICIES
