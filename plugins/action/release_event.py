# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for veza.infra.release_event: the event is written (and posted) by the controller's
own process, with the module's argument spec and code (module_utils/_release_event.py ``record``).

The events file lives on the controller anyway (the canary role delegates the task to localhost), so
nothing needs to travel: a module run costs about half a second on this machine, and the canary
records a dozen events per node; in-process it is a few milliseconds. Bad options fail the task
the way the module would, naming the option.
"""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase

from ansible_collections.veza.infra.plugins.module_utils._release_event import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    record,
)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            _validation, params = self.validate_argument_spec(
                argument_spec=ARGUMENT_SPEC, required_one_of=REQUIRED_ONE_OF, mutually_exclusive=MUTUALLY_EXCLUSIVE)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc))
            return result
        out, warnings, error = record(params, open_url, check_mode=self._task.check_mode)
        result.update(out)
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        if error:
            result.update(failed=True, msg=error)
        return result
