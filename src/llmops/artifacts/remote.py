"""Artifact stores reached through fsspec: ``s3://``, ``gs://``, ``memory://``, ``file://``."""

from __future__ import annotations

import shutil
from typing import Any, BinaryIO

from llmops.artifacts.base import CHUNK, ArtifactStore
from llmops.ids import new_id


class FsspecArtifactStore(ArtifactStore):
    """The same layout as the local store, on any fsspec filesystem.

    Object stores make a single PUT visible all at once, so blobs are written to their
    final key there. Filesystems with real files (file://) write a temporary key and
    move it into place.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.url, **storage_options)
        self._base = self._base.rstrip("/")
        self._rename = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                  else (self.fs.protocol,))

    def _full(self, key: str) -> str:
        return f"{self._base}/{key}"

    def _exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._full(key)))

    def _open(self, key: str) -> BinaryIO:
        return self.fs.open(self._full(key), "rb")

    def _size(self, key: str) -> int:
        return int(self.fs.size(self._full(key)))

    def _write(self, key: str, source: BinaryIO) -> None:
        final = self._full(key)
        target = f"{final}.tmp-{new_id()}" if self._rename else final
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        try:
            with self.fs.open(target, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            if self._rename:
                self.fs.mv(target, final)
        except BaseException:
            if self._rename and self.fs.exists(target):
                self.fs.rm(target)
            raise
