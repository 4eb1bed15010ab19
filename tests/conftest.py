"""Shared pytest set-up: make ``ansible_collections.veza.infra`` importable from the checkout.

The Makefile links ``.collections/ansible_collections/veza/infra`` to the repository root; the
collection loader of ansible-core (the one ``ansible-test units`` installs) resolves it.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")

if not os.path.islink(os.path.join(COLLECTIONS, "ansible_collections", "veza", "infra")):
    os.makedirs(os.path.join(COLLECTIONS, "ansible_collections", "veza"), exist_ok=True)
    os.symlink("../../..", os.path.join(COLLECTIONS, "ansible_collections", "veza", "infra"))

try:
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
except ImportError:  # pragma: no cover - ansible-core is in the venv
    sys.path.insert(0, COLLECTIONS)
else:
    _AnsibleCollectionFinder(paths=[COLLECTIONS])._install()  # pylint: disable=protected-access
