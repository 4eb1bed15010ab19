# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/doc_fragments/_attributes.py: every fragment is YAML with an ``attributes`` block,
and ansible's doc loader merges them into a module's DOCUMENTATION the way ansible-doc does."""
from __future__ import annotations

import yaml

from ansible_collections.veza.infra.plugins.doc_fragments._attributes import ModuleDocFragment

FRAGMENTS = [name for name in vars(ModuleDocFragment) if name.isupper()]

MODULE = '''
DOCUMENTATION = r"""
module: example
short_description: An example
description: [An example.]
author: [veza.infra maintainers]
extends_documentation_fragment:
  - veza.infra._attributes
  - veza.infra._attributes.actiongroup_haproxy
  - veza.infra._attributes.check_mode_idempotent
attributes:
  diff_mode:
    support: none
options: {}
"""
'''


def test_every_fragment_is_an_attributes_block():
    assert {"DOCUMENTATION", "ACTIONGROUP_VEZA", "ACTIONGROUP_HAPROXY", "CHECK_MODE_IDEMPOTENT"} <= set(FRAGMENTS)
    for name in FRAGMENTS:
        doc = yaml.safe_load(getattr(ModuleDocFragment, name))
        assert doc["options"] == {} and doc["attributes"], name


def test_ansible_merges_the_fragments_into_a_module(tmp_path):
    from ansible.plugins.loader import fragment_loader  # pylint: disable=import-outside-toplevel
    from ansible.utils.plugin_docs import get_docstring  # pylint: disable=import-outside-toplevel
    path = tmp_path / "example.py"
    path.write_text(MODULE)
    doc, _examples, _returns, _meta = get_docstring(str(path), fragment_loader, collection_name="veza.infra",
                                                    is_module=True, plugin_type="module")
    attrs = doc["attributes"]
    assert attrs["check_mode"]["support"] == "full" and "check_mode" in attrs["check_mode"]["description"]
    assert attrs["idempotent"]["support"] == "full"
    assert attrs["diff_mode"]["support"] == "none" and attrs["diff_mode"]["description"]
    assert attrs["action_group"]["membership"] == ["veza.infra.veza", "veza.infra.haproxy"]
    assert attrs["platform"]["platforms"] == "posix"
