"""Engines answer chat requests: `generate` (whole answer) and `stream` (text deltas).

`LocalEngine` runs a registered model in this process (transformers); `UpstreamEngine`
forwards to an OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp, OpenAI). The
gateway only sees this interface, and tests substitute fakes through it.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmops.errors import ServiceUnavailable


@dataclass
class ChatRequest:
    messages: list[dict[str, str]]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)


@dataclass
class Completion:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"


@dataclass
class Delta:
    text: str
    completion: Completion | None = None  # set on the last delta: totals and finish reason


class Engine(Protocol):
    label: str

    async def generate(self, request: ChatRequest) -> Completion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[Delta]: ...


class UpstreamError(ServiceUnavailable):
    """The upstream failed or timed out; the gateway may fall back to the next target."""


class LocalEngine:
    """A registered model version, loaded once, generating on a worker thread (one
    generation at a time per loaded model, so requests queue instead of thrashing)."""

    def __init__(self, ref: str) -> None:
        from llmops.evaluation.generate import LocalGenerator

        self.generator = LocalGenerator(ref)
        self.label = self.generator.version.ref if self.generator.version else ref
        self.version_id = self.generator.version.id if self.generator.version else None
        self._lock = threading.Lock()

    def _inputs(self, request: ChatRequest) -> tuple[Any, dict[str, Any]]:
        tok = self.generator.tokenizer
        text = tok.apply_chat_template(request.messages, tokenize=False,
                                       add_generation_prompt=True)
        enc = tok(text, return_tensors="pt", add_special_tokens=False).to(
            self.generator.device)
        sample = request.temperature > 0
        options = {"max_new_tokens": request.max_tokens, "do_sample": sample,
                   "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id}
        if sample:
            options.update(temperature=request.temperature, top_p=request.top_p)
        return enc, options

    def _finish(self, text: str, prompt_tokens: int, new_tokens: int,
                request: ChatRequest) -> Completion:
        for stop in request.stop:
            if stop in text:
                return Completion(text[:text.index(stop)], prompt_tokens, new_tokens, "stop")
        reason = "length" if new_tokens >= request.max_tokens else "stop"
        return Completion(text, prompt_tokens, new_tokens, reason)

    def _generate(self, request: ChatRequest) -> Completion:
        import torch

        enc, options = self._inputs(request)
        with self._lock, torch.no_grad():
            out = self.generator.model.generate(**enc, **options)
        new = out[0, enc["input_ids"].shape[1]:]
        text = self.generator.tokenizer.decode(new, skip_special_tokens=True).strip()
        return self._finish(text, int(enc["input_ids"].shape[1]), int(len(new)), request)

    async def generate(self, request: ChatRequest) -> Completion:
        return await asyncio.to_thread(self._generate, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        import torch
        from transformers import TextIteratorStreamer

        enc, options = self._inputs(request)
        streamer = TextIteratorStreamer(self.generator.tokenizer, skip_prompt=True,
                                        skip_special_tokens=True, timeout=120)
        counted: dict[str, int] = {}

        def run() -> None:
            with self._lock, torch.no_grad():
                out = self.generator.model.generate(**enc, **options, streamer=streamer)
            counted["new"] = int(out.shape[1] - enc["input_ids"].shape[1])

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        pieces: list[str] = []
        while True:
            piece = await asyncio.to_thread(next, streamer, None)
            if piece is None:
                break
            if piece:
                pieces.append(piece)
                yield Delta(piece)
        await asyncio.to_thread(worker.join)
        done = self._finish("".join(pieces), int(enc["input_ids"].shape[1]),
                            counted.get("new", 0), request)
        yield Delta("", done)


class UpstreamEngine:
    """An OpenAI-compatible upstream. Only the server's route config names the URL and
    the key's environment variable; nothing a client sends reaches the upstream but the
    messages and sampling parameters."""

    def __init__(self, url: str, model: str, *, api_key_env: str | None = None,
                 timeout_s: float = 60.0) -> None:
        import httpx

        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.label = f"{url.rstrip('/')}#{model}"
        self.version_id = None
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(timeout=timeout_s)

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": request.messages,
                                "max_tokens": request.max_tokens,
                                "temperature": request.temperature, "top_p": request.top_p,
                                "stream": stream}
        if request.stop:
            body["stop"] = request.stop
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def generate(self, request: ChatRequest) -> Completion:
        import httpx

        try:
            response = await self._client.post(self.url, json=self._body(request, False),
                                               headers=self._headers)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.label} did not answer: "
                                f"{type(exc).__name__}") from None
        if response.status_code != 200:
            raise UpstreamError(f"upstream {self.label} answered {response.status_code}")
        data = response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(choice["message"].get("content") or "", usage.get("prompt_tokens"),
                          usage.get("completion_tokens"), choice.get("finish_reason") or "stop")

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        import httpx

        pieces: list[str] = []
        usage: dict[str, Any] = {}
        reason = "stop"
        try:
            async with self._client.stream("POST", self.url, json=self._body(request, True),
                                           headers=self._headers) as response:
                if response.status_code != 200:
                    raise UpstreamError(f"upstream {self.label} answered "
                                        f"{response.status_code}")
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    chunk = json.loads(payload)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        reason = choice.get("finish_reason") or reason
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            pieces.append(text)
                            yield Delta(text)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.label} failed: {type(exc).__name__}") from None
        yield Delta("", Completion("".join(pieces), usage.get("prompt_tokens"),
                                   usage.get("completion_tokens"), reason))

    async def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        import httpx

        url = self.url.removesuffix("/chat/completions") + "/embeddings"
        try:
            response = await self._client.post(url, json={"model": self.model, "input": texts},
                                               headers=self._headers)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.label} did not answer: "
                                f"{type(exc).__name__}") from None
        if response.status_code != 200:
            raise UpstreamError(f"upstream {self.label} answered {response.status_code}")
        data = response.json()
        ordered = sorted(data["data"], key=lambda d: d["index"])
        return [d["embedding"] for d in ordered], (data.get("usage") or {}).get(
            "total_tokens", 0)

    async def aclose(self) -> None:
        await self._client.aclose()
