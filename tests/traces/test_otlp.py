"""OTLP/HTTP ingest at /v1/traces: the real OpenTelemetry exporter against a server on a
loopback port, the OTLP JSON mapping, roles, limits, and bad payloads storing nothing."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from sqlalchemy import select

from llmops.store.tables import spans
from llmops.traces.spans import MAX_ATTRIBUTES
from llmops.workspace import Workspace
from tests.helpers import auth, table_counts

TRACE = "5b8efff798038103d269b633813fc60c"
JSON_TYPE = {"Content-Type": "application/json"}
PROTO_TYPE = {"Content-Type": "application/x-protobuf"}


def _rows(workspace: Workspace) -> list[Any]:
    with workspace.store.read() as conn:
        return list(conn.execute(select(spans).order_by(spans.c.start_ns)).all())


def test_the_real_otel_exporter_delivers_nested_genai_spans(live_server: str,
                                                           workspace: Workspace,
                                                           keys: dict[str, str]) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(endpoint=f"{live_server}/v1/traces",
                                headers={"Authorization": f"Bearer {keys['inference']}"})
    provider = TracerProvider(resource=Resource.create({"service.name": "travel-app"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=64))
    tracer = provider.get_tracer("tests.traces")
    with tracer.start_as_current_span("agent") as root:
        for i in range(150):
            with tracer.start_as_current_span("chat support", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": "support",
                    "gen_ai.usage.input_tokens": 12 + i, "gen_ai.usage.output_tokens": 7,
                    "gen_ai.request.temperature": 0.2, "tags": ["a", "b"]}):
                pass
    assert provider.force_flush(30_000)
    provider.shutdown()
    rows = _rows(workspace)
    assert len(rows) == 151  # nothing lost
    trace_id = f"{root.get_span_context().trace_id:032x}"
    root_id = f"{root.get_span_context().span_id:016x}"
    assert {r.trace_id for r in rows} == {trace_id}
    [agent] = [r for r in rows if r.name == "agent"]
    assert agent.span_id == root_id and agent.parent_span_id is None
    children = [r for r in rows if r.name == "chat support"]
    assert {r.parent_span_id for r in children} == {root_id}
    first = min(children, key=lambda r: r.start_ns)
    assert (first.operation, first.model, first.input_tokens, first.output_tokens) == (
        "chat", "support", 12, 7)
    assert first.service_name == "travel-app" and first.scope == "tests.traces"
    assert first.kind == "internal" and first.status == "unset"
    attrs = json.loads(first.attributes)
    assert attrs["gen_ai.request.temperature"] == 0.2 and attrs["tags"] == ["a", "b"]
    assert first.key_id is not None


def _json_span(span_id: str = "eee19b7ec3c1b174", parent: str = "", *,
               attributes: list[dict[str, Any]] | None = None,
               trace_id: str = TRACE) -> dict[str, Any]:
    return {"traceId": trace_id, "spanId": span_id, "parentSpanId": parent,
            "name": "retrieve", "kind": 3, "startTimeUnixNano": "1790000000000000000",
            "endTimeUnixNano": "1790000000250000000",
            "attributes": attributes or [{"key": "gen_ai.request.model",
                                          "value": {"stringValue": "support"}}],
            "status": {"code": 2, "message": "boom"},
            "events": [{"name": "hit", "timeUnixNano": "1790000000100000000",
                        "attributes": [{"key": "n", "value": {"intValue": "3"}}]}]}


def _export(*span_list: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "rag"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(span_list)}]}]}


def test_otlp_json_is_stored_once_even_when_resent(client: Any, workspace: Workspace,
                                                   keys: dict[str, str]) -> None:
    body = _export(_json_span(), _json_span("aaaaaaaaaaaaaaaa", "eee19b7ec3c1b174"))
    for _ in range(2):  # an exporter retry
        response = client.post("/v1/traces", content=json.dumps(body),
                               headers={**auth(keys["maintainer"]), **JSON_TYPE})
        assert response.status_code == 200, response.text
        assert response.json() == {}
    rows = _rows(workspace)
    assert [(r.span_id, r.parent_span_id) for r in rows] == [
        ("eee19b7ec3c1b174", None), ("aaaaaaaaaaaaaaaa", "eee19b7ec3c1b174")]
    r = rows[0]
    assert (r.kind, r.status, r.status_message, r.model, r.service_name) == (
        "client", "error", "boom", "support", "rag")
    assert r.end_ns - r.start_ns == 250_000_000
    assert json.loads(r.events) == [{"name": "hit", "time_ns": 1790000000100000000,
                                     "attributes": {"n": 3}}]
    shown = client.get(f"/api/v1/traces/{TRACE}", headers=auth(keys["viewer"]))
    assert shown.status_code == 200
    [root] = shown.json()["tree"]
    assert [c["span_id"] for c in root["children"]] == ["aaaaaaaaaaaaaaaa"]


def test_proto_keys_are_plain_strings(client: Any, workspace: Workspace,
                                      keys: dict[str, str]) -> None:
    evil = [{"key": k, "value": {"stringValue": "x"}} for k in
            ("__proto__", "constructor", "prototype", "__class__", "a.b[0]")]
    evil.append({"key": "nested", "value": {"kvlistValue": {"values": [
        {"key": "__proto__", "value": {"kvlistValue": {"values": [
            {"key": "polluted", "value": {"boolValue": True}}]}}}]}}})
    response = client.post("/v1/traces", content=json.dumps(_export(_json_span(
        attributes=evil))), headers={**auth(keys["inference"]), **JSON_TYPE})
    assert response.status_code == 200, response.text
    shown = client.get(f"/api/v1/traces/{TRACE}", headers=auth(keys["viewer"])).json()
    attrs = shown["spans"][0]["attributes"]
    assert attrs == {"__proto__": "x", "constructor": "x", "prototype": "x",
                     "__class__": "x", "a.b[0]": "x",
                     "nested": {"__proto__": {"polluted": True}}}


def test_ten_thousand_attributes_are_cut_to_the_limit_and_counted(
        client: Any, workspace: Workspace, keys: dict[str, str]) -> None:
    many = [{"key": f"k{i}", "value": {"intValue": str(i)}} for i in range(10_000)]
    response = client.post("/v1/traces", content=json.dumps(_export(_json_span(
        attributes=many))), headers={**auth(keys["inference"]), **JSON_TYPE})
    assert response.status_code == 200, response.text
    assert response.json() == {"partialSuccess": {
        "rejectedSpans": "0",
        "errorMessage": "span eee19b7ec3c1b174 ('retrieve'): kept 256 attributes and 256 "
                        "events at most; dropped 9744 attributes and 0 events"}}
    [row] = _rows(workspace)
    attrs = json.loads(row.attributes)
    assert len(attrs) == MAX_ATTRIBUTES == 256 and attrs["k255"] == 255
    assert row.dropped_attributes == 10_000 - MAX_ATTRIBUTES


def _bad(client: Any, workspace: Workspace, body: bytes, headers: dict[str, str],
         status: int) -> dict[str, Any]:
    before = table_counts(workspace.store)
    response = client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert table_counts(workspace.store) == before
    return dict(response.json())


def test_bad_payloads_get_400_and_store_nothing(client: Any, workspace: Workspace,
                                               keys: dict[str, str]) -> None:
    key = auth(keys["inference"])
    problem = _bad(client, workspace, b"\x0a\xff\xff\xff\xff\x0f\x00",
                   {**key, **PROTO_TYPE}, 400)
    assert problem["detail"].startswith(
        "invalid OTLP protobuf: not an ExportTraceServiceRequest")
    problem = _bad(client, workspace, b"{not json", {**key, **JSON_TYPE}, 400)
    assert problem["detail"].startswith("invalid OTLP JSON: Expecting property name")
    problem = _bad(client, workspace, b"[1, 2]", {**key, **JSON_TYPE}, 400)
    assert problem["detail"] == ("invalid OTLP JSON: the body must be an object with "
                                 "resourceSpans")
    problem = _bad(client, workspace, json.dumps({"resourceSpans": "x"}).encode(),
                   {**key, **JSON_TYPE}, 400)
    assert problem["detail"].startswith("invalid OTLP JSON: Failed to parse resourceSpans")
    good, wrong = _json_span(), _json_span("zz", trace_id=TRACE)
    problem = _bad(client, workspace, json.dumps(_export(good, wrong)).encode(),
                   {**key, **JSON_TYPE}, 400)
    assert problem["detail"] == ("invalid OTLP JSON: resourceSpans[0].scopeSpans[0]."
                                 "spans[1].spanId must be 16 hex digits, got 'zz'")
    problem = _bad(client, workspace, json.dumps(_export(_json_span(
        "0000000000000000"))).encode(), {**key, **JSON_TYPE}, 400)
    assert problem["detail"] == ("invalid OTLP span 'retrieve': all-zero trace or span id")
    nospan = _json_span()
    del nospan["spanId"]
    problem = _bad(client, workspace, json.dumps(_export(nospan)).encode(),
                   {**key, **JSON_TYPE}, 400)
    assert problem["detail"] == "invalid OTLP span: spanId must be 8 bytes, got 0"
    problem = _bad(client, workspace, b"\x1f\x8b not gzip",
                   {**key, **JSON_TYPE, "Content-Encoding": "gzip"}, 400)
    assert problem["detail"] == "the body is not valid gzip (Content-Encoding: gzip)"
    whole = gzip.compress(json.dumps(_export(_json_span())).encode())
    for cut in (whole[:len(whole) // 2], whole + whole):  # truncated; a second member
        problem = _bad(client, workspace, cut, {**key, **JSON_TYPE,
                                                "Content-Encoding": "gzip"}, 400)
        assert problem["detail"] == ("the body is not one complete gzip stream "
                                     "(Content-Encoding: gzip)")
    problem = _bad(client, workspace, b"{}", {**key, "Content-Type": "text/plain"}, 415)
    assert "send application/x-protobuf or application/json" in problem["detail"]


def test_the_body_cap_applies_before_and_after_gzip(client: Any, workspace: Workspace,
                                                   keys: dict[str, str]) -> None:
    key = {**auth(keys["inference"]), **JSON_TYPE}
    big = json.dumps(_export(_json_span(attributes=[
        {"key": "blob", "value": {"stringValue": "x" * (1024 * 1024 + 10)}}]))).encode()
    problem = _bad(client, workspace, big, key, 413)
    assert problem["detail"] == "the body is over 1048576 bytes (LLMOPS_MAX_REQUEST_BYTES)"
    bomb = gzip.compress(big)
    assert len(bomb) < 1024 * 1024
    problem = _bad(client, workspace, bomb, {**key, "Content-Encoding": "gzip"}, 413)
    assert problem["detail"] == ("the decompressed body is over 1048576 bytes "
                                 "(LLMOPS_MAX_REQUEST_BYTES)")
    small = gzip.compress(json.dumps(_export(_json_span())).encode())
    response = client.post("/v1/traces", content=small,
                           headers={**key, "Content-Encoding": "gzip"})
    assert response.status_code == 200 and len(_rows(workspace)) == 1


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("viewer", 403)])
def test_writing_spans_needs_the_inference_permission(client: Any, workspace: Workspace,
                                                      keys: dict[str, str], role: str | None,
                                                      status: int) -> None:
    headers = {**JSON_TYPE, **(auth(keys[role]) if role else {})}
    _bad(client, workspace, json.dumps(_export(_json_span())).encode(), headers, status)
