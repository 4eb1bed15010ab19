# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every role's defaults/main.yml and meta/argument_specs.yml describe the same variables,
with the same defaults (the prometheus-community lint_arguments_spec.sh rule). A role may have
several entry points; defaults/main.yml applies to all of them, so it is compared with the
union of their options. Options marked required have no default by design."""
from __future__ import annotations

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(
    r for r in os.listdir(os.path.join(ROOT, "roles"))
    if os.path.isfile(os.path.join(ROOT, "roles", r, "defaults", "main.yml"))
)


def _load(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def test_roles_found():
    assert {"common", "haproxy", "backend_api"} <= set(ROLES)


def _options(role):
    specs = _load("roles", role, "meta", "argument_specs.yml")["argument_specs"]
    options = {}
    for entry in specs.values():
        options.update((entry or {}).get("options") or {})
    return options


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults = _load("roles", role, "defaults", "main.yml")
    options = _options(role)
    optional = {k for k, v in options.items() if not v.get("required")}
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml, not in argument_specs"
    assert sorted(optional - set(defaults)) == [], "in argument_specs, not in defaults/main.yml"
    for name in sorted(set(defaults) & set(options)):
        spec = options[name]
        assert spec.get("description"), "%s: no description" % name
        assert "type" in spec, "%s: no type" % name
        if isinstance(defaults[name], str) and "{{" in defaults[name]:
            continue  # a templated default: the spec documents its usual value
        assert spec.get("default") == defaults[name], "%s: default differs from defaults/main.yml" % name


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    defaults = _load("roles", role, "defaults", "main.yml")
    assert [k for k in defaults if not k.startswith(role + "_")] == []


@pytest.mark.parametrize("role", ["common", "haproxy", "backend_api"])
def test_readme_lists_every_variable(role):
    with open(os.path.join(ROOT, "roles", role, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    defaults = _load("roles", role, "defaults", "main.yml")
    assert [k for k in defaults if "`%s`" % k not in readme] == []
