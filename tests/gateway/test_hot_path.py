"""The gateway's hot path: the fast chat route keeps the FastAPI route's behaviour, the
trace queue applies back-pressure (503, counted) and loses nothing it accepted, and the
pooled upstream client survives closed keep-alive connections and reports failures as
the httpx one did."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from llmops.gateway.engines import ChatRequest, UpstreamError
from llmops.gateway.http1 import FastUpstreamEngine
from llmops.gateway.limits import KeyLimits
from llmops.gateway.traces import TraceWriter
from llmops.store.tables import traces
from llmops.workspace import Workspace
from tests.fake_openai import FakeOpenAI, fake_openai
from tests.gateway.test_gateway import CHAT, _route, _up
from tests.helpers import auth, free_port

BODY = {"model": "travel", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with fake_openai(lambda m: (200, f"echo: {m[-1]['content']}")) as fake:
        yield fake


def _count(workspace: Workspace) -> int:
    with workspace.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(traces)).scalar() or 0)


def test_errors_come_in_the_same_order_and_shape_as_the_routed_path(
        client: Any, keys: dict[str, str], upstream: FakeOpenAI) -> None:
    _route("travel", _up(upstream))
    # the key is checked before the body is read: no key and a broken body -> 401
    refused = client.post(CHAT, content=b"{not json")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["content-type"] == "application/problem+json"
    key = auth(keys["inference"])
    broken = client.post(CHAT, headers=key, content=b"{not json")
    assert broken.status_code == 400
    assert broken.json()["detail"] == "the body must be a JSON object"
    assert broken.json()["instance"] == CHAT
    no_model = client.post(CHAT, headers=key, json={"messages": []})
    assert no_model.status_code == 400 and "string `model`" in no_model.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no content-length: the cap is counted as it arrives
        for _ in range(3):
            yield b" " * 800_000

    big = client.post(CHAT, headers=key, content=chunks())
    assert big.status_code == 413 and "LLMOPS_MAX_REQUEST_BYTES" in big.json()["detail"]
    assert upstream.requests == []
    answer = client.post(CHAT, headers=key, json=BODY)
    assert answer.status_code == 200
    assert answer.json()["id"] == f"chatcmpl-{answer.headers['x-llmops-trace-id']}"


def test_a_full_trace_queue_refuses_before_any_work_and_is_counted(
        client: Any, keys: dict[str, str], upstream: FakeOpenAI, workspace: Workspace
) -> None:
    _route("travel", _up(upstream))
    gateway = client.app.state.gateway
    gateway.traces.capacity = 0
    refused = client.post(CHAT, headers=auth(keys["inference"]), json=BODY)
    assert refused.status_code == 503
    assert refused.json()["detail"] == "the trace queue is full; retry shortly"
    streamed = client.post(CHAT, headers=auth(keys["inference"]), json={**BODY,
                                                                         "stream": True})
    assert streamed.status_code == 503
    assert upstream.requests == []  # refused before any engine
    gateway.traces.capacity = 10_000
    assert client.post(CHAT, headers=auth(keys["inference"]), json=BODY).status_code == 200
    text = client.get("/metrics", headers=auth(keys["viewer"])).text
    assert "llmops_gateway_traces_refused_total 2" in text


def test_the_writer_keeps_every_trace_it_accepted(workspace: Workspace,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmops.gateway.traces._max_variables", lambda: 100)  # 4 rows/INSERT
    writer = TraceWriter(workspace.store, batch=700, linger_s=0.01)
    base = {"route": "r", "target": None, "model_version_id": None,
            "prompt_version_id": None, "key_id": None, "status": 200, "error": None,
            "input": "[]", "output": "x", "prompt_tokens": 1, "completion_tokens": 2,
            "latency_ms": 1.5, "ttft_ms": None, "stream": 0, "guard": None}
    from llmops.ids import new_id

    for i in range(1000):  # two column sets, interleaved
        extra = {"model": "m"} if i % 3 else {}
        writer.put({**base, "id": new_id(), "created_at": i, **extra})
    writer.close()  # drains
    assert (writer.written, writer.failed, _count(workspace)) == (1000, 0, 1000)
    writer = TraceWriter(workspace.store, capacity=1, linger_s=60)
    writer.check_room()
    writer.put({**base, "id": new_id(), "created_at": 0})
    with pytest.raises(Exception, match="trace queue is full"):
        writer.check_room()  # a new request is refused before any work...
    writer.put({**base, "id": new_id(), "created_at": 1})  # ...an admitted one is kept
    assert writer.refused == 1
    writer.close()
    assert _count(workspace) == 1002
    writer = TraceWriter(workspace.store, linger_s=60)  # one row the store refuses
    for i in range(5):
        writer.put({**base, "id": new_id(), "created_at": i,
                    **({"status": None} if i == 2 else {})})
    writer.close()
    assert (writer.written, writer.failed, _count(workspace)) == (4, 1, 1006)


def test_the_token_window_keeps_a_running_total(workspace: Workspace) -> None:
    from llmops.auth.keys import Principal

    limits = KeyLimits(workspace.store)
    who = Principal(key_id="k1", name="k", role="inference", tpm=10, token_budget=100)
    limits.check(who)
    limits.record(who, 6)
    limits.check(who)
    limits.record(who, 6)
    with pytest.raises(Exception, match="over its 10 tokens per minute"):
        limits.check(who)


class _KeepAliveOnce:
    """An HTTP/1.1 upstream that answers one request per connection with keep-alive
    advertised, then closes the connection (as servers do with idle keep-alives)."""

    def __init__(self, *, framed: bool = True) -> None:
        self.framed = framed  # False: HTTP/1.0, no length, the body ends when it closes
        self.port = free_port()
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        body = (b'{"choices":[{"message":{"role":"assistant","content":"ok"},'
                b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}')
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            if self.framed:
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
                             + body)
            else:
                conn.sendall(b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n"
                             + body)
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("framed", [True, False])
def test_the_pool_survives_closed_keep_alive_connections(framed: bool) -> None:
    server = _KeepAliveOnce(framed=framed)
    engine = FastUpstreamEngine(f"http://127.0.0.1:{server.port}/v1", "m", timeout_s=5)
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}])

    async def run() -> list[str]:
        texts = []
        for _ in range(3):
            texts.append((await engine.generate(request)).text)
            await asyncio.sleep(0.05)
        await engine.aclose()
        return texts

    try:
        assert asyncio.run(run()) == ["ok", "ok", "ok"]
        assert server.connections == 3
    finally:
        server.close()


def test_upstream_failures_are_upstream_errors() -> None:
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}])
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    dead = free_port()

    async def fail(url: str, timeout_s: float = 5) -> str:
        engine = FastUpstreamEngine(url, "m", timeout_s=timeout_s)
        try:
            await engine.generate(request)
        except UpstreamError as exc:
            return exc.detail
        finally:
            await engine.aclose()
        raise AssertionError("no error")

    try:
        port = silent.getsockname()[1]
        assert asyncio.run(fail(f"http://127.0.0.1:{port}/v1", 0.2)).endswith(
            "did not answer: ReadTimeout")
        assert asyncio.run(fail(f"http://127.0.0.1:{dead}/v1")).endswith(
            "did not answer: ConnectError")
    finally:
        silent.close()
    with fake_openai(lambda m: (500, "boom")) as broken:
        assert asyncio.run(fail(broken.url)) == f"upstream {broken.url}#m answered 500"
