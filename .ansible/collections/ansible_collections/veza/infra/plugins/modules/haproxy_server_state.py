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
  weight:
    description:
      - Weight to set, absolute (V(0) to V(256)) or relative to the weight in the configuration
        (V(50%)), ASCII digits only. Backends with a static algorithm (C(balance static-rr),
        or a map-based hash such as C(balance source)) only accept V(0%) and V(100%) - for C(static-rr)
        the task refuses before sending anything (in check mode too); for hashes HAProxy's
        refusal is reported as it is, saying whether anything was changed. C(balance first) takes any weight.
      - Compared with the server's current user weight for idempotence.
    type: str
  share:
    description:
      - Percent (V(0) to V(100)) of the backend's new sessions this server should take; the module sets the
        weight that gives it, against the user weights of the other servers in rotation (ready, not DOWN,
        weight above 0) - C(w = share x peers / (100 - share)), rounded, from 1 to 256. V(100) sets the
        configured weight (V(100%)), V(0) weight 0 (no balanced traffic; cookie clients and C(use-server)
        rules still reach it). The canary's traffic ramp (C(CANARY_STEPS)) uses it.
      - Needs O(state=ready); mutually exclusive with O(weight). Fails before sending anything when no
        other server is in rotation or their weights are too small to express the share (give the servers
        a larger configured weight, e.g. C(weight 100)). RV(share) reports the weight and the share it gives.
      - Clients with a persistence cookie stay on their server whatever its weight.
    type: float
    version_added: 0.2.0
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
        left, unless O(shutdown_sessions=true). No sleep goes past this deadline.
      - A finite number from V(0) to V(86400); with a drain or V(maint) wait, at least O(drain_settle)
        (unless O(shutdown_sessions=true)), or a drain could never be confirmed.
    type: float
    default: 60
  wait_interval:
    description:
      - Seconds between two polls of the server's state; the last sleep is cut to the deadline.
      - A finite number above V(0), at most V(86400).
    type: float
    default: 0.5
  drain_settle:
    description:
      - Seconds the session count must stay at 0, with no new session arriving (C(stot) unchanged),
        before a drain counts as done. A single C(scur=0) reading is not enough - with short
        requests, cookie clients make it touch 0 between two requests.
      - V(0) accepts the first reading of 0. A finite number from V(0) to V(86400).
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
    description:
      - Seconds of draining before O(drain_then_maint=true) escalates to MAINT (at the latest at the
        O(wait_timeout) deadline). A finite number from V(0) to V(86400).
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
  - veza.infra._haproxy
  - veza.infra._attributes
  - veza.infra._attributes.ACTIONGROUP_VEZA
attributes:
  check_mode:
    support: full
    details:
      - Reads the server's state and reports what would change and every command the real run would send
        (C(shutdown sessions server) included when O(state=maint) and O(shutdown_sessions=true) meet sessions
        in flight); sends none.
      - A weight HAProxy refuses on C(balance static-rr) fails the same way
        as the real run.
  diff_mode:
    support: full
    details: The diff covers admin state, weight and check toggles.
  idempotent:
    support: full
    details: C(changed) comes from admin settings only, never from live counters.
notes:
  - The socket must be at C(level admin) (C(stats socket /run/haproxy/admin.sock mode 660 level admin));
    an C(operator) or C(user) socket fails before anything is sent.
  - A server in MAINT or DRAIN inherited from a tracked server (C(track)) or after a DNS failure cannot
    be changed through its own state; RV(before.admin_flags) shows C(IMAINT), C(IDRAIN) or C(RMAINT).
  - Runs once per task; with several HAProxy hosts, run the task on each.
  - Bad arguments (names, weight, durations that are not finite numbers or are booleans) fail before
    anything is sent. A failure after a command went out reports C(changed=true), the commands sent
    and the state the server was left in; a command HAProxy refused is not counted as a change.
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

- name: 5 % of the pool's new sessions (the weight is computed from the other servers' weights)
  veza.infra.haproxy_server_state:
    backend: api_pool
    server: backend-api-2
    state: ready
    share: 5
    wait: false

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
      description: The server's status as HAProxy's statistics show it (V(UP), V(DRAIN), V(MAINT), V(UP 1/3), V(no check), ...).
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
share:
  description: With O(share), what the arithmetic gave.
  returned: when O(share) is set
  type: dict
  contains:
    target:
      description: The share asked for, in percent.
      type: float
      sample: 5.0
    weight:
      description: The user weight set for it (the configured weight for V(100)).
      type: int
      sample: 5
    peers:
      description: The servers weighed against (ready, not DOWN, weight above 0).
      type: list
      elements: str
      sample: [backend-api-1]
    peers_weight:
      description: Sum of their user weights.
      type: int
      sample: 100
    effective:
      description: The share that weight gives, in percent (C(weight / (weight + peers_weight))).
      type: float
      sample: 4.76
sessions_left:
  description: Sessions (C(scur) + C(qcur)) left when the drain wait timed out.
  returned: on drain timeout (failure)
  type: int
  sample: 2
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.veza.infra.plugins.module_utils._drain import ServerStateTask, check_params
from ansible_collections.veza.infra.plugins.module_utils._haproxy import (
    HAProxyRuntime,
    HAProxyRuntimeError,
    haproxy_common_argument_spec,
)


def raw_arguments():
    """The task's arguments as given, before Ansible's type conversion (``true`` -> ``1.0``)."""
    try:
        from ansible.module_utils.basic import _load_params  # pylint: disable=import-outside-toplevel
        raw = _load_params()
    except Exception:  # pylint: disable=broad-except  # only sharpens a message; conversion already ran
        return {}
    return raw if isinstance(raw, dict) else {}


def main():
    argument_spec = haproxy_common_argument_spec()
    argument_spec.update(
        backend=dict(type="str", required=True, aliases=["pool"]),
        server=dict(type="str", required=True, aliases=["node", "host"]),
        state=dict(type="str", required=True, choices=["ready", "drain", "maint"]),
        weight=dict(type="str"),
        share=dict(type="float"),
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
    problems = check_params(module.params, raw_arguments())
    if problems:
        module.fail_json(msg="; ".join(problems) + "; nothing was sent to HAProxy", changed=False, commands=[])
    try:
        runtime = HAProxyRuntime(module.params["socket"], timeout=module.params["socket_timeout"])
    except HAProxyRuntimeError as exc:
        module.fail_json(msg="socket: %s" % exc.message, changed=False, commands=[])
    ServerStateTask(module, runtime).execute()


if __name__ == "__main__":
    main()
