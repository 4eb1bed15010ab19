# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The committed generated docs (docs/reference/*.rst, antsibull-docs' pages; the knob table of
docs/guide.md, gen-docs' own) are what scripts/gen-docs.py produces from the modules, filters and
roles now, and they document every option, return value and knob.

A failure here usually means a module's DOCUMENTATION/RETURN, a filter's YAML or a role's
argument_specs/defaults changed without `make docs`: run it and commit the result."""
from __future__ import annotations

import importlib.util
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("veza_gen_docs", os.path.join(ROOT, "scripts", "gen-docs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(gen):
    return gen.render_all()


def test_committed_docs_are_current(gen, rendered):
    files, _problems = rendered
    stale = gen.stale_files(files)
    assert stale == [], (
        "generated docs are stale: %s\nregenerate and commit them: %s"
        % (", ".join(stale), gen.FIX_COMMAND))


def test_sources_have_no_doc_problems(gen, rendered):
    _files, problems = rendered
    assert problems == [], "\n".join(problems) + "\n(fix the source, then: %s)" % gen.FIX_COMMAND


def test_stale_detection_sees_an_edit_and_a_leftover(gen, rendered, tmp_path, monkeypatch):
    files, _problems = rendered
    root = tmp_path / "tree"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    monkeypatch.setattr(gen, "ROOT", str(root))
    assert gen.stale_files(files) == []
    edited = os.path.join(gen.REF_DIR, "prom_sli_watch_module.rst")
    default = "<b style=\"color: blue;\">Default:</b> <code style=\"color: blue;\">3600</code>"
    assert default in files[edited]
    (root / edited).write_text(files[edited].replace(default, default.replace("3600", "60")), encoding="utf-8")
    leftover = os.path.join(gen.REF_DIR, "removed_module.rst")
    (root / leftover).write_text(gen.ANTSIBULL_MARKER + "\n\ngone\n", encoding="utf-8")
    old_md = os.path.join(gen.REF_DIR, "removed.md")
    (root / old_md).write_text(gen.MARKER + " from x. -->\n# gone\n", encoding="utf-8")
    handwritten = os.path.join(gen.REF_DIR, "notes.md")
    (root / handwritten).write_text("# notes kept by hand\n", encoding="utf-8")
    assert gen.stale_files(files) == [edited, old_md, leftover]


def _module_doc(path):
    """DOCUMENTATION and RETURN as ansible-doc reads them (doc fragments merged)."""
    from ansible.plugins.loader import fragment_loader  # pylint: disable=import-outside-toplevel
    from ansible.utils.plugin_docs import get_docstring  # pylint: disable=import-outside-toplevel
    doc, _examples, returns, _meta = get_docstring(
        os.path.abspath(path), fragment_loader, collection_name="veza.infra", is_module=True, plugin_type="module")
    return doc or {}, returns or {}


def test_every_module_has_a_page_with_every_option_and_return_value(rendered):
    files, _problems = rendered
    modules = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                     if f.endswith(".py") and not f.startswith("_"))
    assert len(modules) >= 4
    for name in modules:
        doc, returns = _module_doc(os.path.join(ROOT, "plugins", "modules", name + ".py"))
        page = files[os.path.join("docs", "reference", name + "_module.rst")]
        assert page.startswith(".. Created with antsibull-docs")
        missing = [o for o in doc["options"] if 'id="parameter-%s"' % o not in page]
        missing += [r for r in returns if 'id="return-%s"' % r not in page]
        assert missing == [], "%s: not in its reference page: %s" % (name, missing)
        assert "Examples" in page and "veza.infra.%s:" % name in page


def _role_files(*parts):
    """(role, text of roles/<role>/<parts>) of every role that has that file."""
    for role in sorted(os.listdir(os.path.join(ROOT, "roles"))):
        path = os.path.join(ROOT, "roles", role, *parts)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                yield role, fh.read()


def test_every_filter_and_role_knob_has_its_page(rendered):
    files, _problems = rendered
    for fname in os.listdir(os.path.join(ROOT, "plugins", "filter")):
        if fname.endswith(".yml"):
            page = files[os.path.join("docs", "reference", fname[:-4] + "_filter.rst")]
            assert "veza.infra.%s filter" % fname[:-4] in page
    for role, text in _role_files("meta", "argument_specs.yml"):
        specs = yaml.safe_load(text)["argument_specs"]
        page = files[os.path.join("docs", "reference", role + "_role.rst")]
        missing = ["%s--%s" % (entry, opt) for entry, spec in specs.items() for opt in (spec.get("options") or {})
                   if 'id="parameter-%s--%s"' % (entry, opt) not in page]
        assert missing == [], "%s: not in its role page: %s" % (role, missing)


def test_canary_knobs_show_the_runbook_environment_variable_and_default(rendered):
    files, _problems = rendered
    guide = files[os.path.join("docs", "guide.md")]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| \w+ \| \[`(\w+)`\]\(reference/\w+_role\.rst\).*$", guide, re.M)}
    assert rows["canary_sli_window"].endswith("| `SLI_WINDOW` | `3600` |")
    assert rows["canary_force_migrate"].endswith("| `FORCE_MIGRATE` | `false` |")
    assert rows["canary_prom_url"].endswith("| `PROM_URL` | `http://prom.lxd:9090` |")
    assert rows["canary_prom_scrape_interval"].endswith("|  | `15` |")  # no environment variable
    for role, text in _role_files("defaults", "main.yml"):
        names = re.findall(r"^(%s_\w+):" % role, text, re.M)
        missing = [n for n in names if "[`%s`](reference/%s_role.rst)" % (n, role) not in guide]
        assert missing == [], "%s: knobs missing from the guide's table: %s" % (role, missing)


@pytest.mark.parametrize("raw, env_default, spec_default, ok", [
    ("{{ lookup('ansible.builtin.env', 'X', default='0') in ['1', 'true'] }}", "0", False, True),
    ("{{ lookup('ansible.builtin.env', 'X', default='1') in ['1', 'true'] }}", "1", False, False),
    ("{{ lookup('ansible.builtin.env', 'X', default='3600') }}", "3600", 3600, True),
    ("{{ lookup('ansible.builtin.env', 'X', default='360') }}", "360", 3600, False),
    ("{{ lookup('ansible.builtin.env', 'X', default='0.005') }}", "0.005", 0.005, True),
    ("{{ lookup('ansible.builtin.env', 'X', default='api') }}", "api", "api_pool", False),
])
def test_environment_default_compared_with_the_documented_default(gen, raw, env_default, spec_default, ok):
    match = gen.ENV_LOOKUP.search(raw)
    assert match.group("name") == "X" and match.group("default") == env_default
    assert gen._env_default_matches(raw, env_default, spec_default) is ok  # pylint: disable=protected-access


# Written in parallel by another engineer (issue 9, ansible-pull); a link to it is checked once
# the file exists.
PENDING = {os.path.join("docs", "ansible-pull.md")}


def _anchors(path):
    with open(path, encoding="utf-8") as fh:
        text = re.sub(r"```.*?```", "", fh.read(), flags=re.S)
    ids = set(re.findall(r'<a id="([^"]+)"></a>', text))
    for heading in re.findall(r"^#+ (.+)$", text, re.M):  # GitHub's heading anchors
        ids.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return ids


def test_links_of_the_guide_readme_index_and_reference_resolve():
    pages = ["README.md", os.path.join("docs", "index.md"), os.path.join("docs", "guide.md")]
    pages += [os.path.join("docs", "reference", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs", "reference")))
              if f.endswith(".md")]
    broken = []
    for page in pages:
        with open(os.path.join(ROOT, page), encoding="utf-8") as fh:
            text = re.sub(r"```.*?```", "", fh.read(), flags=re.S)
        for link in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", link):
                continue
            target, _sep, anchor = link.partition("#")
            rel = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
            path = os.path.join(ROOT, rel)
            if not os.path.exists(path):
                if rel not in PENDING:
                    broken.append("%s: %s (no such file)" % (page, link))
            elif anchor and path.endswith(".md") and anchor not in _anchors(path):
                broken.append("%s: %s (no such anchor)" % (page, link))
    assert broken == []


def test_runbook_knob_table_names_every_environment_variable_of_the_canary(gen):
    """docs/runbooks/CANARY.md is hand-written for on-call engineers (its "When to change" column
    is not generated): every runbook variable the canary role reads must have its row there."""
    read = {env for _name, _spec, _default, env, _entries in gen.role_knobs("canary", [])[1] if env}
    with open(os.path.join(ROOT, "docs", "runbooks", "CANARY.md"), encoding="utf-8") as fh:
        runbook = fh.read()
    table = runbook[runbook.index("## Configuration knobs"):]
    table = table[:table.index("\n## ")]
    rows = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(
        line.split("|")[1] for line in table.splitlines() if line.startswith("| `"))))
    assert len(read) >= 20
    missing = sorted(read - rows)
    assert missing == [], ("docs/runbooks/CANARY.md's knob table has no row for %s; add one "
                           "(knob, Ansible variable, default, when to change)" % ", ".join(missing))
