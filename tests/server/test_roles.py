"""Every route checks a role: walk every route with every role, and with bad keys."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute

from llmops.auth.keys import create_key, revoke_key
from llmops.auth.roles import GRANTS, Permission, Role
from llmops.server import create_app
from llmops.workspace import Workspace
from tests.helpers import auth

PUBLIC = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def route_permission(route: APIRoute) -> Permission | None:
    found = [d.call.llmops_permission for d in route.dependant.dependencies  # type: ignore[union-attr]
             if hasattr(d.call, "llmops_permission")]
    assert len(found) <= 1, route.path
    return found[0] if found else None


def all_routes(routes: list[Any]) -> list[APIRoute]:
    """APIRoutes, also inside included routers (FastAPI wraps those since 0.16x)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(all_routes(route.original_router.routes))
    return found


def api_routes() -> list[tuple[str, str, Permission]]:
    out = []
    for route in all_routes(create_app().routes):
        if route.path not in PUBLIC:
            permission = route_permission(route)
            assert permission is not None, f"{route.path} declares no permission"
            for method in route.methods:
                out.append((method, route.path, permission))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", path)


def test_every_api_route_declares_exactly_one_permission() -> None:
    routes = api_routes()
    assert len(routes) >= 15
    assert all(path.startswith(("/api/v1/", "/v1/")) or path == "/metrics"
               for _, path, _ in routes)
    assert all(p == Permission.INFERENCE for _, path, p in routes if path.startswith("/v1/"))


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_route_with_every_role(client: Any, keys: dict[str, str], role: str) -> None:
    for method, path, permission in api_routes():
        response = client.request(method, concrete(path), headers=auth(keys[role]), json={})
        if permission in GRANTS[Role(role)]:
            assert response.status_code not in (401, 403), (method, path, role)
        else:
            assert response.status_code == 403, (method, path, role, response.text)
            assert response.headers["content-type"] == "application/problem+json"


BAD_HEADERS = [
    {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
    {"Authorization": "Bearer not-a-key"},
    {"Authorization": "Bearer llmops_" + "A" * 43},
    {"Authorization": "Bearer ' OR '1'='1"},
    {"Authorization": "Bearer llmops_'; DROP TABLE api_keys; --"},
    {"Authorization": "Bearer \" OR 1=1 --"},
    {"Authorization": "Bearer llmops_" + "x' UNION SELECT key_hash FROM api_keys--"},
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_no_route_answers_without_a_valid_key(client: Any, headers: dict[str, str]) -> None:
    for method, path, _ in api_routes():
        started = time.perf_counter()
        response = client.request(method, concrete(path), headers=headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["status"] == 401
        assert time.perf_counter() - started < 2  # no sleep, no lock: refused at once


def test_expired_and_revoked_keys_get_401(client: Any, workspace: Workspace) -> None:
    expired, _ = create_key(workspace.store, name="soon", role="admin", actor="t",
                            expires_in_s=1)
    revoked, record = create_key(workspace.store, name="gone", role="admin", actor="t")
    revoke_key(workspace.store, record.id, actor="t")
    time.sleep(1.1)
    for key, word in ((expired, "expired"), (revoked, "revoked")):
        response = client.get("/api/v1/runs", headers=auth(key))
        assert response.status_code == 401 and word in response.json()["detail"]


def test_a_revoke_through_the_api_takes_effect_at_once(client: Any, keys: dict[str, str]) -> None:
    created = client.post("/api/v1/keys", headers=auth(keys["admin"]),
                          json={"name": "short-lived", "role": "viewer"}).json()
    assert client.get("/api/v1/runs", headers=auth(created["key"])).status_code == 200
    client.delete(f"/api/v1/keys/{created['id']}", headers=auth(keys["admin"]))
    assert client.get("/api/v1/runs", headers=auth(created["key"])).status_code == 401


def test_health_is_public(client: Any) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
