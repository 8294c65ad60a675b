"""Engines answer chat requests: `generate` (whole answer) and `stream` (text deltas).

`LocalEngine` runs a registered model in this process (transformers, continuously batched,
LoRA versions sharing their base: see `LocalModels`); `UpstreamEngine`
forwards to an OpenAI-compatible server (vLLM, TGI, Ollama, llama.cpp, OpenAI). The
gateway only sees this interface, and tests substitute fakes through it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops.errors import ResourceExhausted, ServiceUnavailable
from llmops.gateway.batching import BatchScheduler, Sampling

if TYPE_CHECKING:
    from llmops.training.base import ResolvedBase


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


class LocalModels:
    """The models one gateway has loaded, each with its continuous-batching scheduler.

    A version that is a LoRA adapter is loaded as a named PEFT adapter on its base's
    loaded model, so every version built on one base shares that base's weights and
    scheduler: ten fine-tunes cost one base plus ten adapters. Engines `acquire` and
    `release`; a base with no engine left is unloaded.

    Args:
        max_batch: the most sequences one model decodes together.
        device: "cuda" or "cpu"; the GPU when there is one.
        stack_lora: see `BatchScheduler`.
    """

    def __init__(self, *, max_batch: int = 64, device: str | None = None,
                 stack_lora: bool = True) -> None:
        self.max_batch = max_batch
        self.stack_lora = stack_lora
        self._device = device
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, ...], _Loaded] = {}

    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    @property
    def bases(self) -> int:
        """How many base models are loaded."""
        return len(self._loaded)

    def acquire(self, base: ResolvedBase) -> tuple[BatchScheduler, str | None]:
        """The scheduler serving `base`, and the adapter name of its top LoRA (None when
        `base` is full weights). Loads the base and the adapter when not yet loaded."""
        from llmops.training.base import ResolvedBase, load_model

        adapter = _adapter_name(base.top) if len(base.folders) > 1 else None
        folders = base.folders[:-1] if adapter else base.folders
        key = tuple(str(f) for f in folders)
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is None:
                model = load_model(ResolvedBase(base.ref, list(folders)))
                # a quantized version says where it must run (int8-dynamic: the CPU)
                device = getattr(model, "llmops_device", None) or self.device
                model = model.to(device).eval() if device == self.device else model.eval()
                scheduler = BatchScheduler(model, device=device,
                                           max_batch=self.max_batch, name=folders[0].name,
                                           stack_lora=self.stack_lora)
                loaded = self._loaded[key] = _Loaded(scheduler)
            if adapter is not None:
                loaded.scheduler.add_adapter(adapter, base.top)
                loaded.adapters[adapter] = loaded.adapters.get(adapter, 0) + 1
            loaded.users += 1
            return loaded.scheduler, adapter

    def release(self, scheduler: BatchScheduler, adapter: str | None) -> None:
        """An engine is done with `scheduler`: drop unused adapters and idle bases."""
        with self._lock:
            for key, loaded in list(self._loaded.items()):
                if loaded.scheduler is not scheduler:
                    continue
                loaded.users -= 1
                if adapter is not None:
                    loaded.adapters[adapter] -= 1
                    if not loaded.adapters[adapter]:
                        del loaded.adapters[adapter]
                        scheduler.remove_adapter(adapter)
                if loaded.users <= 0:
                    del self._loaded[key]
                    scheduler.close()

    def close(self) -> None:
        with self._lock:
            loaded, self._loaded = list(self._loaded.values()), {}
        for entry in loaded:
            entry.scheduler.close()


@dataclass
class _Loaded:
    scheduler: BatchScheduler
    users: int = 0
    adapters: dict[str, int] = field(default_factory=dict)


def _adapter_name(folder: Path) -> str:
    """A PEFT adapter name for a folder (registry folders are named by their digest, so
    two versions with the same adapter files share one adapter)."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return f"lora_{digest}"


class LocalEngine:
    """A registered model version (or a local folder) answered in this process by its
    base model's continuous-batching scheduler (`llmops.gateway.batching`): concurrent
    requests decode together, each streaming its own deltas.

    Args:
        ref: ``model:NAME@SEL``, a folder or a hub id.
        models: the gateway's loaded models, shared by its engines (a LoRA version shares
            its base with the other versions of that base); a private set when None.
    """

    def __init__(self, ref: str, *, models: LocalModels | None = None) -> None:
        from llmops.training.base import load_tokenizer, resolve_base

        base = resolve_base(ref)
        self.label = base.version.ref if base.version else ref
        self.version_id = base.version.id if base.version else None
        self.tokenizer = load_tokenizer(base)
        self._owns_models = models is None
        self._models = models if models is not None else LocalModels()
        self.scheduler, self.adapter = self._models.acquire(base)
        eos = self.scheduler.model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self._eos = frozenset(eos)
        self._closed = False

    @property
    def model(self) -> Any:
        """The loaded model (shared with the other versions of the same base)."""
        return self.scheduler.model

    async def stream(self, request: ChatRequest) -> AsyncIterator[Delta]:
        prompt = self.tokenizer.apply_chat_template(request.messages, tokenize=False,
                                                    add_generation_prompt=True)
        sampling = Sampling(max_tokens=request.max_tokens, temperature=request.temperature,
                            top_p=request.top_p, stop=tuple(request.stop))
        pieces: list[str] = []
        try:
            async for event in self.scheduler.astream(prompt, sampling,
                                                      tokenizer=self.tokenizer,
                                                      eos=self._eos, adapter=self.adapter):
                if event.text:
                    pieces.append(event.text)
                    yield Delta(event.text)
                if event.finish_reason is not None:
                    yield Delta("", Completion("".join(pieces), event.prompt_tokens,
                                               event.completion_tokens, event.finish_reason))
        except (ServiceUnavailable, ResourceExhausted) as exc:  # the next target may answer
            raise UpstreamError(f"local model {self.label} failed: {exc.detail}") from None

    async def generate(self, request: ChatRequest) -> Completion:
        done: Completion | None = None
        async for delta in self.stream(request):
            done = delta.completion or done
        assert done is not None  # the scheduler always ends with a finish reason or raises
        done.text = done.text.strip()
        return done

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._models.release, self.scheduler, self.adapter)
        if self._owns_models:
            await asyncio.to_thread(self._models.close)


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

    async def _post(self, url: str, body: dict[str, Any]) -> Any:
        """POST `body` to the upstream; its JSON answer, or UpstreamError."""
        import httpx

        try:
            response = await self._client.post(url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.label} did not answer: "
                                f"{type(exc).__name__}") from None
        if response.status_code != 200:
            raise UpstreamError(f"upstream {self.label} answered {response.status_code}")
        return response.json()

    async def generate(self, request: ChatRequest) -> Completion:
        data = await self._post(self.url, self._body(request, False))
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
        url = self.url.removesuffix("/chat/completions") + "/embeddings"
        data = await self._post(url, {"model": self.model, "input": texts})
        ordered = sorted(data["data"], key=lambda d: d["index"])
        return [d["embedding"] for d in ordered], (data.get("usage") or {}).get(
            "total_tokens", 0)

    async def aclose(self) -> None:
        await self._client.aclose()
