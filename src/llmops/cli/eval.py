"""`llmops eval run`: score a model's answers on a dataset split."""

from __future__ import annotations

import typer
from rich.table import Table

from llmops.cli.output import console, print_json
from llmops.cli.progress import step_progress

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Evaluate models with reference metrics.", context_settings=HELP,
                  no_args_is_help=True)


@app.command("run", context_settings=HELP)
def run(model: str = typer.Option(..., "--model", help="model:NAME@VERSION|ALIAS or a "
                                  "local folder."),
        data: str = typer.Option(..., "--data", help="Dataset version and split, e.g. "
                                 "travel-qa@1#test."),
        metrics: str = typer.Option("rougeL", "--metrics", help="Comma-separated metrics: "
                                    "bleu, chrf, rouge1, rouge2, rougeL, rougeLsum, "
                                    "exact_match, length."),
        prompt: str | None = typer.Option(None, "--prompt", help="A prompt version that "
                                          "formats each row."),
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1),
        batch_size: int = typer.Option(16, "--batch-size", min=1),
        limit: int | None = typer.Option(None, "--limit", min=1, help="First N rows only."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Generate answers for every row and score them against the references."""
    from llmops.evaluation import evaluate

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    with step_progress(f"evaluating {model}", quiet=quiet or json_) as progress:
        result = evaluate(model, data, metrics=names, prompt=prompt,
                          max_new_tokens=max_new_tokens, batch_size=batch_size, limit=limit,
                          progress=progress)
    if json_:
        print_json(result)
        return
    table = Table("metric", "value", title=f"{model} on {data} ({result.count} rows)")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"run {result.run_id}")
