# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for veza.infra.deploy_lock: the run's identity and the holder's liveness, on the
controller, then the module on the target (the lock's host).

On the controller (module_utils/_deploy_lock.py ``run_identity``/``holder_alive``): the host name,
the ``ansible-playbook`` PID (walking the worker's parents in /proc) and its start time, the run id
made of them (the same for every task of a run), and the owner ``$USER@host``. When the module
refuses because the lock is held by another run of this same controller whose process is gone
(PID absent, or reused by a process started at another time), the module runs once more with
``dead_holder`` set to that run's id: it takes the lock over, with a warning, only if that run still
holds it. No ``ps``, ``kill`` or shell on either side.
"""
from __future__ import annotations

import getpass
import os

from ansible.plugins.action import ActionBase

from ansible_collections.veza.infra.plugins.module_utils._deploy_lock import holder_alive, run_identity


def _user():
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "root"


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        ident = run_identity()
        state = args.get("state") or "present"
        if state in ("present", "absent") and args.get("run_id") is None:
            args["run_id"] = ident["run_id"]
        if state == "present":
            for key in ("controller", "pid", "pid_start", "run_started_ago"):
                if args.get(key) is None:
                    args[key] = ident[key]
            if args.get("owner") is None:
                args["owner"] = "%s@%s" % (_user(), args["controller"])
        res = self._execute_module(module_name="veza.infra.deploy_lock", module_args=args, task_vars=task_vars)
        holder = res.get("lock") if isinstance(res.get("lock"), dict) else {}
        if (state == "present" and res.get("failed") and holder and not args.get("dead_holder")
                and holder.get("run_id") and holder.get("run_id") != args["run_id"]
                and holder.get("controller") == ident["controller"]
                and not holder_alive(holder.get("pid"), holder.get("pid_start"))):
            res = self._execute_module(module_name="veza.infra.deploy_lock",
                                       module_args=dict(args, dead_holder=holder["run_id"]), task_vars=task_vars)
        result.update(res)
        result.setdefault("run_id", args.get("run_id"))
        result["controller"] = args.get("controller", ident["controller"])
        result["pid"] = args.get("pid", ident["pid"])
        return result
