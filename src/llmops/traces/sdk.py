"""Spans for application steps: ``@llmops.trace`` and ``with llmops.span(...)``.

    import llmops
    from openai import OpenAI

    @llmops.trace                          # a span named after the function
    def retrieve(query: str) -> list[str]: ...

    with llmops.span("answer", user=user_id) as span:
        docs = retrieve(question)
        span.set_attribute("docs", len(docs))
        client.chat.completions.create(     # the gateway trace nests under "answer"
            model="travel", messages=[...],
            extra_headers={"traceparent": llmops.traceparent()})

Spans nest by a context variable (threads and asyncio tasks each see their own current
span); when an OpenTelemetry span is active and no llmops span is, that span is the
parent, so these steps also nest under OTel instrumentation. Finished spans are batched
by one background thread and flushed at exit (`flush()` forces it): sent as OTLP JSON
to ``LLMOPS_SERVER_URL/v1/traces`` with ``LLMOPS_API_KEY`` when a server is configured,
or written to the local store otherwise, through the same decoding as the OTLP route.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, overload

from llmops.traces.context import format_traceparent, new_span_id, new_trace_id

__all__ = ["Span", "configure", "current_span", "flush", "span", "trace", "traceparent"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("llmops.traces")

_current: ContextVar[Span | None] = ContextVar("llmops_current_span", default=None)
_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


class Span:
    """A span being recorded; ends when its `with` block (or function) does."""

    def __init__(self, name: str, *, trace_id: str, parent_span_id: str | None,
                 kind: str = "internal", attributes: dict[str, Any] | None = None) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        self.name = name
        self.trace_id = trace_id
        self.span_id = new_span_id()
        self.parent_span_id = parent_span_id
        self.kind = kind
        self.attributes: dict[str, Any] = dict(attributes or {})
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.status = 0  # unset; 1 ok, 2 error
        self.status_message = ""

    @property
    def traceparent(self) -> str:
        """This span as a W3C ``traceparent`` header value."""
        return format_traceparent(self.trace_id, self.span_id)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[str(key)] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, **attributes: Any) -> None:
        self.events.append((name, time.time_ns(), attributes))

    def record_exception(self, exc: BaseException) -> None:
        self.status, self.status_message = 2, f"{type(exc).__name__}: {exc}"[:1000]
        self.add_event("exception", **{"exception.type": type(exc).__name__,
                                       "exception.message": str(exc)[:4000]})

    def end(self) -> None:
        if self.end_ns is None:
            self.end_ns = time.time_ns()
            _exporter().put(self)


def _otel_parent() -> tuple[str, str] | None:
    """The active OpenTelemetry span, if the application uses OTel too."""
    try:
        from opentelemetry import trace as otel
    except ImportError:
        return None
    ctx = otel.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def current_span() -> Span | None:
    """The innermost llmops span of this thread or task, or None."""
    return _current.get()


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` value, to pass to the gateway
    (``extra_headers={"traceparent": llmops.traceparent()}``); None outside any span."""
    current = _current.get()
    if current is not None:
        return current.traceparent
    parent = _otel_parent()
    return format_traceparent(*parent) if parent else None


@contextmanager
def span(name: str, *, kind: str = "internal", **attributes: Any) -> Iterator[Span]:
    """Record a span around a block, as a child of the current span.

    Args:
        name: what the step is (``retrieve``, ``tool:search``).
        kind: internal (default), server, client, producer or consumer.
        **attributes: span attributes (strings, numbers, booleans, lists of them; other
            values are stored as their ``str``).

    An exception leaving the block marks the span as an error, records it as an
    ``exception`` event, and propagates.
    """
    parent = _current.get()
    parent_id: str | None
    if parent is not None:
        trace_id, parent_id = parent.trace_id, parent.span_id
    else:
        otel = _otel_parent()
        trace_id, parent_id = otel if otel else (new_trace_id(), None)
    current = Span(name, trace_id=trace_id, parent_span_id=parent_id, kind=kind,
                   attributes=attributes)
    token = _current.set(current)
    try:
        yield current
    except BaseException as exc:
        current.record_exception(exc)
        raise
    finally:
        _current.reset(token)
        current.end()


@overload
def trace(fn: F) -> F: ...


@overload
def trace(fn: None = None, *, name: str | None = None, kind: str = "internal",
          **attributes: Any) -> Callable[[F], F]: ...


def trace(fn: F | None = None, *, name: str | None = None, kind: str = "internal",
          **attributes: Any) -> F | Callable[[F], F]:
    """Decorate a function (sync or async) so each call is a span.

    ``@llmops.trace`` names the span after the function; ``@llmops.trace(name="search",
    tool="web")`` sets the name and attributes.
    """

    def wrap(func: F) -> F:
        span_name = name or func.__qualname__
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with span(span_name, kind=kind, **attributes):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(span_name, kind=kind, **attributes):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return wrap(fn) if fn is not None else wrap


# -- export ---------------------------------------------------------------------------
def _any_value(value: Any, depth: int = 0) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list | tuple) and depth < 4:
        return {"arrayValue": {"values": [_any_value(v, depth + 1) for v in value]}}
    if isinstance(value, dict) and depth < 4:
        return {"kvlistValue": {"values": _key_values(value, depth + 1)}}
    return {"stringValue": str(value)}


def _key_values(attributes: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": _any_value(v, depth)} for k, v in attributes.items()]


def otlp_json(batch: list[Span], service_name: str) -> dict[str, Any]:
    """Finished spans as an OTLP JSON ExportTraceServiceRequest."""
    spans = [{
        "traceId": s.trace_id, "spanId": s.span_id, "parentSpanId": s.parent_span_id or "",
        "name": s.name, "kind": _KINDS[s.kind], "startTimeUnixNano": str(s.start_ns),
        "endTimeUnixNano": str(s.end_ns or s.start_ns),
        "attributes": _key_values(s.attributes),
        "events": [{"name": n, "timeUnixNano": str(t), "attributes": _key_values(a)}
                   for n, t, a in s.events],
        "status": {"code": s.status, "message": s.status_message},
    } for s in batch]
    return {"resourceSpans": [{
        "resource": {"attributes": _key_values({"service.name": service_name})},
        "scopeSpans": [{"scope": {"name": "llmops"}, "spans": spans}]}]}


class _Exporter:
    """One background thread: batches finished spans and sends (or writes) them."""

    def __init__(self, *, server_url: str | None, api_key: str | None,
                 service_name: str, batch: int = 512, interval_s: float = 1.0) -> None:
        self.server_url = server_url.rstrip("/") if server_url else None
        self.api_key = api_key
        self.service_name = service_name
        self.batch = batch
        self.interval_s = interval_s
        self.queue: queue.Queue[Span | threading.Event] = queue.Queue(maxsize=100_000)
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="llmops-span-exporter")
        self._thread.start()

    def put(self, item: Span) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self.failed += 1
            log.warning("llmops span queue full; span %r dropped", item.name)

    def flush(self, timeout: float = 30.0) -> bool:
        done = threading.Event()
        self.queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            pending: list[Span] = []
            marks: list[threading.Event] = []
            deadline = time.monotonic() + self.interval_s
            while len(pending) < self.batch:
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if isinstance(item, threading.Event):
                    marks.append(item)
                    break
                pending.append(item)
            if pending:
                self._send(pending)
            for mark in marks:
                mark.set()

    def _send(self, batch: list[Span]) -> None:
        import json

        body = json.dumps(otlp_json(batch, self.service_name)).encode()
        for attempt in range(4):
            try:
                if self.server_url:
                    self._post(body)
                else:
                    from llmops.traces.spans import decode_otlp, write_spans
                    from llmops.workspace import Workspace

                    decoded = decode_otlp(body, "application/json")
                    write_spans(Workspace.open().store, decoded.rows)
                self.sent += len(batch)
                return
            except Exception as exc:  # keep the thread alive; retry, then report
                if attempt == 3:
                    self.failed += len(batch)
                    log.warning("llmops could not store %d spans: %s", len(batch), exc)
                    return
                time.sleep(0.2 * 2**attempt)

    def _post(self, body: bytes) -> None:
        import httpx

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        response = httpx.post(f"{self.server_url}/v1/traces", content=body, headers=headers,
                              timeout=30.0)
        if response.status_code >= 400:
            raise RuntimeError(f"{self.server_url}/v1/traces answered "
                               f"{response.status_code}: {response.text[:300]}")


_lock = threading.Lock()
_instance: _Exporter | None = None


def configure(*, server_url: str | None = None, api_key: str | None = None,
              service_name: str | None = None) -> None:
    """Choose where spans go (default: LLMOPS_SERVER_URL and LLMOPS_API_KEY when set,
    else the local store). Spans still queued are flushed to the old place first."""
    global _instance
    with _lock:
        old, _instance = _instance, _Exporter(
            server_url=server_url, api_key=api_key,
            service_name=service_name or os.environ.get("OTEL_SERVICE_NAME", "app"))
    if old is not None:
        old.flush()


def _exporter() -> _Exporter:
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                from llmops.config import get_settings

                settings = get_settings()
                key = settings.api_key.get_secret_value() if settings.api_key else None
                _instance = _Exporter(server_url=settings.server_url, api_key=key,
                                      service_name=os.environ.get("OTEL_SERVICE_NAME", "app"))
    return _instance


def flush(timeout: float = 30.0) -> bool:
    """Send every finished span now; True when done within `timeout` seconds."""
    return _instance.flush(timeout) if _instance is not None else True


atexit.register(flush)
