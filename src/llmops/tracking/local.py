"""Tracking against the metadata store directly (the embedded default, and the server)."""

from __future__ import annotations

import math
import os
import socket
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, insert, select, update

from llmops.artifacts import ArtifactRef, TreeEntry, check_relpath
from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.ids import new_id
from llmops.refs import check_name
from llmops.store import upsert_insert
from llmops.store.tables import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    runs,
    tags,
)
from llmops.tracking import lineage
from llmops.tracking.models import (
    Experiment,
    LineageGraph,
    MetricHistory,
    MetricPoint,
    MetricValue,
    Run,
    RunArtifact,
    RunStatus,
    check_key,
)
from llmops.workspace import Workspace

MAX_PARAM_LENGTH = 65_536

# Metric points go straight to the driver (SQLAlchemy's per-statement work would cost more
# than SQLite's own commit). The insert checks in the same statement that the run is still
# running; replayed points (same key, step, timestamp, value) are ignored. Both statements
# are plain SQL that SQLite and PostgreSQL read alike; the tables are in store/tables.py.
_POINTS_SQL = (
    "INSERT INTO metrics (run_id, key, step, timestamp, value) SELECT ?, ?, ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM runs WHERE id = ? AND status = 'running') "
    "ON CONFLICT DO NOTHING"
)
_LATEST_SQL = (
    "INSERT INTO latest_metrics (run_id, key, step, timestamp, value) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, "
    "timestamp = excluded.timestamp, value = excluded.value "
    "WHERE (excluded.step, excluded.timestamp) > (latest_metrics.step, latest_metrics.timestamp)"
)
HOST = socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalTracking:
    """Experiments, runs, params, metrics, tags, artifacts and lineage in the store."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.actor = actor or audit.local_actor()
        self.heartbeat_interval_s = workspace.settings.heartbeat_interval_s
        self.store = workspace.store
        self.artifacts = workspace.artifacts
        # The metric write is the hot path: two statements on the driver connection (see
        # _POINTS_SQL), with the driver's placeholder style.
        style = "%s" if self.store.dialect == "postgresql" else "?"
        self._points_sql = _POINTS_SQL.replace("?", style)
        self._latest_sql = _LATEST_SQL.replace("?", style)

    # -- experiments --------------------------------------------------------------------
    def get_or_create_experiment(self, name: str, description: str | None = None) -> Experiment:
        check_name(name, what="experiment name")
        with self.store.read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            self.store.write(lambda conn: conn.execute(
                upsert_insert(conn, experiments).on_conflict_do_nothing(),
                {"id": new_id(), "name": name, "description": description,
                 "created_at": now_ms()},
            ))
            with self.store.read() as conn:
                row = conn.execute(select(experiments).where(experiments.c.name == name)).one()
        return Experiment(**row._mapping)

    def list_experiments(self) -> list[Experiment]:
        with self.store.read() as conn:
            rows = conn.execute(select(experiments).order_by(experiments.c.name)).all()
        return [Experiment(**r._mapping) for r in rows]

    # -- runs ---------------------------------------------------------------------------
    def create_run(self, *, experiment: str = "default", name: str | None = None,
                   parent_id: str | None = None, tags_: dict[str, Any] | None = None,
                   host: str | None = HOST, pid: int | None = None) -> Run:
        exp = self.get_or_create_experiment(experiment)
        run_id = new_id()
        name = name or f"run-{run_id[-8:].lower()}"
        if not 0 < len(name) <= 128 or not name.isprintable():
            raise InvalidInput(f"invalid run name {name!r}: use 1-128 printable characters",
                               errors=[{"field": "name", "message": "1-128 printable characters"}])
        now = now_ms()

        def write(conn: Connection) -> None:
            if parent_id is not None:
                self._status(conn, parent_id)
            conn.execute(insert(runs), {
                "id": run_id, "experiment_id": exp.id, "name": name,
                "status": RunStatus.RUNNING, "parent_id": parent_id, "created_by": self.actor,
                "started_at": now, "heartbeat_at": now, "host": host, "pid": pid,
            })
            if tags_:
                conn.execute(insert(tags), [{"run_id": run_id, "key": check_key(k, "tag"),
                                             "value": str(v)} for k, v in tags_.items()])
            if parent_id is not None:
                lineage.add_edge(conn, f"run:{parent_id}", f"run:{run_id}", "parent")
            audit.record(conn, self.actor, "run.create", "run", run_id, {"experiment": experiment})

        self.store.write(write)
        return self.get_run(run_id)

    def _status(self, conn: Connection, run_id: str) -> RunStatus:
        status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
        if status is None:
            raise NotFound(f"no run {run_id!r}; `llmops runs list` shows runs")
        return RunStatus(status)

    def _require_running(self, conn: Connection, run_id: str) -> None:
        status = self._status(conn, run_id)
        if status != RunStatus.RUNNING:
            raise Conflict(f"run {run_id} is {status.value}: a run takes no more data once it ends")

    def get_run(self, run_id: str) -> Run:
        self.reap_dead_runs()
        with self.store.read() as conn:
            found = self._load_runs(conn, [runs.c.id == run_id], limit=1, with_artifacts=True)
        if not found:
            raise NotFound(f"no run {run_id!r}; `llmops runs list` shows runs")
        return found[0]

    def list_runs(self, *, experiment: str | None = None, status: str | None = None,
                  parent_id: str | None = None, limit: int = 100) -> list[Run]:
        self.reap_dead_runs()
        where = []
        if experiment:
            where.append(experiments.c.name == experiment)
        if status:
            where.append(runs.c.status == RunStatus(status))
        if parent_id:
            where.append(runs.c.parent_id == parent_id)
        with self.store.read() as conn:
            return self._load_runs(conn, where, limit=limit, with_artifacts=False)

    def _load_runs(self, conn: Connection, where: list[Any], *, limit: int,
                   with_artifacts: bool) -> list[Run]:
        query = (
            select(runs, experiments.c.name.label("experiment"))
            .join(experiments, runs.c.experiment_id == experiments.c.id)
            .where(*where)
            .order_by(runs.c.started_at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        rows = conn.execute(query).mappings().all()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        extra: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"params": {}, "tags": {}, "metrics": {}, "artifacts": []}
        )
        for table, field in ((params, "params"), (tags, "tags")):
            for r in conn.execute(select(table).where(table.c.run_id.in_(ids))):
                extra[r.run_id][field][r.key] = r.value
        for r in conn.execute(select(latest_metrics).where(latest_metrics.c.run_id.in_(ids))):
            value = math.nan if r.value is None else r.value
            extra[r.run_id]["metrics"][r.key] = MetricValue(
                step=r.step, value=value, timestamp=r.timestamp)
        if with_artifacts:
            query = select(run_artifacts).where(run_artifacts.c.run_id.in_(ids)).order_by(
                run_artifacts.c.name)
            for art in conn.execute(query).mappings():
                extra[art["run_id"]]["artifacts"].append(RunArtifact(**art))
        return [
            Run(**{k: v for k, v in r.items() if k != "experiment_id"}, **extra[r["id"]])
            for r in rows
        ]

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, *,
                error: str | None = None) -> Run:
        """End a running run. Ending it again with the same status changes nothing."""
        status = RunStatus(status)
        if status == RunStatus.RUNNING:
            raise InvalidInput("a run can only end as finished, failed or interrupted",
                               errors=[{"field": "status", "message": "not an end state"}])

        def write(conn: Connection) -> None:
            current = self._status(conn, run_id)
            if current == status:
                return
            if current != RunStatus.RUNNING:
                raise Conflict(f"run {run_id} already ended as {current.value}")
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, ended_at=now_ms(), error=error))
            audit.record(conn, self.actor, "run.end", "run", run_id, {"status": status.value})

        self.store.write(write)
        return self.get_run(run_id)

    def heartbeat(self, run_id: str) -> None:
        def write(conn: Connection) -> None:
            self._require_running(conn, run_id)
            conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=now_ms()))

        self.store.write(write)

    def reap_dead_runs(self, timeout_s: float | None = None) -> list[str]:
        """Mark interrupted the running runs whose process is gone.

        A run on this host whose process no longer exists is dead at once; any other
        run is dead when its heartbeat is older than `timeout_s`.
        """
        timeout_ms = int((timeout_s or self.workspace.settings.heartbeat_timeout_s) * 1000)
        now = now_ms()
        with self.store.read() as conn:
            running = conn.execute(
                select(runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat_at)
                .where(runs.c.status == RunStatus.RUNNING)
            ).all()
        dead = [
            r.id for r in running
            if now - r.heartbeat_at > timeout_ms
            or (r.host == HOST and r.pid is not None and not _pid_alive(r.pid))
        ]
        if not dead:
            return []

        def write(conn: Connection) -> None:
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(dead), runs.c.status == RunStatus.RUNNING)
                .values(status=RunStatus.INTERRUPTED, ended_at=runs.c.heartbeat_at,
                        error="the run's process stopped without ending the run")
            )
            for run_id in dead:
                audit.record(conn, "llmops", "run.interrupt", "run", run_id)

        self.store.write(write)
        return dead

    # -- params, tags, metrics ----------------------------------------------------------
    def log_params(self, run_id: str, values: dict[str, Any]) -> None:
        """Params are write-once: the same value again is fine, a different one conflicts."""
        clean = {check_key(k, "param"): str(v) for k, v in values.items()}
        for k, v in clean.items():
            if len(v) > MAX_PARAM_LENGTH:
                raise InvalidInput(f"param {k!r} is longer than {MAX_PARAM_LENGTH} characters",
                                   errors=[{"field": f"params.{k}", "message": "too long"}])

        def write(conn: Connection) -> None:
            self._require_running(conn, run_id)
            existing = dict(conn.execute(
                select(params.c.key, params.c.value)
                .where(params.c.run_id == run_id, params.c.key.in_(list(clean)))
            ).all())
            for k, v in clean.items():
                if k in existing and existing[k] != v:
                    raise Conflict(
                        f"param {k!r} of run {run_id} is already {existing[k]!r}; params "
                        f"cannot change (got {v!r}): log it as a metric or tag instead")
            new = [{"run_id": run_id, "key": k, "value": v}
                   for k, v in clean.items() if k not in existing]
            if new:
                conn.execute(insert(params), new)

        if clean:
            self.store.write(write)

    def set_tags(self, run_id: str, values: dict[str, Any]) -> None:
        clean = {check_key(k, "tag"): str(v) for k, v in values.items()}
        def write(conn: Connection) -> None:
            self._require_running(conn, run_id)
            ins = upsert_insert(conn, tags)
            stmt = ins.on_conflict_do_update(index_elements=[tags.c.run_id, tags.c.key],
                                             set_={"value": ins.excluded.value})
            conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v}
                                for k, v in clean.items()])

        if clean:
            self.store.write(write)

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Store points in one transaction. Replaying the same points changes nothing."""
        if not points:
            return
        rows = [(run_id, p.key, p.step, p.timestamp,
                 None if p.value != p.value else p.value, run_id)  # NaN is stored as NULL
                for p in points]
        latest: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            best = latest.get(row[1])
            if best is None or (row[2], row[3]) > (best[2], best[3]):
                latest[row[1]] = row[:5]

        def write(conn: Connection) -> None:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                if len(rows) == 1:
                    cursor.execute(self._points_sql, rows[0])
                else:
                    cursor.executemany(self._points_sql, rows)
                if cursor.rowcount != len(rows):  # not running, or a replay: find out which
                    self._require_running(conn, run_id)
                cursor.executemany(self._latest_sql, list(latest.values()))
            finally:
                cursor.close()

        self.store.write(write)

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        with self.store.read() as conn:
            self._status(conn, run_id)
            rows = conn.execute(
                select(metrics.c.step, metrics.c.value, metrics.c.timestamp)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp)
            ).all()
        if not rows:
            raise NotFound(f"run {run_id} has no metric {key!r}")
        steps, values, stamps = (list(col) for col in zip(*rows, strict=True))
        values = [math.nan if v is None else v for v in values]
        return MetricHistory.model_construct(
            run_id=run_id, key=key, steps=steps, values=values, timestamps=stamps)

    # -- artifacts ----------------------------------------------------------------------
    def log_artifact(self, run_id: str, name: str, ref: ArtifactRef) -> RunArtifact:
        """Record an already stored artifact under `name` in the run."""
        check_relpath(name, what="artifact name")
        if not self.artifacts.exists(ref.digest):
            raise NotFound(f"artifact {ref.digest} is not stored; upload it first")
        record = RunArtifact(name=name, kind=ref.kind, digest=ref.digest, size=ref.size,
                             created_at=now_ms())

        def write(conn: Connection) -> RunArtifact:
            self._require_running(conn, run_id)
            found = conn.execute(select(run_artifacts).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.name == name)).mappings().first()
            if found is not None:
                if found["digest"] != ref.digest:
                    raise Conflict(f"run {run_id} already has a different artifact {name!r}")
                return RunArtifact(**{k: v for k, v in found.items() if k != "run_id"})
            conn.execute(insert(run_artifacts), {"run_id": run_id, **record.model_dump()})
            lineage.add_edge(conn, f"run:{run_id}", f"artifact:{ref.digest[7:]}", "produced")
            audit.record(conn, self.actor, "artifact.log", "run", run_id, {"name": name})
            return record

        return self.store.write(write)

    def upload_artifact(self, run_id: str, path: str | os.PathLike[str], *,
                        name: str | None = None) -> RunArtifact:
        """Store a file or folder and record it in the run (folder = one artifact)."""
        path = Path(path)
        name = name or path.resolve().name
        check_relpath(name, what="artifact name")
        with self.store.read() as conn:
            self._require_running(conn, run_id)
        return self.log_artifact(run_id, name, self.artifacts.put(path))

    def get_artifact(self, run_id: str, name: str) -> RunArtifact:
        check_relpath(name, what="artifact name")
        with self.store.read() as conn:
            self._status(conn, run_id)
            row = conn.execute(select(run_artifacts).where(
                run_artifacts.c.run_id == run_id, run_artifacts.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"run {run_id} has no artifact {name!r}")
        return RunArtifact(**{k: v for k, v in row.items() if k != "run_id"})

    def artifact_files(self, run_id: str, name: str) -> list[TreeEntry]:
        art = self.get_artifact(run_id, name)
        if art.kind == "file":
            return [TreeEntry(name.rsplit("/", 1)[-1], art.digest, art.size)]
        return self.artifacts.read_tree(art.digest)

    def open_artifact_file(self, run_id: str, name: str, path: str | None = None
                           ) -> tuple[TreeEntry, BinaryIO]:
        """Open an artifact, or with `path` one file inside a tree artifact."""
        art = self.get_artifact(run_id, name)
        if art.kind == "file":
            if path is not None:
                raise NotFound(f"artifact {name!r} is a single file, not a folder")
            return TreeEntry(name, art.digest, art.size), self.artifacts.open(art.digest)
        if path is None:
            raise InvalidInput(f"artifact {name!r} is a folder: name a file inside it")
        check_relpath(path)
        for entry in self.artifacts.read_tree(art.digest):
            if entry.path == path:
                return entry, self.artifacts.open(entry.digest)
        raise NotFound(f"artifact {name!r} of run {run_id} has no file {path!r}")

    def download_artifact(self, run_id: str, name: str, dest: str | os.PathLike[str]) -> Path:
        return self.artifacts.get_to(self.get_artifact(run_id, name).digest, dest)

    # -- lineage ------------------------------------------------------------------------
    def add_lineage(self, source: str, target: str, relation: str) -> None:
        def write(conn: Connection) -> None:
            lineage.add_edge(conn, source, target, relation)
            audit.record(conn, self.actor, "lineage.add", "lineage", f"{source}->{target}",
                         {"relation": relation})

        self.store.write(write)

    def lineage(self, node: str, *, depth: int = 10) -> LineageGraph:
        with self.store.read() as conn:
            return lineage.walk(conn, node, depth=depth)

