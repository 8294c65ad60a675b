"""The FastAPI application: `/healthz` (public) and `/api/v1` (keys and roles)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy import text

from llmops import __version__
from llmops.config import Settings, get_settings
from llmops.server import problems
from llmops.server.routes import (
    artifacts,
    datasets,
    evaluations,
    feedback,
    gateway,
    keys,
    monitors,
    otlp,
    prompts,
    runs,
    traces,
)
from llmops.server.security import KeyCache
from llmops.store.migrate import upgrade
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace


def create_app(settings: Settings | None = None, *, gateway_only: bool = False) -> FastAPI:
    """Build the app; the workspace opens (and migrates, under a lock) at startup.

    `gateway_only` serves the OpenAI-compatible routes, /metrics and /healthz alone: a
    gateway process that can face the internet without the management API."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workspace = Workspace.open(settings, migrate=False)
        upgrade(workspace.store)
        LocalTracking(workspace, actor="llmops").reap_dead_runs()
        app.state.workspace = workspace
        from llmops.gateway.service import Gateway

        app.state.gateway = Gateway(workspace)
        from llmops.monitoring.scheduler import MonitorScheduler

        app.state.monitors = MonitorScheduler(
            workspace, tick_s=0 if gateway_only else settings.monitor_tick_s)
        app.state.monitors.start()
        try:
            yield
        finally:
            await app.state.monitors.aclose()
            await app.state.gateway.aclose()  # drains the trace queue

    app = FastAPI(
        title="llmops",
        version=__version__,
        description="The llmops API. Every route under /api/v1 needs "
        "'Authorization: Bearer llmops_...'; errors are RFC 9457 problem+json.",
        lifespan=lifespan,
    )
    app.state.key_cache = KeyCache(settings.key_cache_ttl_s)
    problems.install(app)
    gateway.install(app)  # the fast path for non-streaming chat completions

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> dict[str, str]:
        """Liveness and database reachability; the only route without a key."""
        with request.app.state.workspace.store.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    modules = (gateway, otlp) if gateway_only else (
        runs, artifacts, keys, datasets, prompts, evaluations, gateway, feedback, otlp, traces,
        monitors)
    for module in modules:
        app.include_router(module.router)
    return app
