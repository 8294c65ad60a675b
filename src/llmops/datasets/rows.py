"""Reading a version's rows back: decrypt, decode, filter by split."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from llmops.datasets.splits import Splitter
from llmops.datasets.storage import Chunk, decode_chunk
from llmops.datasets.versions import StoredVersion, dataset_ref, resolve
from llmops.errors import NotFound
from llmops.workspace import Workspace


def open_version(workspace: Workspace, ref: str) -> StoredVersion:
    with workspace.store.read() as conn:
        return resolve(conn, ref)


def iter_records(workspace: Workspace, stored: StoredVersion, split: str | None = None, *,
                 chunks: list[Chunk] | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(row id, canonical JSON) of each row, in order, optionally of one split or of
    only some of the version's chunks."""
    splitter = Splitter.from_spec(stored.info.splits)
    if split is not None:
        if splitter is None:
            raise NotFound(f"{stored.info.ref} has no splits; import it with --split")
        if split not in splitter.fractions:
            raise NotFound(f"{stored.info.ref} has no split {split!r}; its splits: "
                           + ", ".join(splitter.fractions))
    keys = _data_keys(workspace, stored) if stored.info.encrypted else {}
    for chunk in stored.chunks if chunks is None else chunks:
        data = workspace.artifacts.read_bytes(chunk.digest)
        if chunk.key:
            from llmops.datasets import crypto

            data = crypto.decrypt(keys[chunk.key], data, aad=chunk.id.encode())
        for rid, row in decode_chunk(data):
            if split is None or splitter(rid) == split:  # type: ignore[misc]
                yield rid, row


def iter_rows(workspace: Workspace, ref: str) -> Iterator[dict[str, Any]]:
    """The rows of ``dataset:NAME[@V][#SPLIT]``, each with its ``_id`` (hex row id)."""
    stored = open_version(workspace, ref)
    for rid, row in iter_records(workspace, stored, dataset_ref(ref).split):
        data = orjson.loads(row)
        data["_id"] = rid.hex()
        yield data


def _data_keys(workspace: Workspace, stored: StoredVersion) -> dict[str, bytes]:
    """Unwrap the data key of every version whose key encrypts one of these chunks."""
    from sqlalchemy import select

    from llmops.datasets import crypto
    from llmops.store.tables import dataset_versions

    master = crypto.load_master_key(workspace.settings, dataset=stored.info.ref)
    wanted = {c.key for c in stored.chunks if c.key}
    with workspace.store.read() as conn:
        rows = conn.execute(select(dataset_versions.c.id, dataset_versions.c.wrapped_key)
                            .where(dataset_versions.c.id.in_(wanted))).all()
    return {r.id: crypto.unwrap_key(master, r.wrapped_key) for r in rows}
