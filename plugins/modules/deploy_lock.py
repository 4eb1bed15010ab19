#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take, query or release the deploy lock that keeps two canaries apart
version_added: 0.1.0
description:
  - Keeps one release at a time on a fleet. The lock is a small JSON file on a host every
    deployer goes through (the canary playbook keeps it on the HAProxy host), created atomically
    with C(O_EXCL), so two concurrent runs cannot both take it.
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
    description: Who holds the lock, for humans (for example V(alice@laptop)). Required with O(state=present).
    type: str
  run_id:
    description:
      - Identity of this run. Required with O(state=present) and O(state=absent).
      - The canary playbook uses the controller host name, the C(ansible-playbook) PID and its start time.
    type: str
  controller:
    description: Host name of the controller running the release, recorded in the lock.
    type: str
  pid:
    description: PID of the C(ansible-playbook) process on O(controller), recorded in the lock.
    type: int
  purpose:
    description: Free text recorded in the lock (artifact, canary node, ...).
    type: str
    default: ''
  stale_after:
    description: Age in seconds after which a lock held by another run is reported as stale.
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
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken or released, without writing.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - Veza infra team (@veza-infra)
seealso:
  - module: veza.infra.haproxy_server_state
"""

EXAMPLES = r"""
- name: Take the deploy lock on the load balancer
  veza.infra.deploy_lock:
    owner: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ lookup('ansible.builtin.pipe', 'hostname') }}"
    run_id: "{{ canary_run_id }}"
    purpose: "canary {{ artifact }} on backend-api-2"
  delegate_to: haproxy

- name: Release it
  veza.infra.deploy_lock:
    state: absent
    run_id: "{{ canary_run_id }}"
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
"""

import json
import os
import socket
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native


def read_lock(path):
    """Return the lock dict, {} when there is none. A corrupt lock is reported, not ignored."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = fh.read()
    except FileNotFoundError:
        return {}
    try:
        lock = json.loads(data)
        if not isinstance(lock, dict):
            raise ValueError("not an object")
    except ValueError:
        st = os.stat(path)
        return {"owner": "unknown (unreadable lock file)", "run_id": None, "created": st.st_mtime,
                "corrupt": True}
    return lock


def describe(lock, age):
    return "%s (run %s, pid %s on %s, purpose %r) for %d s" % (
        lock.get("owner"), lock.get("run_id"), lock.get("pid"), lock.get("controller"),
        lock.get("purpose", ""), int(age))


def write_new(path, lock):
    """Create the lock atomically; return False when it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(lock, fh, sort_keys=True)
    return True


def replace(path, lock):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".lock.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(lock, fh, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/veza/canary.lock"),
            state=dict(type="str", default="present", choices=["present", "absent", "query"]),
            owner=dict(type="str"),
            run_id=dict(type="str"),
            controller=dict(type="str"),
            pid=dict(type="int"),
            purpose=dict(type="str", default=""),
            stale_after=dict(type="int", default=7200),
            break_stale=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
        ),
        required_if=[
            ("state", "present", ("owner", "run_id")),
            ("state", "absent", ("run_id",)),
        ],
        supports_check_mode=True,
    )
    p = module.params
    path = p["path"]
    if p["stale_after"] <= 0:
        module.fail_json(msg="stale_after must be a positive number of seconds, got %d" % p["stale_after"])

    now = time.time()
    try:
        current = read_lock(path)
    except OSError as exc:
        module.fail_json(msg="cannot read deploy lock %s: %s" % (path, to_native(exc)))
    age = max(0.0, now - float(current.get("created", now))) if current else 0.0
    ours = bool(current) and current.get("run_id") == p["run_id"]
    stale = bool(current) and not ours and age > p["stale_after"]
    result = dict(changed=False, lock=current, age=round(age, 1), stale=stale)

    if p["state"] == "query":
        module.exit_json(**result)

    if p["state"] == "absent":
        if not current:
            module.exit_json(**result)
        if not ours and not p["force"]:
            module.fail_json(msg="deploy lock %s is held by another run: %s. Not releasing it; "
                                 "use force=true (BREAK_LOCK=1) if that run is dead."
                                 % (path, describe(current, age)), **result)
        if not ours:
            module.warn("releasing a deploy lock held by another run: %s" % describe(current, age))
            result["previous"] = current
        if not module.check_mode:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                module.fail_json(msg="cannot remove deploy lock %s: %s" % (path, to_native(exc)))
        result.update(changed=True, lock={}, age=0.0)
        module.exit_json(**result)

    # state == present
    if ours:
        module.exit_json(**result)
    new = dict(owner=p["owner"], run_id=p["run_id"], controller=p["controller"] or socket.gethostname(),
               pid=p["pid"], purpose=p["purpose"], created=now,
               created_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
    if current:
        if stale and not (p["break_stale"] or p["force"]):
            module.fail_json(msg="deploy lock %s looks stale: held by %s, older than stale_after=%d s. "
                                 "If that run is gone, re-run with BREAK_LOCK=1 (force=true) to take it over."
                                 % (path, describe(current, age), p["stale_after"]), **result)
        if not stale and not p["force"]:
            module.fail_json(msg="another release is running: deploy lock %s is held by %s. Wait for it "
                                 "to finish; if that run is dead, re-run with BREAK_LOCK=1 (force=true)."
                                 % (path, describe(current, age)), **result)
        module.warn("taking over the deploy lock held by %s" % describe(current, age))
        result["previous"] = current
        if not module.check_mode:
            try:
                replace(path, new)
            except OSError as exc:
                module.fail_json(msg="cannot write deploy lock %s: %s" % (path, to_native(exc)))
        result.update(changed=True, lock=new, age=0.0)
        module.exit_json(**result)

    if not module.check_mode:
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            if not write_new(path, new):
                # Lost a race with another run between the read and the create.
                other = read_lock(path)
                module.fail_json(msg="another release took deploy lock %s first: %s"
                                     % (path, describe(other, 0)), lock=other, age=0.0, stale=False)
        except OSError as exc:
            module.fail_json(msg="cannot create deploy lock %s: %s" % (path, to_native(exc)))
    result.update(changed=True, lock=new, age=0.0)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
