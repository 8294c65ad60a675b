"""Importing rows as a new dataset version: validate, redact, chunk, store, record.

Import is all or nothing: every record is checked against the kind and, if any fails (and
`skip_invalid` is off), no version is created and the error names each bad record's
place, field and problem (the first 20, and the total). Chunks are written only while no
error has been seen, so a bad file leaves at most the chunks before its first bad row.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import Connection, func, insert, select

from llmops.auth import audit
from llmops.clock import now_ms
from llmops.datasets.kinds import check_kind, check_row, row_warnings
from llmops.datasets.readers import BadRecord, Record
from llmops.datasets.splits import Splitter
from llmops.datasets.storage import Chunk, ChunkWriter, canonical, row_id
from llmops.datasets.versions import DatasetVersion, StoredVersion, list_stored
from llmops.errors import InvalidInput, ValidationFailed
from llmops.ids import new_id
from llmops.refs import check_name
from llmops.store import upsert_insert
from llmops.store.tables import dataset_versions, datasets
from llmops.tracking import lineage
from llmops.workspace import Workspace

MAX_REPORTED = 20


class ImportReport(BaseModel):
    """What an import did: the version, whether it is new, and what it rejected."""

    version: DatasetVersion
    created: bool
    rows_read: int
    rejected: int = 0
    problems: list[str] = []
    warnings: dict[str, int] = {}
    redactions: dict[str, int] = {}
    stored_bytes: int = 0
    reused_chunks: int = 0


@dataclass
class Resume:
    """What an earlier version already holds of an unchanged file prefix: its chunks and
    the counts up to the checkpoint where the new import starts reading."""

    chunks: list[Chunk]
    rows: int
    split_counts: dict[str, int]
    fields: list[str]
    checkpoints: list[list[Any]]


@dataclass
class ImportOptions:
    kind: str
    split: dict[str, float] | None = None
    seed: int = 42
    skip_invalid: bool = False
    redact_pii: bool = False
    sensitive: bool = False
    description: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    parent_ids: list[str] = field(default_factory=list)
    resume: Resume | None = None
    # (bytes read, their sha256, lines read) of the source, recorded at each chunk boundary
    checkpoint: Callable[[], tuple[int, str, int]] | None = None

    def signature(self) -> dict[str, Any]:
        """The options that decide what rows a file becomes (prefix reuse needs them equal)."""
        return {"kind": self.kind, "split": self.split, "seed": self.seed,
                "redact_pii": self.redact_pii, "sensitive": self.sensitive}


def import_records(workspace: Workspace, name: str, records: Iterator[Record],
                   options: ImportOptions, *, actor: str,
                   on_row: Callable[[int], None] | None = None) -> ImportReport:
    """Create (or find) the version holding `records`; see the module docstring."""
    check_name(name, what="dataset name")
    kind = check_kind(options.kind)
    splitter = Splitter(options.split, options.seed) if options.split else None
    version_id = new_id()
    seal, wrapped = _sealer(workspace, name, version_id) if options.sensitive else (None, None)
    earlier = _earlier_versions(workspace, name)
    known = {c.id: c for v in earlier if v.info.encrypted == options.sensitive for c in v.chunks}
    with ChunkWriter(workspace.artifacts, known=known, seal=seal) as writer, ExitStack() as stack:
        redactor = _redactor() if options.redact_pii else None
        # what was replaced where, one JSON line per replacement (never the value)
        report = stack.enter_context(tempfile.TemporaryFile()) if redactor else None
        problems: list[str] = []
        rejected = rows = 0
        warnings: Counter[str] = Counter()
        redactions: Counter[str] = Counter()
        fields: dict[str, None] = {}
        split_counts: Counter[str] = Counter()
        checkpoints: list[list[Any]] = []
        if options.resume is not None:
            writer.chunks = list(options.resume.chunks)
            writer.reused = len(writer.chunks)
            rows = options.resume.rows
            split_counts.update(options.resume.split_counts)
            fields = dict.fromkeys(options.resume.fields)
            checkpoints = [list(c) for c in options.resume.checkpoints]
        for where, row in records:
            bad = [("", row.message)] if isinstance(row, BadRecord) else check_row(kind, row)
            if bad:
                rejected += 1
                if len(problems) < MAX_REPORTED:
                    problems.extend(f"{where}: {f + ': ' if f else ''}{m}" for f, m in bad[:3])
                continue
            if rejected and not options.skip_invalid:
                continue  # keep counting errors, write nothing more
            for warning in row_warnings(kind, row):
                warnings[warning] += 1
            replaced = []
            if redactor is not None:
                row, replaced = redactor.redact_row(row)
            data = canonical(row)
            rid = row_id(data)
            rows += 1
            for r in replaced:
                redactions[r.type] += 1
                report.write(orjson.dumps({  # type: ignore[union-attr]
                    "row": rows, "_id": rid.hex(), "source": where, "field": r.field,
                    "type": r.type, "placeholder": r.placeholder, "start": r.start,
                    "end": r.end}) + b"\n")
            for key in row:
                fields.setdefault(key, None)
            if splitter is not None:
                split_counts[splitter(rid)] += 1
            if writer.add(rid, data) and options.checkpoint is not None:
                offset, digest, line = options.checkpoint()
                checkpoints.append([offset, digest, len(writer.chunks), rows, line,
                                    dict(split_counts)])
            if on_row is not None:
                on_row(rows + rejected)
        if rejected and not options.skip_invalid:
            more = f" (showing the first {len(problems)})" if rejected > len(problems) else ""
            raise ValidationFailed(
                f"{rejected} invalid record(s); no version was created{more}:\n  "
                + "\n  ".join(problems[:MAX_REPORTED])
                + "\nFix them, or pass --skip-invalid to import only the valid rows.",
                errors=[{"field": p.split(": ", 1)[0], "message": p.split(": ", 1)[-1]}
                        for p in problems[:MAX_REPORTED]])
        if rows == 0:
            raise InvalidInput("no rows to import: the source is empty" if not rejected
                               else f"no valid rows: all {rejected} records are invalid")
        chunks = writer.finish()
        manifest: dict[str, Any] = {"chunks": [c.to_json() for c in chunks], "fields": list(fields)}
        if splitter is not None:
            manifest["splits"] = splitter.spec()
            manifest["split_counts"] = dict(sorted(split_counts.items()))
        content_hash = _content_hash(kind, chunks, manifest.get("splits"), options.sensitive)
        for v in earlier:
            if v.info.content_hash == content_hash:
                return ImportReport(version=v.info, created=False, rows_read=rows + rejected,
                                    rejected=rejected, problems=problems)
        source = dict(options.source)
        if redactions and report is not None:
            report.seek(0)
            source["redacted"] = dict(redactions)
            source["redaction_report"] = workspace.artifacts.put_bytes(report.read()).digest
        if options.checkpoint is not None:
            source.update(options=options.signature(), rejected=rejected, checkpoints=checkpoints)
            if options.resume is not None:
                source["resumed_at"] = options.resume.checkpoints[-1][0]
        info = _record_version(workspace, name, version_id, kind, content_hash, rows, chunks,
                               manifest, wrapped, source, options, actor)
        return ImportReport(version=info, created=True, rows_read=rows + rejected,
                            rejected=rejected, problems=problems, warnings=dict(warnings),
                            redactions=dict(redactions), stored_bytes=writer.written_bytes,
                            reused_chunks=writer.reused)


def _content_hash(kind: str, chunks: list[Chunk], splits: dict[str, Any] | None,
                  encrypted: bool) -> str:
    body = json.dumps({"kind": kind, "chunks": [c.id for c in chunks], "splits": splits,
                       "encrypted": encrypted}, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _earlier_versions(workspace: Workspace, name: str) -> list[StoredVersion]:
    from llmops.errors import NotFound

    with workspace.store.read() as conn:
        try:
            return list_stored(conn, name)
        except NotFound:
            return []


def _redactor() -> Any:
    from llmops.datasets.pii import Redactor

    return Redactor()


def _sealer(workspace: Workspace, name: str, version_id: str
            ) -> tuple[Callable[[str, bytes], tuple[bytes, str]], str]:
    from llmops.datasets import crypto

    master = crypto.load_master_key(workspace.settings, dataset=name)
    data_key = crypto.new_data_key()

    def seal(chunk_id: str, data: bytes) -> tuple[bytes, str]:
        return crypto.encrypt(data_key, data, aad=chunk_id.encode()), version_id

    return seal, crypto.wrap_key(master, data_key)


def _record_version(workspace: Workspace, name: str, version_id: str, kind: str,
                    content_hash: str, rows: int, chunks: list[Chunk],
                    manifest: dict[str, Any], wrapped: str | None, source: dict[str, Any],
                    options: ImportOptions, actor: str) -> DatasetVersion:
    def write(conn: Connection) -> str:
        now = now_ms()
        conn.execute(upsert_insert(conn, datasets).on_conflict_do_nothing(), {
            "id": new_id(), "name": name, "description": options.description,
            "created_at": now, "created_by": actor})
        ds = conn.execute(select(datasets.c.id).where(datasets.c.name == name)).scalar_one()
        number = (conn.execute(select(func.max(dataset_versions.c.version))
                               .where(dataset_versions.c.dataset_id == ds)).scalar() or 0) + 1
        parent = options.parent_ids[0] if options.parent_ids else None
        conn.execute(insert(dataset_versions), {
            "id": version_id, "dataset_id": ds, "version": number,
            "content_hash": content_hash, "kind": kind, "row_count": rows,
            "byte_size": sum(c.bytes for c in chunks), "manifest": json.dumps(manifest),
            "encrypted": options.sensitive, "wrapped_key": wrapped,
            "source": json.dumps(source) if source else None, "parent_id": parent,
            "created_at": now, "created_by": actor})
        for parent_id in options.parent_ids:
            lineage.add_edge(conn, f"dataset:{parent_id}", f"dataset:{version_id}", "derived")
        audit.record(conn, actor, "dataset.version.create", "dataset", version_id,
                     {"name": name, "version": number, "rows": rows})
        return ds

    workspace.store.write(write)
    from llmops.datasets.versions import resolve

    with workspace.store.read() as conn:
        return resolve(conn, f"dataset:{name}@sha256:{content_hash[7:]}").info
