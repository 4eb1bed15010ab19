"""The checkout is a collection: galaxy.yml and meta/runtime.yml agree with what ships."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_galaxy_identity():
    galaxy = _load("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == ("veza", "infra")
    assert galaxy["version"].count(".") == 2


def test_action_group_lists_every_module():
    runtime = _load("meta/runtime.yml")
    modules = sorted(
        f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules"))
        if f.endswith(".py") and not f.startswith("_")
    )
    assert sorted(runtime["action_groups"]["veza"] or []) == modules
