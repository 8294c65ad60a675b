"""Monitors and alerts over HTTP, with role checks; the server's scheduler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from llmops.config import Settings
from llmops.monitoring.monitors import MonitorStore
from llmops.workspace import Workspace
from tests.helpers import auth, table_counts
from tests.monitoring.conftest import Receiver
from tests.monitoring.test_monitors import PIPELINE, failing_traffic

BODY = {"name": "errors", "check": "errors", "model": "travel", "threshold": 0.1,
        "every": "1h"}


def test_writers_create_and_readers_list(client: Any, keys: dict[str, str],
                                         receiver: Receiver) -> None:
    body = {**BODY, "alert": f"webhook:{receiver.url}"}
    for role in ("viewer", "inference"):
        response = client.post("/api/v1/monitors", json=body, headers=auth(keys[role]))
        assert response.status_code == 403, role
    created = client.post("/api/v1/monitors", json=body, headers=auth(keys["maintainer"]))
    assert created.status_code == 201, created.text
    assert created.json()["created_by"].startswith("key:maintainer-key:")
    again = client.post("/api/v1/monitors", json=body, headers=auth(keys["admin"]))
    assert again.status_code == 409
    listed = client.get("/api/v1/monitors", headers=auth(keys["viewer"]))
    assert [m["name"] for m in listed.json()] == ["errors"]
    # the path of a webhook URL is where receivers keep their token: not shown
    port = receiver.url.split(":")[2].split("/")[0]
    assert listed.json()[0]["alert"] == f"webhook:http://127.0.0.1:{port}/***"
    assert created.json()["alert"] == listed.json()[0]["alert"]
    assert client.get("/api/v1/monitors", headers=auth(keys["inference"])).status_code == 403
    assert client.get("/api/v1/alerts", headers=auth(keys["viewer"])).json() == []
    assert client.get("/api/v1/alerts", headers=auth(keys["inference"])).status_code == 403


def test_a_private_webhook_over_http_is_400_and_nothing_is_stored(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    workspace.settings.webhook_allowed_hosts = "hooks.example.com"
    before = table_counts(workspace.store)
    response = client.post("/api/v1/monitors", json={**BODY, "alert":
                                                     "webhook:http://192.168.0.10/hook"},
                           headers=auth(keys["admin"]))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "points at a private address (192.168.0.10)" in response.json()["detail"]
    assert table_counts(workspace.store) == before


def test_an_action_over_http_must_stay_in_the_pipelines_folder(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    before = table_counts(workspace.store)
    for action in ("retrain:../../etc/passwd.yaml", "retrain:/etc/p.yaml"):
        response = client.post("/api/v1/monitors", json={**BODY, "on_alert": action},
                               headers=auth(keys["admin"]))
        assert response.status_code == 400, action
        assert response.json()["detail"].startswith(f"invalid --on-alert {action!r}")
    assert table_counts(workspace.store) == before
    folder = workspace.settings.home_path / "pipelines"
    folder.mkdir()
    (folder / "retrain.yaml").write_text(PIPELINE)
    response = client.post("/api/v1/monitors", json={**BODY, "on_alert": "retrain:retrain.yaml"},
                           headers=auth(keys["admin"]))
    assert response.status_code == 201
    assert response.json()["on_alert"] == f"retrain:{(folder / 'retrain.yaml').resolve()}"


def test_a_bad_body_is_422_naming_the_field(client: Any, keys: dict[str, str]) -> None:
    response = client.post("/api/v1/monitors", json={**BODY, "check": "vibes"},
                           headers=auth(keys["admin"]))
    assert response.status_code == 422
    assert "check" in response.text


@pytest.fixture
def ticking(settings: Settings, workspace: Workspace) -> Iterator[Settings]:
    settings.monitor_tick_s = 0.05
    settings.webhook_backoff_s = 0.0
    yield settings


def test_the_server_runs_due_monitors(ticking: Settings, workspace: Workspace,
                                      receiver: Receiver) -> None:
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    MonitorStore(workspace).create({**BODY, "alert": f"webhook:{receiver.url}"})
    failing_traffic(workspace)
    with TestClient(create_app(ticking)):
        deadline = time.monotonic() + 60
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [b["monitor"] for b in receiver.bodies] == ["errors"]  # once: not due again
    [alert] = MonitorStore(workspace).alerts()
    assert alert.delivery == "delivered"


def test_alerts_over_http_hide_the_webhook_path(client: Any, keys: dict[str, str],
                                                workspace: Workspace,
                                                receiver: Receiver) -> None:
    workspace.settings.webhook_backoff_s = 0.0
    workspace.settings.webhook_attempts = 1
    MonitorStore(workspace).create({**BODY, "alert": f"webhook:{receiver.url}?token=s3cret"})
    failing_traffic(workspace)
    receiver.failures = 1
    MonitorStore(workspace).run("errors")
    [alert] = client.get("/api/v1/alerts", headers=auth(keys["viewer"])).json()
    assert alert["delivery"] == "failed" and alert["target"].endswith("/***")
    assert "s3cret" not in client.get("/api/v1/alerts", headers=auth(keys["admin"])).text
