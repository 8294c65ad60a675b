"""Prompts through a real server process: the CLI and `llmops.get_prompt` with
LLMOPS_SERVER_URL, a label moved on the server picked up by an application after its TTL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_server_process import server  # noqa: F401 - the fixture
from tests.prompts.conftest import travel

pytestmark = pytest.mark.slow


def test_an_application_follows_a_label_moved_on_the_server(
        server: tuple[str, str, dict[str, str]], tmp_path: Path) -> None:  # noqa: F811
    url, admin, _ = server
    key = httpx.post(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {admin}"},
                     json={"name": "prompt-engineer", "role": "maintainer"}).json()["key"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env.update({"LLMOPS_HOME": str(tmp_path / "client-home"), "LLMOPS_SERVER_URL": url,
                "LLMOPS_API_KEY": key})
    for i, temperature in enumerate((0.1, 0.9)):
        (tmp_path / f"v{i}.yaml").write_text(travel(temperature))
        done = subprocess.run(
            [sys.executable, "-m", "llmops", "prompts", "create", "travel-system", "-f",
             str(tmp_path / f"v{i}.yaml"), "--label", "production", "--json"],
            env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["version"] == i + 1
    subprocess.run([sys.executable, "-m", "llmops", "prompts", "rollback", "travel-system",
                    "production"], env=env, check=True, capture_output=True, timeout=60)

    # The application renders on every "request"; an operator moves the label to 2.
    app = textwrap.dedent(f"""
        import time, httpx, llmops
        def temperature():
            prompt = llmops.get_prompt("travel-system@production")
            return prompt.render(company="Acme", question="q").parameters["temperature"]
        seen = [temperature()]
        httpx.put({url!r} + "/api/v1/prompts/travel-system/labels/production",
                  headers={{"Authorization": "Bearer {key}"}}, json={{"version": 2}})
        seen.append(temperature())        # within the TTL: still the cached version
        time.sleep(3.2)
        seen.append(temperature())        # after the TTL: the moved label
        print(seen)
    """)
    done = subprocess.run([sys.executable, "-c", app],
                          env={**env, "LLMOPS_PROMPT_CACHE_TTL_S": "3"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0.1, 0.1, 0.9]"
    assert not (tmp_path / "client-home" / "llmops.db").exists()  # nothing stored locally
