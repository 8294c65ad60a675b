"""`llmops runs list|show|compare|metric|download`: tracked runs, local or remote."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmops.cli.output import console, duration, number, print_json, when

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Inspect tracked runs.", context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")
STATUS_STYLE = {"running": "cyan", "finished": "green", "failed": "red", "interrupted": "yellow"}


def _run_id(text: str) -> str:
    from llmops.refs import parse_ref

    return parse_ref(text, default_kind="run").name


@app.command("list", context_settings=HELP)
def list_(
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Only this one."),
    status: str | None = typer.Option(None, "--status", help="running, finished, failed "
                                      "or interrupted."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    json_: bool = JSON,
) -> None:
    """List runs, newest first."""
    from llmops.tracking import RunStatus, open_tracking

    status_ = RunStatus(status) if status else None
    found = open_tracking().list_runs(experiment=experiment, status=status_, limit=limit)
    if json_:
        print_json(found)
        return
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=26)
    for column in ("experiment", "name", "status", "started", "duration", "metrics"):
        table.add_column(column, no_wrap=column != "metrics")
    for r in found:
        shown = ", ".join(f"{k}={number(m.value)}" for k, m in sorted(r.metrics.items())[:4])
        style = STATUS_STYLE.get(r.status.value, "")
        table.add_row(r.id, r.experiment, r.name, f"[{style}]{r.status.value}[/{style}]",
                      when(r.started_at), duration(r.duration_ms), shown)
    console.print(table)


@app.command("show", context_settings=HELP)
def show(run: str = typer.Argument(..., help="Run id or run:ID."), json_: bool = JSON) -> None:
    """Show one run: status, params, latest metrics, tags and artifacts."""
    from llmops.tracking import open_tracking

    r = open_tracking().get_run(_run_id(run))
    if json_:
        print_json(r)
        return
    style = STATUS_STYLE.get(r.status.value, "")
    console.print(f"[bold]run {r.id}[/bold]  {r.experiment}/{r.name}")
    live = f" (live, last heartbeat {when(r.heartbeat_at)})" if r.status == "running" else ""
    console.print(f"status    [{style}]{r.status.value}[/{style}]{live}")
    console.print(f"started   {when(r.started_at)} UTC   duration {duration(r.duration_ms)}")
    console.print(f"by        {r.created_by} on {r.host or '-'} (pid {r.pid or '-'})")
    if r.parent_id:
        console.print(f"parent    {r.parent_id}")
    if r.error:
        console.print(f"error     [red]{r.error}[/red]")
    for title, values in (("params", r.params), ("tags", r.tags)):
        if values:
            table = Table(title, "value", box=None, title_justify="left")
            for k, v in sorted(values.items()):
                table.add_row(k, v)
            console.print(table)
    if r.metrics:
        table = Table("metric", "last value", "step", "at", box=None)
        for k, m in sorted(r.metrics.items()):
            table.add_row(k, number(m.value), str(m.step), when(m.timestamp))
        console.print(table)
    if r.artifacts:
        table = Table("artifact", "kind", "size", "digest", box=None)
        for a in r.artifacts:
            table.add_row(a.name, a.kind, f"{a.size:,} B", a.digest[:19] + "...")
        console.print(table)


@app.command("compare", context_settings=HELP)
def compare(runs: list[str] = typer.Argument(..., help="Two or more run ids."),
            json_: bool = JSON) -> None:
    """Params and latest metrics of several runs side by side; differing rows marked."""
    from llmops.errors import InvalidInput
    from llmops.tracking import open_tracking

    if len(runs) < 2:
        raise InvalidInput("compare needs at least two runs")
    tracking = open_tracking()
    found = [tracking.get_run(_run_id(r)) for r in runs]
    if json_:
        print_json({"runs": [r.id for r in found],
                    "params": {k: [r.params.get(k) for r in found]
                               for k in sorted({k for r in found for k in r.params})},
                    "metrics": {k: [r.metrics[k].value if k in r.metrics else None
                                    for r in found]
                                for k in sorted({k for r in found for k in r.metrics})}})
        return
    table = Table("", *[f"{r.name}\n{r.id[-8:]}" for r in found], box=None)
    for kind, rows in (("param", {k for r in found for k in r.params}),
                       ("metric", {k for r in found for k in r.metrics})):
        for k in sorted(rows):
            if kind == "param":
                cells = [r.params.get(k, "-") for r in found]
            else:
                cells = [number(r.metrics[k].value) if k in r.metrics else "-" for r in found]
            mark = "*" if len(set(cells)) > 1 else " "
            table.add_row(f"{mark} {kind} {k}", *cells)
    console.print(table)
    console.print("* differs between runs")


@app.command("metric", context_settings=HELP)
def metric(run: str = typer.Argument(..., help="Run id."),
           key: str = typer.Argument(..., help="Metric key."), json_: bool = JSON) -> None:
    """Print the whole history of one metric."""
    from llmops.tracking import open_tracking

    history = open_tracking().metric_history(_run_id(run), key)
    if json_:
        print_json(history)
        return
    table = Table("step", key, "at", box=None)
    for step, value, ts in history.points():
        table.add_row(str(step), number(value), when(ts))
    console.print(table)


@app.command("download", context_settings=HELP)
def download(run: str = typer.Argument(..., help="Run id."),
             name: str = typer.Argument(..., help="Artifact name."),
             dest: Path = typer.Argument(..., help="Where to write the file or folder.")) -> None:
    """Download an artifact of a run, verifying every byte."""
    from llmops.tracking import open_tracking

    path = open_tracking().download_artifact(_run_id(run), name, dest)
    console.print(f"wrote {path}")
