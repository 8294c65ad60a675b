"""Authentication and role checks. Every route under /api/v1 declares one permission.

The hot path does no database round trip for a key seen in the last `key_cache_ttl_s`
seconds; a revoke through this server clears the cache at once.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import Depends, Request

from llmops.auth.keys import Principal, hash_key, verify_key
from llmops.auth.roles import Permission, allows
from llmops.errors import Forbidden
from llmops.workspace import Workspace


class KeyCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        cached_at, principal = entry
        now = time.monotonic()
        expired = principal.expires_at is not None and time.time() * 1000 >= principal.expires_at
        if now - cached_at > self.ttl_s or expired:
            with self._lock:
                self._entries.pop(key_hash, None)
            return None
        return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl_s > 0:
            with self._lock:
                self._entries[key_hash] = (time.monotonic(), principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token else None


def authenticate(request: Request) -> Principal:
    secret = bearer(request)
    cache: KeyCache = request.app.state.key_cache
    if secret:
        principal = cache.get(hash_key(secret))
        if principal is not None:
            return principal
    workspace: Workspace = request.app.state.workspace
    principal = verify_key(workspace.store, secret)
    cache.put(hash_key(secret or ""), principal)
    return principal


def check_permission(principal: Principal, permission: Permission) -> None:
    """Raise Forbidden unless the principal's role has `permission`."""
    if not allows(principal.role, permission):
        raise Forbidden(
            f"a {principal.role.value} key may not do this: it needs the "
            f"{permission.value} permission"
        )


def require(permission: Permission) -> Any:
    """A dependency that authenticates the caller and checks `permission`."""

    def check(request: Request) -> Principal:
        principal = authenticate(request)
        check_permission(principal, permission)
        request.state.principal = principal
        return principal

    check.llmops_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


# What a route declares as its caller, e.g. ``who: Reader``: authenticated, with that
# permission. Every route under /api/v1 takes exactly one of these.
Reader = Annotated[Principal, require(Permission.READ)]
Writer = Annotated[Principal, require(Permission.WRITE)]
Admin = Annotated[Principal, require(Permission.ADMIN)]
Caller = Annotated[Principal, require(Permission.INFERENCE)]  # the gateway's /v1 routes
