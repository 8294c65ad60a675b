"""Trace records. The same models are Python return values, HTTP bodies and --json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="strings")


class Trace(_Record):
    """One request through the gateway."""

    id: str
    route: str | None = None
    model: str | None = None  # the registered model name (or an upstream's model)
    target: str | None = None  # model:NAME@V or URL#MODEL
    model_version_id: str | None = None
    prompt_version_id: str | None = None
    key_id: str | None = None
    status: int
    error: str | None = None
    input: Any  # the messages as sent (a list of {role, content})
    output: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float
    ttft_ms: float | None = None
    stream: bool
    guard: dict[str, Any] | None = None
    created_at: int
    otel_trace_id: str | None = None
    otel_span_id: str | None = None
    otel_parent_span_id: str | None = None


class TracePage(_Record):
    """A page of traces, newest first; pass `next_cursor` back for the next page."""

    items: list[Trace]
    next_cursor: str | None = None


class Span(_Record):
    """One OpenTelemetry span of an application (or the gateway call, in a tree)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    duration_ms: float
    status: str
    status_message: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)
    dropped_attributes: int = 0
    service_name: str | None = None
    resource: dict[str, Any] | None = None
    scope: str | None = None
    operation: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    gateway_trace_id: str | None = None  # set on the node that stands for a gateway call
    children: list[Span] = Field(default_factory=list)


class TraceDetail(_Record):
    """A gateway trace (when there is one) with every span of its OpenTelemetry trace,
    as a flat list and as a tree (roots first, children by start time)."""

    trace: Trace | None
    otel_trace_id: str | None
    spans: list[Span]
    tree: list[Span]
