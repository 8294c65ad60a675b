"""The OpenAI-compatible gateway: /v1/models, /v1/chat/completions, /v1/completions.

Bodies are read as OpenAI's, but only the messages (or prompt) and sampling parameters
reach an engine: a client's api_base, base_url or headers go nowhere. Streaming answers
are server-sent events in OpenAI's chunk shape, with usage in the last chunk and
``data: [DONE]`` at the end.

`FastChat` answers the common case, a non-streaming ``POST /v1/chat/completions`` with
messages, as a plain ASGI middleware in front of FastAPI's routing and dependency
injection (which cost more than the rest of the gateway's work together). It runs the
same steps in the same order, with the same errors: the key (cached, the database only
on a miss, off the event loop), the body cap, the body, limits, the gateway, the trace.
Streaming requests and prompt references go on to the FastAPI route below.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmops.auth.keys import Principal, hash_key
from llmops.auth.roles import Permission
from llmops.errors import InvalidInput, LlmopsError, PayloadTooLarge
from llmops.gateway.engines import ChatRequest, Completion
from llmops.gateway.service import Gateway, chat_request
from llmops.server.security import Caller, Reader, authenticate, bearer, check_permission
from llmops.traces.context import incoming_traceparent, parse_traceparent

router = APIRouter(tags=["gateway"])


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except ValueError:  # orjson is stricter (NaN, huge integers): json decides
        try:
            body = json.loads(raw)
        except ValueError:
            raise InvalidInput("the body must be a JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidInput("the body must be a JSON object with a string `model`",
                           errors=[{"field": "model", "message": "required"}])
    return body


async def _body(request: Request) -> dict[str, Any]:
    limit = request.app.state.workspace.settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = await request.body()
    if len(raw) > limit:
        raise _too_large(limit)
    return _parse(raw)


def _usage(c: Completion) -> dict[str, int]:
    p, n = c.prompt_tokens or 0, c.completion_tokens or 0
    return {"prompt_tokens": p, "completion_tokens": n, "total_tokens": p + n}


@router.get("/v1/models")
def models(request: Request, who: Caller) -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": route.updated_at // 1000,
         "owned_by": "llmops"} for name, route in sorted(_gateway(request).route_table()
                                                          .items())]}


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stream(run: Any, name: str, sticky: str | None, kind: str,
                  done: Any) -> AsyncIterator[str]:
    ident = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{time.time_ns():x}"
    created = int(time.time())
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

    def chunk(text: str | None, reason: str | None, *, role: bool = False) -> dict[str, Any]:
        if kind == "chat":
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else (
                {"content": text} if text is not None else {})
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason}
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": reason}
        return {"id": ident, "object": obj, "created": created, "model": name,
                "choices": [choice]}

    if kind == "chat":
        yield _sse(chunk(None, None, role=True))
    try:
        async for delta in run(sticky):
            if delta.completion is not None:
                done(delta.completion)
                yield _sse(chunk(None, delta.completion.finish_reason))
                yield _sse({"id": ident, "object": obj, "created": created, "model": name,
                            "choices": [], "usage": _usage(delta.completion)})
            elif delta.text:
                yield _sse(chunk(delta.text, None))
    except Exception as exc:  # headers are sent: report in the stream, as OpenAI does
        yield _sse({"error": {"message": str(exc), "type": "upstream_error"}})
    yield "data: [DONE]\n\n"


async def _answer(request: Request, who: Any, chat: ChatRequest, body: dict[str, Any],
                  kind: str, prompt_version_id: str | None = None) -> Response:
    gateway = _gateway(request)
    incoming_traceparent.set(parse_traceparent(request.headers.get("traceparent")))
    name = body["model"]
    sticky = body.get("user") if isinstance(body.get("user"), str) else None
    gateway.admit(who, name, chat)

    def done(completion: Completion) -> None:
        gateway.limits.record(who, _usage(completion)["total_tokens"])

    if body.get("stream"):
        # route, caps and guardrails are checked now: errors are plain responses
        run = gateway.prepare_stream(name, chat, key_id=who.key_id,
                                     prompt_version_id=prompt_version_id)
        return StreamingResponse(_stream(run, name, sticky, kind, done),
                                 media_type="text/event-stream")
    completion, _, trace_id = await gateway.complete(name, chat, key_id=who.key_id,
                                                     sticky=sticky,
                                                     prompt_version_id=prompt_version_id)
    done(completion)
    return JSONResponse(_answer_body(kind, name, trace_id, completion),
                        headers={"x-llmops-trace-id": trace_id})


def _answer_body(kind: str, name: str, trace_id: str, completion: Completion
                 ) -> dict[str, Any]:
    """A whole (non-streamed) answer in OpenAI's shape."""
    if kind == "chat":
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content":
                                                          completion.text},
                                  "finish_reason": completion.finish_reason}
        data = {"id": f"chatcmpl-{trace_id}", "object": "chat.completion"}
    else:
        choice = {"index": 0, "text": completion.text, "finish_reason":
                  completion.finish_reason}
        data = {"id": f"cmpl-{trace_id}", "object": "text_completion"}
    return {**data, "created": int(time.time()), "model": name, "choices": [choice],
            "usage": _usage(completion)}


def _prompted(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """A body naming a prompt version instead of messages, rendered (OpenAI clients send
    it as ``extra_body={"prompt": "travel-system@production", "variables": {...}}``)."""
    ref = body.get("prompt")
    if ref is None:
        return body, None
    if not isinstance(ref, str) or body.get("messages"):
        raise InvalidInput("send either messages or a prompt reference (a string), not both",
                           errors=[{"field": "prompt", "message": "a prompt reference"}])
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise InvalidInput("variables must be an object")
    from llmops.prompts.registry import LocalPromptRegistry
    from llmops.workspace import Workspace

    rendered = LocalPromptRegistry(Workspace.open()).render(ref, variables)
    if not rendered.messages:
        raise InvalidInput(f"prompt {ref} is a text template; chat needs messages")
    messages = [{"role": m["role"], "content": m["content"]} for m in rendered.messages]
    return {**body, "messages": messages}, rendered.version_id


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, who: Caller) -> Response:
    body, prompt_version_id = _prompted(await _body(request))
    return await _answer(request, who, chat_request(body), body, "chat", prompt_version_id)


@router.get("/metrics")
def metrics(request: Request, who: Reader) -> Response:
    """Prometheus metrics: requests, latency, tokens, trace queue depth, failures."""
    gateway = _gateway(request)
    text = gateway.metrics.render(queue_depth=gateway.traces.depth(),
                                  traces_written=gateway.traces.written,
                                  traces_failed=gateway.traces.failed,
                                  traces_refused=gateway.traces.refused)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@router.post("/v1/completions")
async def completions(request: Request, who: Caller) -> Response:
    """Text completions, answered as one user message (for clients that still use them)."""
    body = await _body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidInput("prompt must be a non-empty string",
                           errors=[{"field": "prompt", "message": "required"}])
    chat = chat_request({**body, "messages": [{"role": "user", "content": prompt}]})
    return await _answer(request, who, chat, body, "text")


LOCAL_EMBEDDINGS = "all-minilm-l6-v2"


@router.post("/v1/embeddings")
async def embeddings(request: Request, who: Caller) -> Response:
    """Sentence embeddings: the built-in model (``all-minilm-l6-v2``, from
    ``llmops[embeddings]``), or a route whose target is an upstream with /embeddings."""
    import asyncio

    body = await _body(request)
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidInput("input must be a string or a non-empty list of strings",
                           errors=[{"field": "input", "message": "strings"}])
    gateway = _gateway(request)
    name = body["model"]
    gateway.admit(who, name)
    if name == LOCAL_EMBEDDINGS:
        from llmops.embeddings import embed

        vectors = (await asyncio.to_thread(embed, texts)).tolist()
        tokens = sum(len(t.split()) for t in texts)
    else:
        vectors, tokens = await gateway.embed(name, texts)
    gateway.limits.record(who, tokens)
    return JSONResponse({"object": "list", "model": name, "data": [
        {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


# -- the fast path -------------------------------------------------------------------------

CHAT_PATH = "/v1/chat/completions"


class FastChat:
    """ASGI middleware answering non-streaming chat completions without FastAPI's routing
    (see the module docstring); every other request passes through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            who = await _caller(request)
            raw = await _read(request, receive)
            body = _parse(raw)
        except LlmopsError as exc:
            await _problem(request, exc, send)
            return
        if body.get("stream") or body.get("prompt") is not None:  # the FastAPI route
            await self.app(scope, _replay(raw, receive), send)
            return
        try:
            chat = chat_request(body)
            gateway: Gateway = request.app.state.gateway
            incoming_traceparent.set(parse_traceparent(request.headers.get("traceparent")))
            name = body["model"]
            user = body.get("user")
            gateway.admit(who, name, chat)
            completion, _, trace_id = await gateway.complete(
                name, chat, key_id=who.key_id, sticky=user if isinstance(user, str) else None)
            gateway.limits.record(who, _usage(completion)["total_tokens"])
        except LlmopsError as exc:
            await _problem(request, exc, send)
            return
        payload = orjson.dumps(_answer_body("chat", name, trace_id, completion))
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", b"application/json"),
            (b"x-llmops-trace-id", trace_id.encode())]})
        await send({"type": "http.response.body", "body": payload})


async def _caller(request: Request) -> Principal:
    """The inference caller: from the key cache, else the database on a worker thread."""
    secret = bearer(request)
    principal: Principal | None = (request.app.state.key_cache.get(hash_key(secret))
                                   if secret else None)
    if principal is None:
        principal = await run_in_threadpool(authenticate, request)
    check_permission(principal, Permission.INFERENCE)
    return principal


async def _read(request: Request, receive: Receive) -> bytes:
    limit = request.app.state.workspace.settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """`receive` for the FastAPI route: the body already read, then the real stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay


async def _problem(request: Request, exc: LlmopsError, send: Send) -> None:
    """The problem+json answer the app's own LlmopsError handler gives."""
    handler = request.app.exception_handlers[LlmopsError]
    response = await handler(request, exc)
    await response(request.scope, request.receive, send)


def install(app: FastAPI) -> None:
    """Put the fast chat path in front of the app's routing."""
    app.add_middleware(FastChat)
