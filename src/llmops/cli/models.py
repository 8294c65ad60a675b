"""`llmops models ...`: the model registry, and the built-in base model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from llmops.cli.output import console, print_json, when
from llmops.cli.progress import step_progress

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Registered models: versions, aliases, and the built-in base model.",
                  context_settings=HELP, no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("list", context_settings=HELP)
def list_(json_: bool = JSON) -> None:
    """List registered models."""
    from llmops.registry import list_models

    models = list_models()
    if json_:
        print_json(models)
        return
    table = Table("name", "latest", "versions", "aliases", "created")
    for m in models:
        table.add_row(m.name, str(m.latest_version), str(m.versions),
                      ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items())),
                      when(m.created_at))
    console.print(table)


@app.command("versions", context_settings=HELP)
def versions(name: str = typer.Argument(..., help="A registered model name."),
             json_: bool = JSON) -> None:
    """List the versions of a model."""
    from llmops import registry

    found = registry.versions(name)
    if json_:
        print_json(found)
        return
    table = Table("version", "format", "size", "base", "run", "metrics", "aliases", "created")
    for v in found:
        table.add_row(str(v.version), v.format, f"{v.size / 2**20:.1f} MiB", v.base or "-",
                      v.run_id or "-", ", ".join(f"{k} {x:.4g}" for k, x in v.metrics.items()),
                      ", ".join(v.aliases), when(v.created_at))
    console.print(table)


@app.command("show", context_settings=HELP)
def show(ref: str = typer.Argument(..., help="model:NAME@VERSION|ALIAS (none: the newest)."),
         json_: bool = JSON) -> None:
    """Show one model version: weights, base, run, data, metrics."""
    from llmops import registry

    v = registry.get(ref)
    if json_:
        print_json(v)
        return
    console.print(f"[bold]{v.ref}[/bold]  {v.format}, {v.size / 2**20:.1f} MiB, "
                  f"created {when(v.created_at)} by {v.created_by}")
    rows = [("aliases", ", ".join(v.aliases) or "-"), ("base", v.base or "-"),
            ("run", v.run_id or "-"), ("artifact", v.artifact)]
    rows += [(k, str(x)) for k, x in v.sources.items() if x]
    rows += [(k, f"{x:.6g}") for k, x in v.metrics.items()]
    rows += [(f"gate {g.get('alias')}", ("passed" if g.get("passed") else "failed") + ": "
              + "; ".join(r["expression"] for r in g.get("gates", []))) for g in v.gates]
    for key, value in rows:
        console.print(f"  {key:<12} {value}")


@app.command("alias", context_settings=HELP)
def alias(name: str = typer.Argument(..., help="A registered model name."),
          version: str = typer.Argument(..., help="A version number or another alias."),
          alias_: str = typer.Argument(..., metavar="ALIAS", help="The alias to move."),
          json_: bool = JSON) -> None:
    """Point ALIAS (production, staging, ...) at a version; the history is kept."""
    from llmops import registry

    change = registry.set_alias(name, version, alias_)
    if json_:
        print_json(change)
        return
    console.print(f"{name}@{alias_} -> {change.version}" + (
        f" (was {change.previous_version})" if change.changed else " (unchanged)"))


@app.command("rollback", context_settings=HELP)
def rollback(name: str = typer.Argument(..., help="A registered model name."),
             alias_: str = typer.Argument(..., metavar="ALIAS", help="The alias to move back."),
             json_: bool = JSON) -> None:
    """Move ALIAS back to where it pointed before its last move."""
    from llmops.registry import open_registry

    change = open_registry().rollback(name, alias_)
    if json_:
        print_json(change)
        return
    console.print(f"{name}@{alias_} -> {change.version} (was {change.previous_version})")


@app.command("build-base", context_settings=HELP)
def build_base(name: str = typer.Argument("tiny-travel", help="The built-in base model."),
               rebuild: bool = typer.Option(False, "--rebuild", help="Register a new version "
                                            "even when one exists."),
               quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
               json_: bool = JSON) -> None:
    """Pre-train the built-in base model on its travel corpus and register it."""
    from llmops.training.tinytravel.build import build_base as build

    with step_progress(f"pre-training {name}", quiet=quiet or json_) as progress:
        result = build(name, rebuild=rebuild, progress=progress)
    if json_:
        print_json(result)
        return
    assert result.model is not None
    console.print(f"registered {result.model.ref}: {result.steps} steps, "
                  + ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))


@app.command("promote", context_settings=HELP)
def promote(name: str = typer.Argument(..., help="A registered model name."),
            version: str = typer.Argument(..., help="The candidate version."),
            alias_: str = typer.Option("production", "--alias", help="The alias to move."),
            gate: list[str] = typer.Option([], "--gate", help="e.g. 'rougeL >= production - "
                                           "0.01' or 'judge.helpfulness >= 4'."),
            suite: Path | None = typer.Option(None, "--suite", help="The evaluation suite "
                                              "(YAML)."),
            data: str | None = typer.Option(None, "--data", help="Dataset split to evaluate "
                                            "on (without --suite)."),
            metrics: str | None = typer.Option(None, "--metrics", help="Comma-separated."),
            judge: list[str] = typer.Option([], "--judge", help="KIND:NAME."),
            judge_endpoint: str | None = typer.Option(None, "--judge-endpoint"),
            judge_model: str | None = typer.Option(None, "--judge-model"),
            judge_key_env: str | None = typer.Option(None, "--judge-key-env"),
            max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
            json_: bool = JSON) -> None:
    """Evaluate VERSION (and the alias holders the gates name), then move the alias only
    if every gate passes; exits 1 with a report when one fails."""
    from contextlib import ExitStack

    from llmops.cli.eval import judge_specs, metric_names
    from llmops.errors import InvalidInput
    from llmops.evaluation import make_suite
    from llmops.evaluation.gates import parse_gate
    from llmops.evaluation.gates import promote as run_promote

    options = {"data": data, "max_new_tokens": max_new_tokens,
               "metrics": metric_names(metrics),
               "judges": judge_specs(judge, judge_endpoint, judge_model, judge_key_env)}
    try:
        plan = make_suite(options, file=suite)
        for expression in gate:
            parse_gate(expression, plan.produces)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None
    with ExitStack() as stack:
        def bar(label: str) -> object:
            return stack.enter_context(step_progress(label, quiet=quiet or json_))

        result = run_promote(name, version, alias_, gate, suite=plan,
                             progress=bar)
    if json_:
        print_json(result)
    else:
        for g in result.gates:
            mark = "[green]pass[/green]" if g.passed else "[red]FAIL[/red]"
            detail = (f"{g.candidate:.4f} vs {g.threshold:.4f} (margin {g.margin:+.4f})"
                      if g.threshold is not None and g.candidate is not None else "")
            note = f"; {g.note}" if g.note else ""
            against = f" against {g.baseline}" if g.baseline else ""
            console.print(f"{mark}  {g.expression}: {detail}{against}{note}")
        console.print(f"{name}@{alias_} -> {result.version}" if result.moved else
                      f"[red]not promoted:[/red] {name}@{alias_} stays where it was")
    if not result.passed:
        raise typer.Exit(1)


@app.command("card", context_settings=HELP)
def card(ref: str = typer.Argument(..., help="model:NAME@VERSION|ALIAS."),
         output: Path | None = typer.Option(None, "--output", "-o", help="Write the card "
                                            "here instead of printing it.")) -> None:
    """Write a Markdown model card from the registry's records."""
    from llmops import registry
    from llmops.registry.card import render_card

    text = render_card(registry.get(ref))
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text)
        console.print(f"wrote {output}")


@app.command("export", context_settings=HELP)
def export(ref: str = typer.Argument(..., help="model:NAME@VERSION|ALIAS."),
           output: Path = typer.Option(..., "--output", "-o", help="A new folder."),
           format_: str = typer.Option("vllm", "--format", help="vllm (safetensors folder)."),
           separate: bool = typer.Option(False, "--separate-lora", help="Base and adapter "
                                         "folders (vLLM --enable-lora) instead of merged.")
           ) -> None:
    """Write a version as a folder vLLM or TGI serves."""
    from llmops.registry.export import export_version

    out = export_version(ref, output, format=format_, lora="separate" if separate else "merge")
    console.print(f"wrote {out}")


QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


@app.command("merge", context_settings=HELP)
def merge(ref: str = typer.Argument(..., help="A LoRA adapter version, model:NAME@VERSION."),
          name: str | None = typer.Option(None, "--name", help="Register the merged model "
                                          "under this name (default: the adapter's)."),
          quiet: bool = QUIET, json_: bool = JSON) -> None:
    """Merge a LoRA adapter version into its base: a new full version."""
    from llmops.registry.compress import merge_version

    with step_progress(f"merging {ref}", quiet=quiet or json_) as progress:
        version = merge_version(ref, name=name, progress=progress)
    if json_:
        print_json(version)
        return
    console.print(f"registered {version.ref}: full weights, {version.size / 2**20:.1f} MiB "
                  f"({version.sources.get('merged')} merged into its base)")


@app.command("quantize", context_settings=HELP)
def quantize(ref: str = typer.Argument(..., help="model:NAME@VERSION|ALIAS."),
             method: str = typer.Option(..., "--method", help="int8-dynamic (CPU), bnb-8bit "
                                        "or bnb-4bit (CUDA)."),
             name: str | None = typer.Option(None, "--name", help="Register under this name "
                                             "(default: the source's)."),
             eval_: str | None = typer.Option(None, "--eval", metavar="DATASET_REF",
                                              help="Evaluate source and result on this split "
                                              "and record the change."),
             metric: list[str] = typer.Option([], "--metric", help="Metric(s) for --eval "
                                              "(repeat or comma-separate; default rougeL)."),
             max_new_tokens: int | None = typer.Option(None, "--max-new-tokens", min=1),
             quiet: bool = QUIET, json_: bool = JSON) -> None:
    """Quantize a version into a new one; records the size before and after, and the
    quality change on --eval."""
    from llmops.registry.compress import METHODS, check_method, quantize_version

    if method not in METHODS:
        raise typer.BadParameter(f"{method!r}: use one of {', '.join(METHODS)}",
                                 param_hint="--method")
    check_method(method)  # bitsandbytes without CUDA: refused before the progress bar
    metrics = [m.strip() for text in metric for m in text.split(",") if m.strip()]
    with step_progress(f"quantizing {ref} ({method})", quiet=quiet or json_) as progress:
        result = quantize_version(ref, method, name=name, eval_data=eval_,
                                  metrics=metrics or None, max_new_tokens=max_new_tokens,
                                  progress=progress)
    if json_:
        print_json(result)
        return
    console.print(f"registered {result.version.ref} ({method}): {result.size_before / 2**20:.2f}"
                  f" MiB -> {result.size_after / 2**20:.2f} MiB "
                  f"({result.size_after / max(result.size_before, 1):.0%})")
    for m, delta in result.delta.items():
        console.print(f"  {m}: {result.before[m]:.4f} -> {result.after[m]:.4f} "
                      f"({delta:+.4f}) on {result.eval_data}")


@app.command("distill", context_settings=HELP)
def distill(teacher: str = typer.Option(..., "--teacher", help="The teacher model."),
            student: str = typer.Option(..., "--student", help="The student model (base)."),
            data: str = typer.Option(..., "--data", help="Dataset version or split whose "
                                     "prompts (sequence) or rows (logits) are used."),
            register: str | None = typer.Option(None, "--register", help="Register the "
                                                "student as the next version of NAME."),
            method: str = typer.Option("sequence", "--method", help="sequence (the teacher "
                                       "answers, the student learns the answers) or logits "
                                       "(KL to the teacher's logits; one vocabulary)."),
            lora: bool = typer.Option(False, "--lora", help="Train a LoRA adapter on the "
                                      "student."),
            epochs: float | None = typer.Option(None, "--epochs", min=0.0),
            max_steps: int | None = typer.Option(None, "--max-steps", min=1),
            lr: float | None = typer.Option(None, "--lr"),
            batch_size: int | None = typer.Option(None, "--batch-size", min=1),
            max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1,
                                               help="sequence: the teacher's answer length."),
            dataset_name: str | None = typer.Option(None, "--dataset-name", help="sequence: "
                                                    "the dataset of the teacher's answers."),
            temperature: float = typer.Option(2.0, "--temperature", help="logits: softening "
                                              "of both distributions."),
            alpha: float = typer.Option(0.5, "--alpha", help="logits: weight of the loss on "
                                        "the data's answers (the KL gets 1 - alpha)."),
            quiet: bool = QUIET, json_: bool = JSON) -> None:
    """Distill a teacher into a student (sequence-level or logit distillation)."""
    from collections.abc import Callable
    from contextlib import ExitStack
    from typing import Any

    from llmops.training.distill import METHODS
    from llmops.training.distill import distill as run_distill

    if method not in METHODS:
        raise typer.BadParameter(f"{method!r}: use sequence or logits", param_hint="--method")
    options: dict[str, Any] = {k: v for k, v in {"lora": lora or None, "epochs": epochs,
                                 "max_steps": max_steps, "lr": lr,
                                 "batch_size": batch_size}.items() if v is not None}
    with ExitStack() as stack:
        def phase(label: str) -> Callable[[int, int], None]:
            return stack.enter_context(step_progress(label, quiet=quiet or json_))

        result = run_distill(teacher, student, data, register=register, method=method,
                             dataset_name=dataset_name, max_new_tokens=max_new_tokens,
                             temperature=temperature, alpha=alpha, progress=phase,
                             **options)
    if json_:
        print_json(result)
        return
    if result.dataset:
        console.print(f"teacher {result.teacher} answered {result.answered} prompts "
                      f"({result.skipped} empty, left out): {result.dataset}")
    train = result.train
    console.print(f"run {train.run_id}: {train.steps} steps, " + ", ".join(
        f"{k} {v:.4g}" for k, v in train.metrics.items()))
    if train.model is not None:
        console.print(f"registered {train.model.ref} (teacher {result.teacher})")
