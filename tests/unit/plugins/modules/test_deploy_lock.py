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
