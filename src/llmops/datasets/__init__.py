"""Versioned datasets: import, validate, split, read, diff, derive, profile, redact, encrypt.

    from llmops import datasets
    report = datasets.import_dataset("travel-qa", "qa.jsonl", kind="chat",
                                     split="train=0.8,val=0.1,test=0.1")
    rows = datasets.read_rows("dataset:travel-qa@1#test")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmops.datasets.importer import ImportOptions, ImportReport, import_records
from llmops.datasets.readers import JsonlReader, csv_columns, detect_format, read_source
from llmops.datasets.versions import DatasetInfo, DatasetVersion, list_infos, list_stored
from llmops.workspace import Workspace

__all__ = [
    "DatasetInfo",
    "DatasetVersion",
    "ImportReport",
    "derive",
    "diff",
    "export",
    "get_version",
    "head",
    "import_dataset",
    "iter_rows",
    "list_datasets",
    "list_versions",
    "profile",
    "read_rows",
    "redaction_report",
]


def _ws(workspace: Workspace | None) -> Workspace:
    return workspace or Workspace.open()


def _actor(actor: str | None) -> str:
    from llmops.auth.audit import local_actor

    return actor or local_actor()


def import_dataset(name: str, source: Any, *, kind: str, fmt: str | None = None,
                   split: str | dict[str, float] | None = None, seed: int = 42,
                   skip_invalid: bool = False, redact_pii: bool = False,
                   sensitive: bool = False, description: str | None = None,
                   workspace: Workspace | None = None, actor: str | None = None,
                   on_row: Callable[[int], None] | None = None) -> ImportReport:
    """Import a file (JSONL, CSV, Parquet, `save_to_disk` folder) or Python rows.

    Identical content returns the existing version (``report.created`` is False).
    """
    from llmops.datasets.kinds import check_columns, check_kind
    from llmops.datasets.splits import parse_split
    from llmops.refs import check_name

    workspace = _ws(workspace)
    check_name(name, what="dataset name")
    check_kind(kind)
    fractions = parse_split(split) if isinstance(split, str) else split
    info: dict[str, Any] = {"type": "python"}
    if isinstance(source, str | Path):
        path = Path(source)
        fmt = fmt or (detect_format(path) if path.exists() else None)
        if fmt == "csv":
            check_columns(kind, csv_columns(path), path.name)
        info = {"type": "file", "name": path.name, "format": fmt}
        if path.is_file():
            info["size"] = path.stat().st_size
    options = ImportOptions(kind=kind, split=fractions, seed=seed, skip_invalid=skip_invalid,
                            redact_pii=redact_pii, sensitive=sensitive,
                            description=description, source=info)
    limit = workspace.settings.max_line_bytes
    if fmt == "jsonl" and isinstance(source, str | Path) and Path(source).is_file():
        reader = _resumable_reader(workspace, name, Path(source), options, limit)
        options.checkpoint = reader.checkpoint
        records: Iterator[Any] = iter(reader)
    else:
        records = read_source(source, fmt=fmt, max_line_bytes=limit)
    return import_records(workspace, name, records, options, actor=_actor(actor), on_row=on_row)


def _resumable_reader(workspace: Workspace, name: str, path: Path, options: ImportOptions,
                      limit: int) -> JsonlReader:
    """A reader that skips the prefix of `path` an earlier version already imported.

    Each JSONL import records, at every chunk boundary, the bytes read so far and their
    sha256. If the file still starts with those bytes (rows appended, or changes only
    further on), the chunks up to the last matching boundary are reused without parsing
    them again, and reading starts there.
    """
    from llmops.datasets.importer import Resume
    from llmops.datasets.readers import match_prefix
    from llmops.errors import NotFound

    try:
        with workspace.store.read() as conn:
            earlier = list_stored(conn, name)
    except NotFound:
        earlier = []
    for stored in reversed(earlier):
        src = stored.info.source or {}
        if (src.get("options") != options.signature() or src.get("rejected")
                or not src.get("checkpoints")):
            continue
        found = match_prefix(path, src["checkpoints"])
        if found is None:
            continue
        checkpoint, hasher = found
        offset, _, chunks, rows, line, split_counts = checkpoint
        upto = [c for c in src["checkpoints"] if c[0] <= offset]
        options.resume = Resume(chunks=stored.chunks[:chunks], rows=rows,
                                split_counts=split_counts, fields=stored.info.fields,
                                checkpoints=upto)
        return JsonlReader(path, max_line_bytes=limit, start=offset, first_line=line + 1,
                           hasher=hasher)
    return JsonlReader(path, max_line_bytes=limit)


def get_version(ref: str, *, workspace: Workspace | None = None) -> DatasetVersion:
    from llmops.datasets.rows import open_version

    return open_version(_ws(workspace), ref).info


def list_datasets(*, workspace: Workspace | None = None) -> list[DatasetInfo]:
    with _ws(workspace).store.read() as conn:
        return list_infos(conn)


def list_versions(name: str, *, workspace: Workspace | None = None) -> list[DatasetVersion]:
    with _ws(workspace).store.read() as conn:
        return [v.info for v in list_stored(conn, name)]


def iter_rows(ref: str, *, workspace: Workspace | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a version or split, each with ``_id``, streamed chunk by chunk."""
    from llmops.datasets import rows

    return rows.iter_rows(_ws(workspace), ref)


def read_rows(ref: str, *, workspace: Workspace | None = None) -> list[dict[str, Any]]:
    """All rows of a version or split (``dataset:NAME@3#train``), each with ``_id``."""
    return list(iter_rows(ref, workspace=workspace))


def head(ref: str, n: int = 5, *, workspace: Workspace | None = None) -> list[dict[str, Any]]:
    rows = []
    for row in iter_rows(ref, workspace=workspace):
        rows.append(row)
        if len(rows) >= n:
            break
    return rows


def diff(a: str, b: str, *, workspace: Workspace | None = None) -> Any:
    """Rows added, removed and changed from version `a` to `b` (a `DatasetDiff`)."""
    from llmops.datasets.ops import diff_versions

    return diff_versions(_ws(workspace), a, b)


def derive(name: str, source: str, *, where: str | None = None, dedup: str | None = None,
           threshold: float = 0.8, redact_pii: bool = False,
           workspace: Workspace | None = None, actor: str | None = None) -> ImportReport:
    """A new version of `name` from `source` filtered (SQL), deduplicated or redacted."""
    from llmops.datasets.ops import derive_dataset

    return derive_dataset(_ws(workspace), name, source, where=where, dedup=dedup,
                          threshold=threshold, redact_pii=redact_pii, actor=_actor(actor))


def export(ref: str, dest: str | Path, fmt: str = "jsonl", *, with_ids: bool = False,
           workspace: Workspace | None = None) -> Path:
    """Write a version (or split) as JSONL, Parquet or a Hugging Face datasets folder."""
    from llmops.datasets.ops import export_dataset

    return export_dataset(_ws(workspace), ref, dest, fmt, with_ids=with_ids)


def profile(ref: str, *, tokenizer: str | None = None, workspace: Workspace | None = None
            ) -> Any:
    """Profile a version (stored with it); `llmops.datasets.report.render_html` draws it."""
    from llmops.datasets.ops import profile_version

    return profile_version(_ws(workspace), ref, tokenizer=tokenizer)


def redaction_report(ref: str, *, workspace: Workspace | None = None) -> list[dict[str, Any]]:
    """What `--redact-pii` replaced where: row, row id, source line, field, type,
    placeholder and offsets (never the replaced value). Empty if nothing was redacted."""
    import orjson

    workspace = _ws(workspace)
    digest = (get_version(ref, workspace=workspace).source or {}).get("redaction_report")
    if not digest:
        return []
    return [orjson.loads(line) for line in workspace.artifacts.read_bytes(digest).splitlines()]
