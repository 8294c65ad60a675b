"""Movable pointers with history: prompt labels, model aliases, any ``name -> version``.

A label belongs to an owner (a prompt, a registered model, ...) identified by
``(kind, owner_id)`` and points at one version id. Every move is an event, so a label's
history can be listed and rolled back, like a git reflog.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from llmops.store.tables.core import ID, metadata

labels = Table(
    "labels",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("owner_id", ID, primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("target_id", ID, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

label_events = Table(
    "label_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("label", String(64), nullable=False),
    Column("target_id", ID, nullable=True),  # NULL: the label was removed
    Column("previous_id", ID, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Index("ix_label_events_owner", "kind", "owner_id", "label", "id"),
)
