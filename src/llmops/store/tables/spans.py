"""Application spans: OpenTelemetry spans received over OTLP/HTTP or written by
`@llmops.trace` / `llmops.span`, nested with gateway traces through their OTel ids.

A span is identified by (trace_id, span_id) as OpenTelemetry defines them, so a
re-sent export stores nothing twice. A gateway trace row carries ``otel_trace_id`` and
``otel_span_id`` (see tables/gateway.py): the spans of one request and its gateway call
share the trace id.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from llmops.store.tables.core import ID, metadata

spans = Table(
    "spans",
    metadata,
    Column("trace_id", String(32), primary_key=True),  # OTel trace id, 32 lowercase hex
    Column("span_id", String(16), primary_key=True),  # OTel span id, 16 lowercase hex
    Column("parent_span_id", String(16), nullable=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # internal, server, client, producer, ...
    Column("start_ns", BigInteger, nullable=False),  # epoch nanoseconds
    Column("end_ns", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),  # unset, ok, error
    Column("status_message", Text, nullable=True),
    Column("attributes", Text, nullable=False),  # JSON object, keys as sent
    Column("events", Text, nullable=False),  # JSON list of {name, time_ns, attributes}
    Column("links", Text, nullable=True),  # JSON list of {trace_id, span_id, attributes}
    Column("dropped_attributes", Integer, nullable=False),  # sent as dropped + over limit
    Column("service_name", String(256), nullable=True),  # resource service.name
    Column("resource", Text, nullable=True),  # JSON object: resource attributes
    Column("scope", String(256), nullable=True),  # instrumentation scope name
    # GenAI semantic conventions, lifted into columns for queries
    Column("operation", String(64), nullable=True),  # gen_ai.operation.name
    Column("model", String(256), nullable=True),  # gen_ai.request.model (or response)
    Column("input_tokens", Integer, nullable=True),  # gen_ai.usage.input_tokens
    Column("output_tokens", Integer, nullable=True),  # gen_ai.usage.output_tokens
    Column("gateway_trace_id", ID, nullable=True),  # traces.id, where known
    Column("key_id", ID, nullable=True),  # the API key that sent it (none: local SDK)
    Column("created_at", BigInteger, nullable=False),  # when it was stored, epoch ms
    Index("ix_spans_created_at", "created_at"),
    Index("ix_spans_gateway_trace_id", "gateway_trace_id"),
)
