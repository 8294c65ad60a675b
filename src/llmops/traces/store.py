"""Reading traces back: list with filters, show one with its spans, search, export.

Listing is newest first with a keyset cursor over ``(created_at, id)``, so a page costs
the same however deep it is, and a model's or route's last hour is a range scan of the
``(model, created_at)`` / ``(route, created_at)`` index.

Full-text search (``search=``) matches every word (or "quoted phrase") of the query as a
case-insensitive substring of the input or the output, on SQLite and PostgreSQL alike,
with ``%`` and ``_`` taken literally. It is a scan of the rows the other filters leave,
which is why a search is normally bounded by ``since`` or a model; a tokenised index
(FTS5, tsvector) would give different answers per database and shadow tables outside the
schema that migrations check, so it is not used.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from llmops.api_client import ApiClient
from llmops.errors import InvalidInput, NotFound
from llmops.store import Store
from llmops.store.tables import spans, traces
from llmops.traces.models import Span, Trace, TraceDetail, TracePage
from llmops.traces.query import since_ms, where_clause
from llmops.workspace import Workspace

__all__ = ["count_traces", "export_traces", "get_trace", "iter_traces", "list_traces",
           "trace_filter"]

MAX_LIMIT = 1000
_MAX_TERMS = 16


#: Where traces are read from: the local workspace (or its store), or a remote llmops
#: server through its HTTP API (``ApiClient.from_settings`` when LLMOPS_SERVER_URL is set).
Source = Workspace | Store | ApiClient


def _store(where: Source) -> Store:
    if isinstance(where, ApiClient):
        raise InvalidInput("this needs the local store; unset LLMOPS_SERVER_URL or run it "
                           "on the server")
    return where.store if isinstance(where, Workspace) else where


def _search_clause(text: str) -> ColumnElement[bool]:
    try:
        terms = [t for t in shlex.split(text) if t.strip()]
    except ValueError as exc:
        raise InvalidInput(f"invalid --search {text!r}: {exc}") from None
    if not terms:
        raise InvalidInput("invalid --search: give at least one word")
    if len(terms) > _MAX_TERMS:
        raise InvalidInput(f"invalid --search: at most {_MAX_TERMS} words")
    return and_(*(or_(traces.c.input.icontains(t, autoescape=True),
                      traces.c.output.icontains(t, autoescape=True)) for t in terms))


def trace_filter(*, model: str | None = None, route: str | None = None,
                 since: str | int | None = None, where: str | None = None,
                 search: str | None = None) -> list[ColumnElement[bool]]:
    """The clauses for the common trace filters (all optional, combined with AND).

    Args:
        model: registered model name. route: public route name.
        since: a duration (``1h``), an ISO timestamp, or epoch ms (int).
        where: a --where expression (see `llmops.traces.query`).
        search: words or "quoted phrases" to find in inputs or outputs.
    """
    clauses: list[ColumnElement[bool]] = []
    if model:
        clauses.append(traces.c.model == model)
    if route:
        clauses.append(traces.c.route == route)
    if since is not None and since != "":
        cutoff = since if isinstance(since, int) else since_ms(since)
        clauses.append(traces.c.created_at >= cutoff)
    if where:
        clauses.append(where_clause(where))
    if search:
        clauses.append(_search_clause(search))
    return clauses


def _encode_cursor(created_at: int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at}:{trace_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, trace_id = raw.split(":", 1)
        return int(at), trace_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"invalid cursor {cursor!r}: pass next_cursor from a previous "
                           "page unchanged") from None


def _loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return text


def _trace(row: Any) -> Trace:
    data = dict(row._mapping)
    data["input"] = _loads(data["input"], "")
    guard = _loads(data.get("guard"))
    data["guard"] = guard if isinstance(guard, dict) else None
    data["stream"] = bool(data["stream"])
    return Trace(**data)


def list_traces(where_from: Source, *, model: str | None = None,
                route: str | None = None, since: str | int | None = None,
                where: str | None = None, search: str | None = None, limit: int = 50,
                cursor: str | None = None) -> TracePage:
    """Traces matching every filter given, newest first.

    Args:
        where_from: the workspace (or store) to read.
        model, route, since, where, search: see `trace_filter`.
        limit: page size, 1 to 1000.
        cursor: `next_cursor` of the previous page.

    Raises:
        InvalidInput: a malformed filter, limit or cursor.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"invalid limit {limit}: use 1 to {MAX_LIMIT}")
    if isinstance(where_from, ApiClient):
        params = {"model": model, "route": route, "since": since, "where": where,
                  "search": search, "limit": limit, "cursor": cursor}
        return TracePage(**where_from.json("GET", "/api/v1/traces", params={
            k: str(v) for k, v in params.items() if v is not None}))
    clauses = trace_filter(model=model, route=route, since=since, where=where, search=search)
    if cursor:
        at, last_id = _decode_cursor(cursor)
        clauses.append(or_(traces.c.created_at < at,
                           and_(traces.c.created_at == at, traces.c.id < last_id)))
    query = (select(traces).where(*clauses)
             .order_by(traces.c.created_at.desc(), traces.c.id.desc()).limit(limit + 1))
    with _store(where_from).read() as conn:
        rows = conn.execute(query).fetchall()
    items = [_trace(r) for r in rows[:limit]]
    more = len(rows) > limit
    return TracePage(items=items, next_cursor=_encode_cursor(items[-1].created_at,
                                                            items[-1].id) if more else None)


def count_traces(where_from: Source, **filters: Any) -> int:
    """How many traces match `filters` (as `trace_filter`)."""
    from sqlalchemy import func

    query = select(func.count()).select_from(traces).where(*trace_filter(**filters))
    with _store(where_from).read() as conn:
        return int(conn.execute(query).scalar_one())


def iter_traces(where_from: Source, *, batch: int = 1000,
                **filters: Any) -> Iterator[Trace]:
    """Every trace matching `filters` (as `list_traces`), newest first, page by page."""
    cursor = None
    since = filters.get("since")
    if isinstance(since, str) and since:  # one cutoff for every page, not one per page
        filters["since"] = since_ms(since)
    while True:
        page = list_traces(where_from, limit=min(batch, MAX_LIMIT), cursor=cursor,
                           **filters)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _span(row: Any) -> Span:
    data = dict(row._mapping)
    data.pop("key_id", None)
    data.pop("created_at", None)
    data["attributes"] = _loads(data["attributes"], {}) or {}
    data["events"] = _loads(data["events"], []) or []
    data["links"] = _loads(data.get("links"), []) or []
    data["resource"] = _loads(data.get("resource"))
    data["duration_ms"] = max(0, data["end_ns"] - data["start_ns"]) / 1e6
    return Span(**data)


def _gateway_span(t: Trace) -> Span:
    end_ns = t.created_at * 1_000_000
    start_ns = end_ns - int(t.latency_ms * 1_000_000)
    return Span(trace_id=t.otel_trace_id or "", span_id=t.otel_span_id or "",
                parent_span_id=t.otel_parent_span_id, name=f"gateway {t.route or ''}".strip(),
                kind="server", start_ns=start_ns, end_ns=end_ns, duration_ms=t.latency_ms,
                status="error" if t.status >= 400 else "ok", status_message=t.error,
                attributes={"http.response.status_code": t.status,
                            "gen_ai.request.model": t.route, "llmops.target": t.target},
                operation="chat", model=t.model, input_tokens=t.prompt_tokens,
                output_tokens=t.completion_tokens, gateway_trace_id=t.id)


def _tree(flat: list[Span]) -> list[Span]:
    nodes = {s.span_id: s.model_copy(update={"children": []}) for s in flat}
    roots: list[Span] = []
    for s in sorted(nodes.values(), key=lambda n: (n.start_ns, n.span_id)):
        parent = nodes.get(s.parent_span_id or "")
        if parent is not None and parent is not s:
            parent.children.append(s)
        else:  # a root, or a child whose parent was never received
            roots.append(s)
    return roots


def get_trace(where_from: Source, trace_id: str) -> TraceDetail:
    """A gateway trace by its id (or an OpenTelemetry trace by its 32-hex id) with
    every span of the same OpenTelemetry trace, gateway calls included, as a tree.

    Raises:
        NotFound: no such trace.
    """
    if isinstance(where_from, ApiClient):
        from urllib.parse import quote

        return TraceDetail(**where_from.json("GET",
                                             f"/api/v1/traces/{quote(trace_id, safe='')}"))
    store = _store(where_from)
    ident = trace_id.strip().lower() if len(trace_id.strip()) == 32 else trace_id.strip()
    with store.read() as conn:
        row = conn.execute(select(traces).where(traces.c.id == ident)).first()
        trace = _trace(row) if row is not None else None
        otel = trace.otel_trace_id if trace else (
            ident if len(ident) == 32 and all(c in "0123456789abcdef" for c in ident) else None)
        span_rows = conn.execute(select(spans).where(spans.c.trace_id == otel)
                                 .order_by(spans.c.start_ns)).fetchall() if otel else []
        gateway_rows = conn.execute(select(traces).where(traces.c.otel_trace_id == otel)
                                    .order_by(traces.c.created_at)).fetchall() if otel else []
    if trace is None and not span_rows and not gateway_rows:
        raise NotFound(f"no trace {trace_id!r}: give a trace id from `llmops traces list` "
                       "or a 32-hex OpenTelemetry trace id")
    flat = [_span(r) for r in span_rows]
    known = {s.span_id for s in flat}
    calls = [_trace(r) for r in gateway_rows]
    if trace is not None and all(c.id != trace.id for c in calls):
        calls.append(trace)
    for call in calls:
        if call.otel_span_id and call.otel_span_id not in known:
            flat.append(_gateway_span(call))
    if trace is None and len(calls) == 1:
        trace = calls[0]
    flat.sort(key=lambda s: (s.start_ns, s.span_id))
    return TraceDetail(trace=trace, otel_trace_id=otel, spans=flat, tree=_tree(flat))


_PARQUET_FIELDS = [
    ("id", "string"), ("route", "string"), ("model", "string"), ("target", "string"),
    ("model_version_id", "string"), ("prompt_version_id", "string"), ("key_id", "string"),
    ("status", "int32"), ("error", "string"), ("input", "string"), ("output", "string"),
    ("prompt_tokens", "int64"), ("completion_tokens", "int64"), ("latency_ms", "float64"),
    ("ttft_ms", "float64"), ("stream", "bool_"), ("guard", "string"), ("created_at", "int64"),
    ("otel_trace_id", "string"), ("otel_span_id", "string"),
    ("otel_parent_span_id", "string"),
]


def export_traces(where_from: Source, out: str | Path, *, format: str = "jsonl",
                  progress: Callable[[int], None] | None = None, batch: int = 5000,
                  **filters: Any) -> int:
    """Write every trace matching `filters` (as `list_traces`) to `out`, newest first.

    JSONL has one trace per line as `Trace` serialises it (input as the message list);
    Parquet has one column per field, with ``input`` and ``guard`` as JSON text. The
    file appears complete or not at all (written beside it, then renamed).

    Returns:
        The number of traces written.

    Raises:
        InvalidInput: an unknown format or a malformed filter.
    """
    if format not in ("jsonl", "parquet"):
        raise InvalidInput(f"invalid format {format!r}: use jsonl or parquet")
    list_traces(where_from, limit=1, **filters)  # a malformed filter fails before any file
    path = Path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    count = 0
    try:
        if format == "jsonl":
            with tmp.open("w", encoding="utf-8") as fh:
                for t in iter_traces(where_from, batch=batch, **filters):
                    fh.write(t.model_dump_json() + "\n")
                    count += 1
                    if progress and count % 1000 == 0:
                        progress(count)
        else:
            count = _export_parquet(where_from, tmp, batch, progress, filters)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if progress:
        progress(count)
    return count


def _export_parquet(where_from: Source, tmp: Path, batch: int,
                    progress: Callable[[int], None] | None, filters: dict[str, Any]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in _PARQUET_FIELDS])
    count = 0
    with pq.ParquetWriter(str(tmp), schema) as writer:
        rows: list[dict[str, Any]] = []

        def flush() -> None:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            rows.clear()

        for t in iter_traces(where_from, batch=batch, **filters):
            row = t.model_dump()
            row["input"] = json.dumps(row["input"], ensure_ascii=False)
            row["guard"] = json.dumps(row["guard"]) if row["guard"] is not None else None
            rows.append(row)
            count += 1
            if len(rows) >= batch:
                flush()
                if progress:
                    progress(count)
        if rows or count == 0:
            flush()
    return count
