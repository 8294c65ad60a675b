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
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmops.artifacts import ArtifactStore

TARGET_BYTES = 4 * 1024 * 1024
MIN_BYTES = 256 * 1024
MAX_BYTES = 16 * 1024 * 1024
MAX_IN_FLIGHT = 2
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
    Encoding (Parquet, zstd), sealing and storing run on one background thread, which
    releases the GIL in pyarrow and hashlib, so they overlap the parsing on the caller's
    thread; at most `MAX_IN_FLIGHT` chunks wait, which bounds memory.
    """

    artifacts: ArtifactStore
    known: dict[str, Chunk] = field(default_factory=dict)
    seal: Callable[[str, bytes], tuple[bytes, str]] | None = None
    target_bytes: int = TARGET_BYTES
    chunks: list[Chunk | Future[Chunk]] = field(default_factory=list)
    written_bytes: int = 0
    reused: int = 0
    _ids: list[bytes] = field(default_factory=list)
    _rows: list[bytes] = field(default_factory=list)
    _size: int = 0
    _pool: ThreadPoolExecutor | None = None
    _pending: dict[str, Future[Chunk]] = field(default_factory=dict)
    _in_flight: deque[Future[Chunk]] = field(default_factory=deque)

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
        found: Chunk | Future[Chunk] | None = self.known.get(chunk_id) \
            or self._pending.get(chunk_id)
        if found is not None:
            self.reused += 1
            self.chunks.append(found)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="llmops-chunks")
            future = self._pool.submit(self._store, chunk_id, self._ids, self._rows)
            self._pending[chunk_id] = future
            self.chunks.append(future)
            self._in_flight.append(future)
            while len(self._in_flight) > MAX_IN_FLIGHT:
                self._in_flight.popleft().result()  # waits, and raises the store's errors
        self._ids, self._rows, self._size = [], [], 0

    def _store(self, chunk_id: str, ids: list[bytes], rows: list[bytes]) -> Chunk:
        data = encode_chunk(ids, rows)
        key = None
        if self.seal is not None:
            data, key = self.seal(chunk_id, data)
        ref = self.artifacts.put_bytes(data)
        return Chunk(chunk_id, ref.digest, len(ids), ref.size, key)

    def finish(self) -> list[Chunk]:
        """Store what is left and wait for every chunk; the chunks in row order."""
        self.flush()
        try:
            done = [c.result() if isinstance(c, Future) else c for c in self.chunks]
        finally:
            self.close()
        self.written_bytes = sum(f.result().bytes for f in self._pending.values())
        self.known.update({cid: f.result() for cid, f in self._pending.items()})
        self.chunks = list(done)
        return done

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background thread (after the chunks already submitted)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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
    import pyarrow as pa
    import pyarrow.parquet as pq

    # a BufferReader, not a Python file, and no thread pool: a pyarrow thread still alive
    # at interpreter exit aborts the process ("terminate called without an active
    # exception"); a chunk is small enough for one thread
    table = pq.read_table(pa.BufferReader(data), use_threads=False)
    yield from zip(table.column("_id").to_pylist(), table.column("_row").to_pylist(),
                   strict=True)
