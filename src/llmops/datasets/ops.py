"""Operations over versions: diff, derive (SQL filter, deduplication, redaction), export."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from llmops.datasets.importer import ImportOptions, ImportReport, import_records
from llmops.datasets.kinds import row_texts
from llmops.datasets.readers import Record
from llmops.datasets.rows import iter_records, open_version
from llmops.datasets.versions import StoredVersion, dataset_ref
from llmops.errors import InvalidInput
from llmops.workspace import Workspace

if TYPE_CHECKING:
    from llmops.datasets.profile import Profile

SAMPLES = 5
EXPORT_FORMATS = ("jsonl", "parquet", "hf")


class DatasetDiff(BaseModel):
    a: str
    b: str
    rows_a: int
    rows_b: int
    added: int
    removed: int
    changed: int
    unchanged: int
    samples: dict[str, list[Any]]


def _identity(kind: str, row: dict[str, Any]) -> str | None:
    """What makes two rows "the same example" for diff: the prompt side of it."""
    if kind == "chat":
        turns = row.get("messages") or []
        prompt = [m for m in turns[:-1]] if turns and turns[-1].get("role") == "assistant" \
            else turns
        return orjson.dumps(prompt).decode()
    for field in ("prompt", "instruction", "input"):
        if field in row:
            return orjson.dumps([row.get(field), row.get("input") if field == "instruction"
                                 else None]).decode()
    return None


def _loose_rows(workspace: Workspace, stored: StoredVersion, skip: set[str]
                ) -> Counter[bytes]:
    counts: Counter[bytes] = Counter()
    chunks = [c for c in stored.chunks if c.id not in skip]
    for _, row in iter_records(workspace, stored, chunks=chunks):
        counts[row] += 1
    return counts


def diff_versions(workspace: Workspace, a: str, b: str) -> DatasetDiff:
    """Rows added, removed and changed from `a` to `b`. Chunks both share are skipped."""
    va, vb = open_version(workspace, a), open_version(workspace, b)
    shared = {c.id for c in va.chunks} & {c.id for c in vb.chunks}
    rows_a, rows_b = _loose_rows(workspace, va, shared), _loose_rows(workspace, vb, shared)
    removed_rows = list((rows_a - rows_b).elements())
    added_rows = list((rows_b - rows_a).elements())
    kind = vb.info.kind
    by_identity: dict[str, dict[str, Any]] = {}
    for raw in removed_rows:
        row = orjson.loads(raw)
        key = _identity(kind, row)
        if key is not None:
            by_identity.setdefault(key, row)
    changed: list[dict[str, Any]] = []
    added: list[Any] = []
    for raw in added_rows:
        row = orjson.loads(raw)
        key = _identity(kind, row)
        if key is not None and key in by_identity:
            changed.append({"before": by_identity.pop(key), "after": row})
        else:
            added.append(row)
    removed = list(by_identity.values()) + [orjson.loads(r) for r in removed_rows
                                            if _identity(kind, orjson.loads(r)) is None]
    return DatasetDiff(
        a=va.info.ref, b=vb.info.ref, rows_a=va.info.row_count, rows_b=vb.info.row_count,
        added=len(added), removed=len(removed), changed=len(changed),
        unchanged=vb.info.row_count - len(added) - len(changed),
        samples={"added": added[:SAMPLES], "removed": removed[:SAMPLES],
                 "changed": changed[:SAMPLES]})


# -- derive ---------------------------------------------------------------------------------
def _column(name: str, value: Any) -> str:
    path = "'$.\"" + name.replace('"', '\\"').replace("'", "''") + "\"'"
    quoted = '"' + name.replace('"', '""') + '"'
    if isinstance(value, bool):
        return f"CAST(json_extract(_row, {path}) AS BOOLEAN) AS {quoted}"
    if isinstance(value, int | float):
        return f"CAST(json_extract(_row, {path}) AS DOUBLE) AS {quoted}"
    if isinstance(value, str):
        return f"json_extract_string(_row, {path}) AS {quoted}"
    return f"json_extract(_row, {path}) AS {quoted}"


class _Filter:
    """A SQL condition over a version's fields, run by duckdb on each chunk.

    The duckdb connection is in memory with external access disabled, so a condition can
    only see the rows it filters (no files, no extensions).
    """

    def __init__(self, condition: str, sample: dict[str, Any]) -> None:
        import duckdb

        if not condition.strip() or ";" in condition:
            raise InvalidInput(f"invalid --where condition {condition!r}: one SQL expression "
                               "over the fields, e.g. \"length(response) > 20\"")
        self.db = duckdb.connect(":memory:")
        self.db.execute("SET enable_external_access = false")
        self.db.execute("SET lock_configuration = true")
        columns = ", ".join(["_id", "_row"] + [_column(k, v) for k, v in sample.items()])
        self.query = f"SELECT _id FROM (SELECT {columns} FROM chunk) WHERE ({condition})"
        self.condition = condition

    def keep(self, ids: list[bytes], rows: list[bytes]) -> set[bytes]:
        import duckdb
        import pyarrow as pa

        chunk = pa.table({"_id": pa.array(ids, pa.binary()),
                          "_row": pa.array([r.decode() for r in rows], pa.string())})
        self.db.register("chunk", chunk)
        try:
            return {bytes(r[0]) for r in self.db.execute(self.query).fetchall()}
        except duckdb.Error as exc:
            raise InvalidInput(f"--where {self.condition!r} failed: {exc}".splitlines()[0]
                               ) from None
        finally:
            self.db.unregister("chunk")


def _shingles(row: dict[str, Any]) -> set[bytes]:
    words = re.findall(r"\w+", " ".join(t for _, t in row_texts(row)).lower())
    return {" ".join(words[i:i + 3]).encode() for i in range(max(1, len(words) - 2))}


def _derived_rows(workspace: Workspace, stored: StoredVersion, split: str | None,
                  where: str | None, dedup: str | None, threshold: float
                  ) -> Iterator[Record]:
    seen: set[bytes] = set()
    lsh = None
    if dedup == "near":
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=64)
    selector: _Filter | None = None
    pending: list[tuple[bytes, bytes]] = []

    def flush() -> Iterator[Record]:
        nonlocal selector
        if not pending:
            return
        if where is not None:
            if selector is None:
                selector = _Filter(where, orjson.loads(pending[0][1]))
            kept = selector.keep([i for i, _ in pending], [r for _, r in pending])
        for number, (rid, raw) in enumerate(pending):
            if where is not None and rid not in kept:
                continue
            if dedup == "exact":
                if rid in seen:
                    continue
                seen.add(rid)
            row = orjson.loads(raw)
            if lsh is not None:
                minhash = MinHash(num_perm=64)
                minhash.update_batch(list(_shingles(row)))
                if lsh.query(minhash):
                    continue
                lsh.insert(rid.hex(), minhash)
            yield f"row {number + 1}", row
        pending.clear()

    for record in iter_records(workspace, stored, split):
        pending.append(record)
        if len(pending) >= 10_000:
            yield from flush()
    yield from flush()


def derive_dataset(workspace: Workspace, name: str, source: str, *, where: str | None = None,
                   dedup: str | None = None, threshold: float = 0.8, redact_pii: bool = False,
                   sensitive: bool | None = None, actor: str) -> ImportReport:
    """A new version of `name` from the rows of `source` that pass the filters."""
    if dedup not in (None, "exact", "near"):
        raise InvalidInput(f"unknown --dedup {dedup!r}: use exact or near")
    if not 0 < threshold <= 1:
        raise InvalidInput("the near-duplicate threshold must be in (0, 1]")
    stored = open_version(workspace, source)
    split = dataset_ref(source).split
    options = ImportOptions(
        kind=stored.info.kind, redact_pii=redact_pii,
        sensitive=stored.info.encrypted if sensitive is None else sensitive,
        split=stored.info.splits["fractions"] if stored.info.splits else None,
        seed=stored.info.splits["seed"] if stored.info.splits else 42,
        source={"type": "derive", "from": stored.info.ref + (f"#{split}" if split else ""),
                "where": where, "dedup": dedup},
        parent_ids=[stored.info.id])
    rows = _derived_rows(workspace, stored, split, where, dedup, threshold)
    return import_records(workspace, name, rows, options, actor=actor)


# -- profile --------------------------------------------------------------------------------
def profile_version(workspace: Workspace, ref: str, *, tokenizer: str | None = None,
                    progress: Callable[[Iterator[dict[str, Any]]], Iterator[dict[str, Any]]]
                    | None = None) -> Profile:
    """Profile a version (or split) and store the profile with the version."""
    from sqlalchemy import update

    from llmops.datasets.pii import scan_text
    from llmops.datasets.profile import profile_rows
    from llmops.datasets.rows import iter_rows
    from llmops.datasets.tokenizers import load_tokenizer
    from llmops.store.tables import dataset_versions

    stored = open_version(workspace, ref)
    counter = load_tokenizer(tokenizer)
    rows: Iterator[dict[str, Any]] = (
        {k: v for k, v in row.items() if k != "_id"} for row in iter_rows(workspace, ref))
    if progress is not None:
        rows = progress(rows)
    profile = profile_rows(rows, stored.info.kind, tokenizer=counter, pii_scan=scan_text)
    if dataset_ref(ref).split is None:
        workspace.store.write(lambda conn: conn.execute(
            update(dataset_versions).where(dataset_versions.c.id == stored.info.id)
            .values(profile=profile.model_dump_json())))
    return profile


def stored_profile(workspace: Workspace, ref: str) -> Profile | None:
    """The profile last computed for a version, if any."""
    from llmops.datasets.profile import Profile

    stored = open_version(workspace, ref)
    return Profile.model_validate_json(stored.profile) if stored.profile else None


# -- export ---------------------------------------------------------------------------------
def export_dataset(workspace: Workspace, ref: str, dest: str | Path, fmt: str = "jsonl",
                   *, with_ids: bool = False) -> Path:
    """Write a version (or split) as JSONL, Parquet or a `datasets` folder."""
    from llmops.datasets.rows import iter_rows

    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use {', '.join(EXPORT_FORMATS)}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)

    def rows() -> Iterator[dict[str, Any]]:
        for row in iter_rows(workspace, ref):
            if not with_ids:
                row.pop("_id")
            yield row

    if fmt == "jsonl":
        with open(dest, "wb") as f:
            for row in rows():
                f.write(orjson.dumps(row) + b"\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(list(rows())), dest, compression="zstd")
    else:
        try:
            from datasets import Dataset, disable_progress_bars
        except ImportError:
            raise InvalidInput("exporting a datasets folder needs the hf extra: "
                               "pip install 'llmops[hf]'") from None
        disable_progress_bars()
        Dataset.from_list(list(rows())).save_to_disk(str(dest))
    return dest
