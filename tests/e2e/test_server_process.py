"""The server as a real process on a loopback port, used by real clients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import server_process

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(tmp_path / "server-home")
    init = subprocess.run([sys.executable, "-m", "llmops", "init", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    admin = json.loads(init.stdout)["admin_key"]
    with server_process(env) as url:
        yield url, admin, env


def test_a_script_tracks_a_run_through_the_server(server: tuple[str, str, dict[str, str]],
                                                  tmp_path: Path) -> None:
    url, admin, server_env = server
    key = httpx.post(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {admin}"},
                     json={"name": "trainer", "role": "maintainer"}).json()["key"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.bin").write_bytes(b"\x01" * 2048)
    script = textwrap.dedent(f"""
        import llmops
        with llmops.start_run(experiment="remote", name="r1") as run:
            run.log_params({{"lr": 1e-4}})
            for step in range(50):
                run.log_metric("loss", 1 / (step + 1), step=step)
            run.log_artifact({str(tmp_path / "out")!r})
        print(run.id)
    """)
    client_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    client_env.update({"LLMOPS_HOME": str(tmp_path / "client-home"),
                       "LLMOPS_SERVER_URL": url, "LLMOPS_API_KEY": key})
    done = subprocess.run([sys.executable, "-c", script], env=client_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert not (tmp_path / "client-home" / "llmops.db").exists()  # nothing stored locally

    shown = subprocess.run([sys.executable, "-m", "llmops", "runs", "show", run_id, "--json"],
                           env=client_env, capture_output=True, text=True, timeout=60)
    run = json.loads(shown.stdout)
    assert run["status"] == "finished" and run["params"] == {"lr": "0.0001"}
    assert run["metrics"]["loss"]["step"] == 49
    assert [a["name"] for a in run["artifacts"]] == ["out"]
    # the server's own CLI sees the same run in its local database
    local = subprocess.run([sys.executable, "-m", "llmops", "runs", "list", "--json"],
                           env=server_env, capture_output=True, text=True, timeout=60)
    assert [r["id"] for r in json.loads(local.stdout)] == [run_id]

    viewer = httpx.post(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {admin}"},
                        json={"name": "reader", "role": "viewer"}).json()["key"]
    client_env["LLMOPS_API_KEY"] = viewer
    refused = subprocess.run([sys.executable, "-c", script], env=client_env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
