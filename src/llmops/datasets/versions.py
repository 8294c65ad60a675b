"""Dataset and version records, and resolving references to them."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, func, select

from llmops.datasets.storage import Chunk
from llmops.errors import InvalidInput, NotFound
from llmops.refs import Ref, parse_ref
from llmops.store.tables import dataset_versions, datasets


class DatasetInfo(BaseModel):
    id: str
    name: str
    description: str | None = None
    created_at: int
    created_by: str
    versions: int
    latest: int | None = None


class DatasetVersion(BaseModel):
    """An immutable version: what `show` prints and every API returns."""

    id: str
    dataset: str
    version: int
    content_hash: str
    kind: str
    row_count: int
    byte_size: int
    encrypted: bool
    fields: list[str]
    splits: dict[str, Any] | None = None  # {"fractions", "seed", "counts"}
    source: dict[str, Any] | None = None
    parent_id: str | None = None
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        return f"dataset:{self.dataset}@{self.version}"


class StoredVersion:
    """A version with its chunk manifest and key material (internal)."""

    def __init__(self, row: Any, dataset: str) -> None:
        manifest = json.loads(row.manifest)
        self.dataset_id: str = row.dataset_id
        self.chunks = [Chunk(**c) for c in manifest["chunks"]]
        self.wrapped_key: str | None = row.wrapped_key
        self.profile: str | None = row.profile
        splits = manifest.get("splits")
        if splits is not None:
            splits = {**splits, "counts": manifest.get("split_counts", {})}
        self.info = DatasetVersion(
            id=row.id, dataset=dataset, version=row.version, content_hash=row.content_hash,
            kind=row.kind, row_count=row.row_count, byte_size=row.byte_size,
            encrypted=row.encrypted, fields=manifest.get("fields", []), splits=splits,
            source=json.loads(row.source) if row.source else None, parent_id=row.parent_id,
            created_at=row.created_at, created_by=row.created_by)


def dataset_ref(text: str) -> Ref:
    ref = parse_ref(text, default_kind="dataset")
    if ref.kind != "dataset":
        raise InvalidInput(f"{text!r} is not a dataset reference (dataset:NAME[@VERSION])")
    return ref


def _candidates(conn: Connection, name: str) -> str:
    names = conn.execute(select(datasets.c.name).order_by(datasets.c.name).limit(20)).scalars()
    close = [n for n in names if n.startswith(name[:3])] or list(names)
    return f"; datasets: {', '.join(close)}" if close else "; there are no datasets yet"


def resolve(conn: Connection, text: str) -> StoredVersion:
    """The version a reference names: NAME (latest), NAME@N, NAME@latest, NAME@sha256:PREFIX."""
    ref = dataset_ref(text)
    ds = conn.execute(select(datasets.c.id).where(datasets.c.name == ref.name)).scalar()
    if ds is None:
        raise NotFound(f"no dataset {ref.name!r}{_candidates(conn, ref.name)}")
    query = select(dataset_versions).where(dataset_versions.c.dataset_id == ds)
    selector = ref.selector or "latest"
    if selector == "latest":
        query = query.order_by(dataset_versions.c.version.desc()).limit(1)
    elif selector.isdigit():
        query = query.where(dataset_versions.c.version == int(selector))
    elif selector.startswith("sha256:"):
        query = query.where(dataset_versions.c.content_hash.startswith(selector))
    else:
        raise NotFound(f"dataset {ref.name!r} has no version {selector!r}: use a number, "
                       "latest or sha256:PREFIX")
    rows = conn.execute(query).all()
    if len(rows) != 1:
        versions = conn.execute(select(dataset_versions.c.version).where(
            dataset_versions.c.dataset_id == ds).order_by(dataset_versions.c.version)).scalars()
        listed = ", ".join(str(v) for v in versions)
        what = "several versions match" if rows else "no such version"
        raise NotFound(f"dataset {ref.name!r}: {what} {selector!r}; versions: {listed}")
    return StoredVersion(rows[0], ref.name)


def list_infos(conn: Connection) -> list[DatasetInfo]:
    counts = (select(dataset_versions.c.dataset_id, func.count().label("n"),
                     func.max(dataset_versions.c.version).label("latest"))
              .group_by(dataset_versions.c.dataset_id).subquery())
    rows = conn.execute(select(datasets, counts.c.n, counts.c.latest)
                        .join(counts, counts.c.dataset_id == datasets.c.id, isouter=True)
                        .order_by(datasets.c.name)).all()
    return [DatasetInfo(id=r.id, name=r.name, description=r.description,
                        created_at=r.created_at, created_by=r.created_by, versions=r.n or 0,
                        latest=r.latest) for r in rows]


def list_stored(conn: Connection, name: str) -> list[StoredVersion]:
    ds = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if ds is None:
        raise NotFound(f"no dataset {name!r}{_candidates(conn, name)}")
    rows = conn.execute(select(dataset_versions).where(dataset_versions.c.dataset_id == ds)
                        .order_by(dataset_versions.c.version)).all()
    return [StoredVersion(r, name) for r in rows]


def version_names(conn: Connection, ids: list[str]) -> dict[str, str]:
    """``{version id: "dataset:NAME@N"}`` for display (lineage)."""
    rows = conn.execute(select(dataset_versions.c.id, datasets.c.name, dataset_versions.c.version)
                        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                        .where(dataset_versions.c.id.in_(ids))).all()
    return {r.id: f"dataset:{r.name}@{r.version}" for r in rows}
