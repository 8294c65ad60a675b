"""Deployments: route history and rollback, the gateway-only server, and an alias moved
under concurrent load with no failed request."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from llmops import registry
from llmops.auth.keys import create_key
from llmops.cli.app import app
from llmops.config import Settings
from llmops.errors import InvalidInput, NotFound
from llmops.gateway.routes import Route, RouteStore, Target
from llmops.store.tables import traces
from llmops.workspace import Workspace
from tests.helpers import auth, server_process, table_counts

runner = CliRunner()


def _deploy(name: str, model: str) -> None:
    RouteStore(Workspace.open()).put(Route(name=name, targets=[
        Target(kind="model", model=model)]))


def test_every_deploy_is_a_revision_and_rollback_walks_back(sqlite_settings: Settings) -> None:
    store = RouteStore(Workspace.open())
    for version in (1, 2, 3):
        _deploy("travel", f"model:travel@{version}")
    assert [r.revision for r in store.history("travel")] == [3, 2, 1]

    assert store.rollback("travel").targets[0].model == "model:travel@2"
    assert store.rollback("travel").targets[0].model == "model:travel@1"  # two steps back
    latest = store.history("travel")[0]
    assert (latest.revision, latest.restores) == (5, 1)

    before = table_counts(Workspace.open().store)
    with pytest.raises(InvalidInput, match="serves revision 1; there is no earlier revision"):
        store.rollback("travel")
    with pytest.raises(InvalidInput, match="revision 9 does not exist"):
        store.rollback("travel", to=9)
    with pytest.raises(NotFound, match="no route 'nowhere'"):
        store.rollback("nowhere")
    assert table_counts(Workspace.open().store) == before

    assert store.rollback("travel", to=3).targets[0].model == "model:travel@3"


def test_deploy_and_deploy_rollback_on_the_command_line(sqlite_settings: Settings) -> None:
    for version in (1, 2):
        result = runner.invoke(app, ["deploy", "travel", "--model", f"model:travel@{version}"])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deploy", "rollback", "travel", "--json"])
    assert result.exit_code == 0, result.output
    assert '"model:travel@1"' in result.output
    history = runner.invoke(app, ["routes", "history", "travel"])
    assert "rollback to 1" in history.output
    missing = runner.invoke(app, ["deploy", "travel"])
    assert missing.exit_code == 2 and "--model is required" in missing.output


def test_gateway_only_serves_the_gateway_and_not_the_api(
        settings: Settings, keys: dict[str, str]) -> None:
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    with TestClient(create_app(settings, gateway_only=True)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/models", headers=auth(keys["inference"])).json()["data"] == []
        assert client.get("/api/v1/runs", headers=auth(keys["admin"])).status_code == 404


@pytest.mark.slow
def test_an_alias_moved_under_concurrent_load_fails_no_request(
        home: Settings, tiny_base: Path) -> None:
    v1 = registry.register("tiny", tiny_base)
    v2 = registry.register("tiny", tiny_base)
    registry.set_alias("tiny", "1", "production")
    _deploy("tiny", "model:tiny@production")
    key = create_key(Workspace.open().store, name="app", role="inference", actor="test")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(home.home_path)

    errors: list[str] = []
    sent: list[tuple[float, str]] = []  # (start time, trace id)
    stop = threading.Event()

    def load(url: str) -> None:
        body = {"model": "tiny", "max_tokens": 3,
                "messages": [{"role": "user", "content": "Where is Lisbon?"}]}
        with httpx.Client(base_url=url, headers=auth(key), timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    reply = client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                if reply.status_code != 200:
                    errors.append(f"{reply.status_code} {reply.text}")
                else:
                    sent.append((started, reply.headers["x-llmops-trace-id"]))

    with server_process(env, "--gateway-only") as url:
        workers = [threading.Thread(target=load, args=(url,)) for _ in range(6)]
        for worker in workers:
            worker.start()
        time.sleep(3)
        moved = time.monotonic()
        registry.set_alias("tiny", "2", "production")
        while time.monotonic() < moved + 8 or len([s for s in sent if s[0] > moved + 5]) < 5:
            time.sleep(0.2)
            assert time.monotonic() < moved + 120, "too few answers after the move"
        stop.set()
        for worker in workers:
            worker.join()

    assert errors == []
    with Workspace.open().store.read() as conn:
        served = dict(conn.execute(select(traces.c.id, traces.c.model_version_id)).all())
    assert len(served) == len(sent)  # every answered request was logged
    assert {served[t] for s, t in sent if s < moved} == {v1.id}
    assert {served[t] for s, t in sent if s > moved + 5} == {v2.id}


def test_lineage_of_a_model_version_shows_the_routes_serving_it_and_its_traces(
        home: Settings, tiny_base: Path) -> None:
    import json

    from sqlalchemy import insert

    v1 = registry.register("tiny", tiny_base)
    registry.register("tiny", tiny_base)
    registry.set_alias("tiny", "1", "production")
    _deploy("tiny", "model:tiny@production")
    _deploy("pinned", "model:tiny@2")
    Workspace.open().store.write(lambda conn: conn.execute(insert(traces), [
        {"id": f"01JTRACE{i:018d}", "route": "tiny", "model_version_id": v1.id, "status": 200,
         "input": "[]", "latency_ms": 1.0, "stream": 0, "created_at": 1} for i in range(3)]))
    shown = runner.invoke(app, ["lineage", "show", "model:tiny@1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["serving"] == {"traces": 3, "routes": [
        {"route": "tiny", "target": "model:tiny@production", "weight": 100.0}]}
    text = runner.invoke(app, ["lineage", "show", "model:tiny@2"]).output
    assert "serving: 0 gateway trace(s)" in text and "route pinned via model:tiny@2" in text


@pytest.mark.parametrize("url", ["http://user:secret@upstream:8000/v1",
                                 "http://upstream:8000/v1?key=secret"])
def test_an_upstream_url_with_credentials_is_refused(url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="may not carry credentials"):
        Target(kind="upstream", url=url, upstream_model="m")


def test_a_prompt_too_long_for_the_model_is_refused_and_traced(
        home: Settings, tiny_base: Path) -> None:
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    registry.register("tiny", tiny_base)
    _deploy("tiny", "model:tiny@1")
    key = create_key(Workspace.open().store, name="app", role="inference", actor="test")[0]
    body = {"model": "tiny", "max_tokens": 4,
            "messages": [{"role": "user", "content": "Lisbon " * 400}]}
    with TestClient(create_app(home)) as client:
        reply = client.post("/v1/chat/completions", headers=auth(key), json=body)
        assert reply.status_code == 400, reply.text
        assert "this model takes at most 128" in reply.json()["detail"]
        # a stream has sent its 200 before the engine sees the prompt: an error event
        streamed = client.post("/v1/chat/completions", headers=auth(key),
                               json={**body, "stream": True}).text
        assert '"error"' in streamed and "this model takes at most 128" in streamed
    with Workspace.open().store.read() as conn:
        rows = conn.execute(select(traces.c.status, traces.c.stream, traces.c.error)).all()
    assert sorted((r.status, r.stream) for r in rows) == [(400, 0), (400, 1)]
    assert all("at most 128" in r.error for r in rows)


def test_a_version_no_route_serves_any_more_is_unloaded(home: Settings,
                                                        tiny_base: Path) -> None:
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    v1 = registry.register("tiny", tiny_base)
    v2 = registry.register("tiny", tiny_base)
    registry.set_alias("tiny", "1", "production")
    _deploy("tiny", "model:tiny@production")
    key = create_key(Workspace.open().store, name="app", role="inference", actor="test")[0]
    body = {"model": "tiny", "max_tokens": 2, "messages": [{"role": "user", "content": "Hi"}]}
    with TestClient(create_app(home)) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        gateway.refresh_s = 0.05
        assert client.post("/v1/chat/completions", headers=auth(key), json=body).is_success
        assert set(gateway._engines) == {f"model:{v1.id}"}
        registry.set_alias("tiny", "2", "production")
        time.sleep(0.1)
        assert client.post("/v1/chat/completions", headers=auth(key), json=body).is_success
        time.sleep(0.1)  # the next request finds v1 unused by any route and unloads it
        assert client.post("/v1/chat/completions", headers=auth(key), json=body).is_success
        assert set(gateway._engines) == {f"model:{v2.id}"}
        assert gateway._busy == {f"model:{v2.id}": 0}
