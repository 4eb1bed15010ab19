# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Property tests (hypothesis): haproxy_server_state and deploy_lock argument validation, the drain
planner, the lock's decision, and no wait beyond its deadline plus one interval. Bounded examples;
derandomized (fixed seed) when CI is set."""
from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.veza.infra.plugins.module_utils import _deploy_lock as dl
from ansible_collections.veza.infra.plugins.module_utils import _drain
from ansible_collections.veza.infra.plugins.module_utils import _haproxy
from ansible_collections.veza.infra.plugins.modules import deploy_lock as lock_module
from ansible_collections.veza.infra.plugins.modules import haproxy_server_state as hss_module

# Per test (not a global profile): bounded, no example database in the tree, a fixed seed in CI.
BOUNDED = settings(max_examples=60, deadline=None, derandomize=bool(os.environ.get("CI")), database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ANY = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                st.sampled_from(["nan", "inf", "1e308", "-1", "0", "5", "\u0665", "50%", "true"]),
                st.lists(st.integers(), max_size=2))
NUMS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10 ** 9), st.booleans(),
                 st.sampled_from(["nan", "inf", "1e308", "x", "0.5", ""]))


SERVER_STATE_OPTIONS = ["wait_interval", "wait_timeout", "socket_timeout", "drain_settle", "drain_grace", "weight",
                        "state", "backend", "server", "wait", "drain_then_maint", "shutdown_sessions", "health"]
LOCK_OPTIONS = ["run_id", "owner", "state", "stale_after", "pid", "pid_start", "force", "break_stale",
                "run_started_ago", "dead_holder"]


@BOUNDED
@given(extra=st.dictionaries(st.sampled_from(SERVER_STATE_OPTIONS), st.one_of(ANY, NUMS), max_size=5))
def test_server_state_validation_never_escapes_nothing_sent_on_failure(run_module, sent_to_haproxy, extra):
    args = dict(backend="api_pool", server="s2", state="drain", socket="/nonexistent/x.sock")
    args.update(extra)
    sent = sent_to_haproxy
    sent.clear()
    rc, res = run_module(hss_module, args)
    assert "exception" not in res or "Traceback" not in res["exception"], res
    if rc != 0 and "nothing was sent to HAProxy" in res.get("msg", ""):
        assert sent == [] and res["changed"] is False
    if sent:   # validation passed: every duration it let through is finite and in range
        for field, (low, strict, high) in _drain.DURATIONS.items():
            value = res["invocation"]["module_args"][field]
            assert not isinstance(extra.get(field), bool)
            assert math.isfinite(value) and (value > low if strict else value >= low) and value <= high


@BOUNDED
@given(extra=st.dictionaries(st.sampled_from(LOCK_OPTIONS), ANY, max_size=5))
def test_deploy_lock_validation_never_escapes(run_module, tmp_path_factory, extra):
    path = tmp_path_factory.mktemp("lock") / "canary.lock"
    args = dict(path=str(path), owner="a@b", run_id="r1")
    args.update(extra)
    rc, res = run_module(lock_module, args)
    assert "Traceback" not in str(res.get("exception", "")), res
    if rc != 0 and "the lock was not touched" in res.get("msg", ""):
        assert not path.exists()


def _view(forced, inherited=False, health="enabled", agent="none", weight=100, initial=100, scur=0, algo=None):
    flags = {"ready": [], "drain": ["FDRAIN"], "maint": ["FMAINT"]}[forced]
    return dict(backend="api_pool", server="s2", admin_state=forced, forced_admin_state=forced, admin_flags=flags,
                inherited=inherited, operational_state="UP",
                status={"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[forced],
                scur=scur, qcur=0, stot=0, weight=weight, initial_weight=initial, check_status="L7OK",
                check_desc=None, health_check=health, agent_check=agent, fully_up=True, algo=algo)


STATES = st.sampled_from(["ready", "drain", "maint"])
WEIGHTS = st.one_of(st.none(), st.integers(0, 256), st.integers(0, 300).map(lambda n: "%d%%" % n))


@BOUNDED
@given(before=STATES, wanted=STATES, weight=WEIGHTS, health=st.sampled_from([None, True, False]),
       agent=st.sampled_from([None, True, False]), dtm=st.booleans(), current_w=st.integers(0, 256),
       initial=st.integers(0, 256), hc=st.sampled_from(["enabled", "disabled", "none"]))
def test_drain_planner(before, wanted, weight, health, agent, dtm, current_w, initial, hc):
    dtm = dtm and wanted == "drain"
    view = _view(before, health=hc, weight=current_w, initial=initial)
    cmds, escalate, after = _drain.plan(view, wanted, weight, health, agent, dtm)
    # every step is the exact command the client's write method would send
    for step in cmds + escalate:
        assert step == _drain._COMMANDS[step.method](*step.args)
    # applying the plan reaches the prediction, and planning again from it sends nothing (idempotence)
    again = _drain.plan(dict(after), wanted if not dtm else "maint", weight, health, agent, False)
    assert again[0] == [] and again[1] == []
    assert after["admin_state"] == ("maint" if dtm else wanted)
    assert after["status"] == {"maint": "MAINT", "drain": "DRAIN"}.get(after["admin_state"], after["status"])
    assert ("FMAINT" in after["admin_flags"]) == (after["admin_state"] == "maint")
    state_cmds = [c for c in cmds if c.method == "set_server_state"]
    assert len(state_cmds) <= 1 and (state_cmds == []) == (before == wanted or (dtm and before != "ready"))


class Lock:
    pass


LOCKS = st.one_of(st.just({}), st.fixed_dictionaries({
    "run_id": st.sampled_from(["me", "other", None, ""]), "owner": st.text(max_size=4)}))


@BOUNDED
@given(current=LOCKS, state=st.sampled_from(["present", "absent", "query"]), force=st.booleans(),
       break_stale=st.booleans(), age=st.floats(0, 10 ** 5), stale_after=st.integers(1, 10 ** 4),
       dead=st.sampled_from([None, "other", "x"]), started=st.one_of(st.none(), st.floats(0, 10 ** 5)))
def test_lock_decision(current, state, force, break_stale, age, stale_after, dead, started):
    p = dict(path="/l", state=state, run_id="me", force=force, break_stale=break_stale, stale_after=stale_after,
             dead_holder=dead, run_started_ago=started)
    d = dl.decide(current, p, age)
    ours = bool(current) and current.get("run_id") == "me"
    assert d["action"] in ("report", "keep", "create", "takeover", "release", "noop", "refuse")
    if state == "query":
        assert d["action"] == "report"
    if d["action"] == "takeover":
        # only a lock of another run, only with force / stale+break_stale / the dead holder itself
        assert current and not ours
        assert force or (break_stale and age > stale_after) or current.get("run_id") == dead
        if force and started is not None and current.get("run_id") != dead and not (break_stale and age > stale_after):
            assert age >= started   # never a lock taken after this run started
        assert d["warn"] and "taking over the deploy lock" in d["warn"]
    if d["action"] == "create":
        assert not current
    if d["action"] == "refuse":
        assert d["msg"]
    if state == "present" and ours:
        assert d["action"] == "keep"


@BOUNDED
@given(created=st.one_of(ANY, st.floats(-1e12, 1e12)), mtime=st.one_of(st.none(), st.floats(-1e12, 1e12)),
       now=st.floats(1e9, 2e9))
def test_lock_age_total(created, mtime, now):
    age, source, warning = dl.lock_age({"created": created}, now, mtime)
    assert math.isfinite(age) and age >= 0 and source in ("created", "mtime", "future")
    assert (warning is None) == (source == "created")


class FakeClock:
    def __init__(self, poll_cost):
        self.t = 0.0
        self.poll_cost = poll_cost

    def __call__(self):
        return self.t

    def sleep(self, s):
        assert s >= 0 and math.isfinite(s)
        self.t += s


class _Exit(BaseException):
    def __init__(self, failed, result):
        super().__init__()
        self.failed, self.result = failed, result


class _Module:
    def __init__(self, **params):
        self.params, self.check_mode, self._diff = params, False, False

    def warn(self, msg):
        pass

    def exit_json(self, **kw):
        raise _Exit(False, kw)

    def fail_json(self, msg, **kw):
        raise _Exit(True, dict(kw, msg=msg))


class _Runtime(_haproxy.HAProxyRuntime):
    def __init__(self, clock, scur_seq, state):  # pylint: disable=super-init-not-called
        self.address = "/x.sock"
        self.clock, self.scur_seq, self.state, self.polls = clock, list(scur_seq), state, 0

    def cli_level(self):
        return "admin"

    def server(self, backend, server):
        self.clock.t += self.clock.poll_cost
        scur = self.scur_seq[min(self.polls, len(self.scur_seq) - 1)]
        self.polls += 1
        v = _view(self.state, scur=scur)
        v["fully_up"] = scur == 0
        return v

    def execute(self, command):
        if " state " in command:
            self.state = command.rsplit(" ", 1)[1]


@BOUNDED
@given(wait_timeout=st.floats(0, 50), interval=st.floats(0.001, 1e6), settle=st.floats(0, 5),
       grace=st.floats(0, 50), dtm=st.booleans(), shutdown=st.booleans(), wanted=STATES,
       scur=st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_no_wait_beyond_deadline_plus_one_interval(wait_timeout, interval, settle, grace, dtm, shutdown, wanted, scur):
    dtm = dtm and wanted == "drain"
    clock = FakeClock(poll_cost=0.0)
    params = dict(backend="api_pool", server="s2", state=wanted, socket="/x.sock", weight=None, health=None,
                  agent=None, wait=True, wait_timeout=wait_timeout, wait_interval=interval, drain_settle=settle,
                  drain_then_maint=dtm, drain_grace=grace, shutdown_sessions=shutdown, fail_on_not_found=True)
    rt = _Runtime(clock, scur, "ready" if wanted != "ready" else "maint")
    task = _drain.ServerStateTask(_Module(**params), rt, clock=clock, sleep=clock.sleep)
    with pytest.raises(_Exit):
        task.execute()
    assert clock.t <= wait_timeout + min(interval, wait_timeout) + 1e-6
