"""The one error hierarchy of llmops.

Services raise these; the HTTP layer turns them into RFC 9457 problem responses and the
CLI into a message and exit code 1. Nothing below the edges knows about either.

    LlmopsError                      500  something went wrong inside llmops
    ├── InvalidInput                 400  a value is wrong (names the field)
    │   ├── ValidationFailed         422  a request body does not match its schema
    │   └── UnsafePath               400  a path or name tries to leave its root
    ├── NotFound                     404  no such object (names the candidates)
    ├── Conflict                     409  the object is in a state that forbids this
    ├── Unauthorized                 401  no key, or a key that is malformed, expired or revoked
    ├── Forbidden                    403  the key's role may not do this
    ├── PayloadTooLarge              413  a body over the configured limit
    ├── RateLimited                  429  a key over its requests/tokens per minute or budget
    ├── IntegrityError               500  stored bytes do not match their hash
    ├── ServiceUnavailable           503  a dependency (database, store) does not answer
    └── ResourceExhausted            507  out of memory, or no disk left to store a result
"""

from __future__ import annotations

from typing import Any


class LlmopsError(Exception):
    """Base class: every error llmops raises on purpose derives from it."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    @property
    def slug(self) -> str:
        """A short kebab-case name used in problem `type` URIs."""
        name = type(self).__name__
        return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


class InvalidInput(LlmopsError):
    status = 400
    title = "Invalid input"


class ValidationFailed(InvalidInput):
    status = 422
    title = "Validation failed"


class UnsafePath(InvalidInput):
    status = 400
    title = "Unsafe path"


class NotFound(LlmopsError):
    status = 404
    title = "Not found"


class Conflict(LlmopsError):
    status = 409
    title = "Conflict"


class Unauthorized(LlmopsError):
    status = 401
    title = "Unauthorized"


class Forbidden(LlmopsError):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(LlmopsError):
    status = 413
    title = "Payload too large"


class IntegrityError(LlmopsError):
    status = 500
    title = "Integrity error"


class ServiceUnavailable(LlmopsError):
    status = 503
    title = "Service unavailable"


class ResourceExhausted(LlmopsError):
    status = 507
    title = "Resource exhausted"


class RateLimited(LlmopsError):
    """Over a limit; `retry_after_s` (when waiting helps) becomes a Retry-After header."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
