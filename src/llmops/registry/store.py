"""The model registry on the metadata store.

Versions are numbered per model from 1 and never change; the weights are one folder
artifact in the content-addressed artifact store. Aliases (``production``, ``staging``,
...) are labels of kind ``model`` with history (see `llmops.labels`). Registering records
lineage: the training run produced the version, and the base version is its parent.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from llmops import labels as label_store
from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import InvalidInput, NotFound
from llmops.ids import new_id
from llmops.refs import check_name, parse_ref
from llmops.registry.models import AliasChange, ModelFormat, ModelSummary, ModelVersion
from llmops.store import upsert_insert
from llmops.store.tables import model_versions, registered_models
from llmops.tracking import lineage
from llmops.workspace import Workspace

KIND = "model"
FORMATS = ("full", "lora")


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME@SELECTOR`` or ``model:NAME@SELECTOR`` -> (name, selector)."""
    ref = parse_ref(text, default_kind=KIND)
    if ref.kind != KIND or ref.split:
        raise InvalidInput(f"invalid model reference {text!r}: expected "
                           "[model:]NAME[@VERSION|ALIAS|latest]")
    return ref.name, ref.selector


class ModelRegistry:
    """Register, find and alias model versions in the workspace's store."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.store = workspace.store
        self.artifacts = workspace.artifacts
        self.actor = actor or audit.local_actor()

    # -- lookups ------------------------------------------------------------------------
    def _model(self, conn: Connection, name: str, *, lock: bool = False) -> RowMapping:
        check_name(name, what="model name")
        query = select(registered_models).where(registered_models.c.name == name)
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            names = list(conn.execute(select(registered_models.c.name)
                                      .order_by(registered_models.c.name)).scalars())
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFound(f"no registered model {name!r}{hint}" + (
                f" (models: {', '.join(names[:20])})" if names else
                " (there are no registered models yet; `llmops models build-base tiny-travel` "
                "makes the built-in one)"))
        return row

    def _version_row(self, conn: Connection, model: RowMapping, selector: str | None
                     ) -> RowMapping:
        v = model_versions
        query = select(v).where(v.c.model_id == model["id"])
        if selector is None or selector == "latest":
            row = conn.execute(query.order_by(v.c.version.desc()).limit(1)).mappings().first()
            what = "versions"
        elif selector.isdigit():
            row = conn.execute(query.where(v.c.version == int(selector))).mappings().first()
            what = f"version {selector}"
        else:
            target = label_store.get_target(conn, KIND, model["id"], check_name(
                selector, what="alias"))
            row = None if target is None else conn.execute(
                query.where(v.c.id == target)).mappings().first()
            what = f"alias {selector!r}"
        if row is None:
            last = conn.execute(select(func.max(v.c.version)).where(
                v.c.model_id == model["id"])).scalar() or 0
            aliases = [a.label for a in label_store.list_labels(conn, KIND, [model["id"]])]
            raise NotFound(f"model {model['name']!r} has no {what}; it has versions 1-{last}"
                           + (f" and aliases {', '.join(aliases)}" if aliases else ""))
        return row

    def _aliases(self, conn: Connection, model_id: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for label in label_store.list_labels(conn, KIND, [model_id]):
            found.setdefault(label.target_id, []).append(label.label)
        return found

    @staticmethod
    def _to_version(row: RowMapping, name: str, aliases: dict[str, list[str]]) -> ModelVersion:
        return ModelVersion(
            id=row["id"], name=name, version=row["version"], format=row["format"],
            artifact=row["artifact"], size=row["size"], base=row["base"],
            base_version_id=row["base_version_id"], run_id=row["run_id"],
            sources=json.loads(row["sources"]), metrics=json.loads(row["metrics"]),
            gates=json.loads(row["gates"] or "[]"),
            description=row["description"], aliases=sorted(aliases.get(row["id"], [])),
            created_at=row["created_at"], created_by=row["created_by"])

    def get(self, ref: str) -> ModelVersion:
        """The version ``[model:]NAME[@VERSION|ALIAS|latest]`` selects (none: the newest)."""
        name, selector = parse_model_ref(ref)
        with self.store.read() as conn:
            model = self._model(conn, name)
            row = self._version_row(conn, model, selector)
            return self._to_version(row, name, self._aliases(conn, model["id"]))

    def get_by_id(self, version_id: str) -> ModelVersion:
        with self.store.read() as conn:
            row = conn.execute(select(model_versions).where(
                model_versions.c.id == version_id)).mappings().first()
            if row is None:
                raise NotFound(f"no model version with id {version_id!r}")
            model = conn.execute(select(registered_models).where(
                registered_models.c.id == row["model_id"])).mappings().one()
            return self._to_version(row, model["name"], self._aliases(conn, model["id"]))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of `name`, oldest first."""
        with self.store.read() as conn:
            model = self._model(conn, name)
            aliases = self._aliases(conn, model["id"])
            rows = conn.execute(select(model_versions).where(
                model_versions.c.model_id == model["id"]).order_by(model_versions.c.version)
            ).mappings().all()
            return [self._to_version(r, name, aliases) for r in rows]

    def list_models(self) -> list[ModelSummary]:
        v = model_versions
        with self.store.read() as conn:
            counts = {r.model_id: (r.latest, r.n) for r in conn.execute(
                select(v.c.model_id, func.max(v.c.version).label("latest"),
                       func.count().label("n")).group_by(v.c.model_id))}
            numbers = {r.id: r.version for r in conn.execute(select(v.c.id, v.c.version))}
            models = conn.execute(select(registered_models).order_by(
                registered_models.c.name)).mappings().all()
            out = []
            for m in models:
                latest, n = counts.get(m["id"], (0, 0))
                aliases = {a.label: numbers[a.target_id]
                           for a in label_store.list_labels(conn, KIND, [m["id"]])}
                out.append(ModelSummary(id=m["id"], name=m["name"],
                                        description=m["description"], latest_version=latest,
                                        versions=n, aliases=aliases,
                                        created_at=m["created_at"]))
            return out

    # -- writing ------------------------------------------------------------------------
    def register(self, name: str, folder: str | os.PathLike[str], *,
                 format: ModelFormat = "full", base: str | None = None,
                 base_version_id: str | None = None, run_id: str | None = None,
                 sources: dict[str, Any] | None = None,
                 metrics: dict[str, float] | None = None, description: str | None = None,
                 alias: str | None = None,
                 lineage_from: list[tuple[str, str]] | None = None) -> ModelVersion:
        """Store `folder` (weights or adapter, tokenizer, config) as the next version.

        Lineage: ``run:RUN -> model:VERSION_ID`` (produced) and
        ``model:BASE_VERSION_ID -> model:VERSION_ID`` (base), plus each (node, relation)
        of `lineage_from` (a merged adapter, a quantized source), in the same transaction.
        """
        check_name(name, what="model name")
        if format not in FORMATS:
            raise InvalidInput(f"invalid model format {format!r}: use one of "
                               f"{', '.join(FORMATS)}")
        if alias is not None:
            label_store.check_label(alias)
        path = Path(folder)
        if not path.is_dir():
            raise InvalidInput(f"model folder {str(path)!r} does not exist or is not a folder")
        ref = self.artifacts.put_tree(path)
        version_id = new_id()
        now = now_ms()

        def write(conn: Connection) -> None:
            conn.execute(upsert_insert(conn, registered_models).on_conflict_do_nothing(), {
                "id": new_id(), "name": name, "description": None, "created_at": now,
                "created_by": self.actor})
            model = self._model(conn, name, lock=True)
            number = (conn.execute(select(func.max(model_versions.c.version)).where(
                model_versions.c.model_id == model["id"])).scalar() or 0) + 1
            conn.execute(insert(model_versions), {
                "id": version_id, "model_id": model["id"], "version": number,
                "format": format, "artifact": ref.digest, "size": ref.size, "base": base,
                "base_version_id": base_version_id, "run_id": run_id,
                "sources": json.dumps(sources or {}, sort_keys=True),
                "metrics": json.dumps(metrics or {}, sort_keys=True),
                "description": description, "created_at": now, "created_by": self.actor})
            node = f"model:{version_id}"
            if run_id:
                lineage.add_edge(conn, f"run:{run_id}", node, "produced")
            if base_version_id:
                lineage.add_edge(conn, f"model:{base_version_id}", node, "base")
            for source, relation in lineage_from or ():
                lineage.add_edge(conn, source, node, relation)
            audit.record(conn, self.actor, "model.register", KIND, name,
                         {"version": number, "format": format, "run": run_id})
            if alias is not None:
                label_store.set_label(conn, KIND, model["id"], alias, version_id,
                                      actor=self.actor)

        self.store.write(write)
        return self.get_by_id(version_id)

    def record_metrics(self, ref: str, metrics: dict[str, float]) -> ModelVersion:
        """Add evaluation metrics to a version (the weights stay as they are). Read and
        merged under the row lock, so concurrent evaluations do not lose each other's."""
        version_id = self.get(ref).id
        update_values = {k: float(v) for k, v in metrics.items()}

        def write(conn: Connection) -> None:
            row = conn.execute(select(model_versions.c.metrics, model_versions.c.version)
                               .where(model_versions.c.id == version_id)
                               .with_for_update()).one()
            merged = {**json.loads(row.metrics), **update_values}
            conn.execute(update(model_versions).where(model_versions.c.id == version_id)
                         .values(metrics=json.dumps(merged, sort_keys=True)))
            audit.record(conn, self.actor, "model.metrics", KIND, version_id,
                         {"version": row.version, "metrics": sorted(metrics)})

        self.store.write(write)
        return self.get_by_id(version_id)

    def record_gates(self, version_id: str, result: dict[str, Any]) -> None:
        """Append a promotion gate result to a version's record."""

        def write(conn: Connection) -> None:
            row = conn.execute(select(model_versions.c.gates).where(
                model_versions.c.id == version_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"no model version with id {version_id!r}")
            gates = [*json.loads(row.gates or "[]"), result]
            conn.execute(update(model_versions).where(model_versions.c.id == version_id)
                         .values(gates=json.dumps(gates, sort_keys=True)))
            audit.record(conn, self.actor, "model.gate", KIND, version_id,
                         {"alias": result.get("alias"), "passed": result.get("passed")})

        self.store.write(write)

    def set_alias(self, name: str, selector: str, alias: str) -> AliasChange:
        """Point `alias` of `name` at the version `selector` picks."""
        label_store.check_label(alias)

        def write(conn: Connection) -> AliasChange:
            model = self._model(conn, name, lock=True)
            row = self._version_row(conn, model, selector)
            event = label_store.set_label(conn, KIND, model["id"], alias, row["id"],
                                          actor=self.actor)
            previous = self._number(conn, event.previous_id) if event else row["version"]
            audit.record(conn, self.actor, "model.alias", KIND, name,
                         {"alias": alias, "version": row["version"], "previous": previous})
            return AliasChange(name=name, alias=alias, version=row["version"],
                               previous_version=previous, changed=event is not None)

        return self.store.write(write)

    def rollback(self, name: str, alias: str) -> AliasChange:
        """Move `alias` back to where it pointed before its last move."""

        def write(conn: Connection) -> AliasChange:
            model = self._model(conn, name, lock=True)
            if label_store.get_target(conn, KIND, model["id"], check_name(
                    alias, what="alias")) is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            event = label_store.rollback_label(conn, KIND, model["id"], alias,
                                               actor=self.actor)
            version = self._number(conn, event.target_id)
            previous = self._number(conn, event.previous_id)
            audit.record(conn, self.actor, "model.rollback", KIND, name,
                         {"alias": alias, "version": version, "previous": previous})
            return AliasChange(name=name, alias=alias, version=version,
                               previous_version=previous, changed=True)

        return self.store.write(write)

    @staticmethod
    def _number(conn: Connection, version_id: str | None) -> int | None:
        if version_id is None:
            return None
        return conn.execute(select(model_versions.c.version).where(
            model_versions.c.id == version_id)).scalar()

    # -- files --------------------------------------------------------------------------
    def local_path(self, version: ModelVersion) -> Path:
        """The version's files in a local folder, fetched once and then reused.

        The folder is named by the artifact digest, so a cached copy is always the right
        content; it is filled in a temporary folder and renamed, so a crash leaves none
        half-written.
        """
        cache = self.workspace.settings.home_path / "models" / version.artifact[7:]
        if cache.is_dir():
            return cache
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".partial-"))
        try:
            self.artifacts.get_to(version.artifact, staging / "files")
            try:
                (staging / "files").rename(cache)
            except OSError:
                if not cache.is_dir():  # lost a race with another process: theirs is fine
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return cache
