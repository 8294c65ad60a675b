"""Trace queries: ``GET /api/v1/traces`` (filters as ``llmops traces list``),
``GET /api/v1/traces/export`` (every match as JSONL or Parquet, as ``llmops traces
export``) and ``GET /api/v1/traces/{id}`` (the trace with its spans as a tree). Reader
role."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Reader
from llmops.traces.store import export_traces, get_trace, list_traces

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


@router.get("/export")
async def export(request: Request, who: Reader,
                 format: str = Query("jsonl", pattern="^(jsonl|parquet)$"),
                 model: str | None = Query(None), route: str | None = Query(None),
                 since: str | None = Query(None), where: str | None = Query(None),
                 search: str | None = Query(None)) -> Response:
    """Every matching trace, newest first, as one JSONL or Parquet file (the count in
    ``x-llmops-count``); written to a temporary file first, so a bad filter is a 400."""
    folder = Path(tempfile.mkdtemp(prefix="llmops-export-"))
    out = folder / f"traces.{format}"
    try:
        count = await run_in_threadpool(
            export_traces, workspace(request), out, format=format, model=model, route=route,
            since=since, where=where, search=search)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    media = "application/x-ndjson" if format == "jsonl" else "application/vnd.apache.parquet"
    return FileResponse(out, media_type=media, filename=out.name,
                        headers={"x-llmops-count": str(count)},
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


@router.get("/{trace_id}")
async def show(request: Request, trace_id: str, who: Reader) -> Response:
    """A gateway trace (or a 32-hex OpenTelemetry trace id) with its spans."""
    return as_json(await run_in_threadpool(get_trace, workspace(request), trace_id))
