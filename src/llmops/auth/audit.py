"""The append-only audit trail: who changed what, when. Written in the same transaction
as the change it describes, so a change without its audit event cannot exist."""

from __future__ import annotations

import getpass
import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select

from llmops.clock import now_ms
from llmops.store import Store
from llmops.store.tables import audit_events


class AuditEvent(BaseModel):
    id: int
    at: int
    actor: str
    action: str
    object_kind: str
    object_id: str
    detail: dict[str, Any] | None = None


def local_actor() -> str:
    """The actor recorded for changes made through the local CLI or Python API."""
    try:
        return f"local:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "local"


def record(conn: Connection, actor: str, action: str, object_kind: str, object_id: str,
           detail: dict[str, Any] | None = None) -> None:
    conn.execute(
        insert(audit_events),
        {
            "at": now_ms(),
            "actor": actor,
            "action": action,
            "object_kind": object_kind,
            "object_id": object_id,
            "detail": json.dumps(detail, sort_keys=True) if detail else None,
        },
    )


def list_events(store: Store, *, object_kind: str | None = None, object_id: str | None = None,
                limit: int = 100) -> list[AuditEvent]:
    query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    if object_kind:
        query = query.where(audit_events.c.object_kind == object_kind)
    if object_id:
        query = query.where(audit_events.c.object_id == object_id)
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        AuditEvent(**{**row, "detail": json.loads(row["detail"]) if row["detail"] else None})
        for row in rows
    ]
