"""Feedback tables: human and automatic judgements of traces, and annotation queues.

A feedback row carries any of: thumbs (+1/-1), a 1-5 score, labels, a comment, a
correction (the answer the trace should have given) or an A/B preference; `source` says
who judged (``human``, or ``auto:<metric>`` / ``auto:judge.<name>`` for online evaluation,
whose raw metric value is in `value`). ``(actor, idempotency_key)`` is unique, so a
retried submission is stored once.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from llmops.store.tables.core import ID, metadata

feedback = Table(
    "feedback",
    metadata,
    Column("id", ID, primary_key=True),
    Column("trace_id", String(64), nullable=False),
    Column("thumbs", Integer, nullable=True),  # +1 up, -1 down
    Column("score", Integer, nullable=True),  # 1-5
    Column("value", Float, nullable=True),  # automatic sources: the metric's raw value
    Column("labels", Text, nullable=True),  # JSON list of strings
    Column("comment", Text, nullable=True),
    Column("correction", Text, nullable=True),  # the answer it should have given
    Column("preference", Text, nullable=True),  # JSON: {chosen, other_output|other_trace_id}
    Column("source", String(128), nullable=False),  # human | auto:<metric|judge.NAME>
    Column("actor", String(128), nullable=False),
    Column("key_id", ID, nullable=True),
    Column("idempotency_key", String(128), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("actor", "idempotency_key", name="uq_feedback_actor_idempotency_key"),
    Index("ix_feedback_trace_id", "trace_id"),
    Index("ix_feedback_created_at", "created_at"),
)

annotation_queues = Table(
    "annotation_queues",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("where_expr", Text, nullable=True),  # the trace query that filled it
    Column("since_ms", BigInteger, nullable=True),
    Column("sample_size", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

annotation_items = Table(
    "annotation_items",
    metadata,
    Column("queue_id", ID, ForeignKey("annotation_queues.id", ondelete="CASCADE"),
           nullable=False),
    Column("position", Integer, nullable=False),  # 0, 1, ... in the order to annotate
    Column("trace_id", String(64), nullable=False),
    Column("done_by", String(128), nullable=True),
    Column("done_at", BigInteger, nullable=True),
    Column("feedback_id", ID, nullable=True),  # what the annotator gave (none: skipped)
    PrimaryKeyConstraint("queue_id", "position"),
    UniqueConstraint("queue_id", "trace_id", name="uq_annotation_items_queue_trace"),
)
