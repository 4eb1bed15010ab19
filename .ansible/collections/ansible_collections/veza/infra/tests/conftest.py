"""Shared pytest set-up of every test under tests/.

- ``ansible_collections.veza.infra`` importable from the checkout: the Makefile links
  ``.collections/ansible_collections/veza/infra`` to the repository root (made here too when
  missing); the collection loader of ansible-core (the one ``ansible-test units`` installs)
  resolves it.
- tests/ on ``sys.path``: the shared helpers (``ansible_run``: running Ansible and reading its
  JSON, ``free_port``, ``wait_until``; ``loadgen``) import by their plain names.
- hypothesis' profile: bounded examples, derandomized when CI is set.
"""
import os
import sys
import tempfile

# hypothesis' example database and caches outside the checkout (a .hypothesis/ here would ship in
# the collection tarball); kept between runs, so that a failure replays.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "veza-infra-hypothesis"))

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is in the venv and tests/unit/requirements.txt
    settings = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
TESTS = os.path.join(ROOT, "tests")
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

if not os.path.islink(os.path.join(COLLECTIONS, "ansible_collections", "veza", "infra")):
    os.makedirs(os.path.join(COLLECTIONS, "ansible_collections", "veza"), exist_ok=True)
    os.symlink("../../..", os.path.join(COLLECTIONS, "ansible_collections", "veza", "infra"))

try:
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
except ImportError:  # pragma: no cover - ansible-core is in the venv
    sys.path.insert(0, COLLECTIONS)
else:
    _AnsibleCollectionFinder(paths=[COLLECTIONS])._install()  # pylint: disable=protected-access

# Property tests (hypothesis): bounded everywhere, derandomized (a fixed seed: the same examples on
# every run) when CI is set, so that a CI failure replays locally with CI=1.
if settings is not None:
    settings.register_profile("veza", max_examples=200, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("veza-ci", parent=settings.get_profile("veza"), derandomize=True, print_blob=True)
    settings.load_profile("veza-ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "veza")
