"""`llmops feedback ...`: judge traces (score, thumbs, labels, comments, corrections)."""

from __future__ import annotations

import typer
from rich.table import Table

from llmops.cli.output import console, number, print_json, when

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Feedback on traces: scores, thumbs, labels, comments, corrections.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("add", context_settings=HELP)
def add(trace: str = typer.Argument(..., help="The trace id (x-llmops-trace-id)."),
        score: int | None = typer.Option(None, "--score", help="1 (bad) to 5 (excellent)."),
        thumbs: str | None = typer.Option(None, "--thumbs", help="up or down."),
        label: list[str] = typer.Option([], "--label", help="A label (repeatable)."),
        comment: str | None = typer.Option(None, "--comment", help="Free text."),
        correction: str | None = typer.Option(None, "--correction", help="The answer it "
                                              "should have given."),
        prefer: str | None = typer.Option(None, "--prefer", help="A/B: this or other "
                                          "(with --other-trace or --other-output)."),
        other_trace: str | None = typer.Option(None, "--other-trace", help="A/B: the trace "
                                               "of the other response."),
        other_output: str | None = typer.Option(None, "--other-output", help="A/B: the "
                                                "other response's text."),
        idempotency_key: str | None = typer.Option(
            None, "--idempotency-key", help="A retry with the same key is stored once."),
        json_: bool = JSON) -> None:
    """Record feedback on a trace."""
    from llmops.feedback import add_feedback

    preference = None
    if prefer is not None or other_trace is not None or other_output is not None:
        preference = {"chosen": prefer, "other_output": other_output,
                      "other_trace_id": other_trace.removeprefix("trace:")
                      if other_trace else None}
    found = add_feedback(trace.removeprefix("trace:"), score=score, thumbs=thumbs,
                         labels=label or None, comment=comment, correction=correction,
                         preference=preference, idempotency_key=idempotency_key)
    if json_:
        print_json(found)
    else:
        console.print(f"feedback {found.id} on trace {found.trace_id}")


@app.command("list", context_settings=HELP)
def list_(trace: str | None = typer.Option(None, "--trace", help="Only this trace."),
          source: str | None = typer.Option(None, "--source", help="human, or auto:METRIC."),
          limit: int = typer.Option(100, "--limit", min=1, max=1000),
          json_: bool = JSON) -> None:
    """List feedback, newest first."""
    from llmops.feedback import list_feedback

    found = list_feedback(trace_id=trace.removeprefix("trace:") if trace else None,
                          source=source, limit=limit)
    if json_:
        print_json(found)
        return
    table = Table("id", "trace", "score", "value", "thumbs", "labels", "correction",
                  "source", "by", "at")
    for f in found:
        table.add_row(f.id, f.trace_id, "" if f.score is None else str(f.score),
                      "" if f.value is None else number(f.value),
                      {1: "up", -1: "down"}.get(f.thumbs or 0, ""), ", ".join(f.labels),
                      (f.correction or "")[:40], f.source, f.actor, when(f.created_at))
    console.print(table)


@app.command("show", context_settings=HELP)
def show(feedback_id: str = typer.Argument(..., help="A feedback id (or feedback:ID)."),
         json_: bool = JSON) -> None:
    """Show one feedback row."""
    from llmops.feedback import get_feedback

    found = get_feedback(feedback_id.removeprefix("feedback:"))
    if json_:
        print_json(found)
        return
    for field, value in found.model_dump(exclude_none=True).items():
        if value not in ([], ""):
            console.print(f"[bold]{field}[/bold]: {value}", soft_wrap=True)
