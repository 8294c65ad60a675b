"""Gateway routes: a public model name -> weighted targets (registered model versions or
OpenAI-compatible upstreams), kept in the metadata store so every gateway process sees
the same routes. Upstream URLs and key variable names live on the server only."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import Connection, delete, func, insert, select

from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import InvalidInput, NotFound
from llmops.feedback.online import OnlineEval
from llmops.refs import check_name
from llmops.store import upsert_insert
from llmops.store.tables import gateway_route_history, gateway_routes
from llmops.workspace import Workspace


class Target(BaseModel):
    """Where a share of a route's traffic goes."""

    kind: Literal["model", "upstream"]
    model: str | None = None  # model:NAME@VERSION|ALIAS
    url: str | None = None  # an OpenAI-compatible base URL, e.g. http://vllm:8000/v1
    upstream_model: str | None = None
    api_key_env: str | None = None  # the server reads the key from this variable
    weight: Annotated[float, Field(gt=0)] = 100.0

    @model_validator(mode="after")
    def _complete(self) -> Target:
        if self.kind == "model" and not self.model:
            raise ValueError("a model target needs model (model:NAME@VERSION|ALIAS)")
        if self.kind == "upstream":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError("an upstream target needs an http(s) url")
            parts = urlsplit(self.url)
            if parts.username or parts.password or parts.query or parts.fragment:
                raise ValueError("an upstream url may not carry credentials, a query or a "
                                 "fragment (labels and traces show it): put the key in the "
                                 "variable named by api_key_env")
            if not self.upstream_model:
                raise ValueError("an upstream target needs upstream_model")
        return self

    @property
    def label(self) -> str:
        return self.model or f"{self.url}#{self.upstream_model}"


class RouteOptions(BaseModel):
    max_tokens: Annotated[int, Field(ge=1)] = 1024  # cap on max_tokens per request
    timeout_s: Annotated[float, Field(gt=0)] = 60.0  # per upstream attempt
    sticky: bool = True  # the same key always gets the same target
    redact_input: bool = False  # PII -> placeholders before the model sees the request
    redact_output: bool = False  # PII -> placeholders in answers (streams are buffered)
    injection: Literal["off", "log", "block"] = "log"  # prompt-injection heuristics
    online_eval: OnlineEval | None = None  # score a share of answers off the request path


class Route(BaseModel):
    name: str
    targets: list[Target] = Field(min_length=1)
    options: RouteOptions = RouteOptions()
    updated_at: int = 0
    updated_by: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, what="route name")


def parse_target(text: str, *, weight: float | None = None) -> Target:
    """``model:NAME@SEL[=PCT%]`` as a model target."""
    ref, _, share = text.partition("=")
    if share:
        try:
            weight = float(share.rstrip("%"))
        except ValueError:
            raise InvalidInput(f"target {text!r}: the share after '=' must be a number, "
                               "e.g. model:travel@4=10%") from None
    if not ref.startswith("model:"):
        ref = f"model:{ref}"
    return Target(kind="model", model=ref, weight=weight or 100.0)


class RouteRevision(BaseModel):
    """One deployment of a route: what it served from `created_at` on."""

    name: str
    revision: int
    targets: list[Target]
    options: RouteOptions
    restores: int | None = None  # set when a rollback brought an earlier revision back
    created_at: int
    created_by: str


class RouteStore:
    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.store = workspace.store
        self.actor = actor or audit.local_actor()

    def put(self, route: Route) -> Route:
        """Create or replace a route; each change is a new revision in its history."""
        self.store.write(lambda conn: self._put(conn, route, restores=None))
        return self.get(route.name)

    def _put(self, conn: Connection, route: Route, *, restores: int | None) -> None:
        now = now_ms()
        targets = json.dumps([t.model_dump() for t in route.targets])
        options = route.options.model_dump_json()
        row: dict[str, Any] = {"name": route.name, "targets": targets, "options": options,
                               "created_at": now, "updated_at": now, "updated_by": self.actor}
        upsert = upsert_insert(conn, gateway_routes)
        conn.execute(upsert.on_conflict_do_update(index_elements=["name"], set_={
            k: row[k] for k in ("targets", "options", "updated_at", "updated_by")}), row)
        last = conn.execute(select(func.max(gateway_route_history.c.revision)).where(
            gateway_route_history.c.name == route.name)).scalar() or 0
        conn.execute(insert(gateway_route_history).values(
            name=route.name, revision=last + 1, targets=targets, options=options,
            restores=restores, created_at=now, created_by=self.actor))
        audit.record(conn, self.actor, "route.rollback" if restores else "route.put",
                     "deployment", route.name, {"targets": [t.label for t in route.targets],
                                                "revision": last + 1, "restores": restores})

    def history(self, name: str) -> list[RouteRevision]:
        """Every revision of a route, newest first."""
        with self.store.read() as conn:
            return self._history(conn, name)

    @staticmethod
    def _history(conn: Connection, name: str) -> list[RouteRevision]:
        rows = conn.execute(select(gateway_route_history).where(
            gateway_route_history.c.name == name).order_by(
            gateway_route_history.c.revision.desc())).all()
        if not rows:
            raise NotFound(f"no route {name!r} has ever been deployed")
        return [RouteRevision(name=r.name, revision=r.revision, targets=json.loads(r.targets),
                              options=RouteOptions.model_validate_json(r.options),
                              restores=r.restores, created_at=r.created_at,
                              created_by=r.created_by) for r in rows]

    def rollback(self, name: str, *, to: int | None = None) -> Route:
        """Serve an earlier revision again (default: the one before what is served now).

        Rolling back twice goes two steps back, as the current revision remembers which
        revision it restored."""
        self.get(name)  # a removed route is not rolled back: deploy it anew

        def write(conn: Connection) -> None:
            history = {r.revision: r for r in self._history(conn, name)}
            current = history[max(history)]
            serving = current.restores or current.revision
            target = to if to is not None else serving - 1
            if target not in history or target == serving:
                raise InvalidInput(
                    f"route {name!r} serves revision {serving}; " + (
                        f"revision {target} does not exist" if target >= 1 and
                        target != serving else "there is no earlier revision to roll back to")
                    + " (`llmops routes history NAME` lists them)")
            earlier = history[target]
            self._put(conn, Route(name=name, targets=earlier.targets, options=earlier.options),
                      restores=earlier.restores or earlier.revision)

        self.store.write(write)
        return self.get(name)

    @staticmethod
    def _route(row: Any) -> Route:
        return Route(name=row.name, targets=json.loads(row.targets),
                     options=RouteOptions.model_validate_json(row.options),
                     updated_at=row.updated_at, updated_by=row.updated_by)

    def get(self, name: str) -> Route:
        with self.store.read() as conn:
            row = conn.execute(select(gateway_routes).where(
                gateway_routes.c.name == name)).first()
        if row is None:
            raise NotFound(f"no route {name!r}; `llmops routes list` shows them")
        return self._route(row)

    def list(self) -> list[Route]:
        with self.store.read() as conn:
            return [self._route(r) for r in conn.execute(
                select(gateway_routes).order_by(gateway_routes.c.name))]

    def remove(self, name: str) -> None:
        def write(conn: Connection) -> None:
            if conn.execute(delete(gateway_routes).where(
                    gateway_routes.c.name == name)).rowcount == 0:
                raise NotFound(f"no route {name!r}")
            audit.record(conn, self.actor, "route.remove", "deployment", name)

        self.store.write(write)
