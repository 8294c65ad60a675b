"""Gateway tables: routes from public model names to targets, and request traces."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from llmops.store.tables.core import ID, metadata

gateway_routes = Table(
    "gateway_routes",
    metadata,
    Column("name", String(64), primary_key=True),  # the public model name clients send
    Column("targets", Text, nullable=False),  # JSON: [{model|upstream, weight, ...}]
    Column("options", Text, nullable=False),  # JSON: max_tokens cap, timeout, ...
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(128), nullable=False),
)

gateway_route_history = Table(
    "gateway_route_history",
    metadata,
    Column("name", String(64), nullable=False),
    Column("revision", Integer, nullable=False),  # 1, 2, ... per route name
    Column("targets", Text, nullable=False),
    Column("options", Text, nullable=False),
    Column("restores", Integer, nullable=True),  # the revision a rollback brought back
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    PrimaryKeyConstraint("name", "revision"),
)

traces = Table(
    "traces",
    metadata,
    Column("id", ID, primary_key=True),
    Column("route", String(64), nullable=True),
    Column("target", Text, nullable=True),  # model:NAME@V or upstream URL#MODEL
    Column("model_version_id", ID, nullable=True),
    Column("prompt_version_id", ID, nullable=True),
    Column("key_id", ID, nullable=True),
    Column("status", Integer, nullable=False),  # HTTP status returned
    Column("error", Text, nullable=True),
    Column("input", Text, nullable=False),  # JSON: the messages (or prompt)
    Column("output", Text, nullable=True),
    Column("prompt_tokens", Integer, nullable=True),
    Column("completion_tokens", Integer, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),  # time to first token (streaming)
    Column("stream", Integer, nullable=False),
    Column("guard", Text, nullable=True),  # JSON: injection score, redactions, blocked
    Column("created_at", BigInteger, nullable=False),
    # 0008: the registered model name that answered, and the W3C/OTel ids that nest the
    # trace with application spans of the same request (see store/tables/spans.py)
    Column("model", String(128), nullable=True),
    Column("otel_trace_id", String(32), nullable=True),
    Column("otel_span_id", String(16), nullable=True),
    Column("otel_parent_span_id", String(16), nullable=True),
    Index("ix_traces_created_at", "created_at"),
    Index("ix_traces_route_created_at", "route", "created_at"),
    Index("ix_traces_model_created_at", "model", "created_at"),
    Index("ix_traces_otel_trace_id", "otel_trace_id"),
)
