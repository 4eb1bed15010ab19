#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_event
short_description: Record one phase of a canary release as a JSON line, and post it to a webhook
version_added: 0.2.0
description:
  - Appends one JSON object per call to O(path) (the canary role writes
    C(<SLI_REPORT_DIR>/events-<run_id>.jsonl) on the controller) - run id, phase, status, host, message,
    data, time, and a one-line C(text).
  - With O(notify_url), posts the same object as JSON; its C(text) field is what a Slack (or Mattermost,
    or any Slack-compatible) incoming webhook shows. A webhook that fails or answers other than 2xx is a
    warning, never a failure. Writing the events file is the only thing that can fail the task.
  - Run it on the controller (C(delegate_to localhost)); standard library only.
options:
  path:
    description: The events file (JSON lines). Its directory must exist. Give O(path) or O(report_dir).
    type: path
  report_dir:
    description:
      - The report directory; the events file is C(<report_dir>/events-<run_id>.jsonl) (characters of the run id
        outside C([A-Za-z0-9_.-]) become C(_)). Created when missing.
    type: path
  run_id:
    description: The release's run id (the deploy lock's).
    type: str
    required: true
  phase:
    description: The phase of the release.
    type: str
    required: true
    choices: [preflight, drain, push, health, step, rollback, peers, done]
  status:
    description: What happened.
    type: str
    choices: [start, ok, green, red, failed, info]
    default: ok
  host:
    description: The node concerned (the canary, a peer), if any.
    type: str
  summary:
    description: One line for humans (the event's C(message)).
    type: str
    default: ""
  data:
    description: Anything else worth recording (the step's share, the verdict, who decided).
    type: dict
    default: {}
  notify_url:
    description: Webhook to POST the event to; empty or unset posts nothing.
    type: str
  notify_timeout:
    description: Seconds the webhook may take.
    type: float
    default: 5
  validate_certs:
    description: Verify the webhook's TLS certificate.
    type: bool
    default: true
extends_documentation_fragment:
  - veza.infra._attributes
  - veza.infra._attributes.ACTIONGROUP_VEZA
attributes:
  check_mode:
    support: full
    details: Returns the event it would write and post; writes and posts nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run appends one event.
author:
  - veza.infra maintainers (@veza-infra)
"""

EXAMPLES = r"""
- name: Record the verdict of a ramp step
  veza.infra.release_event:
    path: /var/tmp/veza-canary/events-ctl:4242:1764600000.jsonl
    run_id: ctl:4242:1764600000
    phase: step
    status: green
    host: backend-api-2
    summary: step 5 % green after 30 s
    data: {share: 5, verdict: green}
    notify_url: "{{ lookup('ansible.builtin.env', 'NOTIFY_URL', default='') }}"
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The events file written.
  returned: always
  type: str
  sample: /var/tmp/veza-canary/events-ctl_4242_1764600000.jsonl
event:
  description: The event written (and posted).
  returned: always
  type: dict
  sample: {run_id: r1, phase: step, status: green, host: backend-api-2, text: "[veza canary r1] step green on backend-api-2"}
notified:
  description: Whether the webhook took the event (false without O(notify_url) or when it failed).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.veza.infra.plugins.module_utils._release_event import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    record,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_one_of=REQUIRED_ONE_OF,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    result, warnings, error = record(module.params, open_url, check_mode=module.check_mode)
    for warning in warnings:
        module.warn(warning)
    if error:
        module.fail_json(msg=error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
