"""`llmops datasets ...`: import, inspect, diff, derive, export and profile datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmops.cli.output import console, err_console, print_json, when

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Versioned datasets: import, inspect, diff, derive, export, profile.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _workspace() -> Any:
    from llmops.workspace import Workspace

    return Workspace.open()


def _actor() -> str:
    from llmops.auth.audit import local_actor

    return local_actor()


def _report(report: Any, json_: bool) -> None:
    if json_:
        print_json(report)
        return
    v = report.version
    verb = "Created" if report.created else "Unchanged: identical content is already"
    console.print(f"{verb} {v.ref} ({v.kind}, {v.row_count:,} rows, {v.byte_size:,} bytes "
                  f"stored{', encrypted' if v.encrypted else ''})")
    if v.splits:
        console.print("splits: " + ", ".join(f"{k}={n:,}" for k, n in v.splits["counts"].items()))
    if report.created:
        console.print(f"new bytes written: {report.stored_bytes:,} "
                      f"(chunks reused: {report.reused_chunks})")
    if report.rejected:
        console.print(f"[yellow]skipped {report.rejected:,} invalid record(s):[/yellow]")
        for problem in report.problems:
            console.print(f"  {problem}", soft_wrap=True)
    for warning, count in report.warnings.items():
        console.print(f"[yellow]warning:[/yellow] {count:,} row(s) with {warning}")
    for kind, count in report.redactions.items():
        console.print(f"redacted {count:,} {kind} value(s)")


class _Progress:
    """A row counter on stderr (rich), updated every few thousand rows."""

    def __init__(self, quiet: bool, label: str) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = None if quiet else Progress(
            SpinnerColumn(), TextColumn("{task.description}"),
            TextColumn("{task.completed:,} rows"), TimeElapsedColumn(), console=err_console,
            transient=True)
        self.label = label

    def __enter__(self) -> Any:
        if self.progress is None:
            return None
        self.progress.start()
        task = self.progress.add_task(self.label, total=None)
        progress = self.progress

        def on_row(n: int) -> None:
            if n % 5000 == 0:
                progress.update(task, completed=n)

        return on_row

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command("import", context_settings=HELP)
def import_(
    name: str = typer.Argument(..., help="Dataset name, e.g. travel-qa."),
    source: Path = typer.Argument(..., help="A .jsonl, .csv or .parquet file, or a "
                                  "Hugging Face `save_to_disk` folder."),
    kind: str = typer.Option(..., "--kind", help="text, instruction, chat, preference or eval."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl, csv, parquet or hf "
                                   "(default: from the file name)"),
    split: str | None = typer.Option(None, "--split", help="e.g. train=0.8,val=0.1,test=0.1"),
    seed: int = typer.Option(42, "--seed", help="Seed of the split assignment."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid",
                                      help="Import the valid rows, report the rest."),
    redact_pii: bool = typer.Option(False, "--redact-pii", help="Replace PII by placeholders."),
    sensitive: bool = typer.Option(False, "--sensitive",
                                   help="Encrypt at rest (needs LLMOPS_ENCRYPTION_KEY)."),
    description: str | None = typer.Option(None, "--description"),
    quiet: bool = QUIET,
    json_: bool = JSON,
) -> None:
    """Import a file as a new version (identical content returns the existing one)."""
    from llmops.datasets import import_dataset

    with _Progress(quiet or json_, f"importing {source.name}") as on_row:
        report = import_dataset(name, source, kind=kind, fmt=fmt, split=split, seed=seed,
                                skip_invalid=skip_invalid, redact_pii=redact_pii,
                                sensitive=sensitive, description=description,
                                workspace=_workspace(), actor=_actor(), on_row=on_row)
    _report(report, json_)


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List datasets with their number of versions."""
    from llmops.datasets import list_datasets

    found = list_datasets(workspace=_workspace())
    if json_:
        print_json(found)
        return
    table = Table("name", "versions", "latest", "created", box=None)
    for d in found:
        table.add_row(d.name, str(d.versions), str(d.latest or "-"), when(d.created_at))
    console.print(table)


@app.command("versions", context_settings=HELP)
def versions(name: str = typer.Argument(..., help="Dataset name."), json_: bool = JSON) -> None:
    """List the versions of a dataset."""
    from llmops.datasets import list_versions

    found = list_versions(name, workspace=_workspace())
    if json_:
        print_json(found)
        return
    table = Table("version", "kind", "rows", "bytes", "hash", "created", "source", box=None)
    for v in found:
        source = (v.source or {}).get("name") or (v.source or {}).get("from") or "-"
        table.add_row(str(v.version), v.kind, f"{v.row_count:,}", f"{v.byte_size:,}",
                      v.content_hash[:19], when(v.created_at), str(source))
    console.print(table)


@app.command("show", context_settings=HELP)
def show(ref: str = typer.Argument(..., help="dataset:NAME[@VERSION]"), json_: bool = JSON) -> None:
    """Show a version: kind, rows, splits, fields, source, hash."""
    from llmops.datasets import get_version

    v = get_version(ref, workspace=_workspace())
    if json_:
        print_json(v)
        return
    console.print(f"[bold]{v.ref}[/bold]  {v.kind}, {v.row_count:,} rows, "
                  f"{v.byte_size:,} bytes{' (encrypted)' if v.encrypted else ''}")
    console.print(f"hash      {v.content_hash}")
    console.print(f"fields    {', '.join(v.fields)}")
    if v.splits:
        console.print("splits    " + ", ".join(f"{k}={n:,}" for k, n in v.splits["counts"].items())
                      + f" (seed {v.splits['seed']})")
    source = {k: val for k, val in (v.source or {}).items()
              if k not in ("checkpoints", "options")}
    console.print(f"source    {json.dumps(source) if source else '-'}")
    console.print(f"created   {when(v.created_at)} UTC by {v.created_by}")


@app.command("head", context_settings=HELP)
def head(ref: str = typer.Argument(..., help="dataset:NAME[@VERSION][#SPLIT]"),
         n: int = typer.Option(5, "-n", min=1, max=1000, help="How many rows."),
         json_: bool = JSON) -> None:
    """Print the first rows."""
    from llmops.datasets import head as head_rows

    rows = head_rows(ref, n, workspace=_workspace())
    if json_:
        print_json(rows)
        return
    for row in rows:
        console.print_json(json.dumps(row, ensure_ascii=False))


@app.command("export", context_settings=HELP)
def export(ref: str = typer.Argument(..., help="dataset:NAME[@VERSION][#SPLIT]"),
           dest: Path = typer.Argument(..., help="Output file or folder."),
           fmt: str = typer.Option("jsonl", "--format", help="jsonl, parquet or hf."),
           with_ids: bool = typer.Option(False, "--with-ids", help="Keep the _id of each row."),
           json_: bool = JSON) -> None:
    """Write a version as JSONL, Parquet or a Hugging Face datasets folder."""
    from llmops.datasets.ops import export_dataset

    path = export_dataset(_workspace(), ref, dest, fmt, with_ids=with_ids)
    if json_:
        print_json({"path": str(path), "format": fmt})
    else:
        console.print(f"wrote {path}")


@app.command("diff", context_settings=HELP)
def diff(a: str = typer.Argument(..., help="The older version."),
         b: str = typer.Argument(..., help="The newer version."), json_: bool = JSON) -> None:
    """Rows added, removed and changed between two versions, with samples."""
    from llmops.datasets.ops import diff_versions

    d = diff_versions(_workspace(), a, b)
    if json_:
        print_json(d)
        return
    console.print(f"{d.a} ({d.rows_a:,} rows) -> {d.b} ({d.rows_b:,} rows)")
    console.print(f"[green]+{d.added:,} added[/green]  [red]-{d.removed:,} removed[/red]  "
                  f"[yellow]~{d.changed:,} changed[/yellow]  {d.unchanged:,} unchanged")
    for what, rows in d.samples.items():
        for row in rows[:3]:
            console.print(f"{what}: {json.dumps(row, ensure_ascii=False)[:300]}", soft_wrap=True)


@app.command("derive", context_settings=HELP)
def derive(
    name: str = typer.Argument(..., help="The dataset that gets the new version."),
    source: str = typer.Option(..., "--from", help="dataset:NAME[@VERSION][#SPLIT]"),
    where: str | None = typer.Option(None, "--where", help="SQL condition over the fields "
                                     "(duckdb), e.g. \"length(response) > 20\"."),
    dedup: str | None = typer.Option(None, "--dedup", help="exact or near (MinHash)."),
    threshold: float = typer.Option(0.8, "--threshold", help="Jaccard similarity for --dedup "
                                    "near."),
    redact_pii: bool = typer.Option(False, "--redact-pii", help="Replace PII by placeholders."),
    json_: bool = JSON,
) -> None:
    """Create a version from another: filter, deduplicate, redact. Lineage is recorded."""
    from llmops.datasets.ops import derive_dataset

    report = derive_dataset(_workspace(), name, source, where=where, dedup=dedup,
                            threshold=threshold, redact_pii=redact_pii, actor=_actor())
    _report(report, json_)


@app.command("from-traces", context_settings=HELP)
def from_traces(
    name: str = typer.Argument(..., help="The dataset that gets the new version."),
    kind: str = typer.Option(..., "--kind", help="sft, preference or eval."),
    where: str = typer.Option("", "--where", help="Which traces, e.g. \"route == 'travel'\"."),
    since: str | None = typer.Option(None, "--since", help="Only traces this recent, e.g. 7d."),
    min_score: int = typer.Option(4, "--min-score", help="The lowest 1-5 score that counts "
                                  "as good feedback (sft)."),
    no_redact: bool = typer.Option(False, "--no-redact", help="Keep PII (redacted by "
                                   "default)."),
    json_: bool = JSON,
) -> None:
    """A version from traces and their feedback: corrections and good answers (sft),
    corrected or A/B-judged pairs (preference), corrections as references (eval).
    Lineage points at every trace and feedback used."""
    from llmops.feedback.datasets import from_traces as build

    report = build(_workspace(), name, kind=kind, where=where or None, since=since,
                   min_score=min_score, redact=not no_redact, actor=_actor())
    _report(report, json_)
    if not json_:
        console.print(f"from {len(report.trace_ids):,} trace(s) and "
                      f"{len(report.feedback_ids):,} feedback row(s)")


@app.command("profile", context_settings=HELP)
def profile(
    ref: str = typer.Argument(..., help="dataset:NAME[@VERSION][#SPLIT]"),
    tokenizer: str | None = typer.Option(None, "--tokenizer", help="A tokenizer folder or "
                                         "Hugging Face id (default: words and punctuation)"),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML "
                                     "report with charts."),
    quiet: bool = QUIET,
    json_: bool = JSON,
) -> None:
    """Exploratory analysis: lengths, turns, roles, duplicates, n-grams, PII."""
    from rich.progress import track

    from llmops.datasets.ops import profile_version
    from llmops.datasets.profile import render_summary_table
    from llmops.datasets.report import render_html

    def progress(rows: Any) -> Any:
        if quiet or json_:
            return rows
        return track(rows, description="profiling", console=err_console, transient=True)

    result = profile_version(_workspace(), ref, tokenizer=tokenizer, progress=progress)
    if html is not None:
        html.write_text(render_html(result, title=ref), encoding="utf-8")
    if json_:
        print_json(result)
        return
    console.print(render_summary_table(result))
    if html is not None:
        console.print(f"wrote {html}")
