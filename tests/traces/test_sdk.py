"""`@llmops.trace` and `llmops.span`: nesting, errors, local and remote delivery, and a
gateway call made inside a span nesting under it through `traceparent`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

import llmops
from llmops.store.tables import spans, traces
from llmops.traces import sdk
from llmops.traces.store import get_trace
from llmops.workspace import Workspace


@pytest.fixture(autouse=True)
def fresh_exporter() -> Iterator[None]:
    yield
    sdk.flush()
    sdk._instance = None


def _spans(workspace: Workspace) -> dict[str, Any]:
    with workspace.store.read() as conn:
        return {r.name: r for r in conn.execute(select(spans)).all()}


@llmops.trace
def retrieve(query: str) -> list[str]:
    return [query.upper()]


@llmops.trace(name="tool:search", tool="web")
async def search(query: str) -> str:
    with llmops.span("http", url="https://example.invalid"):
        return query


def test_spans_nest_and_record_errors_in_the_local_store(workspace: Workspace) -> None:
    sdk.configure()
    with llmops.span("answer", user="u1", k=3) as outer:
        assert llmops.traceparent() == f"00-{outer.trace_id}-{outer.span_id}-01"
        assert retrieve("paris") == ["PARIS"]
        assert asyncio.run(search("q")) == "q"
        with pytest.raises(ValueError, match="no docs"), llmops.span("rerank"):
            raise ValueError("no docs")
    assert llmops.traceparent() is None
    assert sdk.flush()
    rows = _spans(workspace)
    assert set(rows) == {"answer", "retrieve", "tool:search",
                         "http", "rerank"}
    root = rows["answer"]
    assert root.parent_span_id is None and root.trace_id == outer.trace_id
    assert json.loads(root.attributes) == {"user": "u1", "k": 3}
    assert {rows[n].parent_span_id for n in ("retrieve", "tool:search", "rerank")} == {
        root.span_id}
    assert rows["http"].parent_span_id == rows["tool:search"].span_id
    assert json.loads(rows["tool:search"].attributes) == {"tool": "web"}
    rerank = rows["rerank"]
    assert (rerank.status, rerank.status_message) == ("error", "ValueError: no docs")
    [event] = json.loads(rerank.events)
    assert event["name"] == "exception" and event["attributes"] == {
        "exception.type": "ValueError", "exception.message": "no docs"}
    assert len({r.trace_id for r in rows.values()}) == 1


def test_spans_are_sent_to_a_configured_server(live_server: str, workspace: Workspace,
                                               keys: dict[str, str]) -> None:
    sdk.configure(server_url=live_server, api_key=keys["inference"], service_name="rag")
    with llmops.span("answer"):
        retrieve("x")
    assert sdk.flush()
    assert sdk._instance is not None and sdk._instance.sent == 2
    rows = _spans(workspace)
    assert rows["retrieve"].parent_span_id == rows["answer"].span_id
    assert rows["answer"].service_name == "rag" and rows["answer"].key_id is not None


def _gateway_traces(workspace: Workspace, n: int) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:  # the gateway writes traces from a background queue
        with workspace.store.read() as conn:
            rows = list(conn.execute(select(traces).order_by(traces.c.created_at)).all())
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_a_gateway_call_inside_a_span_nests_under_it(live_server: str,
                                                     workspace: Workspace,
                                                     keys: dict[str, str]) -> None:
    from openai import OpenAI

    from llmops.gateway.routes import Route, RouteStore, Target
    from tests.fake_openai import fake_openai

    sdk.configure(server_url=live_server, api_key=keys["inference"])
    with fake_openai(lambda m: (200, f"echo: {m[-1]['content']}")) as upstream:
        RouteStore(workspace).put(Route(name="travel", targets=[Target(
            kind="upstream", url=upstream.url, upstream_model="up")]))
        client = OpenAI(base_url=f"{live_server}/v1", api_key=keys["inference"])
        with llmops.span("answer") as outer:
            with llmops.span("generate") as gen:
                raw = client.chat.completions.with_raw_response.create(
                    model="travel", messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"traceparent": llmops.traceparent()})
                stream = client.chat.completions.create(
                    model="travel", messages=[{"role": "user", "content": "more"}],
                    stream=True, extra_headers={"traceparent": llmops.traceparent()})
                assert "".join(c.choices[0].delta.content or "" for c in stream
                               if c.choices) == "echo: more"
        plain = client.chat.completions.with_raw_response.create(
            model="travel", messages=[{"role": "user", "content": "alone"}])
    assert sdk.flush()
    rows = _gateway_traces(workspace, 3)
    assert len(rows) == 3
    by_id = {r.id: r for r in rows}
    nested = by_id[raw.headers["x-llmops-trace-id"]]
    assert (nested.otel_trace_id, nested.otel_parent_span_id) == (outer.trace_id,
                                                                 gen.span_id)
    assert nested.model == "up" and len(nested.otel_span_id) == 16
    streamed = [r for r in rows if r.stream][0]
    assert (streamed.otel_trace_id, streamed.otel_parent_span_id) == (outer.trace_id,
                                                                     gen.span_id)
    alone = by_id[plain.headers["x-llmops-trace-id"]]
    assert alone.otel_trace_id not in (None, outer.trace_id)
    assert alone.otel_parent_span_id is None
    detail = get_trace(workspace, nested.id)
    [root] = detail.tree
    assert root.name == "answer"
    [generate] = root.children
    assert generate.name == "generate"
    assert sorted(c.gateway_trace_id or "" for c in generate.children) == sorted(
        [nested.id, streamed.id])


def test_spans_still_queued_at_exit_are_written(sqlite_settings: Any, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    code = ("import llmops\n"
            "with llmops.span('job', n=1):\n"
            "    for i in range(300):\n"
            "        with llmops.span('step', i=i):\n"
            "            pass\n")  # no flush(): the exit handler sends what is queued
    env = {**os.environ, "LLMOPS_HOME": str(sqlite_settings.home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Workspace.open().store.read() as conn:
        rows = conn.execute(select(spans.c.name, spans.c.parent_span_id)).all()
    assert len(rows) == 301
    [job] = [r for r in rows if r.name == "job"]
    assert job.parent_span_id is None
