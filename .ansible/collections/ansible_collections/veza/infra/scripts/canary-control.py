# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""On-call controls of a running canary, from a second terminal on the controller (#16):

    make canary-abort               # red now: the canary rolls back at the next probe
    make canary-promote             # end the current step green now
    make canary-hold SECONDS=600    # extend the current step

Writes one control line to the running run's control file (<SLI_REPORT_DIR>/control-<run_id>.jsonl,
found through <SLI_REPORT_DIR>/control-current.json) with who (SUDO_USER/USER, uid) and when;
prom_sli_watch applies it at its next probe. The parsing and the checks are the collection's
module_utils/_release_control.py.
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.veza.infra.plugins.module_utils import _release_control as rc  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=rc.ACTIONS)
    ap.add_argument("--seconds", help="hold: seconds to extend the current step by")
    ap.add_argument("--report-dir", default=os.environ.get("SLI_REPORT_DIR") or "/var/tmp/veza-canary")
    ap.add_argument("--run-id", help="the run to control (default: the running one, control-current.json)")
    args = ap.parse_args(argv)
    try:
        control = rc.write_control(args.report_dir, args.action, args.seconds, run_id=args.run_id)
    except rc.ControlError as exc:
        print("canary-%s: %s" % (args.action, exc), file=sys.stderr)
        return 2
    print("canary-%s: %s for run %s (%s); the gate applies it at its next probe"
          % (args.action, rc.describe(control), control["run_id"], rc.control_path(args.report_dir, control["run_id"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
