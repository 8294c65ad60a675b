"""OTLP/HTTP trace ingest: ``POST /v1/traces``, as OpenTelemetry exporters send it.

Protobuf (``application/x-protobuf``) and the OTLP JSON mapping (``application/json``),
optionally gzip-compressed. The caller needs the ``inference`` permission: the key an
application already uses for the gateway may send that application's spans, a viewer's
may not. The 200 comes only after the spans are committed; a body that does not parse
gets 400 and nothing of it is stored. The body cap (LLMOPS_MAX_REQUEST_BYTES) applies to
the body as sent and to it decompressed.
"""

from __future__ import annotations

import zlib

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from llmops.errors import InvalidInput, PayloadTooLarge
from llmops.server.security import Caller
from llmops.traces.spans import decode_otlp, encode_response, write_spans

router = APIRouter(tags=["traces"])

_TYPES = ("application/x-protobuf", "application/json")


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(raw, limit + 1)
    except zlib.error:
        raise InvalidInput("the body is not valid gzip (Content-Encoding: gzip)") from None
    if len(out) > limit or inflate.unconsumed_tail:
        raise PayloadTooLarge(f"the decompressed body is over {limit} bytes "
                              "(LLMOPS_MAX_REQUEST_BYTES)")
    if not inflate.eof or inflate.unused_data:  # cut short, or more than one member
        raise InvalidInput("the body is not one complete gzip stream (Content-Encoding: gzip)")
    return out


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes (LLMOPS_MAX_REQUEST_BYTES)")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return _gunzip(raw, limit)
    if encoding not in ("identity", ""):
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    return raw


@router.post("/v1/traces")
async def export_traces(request: Request, who: Caller) -> Response:
    """Receive an OTLP ExportTraceServiceRequest and store its spans."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _TYPES:
        raise HTTPException(415, f"unsupported Content-Type {content_type or 'none'!r}: "
                                 "send application/x-protobuf or application/json (OTLP)")
    workspace = request.app.state.workspace
    body = await _read(request, workspace.settings.max_request_bytes)

    def ingest() -> bytes:
        decoded = decode_otlp(body, content_type, key_id=who.key_id)
        write_spans(workspace.store, decoded.rows)
        return encode_response(decoded, content_type)

    payload = await run_in_threadpool(ingest)
    return Response(payload, status_code=200, media_type=content_type)
