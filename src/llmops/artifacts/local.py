"""The embedded default artifact store: a local folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from llmops.artifacts.base import CHUNK, ArtifactStore


class LocalArtifactStore(ArtifactStore):
    """Blobs under ``ROOT/objects/ab/cdef...``; each write is temp file, fsync, rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # keys are built from validated hex digests only, never from user text
        return self.root / key

    def _exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def _size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def _write(self, key: str, source: BinaryIO) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
