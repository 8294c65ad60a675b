"""Monitors and their alerts over HTTP: read with a read key, create with a write key.

Webhook URLs are shown without their path and query (where receivers put their secret
token), to every role: whoever needs the full URL has it from creating the monitor.
An on-alert action named over HTTP must be a pipeline file inside the server's
``LLMOPS_HOME/pipelines`` folder: a request cannot point the server at any other file.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from llmops.monitoring.models import Alert, Monitor, MonitorSpec
from llmops.monitoring.monitors import MonitorStore
from llmops.monitoring.webhooks import mask_url
from llmops.server.routes.common import workspace
from llmops.server.security import Reader, Writer

router = APIRouter(prefix="/api/v1", tags=["monitors"])


def _shown(monitor: Monitor) -> Monitor:
    if not monitor.alert:
        return monitor
    kind, _, url = monitor.alert.partition(":")
    return monitor.model_copy(update={"alert": f"{kind}:{mask_url(url)}"})


def _shown_alert(alert: Alert) -> Alert:
    if not alert.target:
        return alert
    masked = mask_url(alert.target)
    error = alert.last_error.replace(alert.target, masked) if alert.last_error else None
    return alert.model_copy(update={"target": masked, "last_error": error})


@router.get("/monitors", response_model=list[Monitor])
def get_monitors(request: Request, who: Reader) -> list[Monitor]:
    return [_shown(m) for m in MonitorStore(workspace(request), actor=who.actor).list()]


@router.post("/monitors", response_model=Monitor, status_code=201)
def post_monitor(body: MonitorSpec, request: Request, who: Writer) -> Monitor:
    ws = workspace(request)
    return _shown(MonitorStore(ws, actor=who.actor).create(
        body, action_root=ws.settings.home_path / "pipelines"))


@router.get("/alerts", response_model=list[Alert])
def get_alerts(request: Request, who: Reader, monitor: str | None = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[Alert]:
    return [_shown_alert(a) for a in MonitorStore(workspace(request), actor=who.actor)
            .alerts(monitor=monitor, limit=limit)]
