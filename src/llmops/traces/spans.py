"""OpenTelemetry spans in: decode an OTLP ExportTraceServiceRequest (protobuf or the
OTLP JSON mapping), turn each span into a ``spans`` row, and write them.

The field's own definitions do the parsing: ``opentelemetry-proto`` messages, and
``google.protobuf.json_format`` for JSON after the one place OTLP JSON differs from
proto3 JSON (trace and span ids are hex, not base64). Anything that does not parse is
`InvalidInput` and nothing of that request is stored.

Limits (per span): at most `MAX_ATTRIBUTES` attributes and `MAX_EVENTS` events are kept;
the rest are dropped and counted (``dropped_attributes``, as OpenTelemetry's own SDK does
with its span limits), and the response's ``partial_success.error_message`` says so.
Attribute keys are kept as plain strings (``__proto__`` is just a key); nested values
deeper than `MAX_DEPTH` become their JSON text.

GenAI semantic conventions are lifted into columns: ``gen_ai.operation.name`` ->
operation, ``gen_ai.request.model`` (else ``gen_ai.response.model``) -> model,
``gen_ai.usage.input_tokens`` / ``output_tokens`` (or the older ``prompt_tokens`` /
``completion_tokens``) -> input_tokens / output_tokens. A span attribute
``llmops.trace_id`` (the gateway's ``x-llmops-trace-id``) links it to a gateway trace.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from llmops.clock import now_ms
from llmops.errors import InvalidInput
from llmops.store import Store, upsert_insert
from llmops.store.tables import spans

__all__ = ["MAX_ATTRIBUTES", "MAX_EVENTS", "Decoded", "decode_otlp", "encode_response",
           "write_spans"]

MAX_ATTRIBUTES = 256
MAX_EVENTS = 256
MAX_DEPTH = 8
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer",
          5: "consumer"}
_STATUS = {0: "unset", 1: "ok", 2: "error"}
_ID_FIELDS = {"traceId": 32, "trace_id": 32, "spanId": 16, "span_id": 16,
              "parentSpanId": 16, "parent_span_id": 16}


@dataclass
class Decoded:
    """Rows ready for the ``spans`` table, and what was cut to fit the limits."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated_spans: int = 0
    messages: list[str] = field(default_factory=list)


def _hex_to_b64(value: Any, where: str, size: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"invalid OTLP JSON: {where} must be a hex string")
    if value == "":
        return ""
    if len(value) != size or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise InvalidInput(f"invalid OTLP JSON: {where} must be {size} hex digits, "
                           f"got {value[:40]!r}")
    return base64.b64encode(bytes.fromhex(value)).decode()


def _ids_to_base64(obj: Any, where: str) -> None:
    """OTLP JSON writes ids as hex; proto3 JSON (json_format) wants base64. Convert in
    place, only in spans and span links, where the ids live."""
    for rs_i, rs in enumerate(_list(obj, "resourceSpans", "resource_spans")):
        for ss_i, ss in enumerate(_list(rs, "scopeSpans", "scope_spans")):
            for sp_i, span in enumerate(_list(ss, "spans")):
                if not isinstance(span, dict):
                    continue
                at = f"{where}[{rs_i}].scopeSpans[{ss_i}].spans[{sp_i}]"
                for key, size in _ID_FIELDS.items():
                    if key in span:
                        span[key] = _hex_to_b64(span[key], f"{at}.{key}", size)
                for li, link in enumerate(_list(span, "links")):
                    if isinstance(link, dict):
                        for key, size in _ID_FIELDS.items():
                            if key in link:
                                link[key] = _hex_to_b64(link[key], f"{at}.links[{li}].{key}",
                                                        size)


def _list(obj: Any, *names: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for name in names:
        value = obj.get(name)
        if isinstance(value, list):
            return value
    return []


def _parse(body: bytes, content_type: str) -> Any:
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    if content_type == "application/x-protobuf":
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise InvalidInput(f"invalid OTLP protobuf: not an ExportTraceServiceRequest "
                               f"({exc})") from None
        return request
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"invalid OTLP JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("invalid OTLP JSON: the body must be an object with resourceSpans")
    _ids_to_base64(data, "resourceSpans")
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise InvalidInput(f"invalid OTLP JSON: {exc}") from None
    return request


def _value(v: Any, depth: int = 0) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if depth >= MAX_DEPTH:
        from google.protobuf import json_format

        return json_format.MessageToJson(v, indent=None)
    if kind == "array_value":
        return [_value(x, depth + 1) for x in v.array_value.values]
    return {kv.key: _value(kv.value, depth + 1) for kv in v.kvlist_value.values}


def _attributes(kvs: Any, limit: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    dropped = 0
    for kv in kvs:
        if len(out) >= limit and kv.key not in out:
            dropped += 1
            continue
        out[kv.key] = _value(kv.value)
    return out, dropped


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str(value: Any, size: int) -> str | None:
    return value[:size] if isinstance(value, str) and value else None


def _hex(raw: bytes, size: int, what: str) -> str:
    if len(raw) != size:
        raise InvalidInput(f"invalid OTLP span: {what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def decode_otlp(body: bytes, content_type: str, *, key_id: str | None = None) -> Decoded:
    """Parse an OTLP/HTTP trace export into ``spans`` rows.

    Args:
        body: the request body (already decompressed).
        content_type: ``application/x-protobuf`` or ``application/json``.
        key_id: the API key that sent it, stored with each span.

    Raises:
        InvalidInput: the body is not a valid ExportTraceServiceRequest, or a span has
            a missing or malformed trace or span id.
    """
    request = _parse(body, content_type)
    out = Decoded()
    created = now_ms()
    for resource_spans in request.resource_spans:
        resource, _ = _attributes(resource_spans.resource.attributes, MAX_ATTRIBUTES)
        service = _str(resource.get("service.name"), 256)
        resource_json = json.dumps(resource, ensure_ascii=False) if resource else None
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name[:256] or None
            for span in scope_spans.spans:
                out.rows.append(_row(span, out, service, resource_json, scope, key_id,
                                     created))
    return out


def _row(span: Any, out: Decoded, service: str | None, resource_json: str | None,
         scope: str | None, key_id: str | None, created: int) -> dict[str, Any]:
    trace_id = _hex(span.trace_id, 16, "traceId")
    span_id = _hex(span.span_id, 8, "spanId")
    if trace_id == "0" * 32 or span_id == "0" * 16:
        raise InvalidInput(f"invalid OTLP span {span.name!r}: all-zero trace or span id")
    parent = _hex(span.parent_span_id, 8, "parentSpanId") if span.parent_span_id else None
    attrs, dropped = _attributes(span.attributes, MAX_ATTRIBUTES)
    events = []
    for event in span.events[:MAX_EVENTS]:
        event_attrs, event_dropped = _attributes(event.attributes, MAX_ATTRIBUTES)
        dropped += event_dropped
        events.append({"name": event.name, "time_ns": event.time_unix_nano,
                       "attributes": event_attrs})
    links = [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex(),
              "attributes": _attributes(link.attributes, MAX_ATTRIBUTES)[0]}
             for link in span.links[:MAX_EVENTS]]
    if dropped or len(span.events) > MAX_EVENTS or len(span.links) > MAX_EVENTS:
        out.truncated_spans += 1
        if len(out.messages) < 5:
            out.messages.append(
                f"span {span_id} ({span.name[:80]!r}): kept {MAX_ATTRIBUTES} attributes and "
                f"{MAX_EVENTS} events at most; dropped {dropped} attributes and "
                f"{max(0, len(span.events) - MAX_EVENTS)} events")
    model = attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model")
    inp = attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
    outp = attrs.get("gen_ai.usage.output_tokens",
                     attrs.get("gen_ai.usage.completion_tokens"))
    gateway_trace = attrs.get("llmops.trace_id")
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
        "name": span.name, "kind": _KINDS.get(span.kind, "unspecified"),
        "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano,
        "status": _STATUS.get(span.status.code, "unset"),
        "status_message": span.status.message or None,
        "attributes": json.dumps(attrs, ensure_ascii=False),
        "events": json.dumps(events, ensure_ascii=False),
        "links": json.dumps(links, ensure_ascii=False) if links else None,
        "dropped_attributes": span.dropped_attributes_count + dropped,
        "service_name": service, "resource": resource_json, "scope": scope,
        "operation": _str(attrs.get("gen_ai.operation.name"), 64),
        "model": _str(model, 256), "input_tokens": _int(inp), "output_tokens": _int(outp),
        "gateway_trace_id": _str(gateway_trace, 26), "key_id": key_id,
        "created_at": created,
    }


def write_spans(store: Store, rows: list[dict[str, Any]]) -> None:
    """Insert rows in one transaction; a span already stored (same trace and span id,
    e.g. a retried export) is kept as it was."""
    if not rows:
        return
    unique = list({(r["trace_id"], r["span_id"]): r for r in rows}.values())

    def write(conn: Any) -> None:
        conn.execute(upsert_insert(conn, spans).on_conflict_do_nothing(), unique)

    store.write(write)


def encode_response(decoded: Decoded, content_type: str) -> bytes:
    """An ExportTraceServiceResponse in the request's encoding; partial_success carries
    the note about truncated spans (none were rejected)."""
    message = "; ".join(decoded.messages)
    if decoded.truncated_spans > len(decoded.messages):
        message += f" (and {decoded.truncated_spans - len(decoded.messages)} more spans)"
    if content_type == "application/x-protobuf":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        response = ExportTraceServiceResponse()
        if message:
            response.partial_success.error_message = message
        return bytes(response.SerializeToString())
    body: dict[str, Any] = {}
    if message:
        body["partialSuccess"] = {"rejectedSpans": "0", "errorMessage": message}
    return json.dumps(body).encode()
