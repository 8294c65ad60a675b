"""`llmops pipelines run FILE`: traces and feedback -> datasets -> fine-tune -> gated
promotion (see `llmops.pipelines`)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmops.cli.output import console, print_json

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Retrain pipelines: production feedback back into the model.",
                  context_settings=HELP, no_args_is_help=True)


@app.command("run", context_settings=HELP)
def run(file: Path = typer.Argument(..., help="A pipeline YAML file."),
        json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Build the datasets from traces, train, and promote if every gate passes."""
    from llmops.cli.progress import step_progress
    from llmops.pipelines import load_pipeline, run_pipeline

    spec = load_pipeline(file)
    with step_progress("training", quiet=json_) as progress:
        report = run_pipeline(spec, progress=progress)
    if json_:
        print_json(report)
        return
    for step, ref in report.datasets.items():
        console.print(f"dataset {step}: {ref} ({report.rows[step]} rows)")
    if report.run_id:
        console.print(f"training run {report.run_id} -> {report.model or 'no model'}")
    for gate in (report.promotion or {}).get("gates", []):
        console.print(f"gate {gate['expression']}: {'pass' if gate['passed'] else 'FAIL'}")
    console.print(f"[bold]{report.status}[/bold]" + (f": {report.reason}" if report.reason
                                                     else ""))
