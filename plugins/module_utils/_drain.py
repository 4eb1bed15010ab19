# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!
"""The drain policy of haproxy_server_state, beside the runtime client whose write API it uses.

* ``check_params``: argument validation beyond Ansible's types (finite durations, no booleans in
  numbers, names, weight); nothing is sent when it finds a problem.
* ``plan``: what to send for a server view -> wanted state, as ``Step`` s (a command text that
  also knows the client write method sending it), and the predicted view after.
* ``DrainWatch``: when a server counts as drained.
* ``ServerStateTask``: the run (check mode, sends, waits, escalation, failure reports) with an
  injectable clock and sleep; every command goes out through ``HAProxyRuntime``'s write methods.
"""
from __future__ import annotations

import time

from ansible_collections.veza.infra.plugins.module_utils._haproxy import (
    ADMF_CMAINT,
    ADMF_FDRAIN,
    ADMF_FMAINT,
    HAProxyCommandError,
    HAProxyNotFound,
    HAProxyRuntimeError,
    HASH_ALGOS,
    MAX_TIMEOUT,
    admin_flag_names,
    agent_command,
    check_name,
    check_seconds,
    health_command,
    parse_weight,
    resolve_weight,
    shutdown_sessions_command,
    state_command,
    weight_command,
    weight_refusal,
)
from ansible_collections.veza.infra.plugins.module_utils._ramp import RampError, fmt_share, pool_share, share_weight

DIFF_KEYS = ("admin_state", "weight", "health_check", "agent_check")
REPORT_KEYS = ("admin_state", "forced_admin_state", "admin_flags", "operational_state", "status", "scur",
               "qcur", "weight", "initial_weight", "check_status", "health_check", "agent_check")
MAX_WAIT = 86400.0   # s: the longest wait_timeout / drain_grace / drain_settle / wait_interval accepted

# option -> (minimum, strictly above the minimum, maximum)
DURATIONS = {
    "socket_timeout": (0, True, MAX_TIMEOUT),
    "wait_timeout": (0, False, MAX_WAIT),
    "wait_interval": (0, True, MAX_WAIT),
    "drain_settle": (0, False, MAX_WAIT),
    "drain_grace": (0, False, MAX_WAIT),
}
BOOL_OPTIONS = ("health", "agent", "wait", "drain_then_maint", "shutdown_sessions", "fail_on_not_found")


def check_params(p, raw=None):
    """Problems with the module's parameters ``p`` (after Ansible's type conversion), as messages.

    ``raw`` holds the arguments as given, before conversion: Ansible turns ``true`` into ``1.0`` for
    a float option, so a boolean is only visible there.
    """
    raw = raw or {}
    problems = []
    for field in ("backend", "server"):
        try:
            check_name(p.get(field), field)
        except HAProxyRuntimeError as exc:
            problems.append(exc.message)
    if p.get("weight") is not None:
        if isinstance(raw.get("weight"), (bool, float)):
            problems.append("weight %r must be an integer 0-256 or a percentage like '50%%', not a %s"
                            % (raw["weight"], type(raw["weight"]).__name__))
        else:
            try:
                parse_weight(p["weight"])
            except HAProxyRuntimeError as exc:
                problems.append(exc.message)
    for field, (minimum, strict, maximum) in DURATIONS.items():
        value = raw.get(field, p.get(field))
        if isinstance(value, bool):
            problems.append("%s must be a number of seconds, got the boolean %s" % (field, value))
            continue
        try:
            check_seconds(p.get(field), field, minimum=minimum, maximum=maximum, strict=strict)
        except HAProxyRuntimeError as exc:
            problems.append(exc.message)
    share = p.get("share")
    if share is not None:
        if isinstance(raw.get("share"), bool) or not isinstance(share, (int, float)) or not 0 <= share <= 100:
            problems.append("share must be a traffic share from 0 to 100 percent, got %r" % (raw.get("share", share),))
        elif p.get("weight") is not None:
            problems.append("share and weight are mutually exclusive: share computes the weight from the peers' "
                            "weights; give one of them")
        elif p.get("state") != "ready":
            problems.append("share only applies to state=ready (got state=%s): a drained or maintenance server "
                            "takes no balanced traffic" % p.get("state"))
    if problems:
        return problems
    if p.get("state") not in ("ready", "drain", "maint"):
        problems.append("state must be one of ready, drain, maint (got %r)" % (p.get("state"),))
    if p.get("drain_then_maint") and p.get("state") != "drain":
        problems.append("drain_then_maint=true only applies to state=drain (got state=%s)" % p.get("state"))
    if p.get("drain_then_maint") and not p.get("wait"):
        problems.append("drain_then_maint=true needs wait=true: the escalation to MAINT happens during the wait")
    if (p.get("wait") and p.get("state") in ("drain", "maint") and not p.get("shutdown_sessions")
            and p["wait_timeout"] < p["drain_settle"]):
        problems.append("wait_timeout=%s is shorter than drain_settle=%s: a drain can never be confirmed in time; "
                        "raise wait_timeout above drain_settle (or lower drain_settle)"
                        % (p["wait_timeout"], p["drain_settle"]))
    return problems


_COMMANDS = {
    "set_server_state": state_command,
    "set_weight": weight_command,
    "shutdown_sessions": shutdown_sessions_command,
    "set_health": health_command,
    "set_agent": agent_command,
}


class Step(str):
    """A runtime API command: its text (what is reported) and the client write method that sends it.

    ``Step("set_weight", "api_pool", "s2", "50%") == "set weight api_pool/s2 50%"``; ``step.send(rt)``
    calls ``rt.set_weight("api_pool", "s2", "50%")``, which builds and sends the same text.
    """

    def __new__(cls, method, *args):
        obj = str.__new__(cls, _COMMANDS[method](*args))
        obj.method, obj.args = method, args
        return obj

    def send(self, runtime):
        return getattr(runtime, self.method)(*self.args)


def _predicted_flags(before, final):
    flags = 0
    for bit, name in ((ADMF_FMAINT, "FMAINT"), (ADMF_CMAINT, "CMAINT"), (ADMF_FDRAIN, "FDRAIN")):
        if name in (before.get("admin_flags") or []):
            flags |= bit
    inherited = [f for f in (before.get("admin_flags") or []) if f not in ("FMAINT", "CMAINT", "FDRAIN")]
    flags &= ~(ADMF_FMAINT | ADMF_CMAINT | ADMF_FDRAIN)
    flags |= {"maint": ADMF_FMAINT, "drain": ADMF_FDRAIN}.get(final, 0)
    own = admin_flag_names(flags)
    order = ("FMAINT", "IMAINT", "CMAINT", "FDRAIN", "IDRAIN", "RMAINT", "HMAINT")
    return sorted(set(own) | set(inherited), key=lambda n: order.index(n) if n in order else len(order))


def _predicted_status(before, after):
    if after["admin_state"] == "maint":
        return "MAINT"
    if before.get("operational_state") == "DOWN" and before.get("admin_state") != "maint":
        return before.get("status")
    if after["admin_state"] == "drain":
        return "DRAIN"
    if before.get("admin_state") == "ready":
        return before.get("status")
    return "no check" if after.get("health_check") in ("none", "disabled") else "UP"


def plan(before, state, weight=None, health=None, agent=None, drain_then_maint=False):
    """What to send for ``before`` -> wanted: ``(steps, escalation_steps, predicted_after)``.

    ``steps`` go out at once; ``escalation_steps`` (drain_then_maint) after the drain phase. Only
    admin settings are compared: forced admin state, user weight, check toggles. The prediction
    also carries the admin flags and ``status`` the server will show.
    """
    be, srv = before["backend"], before["server"]
    cmds, escalate = [], []
    after = dict(before)
    if health is not None and before["health_check"] != "none":
        if (before["health_check"] == "enabled") != health:
            cmds.append(Step("set_health", be, srv, health))
            after["health_check"] = "enabled" if health else "disabled"
    if agent is not None and before["agent_check"] != "none":
        if (before["agent_check"] == "enabled") != agent:
            cmds.append(Step("set_agent", be, srv, agent))
            after["agent_check"] = "enabled" if agent else "disabled"
    if weight is not None:
        target = resolve_weight(weight, before["initial_weight"])
        if target != before["weight"]:
            cmds.append(Step("set_weight", be, srv, weight))
            after["weight"] = target
    current = before["forced_admin_state"]
    if state == "drain" and drain_then_maint:
        if current == "ready":
            cmds.append(Step("set_server_state", be, srv, "drain"))
        if current in ("ready", "drain"):
            escalate.append(Step("set_server_state", be, srv, "maint"))
        final = "maint"
    else:
        if current != state:
            cmds.append(Step("set_server_state", be, srv, state))
        final = state
    after["forced_admin_state"] = final
    if not before.get("inherited"):
        after["admin_state"] = final
    after["admin_flags"] = _predicted_flags(before, final)
    after["status"] = _predicted_status(before, after)
    return cmds, escalate, after


def report(view):
    return dict((k, view.get(k)) for k in REPORT_KEYS)


def diff_view(view):
    return dict((k, view.get(k)) for k in DIFF_KEYS)


def sessions(view):
    return (view.get("scur") or 0) + (view.get("qcur") or 0)


class DrainWatch:
    """Decides when a server has drained: 0 sessions that stay 0, with no new session, for ``settle`` s."""

    def __init__(self, settle):
        self.settle = settle
        self.quiet_since = None
        self.quiet_stot = None
        self.new_sessions = 0     # sessions that arrived while we watched (persistent clients)
        self._last_stot = None

    def update(self, view, now):
        stot = view.get("stot") or 0
        if self._last_stot is not None and stot > self._last_stot:
            self.new_sessions += stot - self._last_stot
        self._last_stot = stot
        if sessions(view) > 0:
            self.quiet_since = None
            return False
        if self.quiet_since is None or stot != self.quiet_stot:
            self.quiet_since, self.quiet_stot = now, stot
        return now - self.quiet_since >= self.settle

    def restart(self):
        self.quiet_since = None


class ServerStateTask:
    """One run of haproxy_server_state: ``module`` gives params, check/diff mode, warn/exit/fail."""

    def __init__(self, module, runtime=None, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.p = module.params
        self.rt = runtime
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.accepted = []       # commands HAProxy took
        self.in_flight = None    # the command being sent when something broke
        self.result = dict(changed=False, found=True, commands=[], waited=False, escalated=False,
                           sessions_killed=0, elapsed=0.0)

    def elapsed(self):
        return round(self.clock() - self.start, 3)

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.result["elapsed"] = self.elapsed()
        self.module.fail_json(msg=msg, **self.result)

    def send(self, step):
        self.result["commands"].append(str(step))
        self.in_flight = step
        try:
            step.send(self.rt)
        except HAProxyCommandError:
            self.in_flight = None   # HAProxy answered: refused, nothing changed by this one
            raise
        self.in_flight = None
        self.accepted.append(str(step))

    def view(self):
        return self.rt.server(self.p["backend"], self.p["server"])

    def pause(self, seconds, deadline):
        """Sleep ``seconds``, never past ``deadline``."""
        left = deadline - self.clock()
        if left > 0:
            self.sleep(min(seconds, left))

    # -- the run ------------------------------------------------------------------------------------
    def execute(self):
        """``run()``, and a failure after something was sent reports it: changed, commands, state left."""
        try:
            self.run()
        except HAProxyRuntimeError as exc:
            self.fail_after(exc.message)
        except Exception as exc:  # pylint: disable=broad-except  # report what was sent, never a bare traceback
            self.fail_after("unexpected error: %s: %s" % (type(exc).__name__, exc))

    def fail_after(self, message):
        changed = bool(self.accepted) or self.in_flight is not None
        self.result["changed"] = changed
        if not changed:
            if self.result["commands"]:
                self.fail("%s; nothing was changed (HAProxy refused %s)" % (message, self.result["commands"][-1]))
            self.fail("%s; nothing was changed" % message)
        sent = self.accepted + ([str(self.in_flight)] if self.in_flight is not None else [])
        try:
            left = self.view()
        except Exception as exc:  # pylint: disable=broad-except
            where = "its state could not be read back (%s)" % (getattr(exc, "message", None) or exc)
        else:
            self.result["after"] = report(left)
            where = "the server was left in %s (status %s, weight %s)" % (
                left["admin_state"].upper(), left.get("status"), left.get("weight"))
        self.fail("%s; already changed before the failure: %s; %s" % (message, ", ".join(sent), where))

    def run(self):
        p = self.p
        backend, server = p["backend"], p["server"]
        level = self.rt.cli_level()
        if level not in (None, "admin"):
            self.fail("the stats socket %s is at level '%s'; this module needs 'level admin' (e.g. "
                      "'stats socket /run/haproxy/admin.sock mode 660 level admin'); nothing was changed"
                      % (p["socket"], level))
        try:
            before = self.view()
        except HAProxyNotFound as exc:
            if p["fail_on_not_found"]:
                self.fail("%s/%s: %s" % (backend, server, exc.message))
            self.module.warn("%s/%s not found: %s" % (backend, server, exc.message))
            self.result.update(found=False, elapsed=self.elapsed())
            self.module.exit_json(**self.result)
        for toggle in ("health", "agent"):
            if p[toggle] and before["%s_check" % toggle] == "none":
                self.fail("%s=true but %s/%s has no %s check in the HAProxy configuration; add '%s' to its "
                          "server line or leave %s unset" % (toggle, backend, server, toggle,
                                                             "check" if toggle == "health" else "agent-check",
                                                             toggle), before=report(before))
        weight = p["weight"]
        if p.get("share") is not None:
            weight = self.share_to_weight(before)
        cmds, escalate, predicted = plan(before, p["state"], weight, p["health"], p["agent"],
                                         p["drain_then_maint"])
        if weight is not None and any(c.method == "set_weight" for c in cmds):
            refusal = weight_refusal(before.get("algo"), weight, before["initial_weight"])
            if refusal:
                self.fail("%s/%s: HAProxy would refuse the weight: %s; nothing was changed (use weight 0%% or "
                          "100%%, or a dynamic balance algorithm)" % (backend, server, refusal),
                          before=report(before))
            if before.get("algo") in HASH_ALGOS:
                self.module.warn("%s uses balance %s: unless it has 'hash-type consistent', HAProxy only accepts "
                                 "weights 0%% and 100%% there" % (backend, before["algo"]))
        kill = []
        if p["state"] == "maint" and p["shutdown_sessions"] and sessions(before):
            kill = [Step("shutdown_sessions", backend, server)]
        changed = bool(cmds or escalate)
        self.result.update(changed=changed, before=report(before))
        if self.module._diff:
            self.result["diff"] = dict(before=diff_view(before), after=diff_view(predicted))
        if before.get("inherited") and p["state"] != before["admin_state"]:
            self.module.warn("%s/%s is in %s inherited from a tracked server or a DNS failure (flags %s); "
                             "setting its own state does not change that"
                             % (backend, server, before["admin_state"].upper(), ", ".join(before["admin_flags"])))
        if self.module.check_mode:
            if kill:
                predicted = dict(predicted, scur=0, qcur=0)
                self.result["sessions_killed"] = sessions(before)
            self.result.update(commands=[str(c) for c in cmds + kill + escalate], after=report(predicted),
                               elapsed=self.elapsed())
            self.module.exit_json(**self.result)

        for cmd in cmds:
            self.send(cmd)
        if p["state"] == "ready":
            after = self.wait_ready()
        elif p["state"] == "maint":
            if p["shutdown_sessions"]:
                self.kill_sessions(self.view())
            after = self.wait_drained([]) if p["wait"] else self.view()
        else:
            after = self.wait_drained(escalate) if p["wait"] else self.view()
        self.result.update(after=report(after), elapsed=self.elapsed())
        if self.module._diff:
            self.result["diff"] = dict(before=diff_view(before), after=diff_view(after))
        self.module.exit_json(**self.result)

    def share_to_weight(self, before):
        """The weight of ``share`` (``_ramp.share_weight``) against the other servers in rotation: ready,
        not DOWN, user weight above 0. Records RV(share); fails (nothing sent) when it cannot be had."""
        p = self.p
        peers = [v for v in self.rt.servers(p["backend"])
                 if v["server"] != p["server"] and v["admin_state"] == "ready"
                 and v["operational_state"] in ("UP", "STARTING", "STOPPING") and (v["weight"] or 0) > 0]
        weights = [v["weight"] for v in peers]
        try:
            weight = share_weight(p["share"], weights, before["initial_weight"])
        except RampError as exc:
            self.fail("%s/%s: %s; nothing was changed" % (p["backend"], p["server"], exc), before=report(before))
        got = 100.0 if p["share"] == 100 and not weights else pool_share(weight, weights)
        self.result["share"] = {"target": p["share"], "weight": weight, "peers": [v["server"] for v in peers],
                                "peers_weight": sum(weights), "effective": round(got, 2)}
        if abs(got - p["share"]) > 1:
            self.module.warn("%s/%s: share %s%% is %s%% at the nearest weight %d against the peers' %d"
                             % (p["backend"], p["server"], fmt_share(p["share"]), fmt_share(round(got, 2)), weight,
                                sum(weights)))
        return "100%" if p["share"] == 100 else str(weight)

    def kill_sessions(self, view):
        n = sessions(view)
        if n:
            self.send(Step("shutdown_sessions", self.p["backend"], self.p["server"]))
            self.result["sessions_killed"] += n
        return n

    def wait_ready(self):
        view = self.view()
        if not self.p["wait"]:
            return view
        if view["health_check"] != "enabled":
            self.module.warn("%s/%s has no enabled health check: not waiting for UP (operational state %s)"
                             % (self.p["backend"], self.p["server"], view["operational_state"]))
            return view
        deadline = self.start + self.p["wait_timeout"]
        self.result["waited"] = True
        while not view["fully_up"]:
            if self.clock() >= deadline:
                self.fail("%s/%s is ready but health checks do not report it UP after %.1fs: status %s, last "
                          "check %s%s" % (self.p["backend"], self.p["server"], self.elapsed(), view["status"],
                                          view["check_status"],
                                          " (%s)" % view["check_desc"] if view.get("check_desc") else ""),
                          after=report(view))
            self.pause(self.p["wait_interval"], deadline)
            view = self.view()
        return view

    def wait_drained(self, escalate):
        p = self.p
        self.result["waited"] = True
        watch = DrainWatch(p["drain_settle"])
        deadline = self.start + p["wait_timeout"]
        grace_end = self.start + p["drain_grace"]
        while True:
            view = self.view()
            now = self.clock()
            drained = watch.update(view, now)
            # Past the grace, escalate at an idle instant (no session in flight): with
            # `on-marked-down shutdown-sessions`, HAProxy cuts the streams of a server entering
            # MAINT, so a cookie client's request caught in flight would fail. Sticky traffic
            # leaves such instants between requests; a busy server escalates after a second grace,
            # and in any case at the deadline (the server then ends in MAINT, as promised).
            idle = sessions(view) == 0
            if escalate and (drained or (now >= grace_end and idle)
                             or now >= min(grace_end + p["drain_grace"], deadline)):
                for cmd in escalate:
                    self.send(cmd)
                self.result["escalated"] = not drained
                escalate = []
                watch.restart()
                continue
            if drained:
                return view
            if now >= deadline:
                if p["shutdown_sessions"]:
                    n = self.kill_sessions(view)
                    self.module.warn("%s/%s still had %d session(s) after %.1fs: killed (shutdown_sessions=true)"
                                     % (p["backend"], p["server"], n, now - self.start))
                    return self.view()
                left = sessions(view)
                hint = ""
                if watch.new_sessions:
                    hint = ("; %d new session(s) arrived while draining - clients with a persistence cookie? "
                            "drain_then_maint=true moves them to other servers" % watch.new_sessions)
                self.fail("%s/%s did not drain within %.1fs: %d session(s) left (scur=%d, qcur=%d)%s; the server "
                          "stays in %s (shutdown_sessions=true would kill them)"
                          % (p["backend"], p["server"], now - self.start, left, view["scur"], view["qcur"], hint,
                             view["admin_state"].upper()),
                          sessions_left=left, after=report(view))
            if escalate and now >= grace_end:
                self.pause(min(p["wait_interval"], 0.02), deadline)
                continue
            self.pause(p["wait_interval"], deadline)
