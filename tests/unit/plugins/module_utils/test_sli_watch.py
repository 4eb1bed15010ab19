# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SLI watch of module_utils/_sli_watch.py with a scripted client and a fake clock: the policy
(_sli_policy.py) over whole windows, query building, validation, and the report (_sli_report.py)."""
from __future__ import annotations

import json
import math

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _sli_policy as pol
from ansible_collections.veza.infra.plugins.module_utils import _sli_report as rep
from ansible_collections.veza.infra.plugins.module_utils import _sli_watch as sw
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult as R

SLIS = [{"name": "p95_latency", "query": "P95", "max": 0.5, "min": None},
        {"name": "error_rate", "query": "ERR", "max": 0.005, "min": None}]


def params(**over):
    spec = sw.argument_spec()
    out = {k: v.get("default") for k, v in spec.items()}
    out.update(over)
    return out


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def wall(self):
        return 1_700_000_000.0 + self.now


class ScriptedClient:
    """Answers each query from a script: probe k -> {query: PromResult}; the preflight is probe -1."""

    def __init__(self, script, clock=None, cost=0.0):
        self.script = script
        self.calls = []
        self.clock = clock
        self.cost = cost

    def query(self, promql):
        self.calls.append(promql)
        probe = (len(self.calls) - 1) // len(SLIS) - 1
        if self.clock is not None:
            self.clock.now += self.cost
        return self.script(probe, promql)


def green(_probe, query):
    return R.ok([0.02]) if query == "P95" else R.ok([0.0])


def watch(script, window=10, interval=2, cost=0.0, **kw):
    clock = FakeClock()
    client = ScriptedClient(script, clock, cost)
    result = sw.run_watch(client, SLIS, window, interval, clock=clock.monotonic, sleep=clock.sleep,
                          wallclock=clock.wall, **kw)
    return result, client, clock


# ---- policy -------------------------------------------------------------------------------
def test_green_run_probes_whole_window_on_schedule():
    result, client, _clock = watch(green, window=10, interval=2)
    assert result["verdict"] == "green"
    assert [p["elapsed"] for p in result["probes"]] == [0, 2, 4, 6, 8, 10]
    assert all(p["status"] == "green" for p in result["probes"])
    assert len(client.calls) == 2 + 6 * 2  # preflight + 6 probes
    assert "all 6 probes within thresholds" in result["reason"]
    assert result["breach"] is None


@pytest.mark.parametrize("k", [0, 3])
def test_red_at_probe_k_stops_at_once_with_details(k):
    def script(probe, query):
        if probe == k and query == "P95":
            return R.ok([0.93])
        return green(probe, query)
    result, client, _clock = watch(script, window=20, interval=2)
    assert result["verdict"] == "red"
    assert len(result["probes"]) == k + 1
    assert result["probes"][-1]["status"] == "red"
    assert result["probes"][-1]["sli_status"]["p95_latency"] == "breach"
    assert len(client.calls) == 2 + (k + 1) * 2  # nothing queried after the red probe
    assert result["breach"]["sli"] == "p95_latency" and result["breach"]["value"] == 0.93
    for text in ("p95_latency", "0.93 > max 0.5", "query: P95", result["probes"][-1]["time"]):
        assert text in result["reason"]


def test_red_message_of_a_default_sli_names_it_the_report_keeps_its_promql():
    # the default queries are long (counts_over); the message an on-call engineer reads names the
    # SLI, the histogram, the selector and the range, the result's breach and slis keep the PromQL
    slis = sw.default_slis("h", 'instance="c:8080"', 0.5, 0.005, "60s")
    q95 = slis[0]["query"]

    def script(_probe, query):
        return R.ok([0.93]) if query == q95 else R.ok([0.0])
    clock = FakeClock()
    result = sw.run_watch(ScriptedClient(script, clock), slis, 10, 2, clock=clock.monotonic, sleep=clock.sleep,
                          wallclock=clock.wall)
    assert result["verdict"] == "red" and result["breach"]["query"] == q95
    assert 'query: p95 latency of h{instance="c:8080"} over 60s' in result["reason"]
    assert "present_over_time" not in result["reason"] and len(result["reason"]) < 400


def test_failure_limit_tolerates_red_probes_over_the_window_not_consecutively():
    red_at = {1, 4, 6}

    def script(probe, query):
        if probe in red_at and query == "ERR":
            return R.ok([0.2])
        return green(probe, query)
    # two red probes tolerated: the third (probe 6) fails the gate although greens came between
    result, _client, _clock = watch(script, window=20, interval=2, failure_limit=2)
    assert result["verdict"] == "red"
    assert [p["status"] for p in result["probes"]].count("red") == 3
    assert len(result["probes"]) == 7
    assert "red probe 3 of the window, failure_limit=2" in result["reason"]
    assert result["breach"]["probe"] == 1  # the first breach, as RETURN documents
    # three tolerated: the window runs to its end, green, and says how many were red
    result, _client, _clock = watch(script, window=20, interval=2, failure_limit=3)
    assert result["verdict"] == "green"
    assert len(result["probes"]) == 11
    assert "8 of 11 probes within thresholds" in result["reason"]
    assert "3 red probe(s) tolerated by failure_limit=3" in result["reason"]


def test_negative_failure_limit_is_refused_naming_the_field():
    with pytest.raises(sw.PromSliConfigError, match="failure_limit: .*got -1"):
        sw.validate_params(params(failure_limit=-1, window=60, interval=5, min_window=0))


def test_value_equal_to_threshold_is_green_and_worst_series_counts():
    assert pol.judge_sli(SLIS[0], R.ok([0.5]))[0] == "ok"
    status, value, _text = pol.judge_sli(SLIS[0], R.ok([0.1, 0.7, 0.2]))
    assert (status, value) == ("breach", 0.7)
    assert pol.judge_sli({"name": "up", "query": "q", "max": None, "min": 2}, R.ok([3, 1]))[:2] == ("breach", 1)


def test_nan_and_empty_are_no_data_and_fail_after_limit():
    def script(probe, query):
        if probe >= 2:
            return R.nan() if query == "P95" else R.empty()
        return green(probe, query)
    result, _client, _clock = watch(script, window=20, interval=2, no_data_limit=2)
    statuses = [p["status"] for p in result["probes"]]
    assert statuses == ["green", "green", "no_data", "no_data"]
    assert result["verdict"] == "red"
    assert "no data for 2 consecutive probes" in result["reason"]
    assert "p95_latency returned NaN" in result["reason"] and "error_rate returned an empty vector" in result["reason"]


def test_no_data_ignore_never_fails_and_is_counted():
    # Quiet probes 1-3 (more than no_data_limit in a row) are ignored; the window still ends on
    # a good probe with half its probes good (#14 item 1: an all-no-data window is red, below).
    def script(probe, query):
        return R.empty() if probe in (1, 2, 3) else green(probe, query)
    result, _client, _clock = watch(script, window=10, interval=2, on_no_data="ignore")
    assert result["verdict"] == "green"
    assert result["counts"]["no_data"] == 3
    assert "3 no-data probe(s) ignored" in result["reason"]


def test_no_data_below_limit_is_reset_by_a_green_probe():
    def script(probe, query):
        return R.empty() if probe in (1, 3, 5) else green(probe, query)
    # window 12: the window ends on a green probe (#14 item 1: ending on no-data is red, below)
    result, _client, _clock = watch(script, window=12, interval=2, no_data_limit=2)
    assert result["verdict"] == "green"
    assert result["counts"] == {"green": 4, "red": 0, "no_data": 3, "error": 0}


def test_errors_hit_error_limit_on_consecutive_probes():
    def script(probe, query):
        return R.error("cannot reach Prometheus at http://x: refused") if probe >= 1 else green(probe, query)
    result, _client, _clock = watch(script, window=20, interval=2, error_limit=3)
    assert [p["status"] for p in result["probes"]] == ["green", "error", "error", "error"]
    assert result["verdict"] == "red"
    assert "3 consecutive probes could not query Prometheus (error_limit=3)" in result["reason"]
    assert "refused" in result["reason"]
    assert result["probes"][1]["errors"]["p95_latency"].startswith("cannot reach")


def test_recovery_after_errors_resets_the_count():
    def script(probe, query):
        return R.error("timeout", "timeout") if probe in (1, 2, 4, 5) else green(probe, query)
    result, _client, _clock = watch(script, window=14, interval=2, error_limit=3)
    assert result["verdict"] == "green"
    assert result["counts"]["error"] == 4
    assert "recovered within error_limit=3" in result["reason"]


def test_error_probe_leaves_no_data_count_alone():
    seq = {1: "empty", 2: "error", 3: "empty"}

    def script(probe, query):
        kind = seq.get(probe)
        if kind == "empty":
            return R.empty()
        if kind == "error":
            return R.error("boom")
        return green(probe, query)
    result, _client, _clock = watch(script, window=20, interval=2, no_data_limit=2)
    assert [p["status"] for p in result["probes"]] == ["green", "no_data", "error", "no_data"]
    assert result["verdict"] == "red" and "no data for 2" in result["reason"]


def test_breach_wins_over_error_in_the_same_probe():
    def script(probe, query):
        if probe == 1:
            return R.error("boom") if query == "P95" else R.ok([0.3])
        return green(probe, query)
    result, _client, _clock = watch(script)
    assert result["probes"][1]["status"] == "red"
    assert result["breach"]["sli"] == "error_rate"


def test_rejected_query_in_window_is_red_at_once():
    def script(probe, query):
        return R.error("bad_data: parse error", "bad_data") if probe == 1 else green(probe, query)
    result, _client, _clock = watch(script, error_limit=5)
    assert result["verdict"] == "red" and len(result["probes"]) == 2
    assert "Prometheus rejected the query" in result["reason"]


def test_preflight_rejection_raises_before_the_window():
    def script(probe, query):
        return R.error("bad_data: 1:5: parse error: unclosed left parenthesis", "bad_data")
    with pytest.raises(sw.PromSliConfigError, match="unclosed left parenthesis") as err:
        watch(script)
    assert "before the window" in str(err.value)


def test_preflight_unreachable_is_a_warning_not_a_failure():
    def script(probe, query):
        return R.error("cannot reach") if probe == -1 else green(probe, query)
    result, _client, _clock = watch(script)
    assert result["verdict"] == "green"
    assert result["warnings"] and "could not check" in result["warnings"][0]


def test_slow_probes_skip_missed_slots_instead_of_bunching():
    result, _client, clock = watch(green, window=10, interval=2, cost=1.5)  # a probe takes 3 s
    elapsed = [p["elapsed"] for p in result["probes"]]
    assert all(b - a >= 2 for a, b in zip(elapsed, elapsed[1:]))
    assert all(s > 0 for s in clock.sleeps)
    assert elapsed[-1] <= 10 + 3


def test_infinite_value_is_red_and_json_safe():
    result, _client, _clock = watch(lambda p, q: R.ok([float("inf")]) if q == "P95" else R.ok([0.0]))
    assert result["verdict"] == "red"
    assert result["probes"][0]["values"]["p95_latency"] == "+Inf"
    json.dumps(result, allow_nan=False)


# ---- query building -------------------------------------------------------------------------
def test_selector_merged_into_both_default_queries():
    cfg = sw.validate_params(params(selector='instance="backend-api-2:8080"', interval=30, scrape_interval=15))
    p95, err = cfg["slis"]
    h = "veza_gin_http_request_duration_seconds"
    hist = h + '_count{instance="backend-api-2:8080"}'
    assert p95["query"] == ("histogram_quantile(0.95, sum by (le) (%s))"
                            % sw.counts_over(h + '_bucket{instance="backend-api-2:8080"}', "60s", hist))
    assert err["query"] == ("(sum(%s) or vector(0)) / sum(%s)"
                            % (sw.counts_over(h + '_count{instance="backend-api-2:8080",status=~"5.."}', "60s", hist),
                               sw.counts_over(hist, "60s", hist)))
    assert (p95["max"], err["max"]) == (0.5, 0.005)


def test_counts_over_counts_a_series_born_in_the_range_from_zero():
    # a series with samples in the range before R: increase() over R; one without (born inside R,
    # e.g. the first status="503" of a new binary) on a target that has samples there: its value,
    # counted from 0 by the client library
    born = ('((m{a="1"} unless present_over_time(m{a="1"}[8s] offset 8s))'
            ' and on(instance) present_over_time(h{a="1"}[8s] offset 8s))')
    assert sw.counts_over('m{a="1"}', "8s", 'h{a="1"}') == '((increase(m{a="1"}[8s]) unless %s) or %s)' % (born, born)


def test_empty_selector_and_braces():
    cfg = sw.validate_params(params(selector=""))
    assert "_bucket[" in cfg["slis"][0]["query"]
    assert '_count{status=~"5.."}' in cfg["slis"][1]["query"]
    assert sw.normalize_selector('{job="api", instance=~"b.*",}') == 'job="api", instance=~"b.*"'


@pytest.mark.parametrize("interval,scrape,expected", [(30, 15, 60), (2, 1, 4), (1, 1, 4), (120, 15, 240), (5, 30, 120)])
def test_rate_range_suits_interval_and_scrape(interval, scrape, expected):
    assert sw.rate_range_seconds(interval, scrape) == expected
    cfg = sw.validate_params(params(interval=interval, scrape_interval=scrape, window=3600))
    assert cfg["rate_range"] == "%ds" % expected


def test_explicit_rate_range_and_custom_slis_replace_defaults():
    cfg = sw.validate_params(params(rate_range="2m30s"))
    assert "[2m30s]" in cfg["slis"][0]["query"]
    cfg = sw.validate_params(params(slis=[{"name": "up", "query": " sum(up) ", "min": 2, "max": None}]))
    assert cfg["slis"] == [{"name": "up", "query": "sum(up)", "max": None, "min": 2}]


# ---- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("over,needle", [
    (dict(p95_threshold=-0.1), "p95_threshold: must not be negative"),
    (dict(error_rate_threshold=-1), "error_rate_threshold: is a ratio"),
    (dict(error_rate_threshold=5), "error_rate_threshold: is a ratio"),
    (dict(interval=600, window=300), "interval=600 is longer than window=300"),
    (dict(window=60), "window=60 is shorter than min_window=300"),
    (dict(window=0), "window: must be a positive"),
    (dict(interval=0), "interval: must be a positive"),
    (dict(url="prom.lxd:9090"), "url: cannot parse"),
    (dict(url="http://"), "url: cannot parse"),
    (dict(url="http://host:99999"), "url: cannot parse"),
    (dict(url="http://host:9090/?x=1"), "query string"),
    (dict(selector="instance=backend-2"), "selector: expected PromQL label matchers"),
    (dict(selector='up{instance="a"}'), "selector: expected PromQL label matchers"),
    (dict(rate_range="5 minutes"), "rate_range: '5 minutes' is not a PromQL duration"),
    (dict(no_data_limit=0), "no_data_limit: must be at least 1"),
    (dict(error_limit=0), "error_limit: must be at least 1"),
    (dict(timeout=0), "timeout: must be a positive"),
    (dict(histogram="bad name"), "histogram: 'bad name' is not a Prometheus metric name"),
    (dict(report_path="/nonexistent-dir-xyz/r.json"), "report_path: directory /nonexistent-dir-xyz"),
    (dict(slis=[{"name": "a", "query": "up", "max": None, "min": None}]), "slis[0]: SLI 'a' needs max and/or min"),
    (dict(slis=[{"name": "a", "query": "up", "max": 1, "min": None},
                {"name": "a", "query": "up", "max": 1, "min": None}]), "slis[1].name: 'a' is used twice"),
    (dict(slis=[{"name": "a", "query": "  ", "max": 1, "min": None}]), "slis[0].query"),
    (dict(slis=[{"name": "a", "query": "up", "max": 1, "min": 2}]), "min=2 is above max=1"),
    (dict(slis=[{"name": "a", "query": "up", "max": -1, "min": None}]), "slis[0].max: must not be negative"),
])
def test_validation_messages_name_field_and_fix(over, needle):
    with pytest.raises(sw.PromSliConfigError) as err:
        sw.validate_params(params(**over))
    assert needle in str(err.value)


def test_lowered_min_window_accepts_a_lab_window():
    assert sw.validate_params(params(window=20, interval=2, min_window=10))["slis"]


# ---- report --------------------------------------------------------------------------------------
def test_report_json_and_html(tmp_path):
    def script(probe, query):
        if probe == 2:
            return R.empty()
        if probe == 4 and query == "ERR":
            return R.ok([0.2])
        return green(probe, query)
    result, _client, _clock = watch(script, window=20, interval=2)
    paths = rep.write_report(result, str(tmp_path / "gate.json"))
    assert paths == {"report_path": str(tmp_path / "gate.json"), "report_html": str(tmp_path / "gate.html")}
    saved = json.loads((tmp_path / "gate.json").read_text())
    assert saved["verdict"] == "red" and len(saved["probes"]) == 5
    page = (tmp_path / "gate.html").read_text()
    assert page.count("<svg") == 2 and "<script" not in page and "http" not in page.split("<svg", 1)[1].split(
        "xmlns", 1)[0]
    assert 'stroke-dasharray' in page  # threshold line
    assert page.count('fill="#d22"><title>') == 1  # one red marker: the breach
    assert "error_rate" in page and "0.2 &gt; max 0.005" in page


def test_probe_line_shows_each_sli_against_threshold():
    result, _client, _clock = watch(lambda p, q: R.ok([0.0123]) if q == "P95" else R.nan(), window=4, interval=2,
                                    on_no_data="ignore")
    line = rep.probe_line(result["probes"][1], SLIS, 4)
    assert line.split() == ["2.0s/4s", "probe", "1", "p95_latency=0.0123", "(max", "0.5)", "error_rate=NaN",
                            "(max", "0.005)", "NO_DATA"]
    assert math.isclose(result["probes"][1]["values"]["p95_latency"], 0.0123)


# ---- #14 item 1: never green without evidence ------------------------------------------------
def _err(_probe, _query):
    return R.error("cannot reach Prometheus at http://127.0.0.1:9: [Errno 111] Connection refused")


def test_all_probes_errors_below_error_limit_is_not_green():
    # window 1, interval 1: two probes, both errors, fewer than error_limit=3
    result, _client, _clock = watch(_err, window=1, interval=1, error_limit=3)
    assert [p["status"] for p in result["probes"]] == ["error", "error"]
    assert result["verdict"] == "red"
    assert "no evidence" in result["reason"] and "error" in result["reason"]
    assert "Connection refused" in result["reason"]


def test_last_probes_errors_is_not_green_with_the_defaults():
    def script(probe, query):
        return _err(probe, query) if probe >= 4 else green(probe, query)
    result, _client, _clock = watch(script, window=10, interval=2)  # probes 0..5, 4 and 5 fail
    assert [p["status"] for p in result["probes"]][-2:] == ["error", "error"]
    assert result["verdict"] == "red"
    assert "the window ended on an error probe (probe 5" in result["reason"]


def test_last_probe_no_data_is_not_green():
    def script(probe, query):
        return R.empty() if probe == 5 else green(probe, query)
    result, _client, _clock = watch(script, window=10, interval=2, no_data_limit=2)
    assert result["verdict"] == "red" and "ended on a no_data probe (probe 5" in result["reason"]


def test_all_no_data_with_on_no_data_ignore_is_not_green():
    result, _client, _clock = watch(lambda p, q: R.empty(), window=10, interval=2, on_no_data="ignore")
    assert result["counts"]["no_data"] == 6
    assert result["verdict"] == "red" and "no evidence" in result["reason"]


def test_too_few_good_probes_is_not_green():
    # error, error, green, repeated: never error_limit consecutive errors, one good probe in three
    def script(probe, query):
        return green(probe, query) if probe % 3 == 2 else _err(probe, query)
    result, _client, _clock = watch(script, window=16, interval=2)
    assert result["probes"][-1]["status"] == "green"  # probe 8
    assert result["counts"]["green"] == 3 and len(result["probes"]) == 9
    assert result["verdict"] == "red"
    assert "only 3 of 9 probes were good (min_good_ratio=0.5 needs 5)" in result["reason"]
    result, _client, _clock = watch(script, window=16, interval=2, min_good_ratio=0.3)
    assert result["verdict"] == "green"


# ---- #14 item 2 and 5: non-finite numbers are refused, naming the field ------------------------
@pytest.mark.parametrize("over,needle", [
    (dict(p95_threshold=float("nan")), "p95_threshold: must be a finite"),
    (dict(p95_threshold=float("inf")), "p95_threshold: must be a finite"),
    (dict(error_rate_threshold=float("nan")), "error_rate_threshold: is a ratio"),
    (dict(slis=[{"name": "a", "query": "up", "max": float("inf"), "min": None}]), "slis[0].max: must be a finite"),
    (dict(slis=[{"name": "a", "query": "up", "max": float("nan"), "min": None}]), "slis[0].max: must be a finite"),
    (dict(slis=[{"name": "a", "query": "up", "max": None, "min": float("-inf")}]), "slis[0].min: must be a finite"),
    (dict(timeout=float("nan")), "timeout: must be a positive, finite number"),
    (dict(timeout=float("inf")), "timeout: must be a positive, finite number"),
    (dict(timeout=1e308), "timeout: must be a positive, finite number of seconds, at most 600"),
    (dict(min_good_ratio=float("nan")), "min_good_ratio: "),
    (dict(min_good_ratio=0), "min_good_ratio: "),
    (dict(min_good_ratio=1.5), "min_good_ratio: "),
])
def test_non_finite_numbers_are_refused_naming_the_field(over, needle):
    with pytest.raises(sw.PromSliConfigError) as err:
        sw.validate_params(params(**over))
    assert needle in str(err.value)


# ---- #14 item 4: report_path checked before the window, a measured result is never lost --------
def test_report_path_that_is_a_directory_is_refused_before_any_query(tmp_path):
    client = ScriptedClient(green)
    with pytest.raises(sw.PromSliConfigError, match="report_path: .* is a directory"):
        sw.execute(params(window=4, interval=2, min_window=0, report_path=str(tmp_path)), client=client)
    assert client.calls == []
    (tmp_path / "r.html").mkdir()
    with pytest.raises(sw.PromSliConfigError, match="r.html is a directory"):
        sw.execute(params(window=4, interval=2, min_window=0, report_path=str(tmp_path / "r.json")), client=client)
    assert client.calls == []


def test_report_write_failure_after_the_window_keeps_the_result(tmp_path):
    report_dir = tmp_path / "reports"
    report_dir.mkdir()
    clock = FakeClock()

    def script(probe, query):
        if probe == 1 and report_dir.exists():
            report_dir.rmdir()  # the directory disappears during the window
        return green(probe, query)
    client = ScriptedClient(script, clock)
    result = sw.execute(params(window=4, interval=2, min_window=0, report_path=str(report_dir / "r.json")),
                        client=client, clock=clock.monotonic, sleep=clock.sleep, wallclock=clock.wall)
    assert result["verdict"] == "green" and len(result["probes"]) == 3
    assert "report_error" in result and "r.json" in result["report_error"]
    assert any("report" in w for w in result["warnings"])
