"""The HTTP seam to a remote llmops server: the key, retries, and problems back to errors.

Every remote service (tracking, prompts, ...) talks through one `ApiClient`, so a
server's RFC 9457 problem comes back as the same `LlmopsError` class the server raised:
the problem's ``type`` names the class, and its status is the fallback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from llmops import errors
from llmops.config import Settings

RETRY_STATUS = frozenset({502, 503, 504})
_BY_STATUS: dict[int, type[errors.LlmopsError]] = {
    400: errors.InvalidInput, 401: errors.Unauthorized, 403: errors.Forbidden,
    404: errors.NotFound, 409: errors.Conflict, 413: errors.PayloadTooLarge,
    422: errors.ValidationFailed, 503: errors.ServiceUnavailable,
}


def _error_classes() -> dict[str, type[errors.LlmopsError]]:
    """Every LlmopsError subclass defined so far, by its problem slug."""
    found: dict[str, type[errors.LlmopsError]] = {}
    todo: list[type[errors.LlmopsError]] = [errors.LlmopsError]
    while todo:
        cls = todo.pop()
        found[_slug(cls)] = cls
        todo.extend(cls.__subclasses__())
    return found


def _slug(cls: type) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("-")


class ApiClient:
    """An httpx client for ``/api/v1`` with an API key.

    Calls marked idempotent (the default) are retried on connection errors and on
    502/503/504, with exponential backoff; others are sent once.
    """

    def __init__(self, client: httpx.Client, *, retries: int = 4) -> None:
        self.client = client
        self.retries = max(retries, 1)

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_s: float = 60.0,
                      retries: int = 4) -> ApiClient:
        if not settings.api_key:
            raise errors.InvalidInput(
                "LLMOPS_SERVER_URL is set but LLMOPS_API_KEY is not: create a key with "
                "`llmops keys create` on the server and export it")
        client = httpx.Client(
            base_url=str(settings.server_url).rstrip("/"),
            headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
            timeout=httpx.Timeout(timeout_s, connect=10.0))
        return cls(client, retries=retries)

    def call(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any
             ) -> httpx.Response:
        """Send a request; raise the server's error as an `LlmopsError`."""
        attempts = self.retries if idempotent else 1
        response: httpx.Response | None = None
        for attempt in range(attempts):
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 >= attempts:
                    raise errors.ServiceUnavailable(
                        f"cannot reach the llmops server at {self.client.base_url}: {exc}"
                    ) from exc
            else:
                if response.status_code not in RETRY_STATUS or attempt + 1 >= attempts:
                    break
            time.sleep(min(0.25 * 2**attempt, 4.0))
        assert response is not None
        if response.status_code >= 400:
            raise self.error(response)
        return response

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.call(method, url, **kwargs).json()

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response whose status has been checked."""
        with self.client.stream(method, url, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                raise self.error(response)
            yield response

    @staticmethod
    def error(response: httpx.Response) -> errors.LlmopsError:
        try:
            body = response.json()
            detail, found = body.get("detail", response.text), body.get("errors")
            slug = str(body.get("type", "")).rsplit("/", 1)[-1]
        except ValueError:
            detail, found, slug = response.text, None, ""
        cls = _error_classes().get(slug) or _BY_STATUS.get(response.status_code,
                                                            errors.LlmopsError)
        return cls(f"{detail} (HTTP {response.status_code})", errors=found)
