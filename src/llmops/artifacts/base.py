"""The artifact store contract: content-addressed, verified, atomic.

A file is stored once under the sha256 of its bytes. A folder is one artifact: a
manifest listing each file's relative path, digest and size, stored under the sha256 of
``b"tree\\0" + manifest`` so a tree's digest can never equal a file's. Backends
implement three primitives (`_exists`, `_write`, `_open`); everything else is here, so
every backend keeps the same guarantees.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from llmops.artifacts.paths import check_relpath, contained, folder_files
from llmops.errors import IntegrityError, InvalidInput, NotFound

CHUNK = 1024 * 1024
TREE_FORMAT = "llmops.tree/1"
_HEX = frozenset("0123456789abcdef")


def parse_digest(digest: str) -> str:
    """Return the hex part of ``sha256:HEX``, refusing anything else."""
    hexpart = digest[7:] if isinstance(digest, str) and digest.startswith("sha256:") else ""
    if len(hexpart) != 64 or not set(hexpart) <= _HEX:
        raise InvalidInput(f"invalid digest {digest!r}: expected sha256: and 64 hex digits")
    return hexpart


def sha256_file(path: Path) -> tuple[str, int]:
    """The digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return "sha256:" + h.hexdigest(), size


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """What `put` returns: the digest, whether it is a file or a tree, total bytes."""

    digest: str
    kind: Literal["file", "tree"]
    size: int


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    digest: str
    size: int


class _VerifyingReader(io.RawIOBase):
    """Reads a blob and raises IntegrityError at the end if its hash does not match."""

    def __init__(self, raw: BinaryIO, hexdigest: str) -> None:
        self._raw = raw
        self._expected = hexdigest
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        if not data:
            if not self._checked:
                self._checked = True
                if self._hash.hexdigest() != self._expected:
                    raise IntegrityError(
                        f"artifact sha256:{self._expected} is corrupt: its bytes hash to "
                        f"sha256:{self._hash.hexdigest()}"
                    )
            return 0
        self._hash.update(data)
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class ArtifactStore(ABC):
    """Content-addressed blobs and trees. Subclasses provide storage primitives."""

    url: str

    # -- primitives -------------------------------------------------------------------
    @abstractmethod
    def _exists(self, key: str) -> bool: ...

    @abstractmethod
    def _write(self, key: str, source: BinaryIO) -> None:
        """Store `source` under `key` atomically: readers see all of it or nothing."""

    @abstractmethod
    def _open(self, key: str) -> BinaryIO: ...

    @abstractmethod
    def _size(self, key: str) -> int: ...

    # -- keys ---------------------------------------------------------------------------
    @staticmethod
    def _blob_key(hexdigest: str) -> str:
        return f"objects/{hexdigest[:2]}/{hexdigest[2:]}"

    @staticmethod
    def _tree_key(hexdigest: str) -> str:
        return f"trees/{hexdigest[:2]}/{hexdigest[2:]}"

    # -- writing ------------------------------------------------------------------------
    def put(self, source: str | os.PathLike[str] | bytes) -> ArtifactRef:
        """Store bytes, a file, or a folder (as one tree artifact)."""
        if isinstance(source, bytes):
            return self.put_bytes(source)
        path = Path(source)
        if path.is_dir():
            return self.put_tree(path)
        if path.is_file():
            return self.put_file(path)
        raise NotFound(f"no file or folder at {path}")

    def put_bytes(self, data: bytes) -> ArtifactRef:
        hexdigest = hashlib.sha256(data).hexdigest()
        key = self._blob_key(hexdigest)
        if not self._exists(key):
            self._write(key, io.BytesIO(data))
        return ArtifactRef("sha256:" + hexdigest, "file", len(data))

    def put_file(self, path: str | os.PathLike[str]) -> ArtifactRef:
        digest, size = sha256_file(Path(path))
        key = self._blob_key(digest[7:])
        if not self._exists(key):
            with open(path, "rb") as f:
                self._write(key, f)
        return ArtifactRef(digest, "file", size)

    def put_tree(self, folder: str | os.PathLike[str]) -> ArtifactRef:
        """Store every file under `folder` as one tree artifact."""
        entries = []
        for rel, path in folder_files(folder):
            ref = self.put_file(path)
            entries.append(TreeEntry(rel, ref.digest, ref.size))
        return self.put_manifest(entries)

    def put_manifest(self, entries: list[TreeEntry]) -> ArtifactRef:
        """Store a tree from entries whose blobs are already stored (remote uploads)."""
        seen: set[str] = set()
        for e in entries:
            check_relpath(e.path)
            parse_digest(e.digest)
            if e.path in seen:
                raise InvalidInput(f"path {e.path!r} appears twice in the tree")
            seen.add(e.path)
            if not self._exists(self._blob_key(e.digest[7:])):
                raise NotFound(f"tree entry {e.path!r}: blob {e.digest} is not stored")
        # sizes come from the store, never from whoever sent the entries
        entries = [TreeEntry(e.path, e.digest, self._size(self._blob_key(e.digest[7:])))
                   for e in sorted(entries, key=lambda e: e.path)]
        files = [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries]
        manifest = json.dumps({"format": TREE_FORMAT, "files": files}, separators=(",", ":"))
        body = manifest.encode()
        hexdigest = hashlib.sha256(b"tree\0" + body).hexdigest()
        key = self._tree_key(hexdigest)
        if not self._exists(key):
            self._write(key, io.BytesIO(body))
        return ArtifactRef("sha256:" + hexdigest, "tree", sum(e.size for e in entries))

    # -- reading ------------------------------------------------------------------------
    def exists(self, digest: str) -> bool:
        hexdigest = parse_digest(digest)
        return self._exists(self._blob_key(hexdigest)) or self._exists(self._tree_key(hexdigest))

    def size(self, digest: str) -> int:
        """Bytes of a file artifact."""
        key = self._blob_key(parse_digest(digest))
        if not self._exists(key):
            raise NotFound(f"no file artifact {digest}")
        return self._size(key)

    def is_tree(self, digest: str) -> bool:
        return self._exists(self._tree_key(parse_digest(digest)))

    def open(self, digest: str) -> BinaryIO:
        """Open a file artifact; reading to the end raises IntegrityError if corrupt."""
        hexdigest = parse_digest(digest)
        key = self._blob_key(hexdigest)
        if not self._exists(key):
            raise NotFound(f"no file artifact {digest}")
        return io.BufferedReader(_VerifyingReader(self._open(key), hexdigest), CHUNK)

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def read_tree(self, digest: str) -> list[TreeEntry]:
        """The entries of a tree artifact, each path checked."""
        hexdigest = parse_digest(digest)
        key = self._tree_key(hexdigest)
        if not self._exists(key):
            raise NotFound(f"no tree artifact {digest}")
        with self._open(key) as f:
            body = f.read()
        if hashlib.sha256(b"tree\0" + body).hexdigest() != hexdigest:
            raise IntegrityError(f"tree manifest {digest} is corrupt")
        data = json.loads(body)
        return [TreeEntry(check_relpath(e["path"]), e["digest"], e["size"]) for e in data["files"]]

    def walk(self, digest: str) -> Iterator[TreeEntry]:
        """Entries of a tree, or the single file as an entry named after its digest."""
        if self.is_tree(digest):
            yield from self.read_tree(digest)
        else:
            parse_digest(digest)
            yield TreeEntry(digest[7:], digest, -1)

    def get_to(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Materialise an artifact: a file at `dest`, or a tree under folder `dest`.

        Every file is verified before it appears; tree paths are contained in `dest`.
        """
        dest = Path(dest)
        if not self.is_tree(digest):
            self._copy_verified(digest, dest)
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        for entry in self.read_tree(digest):
            self._copy_verified(entry.digest, contained(dest, entry.path))
        return dest

    def _copy_verified(self, digest: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".llmops-tmp-")
        try:
            with self.open(digest) as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
