"""How a dataset version's rows are stored: content-defined Parquet chunks.

Each row is kept as its canonical JSON (sorted keys) with a 16-byte id, the blake2b
hash of that JSON. Rows are grouped into chunks whose boundaries depend only on the rows
themselves: a chunk ends after a row whose id, read as a number, falls under a threshold
proportional to the row's size, so chunks average `target_bytes` whatever the row size.
Appending rows or changing a few leaves every other chunk identical, and a chunk already
stored for the dataset (same rows, same id) is reused instead of written again.

A chunk's id is the sha256 of its row ids; its bytes are a zstd Parquet file with columns
``_id`` and ``_row``, optionally encrypted, stored in the artifact store.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmops.artifacts import ArtifactStore

TARGET_BYTES = 4 * 1024 * 1024
MIN_BYTES = 256 * 1024
MAX_BYTES = 16 * 1024 * 1024
_SPAN = float(2**32)


def canonical(row: Any) -> bytes:
    """The canonical JSON of a row: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def row_id(row_json: bytes) -> bytes:
    return hashlib.blake2b(row_json, digest_size=16).digest()


@dataclass
class Chunk:
    """One stored chunk as the version manifest records it."""

    id: str  # sha256 of its row ids
    digest: str  # the artifact holding its (maybe encrypted) Parquet bytes
    rows: int
    bytes: int
    key: str | None = None  # id of the version whose data key encrypts it

    def to_json(self) -> dict[str, Any]:
        data = {"id": self.id, "digest": self.digest, "rows": self.rows, "bytes": self.bytes}
        if self.key:
            data["key"] = self.key
        return data


@dataclass
class ChunkWriter:
    """Accumulates rows and cuts content-defined chunks.

    `known` maps chunk ids of earlier versions to their stored chunks, which are reused.
    `seal` encrypts a chunk's bytes (given its id) when the version is sensitive.
    """

    artifacts: ArtifactStore
    known: dict[str, Chunk] = field(default_factory=dict)
    seal: Callable[[str, bytes], tuple[bytes, str]] | None = None
    target_bytes: int = TARGET_BYTES
    chunks: list[Chunk] = field(default_factory=list)
    written_bytes: int = 0
    reused: int = 0
    _ids: list[bytes] = field(default_factory=list)
    _rows: list[bytes] = field(default_factory=list)
    _size: int = 0

    def add(self, rid: bytes, row_json: bytes) -> bool:
        """Add a row; returns True when it closed a chunk."""
        self._ids.append(rid)
        self._rows.append(row_json)
        self._size += len(row_json)
        if self._size < MIN_BYTES:
            return False
        threshold = _SPAN * len(row_json) / self.target_bytes
        if int.from_bytes(rid[:4], "big") < threshold or self._size >= MAX_BYTES:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        if not self._ids:
            return
        chunk_id = "sha256:" + hashlib.sha256(b"".join(self._ids)).hexdigest()
        chunk = self.known.get(chunk_id)
        if chunk is not None:
            self.reused += 1
        else:
            data = encode_chunk(self._ids, self._rows)
            key = None
            if self.seal is not None:
                data, key = self.seal(chunk_id, data)
            ref = self.artifacts.put_bytes(data)
            self.written_bytes += ref.size
            chunk = Chunk(chunk_id, ref.digest, len(self._ids), ref.size, key)
            self.known[chunk_id] = chunk
        self.chunks.append(chunk)
        self._ids, self._rows, self._size = [], [], 0

    def finish(self) -> list[Chunk]:
        self.flush()
        return self.chunks


def encode_chunk(ids: list[bytes], rows: list[bytes]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"_id": pa.array(ids, pa.binary(16)),
                      "_row": pa.array(rows, pa.binary())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=False)
    return buffer.getvalue()


def decode_chunk(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(row id, canonical row JSON) for each row of a chunk, in order."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    yield from zip(table.column("_id").to_pylist(), table.column("_row").to_pylist(),
                   strict=True)
