"""The official `openai` package (sync, async, streaming) and LangChain's ChatOpenAI
against `llmops server` as a real process, with only base_url and api_key changed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_openai import FakeOpenAI, fake_openai
from tests.helpers import server_process

pytestmark = pytest.mark.slow
openai = pytest.importorskip("openai")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str, FakeOpenAI]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(tmp_path / "home")
    run = {"env": env, "capture_output": True, "text": True, "check": True}
    admin = json.loads(subprocess.run([sys.executable, "-m", "llmops", "init", "--json"],
                                      **run).stdout)["admin_key"]  # type: ignore[call-overload]
    with fake_openai(lambda m: (200, f"Visit {m[-1]['content']} in spring.")) as upstream:
        subprocess.run([sys.executable, "-m", "llmops", "routes", "add", "travel",
                        "--upstream", upstream.url, "--upstream-model", "m"],
                       **run)  # type: ignore[call-overload]
        with server_process(env) as url:
            key = httpx.post(f"{url}/api/v1/keys", headers={"Authorization": f"Bearer {admin}"},
                             json={"name": "app", "role": "inference"}).json()["key"]
            yield f"{url}/v1", key, upstream


def test_sync_async_and_streaming_clients(gateway: tuple[str, str, FakeOpenAI]) -> None:
    base_url, key, upstream = gateway
    client = openai.OpenAI(base_url=base_url, api_key=key)
    answer = client.chat.completions.create(
        model="travel", messages=[{"role": "user", "content": "Kyoto"}], max_tokens=30)
    assert answer.choices[0].message.content == "Visit Kyoto in spring."
    assert answer.usage is not None and answer.usage.completion_tokens == 4

    stream = client.chat.completions.create(
        model="travel", messages=[{"role": "user", "content": "Oslo"}], stream=True,
        stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Visit Oslo in spring."
    assert [m.id for m in client.models.list()] == ["travel"]

    async def run() -> str:
        async_client = openai.AsyncOpenAI(base_url=base_url, api_key=key)
        result = await async_client.chat.completions.create(
            model="travel", messages=[{"role": "user", "content": "Rome"}])
        parts = []
        async for chunk in await async_client.chat.completions.create(
                model="travel", messages=[{"role": "user", "content": "Bali"}], stream=True):
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
        await async_client.close()
        return f"{result.choices[0].message.content}|{''.join(parts)}"

    assert asyncio.run(run()) == "Visit Rome in spring.|Visit Bali in spring."
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user",
                                                                "content": "x"}])
    with openai.OpenAI(base_url=base_url, api_key="wrong") as wrong, \
            pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    vectors = client.embeddings.create(model="travel", input=["Oslo", "Kyoto"])
    assert [d.embedding for d in vectors.data] == [[4.0, 1.0], [5.0, 1.0]]
    client.close()
    assert len(upstream.requests) == 5


def test_langchain_chat_openai(gateway: tuple[str, str, FakeOpenAI]) -> None:
    chat_openai = pytest.importorskip("langchain_openai")
    base_url, key, upstream = gateway
    llm = chat_openai.ChatOpenAI(model="travel", base_url=base_url, api_key=key,
                                 max_retries=0)
    assert llm.invoke("Lima").content == "Visit Lima in spring."
    assert "".join(str(c.content) for c in llm.stream("Quito")) == "Visit Quito in spring."

    async def run() -> str:
        try:
            return str((await llm.ainvoke("Cusco")).content)
        finally:  # its connections belong to this event loop: close them with it
            await llm.root_async_client.close()

    assert asyncio.run(run()) == "Visit Cusco in spring."
    llm.root_client.close()
    assert [r["body"]["messages"][-1]["content"] for r in upstream.requests] == [
        "Lima", "Quito", "Cusco"]
