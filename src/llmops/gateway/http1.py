"""A lean pooled HTTP/1.1 client for the gateway's non-streaming upstream calls.

httpx costs hundreds of microseconds a request (its connection pool polls each idle
socket, anyio wraps every read and write); the gateway's whole budget for its own work is
less than that. This client keeps keep-alive connections to one upstream origin as
asyncio protocols, parses answers with httptools (llhttp, the parser uvicorn uses), and
does nothing else. `FastUpstreamEngine` uses it for `generate`; streaming, embeddings,
proxies from the environment and HTTP/2 stay with httpx (`UpstreamEngine`).
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import orjson

from llmops.gateway.engines import ChatRequest, Completion, UpstreamEngine, UpstreamError


class _TransportError(Exception):
    """The connection failed; `name` is the httpx-style error name shown to clients."""

    def __init__(self, name: str, *, sent: bool = True) -> None:
        super().__init__(name)
        self.name = name
        self.sent = sent  # False: nothing of the answer arrived (safe to retry elsewhere)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        import httptools

        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.received = False
        self.closed = False
        self.reusable = True
        self.headers_done = False  # of the answer being read
        self.framed = False  # it has a length or chunks (else its body ends at EOF)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except Exception:  # httptools.HttpParserError and its kin
            self._fail(_TransportError("RemoteProtocolError"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self.framed and exc is None:  # body ends at EOF
            self.reusable = False
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))
                return
        self._fail(_TransportError("ReadError" if self.received else "RemoteProtocolError",
                                   sent=self.received))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.headers_done = self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.reusable = bool(self.parser.should_keep_alive())
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    def _fail(self, exc: _TransportError) -> None:
        self.reusable = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, data: bytes, waiter: asyncio.Future[tuple[int, bytes]]) -> None:
        self.chunks = []
        self.received = False
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class Http1Pool:
    """Keep-alive connections to one origin (``http://host:port`` or https)."""

    def __init__(self, url: str, *, timeout_s: float, max_idle: int = 256) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (ssl.create_default_context()
                                           if parts.scheme == "https" else None)
        default = (parts.scheme == "https" and self.port == 443) or (
            parts.scheme == "http" and self.port == 80)
        self.authority = (parts.netloc.rsplit("@", 1)[-1] if not default
                          else self.host).encode("idna")
        self.timeout_s = timeout_s
        self.max_idle = max_idle
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                _Connection, self.host, self.port, ssl=self.ssl,
                server_hostname=self.host if self.ssl else None), self.timeout_s)
        except TimeoutError:
            raise _TransportError("ConnectTimeout", sent=False) from None
        except OSError:
            raise _TransportError("ConnectError", sent=False) from None
        return conn

    async def post(self, path: str, body: bytes, headers: bytes) -> tuple[int, bytes]:
        """(status, body) of a POST; `headers` are extra ``Name: value\\r\\n`` lines."""
        request = (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + self.authority
                   + b"\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n" + headers + b"\r\n" + body)
        loop = asyncio.get_running_loop()
        while self._idle:
            conn = self._idle.pop()
            if conn.closed or not conn.reusable:
                continue
            if conn.loop is not loop:  # opened by another event loop (tests' clients)
                conn.close()
                continue
            try:
                return await self._exchange(conn, request)
            except _TransportError as exc:
                if exc.sent:  # the upstream may have acted on it: do not send it twice
                    raise
                # a kept-alive connection the upstream had closed: try the next one
        return await self._exchange(await self._connect(), request)

    async def _exchange(self, conn: _Connection, request: bytes) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        timer = loop.call_later(self.timeout_s, _expire, waiter)
        try:
            conn.send(request, waiter)
            result = await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
            conn.waiter = None
        if conn.reusable and not conn.closed and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        return result

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_TransportError("ReadTimeout"))


def _uses_proxy(url: str) -> bool:
    """Whether httpx would send this URL through a proxy from the environment."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class FastUpstreamEngine(UpstreamEngine):
    """`UpstreamEngine` with `generate` on `Http1Pool`: the same request body, headers,
    errors and completion; stream and embed are inherited (httpx)."""

    def __init__(self, url: str, model: str, *, api_key_env: str | None = None,
                 timeout_s: float = 60.0) -> None:
        super().__init__(url, model, api_key_env=api_key_env, timeout_s=timeout_s)
        self._path = urlsplit(self.url).path or "/"
        if urlsplit(self.url).query:
            self._path += "?" + urlsplit(self.url).query
        self._header_lines = b"".join(f"{k}: {v}\r\n".encode("latin-1")
                                      for k, v in self._headers.items())
        self._pool: Http1Pool | None = None if _uses_proxy(self.url) else Http1Pool(
            self.url, timeout_s=timeout_s)

    async def generate(self, request: ChatRequest) -> Completion:
        if self._pool is None:
            return await super().generate(request)
        body = orjson.dumps(self._body(request, False))
        try:
            status, raw = await self._pool.post(self._path, body, self._header_lines)
        except _TransportError as exc:
            raise UpstreamError(f"upstream {self.label} did not answer: {exc.name}") from None
        if status != 200:
            raise UpstreamError(f"upstream {self.label} answered {status}")
        try:
            data = orjson.loads(raw)
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return Completion(choice["message"].get("content") or "",
                              usage.get("prompt_tokens"), usage.get("completion_tokens"),
                              choice.get("finish_reason") or "stop")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(f"upstream {self.label} answered 200 without a chat "
                                "completion") from None

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
        await super().aclose()
