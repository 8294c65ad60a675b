"""`llmops monitor ...`: drift reports, monitors on a schedule, their alerts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from llmops.cli.output import console, number, print_json, when

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Drift between traffic and a reference; monitors that alert.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")

if TYPE_CHECKING:
    from llmops.monitoring.models import DriftReport
    from llmops.monitoring.monitors import MonitorStore


def _store() -> MonitorStore:
    from llmops.monitoring.monitors import MonitorStore
    from llmops.workspace import Workspace

    return MonitorStore(Workspace.open())


def _print_report(report: DriftReport) -> None:
    color = {"drift": "red", "no drift": "green"}.get(report.verdict, "yellow")
    console.print(f"[bold]{report.target}[/bold]: [{color}]{report.verdict}[/{color}]"
                  + (f" ({', '.join(report.drifted)})" if report.drifted else ""))
    console.print(f"reference: {report.reference}\ncurrent:   {report.current}\n"
                  f"embeddings: {report.embedding_backend}")
    table = Table("check", "test", "statistic", "p-value", "threshold", "reference",
                  "current", "n ref", "n cur", "drifted")
    for c in report.checks:
        def fmt(value: float | None) -> str:
            return "-" if value is None else number(value)

        status = f"[dim]skipped: {c.skipped}[/dim]" if c.skipped else (
            "[red]yes[/red]" if c.drifted else "no")
        table.add_row(c.name, c.test, fmt(c.statistic), fmt(c.p_value), fmt(c.threshold),
                      fmt(c.reference_value), fmt(c.value), str(c.n_reference),
                      str(c.n_current), status)
    console.print(table)


@app.command("drift", context_settings=HELP)
def drift(model: str | None = typer.Option(None, "--model", help="A registered model name: "
                                           "its traces."),
          route: str | None = typer.Option(None, "--route", help="A gateway route: its "
                                           "traces."),
          reference: str | None = typer.Option(None, "--reference", help="dataset:NAME@V"
                                               "[#SPLIT] to compare against."),
          reference_window: str | None = typer.Option(
              None, "--reference-window", help="Compare against the traces of this long "
              "before the window, e.g. 7d (default: 7d when no --reference)."),
          window: str = typer.Option("24h", "--window", help="The current window, ending "
                                     "now."),
          where: str | None = typer.Option(None, "--where", help="An extra trace filter, as "
                                           "in `llmops traces list --where`."),
          threshold: float = typer.Option(0.01, "--threshold", help="Significance level for "
                                          "all checks together (Holm)."),
          embeddings: str = typer.Option("auto", "--embeddings", help="auto (sentence "
                                         "embeddings when installed), sentence or tfidf."),
          html: Path | None = typer.Option(None, "--html", help="Write a self-contained "
                                           "HTML report here."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
          json_: bool = JSON) -> None:
    """Compare a window of a model's (or route's) traces with a dataset version or an
    earlier window: lengths, tokens, embeddings, topics, refusals, feedback, latency and
    errors, each with a test, its p-value and a threshold, and a verdict."""
    from llmops.cli.progress import step_progress
    from llmops.monitoring.drift import drift_report
    from llmops.monitoring.report import render_html

    if embeddings not in ("auto", "sentence", "tfidf"):
        raise typer.BadParameter("--embeddings must be auto, sentence or tfidf")
    with step_progress("drift checks", quiet=quiet or json_) as update:
        report = drift_report(model=model, route=route, reference=reference,
                              reference_window=reference_window, window=window, where=where,
                              threshold=threshold, embeddings=embeddings,  # type: ignore[arg-type]
                              progress=update)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    if json_:
        print_json(report.model_dump(exclude={"checks": {"__all__": {"chart"}}}))
        return
    _print_report(report)
    if html is not None:
        console.print(f"report: {html}")


@app.command("create", context_settings=HELP)
def create(name: str = typer.Argument(..., help="The monitor's name."),
           check: str = typer.Option(..., "--check", help="drift, feedback, latency, errors "
                                     "or abuse."),
           model: str | None = typer.Option(None, "--model", help="A registered model name."),
           route: str | None = typer.Option(None, "--route", help="A gateway route."),
           threshold: float | None = typer.Option(
               None, "--threshold", help="drift: significance level (0.01); feedback: lowest "
               "mean score (3); latency: p95 limit in ms; errors: highest error rate (0.05); "
               "abuse: rate-jump ratio (3)."),
           window: str | None = typer.Option(None, "--window", help="What each run looks at "
                                             "(default: the --every period)."),
           reference: str | None = typer.Option(None, "--reference", help="drift: "
                                                "dataset:NAME@V to compare against."),
           reference_window: str | None = typer.Option(None, "--reference-window",
                                                       help="The earlier traces to compare "
                                                       "against (default: 7d)."),
           every: str = typer.Option("1h", "--every", help="How often the server runs it."),
           alert: str | None = typer.Option(None, "--alert", help="webhook:URL to POST alerts "
                                            "to."),
           on_alert: str | None = typer.Option(None, "--on-alert", help="retrain:PIPELINE.yaml "
                                               "to run when it fires."),
           json_: bool = JSON) -> None:
    """Create a monitor; `llmops server` runs it every period."""
    monitor = _store().create({"name": name, "check": check, "model": model, "route": route,
                               "threshold": threshold, "window": window,
                               "reference": reference, "reference_window": reference_window,
                               "every": every, "alert": alert, "on_alert": on_alert})
    if json_:
        print_json(monitor)
    else:
        console.print(f"monitor {monitor.name}: {monitor.check} every {monitor.every_s}s"
                      + (f", alerts to {monitor.alert}" if monitor.alert else ""))


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List monitors."""
    monitors = _store().list()
    if json_:
        print_json(monitors)
        return
    table = Table("name", "check", "options", "every", "alert", "on alert", "last run")
    for m in monitors:
        table.add_row(m.name, m.check, json.dumps(m.options), f"{m.every_s}s", m.alert or "-",
                      m.on_alert or "-", when(m.last_run_at))
    console.print(table)


@app.command("run", context_settings=HELP)
def run(name: str = typer.Argument(...), json_: bool = JSON) -> None:
    """Run a monitor now; an alert is stored and delivered when it fires."""
    result = _store().run(name)
    if json_:
        print_json(result)
        return
    state = "[red]fired[/red]" if result.fired else "[green]ok[/green]"
    console.print(f"{result.monitor}: {state}: {result.summary}")
    if result.alert:
        a = result.alert
        console.print(f"alert {a.id} ({a.severity}): delivery {a.delivery}, {a.attempts} "
                      f"attempt(s)" + (f", last error: {a.last_error}" if a.last_error else ""))
        if a.action:
            console.print(f"on alert: {a.action.get('action')} {a.action.get('status')}"
                          + "".join(f", {k} {a.action[k]}" for k in ("pid", "log", "error")
                                    if k in a.action))


@app.command("remove", context_settings=HELP)
def remove(name: str = typer.Argument(...)) -> None:
    """Remove a monitor (its alerts are kept)."""
    _store().remove(name)
    console.print(f"removed monitor {name}")


@app.command("alerts", context_settings=HELP)
def alerts(monitor: str | None = typer.Option(None, "--monitor", help="Only this monitor's."),
           limit: int = typer.Option(50, "--limit", min=1, max=10_000),
           json_: bool = JSON) -> None:
    """Alerts, newest first, with their delivery state."""
    found = _store().alerts(monitor=monitor, limit=limit)
    if json_:
        print_json(found)
        return
    table = Table("id", "monitor", "created", "severity", "summary", "delivery", "attempts")
    for a in found:
        table.add_row(a.id, a.monitor, when(a.created_at), a.severity, a.summary, a.delivery,
                      str(a.attempts))
    console.print(table)
