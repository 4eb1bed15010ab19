# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host that converges itself with ansible-pull, for tests/integration/test_ansible_pull.py.

    repo = snapshot_repo(tmp_dir)             # bare git repo of the working tree being tested
    host = PullHost(repo, hostname="backend-api-1")
    host.start()                              # one systemd container of the lab image
    result = host.pull("--check")             # ansible-pull inside it, JSON of the playbook run
    host.stop()

The container (``veza-pull-<random>``, no published port, no network) runs the lab image
(scripts/build-image.sh) with systemd as PID 1. Ansible comes from the host's venv, bind-mounted
read-only at the same path, together with the interpreter the venv was made from when that is
not the distribution's (pyenv); nothing is installed in the container. The repository is a
fresh commit of the working tree (tracked and untracked, not ignored files, like the sanity
stage's copy), so uncommitted edits are what the test pulls.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/, also when run by hand
from ansible_run import JSON_CALLBACK, parse_json  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
IMAGE = os.environ.get("VEZA_IMAGE", "localhost/veza-lab:bookworm")
REPO_IN_CONTAINER = "/srv/veza-infra.git"
URL = "file://" + REPO_IN_CONTAINER
# the layout docs/ansible-pull.md documents: the checkout is the collection
BASE = "/var/lib/veza-pull"
DEST = BASE + "/ansible_collections/veza/infra"
GIT_ENV = {"GIT_AUTHOR_NAME": "veza test", "GIT_AUTHOR_EMAIL": "test@veza.invalid",
           "GIT_COMMITTER_NAME": "veza test", "GIT_COMMITTER_EMAIL": "test@veza.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def run(cmd, timeout=120, check=True, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError("%s: rc %s\n%s\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-3000:],
                                                    proc.stderr[-3000:]))
    return proc


def snapshot_repo(workdir):
    """Bare repository holding one commit of the working tree of this checkout; its path."""
    tree = os.path.join(workdir, "tree")
    bare = os.path.join(workdir, "veza-infra.git")
    os.makedirs(tree)
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout
    # files deleted from the working tree but still tracked are left out
    present = "\0".join(f for f in files.split("\0") if f and os.path.lexists(os.path.join(ROOT, f)))
    run(["rsync", "-a", "--from0", "--files-from=-", "./", tree + "/"], cwd=ROOT, input=present)
    env = dict(os.environ, **GIT_ENV)
    run(["git", "init", "-q", "-b", "main"], cwd=tree, env=env)
    run(["git", "add", "-A"], cwd=tree, env=env)
    run(["git", "commit", "-q", "-m", "working tree under test"], cwd=tree, env=env)
    run(["git", "clone", "-q", "--bare", tree, bare], env=env)
    return bare


def base_interpreter_prefix():
    """Prefix of the interpreter the venv was made from when it is not the distribution's."""
    out = run([os.path.join(VENV, "bin", "python"), "-c", "import sys; print(sys.base_prefix)"]).stdout.strip()
    return None if out in ("/usr", "/usr/local") else out


class PullResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.doc = parse_json(proc.stdout)

    def stats(self, host):
        assert self.doc, "no playbook JSON in ansible-pull output (rc %s):\n%s" % (self.rc, self.output[-4000:])
        return self.doc["stats"][host]

    def tasks(self, host):
        """(task name, result) of every task that ran on host."""
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                if host in task["hosts"]:
                    yield task["task"]["name"], task["hosts"][host]

    def changed_tasks(self, host):
        return [name for name, res in self.tasks(host) if res.get("changed")]


class PullHost:
    """One systemd container of the lab image that runs ansible-pull on itself."""

    def __init__(self, repo, hostname="backend-api-1"):
        self.repo = repo
        self.hostname = hostname
        self.name = "veza-pull-%s" % uuid.uuid4().hex[:10]
        self.started = False

    def start(self, timeout=60):
        run(["bash", os.path.join(ROOT, "scripts", "build-image.sh")], timeout=900)
        mounts = ["-v", "%s:%s:ro" % (VENV, VENV), "-v", "%s:%s:ro" % (self.repo, REPO_IN_CONTAINER)]
        prefix = base_interpreter_prefix()
        if prefix:
            mounts += ["-v", "%s:%s:ro" % (prefix, prefix)]
        self.started = True
        # SYS_ADMIN: the hardened backend-api unit uses mount namespacing (as in the lab)
        run(["podman", "run", "-d", "--name", self.name, "--hostname", self.hostname, "--network", "none",
             "--cap-add", "SYS_ADMIN", "--label", "veza.pull-test=1"] + mounts + [IMAGE, "/sbin/init"])
        deadline = time.monotonic() + timeout
        while True:
            state = self.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            if time.monotonic() > deadline:
                raise AssertionError("systemd not up in %s after %s s: %r" % (self.name, timeout, state))
            time.sleep(0.3)

    def stop(self):
        if self.started:
            subprocess.run(["podman", "rm", "-f", "-t", "0", self.name], capture_output=True, timeout=120, check=False)
            self.started = False

    def exec(self, cmd, check=True, timeout=120, env=None):
        args = ["podman", "exec", "-w", "/"]
        for k, v in (env or {}).items():
            args += ["-e", "%s=%s" % (k, v)]
        return run(args + [self.name] + list(cmd), check=check, timeout=timeout)

    def sh(self, script, check=True):
        return self.exec(["sh", "-c", script], check=check).stdout

    def pull(self, *args, inventory="inventory/lab.yml", collections_path=BASE, timeout=300):
        """ansible-pull of this repository's playbooks/pull.yml on the host, from /."""
        env = {"ANSIBLE_STDOUT_CALLBACK": JSON_CALLBACK, "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_DEPRECATION_WARNINGS": "0"}
        if collections_path:
            env["ANSIBLE_COLLECTIONS_PATH"] = collections_path
        cmd = [os.path.join(VENV, "bin", "ansible-pull"), "-U", URL, "-d", DEST, "-i", inventory]
        return PullResult(self.exec(cmd + list(args) + ["playbooks/pull.yml"], check=False, timeout=timeout,
                                    env=env))

    def copy_in(self, src, dest):
        run(["podman", "cp", src, "%s:%s" % (self.name, dest)])

    def disk_state(self, paths=("/etc", "/opt", "/usr/local", "/var/log")):
        """Path, type, mode, owner, size and mtime of everything under paths (the checkout and the
        journal, which systemd writes on its own, left out)."""
        out = self.sh("find %s -xdev \\( -path /var/log/journal -o -path %s \\) -prune -o "
                      "-printf '%%p %%y %%m %%u %%g %%s %%T@\\n' | sort" % (" ".join(paths), BASE))
        return out.splitlines()


if __name__ == "__main__":  # pragma: no cover - manual use: python pull_host.py /tmp/dir
    print(snapshot_repo(sys.argv[1]))
