"""Streaming readers for every import source. Each yields ``(where, row)`` where `where`
names the record for error messages (``data.jsonl:42``), and never holds the file in
memory: lines longer than the limit are skipped over in small reads, not loaded.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from llmops.errors import InvalidInput, NotFound

FORMATS = ("jsonl", "csv", "parquet", "hf")
# CSV cells of these fields that hold JSON lists (chat messages) are parsed as JSON
_JSON_FIELDS = ("messages", "prompt", "chosen", "rejected")


@dataclass
class BadRecord:
    """A record that could not be read at all (as opposed to one that fails its kind)."""

    where: str
    message: str


Record = tuple[str, Any]  # (where, row) or (where, BadRecord)


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    for fmt, suffixes in (("jsonl", (".jsonl", ".json", ".ndjson")), ("csv", (".csv",)),
                          ("parquet", (".parquet", ".pq"))):
        if suffix in suffixes:
            return fmt
    raise InvalidInput(f"cannot tell the format of {path.name}: name it .jsonl, .csv or "
                       ".parquet, pass --format, or give a Hugging Face datasets folder")


def read_source(source: Any, *, fmt: str | None = None, max_line_bytes: int) -> Iterator[Record]:
    """Rows from a path (JSONL, CSV, Parquet, `save_to_disk` folder) or Python objects."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise NotFound(f"no file or folder at {path}")
        fmt = fmt or detect_format(path)
        if fmt == "jsonl":
            return iter(JsonlReader(path, max_line_bytes=max_line_bytes))
        if fmt == "csv":
            return read_csv(path)
        if fmt == "parquet":
            return read_parquet(path)
        if fmt == "hf":
            return read_hf_folder(path)
        raise InvalidInput(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    return read_python(source)


class JsonlReader:
    """JSON lines, from byte `start` on, keeping the offset and a running sha256 of every
    byte consumed, so an import can record checkpoints of the file it has read."""

    def __init__(self, path: Path, *, max_line_bytes: int, start: int = 0,
                 first_line: int = 1, hasher: Any = None) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self.offset = start
        self.line = first_line - 1
        self.hasher = hasher or hashlib.sha256()

    def checkpoint(self) -> tuple[int, str, int]:
        """(bytes consumed, sha256 of them, lines consumed)."""
        return self.offset, self.hasher.hexdigest(), self.line

    def __iter__(self) -> Iterator[Record]:
        name, limit, update = self.path.name, self.max_line_bytes, self.hasher.update
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while True:
                line = f.readline(limit + 1)
                if not line:
                    return
                self.line += 1
                self.offset += len(line)
                update(line)
                where = f"{name}:{self.line}"
                if len(line) > limit and not line.endswith(b"\n"):
                    while (rest := f.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                        self.offset += len(rest)
                        update(rest)
                    self.offset += len(rest)
                    update(rest)
                    yield where, BadRecord(where, f"line is longer than the limit of {limit} "
                                                  "bytes (LLMOPS_MAX_LINE_BYTES)")
                    continue
                if not line.strip():
                    continue
                try:
                    yield where, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    reason = str(exc).split(":")[0] if "UTF-8" in str(exc) else \
                        f"invalid JSON ({exc})"
                    yield where, BadRecord(where, reason)


def match_prefix(path: Path, checkpoints: list[list[Any]]) -> tuple[list[Any], Any] | None:
    """The last checkpoint (``[offset, sha256, ...]``) whose bytes `path` still starts with,
    and a sha256 of those bytes to continue from; None if not even the first matches."""
    hasher = hashlib.sha256()
    matched: tuple[list[Any], Any] | None = None
    position = 0
    with open(path, "rb") as f:
        for checkpoint in checkpoints:
            offset, digest = checkpoint[0], checkpoint[1]
            while position < offset:
                block = f.read(min(8 * 1024 * 1024, offset - position))
                if not block:
                    return matched
                hasher.update(block)
                position += len(block)
            if hasher.hexdigest() != digest:
                return matched
            matched = (checkpoint, hasher.copy())
    return matched


def read_csv(path: Path) -> Iterator[Record]:
    name = path.name
    with open(path, encoding="utf-8", errors="strict", newline="") as f:
        try:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            if not header:
                return
            for number, row in enumerate(reader, start=2):
                if None in row:
                    yield f"{name}:{number}", BadRecord(f"{name}:{number}",
                                                        "more cells than header columns")
                    continue
                for key in _JSON_FIELDS:
                    cell = row.get(key)
                    if isinstance(cell, str) and cell.lstrip().startswith("["):
                        try:
                            row[key] = json.loads(cell)
                        except ValueError:
                            pass  # left as text; the kind check reports it
                yield f"{name}:{number}", {k: v for k, v in row.items() if v is not None}
        except UnicodeDecodeError as exc:
            yield f"{name}", BadRecord(name, f"is not valid UTF-8 (byte {exc.start})")


def csv_columns(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return next(csv.reader(f), [])


def read_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            number += 1
            yield f"{path.name}:row {number}", row


def read_hf_folder(path: Path) -> Iterator[Record]:
    """A folder written by `datasets.Dataset.save_to_disk`."""
    if (path / "dataset_dict.json").exists():
        splits = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise InvalidInput(f"{path} holds several splits ({', '.join(splits)}): import one "
                           f"folder, e.g. {path / splits[0]}" if splits else f"{path} is empty")
    if not (path / "state.json").exists():
        raise InvalidInput(f"{path} is not a Hugging Face datasets folder (no state.json)")
    try:
        from datasets import load_from_disk
    except ImportError:
        raise InvalidInput("importing a datasets folder needs the hf extra: "
                           "pip install 'llmops[hf]'") from None
    dataset = load_from_disk(str(path))
    for number, row in enumerate(dataset, start=1):
        yield f"{path.name}:row {number}", row


def read_python(source: Any) -> Iterator[Record]:
    """A list (or iterable) of dicts, a pandas DataFrame or a pyarrow Table."""
    if hasattr(source, "to_batches"):  # pyarrow Table
        rows: Iterable[Any] = (r for b in source.to_batches(8192) for r in b.to_pylist())
    elif hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        rows = source.to_dict(orient="records")
    else:
        rows = source
    for number, row in enumerate(rows, start=1):
        yield f"row {number}", row

