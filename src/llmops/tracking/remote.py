"""Tracking through a remote llmops server, with the same methods as `LocalTracking`."""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from llmops import errors
from llmops.api_client import ApiClient
from llmops.artifacts.base import sha256_file
from llmops.artifacts.paths import check_relpath, contained, folder_files
from llmops.config import Settings
from llmops.tracking.models import (
    Experiment,
    LineageGraph,
    MetricHistory,
    MetricPoint,
    Run,
    RunArtifact,
    RunStatus,
)


def _number(value: float) -> float | str:
    """JSON has no NaN or infinity: send them as the strings pydantic reads back."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


class RemoteTracking:
    """Talks to ``/api/v1`` of an llmops server through `ApiClient`.

    Idempotent calls (reads, metric batches, params, tags, heartbeats, blob uploads) are
    retried on connection errors and 502/503/504 with backoff; creating a run is not.
    """

    def __init__(self, client: httpx.Client | ApiClient, *, heartbeat_interval_s: float = 10.0,
                 retries: int = 4) -> None:
        self.api = client if isinstance(client, ApiClient) else ApiClient(client,
                                                                         retries=retries)
        self.heartbeat_interval_s = heartbeat_interval_s

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteTracking:
        return cls(ApiClient.from_settings(settings),
                   heartbeat_interval_s=settings.heartbeat_interval_s)

    # -- experiments and runs -----------------------------------------------------------
    def get_or_create_experiment(self, name: str, description: str | None = None) -> Experiment:
        body = {"name": name, "description": description}
        return Experiment(**self.api.json("POST", "/api/v1/experiments", json=body))

    def list_experiments(self) -> list[Experiment]:
        return [Experiment(**e) for e in self.api.json("GET", "/api/v1/experiments")]

    def create_run(self, *, experiment: str = "default", name: str | None = None,
                   parent_id: str | None = None, tags_: dict[str, Any] | None = None,
                   pid: int | None = None) -> Run:
        body = {"experiment": experiment, "name": name, "parent_id": parent_id,
                "tags": {k: str(v) for k, v in (tags_ or {}).items()},
                "host": socket.gethostname(), "pid": pid}
        return Run(**self.api.json("POST", "/api/v1/runs", json=body, idempotent=False))

    def get_run(self, run_id: str) -> Run:
        return Run(**self.api.json("GET", f"/api/v1/runs/{run_id}"))

    def list_runs(self, *, experiment: str | None = None, status: str | None = None,
                  parent_id: str | None = None, limit: int = 100) -> list[Run]:
        query = {k: v for k, v in {"experiment": experiment, "status": status,
                                   "parent_id": parent_id, "limit": limit}.items() if v}
        return [Run(**r) for r in self.api.json("GET", "/api/v1/runs", params=query)]

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, *,
                error: str | None = None) -> Run:
        body = {"status": str(RunStatus(status)), "error": error}
        return Run(**self.api.json("POST", f"/api/v1/runs/{run_id}/end", json=body))

    def heartbeat(self, run_id: str) -> None:
        self.api.call("POST", f"/api/v1/runs/{run_id}/heartbeat")

    # -- params, tags, metrics ----------------------------------------------------------
    def log_params(self, run_id: str, values: dict[str, Any]) -> None:
        body = {"params": {k: str(v) for k, v in values.items()}}
        self.api.call("POST", f"/api/v1/runs/{run_id}/params", json=body)

    def set_tags(self, run_id: str, values: dict[str, Any]) -> None:
        body = {"tags": {k: str(v) for k, v in values.items()}}
        self.api.call("POST", f"/api/v1/runs/{run_id}/tags", json=body)

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        body = {"metrics": [{"key": p.key, "value": _number(p.value), "step": p.step,
                             "timestamp": p.timestamp} for p in points]}
        self.api.call("POST", f"/api/v1/runs/{run_id}/metrics", json=body)

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        return MetricHistory(**self.api.json("GET", f"/api/v1/runs/{run_id}/metrics/{key}"))

    # -- artifacts ----------------------------------------------------------------------
    def upload_artifact(self, run_id: str, path: str | os.PathLike[str], *,
                        name: str | None = None) -> RunArtifact:
        """Upload only the blobs the server lacks, then record the artifact."""
        path = Path(path)
        name = name or path.resolve().name
        check_relpath(name, what="artifact name")
        if path.is_dir():
            files = folder_files(path)
            kind = "tree"
        elif path.is_file():
            files = [(path.name, path)]
            kind = "file"
        else:
            raise errors.NotFound(f"no file or folder at {path}")
        digests = {rel: sha256_file(local)[0] for rel, local in files}
        missing = set(self.api.json("POST", "/api/v1/blobs/missing",
                                 json={"digests": sorted(set(digests.values()))})["digests"])
        for rel, local in files:
            digest = digests[rel]
            if digest in missing:
                with open(local, "rb") as f:
                    self.api.call("PUT", f"/api/v1/blobs/{digest}", content=f)
                missing.discard(digest)
        if kind == "file":
            body: dict[str, Any] = {"name": name, "kind": "file", "digest": digests[path.name]}
        else:
            body = {"name": name, "kind": "tree",
                    "files": [{"path": rel, "digest": digests[rel]} for rel, _ in files]}
        return RunArtifact(**self.api.json("POST", f"/api/v1/runs/{run_id}/artifacts", json=body))

    def download_artifact(self, run_id: str, name: str, dest: str | os.PathLike[str]) -> Path:
        listing = self.api.json("GET", f"/api/v1/runs/{run_id}/artifacts/{name}")
        dest = Path(dest)
        if listing["artifact"]["kind"] == "file":
            self._download(f"/api/v1/runs/{run_id}/download/{name}", None, dest,
                           listing["artifact"]["digest"])
            return dest
        for entry in listing["files"]:
            self._download(f"/api/v1/runs/{run_id}/download/{name}", entry["path"],
                           contained(dest, entry["path"]), entry["digest"])
        return dest

    def _download(self, url: str, inner: str | None, target: Path, digest: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".llmops-tmp-{target.name}")
        h = hashlib.sha256()
        params = {"path": inner} if inner else None
        with self.api.stream("GET", url, params=params) as response, open(tmp, "wb") as out:
            for chunk in response.iter_bytes(1024 * 1024):
                h.update(chunk)
                out.write(chunk)
        if "sha256:" + h.hexdigest() != digest:
            tmp.unlink(missing_ok=True)
            raise errors.IntegrityError(f"downloaded {url} does not match {digest}")
        tmp.replace(target)

    # -- lineage ------------------------------------------------------------------------
    def add_lineage(self, source: str, target: str, relation: str) -> None:
        body = {"source": source, "target": target, "relation": relation}
        self.api.call("POST", "/api/v1/lineage", json=body)

    def lineage(self, node: str, *, depth: int = 10) -> LineageGraph:
        return LineageGraph(**self.api.json("GET", f"/api/v1/lineage/{node}",
                                         params={"depth": depth}))

