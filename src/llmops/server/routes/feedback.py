"""Feedback over HTTP: `POST /api/v1/feedback` and `GET /api/v1/feedback`.

Keys that may call the gateway may send feedback: admin and maintainer keys on any trace,
`inference` keys only on traces made with the same key; any other trace answers 404
exactly like one that does not exist, so an application cannot probe for others' traces.
A retry with the same ``Idempotency-Key`` header (or `idempotency_key` field) is stored
once and answers with the first submission.

Traces are written in batches a few milliseconds after the answer, so feedback sent at
once may name a trace not stored yet: while this server's trace writer still holds the
trace, the route waits for it (up to `WAIT_S`, without holding a thread) before looking.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from llmops.auth.keys import Principal
from llmops.auth.roles import Role
from llmops.errors import PayloadTooLarge
from llmops.feedback import Feedback, Preference, add_feedback, list_feedback
from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Caller, Reader

router = APIRouter(tags=["feedback"])
WAIT_S = 2.0


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: str = Field(max_length=64, description="the x-llmops-trace-id of an answer")
    score: int | None = Field(default=None, description="1-5")
    thumbs: int | str | None = Field(default=None, description="up, down, +1 or -1")
    labels: list[str] | None = None
    comment: str | None = None
    correction: str | None = Field(default=None, description="the answer it should have "
                                   "given")
    preference: Preference | None = None
    idempotency_key: str | None = None


async def _read(request: Request) -> bytes:
    """The body, refused (413) past LLMOPS_MAX_REQUEST_BYTES before it is all read."""
    limit = request.app.state.workspace.settings.max_request_bytes
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _add(request: Request, who: Principal, body: FeedbackIn, header_key: str | None
         ) -> Feedback:
    only_key = who.key_id if who.role == Role.INFERENCE else None
    return add_feedback(
        body.trace_id, score=body.score, thumbs=body.thumbs, labels=body.labels,
        comment=body.comment, correction=body.correction, preference=body.preference,
        actor=who.actor, key_id=who.key_id, only_key=only_key,
        idempotency_key=body.idempotency_key or header_key, workspace=workspace(request))


@router.post("/api/v1/feedback", response_model=Feedback, status_code=201, openapi_extra={
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": FeedbackIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}})
async def create(request: Request, who: Caller,
                 idempotency_key: str | None = Header(default=None)) -> Response:
    """Record feedback on a trace (body: `FeedbackIn`)."""
    raw = await _read(request)
    try:
        body = FeedbackIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    writer = request.app.state.gateway.traces
    for _ in range(int(WAIT_S / 0.02)):
        if not writer.pending(body.trace_id):
            break
        await asyncio.sleep(0.02)
    found = await run_in_threadpool(_add, request, who, body, idempotency_key)
    return as_json(found, 201)


@router.get("/api/v1/feedback", response_model=list[Feedback])
def list_(request: Request, who: Reader, trace: str | None = None,
          source: str | None = None,
          limit: int = Query(100, ge=1, le=1000)) -> Response:
    return as_json(list_feedback(trace_id=trace, source=source, limit=limit,
                                 workspace=workspace(request)))
