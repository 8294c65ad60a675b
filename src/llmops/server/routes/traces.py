"""Trace queries: ``GET /api/v1/traces`` (filters as ``llmops traces list``) and
``GET /api/v1/traces/{id}`` (the trace with its spans as a tree). Reader role."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Reader
from llmops.traces.store import get_trace, list_traces

router = APIRouter(prefix="/api/v1/traces", tags=["traces"])


@router.get("")
async def list_(request: Request, who: Reader,
                model: str | None = Query(None, description="Registered model name."),
                route: str | None = Query(None, description="Gateway route name."),
                since: str | None = Query(None, description="e.g. 1h, 7d, or ISO 8601."),
                where: str | None = Query(None, description="A --where expression."),
                search: str | None = Query(None, description="Words to find in inputs "
                                           "or outputs."),
                limit: int = Query(50, ge=1, le=1000),
                cursor: str | None = Query(None, description="next_cursor of a page.")
                ) -> Response:
    """Traces newest first, one page; ``next_cursor`` fetches the next."""
    page = await run_in_threadpool(
        list_traces, workspace(request), model=model, route=route, since=since,
        where=where, search=search, limit=limit, cursor=cursor)
    return as_json(page)


@router.get("/{trace_id}")
async def show(request: Request, trace_id: str, who: Reader) -> Response:
    """A gateway trace (or a 32-hex OpenTelemetry trace id) with its spans."""
    return as_json(await run_in_threadpool(get_trace, workspace(request), trace_id))
