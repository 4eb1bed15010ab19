# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""haproxy_server_state decisions (module_utils/_drain.py): what is sent for each before-state x wanted
state, changed, check mode. The recording runtime is the real client with its transport replaced, so
every command goes out through the client's write methods (set_server_state, set_weight, ...)."""
from __future__ import annotations

import pytest

from ansible_collections.veza.infra.plugins.module_utils import _drain as m
from ansible_collections.veza.infra.plugins.module_utils._haproxy import HAProxyRuntime

STATES = ("ready", "drain", "maint")


def view(forced="ready", effective=None, weight=100, initial=100, health="enabled", agent="none", scur=0,
         qcur=0, stot=0, inherited=False, fully_up=True):
    return dict(backend="api_pool", server="s2", admin_state=effective or forced, forced_admin_state=forced,
                admin_flags=[], inherited=inherited, operational_state="UP", status="UP", scur=scur, qcur=qcur,
                stot=stot, weight=weight, initial_weight=initial, check_status="L7OK", check_desc=None,
                health_check=health, agent_check=agent, fully_up=fully_up)


# -- plan: before x wanted ------------------------------------------------------------------------
@pytest.mark.parametrize("before", STATES)
@pytest.mark.parametrize("wanted", STATES)
def test_plan_state_matrix(before, wanted):
    cmds, escalate, after = m.plan(view(before), wanted)
    if before == wanted:
        assert cmds == [] and escalate == []
    else:
        assert cmds == ["set server api_pool/s2 state %s" % wanted] and escalate == []
    assert after["admin_state"] == after["forced_admin_state"] == wanted


@pytest.mark.parametrize("before, cmds, escalate", [
    ("ready", ["set server api_pool/s2 state drain"], ["set server api_pool/s2 state maint"]),
    ("drain", [], ["set server api_pool/s2 state maint"]),
    ("maint", [], []),   # already out: never back to drain
])
def test_plan_drain_then_maint(before, cmds, escalate):
    got_cmds, got_escalate, after = m.plan(view(before), "drain", drain_then_maint=True)
    assert (got_cmds, got_escalate) == (cmds, escalate)
    assert after["admin_state"] == "maint"


@pytest.mark.parametrize("weight, current, initial, cmd, after_weight", [
    ("50%", 50, 100, None, 50),       # 50% of 100 is 50: already there
    ("50", 50, 100, None, 50),
    ("50%", 0, 1, None, 0),           # 50% of 1 is 0 in HAProxy's integer arithmetic
    ("50%", 100, 100, "set weight api_pool/s2 50%", 50),
    ("0", 100, 100, "set weight api_pool/s2 0", 0),
    ("100%", 0, 10, "set weight api_pool/s2 100%", 10),
    (7, 100, 100, "set weight api_pool/s2 7", 7),
])
def test_plan_weight(weight, current, initial, cmd, after_weight):
    cmds, dummy, after = m.plan(view(weight=current, initial=initial), "ready", weight=weight)
    assert cmds == ([cmd] if cmd else [])
    assert after["weight"] == after_weight


def test_plan_weight_goes_before_ready():
    cmds, dummy, dummy2 = m.plan(view("maint", weight=0), "ready", weight="100%")
    assert cmds == ["set weight api_pool/s2 100%", "set server api_pool/s2 state ready"]


@pytest.mark.parametrize("current, wanted, cmd", [
    ("enabled", False, "disable health api_pool/s2"),
    ("disabled", True, "enable health api_pool/s2"),
    ("enabled", True, None),
    ("disabled", False, None),
    ("none", False, None),      # nothing configured: already "off"
    ("enabled", None, None),    # unset: left alone
])
def test_plan_health(current, wanted, cmd):
    cmds, dummy, after = m.plan(view(health=current), "ready", health=wanted)
    assert cmds == ([cmd] if cmd else [])
    if cmd:
        assert after["health_check"] == ("enabled" if wanted else "disabled")


def test_plan_agent():
    cmds, dummy, after = m.plan(view(agent="enabled"), "ready", agent=False)
    assert cmds == ["disable agent api_pool/s2"] and after["agent_check"] == "disabled"


def test_plan_ignores_live_counters():
    """scur, stot, status, check results never make a change."""
    busy = view("drain", scur=40, qcur=3, stot=9999, fully_up=False)
    busy.update(status="DOWN", operational_state="DOWN", check_status="L4CON")
    assert m.plan(busy, "drain")[:2] == ([], [])


def test_plan_inherited_maint_predicts_effective_unchanged():
    cmds, dummy, after = m.plan(view("ready", effective="maint", inherited=True), "ready")
    assert cmds == [] and after["admin_state"] == "maint"


# -- drain decision ------------------------------------------------------------------------------
def test_drain_watch_needs_zero_to_hold():
    w = m.DrainWatch(settle=1.0)
    assert w.update(view(scur=2, stot=10), 0.0) is False
    assert w.update(view(scur=0, stot=10), 0.5) is False   # first 0: start of the quiet period
    assert w.update(view(scur=0, stot=10), 1.2) is False   # 0.7 s quiet
    assert w.update(view(scur=0, stot=10), 1.6) is True    # 1.1 s quiet, no new session


def test_drain_watch_cookie_client_between_polls_restarts_settle():
    """scur reads 0 every time, but stot moved: a sticky client came and went between two polls."""
    w = m.DrainWatch(settle=1.0)
    assert w.update(view(scur=0, stot=10), 0.0) is False
    assert w.update(view(scur=0, stot=11), 0.9) is False
    assert w.update(view(scur=0, stot=12), 1.8) is False
    assert w.new_sessions == 2
    assert w.update(view(scur=0, stot=12), 2.9) is True


def test_drain_watch_queue_counts_and_zero_settle():
    w = m.DrainWatch(settle=0)
    assert w.update(view(scur=0, qcur=1), 0.0) is False
    assert w.update(view(scur=0, qcur=0), 0.1) is True


# -- the task with a recording runtime (no HAProxy: decisions only; integration tests use the real one)
class _Exit(BaseException):  # like SystemExit: not caught by the task's own error handling
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed, self.result = failed, result


class FakeModule:
    def __init__(self, check_mode=False, diff=False, **params):
        base = dict(backend="api_pool", server="s2", state="drain", socket="/x.sock", weight=None, health=None,
                    agent=None, wait=True, wait_timeout=5.0, wait_interval=0.1, drain_settle=0.2,
                    drain_then_maint=False, drain_grace=1.0, shutdown_sessions=False, fail_on_not_found=True)
        base.update(params)
        self.params, self.check_mode, self._diff = base, check_mode, diff
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def exit_json(self, **kw):
        raise _Exit(False, kw)

    def fail_json(self, msg, **kw):
        raise _Exit(True, dict(kw, msg=msg))


class RecordingRuntime(HAProxyRuntime):
    """Plays a scripted sequence of server views and records what the task sends (through the
    client's write methods, which end in ``execute``)."""

    def __init__(self, views, level="admin"):  # pylint: disable=super-init-not-called
        self.address = "/x.sock"
        self.views = list(views)
        self.sent = []
        self.level = level

    def cli_level(self):
        return self.level

    def server(self, backend, server):
        return self.views.pop(0) if len(self.views) > 1 else self.views[0]

    def execute(self, command):
        self.sent.append(command)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def run_task(module, runtime):
    clock = Clock()
    task = m.ServerStateTask(module, runtime, clock=clock, sleep=clock.sleep)
    with pytest.raises(_Exit) as exc:
        task.run()
    return exc.value


@pytest.mark.parametrize("before", STATES)
@pytest.mark.parametrize("wanted", STATES)
def test_check_mode_sends_nothing_and_predicts(before, wanted):
    rt = RecordingRuntime([view(before, scur=3)])
    out = run_task(FakeModule(check_mode=True, diff=True, state=wanted), rt)
    assert not out.failed and rt.sent == []
    assert out.result["changed"] is (before != wanted)
    assert out.result["after"]["admin_state"] == wanted
    assert out.result["diff"]["before"]["admin_state"] == before
    assert out.result["diff"]["after"]["admin_state"] == wanted
    assert out.result["commands"] == ([] if before == wanted else ["set server api_pool/s2 state %s" % wanted])


def test_non_admin_socket_fails_before_anything():
    rt = RecordingRuntime([view()], level="operator")
    out = run_task(FakeModule(), rt)
    assert out.failed and "level 'operator'" in out.result["msg"] and rt.sent == []
    assert out.result["changed"] is False


def test_drain_waits_then_returns():
    rt = RecordingRuntime([view("ready", scur=2), view("drain", scur=2), view("drain", scur=1),
                           view("drain", scur=0)])
    out = run_task(FakeModule(), rt)
    assert not out.failed and out.result["changed"] and out.result["waited"]
    assert rt.sent == ["set server api_pool/s2 state drain"]
    assert out.result["elapsed"] >= 0.2


def test_drain_timeout_reports_sessions_left():
    rt = RecordingRuntime([view("ready", scur=3), view("drain", scur=3)])
    out = run_task(FakeModule(wait_timeout=1.0), rt)
    assert out.failed and out.result["sessions_left"] == 3
    assert "3 session(s) left" in out.result["msg"] and out.result["changed"] is True


def test_drain_timeout_with_shutdown_kills():
    rt = RecordingRuntime([view("ready", scur=3), view("drain", scur=3), view("drain", scur=3),
                           view("drain", scur=0)])
    out = run_task(FakeModule(wait_timeout=0.0, shutdown_sessions=True), rt)
    assert not out.failed and out.result["sessions_killed"] == 3
    assert rt.sent[-1] == "shutdown sessions server api_pool/s2"


def test_drain_then_maint_escalates_after_grace():
    sticky = [view("drain", scur=0, stot=n) for n in range(1, 30)]
    rt = RecordingRuntime([view("ready")] + sticky + [view("maint", scur=0, stot=30)])
    out = run_task(FakeModule(drain_then_maint=True, drain_grace=1.0, drain_settle=0.5), rt)
    assert not out.failed and out.result["escalated"] is True
    assert rt.sent == ["set server api_pool/s2 state drain", "set server api_pool/s2 state maint"]


def test_drain_then_maint_drained_in_grace_does_not_escalate():
    rt = RecordingRuntime([view("ready"), view("drain"), view("drain"), view("drain"), view("drain"),
                           view("maint")])
    out = run_task(FakeModule(drain_then_maint=True, drain_grace=5.0, drain_settle=0.2), rt)
    assert not out.failed and out.result["escalated"] is False
    assert rt.sent[-1] == "set server api_pool/s2 state maint"


def test_ready_waits_for_full_health_and_fails_naming_check():
    rt = RecordingRuntime([view("maint"), view("ready", fully_up=False)])
    out = run_task(FakeModule(state="ready", wait_timeout=1.0), rt)
    assert out.failed and "do not report it UP" in out.result["msg"] and "L7OK" in out.result["msg"]


def test_ready_without_checks_warns():
    rt = RecordingRuntime([view("maint", health="none")])
    module = FakeModule(state="ready")
    out = run_task(module, rt)
    assert not out.failed and out.result["waited"] is False
    assert rt.sent == ["set server api_pool/s2 state ready"]
    assert any("no enabled health check" in w for w in module.warnings)


def test_health_true_without_check_fails_clearly():
    rt = RecordingRuntime([view(health="none")])
    out = run_task(FakeModule(state="ready", health=True), rt)
    assert out.failed and "has no health check" in out.result["msg"] and rt.sent == []


class ScurAtSendRuntime(RecordingRuntime):
    """Also records the session count HAProxy showed just before each command."""

    def __init__(self, views):
        super().__init__(views)
        self.last = None
        self.scur_at_send = []

    def server(self, backend, server):
        self.last = super().server(backend, server)
        return self.last

    def execute(self, command):
        self.scur_at_send.append(self.last["scur"] if self.last else None)
        super().execute(command)


def test_drain_then_maint_escalates_at_an_idle_instant_after_grace():
    # A busy sticky server: sessions in flight at every poll past the grace, then one idle poll.
    busy = [view("drain", scur=1, stot=n) for n in range(1, 12)]
    rt = ScurAtSendRuntime([view("ready")] + busy + [view("drain", scur=0, stot=12), view("maint", scur=0, stot=12)])
    out = run_task(FakeModule(drain_then_maint=True, drain_grace=1.0, drain_settle=0.5), rt)
    assert not out.failed and out.result["escalated"] is True
    assert rt.sent == ["set server api_pool/s2 state drain", "set server api_pool/s2 state maint"]
    assert rt.scur_at_send[-1] == 0  # MAINT (which cuts in-flight streams) only when nothing was in flight


def test_drain_then_maint_escalates_anyway_after_a_second_grace():
    busy = [view("drain", scur=1, stot=n) for n in range(1, 400)]
    rt = ScurAtSendRuntime([view("ready")] + busy + [view("maint", scur=0, stot=400)])
    out = run_task(FakeModule(drain_then_maint=True, drain_grace=1.0, drain_settle=0.5), rt)
    assert out.result["escalated"] is True
    assert rt.sent[-1] == "set server api_pool/s2 state maint" and rt.scur_at_send[-1] == 1


# -- hostile input (#14 items 6-9): each failed before its fix ------------------------------------
from ansible_collections.veza.infra.plugins.modules import haproxy_server_state as module  # noqa: E402
from ansible_collections.veza.infra.plugins.module_utils import _haproxy  # noqa: E402


def module_args(**kw):
    out = dict(backend="api_pool", server="s2", state="drain", socket="/nonexistent/admin.sock")
    out.update(kw)
    return out


@pytest.mark.parametrize("field", ["wait_interval", "wait_timeout", "socket_timeout", "drain_settle", "drain_grace"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e308, "nan", "inf"])
def test_non_finite_durations_refused_before_anything_is_sent(run_module, sent_to_haproxy, field, value):
    rc, res = run_module(module, module_args(**{field: value}))
    assert rc != 0 and res["failed"] and res["changed"] is False and res["commands"] == []
    assert field in res["msg"] and "nothing was sent to HAProxy" in res["msg"]
    assert "Traceback" not in res.get("exception", "")
    assert sent_to_haproxy == []


@pytest.mark.parametrize("field", ["wait_interval", "wait_timeout", "socket_timeout", "drain_settle", "drain_grace"])
def test_boolean_as_a_duration_refused(run_module, sent_to_haproxy, field):
    rc, res = run_module(module, module_args(**{field: True}))
    assert rc != 0 and "%s must be a number of seconds, got the boolean True" % field in res["msg"]
    assert sent_to_haproxy == []


@pytest.mark.parametrize("weight", ["\u0665", "\u0661\u0660", "\uff15", "5\u0665%", 7.5, True])
def test_weight_non_ascii_digit_or_not_an_integer_refused(run_module, sent_to_haproxy, weight):
    rc, res = run_module(module, module_args(state="ready", weight=weight))
    assert rc != 0 and "weight" in res["msg"] and "must be an integer 0-256" in res["msg"]
    assert sent_to_haproxy == []


def test_wait_timeout_below_drain_settle_refused_clearly(run_module, sent_to_haproxy):
    rc, res = run_module(module, module_args(wait_timeout=0.5, drain_settle=1))
    assert rc != 0 and "wait_timeout=0.5 is shorter than drain_settle=1.0" in res["msg"]
    assert "raise wait_timeout" in res["msg"] and sent_to_haproxy == []
    # with shutdown_sessions the short wait is meaningful (kill what is left): accepted
    rc, res = run_module(module, module_args(wait_timeout=0.5, drain_settle=1, shutdown_sessions=True))
    assert "shorter than drain_settle" not in res["msg"] and sent_to_haproxy == ["show cli level"]


def test_sleeps_never_pass_the_deadline():
    rt = RecordingRuntime([view("ready", scur=2), view("drain", scur=2)])
    clock = Clock()
    task = m.ServerStateTask(FakeModule(wait_interval=1e9, wait_timeout=2.0), rt, clock=clock, sleep=clock.sleep)
    with pytest.raises(_Exit) as exc:
        task.run()
    assert exc.value.failed and "did not drain within 2.0s" in exc.value.result["msg"]
    assert clock.t == 2.0   # not 1e9


def test_ready_wait_sleeps_capped_too():
    rt = RecordingRuntime([view("maint"), view("ready", fully_up=False)])
    clock = Clock()
    task = m.ServerStateTask(FakeModule(state="ready", wait_interval=1e6, wait_timeout=3.0), rt, clock=clock,
                             sleep=clock.sleep)
    with pytest.raises(_Exit) as exc:
        task.run()
    assert exc.value.failed and clock.t == 3.0


class BreaksAfterSend(RecordingRuntime):
    """Sends fine, then the next read fails (socket gone, or anything else)."""

    def __init__(self, views, error):
        super().__init__(views)
        self.error = error
        self.reads = 0

    def server(self, backend, server):
        self.reads += 1
        if self.sent and self.reads == 2:
            raise self.error
        return super().server(backend, server)


@pytest.mark.parametrize("error", [_haproxy.HAProxyTimeout("socket did not answer"), ValueError("sleep length is nan")])
def test_failure_after_the_drain_went_out_reports_changed_and_state(error):
    rt = BreaksAfterSend([view("ready", scur=2), view("drain", scur=2)], error)
    task = m.ServerStateTask(FakeModule(), rt, clock=Clock(), sleep=Clock().sleep)
    with pytest.raises(_Exit) as exc:
        task.execute()
    res = exc.value.result
    assert exc.value.failed and res["changed"] is True
    assert res["commands"] == ["set server api_pool/s2 state drain"]
    assert "already changed before the failure: set server api_pool/s2 state drain" in res["msg"]
    assert "the server was left in DRAIN" in res["msg"] and res["after"]["admin_state"] == "drain"


def test_failure_after_send_when_state_cannot_be_read_back():
    class Dead(RecordingRuntime):
        def server(self, backend, server):
            if self.sent:
                raise _haproxy.HAProxyUnreachable("connection refused")
            return super().server(backend, server)
    rt = Dead([view("ready", scur=2)])
    task = m.ServerStateTask(FakeModule(), rt, clock=Clock(), sleep=Clock().sleep)
    with pytest.raises(_Exit) as exc:
        task.execute()
    assert exc.value.result["changed"] is True and "could not be read back" in exc.value.result["msg"]


def test_check_mode_lists_shutdown_sessions_for_maint_with_sessions():
    rt = RecordingRuntime([view("ready", scur=3)])
    out = run_task(FakeModule(check_mode=True, state="maint", shutdown_sessions=True), rt)
    assert out.result["commands"] == ["set server api_pool/s2 state maint", "shutdown sessions server api_pool/s2"]
    assert out.result["sessions_killed"] == 3 and rt.sent == []
    real = RecordingRuntime([view("ready", scur=3), view("maint", scur=3), view("maint", scur=0)])
    done = run_task(FakeModule(state="maint", shutdown_sessions=True), real)
    assert done.result["commands"] == out.result["commands"] == real.sent
    idle = run_task(FakeModule(check_mode=True, state="maint", shutdown_sessions=True), RecordingRuntime([view()]))
    assert idle.result["commands"] == ["set server api_pool/s2 state maint"]


@pytest.mark.parametrize("algo", ["static-rr"])
@pytest.mark.parametrize("check_mode", [False, True])
def test_weight_on_static_algorithm_refused_before_anything(algo, check_mode):
    before = dict(view(health="enabled"), algo=algo)
    rt = RecordingRuntime([before])
    out = run_task(FakeModule(check_mode=check_mode, state="drain", weight=5, health=False), rt)
    assert out.failed and out.result["changed"] is False and rt.sent == []
    assert "static LB algorithm" in out.result["msg"] and "nothing was changed" in out.result["msg"]
    ok = run_task(FakeModule(check_mode=check_mode, state="ready", weight="0%"), RecordingRuntime([before]))
    assert not ok.failed and ok.result["changed"] is True   # 0% and 100% are accepted


class Refuses(RecordingRuntime):
    """HAProxy refuses one command (as for a weight on `balance source`)."""

    def __init__(self, views, refused_prefix):
        super().__init__(views)
        self.refused_prefix = refused_prefix

    def execute(self, command):
        if command.startswith(self.refused_prefix):
            raise _haproxy.error_for(command, "Backend is using a static LB algorithm and only accepts weights "
                                              "'0%' and '100%'.\n", self.address)
        super().execute(command)


def test_haproxy_refusal_first_command_nothing_changed():
    rt = Refuses([dict(view(), algo="source")], "set weight")
    clock = Clock()
    task = m.ServerStateTask(FakeModule(state="ready", weight=5), rt, clock=clock, sleep=clock.sleep)
    with pytest.raises(_Exit) as exc:
        task.execute()
    res = exc.value.result
    assert exc.value.failed and res["changed"] is False and "static LB algorithm" in res["msg"]
    assert "nothing was changed (HAProxy refused set weight api_pool/s2 5)" in res["msg"]


def test_haproxy_refusal_after_an_accepted_command_says_what_changed():
    rt = Refuses([dict(view(), algo="source")], "set weight")
    clock = Clock()
    task = m.ServerStateTask(FakeModule(state="ready", weight=5, health=False), rt, clock=clock, sleep=clock.sleep)
    with pytest.raises(_Exit) as exc:
        task.execute()
    res = exc.value.result
    assert exc.value.failed and res["changed"] is True
    assert res["commands"] == ["disable health api_pool/s2", "set weight api_pool/s2 5"]
    assert "already changed before the failure: disable health api_pool/s2;" in res["msg"]


@pytest.mark.parametrize("before, wanted, status, flags", [
    ("ready", "drain", "DRAIN", ["FDRAIN"]),
    ("ready", "maint", "MAINT", ["FMAINT"]),
    ("maint", "ready", "UP", []),
    ("drain", "ready", "UP", []),
    ("drain", "maint", "MAINT", ["FMAINT"]),
])
def test_check_mode_predicts_status_and_flags(before, wanted, status, flags):
    start = view(before)
    start.update(status={"ready": "UP", "drain": "DRAIN", "maint": "MAINT"}[before],
                 admin_flags={"ready": [], "drain": ["FDRAIN"], "maint": ["FMAINT"]}[before])
    out = run_task(FakeModule(check_mode=True, state=wanted), RecordingRuntime([start]))
    assert (out.result["after"]["status"], out.result["after"]["admin_flags"]) == (status, flags)


# -- share (the canary's traffic ramp, #16) --------------------------------------------------------
class PoolRuntime(RecordingRuntime):
    """RecordingRuntime with the backend's other servers (``servers()``) for the share arithmetic."""

    def __init__(self, views, peers):
        super().__init__(views)
        self.peers = peers

    def servers(self, backend):
        return [self.server(backend, "s2")] + list(self.peers)


def peer(name, weight=100, admin="ready", op="UP"):
    return dict(view(admin, weight=weight), server=name, operational_state=op)


@pytest.mark.parametrize("share, cmds, weight, effective", [
    (5, ["set weight api_pool/s2 5"], 5, 4.76),
    (0, ["set weight api_pool/s2 0"], 0, 0.0),
    (100, [], 100, 50.0),                                # already at its configured weight
])
def test_share_sets_the_weight_against_peers_in_rotation(share, cmds, weight, effective):
    peers = [peer("s1"), peer("s3", admin="maint"), peer("s4", op="DOWN"), peer("s5", weight=0)]
    rt = PoolRuntime([view("ready")], peers)
    out = run_task(FakeModule(state="ready", share=share, wait=False), rt)
    assert not out.failed, out.result
    assert rt.sent == cmds
    assert out.result["share"]["weight"] == weight and out.result["share"]["peers"] == ["s1"]
    assert out.result["share"]["peers_weight"] == 100 and out.result["share"]["effective"] == effective


def test_share_100_restores_the_configured_weight_after_a_step():
    rt = PoolRuntime([view("ready", weight=5)], [peer("s1")])
    out = run_task(FakeModule(state="ready", share=100, wait=False), rt)
    assert rt.sent == ["set weight api_pool/s2 100%"] and out.result["changed"]


def test_share_check_mode_predicts_and_sends_nothing():
    rt = PoolRuntime([view("ready")], [peer("s1")])
    out = run_task(FakeModule(check_mode=True, state="ready", share=5, wait=False), rt)
    assert rt.sent == [] and out.result["commands"] == ["set weight api_pool/s2 5"]
    assert out.result["after"]["weight"] == 5


def test_share_without_peers_in_rotation_fails_before_sending():
    rt = PoolRuntime([view("ready")], [peer("s1", admin="maint")])
    out = run_task(FakeModule(state="ready", share=5, wait=False), rt)
    assert out.failed and rt.sent == []
    assert "no other server" in out.result["msg"] and "nothing was changed" in out.result["msg"]


@pytest.mark.parametrize("params, needle", [
    (dict(share=5, weight="5", state="ready"), "mutually exclusive"),
    (dict(share=5, state="drain"), "only applies to state=ready"),
    (dict(share=101, state="ready"), "from 0 to 100"),
    (dict(share=float("nan"), state="ready"), "from 0 to 100"),
])
def test_share_bad_arguments_refused(params, needle):
    problems = m.check_params(dict(FakeModule(**params).params))
    assert any(needle in p for p in problems), problems
