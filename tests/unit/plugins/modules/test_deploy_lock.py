"""deploy_lock: atomic take, re-entrance, refusal with holder and age, stale handling, release."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.veza.infra.plugins.modules import deploy_lock


class Result:  # pylint: disable=too-few-public-methods
    def __init__(self, rc, result):
        self.failed = rc != 0
        self.result = result


@pytest.fixture
def run(run_module):
    def _run(check_mode=False, **args):
        if check_mode:
            args["_ansible_check_mode"] = True
        return Result(*run_module(deploy_lock, args))
    return _run


def take(run, path, run_id="run-1", **kw):
    return run(path=str(path), owner="alice@ctl", run_id=run_id, pid=42,
               controller="ctl", **kw)


def test_take_creates_lock_with_identity(run, tmp_path):
    path = tmp_path / "sub" / "canary.lock"
    res = take(run, path)
    assert not res.failed and res.result["changed"]
    data = json.loads(path.read_text())
    assert data["owner"] == "alice@ctl" and data["run_id"] == "run-1" and data["pid"] == 42


def test_same_run_is_reentrant(run, tmp_path):
    path = tmp_path / "canary.lock"
    take(run, path)
    res = take(run, path)
    assert not res.failed and not res.result["changed"]


def test_other_run_is_refused_with_owner_and_age(run, tmp_path):
    path = tmp_path / "canary.lock"
    take(run, path)
    res = take(run, path, run_id="run-2")
    assert res.failed
    assert "another release is running" in res.result["msg"]
    assert "alice@ctl" in res.result["msg"] and "BREAK_LOCK=1" in res.result["msg"]
    assert json.loads(path.read_text())["run_id"] == "run-1"


def test_stale_lock_is_reported_not_taken(run, tmp_path):
    path = tmp_path / "canary.lock"
    take(run, path)
    data = json.loads(path.read_text())
    data["created"] = time.time() - 10000
    path.write_text(json.dumps(data))
    res = take(run, path, run_id="run-2", stale_after=3600)
    assert res.failed and "looks stale" in res.result["msg"] and res.result["stale"]
    assert res.result["age"] >= 9999
    res = take(run, path, run_id="run-2", stale_after=3600, break_stale=True)
    assert not res.failed and res.result["changed"]
    assert res.result["previous"]["run_id"] == "run-1"
    assert json.loads(path.read_text())["run_id"] == "run-2"


def test_check_mode_writes_nothing(run, tmp_path):
    path = tmp_path / "canary.lock"
    res = take(run, path, check_mode=True)
    assert res.result["changed"] and not path.exists()


def test_release_only_own_lock_unless_forced(run, tmp_path):
    path = tmp_path / "canary.lock"
    take(run, path)
    res = run(path=str(path), state="absent", run_id="run-2")
    assert res.failed and path.exists()
    res = run(path=str(path), state="absent", run_id="run-1")
    assert not res.failed and res.result["changed"] and not path.exists()
    res = run(path=str(path), state="absent", run_id="run-1")
    assert not res.failed and not res.result["changed"]


def test_corrupt_lock_is_reported_as_held(run, tmp_path):
    path = tmp_path / "canary.lock"
    path.write_text("garbage")
    res = take(run, path)
    assert res.failed and "unreadable lock file" in res.result["msg"]


def test_missing_owner_names_the_field(run, tmp_path):
    res = run(path=str(tmp_path / "l"), run_id="x")
    assert res.failed and "owner" in res.result["msg"]
    assert not os.path.exists(tmp_path / "l")


# -- hostile input (#14 items 10-11) ---------------------------------------------------------------
import multiprocessing  # noqa: E402
import socket  # noqa: E402
import tempfile as _tempfile  # noqa: E402

from ansible_collections.veza.infra.plugins.module_utils import _deploy_lock as dl  # noqa: E402

TAKERS = 20
ROUNDS = 3


def warnings_of(result):
    """Warning texts (ansible-core 2.19 returns them as WarningSummary dicts)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def _params(path, run_id, **kw):
    p = dict(path=str(path), state="present", owner="taker@ctl", run_id=run_id, controller="ctl", pid=1,
             pid_start=None, purpose="", stale_after=3600, break_stale=False, force=False, dead_holder=None)
    p.update(kw)
    return p


def _taker(path, run_id, kw, barrier, slow, out):
    if slow:
        real = _tempfile.mkstemp

        def slow_mkstemp(*a, **k):
            time.sleep(slow)
            return real(*a, **k)
        dl.tempfile.mkstemp = slow_mkstemp
    barrier.wait(10)
    if kw.get("force"):
        kw = dict(kw, run_started_ago=time.time() - kw["t0"])
    failed, result, _warnings = dl.apply(_params(path, run_id, **dict((k, v) for k, v in kw.items() if k != "t0")))
    out.put((run_id, failed, result.get("changed"), result.get("msg")))


def _race(path, kw, slow=0.0):
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(TAKERS), ctx.Queue()
    procs = [ctx.Process(target=_taker, args=(str(path), "run-%d" % i, kw, barrier, slow, out))
             for i in range(TAKERS)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for dummy in procs]
    for proc in procs:
        proc.join(30)
    winners = [r for r in results if not r[1] and r[2]]
    return winners, results


def _stale_lock(path, age=10000):
    path.write_text(json.dumps({"owner": "old@ctl", "run_id": "dead-run", "controller": "ctl", "pid": 9,
                                "created": time.time() - age}))


@pytest.mark.parametrize("slow", [0.0, 0.2], ids=["fast", "slowed-temp-file"])
@pytest.mark.parametrize("scenario", ["fresh", "stale+break_stale", "force"])
def test_concurrent_takers_exactly_one_winner(tmp_path, scenario, slow):
    for rnd in range(ROUNDS):
        path = tmp_path / ("r%d" % rnd) / "canary.lock"
        path.parent.mkdir()
        kw = {}
        if scenario == "stale+break_stale":
            _stale_lock(path)
            kw = dict(break_stale=True)
        elif scenario == "force":
            _stale_lock(path, age=5)   # held, fresh: force takes it over
            kw = dict(force=True, t0=time.time())
        winners, results = _race(path, kw, slow)
        assert len(winners) == 1, (scenario, rnd, results)
        assert json.loads(path.read_text())["run_id"] == winners[0][0]
        losers = [r for r in results if r[1]]
        assert len(losers) == TAKERS - 1
        assert all("took deploy lock" in r[3] or "another release is running" in r[3]
                   or "while this one was taking it" in r[3] or "after this run started" in r[3]
                   for r in losers), losers
        assert not [f for f in os.listdir(path.parent) if f.startswith(".canary.lock.")]   # no temp left


@pytest.mark.parametrize("run_id", ["", "   "])
def test_empty_run_id_refused(run, tmp_path, run_id):
    path = tmp_path / "canary.lock"
    res = take(run, path, run_id=run_id)
    assert res.failed and "run_id must not be empty" in res.result["msg"] and not path.exists()
    take(run, path)
    res = take(run, path, run_id=run_id)   # was: success, changed=false - two owners
    assert res.failed and json.loads(path.read_text())["run_id"] == "run-1"
    res = run(path=str(path), state="absent", run_id=run_id)
    assert res.failed and path.exists()


@pytest.mark.parametrize("created", ["yesterday", None, "nan", float("inf"), True, [1], {"a": 1}])
@pytest.mark.parametrize("state", ["query", "present"])
def test_unusable_created_uses_mtime_no_traceback(run, tmp_path, created, state):
    path = tmp_path / "canary.lock"
    path.write_text(json.dumps({"owner": "bob@x", "run_id": "other", "created": created}))
    old = time.time() - 10000
    os.utime(path, (old, old))
    if state == "query":
        res = run(path=str(path), state="query")
        assert not res.failed and res.result["age_source"] == "mtime" and res.result["age"] >= 9999
    else:
        res = take(run, path, run_id="me", stale_after=3600)
        assert res.failed and "looks stale" in res.result["msg"]
    assert any("modification time" in w for w in warnings_of(res.result))


def test_future_created_is_not_believed(run, tmp_path):
    path = tmp_path / "canary.lock"
    path.write_text(json.dumps({"owner": "bob@x", "run_id": "other", "created": time.time() + 10 ** 7}))
    old = time.time() - 10000
    os.utime(path, (old, old))
    res = take(run, path, run_id="me", stale_after=3600)   # was: never stale
    assert res.failed and res.result["stale"] and res.result["age_source"] == "mtime"
    future = time.time() + 10 ** 7
    os.utime(path, (future, future))
    res = take(run, path, run_id="me", stale_after=3600, break_stale=True)
    assert res.failed and not res.result["stale"] and res.result["age_source"] == "future"
    assert "another release is running" in res.result["msg"]
    res = take(run, path, run_id="me", force=True)
    assert not res.failed and json.loads(path.read_text())["run_id"] == "me"


@pytest.mark.parametrize("state", ["present", "query", "absent"])
def test_dangling_symlink_clear_message(run, tmp_path, state):
    path = tmp_path / "canary.lock"
    os.symlink(str(tmp_path / "gone"), str(path))
    res = run(path=str(path), state=state, owner="a@b", run_id="r")
    assert res.failed and "is a symbolic link" in res.result["msg"] and "which does not exist" in res.result["msg"]
    assert "None" not in res.result["msg"] and os.path.islink(path)


def test_directory_at_lock_path_clear_message(run, tmp_path):
    (tmp_path / "canary.lock").mkdir()
    res = take(run, tmp_path / "canary.lock")
    assert res.failed and "not a regular file (a directory)" in res.result["msg"]


def test_dead_holder_taken_over_only_if_it_still_holds(run, tmp_path):
    path = tmp_path / "canary.lock"
    take(run, path, run_id="dead-one")
    res = take(run, path, run_id="me", dead_holder="someone-else")
    assert res.failed and json.loads(path.read_text())["run_id"] == "dead-one"
    res = take(run, path, run_id="me", dead_holder="dead-one")
    assert not res.failed and res.result["previous"]["run_id"] == "dead-one"
    assert any("taking over the deploy lock held by a dead run" in w for w in warnings_of(res.result))


# -- the controller side: identity and liveness (no ps, no kill) -------------------------------------
def _fake_proc(root, procs):
    """procs: {pid: (ppid, start, argv)}"""
    for pid, (ppid, start, argv) in procs.items():
        d = root / str(pid)
        d.mkdir()
        fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)]
        (d / "stat").write_text("%d (py (thon) x) %s\n" % (pid, " ".join(fields)))
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (root / "stat").write_text("cpu 1 2 3\nbtime 1764000000\n")


def test_playbook_pid_walks_parents(tmp_path):
    playbook = ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"]
    _fake_proc(tmp_path, {50: (1, 7, ["/bin/bash"]), 100: (50, 123, playbook),
                          200: (100, 130, ["/usr/bin/python3", "/venv/bin/ansible-playbook", "site.yml"]),
                          300: (200, 140, ["ssh"])})
    # 200 is a worker forked from the run (100): same argv. The run is 100, not the worker, whose PID
    # changes with every task and is gone when the task ends (a second canary then took the "dead"
    # run's lock over while the first still ran: tests/lab/test_faults.py caught it).
    assert dl.playbook_pid(300, proc=str(tmp_path)) == 100
    assert dl.playbook_pid(200, proc=str(tmp_path)) == 100
    assert dl.proc_start(200, proc=str(tmp_path)) == 130


def test_playbook_pid_of_a_run_started_by_another_run(tmp_path):
    # an ansible-playbook started from a task of another one: the inner run (other argv) is the run
    outer = ["/usr/bin/python3", "/venv/bin/ansible-playbook", "outer.yml"]
    inner = ["/usr/bin/python3", "/venv/bin/ansible-playbook", "-i", "lab.yml", "canary.yml"]
    _fake_proc(tmp_path, {100: (1, 10, outer), 110: (100, 11, outer), 120: (110, 12, ["/bin/sh", "-c", "x"]),
                          130: (120, 13, inner), 140: (130, 14, inner)})
    assert dl.playbook_pid(140, proc=str(tmp_path)) == 130
    assert dl.playbook_pid(110, proc=str(tmp_path)) == 100


def test_holder_alive(tmp_path):
    _fake_proc(tmp_path, {77: (1, 500, ["x"])})
    assert dl.holder_alive(77, 500, proc=str(tmp_path)) is True
    assert dl.holder_alive(77, None, proc=str(tmp_path)) is True
    assert dl.holder_alive(77, 501, proc=str(tmp_path)) is False   # PID reused by another process
    assert dl.holder_alive(78, None, proc=str(tmp_path)) is False
    assert dl.holder_alive(None) is True and dl.holder_alive("x") is True   # unknown: never assume dead


def test_a_zombie_holder_is_not_alive(tmp_path):
    # ended, not yet reaped by its parent: it holds nothing (the background watcher's owner check too)
    _fake_proc(tmp_path, {77: (1, 500, ["x"])})
    stat = tmp_path / "77" / "stat"
    stat.write_text(stat.read_text().replace(") S ", ") Z "))
    assert dl.holder_alive(77, 500, proc=str(tmp_path)) is False
    assert dl.holder_alive(77, None, proc=str(tmp_path)) is False


def test_run_identity_is_stable_and_real():
    a, b = dl.run_identity(), dl.run_identity()
    assert a["run_id"] == b["run_id"] and a["pid_start"] == b["pid_start"] and a["run_started_ago"] >= 0
    assert a["controller"] == socket.gethostname() and a["pid"] > 1
    assert a["run_id"].startswith("%s-%d-" % (a["controller"], a["pid"]))
    assert dl.holder_alive(a["pid"], a["pid_start"]) is True


@pytest.mark.parametrize("field", ["stale_after", "pid", "pid_start"])
def test_infinite_integer_refused_without_traceback(run, tmp_path, field):
    """Found by the property test: ansible-core raises OverflowError converting 'INF' to int."""
    res = run(path=str(tmp_path / "canary.lock"), owner="a@b", run_id="r", **{field: "INF"})
    assert res.failed and field in res.result["msg"] and not (tmp_path / "canary.lock").exists()
