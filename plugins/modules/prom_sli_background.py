#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: prom_sli_background
short_description: Run a Prometheus SLI watch in the background while a playbook goes on
version_added: 0.1.0
description:
  - Starts, or stops and reads, a watcher. The watcher is the SLI watch of
    M(veza.infra.prom_sli_watch) (same options, same policy) run in a detached process on the
    host of the task (C(delegate_to=localhost) in the canary role). The canary role uses it to
    keep watching the upgraded nodes while the peers roll (C(SLI_DURING_PEERS=1)).
  - The watcher writes its state to O(status_path) after every probe and once at its end. It ends
    when its policy decides (the first red probe, or the window is over), when O(state=stopped)
    stops it (SIGTERM, SIGKILL after O(stop_timeout)), or when its owner process is gone (checked
    twice a second). A run that ends, fails or is interrupted with Ctrl-C leaves no watcher behind.
  - O(state=stopped) returns RV(verdict). V(red), V(inconclusive) and V(error) (the watcher died
    without a verdict) are the verdicts a caller stops on. V(green) means that no probe was red up
    to the stop. The task does not fail on a verdict; the caller decides.
options:
  state:
    description:
      - V(started) starts a watcher with O(watch). The previous watcher of the same O(status_path)
        is stopped first.
      - V(stopped) stops the watcher of O(status_path) if it still runs and returns its verdict.
    type: str
    choices: [started, stopped]
    required: true
  status_path:
    description: Status file of the watcher (JSON). Its directory must exist.
    type: path
    required: true
  watch:
    description:
      - The options of M(veza.infra.prom_sli_watch) (C(url), C(window), C(interval), C(selector),
        C(baseline_instances), ...) for O(state=started). They are checked before the watcher starts,
        so bad input fails this task with the option's name.
      - C(report_path) is not used; the status file holds the verdict and the reason.
    type: dict
  owner_pid:
    description:
      - PID of the process whose end ends the watcher.
      - Unset, it is the C(ansible-playbook) process of the run (the task's parents in C(/proc)).
        V(0) means no owner (the watcher then lives until its window ends or it is stopped).
    type: int
  stop_timeout:
    description: Seconds O(state=stopped) waits for the watcher to end after SIGTERM before SIGKILL.
    type: float
    default: 15
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Check mode starts nothing and predicts a change for O(state=started); O(state=stopped) only reads the status.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Linux only for the owner check (it reads C(/proc)).
seealso:
  - module: veza.infra.prom_sli_watch
author:
  - Veza infra team (@veza-infra)
"""

EXAMPLES = r"""
- name: Watch the upgraded nodes while the peers roll
  veza.infra.prom_sli_background:
    state: started
    status_path: /var/tmp/veza-canary/background.json
    watch:
      url: http://prom.lxd:9090
      window: 7200
      interval: 15
      min_window: 0
      selector: 'instance=~"backend-api-2:8080"'
      baseline_instances: [backend-api-3:8080]
  delegate_to: localhost

- name: Before the next batch - stop it and read its verdict
  veza.infra.prom_sli_background:
    state: stopped
    status_path: /var/tmp/veza-canary/background.json
  delegate_to: localhost
  register: bg

- name: Stop the peer roll on red
  ansible.builtin.fail:
    msg: "{{ bg.reason }}"
  when: bg.verdict in ['red', 'inconclusive', 'error']
"""

RETURN = r"""
verdict:
  description:
    - V(started) for O(state=started). For O(state=stopped), V(green) (no red probe up to the stop, or
      the window ended green), V(red), V(inconclusive), V(error) (the watcher died without a verdict,
      or was never started) or V(none) (no watcher ever ran for O(status_path)).
  returned: always
  type: str
reason:
  description: Why, as the watcher wrote it (the SLI, its value and threshold on red).
  returned: always
  type: str
pid:
  description: PID of the watcher.
  returned: when a watcher was started or found
  type: int
owner_pid:
  description: PID whose end ends the watcher (V(0) - none).
  returned: with O(state=started)
  type: int
status:
  description: The watcher's last status file (C(state), C(verdict), C(probes), C(reason), C(breach), ...).
  returned: with O(state=stopped)
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.veza.infra.plugins.module_utils._deploy_lock import holder_alive, playbook_pid
from ansible_collections.veza.infra.plugins.module_utils._sli_background import read_status, spawn, stop
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_TOGETHER,
    PromSliConfigError,
    argument_spec,
    validate_params,
)


def _pid_file(status_path):
    return status_path + ".pid"


def _read_pid(status_path):
    try:
        with open(_pid_file(status_path), "r", encoding="utf-8") as fh:
            data = json.load(fh)
        return int(data["pid"]), data.get("pid_start")
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None


def _watch_params(module, raw):
    """prom_sli_watch's options from ``watch``, with its defaults, checked as the module does."""
    validator = ArgumentSpecValidator(argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE,
                                      required_together=REQUIRED_TOGETHER)
    res = validator.validate(dict(raw or {}))
    if res.error_messages:
        module.fail_json(msg="watch: %s" % "; ".join(res.error_messages))
    params = res.validated_parameters
    params["report_path"] = None
    try:
        validate_params(params)
    except PromSliConfigError as exc:
        module.fail_json(msg="watch: %s" % exc)
    return params


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["started", "stopped"]),
            status_path=dict(type="path", required=True),
            watch=dict(type="dict"),
            owner_pid=dict(type="int"),
            stop_timeout=dict(type="float", default=15.0),
        ),
        required_if=[["state", "started", ["watch"]]],
        supports_check_mode=True,
    )
    p = module.params
    path = p["status_path"]
    if not os.path.isdir(os.path.dirname(path) or "."):
        module.fail_json(msg="status_path: the directory of %s does not exist; create it first" % path)
    old_pid, old_start = _read_pid(path)

    if p["state"] == "stopped":
        if module.check_mode:
            status = read_status(path)
            module.exit_json(changed=False, verdict=(status or {}).get("verdict", "none"),
                             reason=(status or {}).get("reason", ""), status=status or {}, pid=old_pid)
        if not old_pid and read_status(path) is None:
            module.exit_json(changed=False, verdict="none", reason="no background watcher ran for %s" % path,
                             status={})
        running = bool(old_pid) and holder_alive(old_pid, old_start)
        verdict, reason, status = stop(path, old_pid, old_start, timeout=p["stop_timeout"])
        module.exit_json(changed=running, verdict=verdict, reason=reason, status=status or {}, pid=old_pid)

    params = _watch_params(module, p["watch"])
    if module.check_mode:
        module.exit_json(changed=True, verdict="started", reason="check mode: not started")
    if old_pid:
        stop(path, old_pid, old_start, timeout=p["stop_timeout"])
    for stale in (path, _pid_file(path)):
        if os.path.exists(stale):
            os.unlink(stale)
    owner = playbook_pid() if p["owner_pid"] is None else p["owner_pid"]
    try:
        pid, pid_start = spawn(params, path, owner)
    except OSError as exc:
        module.fail_json(msg="prom_sli_background: cannot start the watcher: %s" % exc)
    with open(_pid_file(path), "w", encoding="utf-8") as fh:
        json.dump({"pid": pid, "pid_start": pid_start, "owner": owner}, fh)
    module.exit_json(changed=True, verdict="started", pid=pid, owner_pid=owner,
                     reason="watching %s every %ss" % (params.get("selector") or "(own SLIs)", params["interval"]))


if __name__ == "__main__":
    main()
