"""The CLI as a user runs it: real processes, exit codes, --json output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.tracking import start_run
from llmops.workspace import Workspace


def llmops(home: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    full_env.update({"LLMOPS_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "llmops", *args], env=full_env,
                          capture_output=True, text=True, timeout=60)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_init_creates_home_database_and_prints_an_admin_key_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = as_json(llmops(home, "init", "--json"))
    assert first["admin_key"].startswith("llmops_") and (home / "llmops.db").exists()
    again = as_json(llmops(home, "init", "--json"))
    assert again["admin_key"] is None
    keys = as_json(llmops(home, "keys", "list", "--json"))
    assert [(k["name"], k["role"], k["state"]) for k in keys] == [("admin", "admin", "active")]
    assert first["admin_key"] not in json.dumps(keys)


def test_keys_create_list_and_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = as_json(llmops(home, "keys", "create", "--role", "viewer", "--name", "dash",
                             "--expires", "30d", "--json"))
    assert created["key"].startswith("llmops_") and created["role"] == "viewer"
    assert created["expires_at"] - created["created_at"] == 30 * 86400 * 1000
    revoked = as_json(llmops(home, "keys", "revoke", created["id"], "--json"))
    assert revoked["state"] == "revoked"


@pytest.mark.parametrize(("args", "message"), [
    (["keys", "create", "--role", "root", "--name", "x"], "unknown role 'root'"),
    (["keys", "create", "--role", "viewer", "--name", "Bad Name"], "invalid key name"),
    (["keys", "create", "--role", "viewer", "--name", "x", "--expires", "soon"],
     "invalid duration"),
    (["keys", "revoke", "01NOSUCHKEY"], "no API key"),
    (["runs", "show", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"], "no run"),
    (["runs", "show", "../../etc"], "invalid reference"),
    (["lineage", "show", "run:01ZZZ", "--json"], ""),
])
def test_user_errors_exit_1_with_a_message_and_no_traceback(tmp_path: Path, args: list[str],
                                                            message: str) -> None:
    result = llmops(tmp_path / "home", *args)
    if not message:  # an unknown node simply has no lineage
        assert result.returncode == 0
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert llmops(tmp_path / "home", "runs", "list", "--limit", "zero").returncode == 2
    assert llmops(tmp_path / "home", "no-such-command").returncode == 2


def test_every_command_has_short_help(tmp_path: Path) -> None:
    for args in (["-h"], ["runs", "-h"], ["runs", "show", "-h"], ["keys", "create", "-h"],
                 ["config", "show", "-h"], ["lineage", "show", "-h"], ["server", "-h"]):
        result = llmops(tmp_path / "home", *args)
        assert result.returncode == 0 and "Usage" in result.stdout, args


def test_runs_list_show_and_compare(sqlite_settings: Settings, tmp_path: Path) -> None:
    Workspace.open(sqlite_settings)
    ids = []
    for lr in (0.1, 0.01):
        with start_run(experiment="cmp", params={"lr": lr, "layers": 2}) as run:
            run.log_metric("loss", lr * 10, step=5)
            ids.append(run.id)
    home = sqlite_settings.home_path
    listed = as_json(llmops(home, "runs", "list", "--experiment", "cmp", "--json"))
    assert [r["id"] for r in listed] == ids[::-1]
    shown = as_json(llmops(home, "runs", "show", f"run:{ids[0]}", "--json"))
    assert shown["params"] == {"lr": "0.1", "layers": "2"} and shown["status"] == "finished"
    compared = as_json(llmops(home, "runs", "compare", *ids, "--json"))
    assert compared["params"]["lr"] == ["0.1", "0.01"]
    assert compared["metrics"]["loss"] == [1.0, 0.1]
    text = llmops(home, "runs", "show", ids[0]).stdout
    assert "finished" in text and "lr" in text and "loss" in text
    history = as_json(llmops(home, "runs", "metric", ids[0], "loss", "--json"))
    assert history["steps"] == [5]


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    shown = as_json(llmops(tmp_path / "home", "config", "show", "--json",
                           env={"LLMOPS_API_KEY": "llmops_topsecret", "LLMOPS_PORT": "9999"}))
    assert shown["port"] == {"env": "LLMOPS_PORT", "value": 9999, "source": "env",
                             "description": shown["port"]["description"]}
    assert shown["api_key"]["value"] == "********"
    assert "topsecret" not in json.dumps(shown)


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys, llmops.cli.app; heavy = {'fastapi', 'uvicorn', 'sqlalchemy', "
            "'alembic', 'httpx', 'torch', 'transformers', 'fsspec'} & set(sys.modules); "
            "print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_generated_docs_are_current() -> None:
    from llmops.cli.reference import main

    assert main(["--check"]) == 0, "run `python -m llmops.cli.reference`"
