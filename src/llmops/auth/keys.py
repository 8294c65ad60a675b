"""API keys: random, shown once, stored as a hash with a short visible prefix.

A key is ``llmops_`` followed by 32 random bytes in URL-safe base64. Only its sha256 is
stored: with 256 bits of entropy a fast hash is enough, and it lets the server find a key
with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Connection, insert, select, update

from llmops.auth import audit
from llmops.auth.roles import Role
from llmops.clock import now_ms
from llmops.errors import InvalidInput, NotFound, Unauthorized
from llmops.ids import new_id
from llmops.refs import check_name
from llmops.store import Store
from llmops.store.tables import api_keys, users

KEY_PREFIX = "llmops_"
_KEY_FORMAT = re.compile(r"llmops_[A-Za-z0-9_-]{43}")
VISIBLE_CHARS = 12


class ApiKey(BaseModel):
    """A stored key, without its secret."""

    id: str
    name: str
    prefix: str
    role: Role
    user_id: str | None = None
    created_by: str
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    rpm: int | None = None  # gateway requests per minute (None: unlimited)
    tpm: int | None = None  # gateway tokens per minute
    token_budget: int | None = None  # gateway tokens in all

    def state(self, at_ms: int | None = None) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and (at_ms or now_ms()) >= self.expires_at:
            return "expired"
        return "active"


class Principal(BaseModel):
    """Who is calling: the key that authenticated the request."""

    key_id: str
    name: str
    role: Role
    expires_at: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    token_budget: int | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.name}:{self.key_id}"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ensure_user(conn: Connection, name: str, role: Role) -> str:
    found = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if found:
        return str(found)
    user_id = new_id()
    conn.execute(insert(users), {"id": user_id, "name": name, "role": role, "created_at": now_ms()})
    return user_id


def create_key(store: Store, *, name: str, role: Role | str, actor: str,
               expires_in_s: int | None = None, user: str | None = None,
               rpm: int | None = None, tpm: int | None = None,
               token_budget: int | None = None) -> tuple[str, ApiKey]:
    """Create a key; returns the secret (shown once, never stored) and its record."""
    check_name(name, what="key name")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"unknown role {role!r}: use one of " + ", ".join(r.value for r in Role),
            errors=[{"field": "role", "message": "unknown role"}],
        ) from None
    if expires_in_s is not None and expires_in_s <= 0:
        raise InvalidInput("expiry must be in the future", errors=[{"field": "expires"}])
    for field, limit in (("rpm", rpm), ("tpm", tpm), ("token_budget", token_budget)):
        if limit is not None and limit <= 0:
            raise InvalidInput(f"{field} must be a positive number (leave it out for no "
                               "limit)", errors=[{"field": field}])
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    now = now_ms()
    record = ApiKey(
        id=new_id(),
        name=name,
        prefix=secret[:VISIBLE_CHARS],
        role=role,
        created_by=actor,
        created_at=now,
        expires_at=now + expires_in_s * 1000 if expires_in_s else None,
        rpm=rpm, tpm=tpm, token_budget=token_budget,
    )

    def write(conn: Connection) -> None:
        user_id = _ensure_user(conn, check_name(user, what="user name"), role) if user else None
        conn.execute(
            insert(api_keys),
            {**record.model_dump(), "user_id": user_id, "key_hash": hash_key(secret)},
        )
        record.user_id = user_id
        audit.record(conn, actor, "key.create", "key", record.id, {"name": name, "role": role})

    store.write(write)
    return secret, record


def verify_key(store: Store, secret: str | None) -> Principal:
    """Authenticate a presented key.

    Raises:
        Unauthorized: missing, malformed, unknown, expired or revoked; the message says which.
    """
    if not secret:
        raise Unauthorized("missing API key: send 'Authorization: Bearer llmops_...'")
    if not _KEY_FORMAT.fullmatch(secret):
        raise Unauthorized("malformed API key: llmops keys look like 'llmops_' and 43 characters")
    with store.read() as conn:
        row = conn.execute(
            select(api_keys).where(api_keys.c.key_hash == hash_key(secret))
        ).mappings().first()
    if row is None:
        raise Unauthorized("unknown API key")
    key = ApiKey(**row)
    state = key.state()
    if state != "active":
        raise Unauthorized(f"API key {key.prefix}... is {state}")
    return Principal(key_id=key.id, name=key.name, role=key.role, expires_at=key.expires_at,
                     rpm=key.rpm, tpm=key.tpm, token_budget=key.token_budget)


def list_keys(store: Store) -> list[ApiKey]:
    with store.read() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).mappings().all()
    return [ApiKey(**row) for row in rows]


def get_key(store: Store, key_id: str) -> ApiKey:
    with store.read() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).mappings().first()
    if row is None:
        raise NotFound(f"no API key with id {key_id!r}; `llmops keys list` shows them")
    return ApiKey(**row)


def revoke_key(store: Store, key_id: str, *, actor: str) -> ApiKey:
    """Revoke a key at once. Revoking a revoked key changes nothing."""

    def write(conn: Connection) -> None:
        row = conn.execute(
            select(api_keys.c.revoked_at).where(api_keys.c.id == key_id)
        ).first()
        if row is None:
            raise NotFound(f"no API key with id {key_id!r}; `llmops keys list` shows them")
        if row.revoked_at is None:
            conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now_ms())
            )
            audit.record(conn, actor, "key.revoke", "key", key_id)

    store.write(write)
    return get_key(store, key_id)


def has_admin(store: Store) -> bool:
    """Whether any active admin key exists."""
    with store.read() as conn:
        rows = conn.execute(
            select(api_keys.c.expires_at).where(
                api_keys.c.role == Role.ADMIN, api_keys.c.revoked_at.is_(None)
            )
        ).all()
    now = now_ms()
    return any(r.expires_at is None or r.expires_at > now for r in rows)
