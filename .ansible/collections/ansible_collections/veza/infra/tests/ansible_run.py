# -*- coding: utf-8 -*-
# Copyright: (c) 2026, veza.infra maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way tests, labs and benches run Ansible from this checkout and read its JSON.

    from ansible_run import ansible_env, module, playbook, task_results

    res = module("veza.infra.haproxy_server_state", {"socket": ..., ...}, check=True)  # host result
    run = playbook(book, inventory, env={"PEER_SERIAL": "2"}, extra_vars={"x": 1})
    run.rc, run.doc, run.stdout, run.stderr
    for name, host, result in task_results(run.doc): ...

``ansible_env()`` is the environment every caller starts from: the venv's ``bin`` first on PATH,
this checkout's ansible.cfg and collections (``.collections``, linked by ``make bootstrap`` or
tests/conftest.py) and, with ``json=True`` (the default), the JSON stdout callback under its one
name, :data:`JSON_CALLBACK`. A stream reader (the lab's live runs) asks for ``json=False``.

``free_port()`` and ``wait_until()`` are here too: every loopback lab uses them.

tests/ is on ``sys.path`` under pytest (tests/conftest.py sits there); a bench run as a script
puts it there itself.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("VEZA_VENV", "/opt/veza-infra/venv")
JSON_CALLBACK = "ansible.posix.json"  # ansible.builtin.json is only a redirect to it


def ansible_env(json=True, drop=(), **extra):  # pylint: disable=redefined-outer-name
    """os.environ + what running Ansible from this checkout needs; ``extra`` on top (str()'d),
    names in ``drop`` removed (knobs the caller's own environment must not leak in)."""
    env = dict(os.environ)
    bindirs = [os.path.join(VENV, "bin"), os.path.dirname(sys.executable)]
    env["PATH"] = os.pathsep.join(dict.fromkeys(bindirs + [env.get("PATH", "")]))
    env.update(ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if json:
        env.update(ANSIBLE_STDOUT_CALLBACK=JSON_CALLBACK, ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    for name in drop:
        env.pop(name, None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def parse_json(text):
    """The callback's document in ``text``: all of it, or the first ``{`` line on which a
    document with ``plays`` starts (ansible-pull prints git's output first; ANSIBLE_JSON_INDENT=0
    puts it on one line). None when there is none."""
    try:
        doc = json.loads(text)
    except ValueError:
        pass
    else:
        return doc if isinstance(doc, dict) else None
    decoder = json.JSONDecoder()
    for m in re.finditer(r"^\{", text, re.M):
        try:
            doc, _end = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(doc, dict) and "plays" in doc:
            return doc
    return None


class Run:
    """A finished ansible(-playbook) process: ``rc``, ``stdout``, ``stderr``, ``doc`` (the JSON
    document or None) and ``elapsed`` seconds."""

    def __init__(self, cmd, proc, elapsed):
        self.cmd = cmd
        self.rc = proc.returncode
        self.stdout = proc.stdout or ""
        self.stderr = proc.stderr or ""
        self.elapsed = elapsed
        self.doc = parse_json(self.stdout)

    def __iter__(self):  # rc, doc = playbook(...)
        return iter((self.rc, self.doc))

    def need_doc(self):
        if self.doc is None:
            raise AssertionError("no JSON from %s (rc %s)\nstdout: %s\nstderr: %s"
                                 % (" ".join(self.cmd[:2]), self.rc, self.stdout[-3000:], self.stderr[-3000:]))
        return self.doc


def run(cmd, env=None, cwd=ROOT, timeout=300, **kw):
    """Run ``cmd`` (``ansible``, ``ansible-playbook``, ``ansible-pull``, ...) to its end: a Run.
    ``env`` defaults to ``ansible_env()``."""
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=str(cwd), env=ansible_env() if env is None else env, capture_output=True,
                          text=True, timeout=timeout, check=False, **kw)
    return Run(cmd, proc, time.monotonic() - t0)


def playbook(book, inventory, *args, env=None, extra_vars=None, cwd=ROOT, timeout=300, drop=()):
    """``ansible-playbook -i inventory book [args]`` with the JSON callback. ``env``: variables on
    top of ``ansible_env()``; ``extra_vars``: one ``-e`` of JSON."""
    cmd = ["ansible-playbook", "-i", str(inventory), str(book)] + list(args)
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    return run(cmd, env=ansible_env(drop=drop, **(env or {})), cwd=cwd, timeout=timeout)


def module(name, args, check=False, diff=False, host="localhost", timeout=180, env=None, extra=()):
    """``ansible localhost -m name -a <json>`` on a local connection with this interpreter;
    the host's result dict. A module failure must be a clean message, never a traceback."""
    cmd = ["ansible", host, "-i", "%s," % host, "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
           "-m", name, "-a", json.dumps(args)] + list(extra)
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    done = run(cmd, env=ansible_env(**(env or {})), timeout=timeout)
    try:
        result = done.need_doc()["plays"][0]["tasks"][0]["hosts"][host]
    except (KeyError, IndexError):
        raise AssertionError("ansible gave no host result (rc %s)\nstdout: %s\nstderr: %s"
                             % (done.rc, done.stdout[-3000:], done.stderr[-3000:])) from None
    assert "Traceback" not in result.get("module_stderr", ""), result
    assert "Traceback" not in str(result.get("exception", "")), result.get("exception")
    return result


def task_results(doc):
    """(task name, host, result) of every task of every play of a callback document."""
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                yield task["task"]["name"], host, res


def free_port():
    """A free TCP port on 127.0.0.1 (bound then released; the caller's server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, step=0.1, what="condition"):
    """Call ``predicate`` every ``step`` s until it is true; TimeoutError naming ``what`` after
    ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError("timed out after %ss waiting for %s" % (timeout, what))
