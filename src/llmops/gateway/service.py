"""The gateway's core: pick a target for a request, get (or load) its engine, answer,
fall back to the next target on upstream errors, and record the trace.

Routes and model aliases are re-read every `refresh_s` seconds, so a route change or an
alias move reaches every running gateway within that time without a restart; requests
already running finish on the engine they started with.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from llmops.auth.keys import Principal
from llmops.clock import now_ms
from llmops.errors import InvalidInput, LlmopsError, NotFound, RateLimited
from llmops.feedback.online import OnlineEvaluator
from llmops.gateway.engines import ChatRequest, Completion, Delta, Engine, UpstreamError
from llmops.gateway.guardrails import GuardrailBlocked, GuardReport, guard_input, guard_output
from llmops.gateway.limits import KeyLimits
from llmops.gateway.metrics import GatewayMetrics
from llmops.gateway.routes import Route, RouteStore, Target
from llmops.gateway.traces import TraceWriter
from llmops.ids import new_id
from llmops.traces.context import gateway_trace_fields
from llmops.workspace import Workspace


class Gateway:
    def __init__(self, workspace: Workspace, *, refresh_s: float = 2.0) -> None:
        self.workspace = workspace
        self.routes = RouteStore(workspace)
        self.refresh_s = refresh_s
        self.traces = TraceWriter(workspace.store)
        self.online = OnlineEvaluator(workspace)  # scores sampled traces off the request path
        self.traces.listeners.append(self.online.offer)
        self.metrics = GatewayMetrics()
        self.limits = KeyLimits(workspace.store)
        self._routes: dict[str, Route] = {}
        self._routes_at = 0.0
        self._refs: dict[str, tuple[float, str, str]] = {}  # ref -> (at, version id, label)
        self._engines: dict[str, Engine] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._local_models: Any = None  # engines.LocalModels: LoRA versions share a base
        self._busy: dict[str, int] = {}  # model engine key -> requests using it now
        self._evicted_at = 0.0
        self._closing: set[asyncio.Task[None]] = set()

    # -- routes and targets ----------------------------------------------------------
    def route_table(self, *, max_age_s: float | None = None) -> dict[str, Route]:
        age = self.refresh_s if max_age_s is None else max_age_s
        if time.monotonic() - self._routes_at > age:
            self._routes = {r.name: r for r in self.routes.list()}
            self._routes_at = time.monotonic()
        return self._routes

    def route(self, name: str) -> Route:
        found = self.route_table().get(name)
        if found is None:  # perhaps added since the last read: look again
            found = self.route_table(max_age_s=0).get(name)
        if found is None:
            known = ", ".join(sorted(self.route_table())) or "none yet"
            raise NotFound(f"the model {name!r} does not exist (models: {known})")
        return found

    @staticmethod
    def order(route: Route, sticky_key: str | None) -> list[Target]:
        """The weighted choice first, then the other targets as fallbacks."""
        weights = [t.weight for t in route.targets]
        if route.options.sticky and sticky_key:
            digest = hashlib.sha256(f"{route.name}:{sticky_key}".encode()).digest()
            point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
        else:
            point = random.random() * sum(weights)
        chosen = len(weights) - 1
        for i, weight in enumerate(weights):
            point -= weight
            if point < 0:
                chosen = i
                break
        targets = route.targets
        return [targets[chosen], *targets[:chosen], *targets[chosen + 1:]]

    def _resolve(self, ref: str) -> tuple[str, str]:
        """(version id, model:NAME@V) of a model reference, re-read after `refresh_s`."""
        cached = self._refs.get(ref)
        if cached and time.monotonic() - cached[0] < self.refresh_s:
            return cached[1], cached[2]
        from llmops.registry import ModelRegistry

        version = ModelRegistry(self.workspace).get(ref)
        self._refs[ref] = (time.monotonic(), version.id, version.ref)
        return version.id, version.ref

    async def engine(self, target: Target, route: Route) -> Engine:
        if target.kind == "upstream":
            key = f"upstream:{target.url}#{target.upstream_model}#{target.api_key_env}"
            if key not in self._engines:
                from llmops.gateway.http1 import FastUpstreamEngine

                assert target.url and target.upstream_model
                self._engines[key] = FastUpstreamEngine(
                    target.url, target.upstream_model, api_key_env=target.api_key_env,
                    timeout_s=route.options.timeout_s)
            return self._engines[key]
        assert target.model
        version_id, label = await asyncio.to_thread(self._resolve, target.model)
        key = f"model:{version_id}"
        self._evict_unrouted()
        if key not in self._engines:
            lock = self._loading.setdefault(key, asyncio.Lock())
            async with lock:  # one load per version, however many requests wait for it
                if key not in self._engines:
                    from llmops.gateway.engines import LocalEngine, LocalModels

                    if self._local_models is None:
                        self._local_models = LocalModels()
                    self._engines[key] = await asyncio.to_thread(
                        LocalEngine, label, models=self._local_models)
        self._busy[key] = self._busy.get(key, 0) + 1  # until `done(engine)`
        return self._engines[key]

    def done(self, engine: Engine | None) -> None:
        """A request is finished with `engine` (taken from `engine()`)."""
        key = f"model:{getattr(engine, 'version_id', None)}"
        if key in self._busy:
            self._busy[key] -= 1

    def _evict_unrouted(self) -> None:
        """Unload local versions no route resolves to any more (an alias moved, a route
        changed) once no request uses them: hot swaps do not pile up models in memory.
        Runs at most once per `refresh_s`, on the event loop."""
        if time.monotonic() - self._evicted_at < self.refresh_s:
            return
        self._evicted_at = time.monotonic()
        live = set()
        for route in self.route_table().values():
            for target in route.targets:
                if target.kind != "model" or target.model is None:
                    continue
                cached = self._refs.get(target.model)
                if cached is None:  # not resolved yet: cannot tell what is unused
                    return
                live.add(f"model:{cached[1]}")
        for key in [k for k in self._engines if k.startswith("model:") and k not in live
                    and not self._busy.get(k)]:
            engine = self._engines.pop(key)
            self._busy.pop(key, None)
            self._loading.pop(key, None)
            close = getattr(engine, "aclose", None)
            if close is not None:
                task = asyncio.get_running_loop().create_task(close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    # -- answering ------------------------------------------------------------------
    def _trace(self, route: str, engine: Engine | None, request: ChatRequest, key_id: str,
               status: int, started: float, *, completion: Completion | None = None,
               error: str | None = None, ttft_ms: float | None = None,
               stream: bool = False, prompt_version_id: str | None = None,
               guard: GuardReport | None = None) -> str:
        trace_id = new_id()
        latency = (time.perf_counter() - started) * 1000
        self.metrics.observe(route, status, latency, completion)
        self.traces.put({
            "id": trace_id, "route": route, "target": engine.label if engine else None,
            "model_version_id": getattr(engine, "version_id", None),
            "prompt_version_id": prompt_version_id, "key_id": key_id, "status": status,
            "error": error, "input": json.dumps(request.messages, ensure_ascii=False),
            "output": completion.text if completion else None,
            "prompt_tokens": completion.prompt_tokens if completion else None,
            "completion_tokens": completion.completion_tokens if completion else None,
            "latency_ms": latency, "ttft_ms": ttft_ms, "stream": int(stream),
            "guard": json.dumps(guard.as_dict()) if guard and guard.as_dict() else None,
            "created_at": now_ms(), **gateway_trace_fields(engine.label if engine else None)})
        return trace_id

    def admit(self, who: Principal, name: str, request: ChatRequest | None = None) -> None:
        """The key's limits, before any work. A refusal (429) is traced too: abuse
        detection counts a key's repeated limit hits."""
        try:
            self.limits.check(who)
        except RateLimited as exc:
            self._trace(name, None, request or ChatRequest(messages=[]), who.key_id, 429,
                        time.perf_counter(), error=exc.detail)
            raise

    def _prepare(self, name: str, request: ChatRequest, key_id: str, started: float,
                 prompt_version_id: str | None, stream: bool) -> tuple[Route, GuardReport]:
        """The route, the max_tokens cap and the input guardrails, before any engine."""
        self.traces.check_room()
        route = self.route(name)
        request.max_tokens = min(request.max_tokens, route.options.max_tokens)
        o = route.options
        try:
            request.messages, report = guard_input(request.messages, redact=o.redact_input,
                                                   injection=o.injection)
        except GuardrailBlocked as exc:
            self._trace(name, None, request, key_id, 400, started, error=exc.detail,
                        stream=stream, prompt_version_id=prompt_version_id,
                        guard=GuardReport(blocked=True))
            raise
        return route, report

    async def complete(self, name: str, request: ChatRequest, *, key_id: str,
                       sticky: str | None = None, prompt_version_id: str | None = None
                       ) -> tuple[Completion, Engine, str]:
        """Answer with the first target that works; (completion, engine, trace id)."""
        started = time.perf_counter()
        route, report = self._prepare(name, request, key_id, started, prompt_version_id,
                                      False)
        last: Exception | None = None
        engine: Engine | None = None
        for target in self.order(route, sticky or key_id):
            try:
                engine = await self.engine(target, route)
                try:
                    completion = await engine.generate(request)
                finally:
                    self.done(engine)
            except (UpstreamError, NotFound) as exc:
                last = exc
                continue
            except LlmopsError as exc:  # the request itself is wrong (a prompt too long)
                self._trace(name, engine, request, key_id, exc.status, started,
                            error=exc.detail, prompt_version_id=prompt_version_id,
                            guard=report)
                raise
            if route.options.redact_output:
                completion.text = guard_output(completion.text, report)
            trace = self._trace(name, engine, request, key_id, 200, started,
                                completion=completion, prompt_version_id=prompt_version_id,
                                guard=report)
            return completion, engine, trace
        assert last is not None
        self._trace(name, engine, request, key_id, 502, started, error=str(last),
                    prompt_version_id=prompt_version_id, guard=report)
        raise UpstreamError(f"every target of {name!r} failed; last: {last}")

    def prepare_stream(self, name: str, request: ChatRequest, *, key_id: str,
                       prompt_version_id: str | None = None) -> Callable[..., Any]:
        """Check the route and guardrails now (errors before the stream starts), and
        return the generator that streams."""
        started = time.perf_counter()
        route, report = self._prepare(name, request, key_id, started, prompt_version_id,
                                      True)

        def run(sticky: str | None = None) -> AsyncIterator[Delta]:
            return self._stream(name, route, report, request, key_id, sticky,
                                prompt_version_id, started)

        return run

    async def _stream(self, name: str, route: Route, report: GuardReport,
                      request: ChatRequest, key_id: str, sticky: str | None,
                      prompt_version_id: str | None, started: float) -> AsyncIterator[Delta]:
        """Deltas from the first target that starts answering (fallback only before the
        first delta: a half-sent answer cannot be retried elsewhere). With output
        redaction the answer is buffered and sent redacted in one piece."""
        last: Exception | None = None
        buffer = route.options.redact_output
        traced = False
        for target in self.order(route, sticky or key_id):
            engine: Engine | None = None
            ttft = None
            try:
                engine = await self.engine(target, route)
                async for delta in engine.stream(request):
                    if ttft is None:
                        ttft = (time.perf_counter() - started) * 1000
                    if delta.completion is not None:
                        if buffer:
                            delta.completion.text = guard_output(delta.completion.text, report)
                            yield Delta(delta.completion.text)
                        self._trace(name, engine, request, key_id, 200, started,
                                    completion=delta.completion, ttft_ms=ttft, stream=True,
                                    prompt_version_id=prompt_version_id, guard=report)
                        traced = True
                        yield Delta("", delta.completion)
                    elif not buffer:
                        yield delta
                return
            except (UpstreamError, NotFound) as exc:
                if ttft is not None and not buffer:
                    self._trace(name, engine, request, key_id, 502, started, error=str(exc),
                                ttft_ms=ttft, stream=True, guard=report)
                    raise
                last = exc
            except LlmopsError as exc:  # the request itself is wrong (a prompt too long)
                self._trace(name, engine, request, key_id, exc.status, started,
                            error=exc.detail, ttft_ms=ttft, stream=True,
                            prompt_version_id=prompt_version_id, guard=report)
                raise
            except (GeneratorExit, asyncio.CancelledError):  # the client went away
                if not traced:
                    self._trace(name, engine, request, key_id, 499, started,
                                error="the client closed the stream before the end",
                                ttft_ms=ttft, stream=True, prompt_version_id=prompt_version_id,
                                guard=report)
                raise
            finally:
                if engine is not None:
                    self.done(engine)
        self._trace(name, None, request, key_id, 502, started, error=str(last), stream=True,
                    guard=report)
        raise UpstreamError(f"every target of {name!r} failed; last: {last}")

    async def embed(self, name: str, texts: list[str]) -> tuple[list[list[float]], int]:
        """Embeddings from the route's first upstream target that answers."""
        route = self.route(name)
        last: Exception | None = None
        for target in self.order(route, None):
            if target.kind != "upstream":
                continue
            engine = await self.engine(target, route)
            try:
                return await engine.embed(texts)  # type: ignore[attr-defined]
            except UpstreamError as exc:
                last = exc
        raise InvalidInput(f"route {name!r} has no upstream that serves embeddings"
                           + (f" (last error: {last})" if last else ""))

    async def aclose(self) -> None:
        for engine in self._engines.values():
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()
        self.traces.close()
        self.online.close()  # after the traces: it scores what their last batch offered


def chat_request(body: dict[str, Any]) -> ChatRequest:
    """The fields of an OpenAI chat completions body that reach an engine; anything else
    a client sends (api_base, base_url, headers, ...) is ignored."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str) for m in messages):
        raise InvalidInput("messages must be a non-empty list of {role, content} objects",
                           errors=[{"field": "messages", "message": "role and content"}])
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    try:
        max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens") or 256)
        temperature = float(body.get("temperature", 0.0) or 0.0)
        top_p = float(body.get("top_p", 1.0) or 1.0)
    except (TypeError, ValueError):
        raise InvalidInput("max_tokens, temperature and top_p must be numbers") from None
    if max_tokens < 1 or not 0 <= temperature <= 2 or not 0 < top_p <= 1:
        raise InvalidInput("max_tokens must be >= 1, temperature in [0, 2], top_p in (0, 1]")
    return ChatRequest(messages=[{"role": m["role"], "content": m["content"]}
                                 for m in messages], max_tokens=max_tokens,
                       temperature=temperature, top_p=top_p,
                       stop=[s for s in stop if isinstance(s, str)][:4])
