#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server_state
short_description: Drain, put in maintenance or make ready an HAProxy server, waiting for sessions to end
version_added: 0.1.0
description:
  - Sets the administrative state of one server of an HAProxy backend through the runtime API (the
    C(stats socket), unix or TCP) - V(ready), V(drain) or V(maint) - and optionally its weight and
    whether its health and agent checks run.
  - With O(wait=true), a V(drain) returns only once the server has no session left and no new one
    arrived for O(drain_settle) seconds; a V(ready) returns once health checks report the server
    fully UP (when it has checks).
  - Clients carrying a persistence cookie (C(cookie SERVERID)) keep reaching a server in DRAIN, so a
    drain can stall. O(drain_then_maint=true) drains for at most O(drain_grace) seconds, then puts
    the server in MAINT, where HAProxy ignores the cookie and sends those clients to the other
    servers (with C(option redispatch)); the wait then goes on until the last session is gone.
  - C(changed) comes from the administrative settings only (admin state, weight, check toggles),
    never from live counters such as the session count, so a second identical run reports
    C(changed=false).
  - Talks to HAProxy 2.0 or later (C(show servers state) format 1, C(show cli level)); written
    against HAProxy 2.6. Standard library only on the target host.
options:
  backend:
    description: Name of the HAProxy backend (C(backend) or C(listen) section).
    type: str
    required: true
    aliases: [pool]
  server:
    description: Name of the server inside O(backend) (the C(server) line's name, not its address).
    type: str
    required: true
    aliases: [node, host]
  state:
    description:
      - V(ready) takes the server back in rotation (clears DRAIN and MAINT).
      - V(drain) keeps the server up for its current and persistent clients but gives it no new
        balanced traffic.
      - V(maint) takes it out completely; health checks pause. Existing sessions are left to finish
        unless O(shutdown_sessions=true).
    type: str
    required: true
    choices: [ready, drain, maint]
  socket:
    description:
      - The HAProxy runtime API socket, at C(level admin). A unix socket path, or TCP as
        V(host:port), V(tcp://host:port), V(ipv4@host:port) or V(ipv6@[addr]:port).
    type: str
    default: /run/haproxy/admin.sock
  socket_timeout:
    description: Seconds allowed for connecting to the socket and for each answer.
    type: float
    default: 5
  weight:
    description:
      - Weight to set, absolute (V(0) to V(256)) or relative to the weight in the configuration
        (V(50%)). Backends with a static algorithm (for example C(balance source)) only accept
        V(0%) and V(100%); HAProxy's refusal is reported as it is.
      - Compared with the server's current user weight for idempotence.
    type: str
  health:
    description:
      - V(true) enables, V(false) disables the server's health checks; unset leaves them alone.
      - Enabling fails when the server has no C(check) in the configuration.
    type: bool
  agent:
    description:
      - V(true) enables, V(false) disables the server's agent checks; unset leaves them alone.
      - Enabling fails when the server has no C(agent-check) in the configuration.
    type: bool
  wait:
    description:
      - After V(drain) (and V(maint)), wait until the server's sessions (C(scur) + C(qcur)) are 0 and
        stay 0, with no new session, for O(drain_settle) seconds.
      - After V(ready), wait until health checks report the server fully UP. A server without
        health checks does not wait; the module says so in a warning.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait in total. When they run out the task fails and says how many sessions are
        left, unless O(shutdown_sessions=true).
    type: float
    default: 60
  wait_interval:
    description: Seconds between two polls of the server's state.
    type: float
    default: 0.5
  drain_settle:
    description:
      - Seconds the session count must stay at 0, with no new session arriving (C(stot) unchanged),
        before a drain counts as done. A single C(scur=0) reading is not enough - with short
        requests, cookie clients make it touch 0 between two requests.
      - V(0) accepts the first reading of 0.
    type: float
    default: 1
  drain_then_maint:
    description:
      - With O(state=drain), drain, then put the server in MAINT as soon as it drained or after
        O(drain_grace) seconds, whichever comes first; then wait for the remaining sessions. After the
        grace the escalation waits for an instant with no session in flight (at most another
        O(drain_grace) seconds), because HAProxy cuts the streams of a server entering MAINT when
        it has C(on-marked-down shutdown-sessions). The
        server ends in MAINT; the result says whether it had to escalate (RV(escalated)).
      - Use it with cookie persistence; needs O(wait=true). A server already in MAINT is left there.
    type: bool
    default: false
  drain_grace:
    description: Seconds of draining before O(drain_then_maint=true) escalates to MAINT.
    type: float
    default: 10
  shutdown_sessions:
    description:
      - Kill the server's remaining sessions (C(shutdown sessions server)) when the drain wait runs
        out instead of failing, and right after entering V(maint).
      - Killing sessions does not count as a change; RV(sessions_killed) reports how many there were.
    type: bool
    default: false
  fail_on_not_found:
    description:
      - Fail when O(backend) or O(server) does not exist (the message lists what exists). With
        V(false) the task succeeds without change and RV(found=false), with a warning.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the server's state and reports what would change and which commands would be sent; sends none.
  diff_mode:
    support: full
    details: The diff covers admin state, weight and check toggles.
  platform:
    platforms: posix
notes:
  - The socket must be at C(level admin) (C(stats socket /run/haproxy/admin.sock mode 660 level admin));
    an C(operator) or C(user) socket fails before anything is sent.
  - A server in MAINT or DRAIN inherited from a tracked server (C(track)) or after a DNS failure cannot
    be changed through its own state; RV(before.admin_flags) shows C(IMAINT), C(IDRAIN) or C(RMAINT).
  - Runs once per task; with several HAProxy hosts, run the task on each.
seealso:
  - name: HAProxy management guide, runtime API
    description: The commands this module sends (C(set server), C(set weight), C(shutdown sessions server)).
    link: https://docs.haproxy.org/2.6/management.html#9.3
  - module: community.general.haproxy
    description: The older module; docs/modules/haproxy_server_state.md compares them option by option.
author:
  - veza.infra maintainers (@veza-infra)
"""

EXAMPLES = r"""
- name: Drain backend-api-2 and wait until its sessions ended
  veza.infra.haproxy_server_state:
    backend: api_pool
    server: backend-api-2
    state: drain
    wait_timeout: 120

- name: Drain with cookie persistence - escalate to MAINT after 15 s so sticky clients move
  veza.infra.haproxy_server_state:
    pool: api_pool
    node: backend-api-2
    state: drain
    drain_then_maint: true
    drain_grace: 15
    wait_timeout: 120

- name: Maintenance, killing what is left
  veza.infra.haproxy_server_state:
    backend: api_pool
    server: backend-api-2
    state: maint
    shutdown_sessions: true

- name: Back in rotation at half weight, through a TCP stats socket, waiting for health checks
  veza.infra.haproxy_server_state:
    backend: api_pool
    server: backend-api-2
    state: ready
    weight: 50%
    socket: 127.0.0.1:9100

- name: Same socket for every veza.infra task of a play
  module_defaults:
    group/veza.infra.veza:
      socket: /run/haproxy/admin.sock
  block:
    - name: Ready again
      veza.infra.haproxy_server_state:
        backend: api_pool
        server: backend-api-2
        state: ready
"""

RETURN = r"""
found:
  description: Whether the backend and server exist (V(false) only with O(fail_on_not_found=false)).
  returned: always
  type: bool
  sample: true
before:
  description: The server before the task.
  returned: when the server exists
  type: dict
  contains:
    admin_state:
      description: Effective administrative state, V(ready), V(drain) or V(maint).
      type: str
      sample: ready
    forced_admin_state:
      description: Administrative state set through the CLI or configuration (what this module controls).
      type: str
      sample: ready
    admin_flags:
      description: HAProxy admin flags set (C(FMAINT), C(IMAINT), C(CMAINT), C(FDRAIN), C(IDRAIN), C(RMAINT), C(HMAINT)).
      type: list
      elements: str
      sample: []
    operational_state:
      description: V(UP), V(DOWN), V(STARTING) (slow start) or V(STOPPING).
      type: str
      sample: UP
    status:
      description: The C(status) column of C(show stat) (V(UP), V(DRAIN), V(MAINT), V(UP 1/3), V(no check), ...).
      type: str
      sample: UP
    scur:
      description: Current sessions on the server.
      type: int
      sample: 3
    qcur:
      description: Requests queued for the server.
      type: int
      sample: 0
    weight:
      description: User weight (what O(weight) sets).
      type: int
      sample: 100
    initial_weight:
      description: Weight from the configuration.
      type: int
      sample: 100
    check_status:
      description: Last health check result (C(L7OK), C(L4CON), ...), null without checks.
      type: str
      sample: L7OK
    health_check:
      description: V(enabled), V(disabled) or V(none) (no C(check) configured).
      type: str
      sample: enabled
    agent_check:
      description: V(enabled), V(disabled) or V(none).
      type: str
      sample: none
after:
  description: The server at the end of the task (predicted in check mode), same keys as RV(before).
  returned: when the server exists
  type: dict
commands:
  description: Runtime API commands sent (in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["set server api_pool/s2 state drain"]
elapsed:
  description: Seconds the task took, waiting included.
  returned: always
  type: float
  sample: 4.12
waited:
  description: Whether the task waited (for sessions to drain or for health checks).
  returned: always
  type: bool
  sample: true
escalated:
  description: Whether O(drain_then_maint=true) put the server in MAINT before it drained (after O(drain_grace)).
  returned: always
  type: bool
  sample: false
sessions_killed:
  description: Sessions open when O(shutdown_sessions=true) killed them (0 when nothing was killed).
  returned: always
  type: int
  sample: 0
sessions_left:
  description: Sessions (C(scur) + C(qcur)) left when the drain wait timed out.
  returned: on drain timeout (failure)
  type: int
  sample: 2
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.veza.infra.plugins.module_utils.haproxy_runtime import (
    HAProxyNotFound,
    HAProxyRuntime,
    HAProxyRuntimeError,
    check_name,
    parse_weight,
    resolve_weight,
)

DIFF_KEYS = ("admin_state", "weight", "health_check", "agent_check")
REPORT_KEYS = ("admin_state", "forced_admin_state", "admin_flags", "operational_state", "status", "scur",
               "qcur", "weight", "initial_weight", "check_status", "health_check", "agent_check")


def plan(before, state, weight=None, health=None, agent=None, drain_then_maint=False):
    """What to send for ``before`` -> wanted: ``(commands, escalation_commands, predicted_after)``.

    ``commands`` go out at once; ``escalation_commands`` (drain_then_maint) after the drain phase.
    Only admin settings are compared: forced admin state, user weight, check toggles.
    """
    name = "%s/%s" % (before["backend"], before["server"])
    cmds, escalate = [], []
    after = dict(before)
    if health is not None and before["health_check"] != "none":
        if (before["health_check"] == "enabled") != health:
            cmds.append("%s health %s" % ("enable" if health else "disable", name))
            after["health_check"] = "enabled" if health else "disabled"
    if agent is not None and before["agent_check"] != "none":
        if (before["agent_check"] == "enabled") != agent:
            cmds.append("%s agent %s" % ("enable" if agent else "disable", name))
            after["agent_check"] = "enabled" if agent else "disabled"
    if weight is not None:
        target = resolve_weight(weight, before["initial_weight"])
        if target != before["weight"]:
            value, pct = parse_weight(weight)
            cmds.append("set weight %s %d%s" % (name, value, "%" if pct else ""))
            after["weight"] = target
    current = before["forced_admin_state"]
    if state == "drain" and drain_then_maint:
        if current == "ready":
            cmds.append("set server %s state drain" % name)
        if current in ("ready", "drain"):
            escalate.append("set server %s state maint" % name)
        final = "maint"
    else:
        if current != state:
            cmds.append("set server %s state %s" % (name, state))
        final = state
    after["forced_admin_state"] = final
    if not before.get("inherited"):
        after["admin_state"] = final
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
    def __init__(self, module, runtime=None, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.p = module.params
        self.rt = runtime
        self.clock = clock
        self.sleep = sleep
        self.start = clock()
        self.result = dict(changed=False, found=True, commands=[], waited=False, escalated=False,
                           sessions_killed=0, elapsed=0.0)

    def elapsed(self):
        return round(self.clock() - self.start, 3)

    def fail(self, msg, **extra):
        self.result.update(extra)
        self.result["elapsed"] = self.elapsed()
        self.module.fail_json(msg=msg, **self.result)

    def send(self, command):
        self.result["commands"].append(command)
        self.rt.execute(command)

    def view(self):
        return self.rt.server(self.p["backend"], self.p["server"])

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
        cmds, escalate, predicted = plan(before, p["state"], p["weight"], p["health"], p["agent"],
                                         p["drain_then_maint"])
        changed = bool(cmds or escalate)
        self.result.update(changed=changed, before=report(before))
        if self.module._diff:
            self.result["diff"] = dict(before=diff_view(before), after=diff_view(predicted))
        if before.get("inherited") and p["state"] != before["admin_state"]:
            self.module.warn("%s/%s is in %s inherited from a tracked server or a DNS failure (flags %s); "
                             "setting its own state does not change that"
                             % (backend, server, before["admin_state"].upper(), ", ".join(before["admin_flags"])))
        if self.module.check_mode:
            self.result.update(commands=cmds + escalate, after=report(predicted), elapsed=self.elapsed())
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

    def kill_sessions(self, view):
        n = sessions(view)
        if n:
            self.send("shutdown sessions server %s/%s" % (self.p["backend"], self.p["server"]))
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
            self.sleep(self.p["wait_interval"])
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
            # leaves such instants between requests; a busy server escalates after a second grace.
            idle = sessions(view) == 0
            if escalate and (drained or (now >= grace_end and idle) or now >= grace_end + p["drain_grace"]):
                for cmd in escalate:
                    self.send(cmd)
                self.result["escalated"] = not drained
                escalate = []
                watch.restart()
                continue
            if drained:
                return view
            if escalate and now >= grace_end:
                self.sleep(min(p["wait_interval"], 0.02))
                continue
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
            self.sleep(p["wait_interval"])


def main():
    argument_spec = dict(
        backend=dict(type="str", required=True, aliases=["pool"]),
        server=dict(type="str", required=True, aliases=["node", "host"]),
        state=dict(type="str", required=True, choices=["ready", "drain", "maint"]),
        socket=dict(type="str", default="/run/haproxy/admin.sock"),
        socket_timeout=dict(type="float", default=5.0),
        weight=dict(type="str"),
        health=dict(type="bool"),
        agent=dict(type="bool"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=60.0),
        wait_interval=dict(type="float", default=0.5),
        drain_settle=dict(type="float", default=1.0),
        drain_then_maint=dict(type="bool", default=False),
        drain_grace=dict(type="float", default=10.0),
        shutdown_sessions=dict(type="bool", default=False),
        fail_on_not_found=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = []
    for field in ("backend", "server"):
        try:
            check_name(p[field], field)
        except HAProxyRuntimeError as exc:
            problems.append(exc.message)
    if p["weight"] is not None:
        try:
            parse_weight(p["weight"])
        except HAProxyRuntimeError as exc:
            problems.append(exc.message)
    for field, minimum in (("wait_timeout", 0), ("drain_settle", 0), ("drain_grace", 0)):
        if p[field] < minimum:
            problems.append("%s must be >= %s (got %s)" % (field, minimum, p[field]))
    for field in ("wait_interval", "socket_timeout"):
        if p[field] <= 0:
            problems.append("%s must be > 0 (got %s)" % (field, p[field]))
    if p["drain_then_maint"] and p["state"] != "drain":
        problems.append("drain_then_maint=true only applies to state=drain (got state=%s)" % p["state"])
    if p["drain_then_maint"] and not p["wait"]:
        problems.append("drain_then_maint=true needs wait=true: the escalation to MAINT happens during the wait")
    if problems:
        module.fail_json(msg="; ".join(problems), changed=False)
    try:
        runtime = HAProxyRuntime(p["socket"], timeout=p["socket_timeout"])
    except HAProxyRuntimeError as exc:
        module.fail_json(msg="socket: %s" % exc.message, changed=False)
    task = ServerStateTask(module, runtime)
    try:
        task.run()
    except HAProxyRuntimeError as exc:
        changed = bool(task.result["commands"])
        suffix = "" if changed else "; nothing was changed"
        task.result["changed"] = changed
        task.fail("%s%s" % (exc.message, suffix))


if __name__ == "__main__":
    main()
