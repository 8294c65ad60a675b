"""`llmops traces list|show|export`: gateway traces and the application spans around them.

With LLMOPS_SERVER_URL (and LLMOPS_API_KEY, a read key) set, they read the server's
/api/v1/traces instead of the local database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.tree import Tree

from llmops.cli.output import console, print_json, when

if TYPE_CHECKING:
    from llmops.traces.models import Span

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Query, show and export traces (gateway requests and app spans).",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
MODEL = typer.Option(None, "--model", help="Registered model name.")
ROUTE = typer.Option(None, "--route", help="Gateway route (public model name).")
SINCE = typer.Option(None, "--since", help="Only newer traces: 30m, 1h, 7d or ISO 8601.")
WHERE = typer.Option(None, "--where", help='A filter, e.g. \'status >= 400 and '
                     'latency_ms > 500\' or \'output contains "sorry"\'.')
SEARCH = typer.Option(None, "--search", help="Words (or \"a phrase\") to find in inputs "
                      "or outputs.")


@contextmanager
def _source() -> Iterator[Any]:
    """The server's HTTP API when LLMOPS_SERVER_URL is set, else the local workspace."""
    from llmops.config import get_settings

    settings = get_settings()
    if settings.server_url:
        from llmops.api_client import ApiClient

        api = ApiClient.from_settings(settings)
        try:
            yield api
        finally:
            api.client.close()
        return
    from llmops.workspace import Workspace

    yield Workspace.open()


def _short(text: Any, size: int = 60) -> str:
    if isinstance(text, list) and text and isinstance(text[-1], dict):
        text = text[-1].get("content", "")
    value = " ".join(str(text or "").split())
    return value if len(value) <= size else value[:size - 1] + "…"


@app.command("list", context_settings=HELP)
def list_(model: str | None = MODEL, route: str | None = ROUTE, since: str | None = SINCE,
          where: str | None = WHERE, search: str | None = SEARCH,
          limit: int = typer.Option(50, "--limit", min=1, max=1000),
          cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of a "
                                            "previous --json page."),
          json_: bool = JSON) -> None:
    """List traces, newest first."""
    from llmops.traces.store import list_traces

    with _source() as source:
        page = list_traces(source, model=model, route=route, since=since, where=where,
                           search=search, limit=limit, cursor=cursor)
    if json_:
        print_json(page)
        return
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=26)
    for column in ("at", "route", "model", "status", "latency", "tokens", "input", "output"):
        table.add_column(column, no_wrap=column not in ("input", "output"))
    for t in page.items:
        style = "red" if t.status >= 400 else "green"
        tokens = f"{t.prompt_tokens or 0}+{t.completion_tokens or 0}"
        table.add_row(t.id, when(t.created_at), t.route or "-", t.model or "-",
                      f"[{style}]{t.status}[/{style}]", f"{t.latency_ms:.0f}ms", tokens,
                      _short(t.input), _short(t.output if t.output is not None else t.error))
    console.print(table)
    if page.next_cursor:
        console.print(f"[dim]more: --cursor {page.next_cursor}[/dim]")


def _label(s: Span) -> str:
    style = "red" if s.status == "error" else "green" if s.status == "ok" else "white"
    extra = []
    if s.gateway_trace_id:
        extra.append(f"trace {s.gateway_trace_id}")
    if s.model:
        extra.append(s.model)
    if s.input_tokens is not None or s.output_tokens is not None:
        extra.append(f"{s.input_tokens or 0}+{s.output_tokens or 0} tokens")
    tail = f"  [dim]{', '.join(extra)}[/dim]" if extra else ""
    return (f"[bold]{s.name}[/bold]  {s.duration_ms:.1f}ms  [{style}]{s.status}[/{style}]"
            f"  [dim]{s.span_id}[/dim]{tail}")


def _grow(node: Tree, s: Span) -> None:
    branch = node.add(_label(s))
    for child in s.children:
        _grow(branch, child)


@app.command("show", context_settings=HELP)
def show(trace_id: str = typer.Argument(..., help="A trace id, or a 32-hex OpenTelemetry "
                                        "trace id."), json_: bool = JSON) -> None:
    """Show a trace with its application spans nested as a tree."""
    from llmops.traces.store import get_trace

    with _source() as source:
        detail = get_trace(source, trace_id)
    if json_:
        print_json(detail)
        return
    t = detail.trace
    if t is not None:
        style = "red" if t.status >= 400 else "green"
        console.print(f"[bold]trace {t.id}[/bold]  {when(t.created_at)} UTC")
        console.print(f"route     {t.route or '-'}   model {t.model or '-'}   "
                      f"target {t.target or '-'}")
        console.print(f"status    [{style}]{t.status}[/{style}]   latency "
                      f"{t.latency_ms:.0f}ms   tokens {t.prompt_tokens or 0}+"
                      f"{t.completion_tokens or 0}")
        if t.error:
            console.print(f"error     [red]{t.error}[/red]")
        console.print(f"input     {_short(t.input, 200)}", soft_wrap=True)
        console.print(f"output    {_short(t.output, 200)}", soft_wrap=True)
    if detail.spans:
        tree = Tree(f"otel trace {detail.otel_trace_id}")
        for root in detail.tree:
            _grow(tree, root)
        console.print(tree)


@app.command("export", context_settings=HELP)
def export(fmt: str = typer.Option(..., "--format", help="jsonl or parquet."),
           out: Path = typer.Option(..., "--out", help="File to write."),
           model: str | None = MODEL, route: str | None = ROUTE, since: str | None = SINCE,
           where: str | None = WHERE, search: str | None = SEARCH,
           quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
           json_: bool = JSON) -> None:
    """Export matching traces to JSONL or Parquet, newest first."""
    from llmops.cli.progress import step_progress
    from llmops.traces.store import count_traces, export_traces

    filters: dict[str, Any] = {"model": model, "route": route, "since": since,
                               "where": where, "search": search}
    from llmops.api_client import ApiClient

    with _source() as source:
        total = 0 if isinstance(source, ApiClient) else count_traces(source, **filters)
        with step_progress("exporting traces", quiet=quiet or json_) as update:
            count = export_traces(source, out, format=fmt,
                                  progress=lambda n: update(n, max(total, n)), **filters)
    if json_:
        print_json({"path": str(out), "format": fmt, "traces": count})
    else:
        console.print(f"wrote {count} traces to {out}")
