"""deploy_lock: atomic take, re-entrance, refusal with holder and age, stale handling, release."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible_collections.veza.infra.plugins.modules import deploy_lock


class _Exit(Exception):
    def __init__(self, result, failed):
        super().__init__(result.get("msg", ""))
        self.result = result
        self.failed = failed


def run(monkeypatch, check_mode=False, **args):
    def exit_json(self, **kw):
        raise _Exit(kw, False)

    def fail_json(self, **kw):
        raise _Exit(kw, True)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(_Exit) as exc:
            deploy_lock.main()
    return exc.value


def take(monkeypatch, path, run_id="run-1", **kw):
    return run(monkeypatch, path=str(path), owner="alice@ctl", run_id=run_id, pid=42,
               controller="ctl", **kw)


def test_take_creates_lock_with_identity(monkeypatch, tmp_path):
    path = tmp_path / "sub" / "canary.lock"
    res = take(monkeypatch, path)
    assert not res.failed and res.result["changed"]
    data = json.loads(path.read_text())
    assert data["owner"] == "alice@ctl" and data["run_id"] == "run-1" and data["pid"] == 42


def test_same_run_is_reentrant(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    take(monkeypatch, path)
    res = take(monkeypatch, path)
    assert not res.failed and not res.result["changed"]


def test_other_run_is_refused_with_owner_and_age(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    take(monkeypatch, path)
    res = take(monkeypatch, path, run_id="run-2")
    assert res.failed
    assert "another release is running" in res.result["msg"]
    assert "alice@ctl" in res.result["msg"] and "BREAK_LOCK=1" in res.result["msg"]
    assert json.loads(path.read_text())["run_id"] == "run-1"


def test_stale_lock_is_reported_not_taken(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    take(monkeypatch, path)
    data = json.loads(path.read_text())
    data["created"] = time.time() - 10000
    path.write_text(json.dumps(data))
    res = take(monkeypatch, path, run_id="run-2", stale_after=3600)
    assert res.failed and "looks stale" in res.result["msg"] and res.result["stale"]
    assert res.result["age"] >= 9999
    res = take(monkeypatch, path, run_id="run-2", stale_after=3600, break_stale=True)
    assert not res.failed and res.result["changed"]
    assert res.result["previous"]["run_id"] == "run-1"
    assert json.loads(path.read_text())["run_id"] == "run-2"


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    res = take(monkeypatch, path, check_mode=True)
    assert res.result["changed"] and not path.exists()


def test_release_only_own_lock_unless_forced(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    take(monkeypatch, path)
    res = run(monkeypatch, path=str(path), state="absent", run_id="run-2")
    assert res.failed and path.exists()
    res = run(monkeypatch, path=str(path), state="absent", run_id="run-1")
    assert not res.failed and res.result["changed"] and not path.exists()
    res = run(monkeypatch, path=str(path), state="absent", run_id="run-1")
    assert not res.failed and not res.result["changed"]


def test_corrupt_lock_is_reported_as_held(monkeypatch, tmp_path):
    path = tmp_path / "canary.lock"
    path.write_text("garbage")
    res = take(monkeypatch, path)
    assert res.failed and "unreadable lock file" in res.result["msg"]


def test_missing_owner_names_the_field(monkeypatch, tmp_path):
    res = run(monkeypatch, path=str(tmp_path / "l"), run_id="x")
    assert res.failed and "owner" in res.result["msg"]
    assert not os.path.exists(tmp_path / "l")
