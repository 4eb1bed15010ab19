#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take, query or release the deploy lock that keeps two canaries apart
version_added: 0.1.0
description:
  - Keeps one release at a time on a fleet. The lock is a small JSON file on a host every
    deployer goes through (the canary playbook keeps it on the HAProxy host).
  - Only one run ever holds it. Every change (take, take-over, release) happens under an exclusive
    C(flock) on the sidecar file C(<path>.guard); under it the lock is read again and a take-over
    replaces only the very lock that was seen, never one a concurrent run has just taken. A new lock
    is written to a temp file and put in place with C(link) (never overwrites) or C(rename). Tested with
    20 concurrent processes per round, fresh, stale and forced, also with the temp-file write slowed.
  - The action plugin runs on the controller first. It computes what the module records - the
    controller host name, the C(ansible-playbook) PID (the worker's parents in C(/proc)) and its start
    time, and the run id from them. When the lock is held by a run of this same controller whose
    process is gone, it takes the lock over with a warning (O(dead_holder)), without C(ps) or C(kill)
    on the controller or the target.
  - A lock held by another run fails the task with the holder, its run id, controller, PID and the
    lock's age, and says what to do. A lock older than O(stale_after) is reported as stale; it is
    only taken over with O(break_stale=true) or O(force=true), never silently.
  - Taking a lock the same O(run_id) already holds is a no-op, so a task retried inside one run
    does not deadlock itself.
options:
  path:
    description: Lock file on the target host. Its directory is created when missing.
    type: path
    default: /var/lib/veza/canary.lock
  state:
    description:
      - V(present) takes the lock, V(absent) releases it, V(query) only reports it.
      - Releasing a lock held by another O(run_id) fails unless O(force=true).
    type: str
    choices: [present, absent, query]
    default: present
  owner:
    description:
      - Who holds the lock, for humans (for example V(alice@laptop)); must not be empty.
      - Unset, the action plugin uses C($USER@<controller>).
    type: str
  run_id:
    description:
      - Identity of this run; must not be empty. Needed with O(state=present) and O(state=absent).
      - Unset, the action plugin computes it as C(<controller>-<ansible-playbook PID>-<its start time UTC>),
        the same for every task of one run (RV(run_id) returns it).
    type: str
  controller:
    description: Host name of the controller running the release, recorded in the lock (unset - the action plugin's).
    type: str
  pid:
    description: PID of the C(ansible-playbook) process on O(controller), recorded in the lock (unset - the action plugin's).
    type: int
  pid_start:
    description:
      - Start time of O(pid) in clock ticks since boot (C(/proc/<pid>/stat)), recorded in the lock so a
        reused PID is not taken for the holder (unset - the action plugin's).
    type: int
  run_started_ago:
    description:
      - Seconds since this run started (set by the action plugin, from the C(ansible-playbook) start time).
        O(force=true) never takes over a lock younger than that - it was taken after the operator decided to
        force, by a concurrent run. Whether set or not, O(force=true) never takes over a lock younger than the
        module process itself (same host and clock as the lock). A lock whose age is unknown (created and
        modification time in the future) is the exception.
    type: float
  dead_holder:
    description:
      - Run id of a holder found dead on this controller (set by the action plugin). The lock is taken
        over, with a warning, only if that run still holds it.
    type: str
  purpose:
    description: Free text recorded in the lock (artifact, canary node, ...).
    type: str
    default: ''
  stale_after:
    description:
      - Age in seconds after which a lock held by another run is reported as stale.
      - The age comes from the lock's C(created); when that is missing, not a time, or more than 300 s in
        the future, from the lock file's modification time (with a warning). A lock whose both times are
        in the future counts as held and never stale; only O(force=true) takes it over.
    type: int
    default: 7200
  break_stale:
    description: Take over a lock held by another run when it is older than O(stale_after).
    type: bool
    default: false
  force:
    description:
      - Take over or release the lock whoever holds it (the playbook's C(BREAK_LOCK=1)). The
        previous holder is returned in RV(previous) and named in a warning.
    type: bool
    default: false
extends_documentation_fragment:
  - veza.infra._attributes
  - veza.infra._attributes.ACTIONGROUP_VEZA
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken or released, without writing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Taking a lock the same O(run_id) holds, or releasing no lock, is a no-op.
notes:
  - A lock path that is a symbolic link (dangling or not) or not a regular file is refused with a message
    naming it; the lock must be a regular file on a local file system.
author:
  - Veza infra team (@veza-infra)
seealso:
  - module: veza.infra.haproxy_server_state
"""

EXAMPLES = r"""
- name: Take the deploy lock on the load balancer (owner, run id, PID computed on the controller)
  veza.infra.deploy_lock:
    purpose: "canary {{ artifact }} on backend-api-2"
  delegate_to: haproxy
  register: lock

- name: Release it
  veza.infra.deploy_lock:
    state: absent
    run_id: "{{ lock.run_id }}"
  delegate_to: haproxy

- name: Who holds it?
  veza.infra.deploy_lock:
    state: query
  delegate_to: haproxy
  register: lock
"""

RETURN = r"""
lock:
  description: The lock as it is after the task (empty when there is none).
  returned: always
  type: dict
  sample: {"owner": "alice@laptop", "run_id": "laptop-4242-1764000000", "controller": "laptop",
           "pid": 4242, "purpose": "canary veza-api-v1.0.10", "created": 1764000000.0}
age:
  description: Age of the lock in seconds (0 when there is none).
  returned: always
  type: float
stale:
  description: Whether the lock found was held by another run and older than O(stale_after).
  returned: always
  type: bool
previous:
  description: The lock that was taken over or released by force, if any.
  returned: when a lock of another run was replaced or released
  type: dict
run_id:
  description: The run id used (computed by the action plugin when O(run_id) is unset).
  returned: always
  type: str
  sample: laptop-4242-20261201T105700
age_source:
  description: Where RV(age) comes from - V(created), V(mtime) (created unusable) or V(future) (both in the future).
  returned: when a lock was found
  type: str
  sample: created
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.veza.infra.plugins.module_utils._deploy_lock import apply


ARGUMENTS = dict(
    path=dict(type="path", default="/var/lib/veza/canary.lock"),
    state=dict(type="str", default="present", choices=["present", "absent", "query"]),
    owner=dict(type="str"),
    run_id=dict(type="str"),
    controller=dict(type="str"),
    pid=dict(type="int"),
    pid_start=dict(type="int"),
    purpose=dict(type="str", default=""),
    stale_after=dict(type="int", default=7200),
    break_stale=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    dead_holder=dict(type="str"),
    run_started_ago=dict(type="float"),
)


def main():
    try:
        module = _module()
    except OverflowError as exc:  # ansible-core's int conversion of "inf" raises instead of failing
        # fail through a module whose options are all raw (nothing to convert, nothing to overflow)
        raw = AnsibleModule(argument_spec=dict((name, dict(type="raw")) for name in ARGUMENTS),
                            supports_check_mode=True)
        raw.fail_json(msg="stale_after, pid and pid_start must be whole numbers, not infinite (%s); the lock was "
                          "not touched" % exc, changed=False)
    failed, result, warnings = apply(module.params, check_mode=module.check_mode)
    for warning in warnings:
        module.warn(warning)
    result["run_id"] = module.params["run_id"]
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


def _module():
    return AnsibleModule(
        argument_spec=dict(ARGUMENTS),
        supports_check_mode=True,
    )


if __name__ == "__main__":
    main()
