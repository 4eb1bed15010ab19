# -*- coding: utf-8 -*-
# Copyright: veza.infra contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: a Prometheus module's documented options, its own and the doc fragment's."""
from __future__ import annotations

import yaml

from ansible_collections.veza.infra.plugins.doc_fragments import _prometheus


def documented_options(module):
    """The DOCUMENTATION options of ``module`` merged with veza.infra._prometheus's (checked disjoint)."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert "veza.infra._prometheus" in doc["extends_documentation_fragment"]
    fragment = yaml.safe_load(_prometheus.ModuleDocFragment.DOCUMENTATION)["options"]
    assert not set(fragment) & set(doc["options"]), "an option documented twice"
    options = dict(doc["options"])
    options.update(fragment)
    return doc, options
