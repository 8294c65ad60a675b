"""Containment for every path a user names inside an artifact or a folder.

A relative artifact path is ``/``-separated, with no empty, ``.`` or ``..`` component,
no backslash, no NUL or control character, no percent-escape, and nothing that makes it
absolute. Writers also resolve the final location and check that it stays inside its
root, which stops symlinks leading out.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from llmops.errors import UnsafePath

MAX_PATH_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_relpath(path: str, *, what: str = "path") -> str:
    """Return `path` if it is a safe relative artifact path, else raise UnsafePath."""

    def refuse(reason: str) -> UnsafePath:
        return UnsafePath(
            f"unsafe {what} {path!r}: {reason}",
            errors=[{"field": what, "message": reason}],
        )

    if not isinstance(path, str) or not path:
        raise refuse("must be a non-empty string")
    if len(path) > MAX_PATH_LENGTH:
        raise refuse(f"longer than {MAX_PATH_LENGTH} characters")
    if _CONTROL.search(path):
        raise refuse("contains a NUL or control character")
    if "\\" in path:
        raise refuse("contains a backslash; use '/' between folders")
    if _PERCENT_ESCAPE.search(path):
        raise refuse("contains a percent-escape")
    for form in {path, unicodedata.normalize("NFKC", path)}:
        if form.startswith(("/", "~")) or _DRIVE.match(form):
            raise refuse("must be relative")
        for part in form.split("/"):
            if part in ("", ".", ".."):
                raise refuse("has an empty, '.' or '..' component")
    return path


def contained(root: Path, relpath: str) -> Path:
    """Join `relpath` (checked) onto `root` and verify the real location stays inside."""
    check_relpath(relpath)
    root = root.resolve()
    target = (root / relpath).resolve()
    if not target.is_relative_to(root):
        raise UnsafePath(f"unsafe path {relpath!r}: it leads outside {root} through a symlink")
    return target


def folder_files(folder: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """(relative path, file) for every file under `folder`, sorted, paths checked.

    A symlink leading outside `folder` is refused; one inside it is stored as what it
    points to.
    """
    root = Path(folder).resolve()
    files: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(dirnames) + sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise UnsafePath(f"unsafe path {rel!r}: a symlink leading outside {root}")
            if name in filenames:
                files.append((check_relpath(rel), path))
    return files
