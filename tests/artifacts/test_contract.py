"""Every artifact backend passes the same contract."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.artifacts import ArtifactStore, open_artifact_store
from llmops.errors import IntegrityError, InvalidInput, NotFound


@pytest.fixture(params=["local", "memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield open_artifact_store(str(tmp_path / "store"))
    elif request.param == "memory":
        yield open_artifact_store(f"memory://llmops-test-{uuid.uuid4().hex}")
    else:
        yield open_artifact_store(f"file://{tmp_path / 'fsspec-store'}")


def make_tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.bin").write_bytes(os.urandom(3000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma")
    (root / "empty.txt").write_text("")
    return root


def test_bytes_are_addressed_by_their_sha256(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"hello")
    assert ref.digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert (ref.kind, ref.size) == ("file", 5)
    assert store.exists(ref.digest)
    assert store.read_bytes(ref.digest) == b"hello"
    assert store.size(ref.digest) == 5


def test_putting_the_same_content_twice_stores_it_once(store: ArtifactStore,
                                                      tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_bytes(b"same")
    assert store.put(f) == store.put_bytes(b"same")


def test_a_folder_is_one_tree_artifact_that_round_trips(store: ArtifactStore,
                                                       tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    ref = store.put(src)
    assert ref.kind == "tree"
    assert ref.size == 5 + 3000 + 5
    assert store.is_tree(ref.digest) and store.exists(ref.digest)
    assert [e.path for e in store.read_tree(ref.digest)] == [
        "a.txt", "empty.txt", "sub/b.bin", "sub/deeper/c.txt"]
    out = store.get_to(ref.digest, tmp_path / "out")
    for rel in ("a.txt", "empty.txt", "sub/b.bin", "sub/deeper/c.txt"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert not list(out.rglob(".llmops-tmp-*"))


def test_a_tree_digest_never_equals_a_file_digest(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "one"
    src.mkdir()
    (src / "x").write_text("x")
    tree = store.put(src)
    assert tree.digest != store.put_bytes(b"x").digest
    assert not store.is_tree(store.put_bytes(b"x").digest)


def test_get_to_writes_a_single_file(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"payload")
    assert store.get_to(ref.digest, tmp_path / "x" / "y.bin").read_bytes() == b"payload"


def test_unknown_and_malformed_digests(store: ArtifactStore) -> None:
    with pytest.raises(NotFound):
        store.open("sha256:" + "0" * 64)
    for bad in ("md5:abc", "sha256:xyz", "sha256:../../etc/passwd", "", "sha256:" + "A" * 64):
        with pytest.raises(InvalidInput):
            store.exists(bad)


def test_reads_verify_the_hash(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    ref = store.put_bytes(b"original bytes")
    blob = tmp_path / "store" / "objects" / ref.digest[7:9] / ref.digest[9:]
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered bytes")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.read_bytes(ref.digest)
    with pytest.raises(IntegrityError):
        store.get_to(ref.digest, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()  # a corrupt file never appears


def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "store"))
    store.put(make_tree(tmp_path / "src"))
    assert not [p for p in (tmp_path / "store").rglob("*") if ".tmp-" in p.name]
    blobs = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert blobs and all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in blobs)
