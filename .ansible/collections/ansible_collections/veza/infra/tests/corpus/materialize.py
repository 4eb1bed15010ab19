# -*- coding: utf-8 -*-
# Copyright (c) 2025, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Extract the pinned external migration corpus (sources.json) into .cache/corpus/<project>/.

The files stay their projects' own (MIT / Apache-2.0, their LICENSE files are extracted beside
them); this repository keeps only the pins, the hand verdicts and their sha256. A project comes
from, in order: $VEZA_CORPUS_MIRROR/<owner>+<name>/repo (a bare git dir), /work/.mirror/...,
or a blobless clone of https://github.com/<owner>/<name> (network). Usage:

    python tests/corpus/materialize.py [--dest DIR]      # prints the directory
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DEST = os.path.join(ROOT, ".cache", "corpus")


def load_sources():
    with open(os.path.join(HERE, "sources.json"), encoding="utf-8") as fh:
        return json.load(fh)["projects"]


def _git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir] + list(args), capture_output=True,
                          check=True).stdout


def _find_gitdir(repo, dest, allow_clone):
    key = repo.replace("/", "+")
    for base in (os.environ.get("VEZA_CORPUS_MIRROR"), "/work/.mirror"):
        if base and os.path.isdir(os.path.join(base, key, "repo")):
            return os.path.join(base, key, "repo")
    clone = os.path.join(dest, ".git-" + key)
    if os.path.isdir(clone):
        return clone
    if not allow_clone:
        return None
    subprocess.run(["git", "clone", "--bare", "--filter=blob:none", "-q",
                    "https://github.com/%s.git" % repo, clone], check=True, timeout=600)
    return clone


def materialize(dest=DEFAULT_DEST, allow_clone=True):
    """Extract every project; returns {project: directory}, or raises LookupError."""
    out = {}
    for proj in load_sources():
        pdir = os.path.join(dest, proj["name"])
        stamp = os.path.join(pdir, ".commit")
        if os.path.isfile(stamp) and open(stamp, encoding="utf-8").read().strip() == proj["commit"]:
            out[proj["name"]] = pdir
            continue
        gitdir = _find_gitdir(proj["repo"], dest, allow_clone)
        if gitdir is None:
            raise LookupError("no copy of %s: set VEZA_CORPUS_MIRROR, or allow a clone"
                              % proj["repo"])
        names = _git(gitdir, "ls-tree", "-r", "--name-only", "-z", proj["commit"]).decode().split("\0")
        wanted = sorted(n for n in names if any(fnmatch.fnmatchcase(n, g) for g in proj["include"]))
        for name in wanted + proj["license_files"]:
            data = _git(gitdir, "show", "%s:%s" % (proj["commit"], name)).decode("utf-8")
            for old, new in proj["substitutions"]:
                data = data.replace(old, new)
            path = os.path.join(pdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(data)
        with open(stamp, "w", encoding="utf-8") as fh:
            fh.write(proj["commit"] + "\n")
        out[proj["name"]] = pdir
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--dest", default=DEFAULT_DEST)
    ap.add_argument("--no-clone", action="store_true", help="only use a local mirror")
    args = ap.parse_args()
    try:
        dirs = materialize(args.dest, allow_clone=not args.no_clone)
    except (LookupError, subprocess.CalledProcessError) as exc:
        sys.exit("materialize: %s" % exc)
    for name, path in dirs.items():
        print("%s\t%s" % (name, path))


if __name__ == "__main__":
    main()
