"""Content-addressed artifact storage: `open_artifact_store(url)` picks the backend."""

from __future__ import annotations

from llmops.artifacts.base import ArtifactRef, ArtifactStore, TreeEntry, parse_digest
from llmops.artifacts.paths import check_relpath, contained, folder_files

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "TreeEntry",
    "check_relpath",
    "contained",
    "folder_files",
    "open_artifact_store",
    "parse_digest",
]


def open_artifact_store(url: str) -> ArtifactStore:
    """A local folder for a plain path; fsspec for any ``scheme://`` URL."""
    if "://" in url:
        from llmops.artifacts.remote import FsspecArtifactStore

        return FsspecArtifactStore(url)
    from llmops.artifacts.local import LocalArtifactStore

    return LocalArtifactStore(url)
