"""API keys and the audit trail over HTTP (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from llmops.auth import audit
from llmops.auth.keys import ApiKey, create_key, list_keys, revoke_key
from llmops.auth.roles import Role
from llmops.clock import parse_duration
from llmops.server.routes.common import workspace
from llmops.server.security import Admin

router = APIRouter(prefix="/api/v1", tags=["keys"])


class KeyIn(BaseModel):
    name: str
    role: Role
    expires: str | None = None  # a duration: "30d", "12h"
    user: str | None = None
    rpm: int | None = None  # gateway limits; None: unlimited
    tpm: int | None = None
    token_budget: int | None = None


class CreatedKey(ApiKey):
    key: str  # the secret, shown this once


@router.get("/keys", response_model=list[ApiKey])
def get_keys(request: Request, who: Admin) -> list[ApiKey]:
    return list_keys(workspace(request).store)


@router.post("/keys", response_model=CreatedKey, status_code=201)
def post_key(body: KeyIn, request: Request, who: Admin) -> CreatedKey:
    expires = parse_duration(body.expires) if body.expires else None
    secret, record = create_key(workspace(request).store, name=body.name, role=body.role,
                                actor=who.actor, expires_in_s=expires, user=body.user,
                                rpm=body.rpm, tpm=body.tpm, token_budget=body.token_budget)
    return CreatedKey(**record.model_dump(), key=secret)


@router.delete("/keys/{key_id}", response_model=ApiKey)
def delete_key(key_id: str, request: Request, who: Admin) -> ApiKey:
    record = revoke_key(workspace(request).store, key_id, actor=who.actor)
    request.app.state.key_cache.clear()
    return record


@router.get("/audit", response_model=list[audit.AuditEvent])
def get_audit(request: Request, who: Admin, object_kind: str | None = None,
              object_id: str | None = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[audit.AuditEvent]:
    return audit.list_events(workspace(request).store, object_kind=object_kind,
                             object_id=object_id, limit=limit)
