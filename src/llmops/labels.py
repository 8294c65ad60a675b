"""Labels: movable names for immutable versions, with history (prompt labels, model aliases).

A label belongs to an owner, ``(kind, owner_id)`` (a prompt, a registered model, ...),
and points at one version id. Every move is an event in `label_events`, so a label's
history can be listed and rolled back, like a git reflog.

The functions take a connection, so a service calls them inside its own write
transaction, next to its audit record, after locking the owner row. They know nothing
of prompts or models: the prompt registry and the model registry share them.

Rollback undoes the label's last move. Repeated rollbacks step further back through the
moves that were not themselves undone: after v1 -> v2 -> v3, rollback gives v2, again
v1, and then there is nothing left to roll back to. Moving a label by hand to the target
it had just before counts the same as a rollback.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Connection, delete, insert, select

from llmops.clock import now_ms
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.refs import check_name
from llmops.store import upsert_insert
from llmops.store.tables import label_events, labels

# `latest` always means the newest version; it cannot be pinned.
RESERVED_LABELS = frozenset({"latest"})


class Label(BaseModel):
    """Where a label points now."""

    kind: str
    owner_id: str
    label: str
    target_id: str
    updated_at: int
    updated_by: str


class LabelEvent(BaseModel):
    """One move of a label; `target_id` is None when the label was removed."""

    id: int
    kind: str
    owner_id: str
    label: str
    target_id: str | None
    previous_id: str | None
    at: int
    actor: str


def check_label(label: str) -> str:
    """Return `label` if it can be a label, else raise InvalidInput.

    Labels follow the name rule and cannot be a number (numbers select versions), start
    with ``sha256`` (hash prefixes select versions) or be ``latest``.
    """
    check_name(label, what="label")
    if label.isdigit() or label.startswith("sha256") or label in RESERVED_LABELS:
        raise InvalidInput(
            f"invalid label {label!r}: numbers, 'sha256...' and 'latest' select versions "
            "by themselves; pick a name such as production or staging",
            errors=[{"field": "label", "message": "reserved"}])
    return label


def get_target(conn: Connection, kind: str, owner_id: str, label: str) -> str | None:
    """The version id `label` points at, or None."""
    return conn.execute(select(labels.c.target_id).where(
        labels.c.kind == kind, labels.c.owner_id == owner_id, labels.c.label == label)
    ).scalar()


def list_labels(conn: Connection, kind: str, owner_ids: list[str] | None = None
                ) -> list[Label]:
    """The labels of some owners (all owners of `kind` when None), by owner then name."""
    query = select(labels).where(labels.c.kind == kind)
    if owner_ids is not None:
        query = query.where(labels.c.owner_id.in_(owner_ids))
    rows = conn.execute(query.order_by(labels.c.owner_id, labels.c.label)).mappings().all()
    return [Label(**row) for row in rows]


def history(conn: Connection, kind: str, owner_id: str, label: str | None = None, *,
            limit: int = 1000) -> list[LabelEvent]:
    """Moves of one label (or of every label of the owner), newest first."""
    query = select(label_events).where(label_events.c.kind == kind,
                                       label_events.c.owner_id == owner_id)
    if label is not None:
        query = query.where(label_events.c.label == label)
    rows = conn.execute(query.order_by(label_events.c.id.desc()).limit(limit)).mappings().all()
    return [LabelEvent(**row) for row in rows]


def _record(conn: Connection, kind: str, owner_id: str, label: str, target_id: str | None,
            previous_id: str | None, actor: str) -> LabelEvent:
    at = now_ms()
    event_id = conn.execute(insert(label_events).returning(label_events.c.id), {
        "kind": kind, "owner_id": owner_id, "label": label, "target_id": target_id,
        "previous_id": previous_id, "at": at, "actor": actor}).scalar_one()
    return LabelEvent(id=event_id, kind=kind, owner_id=owner_id, label=label,
                      target_id=target_id, previous_id=previous_id, at=at, actor=actor)


def set_label(conn: Connection, kind: str, owner_id: str, label: str, target_id: str, *,
              actor: str) -> LabelEvent | None:
    """Point `label` at `target_id`. Returns the event, or None if it already pointed there."""
    check_label(label)
    previous = get_target(conn, kind, owner_id, label)
    if previous == target_id:
        return None
    values = {"kind": kind, "owner_id": owner_id, "label": label, "target_id": target_id,
              "updated_at": now_ms(), "updated_by": actor}
    ins = upsert_insert(conn, labels)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[labels.c.kind, labels.c.owner_id, labels.c.label],
        set_={"target_id": ins.excluded.target_id, "updated_at": ins.excluded.updated_at,
              "updated_by": ins.excluded.updated_by}), values)
    return _record(conn, kind, owner_id, label, target_id, previous, actor)


def remove_label(conn: Connection, kind: str, owner_id: str, label: str, *,
                 actor: str) -> LabelEvent:
    """Remove `label`; its history stays.

    Raises:
        NotFound: the owner has no such label.
    """
    previous = get_target(conn, kind, owner_id, label)
    if previous is None:
        raise NotFound(f"no label {label!r}")
    conn.execute(delete(labels).where(labels.c.kind == kind, labels.c.owner_id == owner_id,
                                      labels.c.label == label))
    return _record(conn, kind, owner_id, label, None, previous, actor)


def rollback_target(conn: Connection, kind: str, owner_id: str, label: str) -> str:
    """The target a rollback of `label` would move it to (see the module docstring).

    Raises:
        NotFound: no such label.
        Conflict: the label has no earlier target.
    """
    current = get_target(conn, kind, owner_id, label)
    if current is None:
        raise NotFound(f"no label {label!r}")
    stack: list[str] = []
    for event in reversed(history(conn, kind, owner_id, label, limit=1_000_000)):
        if event.target_id is None:
            stack = []
        elif len(stack) >= 2 and stack[-2] == event.target_id:
            stack.pop()
        else:
            stack.append(event.target_id)
    if len(stack) < 2 or stack[-1] != current:
        raise Conflict(f"label {label!r} has no earlier target to roll back to")
    return stack[-2]


def rollback_label(conn: Connection, kind: str, owner_id: str, label: str, *,
                   actor: str) -> LabelEvent:
    """Move `label` back to its previous target and return the event."""
    target = rollback_target(conn, kind, owner_id, label)
    event = set_label(conn, kind, owner_id, label, target, actor=actor)
    assert event is not None  # the target differs from the current one by construction
    return event
