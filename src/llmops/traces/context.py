"""W3C Trace Context: ``traceparent`` headers, OTel ids, and the ids a gateway trace gets.

A gateway request that carries ``traceparent: 00-<trace id>-<span id>-<flags>`` becomes
a child of that span: its trace row stores the caller's trace id, the caller's span id
as parent, and a fresh span id of its own. A request without one starts a new trace.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import Any

__all__ = ["gateway_trace_fields", "incoming_traceparent", "new_span_id", "new_trace_id",
           "parse_traceparent", "format_traceparent"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")

#: The (trace id, parent span id) of the request being answered, set by the HTTP layer.
incoming_traceparent: ContextVar[tuple[str, str] | None] = ContextVar(
    "llmops_incoming_traceparent", default=None)


def new_trace_id() -> str:
    """A random 128-bit OTel trace id, 32 lowercase hex digits (never all zeros)."""
    while True:
        value = secrets.token_hex(16)
        if value != "0" * 32:
            return value


def new_span_id() -> str:
    """A random 64-bit OTel span id, 16 lowercase hex digits (never all zeros)."""
    while True:
        value = secrets.token_hex(8)
        if value != "0" * 16:
            return value


def parse_traceparent(header: str | None) -> tuple[str, str] | None:
    """(trace id, span id) from a W3C ``traceparent`` value, or None when absent or
    invalid (the spec says to ignore an invalid header, not to fail the request)."""
    if not header:
        return None
    m = _TRACEPARENT.match(header.strip().lower())
    if m is None:
        return None
    version, trace_id, span_id, _flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def format_traceparent(trace_id: str, span_id: str, *, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def _model_name(label: str | None) -> str | None:
    """The registered model name of an engine label (``model:NAME@V``), or the upstream
    model of ``URL#MODEL``."""
    if not label:
        return None
    if label.startswith("model:"):
        return label[len("model:"):].split("@", 1)[0] or None
    if "#" in label:
        return label.rsplit("#", 1)[1] or None
    return None


def gateway_trace_fields(engine_label: str | None) -> dict[str, Any]:
    """The model and OTel columns of a gateway trace row being written now."""
    parent = incoming_traceparent.get()
    return {
        "model": _model_name(engine_label),
        "otel_trace_id": parent[0] if parent else new_trace_id(),
        "otel_span_id": new_span_id(),
        "otel_parent_span_id": parent[1] if parent else None,
    }
