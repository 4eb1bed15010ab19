# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# This doc fragment is PRIVATE to veza.infra: no compatibility promise to other collections.
"""The ``attributes`` block every veza.infra module documents, written once (community.docker's
``attributes`` fragment style). A module extends the standard fragment and the ones that fit,
then keeps only its own ``support`` / ``details``::

    extends_documentation_fragment:
      - veza.infra._attributes
      - veza.infra._attributes.actiongroup_veza
"""
from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Doc fragments: standard descriptions, action group membership, common supports."""

    # Standard documentation fragment: what each attribute means.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return a changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled or queried by the module has not changed in a relevant way.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""

    # module_defaults: group/veza.infra.veza (every module of the collection).
    ACTIONGROUP_VEZA = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/veza.infra.veza) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - veza.infra.veza
"""

    # module_defaults: group/veza.infra.haproxy as well (the HAProxy runtime API modules).
    ACTIONGROUP_HAPROXY = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/veza.infra.veza) or C(group/veza.infra.haproxy) in C(module_defaults) to set defaults for
        this module (the canary playbooks set O(socket) and O(backend) once with the latter).
    support: full
    membership:
      - veza.infra.veza
      - veza.infra.haproxy
"""

    # Check mode predicts, and a second run changes nothing.
    CHECK_MODE_IDEMPOTENT = r"""
options: {}
attributes:
  check_mode:
    support: full
  idempotent:
    support: full
"""

    # Only reads: nothing to change, so no diff, and trivially idempotent.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads; it behaves the same in check mode.
  diff_mode:
    support: N/A
    details: Nothing is changed, so there is no diff.
  idempotent:
    support: full
"""
