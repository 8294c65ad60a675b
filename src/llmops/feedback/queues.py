"""Annotation queues: a sample of traces (chosen by a trace query) for people to judge
one at a time.

A queue is filled once, when it is created: up to `sample` traces matching the --where
expression (and --since), picked at random. An annotator takes the first item not yet
done, gives a score, labels or a correction (stored as ordinary feedback whose
idempotency key names the queue item, so a crash between the two writes and a retry
stores it once) or skips it; either way the item is done and the next one comes up.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, func, insert, select, update

from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import Conflict, InvalidInput, NotFound, ValidationFailed
from llmops.feedback.models import Feedback
from llmops.ids import new_id
from llmops.refs import check_name
from llmops.store.tables import annotation_items, annotation_queues, traces
from llmops.workspace import Workspace

MAX_SAMPLE = 10_000


class Queue(BaseModel):
    name: str
    where: str | None = None
    since_ms: int | None = None
    sample: int
    items: int
    done: int
    created_by: str
    created_at: int


class QueueItem(BaseModel):
    """One trace to judge, with what an annotator needs to see."""

    queue: str
    position: int
    remaining: int  # items not done, this one included
    trace_id: str
    input: Any  # the messages
    output: str | None
    route: str | None
    model: str | None  # model:NAME@V or upstream URL#MODEL
    status: int
    created_at: int


def _queue_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(annotation_queues).where(annotation_queues.c.name == name)
                       ).first()
    if row is None:
        names = conn.execute(select(annotation_queues.c.name).order_by(
            annotation_queues.c.name).limit(20)).scalars().all()
        listed = ", ".join(names) or "none yet"
        raise NotFound(f"no annotation queue {name!r} (queues: {listed})")
    return row


def create_queue(workspace: Workspace, name: str, *, where: str | None, sample: int,
                 since: str | None = None, actor: str) -> Queue:
    """Fill a new queue with up to `sample` random traces matching `where`/`since`.

    Raises:
        InvalidInput: a bad name or expression, or no trace matches.
        ValidationFailed: `sample` outside 1-10,000.
        Conflict: a queue of that name exists.
    """
    from llmops.traces.query import since_ms as parse_since
    from llmops.traces.query import where_clause

    check_name(name, what="queue name")
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        raise ValidationFailed(f"sample must be from 1 to {MAX_SAMPLE:,}, not {sample!r}",
                               errors=[{"field": "sample", "message": "out of range"}])
    clause = where_clause(where or "")
    cutoff = parse_since(since) if since else None

    def write(conn: Connection) -> None:
        if conn.execute(select(annotation_queues.c.id).where(
                annotation_queues.c.name == name)).first():
            raise Conflict(f"annotation queue {name!r} exists; choose another name")
        query = select(traces.c.id).where(clause)
        if cutoff is not None:
            query = query.where(traces.c.created_at >= cutoff)
        picked = conn.execute(query.order_by(func.random()).limit(sample)).scalars().all()
        if not picked:
            raise InvalidInput(f"no trace matches --where {where or ''!r}"
                               + (f" since {since}" if since else "")
                               + "; `llmops traces list --where ...` shows what matches")
        queue_id = new_id()
        conn.execute(insert(annotation_queues), {
            "id": queue_id, "name": name, "where_expr": where, "since_ms": cutoff,
            "sample_size": sample, "created_by": actor, "created_at": now_ms()})
        conn.execute(insert(annotation_items), [
            {"queue_id": queue_id, "position": i, "trace_id": t} for i, t in enumerate(picked)])
        audit.record(conn, actor, "annotation_queue.create", "annotation_queue", queue_id,
                     {"name": name, "where": where, "items": len(picked)})

    workspace.store.write(write)
    return get_queue(workspace, name)


def _counts(conn: Connection) -> Any:
    return (select(annotation_items.c.queue_id, func.count().label("n_items"),
                   func.count(annotation_items.c.done_at).label("n_done"))
            .group_by(annotation_items.c.queue_id).subquery())


def _queue(row: Any) -> Queue:
    return Queue(name=row.name, where=row.where_expr, since_ms=row.since_ms,
                 sample=row.sample_size, items=row.n_items or 0, done=row.n_done or 0,
                 created_by=row.created_by, created_at=row.created_at)


def list_queues(workspace: Workspace) -> list[Queue]:
    with workspace.store.read() as conn:
        counts = _counts(conn)
        rows = conn.execute(select(annotation_queues, counts.c.n_items, counts.c.n_done).join(
            counts, counts.c.queue_id == annotation_queues.c.id, isouter=True)
            .order_by(annotation_queues.c.name)).all()
    return [_queue(r) for r in rows]


def get_queue(workspace: Workspace, name: str) -> Queue:
    found = [q for q in list_queues(workspace) if q.name == name]
    if not found:
        with workspace.store.read() as conn:
            _queue_row(conn, name)  # raises NotFound naming the queues
    return found[0]


def next_item(workspace: Workspace, name: str) -> QueueItem | None:
    """The first item not done yet, or None when the queue is finished."""
    with workspace.store.read() as conn:
        queue = _queue_row(conn, name)
        pending = (annotation_items.c.queue_id == queue.id) & annotation_items.c.done_at.is_(
            None)
        remaining = conn.execute(select(func.count()).select_from(annotation_items)
                                 .where(pending)).scalar_one()
        row = conn.execute(
            select(annotation_items.c.position, traces)
            .join(traces, traces.c.id == annotation_items.c.trace_id)
            .where(pending).order_by(annotation_items.c.position).limit(1)).first()
    if row is None:
        return None
    try:
        messages: Any = json.loads(row.input)
    except ValueError:
        messages = row.input
    return QueueItem(queue=name, position=row.position, remaining=remaining,
                     trace_id=row.id, input=messages, output=row.output, route=row.route,
                     model=row.target, status=row.status, created_at=row.created_at)


def complete_item(workspace: Workspace, name: str, position: int, *, actor: str,
                  skip: bool = False, **fields: Any) -> Feedback | None:
    """Record an annotator's feedback on item `position` (or skip it) and mark it done.

    Raises:
        NotFound: no such queue or item.
        Conflict: the item is done already.
        ValidationFailed: a bad score, label or correction (the item stays to do).
    """
    from llmops.feedback import store

    with workspace.store.read() as conn:
        queue = _queue_row(conn, name)
        item = conn.execute(select(annotation_items).where(
            annotation_items.c.queue_id == queue.id,
            annotation_items.c.position == position)).first()
    if item is None:
        raise NotFound(f"annotation queue {name!r} has no item {position}")
    if item.done_at is not None:
        raise Conflict(f"item {position} of {name!r} was done by {item.done_by}")
    row = None if skip else store.clean_fields(source="human", idempotency_key=(
        f"annotate:{queue.id}:{position}"), **fields)  # validated before anything is written

    def write(conn: Connection) -> str | None:
        # claim the item first: of two annotators on one item, exactly one records
        claimed = conn.execute(update(annotation_items).where(
            annotation_items.c.queue_id == queue.id, annotation_items.c.position == position,
            annotation_items.c.done_at.is_(None)).values(done_by=actor, done_at=now_ms()))
        if claimed.rowcount == 0:
            raise Conflict(f"item {position} of {name!r} is done already")
        if row is None:
            return None
        store.check_trace(conn, item.trace_id)
        ident = store.insert_row(conn, item.trace_id, row, actor=actor, key_id=None)
        conn.execute(update(annotation_items).where(
            annotation_items.c.queue_id == queue.id,
            annotation_items.c.position == position).values(feedback_id=ident))
        return ident

    ident = workspace.store.write(write)
    return None if ident is None else store.get(workspace, ident)
