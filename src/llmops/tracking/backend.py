"""Which tracking a process uses: the local store, or a remote llmops server."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from llmops.config import Settings, get_settings
from llmops.tracking.models import (
    Experiment,
    LineageGraph,
    MetricHistory,
    MetricPoint,
    Run,
    RunArtifact,
    RunStatus,
)


class Tracking(Protocol):
    """The tracking operations; `LocalTracking` and `RemoteTracking` both provide them."""

    heartbeat_interval_s: float

    def get_or_create_experiment(self, name: str, description: str | None = None
                                 ) -> Experiment: ...
    def list_experiments(self) -> list[Experiment]: ...
    def create_run(self, *, experiment: str = "default", name: str | None = None,
                   parent_id: str | None = None, tags_: dict[str, Any] | None = None,
                   pid: int | None = None) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def list_runs(self, *, experiment: str | None = None, status: str | None = None,
                  parent_id: str | None = None, limit: int = 100) -> list[Run]: ...
    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, *,
                error: str | None = None) -> Run: ...
    def heartbeat(self, run_id: str) -> None: ...
    def log_params(self, run_id: str, values: dict[str, Any]) -> None: ...
    def set_tags(self, run_id: str, values: dict[str, Any]) -> None: ...
    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None: ...
    def metric_history(self, run_id: str, key: str) -> MetricHistory: ...
    def upload_artifact(self, run_id: str, path: str | os.PathLike[str], *,
                        name: str | None = None) -> RunArtifact: ...
    def download_artifact(self, run_id: str, name: str, dest: str | os.PathLike[str]) -> Path: ...
    def add_lineage(self, source: str, target: str, relation: str) -> None: ...
    def lineage(self, node: str, *, depth: int = 10) -> LineageGraph: ...


def open_tracking(settings: Settings | None = None) -> Tracking:
    """Remote when ``LLMOPS_SERVER_URL`` is set, else the local workspace."""
    settings = settings or get_settings()
    if settings.server_url:
        from llmops.tracking.remote import RemoteTracking

        return RemoteTracking.from_settings(settings)
    from llmops.tracking.local import LocalTracking
    from llmops.workspace import Workspace

    return LocalTracking(Workspace.open(settings))
