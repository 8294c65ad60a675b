"""Adding and listing feedback: validation, trace scoping, idempotency, lineage, audit."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, select

from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import NotFound, ValidationFailed
from llmops.feedback.models import Feedback, Preference
from llmops.ids import new_id
from llmops.store import upsert_insert
from llmops.store.tables import feedback, traces
from llmops.tracking import lineage
from llmops.workspace import Workspace

MAX_TEXT = 100_000  # characters of a comment or correction
MAX_LABELS = 32
MAX_LIST = 1000
THUMBS = {"up": 1, "down": -1, "+1": 1, "-1": -1, 1: 1, -1: -1}


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {message}", errors=[{"field": field, "message": message}])


def check_trace(conn: Connection, trace_id: str, *, only_key: str | None = None) -> Any:
    """The trace row, or NotFound. With `only_key`, a trace made with another key is
    reported exactly like one that does not exist, so its existence does not leak."""
    row = None
    if isinstance(trace_id, str) and 0 < len(trace_id) <= 64:
        row = conn.execute(select(traces.c.id, traces.c.key_id).where(
            traces.c.id == trace_id)).first()
    if row is None or (only_key is not None and row.key_id != only_key):
        raise NotFound(f"no trace {trace_id!r}; `llmops traces list` shows them")
    return row


def clean_fields(*, source: str, score: Any = None, thumbs: Any = None, labels: Any = None,
           comment: Any = None, correction: Any = None, preference: Any = None,
           idempotency_key: Any = None, value: Any = None) -> dict[str, Any]:
    """The columns of a new feedback row, or ValidationFailed naming the field."""
    if source != "human" and not (isinstance(source, str) and source.startswith("auto:")
                                  and 5 < len(source) <= 128):
        raise _invalid("source", f"must be human or auto:NAME, not {source!r}")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise _invalid("score", f"must be an integer from 1 to 5, not {score!r}")
    if thumbs is not None:
        if isinstance(thumbs, bool) or thumbs not in THUMBS:
            raise _invalid("thumbs", f"must be up or down (+1 or -1), not {thumbs!r}")
        thumbs = THUMBS[thumbs]
    labels = list(labels or [])
    if len(labels) > MAX_LABELS or not all(
            isinstance(x, str) and 0 < len(x) <= 64 and x.isprintable() for x in labels):
        raise _invalid("labels", f"must be at most {MAX_LABELS} printable strings of "
                       "1-64 characters")
    for name, text in (("comment", comment), ("correction", correction)):
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            raise _invalid(name, f"must be a string of at most {MAX_TEXT:,} characters")
    if correction is not None and not correction.strip():
        raise _invalid("correction", "is empty")
    if preference is not None and not isinstance(preference, Preference):
        try:
            preference = Preference.model_validate(preference)
        except ValidationError as exc:
            raise _invalid("preference", "; ".join(e["msg"] for e in exc.errors())) from None
    if idempotency_key is not None and (not isinstance(idempotency_key, str)
                                        or not 0 < len(idempotency_key) <= 128):
        raise _invalid("idempotency_key", "must be a string of 1-128 characters")
    if all(v is None for v in (score, thumbs, comment, correction, preference, value)) \
            and not labels:
        raise ValidationFailed(
            "feedback needs at least one of score, thumbs, labels, comment, correction or "
            "preference", errors=[{"field": "score", "message": "nothing to record"}])
    return {"score": score, "thumbs": thumbs, "labels": json.dumps(labels) if labels else None,
            "comment": comment, "correction": correction,
            "preference": preference.model_dump_json() if preference else None,
            "source": source, "idempotency_key": idempotency_key, "value": value}


def insert_row(conn: Connection, trace_id: str, row: dict[str, Any], *, actor: str,
            key_id: str | None) -> str:
    """Insert a checked row (or find the first one with its idempotency key); its id.

    Human feedback is audited and linked (``trace --feedback--> feedback``); automatic
    scores, which can be many per trace and are never training data, are neither."""
    ident = new_id()
    inserted = conn.execute(
        upsert_insert(conn, feedback).on_conflict_do_nothing().returning(feedback.c.id),
        {**row, "id": ident, "trace_id": trace_id, "actor": actor, "key_id": key_id,
         "created_at": now_ms()}).first()
    if inserted is None:  # a retry: the first submission stands
        found = conn.execute(select(feedback.c.id).where(
            feedback.c.actor == actor,
            feedback.c.idempotency_key == row["idempotency_key"])).scalar()
        if found is None:
            raise ValidationFailed("feedback could not be stored; retry")
        return str(found)
    if row["source"] == "human":
        other = row["preference"] and json.loads(row["preference"]).get("other_trace_id")
        lineage.add_edge(conn, f"trace:{trace_id}", f"feedback:{ident}", "feedback")
        if other:
            lineage.add_edge(conn, f"trace:{other}", f"feedback:{ident}", "compared")
        audit.record(conn, actor, "feedback.add", "feedback", ident,
                     {"trace": trace_id, "source": row["source"]})
    return ident


def add(workspace: Workspace, trace_id: str, *, actor: str, key_id: str | None = None,
        only_key: str | None = None, source: str = "human", **fields: Any) -> Feedback:
    """Store one feedback row; see `llmops.feedback.add_feedback`."""
    row = clean_fields(source=source, **fields)
    other = row["preference"] and json.loads(row["preference"]).get("other_trace_id")

    def write(conn: Connection) -> str:
        check_trace(conn, trace_id, only_key=only_key)
        if other:
            check_trace(conn, other, only_key=only_key)
        return insert_row(conn, trace_id, row, actor=actor, key_id=key_id)

    ident = workspace.store.write(write)
    return get(workspace, ident)


def add_many(workspace: Workspace, items: list[tuple[str, dict[str, Any]]], *,
             actor: str) -> int:
    """Store many rows (``(trace id, fields with source)``) in one transaction, skipping
    traces that do not exist; the number stored or found stored already. For automatic
    sources: every row is validated first, so one bad row stores nothing."""
    rows = [(trace_id, clean_fields(**fields)) for trace_id, fields in items]
    wanted = {trace_id for trace_id, _ in rows}

    def write(conn: Connection) -> int:
        known = set(conn.execute(select(traces.c.id).where(traces.c.id.in_(wanted)))
                    .scalars())
        for trace_id, row in rows:
            if trace_id in known:
                insert_row(conn, trace_id, row, actor=actor, key_id=None)
        return sum(trace_id in known for trace_id, _ in rows)

    return workspace.store.write(write) if rows else 0


def get(workspace: Workspace, feedback_id: str) -> Feedback:
    with workspace.store.read() as conn:
        row = conn.execute(select(feedback).where(feedback.c.id == feedback_id)).first()
    if row is None:
        raise NotFound(f"no feedback {feedback_id!r}")
    return Feedback.from_row(row)


def list_(workspace: Workspace, *, trace_id: str | None = None, source: str | None = None,
          since_ms: int | None = None, key_id: str | None = None,
          limit: int = 100) -> list[Feedback]:
    """Newest first."""
    if not 1 <= limit <= MAX_LIST:
        raise _invalid("limit", f"must be from 1 to {MAX_LIST}")
    query = select(feedback).order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
    if trace_id is not None:
        query = query.where(feedback.c.trace_id == trace_id)
    if source is not None:
        query = query.where(feedback.c.source == source)
    if since_ms is not None:
        query = query.where(feedback.c.created_at >= since_ms)
    if key_id is not None:
        query = query.where(feedback.c.key_id == key_id)
    with workspace.store.read() as conn:
        return [Feedback.from_row(r) for r in conn.execute(query.limit(limit))]
