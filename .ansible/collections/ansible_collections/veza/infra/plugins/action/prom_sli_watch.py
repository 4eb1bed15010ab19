# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for veza.infra.prom_sli_watch: runs the SLI window on the controller and prints
one line per probe while it runs. All logic lives in the private module_utils (_sli_watch,
_sli_policy, _sli_report, _prom_client), shared with the module; this file only validates the
arguments, wires the progress callback and shapes the result.
"""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.veza.infra.plugins.module_utils._sli_policy import threshold_text
from ansible_collections.veza.infra.plugins.module_utils._sli_report import probe_line
from ansible_collections.veza.infra.plugins.module_utils._sli_watch import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_TOGETHER,
    PromSliConfigError,
    argument_spec,
    execute,
)

display = Display()


class ActionModule(ActionBase):
    """Runs the watch loop locally (it only talks HTTP to Prometheus)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            _validation, params = self.validate_argument_spec(
                argument_spec=argument_spec(),
                required_together=REQUIRED_TOGETHER,
                mutually_exclusive=MUTUALLY_EXCLUSIVE,
            )
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=str(exc))
            return result

        host = (task_vars or {}).get("inventory_hostname", "localhost")
        window = params["window"]
        slis_holder = {}

        def on_probe(probe):
            display.display("prom_sli_watch [%s] %s" % (host, probe_line(probe, slis_holder["slis"], window)))

        baseline = params.get("baseline_selector") or ", ".join(params.get("baseline_instances") or [])

        def on_start(slis):
            slis_holder["slis"] = slis
            display.display("prom_sli_watch [%s] watching %s for %ss, a probe every %ss: %s%s" % (
                host, params["url"], window, params["interval"],
                "; ".join("%s (%s)" % (s["name"], threshold_text(s)) for s in slis),
                "; canary vs baseline %s" % baseline if baseline else ""))

        try:
            out = execute(params, on_probe=on_probe, on_start=on_start)
        except PromSliConfigError as exc:
            result.update(failed=True, msg=str(exc), verdict="red", reason=str(exc), probes=[], duration=0.0,
                          changed=False)
            return result
        except OSError as exc:
            result.update(failed=True, msg="prom_sli_watch: cannot write the report: %s" % exc, changed=False)
            return result

        warnings = out.pop("warnings", [])
        if warnings:
            result.setdefault("warnings", []).extend(warnings)
        result.update(out)
        result["changed"] = False
        display.display("prom_sli_watch [%s] %s: %s" % (host, out["verdict"].upper(), out["reason"]))
        if out["verdict"] != "green" and params["fail_on_red"]:
            result["failed"] = True
            result["msg"] = out["reason"]
        return result
