"""The OpenAI-compatible gateway: /v1/models, /v1/chat/completions, /v1/completions.

Bodies are read as OpenAI's, but only the messages (or prompt) and sampling parameters
reach an engine: a client's api_base, base_url or headers go nowhere. Streaming answers
are server-sent events in OpenAI's chunk shape, with usage in the last chunk and
``data: [DONE]`` at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from llmops.errors import InvalidInput, PayloadTooLarge
from llmops.gateway.engines import ChatRequest, Completion
from llmops.gateway.service import Gateway, chat_request
from llmops.server.security import Caller, Reader

router = APIRouter(tags=["gateway"])


def _gateway(request: Request) -> Gateway:
    return request.app.state.gateway


async def _body(request: Request) -> dict[str, Any]:
    limit = request.app.state.workspace.settings.max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")
    try:
        body = json.loads(raw)
    except ValueError:
        raise InvalidInput("the body must be a JSON object") from None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidInput("the body must be a JSON object with a string `model`",
                           errors=[{"field": "model", "message": "required"}])
    return body


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
    name = body["model"]
    sticky = body.get("user") if isinstance(body.get("user"), str) else None
    gateway.limits.check(who)

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
    created = int(time.time())
    if kind == "chat":
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content":
                                                          completion.text},
                                  "finish_reason": completion.finish_reason}
        data = {"id": f"chatcmpl-{trace_id}", "object": "chat.completion"}
    else:
        choice = {"index": 0, "text": completion.text, "finish_reason":
                  completion.finish_reason}
        data = {"id": f"cmpl-{trace_id}", "object": "text_completion"}
    return JSONResponse({**data, "created": created, "model": name, "choices": [choice],
                         "usage": _usage(completion)},
                        headers={"x-llmops-trace-id": trace_id})


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
    text = gateway.metrics.render(queue_depth=gateway.traces.queue.qsize(),
                                  traces_written=gateway.traces.written,
                                  traces_failed=gateway.traces.failed)
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
    gateway.limits.check(who)
    name = body["model"]
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
