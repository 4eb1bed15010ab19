# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""On-call controls (module_utils/_release_control.py) and what the SLI watch does with them
(abort, promote, hold at the next probe; stale and foreign controls ignored), plus the absolute
gate's per-probe minimum request count of a ramp step (min_canary_requests)."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _release_control as rc
from ansible_collections.veza.infra.plugins.module_utils import _sli_watch as sw
from ansible_collections.veza.infra.plugins.module_utils._prom_client import PromResult as R

BOUNDED = settings(max_examples=150, deadline=None, derandomize=bool(os.environ.get("CI")), database=None)
SLIS = [{"name": "p95_latency", "query": "P95", "max": 0.5, "min": None},
        {"name": "error_rate", "query": "ERR", "max": 0.005, "min": None}]
WALL0 = 1_700_000_000.0


class Clock:
    """Monotonic and wall clocks that move on sleep; ``at[t]`` runs a callback once t is passed."""

    def __init__(self, at=None):
        self.now = 0.0
        self.at = dict(at or {})

    def monotonic(self):
        return self.now

    def wall(self):
        return WALL0 + self.now

    def sleep(self, seconds):
        self.now += seconds
        for t in sorted(self.at):
            if t <= self.now:
                self.at.pop(t)(self)


class Client:
    def __init__(self, requests=100.0, bad=False):
        self.requests, self.bad = requests, bad

    def query(self, promql):
        if promql == "P95":
            return R.ok([0.9 if self.bad else 0.02])
        if promql == "ERR":
            return R.ok([0.0])
        return R.ok([self.requests])


def run(tmp_path, at=None, window=20, interval=2, since=None, run_id="run-1", client=None, **kw):
    clock = Clock(at)
    reader = rc.ControlReader(rc.control_path(str(tmp_path), run_id), run_id,
                              WALL0 if since is None else since)
    out = sw.run_watch(client or Client(), SLIS, window, interval, clock=clock.monotonic, sleep=clock.sleep,
                       wallclock=clock.wall, control=reader, **kw)
    return out, clock


def control(tmp_path, action, seconds=None, run_id="run-1", user="alice"):
    def write(clock):
        rc.write_control(str(tmp_path), action, seconds, run_id=run_id, env={"USER": user}, uid=1000,
                         now=clock.wall())
    return write


def test_abort_is_red_at_the_next_probe_and_says_who(tmp_path):
    out, clock = run(tmp_path, at={5: control(tmp_path, "abort")})
    assert out["verdict"] == "red" and "aborted by the on-call: abort by alice (uid 1000)" in out["reason"]
    assert clock.now == 6 and len(out["probes"]) == 4          # written at 5 s, applied at the 6 s probe
    assert out["controls"][0]["action"] == "abort" and out["controls"][0]["probe"] == 3
    assert out["probes"][-1]["control"] == [out["controls"][0]["text"]]


def test_promote_ends_the_step_green_now(tmp_path):
    out, clock = run(tmp_path, at={3: control(tmp_path, "promote", user="bob")})
    assert out["verdict"] == "green" and "promoted by the on-call: promote by bob" in out["reason"]
    assert clock.now == 4


def test_promote_does_not_override_a_red_probe(tmp_path):
    out, _clock = run(tmp_path, at={1: control(tmp_path, "promote")}, client=Client(bad=True))
    assert out["verdict"] == "red" and "p95_latency" in out["reason"] and out["controls"] == []


def test_hold_extends_the_step(tmp_path):
    out, clock = run(tmp_path, window=10, at={3: control(tmp_path, "hold", 6)})
    assert out["verdict"] == "green" and out["held"] == 6
    assert [p["elapsed"] for p in out["probes"]][-1] == 16 and clock.now == 16


def test_hold_then_abort(tmp_path):
    out, clock = run(tmp_path, window=10, at={3: control(tmp_path, "hold", 60), 20: control(tmp_path, "abort")})
    assert out["verdict"] == "red" and clock.now == 20 and [c["action"] for c in out["controls"]] == ["hold", "abort"]


def test_controls_of_another_run_or_before_since_never_apply(tmp_path):
    # a control of a previous run in the same report dir, an earlier control of this run (a previous step's)
    rc.write_control(str(tmp_path), "abort", run_id="run-0", env={"USER": "x"}, now=WALL0 - 100)
    rc.write_control(str(tmp_path), "abort", run_id="run-1", env={"USER": "x"}, now=WALL0 - 1)
    with open(rc.control_path(str(tmp_path), "run-1"), "a") as fh:
        fh.write("not json\n" + json.dumps({"run_id": "run-0", "action": "abort", "time": WALL0 + 1}) + "\n"
                 + json.dumps({"run_id": "run-1", "action": "reboot", "time": WALL0 + 1}) + "\n")
    out, _clock = run(tmp_path, window=6)
    assert out["verdict"] == "green" and out["controls"] == []
    text = " ".join(out["warnings"])
    assert "not JSON" in text and "another run" in text and "reboot" in text
    assert len(out["warnings"]) == 3                      # each problem said once, not at every probe


def test_missing_control_file_is_no_control(tmp_path):
    out, _clock = run(tmp_path / "nowhere", window=4)
    assert out["verdict"] == "green" and out["controls"] == [] and out["warnings"] == []
    assert out["control_until"] == WALL0 + 4


def test_write_control_finds_the_running_run_and_refuses_without_one(tmp_path):
    with pytest.raises(rc.ControlError, match="no running canary gate"):
        rc.write_control(str(tmp_path), "abort")
    path = rc.write_current(str(tmp_path), "host:123:456", now=WALL0)
    assert path.endswith("control-host_123_456.jsonl")
    c1 = rc.write_control(str(tmp_path), "hold", "30", env={"SUDO_USER": "carol", "USER": "root"}, uid=0, now=WALL0)
    c2 = rc.write_control(str(tmp_path), "abort", env={}, uid=1234, now=WALL0 + 1)
    assert (c1["user"], c1["seconds"], c1["seq"], c1["run_id"]) == ("carol", 30, 1, "host:123:456")
    assert (c2["user"], c2["seq"]) == ("uid 1234", 2)
    reader = rc.ControlReader(path, "host:123:456", WALL0)
    got, warnings = reader.poll()
    assert [c["action"] for c in got] == ["hold", "abort"] and warnings == []
    assert reader.poll() == ([], [])                         # each once


@pytest.mark.parametrize("action, seconds, needle", [
    ("stop", None, "one of abort, promote, hold"),
    ("hold", None, "needs SECONDS"),
    ("hold", "x", "needs SECONDS"),
    ("hold", 0, "from 1 to"),
    ("hold", 10 ** 6, "from 1 to"),
])
def test_bad_controls_refused_clearly(tmp_path, action, seconds, needle):
    with pytest.raises(rc.ControlError, match=needle):
        rc.write_control(str(tmp_path), action, seconds, run_id="r")


@BOUNDED
@given(line=st.one_of(st.text(max_size=60), st.dictionaries(
    st.sampled_from(["run_id", "action", "seconds", "time", "user", "uid"]),
    st.one_of(st.none(), st.booleans(), st.integers(-5, 10 ** 6), st.floats(allow_nan=True), st.text(max_size=6),
              st.sampled_from(["abort", "promote", "hold", "r"])), max_size=6).map(json.dumps)))
def test_parse_line_property_never_raises_and_is_exclusive(line):
    control, problem = rc.parse_line(line, "r")
    assert (control is None) != (problem is None)
    if control is not None:
        assert control["action"] in rc.ACTIONS and isinstance(control["time"], float)
        assert control["action"] != "hold" or 1 <= control["seconds"] <= rc.MAX_HOLD


# -- a ramp step's minimum request count (absolute gate) -----------------------------------------
def test_min_canary_requests_makes_a_quiet_step_no_data_never_green(tmp_path):
    out, _clock = run(tmp_path, window=10, client=Client(requests=3.0), min_canary_requests=20,
                      canary_requests="REQ")
    assert out["verdict"] == "red" and "requests: 3 < min_canary_requests 20" in out["reason"]
    assert out["probes"][0]["status"] == "no_data" and out["probes"][0]["requests"] == {"canary": 3}
    out, _clock = run(tmp_path, window=4, client=Client(requests=25.0), min_canary_requests=20, canary_requests="REQ")
    assert out["verdict"] == "green"


class RisingClient(Client):
    """A step after the dark step: the canary's requests over R grow from 0 as the range leaves the
    time before the step behind (``per_probe`` more at each request-count query)."""

    def __init__(self, per_probe, start=0.0):
        super().__init__()
        self.count, self.per_probe = start, per_probe

    def query(self, promql):
        if promql == "REQ":
            got, self.count = self.count, self.count + self.per_probe
            return R.ok([got])
        return super().query(promql)


def test_too_few_requests_in_the_first_rate_range_is_a_warmup_not_a_failure(tmp_path):
    # probes at 0, 2, 4 ... with requests 0, 10, 20, 30: probes 0 and 1 are too few; inside the warm-up
    # (R = 4 s) they stay no_data but do not reach no_data_limit=2, and the window ends green
    out, _clock = run(tmp_path, window=8, client=RisingClient(10.0), min_canary_requests=20, canary_requests="REQ",
                      requests_warmup=4.0)
    assert out["verdict"] == "green", out["reason"]
    assert [p["status"] for p in out["probes"]] == ["no_data", "no_data", "green", "green", "green"]
    assert [p.get("warmup", False) for p in out["probes"][:3]] == [True, True, False]
    # the control: the same run without a warm-up is red at probe 1 (two consecutive no_data)
    out, _clock = run(tmp_path, window=8, client=RisingClient(10.0), min_canary_requests=20, canary_requests="REQ")
    assert out["verdict"] == "red" and len(out["probes"]) == 2
    # after the warm-up, too few is no data again: 2 probes at the limit
    out, _clock = run(tmp_path, window=12, client=Client(requests=3.0), min_canary_requests=20, canary_requests="REQ",
                      requests_warmup=4.0)
    assert out["verdict"] == "red" and [p.get("warmup", False) for p in out["probes"]] == [True, True, False, False]


class NoUserSeries(Client):
    """A new process that has served only health checks: nothing under the request selector."""

    def query(self, promql):
        return R.empty() if promql == "REQ" else super().query(promql)


def test_no_series_under_the_request_selector_is_zero_requests(tmp_path):
    out, _clock = run(tmp_path, window=8, client=NoUserSeries(), min_canary_requests=20, canary_requests="REQ",
                      requests_warmup=4.0)
    assert out["verdict"] == "red" and "requests: 0 < min_canary_requests 20" in out["reason"]
    assert [p["requests"] for p in out["probes"]] == [{"canary": 0}] * 4
    assert [p.get("warmup", False) for p in out["probes"]] == [True, True, False, False]


def test_min_canary_requests_validated_and_query_built():
    base = {k: v.get("default") for k, v in sw.argument_spec().items()}
    base.update(url="http://p:9090", window=300, interval=30, selector='instance="a:8080"')
    cfg = sw.validate_params(dict(base, min_canary_requests=20))
    hist = 'veza_gin_http_request_duration_seconds_count{instance="a:8080"}'
    assert cfg["canary_requests"] == "sum(%s)" % sw.counts_over(hist, cfg["rate_range"], hist)
    assert sw.validate_params(base)["canary_requests"] is None
    # requests_selector narrows the count, not the target's history (counts_over's third argument)
    narrowed = sw.validate_params(dict(base, min_canary_requests=20, requests_selector='path!="/api/v1/health"'))
    assert narrowed["canary_requests"] == "sum(%s)" % sw.counts_over(
        'veza_gin_http_request_duration_seconds_count{instance="a:8080",path!="/api/v1/health"}',
        narrowed["rate_range"], hist)
    with pytest.raises(sw.PromSliConfigError, match='^requests_selector: .*path!="/api/v1/health"'):
        sw.validate_params(dict(base, min_canary_requests=20, requests_selector="path=/x"))
    with pytest.raises(sw.PromSliConfigError, match="min_canary_requests"):
        sw.validate_params(dict(base, min_canary_requests=-1))
    with pytest.raises(sw.PromSliConfigError, match="control_run_id"):
        sw.validate_params(dict(base, control_file="/tmp/c.jsonl"))
