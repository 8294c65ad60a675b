"""`llmops eval run|list|show|compare`: evaluate targets and compare evaluations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmops.cli.output import console, print_json, when
from llmops.cli.progress import step_progress

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Evaluate models and endpoints with reference metrics and LLM judges.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")


def metric_names(text: str | None) -> list[str] | None:
    """``--metrics bleu,rougeL`` as a list (None when the flag is not given)."""
    return [m.strip() for m in text.split(",") if m.strip()] if text else None


def judge_specs(judges: list[str], endpoint: str | None, model: str | None,
                key_env: str | None) -> list[dict[str, str | None]] | None:
    """``--judge KIND:NAME`` flags with the shared --judge-* options, as suite entries."""
    if not judges:
        return None
    if not endpoint or not model:
        raise typer.BadParameter("--judge needs --judge-endpoint URL and --judge-model NAME")
    specs = []
    for text in judges:
        kind, colon, name = text.partition(":")
        if not colon:
            kind, name = "rubric", text
        specs.append({"name": name, "kind": kind, "endpoint": endpoint, "model": model,
                      "api_key_env": key_env})
    return specs


@app.command("run", context_settings=HELP)
def run(model: str | None = typer.Option(None, "--model", help="model:NAME@VERSION|ALIAS "
                                         "or a local folder."),
        endpoint: str | None = typer.Option(None, "--endpoint", help="An OpenAI-compatible "
                                            "base URL, e.g. http://127.0.0.1:8750/v1."),
        model_name: str | None = typer.Option(None, "--model-name", help="The model the "
                                              "endpoint serves."),
        api_key_env: str | None = typer.Option(None, "--api-key-env", help="Environment "
                                               "variable holding the endpoint's key."),
        predictions: Path | None = typer.Option(None, "--predictions", help="A JSONL file "
                                                "of {\"output\": ...} per row."),
        data: str | None = typer.Option(None, "--data", help="Dataset version and split, e.g."
                                        " travel-qa@1#test."),
        prompt: str | None = typer.Option(None, "--prompt", help="A prompt version that "
                                          "formats each row."),
        metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated: bleu, "
                                           "chrf, rouge1, rouge2, rougeL, rougeLsum, "
                                           "exact_match, token_f1, json_valid, length."),
        judge: list[str] = typer.Option([], "--judge", help="KIND:NAME, e.g. "
                                        "rubric:helpfulness or reference:correctness."),
        judge_endpoint: str | None = typer.Option(None, "--judge-endpoint"),
        judge_model: str | None = typer.Option(None, "--judge-model"),
        judge_key_env: str | None = typer.Option(None, "--judge-key-env"),
        suite: Path | None = typer.Option(None, "--suite", help="A YAML suite; flags override"
                                          " it."),
        max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1),
        batch_size: int | None = typer.Option(None, "--batch-size", min=1),
        limit: int | None = typer.Option(None, "--limit", min=1, help="First N rows only."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        json_: bool = JSON) -> None:
    """Answer every row with the target and score the answers; exits 1 when a suite
    threshold is not met (a floor, or a ceiling for latency_ms, perplexity, cost, tokens)."""
    from llmops.errors import InvalidInput
    from llmops.evaluation import evaluate, make_suite

    options = {"data": data, "prompt": prompt, "max_new_tokens": max_new_tokens,
               "batch_size": batch_size, "limit": limit,
               "metrics": metric_names(metrics),
               "judges": judge_specs(judge, judge_endpoint, judge_model, judge_key_env)}
    try:
        plan = make_suite(options, file=suite)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None
    label = model or endpoint or str(predictions)
    with step_progress(f"evaluating {label}", quiet=quiet or json_) as progress:
        result = evaluate(model, endpoint=endpoint, model_name=model_name,
                          api_key_env=api_key_env, predictions=predictions, suite=plan,
                          progress=progress)
    from llmops.evaluation.metrics import higher_is_better

    missed = {k: v for k, v in plan.thresholds.items() if k not in result.metrics or (
        result.metrics[k] < v if higher_is_better(k) else result.metrics[k] > v)}
    if json_:
        print_json(result)
    else:
        _print(result)
        for key, floor in missed.items():
            side = "at least" if higher_is_better(key) else "at most"
            console.print(f"[red]threshold not met:[/red] {key} {result.metrics.get(key)}, "
                          f"needs {side} {floor}")
    if missed:
        raise typer.Exit(1)


def _print(result: object) -> None:
    from llmops.evaluation import Evaluation

    assert isinstance(result, Evaluation)
    table = Table("metric", "value", title=f"{result.target} on {result.data} "
                  f"({result.total} rows, {result.failed} failed, {result.cached} cached)")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"{result.ref} {result.status}")


@app.command("list", context_settings=HELP)
def list_(target: str | None = typer.Option(None, "--target", help="Only this target."),
          limit: int = typer.Option(50, "--limit", min=1), json_: bool = JSON) -> None:
    """List recorded evaluations, newest first."""
    from llmops.evaluation import list_evaluations

    found = list_evaluations(target=target, limit=limit)
    if json_:
        print_json(found)
        return
    table = Table("id", "status", "target", "data", "rows", "failed", "metrics", "created")
    for e in found:
        table.add_row(e.id, e.status, e.target, e.data, str(e.total), str(e.failed),
                      ", ".join(f"{k} {v:.4g}" for k, v in e.metrics.items()),
                      when(e.created_at))
    console.print(table)


@app.command("show", context_settings=HELP)
def show(eval_id: str = typer.Argument(..., metavar="ID", help="An evaluation id."),
         json_: bool = JSON) -> None:
    """Show one evaluation."""
    from llmops.evaluation import get_evaluation

    result = get_evaluation(eval_id)
    if json_:
        print_json(result)
    else:
        _print(result)


@app.command("compare", context_settings=HELP)
def compare(a: str = typer.Argument(..., help="The baseline evaluation id."),
            b: str = typer.Argument(..., help="The candidate evaluation id."),
            html: Path | None = typer.Option(None, "--html", help="Write a self-contained "
                                             "HTML report with charts."),
            resamples: int = typer.Option(2000, "--resamples", min=100),
            judge: str | None = typer.Option(None, "--judge", help="pairwise:NAME: ask a "
                                             "judge which answer is better, in both orders."),
            judge_endpoint: str | None = typer.Option(None, "--judge-endpoint"),
            judge_model: str | None = typer.Option(None, "--judge-model"),
            judge_key_env: str | None = typer.Option(None, "--judge-key-env"),
            json_: bool = JSON) -> None:
    """B minus A per metric, with paired bootstrap 95% intervals and p-values."""
    from llmops.evaluation import compare as run_compare
    from llmops.evaluation.judges import JudgeSpec

    specs = judge_specs([judge] if judge else [], judge_endpoint, judge_model, judge_key_env)
    result = run_compare(a, b, resamples=resamples,
                         judge=JudgeSpec.model_validate(specs[0]) if specs else None)
    if html is not None:
        from llmops.evaluation.report import render_comparison

        html.write_text(render_comparison(result))
    if json_:
        print_json(result)
        return
    table = Table("metric", "A", "B", "B-A", "95% CI", "p", "n",
                  title=f"{result.a.target} (A) vs {result.b.target} (B) on {result.a.data}")
    for d in result.deltas:
        mark = " *" if d.significant else ""
        table.add_row(d.metric, f"{d.a:.4f}", f"{d.b:.4f}", f"{d.diff:+.4f}{mark}",
                      f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]", f"{d.p_value:.3f}", str(d.n))
    console.print(table)
    for metric, pairs in result.regressed.items():
        if pairs:
            worst = pairs[0]
            console.print(f"most regressed on {metric}: row {worst.row_id} "
                          f"({worst.score_a:.3f} -> {worst.score_b:.3f})")
    if html is not None:
        console.print(f"report: {html}")
