"""Paths and names that try to leave their root are refused, and nothing is touched."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from llmops.artifacts import check_relpath, open_artifact_store
from llmops.artifacts.base import TreeEntry
from llmops.errors import UnsafePath

# At least 50 ways to try to get out; tests/server reuses this corpus over HTTP.
BAD_PATHS = [
    "../x", "../../etc/passwd", "a/../../b", "a/../b", "..", ".", "./a", "a/./b", "a/..",
    "/etc/passwd", "/", "//server/share", "~/x", "~root/.ssh", "C:\\Windows", "C:/Windows",
    "c:x", "..\\x", "a\\..\\..\\b", "\\\\server\\share", "a\\b",
    "%2e%2e%2f", "%2e%2e/x", "..%2fx", "%2e%2e%5cx", "%252e%252e%252f", "a/%2e%2e/b",
    "%2E%2E%2F", "%2fetc%2fpasswd", "%00", "x%00.txt",
    "x\x00.txt", "\x00", "a/\x00/b", "a\nb", "a\rb", "a\tb", "\x1b[31m", "a\x7fb",
    "a//b", "a/", "/a/", "", "a/b/", "..../", "．．/x", "a/．．/b", "／etc", "..;/x/../..",
    "../" * 20 + "etc/passwd", "x" * 1100,
]


def test_the_corpus_has_at_least_50_paths() -> None:
    assert len(set(BAD_PATHS)) >= 50


@pytest.mark.parametrize("path", BAD_PATHS)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePath):
        check_relpath(path)


@pytest.mark.parametrize("path", ["a", "a.txt", "sub/b.bin", "a..b", "...", "v1.0/model",
                                  "with space/x", "ünïcode/名前.txt"])
def test_ordinary_paths_are_accepted(path: str) -> None:
    assert check_relpath(path) == path


def snapshot(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


def test_a_symlink_leading_out_of_a_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("do not store me")
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok.txt").write_text("fine")
    os.symlink(outside, src / "link.txt")
    store = open_artifact_store(str(tmp_path / "store"))
    with pytest.raises(UnsafePath, match="symlink"):
        store.put(src)
    assert not store.exists("sha256:" + hashlib.sha256(b"do not store me").hexdigest())
    os.unlink(src / "link.txt")
    os.symlink(tmp_path, src / "dir-link")
    with pytest.raises(UnsafePath, match="symlink"):
        store.put(src)


def test_a_symlink_inside_the_folder_is_stored_as_its_target(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "real.txt").write_text("real")
    os.symlink(src / "real.txt", src / "alias.txt")
    store = open_artifact_store(str(tmp_path / "store"))
    tree = store.read_tree(store.put(src).digest)
    assert {e.path for e in tree} == {"alias.txt", "real.txt"}


@pytest.mark.parametrize("path", ["../escaped.txt", "a/../../escaped.txt", "/tmp/escaped.txt",
                                  "..\\escaped.txt", "%2e%2e%2fescaped.txt"])
def test_a_crafted_manifest_cannot_write_outside_the_destination(tmp_path: Path,
                                                                path: str) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    blob = store.put_bytes(b"evil")
    body = json.dumps({"format": "llmops.tree/1",
                       "files": [{"path": path, "digest": blob.digest, "size": 4}]}).encode()
    hexdigest = hashlib.sha256(b"tree\0" + body).hexdigest()
    store._write(store._tree_key(hexdigest), io.BytesIO(body))  # as a tampered store would
    before = snapshot(tmp_path)
    with pytest.raises(UnsafePath):
        store.get_to("sha256:" + hexdigest, tmp_path / "dest")
    assert snapshot(tmp_path) - before <= {str(tmp_path / "dest")}
    assert not (tmp_path / "escaped.txt").exists()


def test_get_to_does_not_follow_a_symlink_in_the_destination(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    src = tmp_path / "src" / "sub"
    src.mkdir(parents=True)
    (src / "f.txt").write_text("x")
    tree = store.put(tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(UnsafePath, match="symlink"):
        store.get_to(tree.digest, dest)
    assert list(outside.iterdir()) == []


def test_put_manifest_refuses_bad_entries(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    blob = store.put_bytes(b"x")
    for bad in ("../x", "/abs", "a\\b"):
        with pytest.raises(UnsafePath):
            store.put_manifest([TreeEntry(bad, blob.digest, 1)])
