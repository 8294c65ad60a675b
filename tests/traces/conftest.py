"""Fixtures for trace tests: stored gateway traces, and the server on a loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from llmops.config import Settings
from llmops.store.tables import traces
from llmops.workspace import Workspace
from tests.helpers import free_port

NOW = 1_790_000_000_000  # a fixed "now" in epoch ms


def trace_row(i: int, **fields: Any) -> dict[str, Any]:
    """A gateway trace row like the gateway writes, with `fields` overriding."""
    row: dict[str, Any] = {
        "id": f"01TRACE{i:019d}", "route": "travel", "target": "model:support@1",
        "model_version_id": None, "prompt_version_id": None, "key_id": None,
        "status": 200, "error": None,
        "input": f'[{{"role": "user", "content": "question {i}"}}]',
        "output": f"answer {i}", "prompt_tokens": 3, "completion_tokens": 2,
        "latency_ms": 100.0 + i, "ttft_ms": None, "stream": 0, "guard": None,
        "created_at": NOW - i * 1000, "model": "support", "otel_trace_id": None,
        "otel_span_id": None, "otel_parent_span_id": None}
    row.update(fields)
    return row


def add_traces(workspace: Workspace, rows: list[dict[str, Any]]) -> None:
    workspace.store.write(lambda conn: conn.execute(insert(traces), rows))


@pytest.fixture
def live_server(settings: Settings, workspace: Workspace) -> Iterator[str]:
    """The whole app under uvicorn on a free 127.0.0.1 port, stopped after the test."""
    import uvicorn

    from llmops.server import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    assert httpx.get(f"{url}/healthz").status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
