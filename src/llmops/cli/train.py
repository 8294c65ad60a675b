"""`llmops train sft|dpo|resume`: fine-tune a model, tracked, resumable, registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmops.cli.output import console, print_json
from llmops.cli.progress import step_progress

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Fine-tune models (SFT, DPO) with LoRA, QLoRA or all weights.",
                  context_settings=HELP, no_args_is_help=True)


def _print(result: Any, json_: bool) -> None:
    if json_:
        print_json(result)
        return
    for note in result.notes:
        console.print(f"note: {note}")
    shown = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
    console.print(f"run {result.run_id} {result.status} at step {result.steps}: {shown}")
    if result.model is not None:
        console.print(f"registered {result.model.ref} ({result.model.format}, "
                      f"{result.model.size / 2**20:.1f} MiB)")


def _train(recipe: str, options: dict[str, Any], config_file: Path | None, quiet: bool,
           json_: bool) -> None:
    from llmops.errors import InvalidInput
    from llmops.training import make_config
    from llmops.training.loop import plan, run_plan

    try:
        config = make_config({"recipe": recipe, **options}, file=config_file)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None
    prepared = plan(config)
    with step_progress(f"{recipe} training", quiet=quiet or json_) as progress:
        result = run_plan(prepared, progress=progress)
    _print(result, json_)


def _vars(values: list[str]) -> dict[str, str] | None:
    if not values:
        return None
    pairs = [v.partition("=") for v in values]
    bad = [v for v, (_, eq, _) in zip(values, pairs, strict=True) if not eq]
    if bad:
        raise typer.BadParameter(f"--var takes NAME=VALUE, not {bad[0]!r}")
    return {k: v for k, _, v in pairs}


def _command(recipe: str) -> Any:
    def command(
        base: str | None = typer.Option(None, "--base", help="Base model: model:NAME@VERSION, "
                                        "a local folder or a Hugging Face id."),
        data: str | None = typer.Option(None, "--data", help="Dataset version and split, e.g."
                                        " travel-qa@1#train."),
        eval_data: str | None = typer.Option(None, "--eval-data", help="Evaluation split."),
        prompt: str | None = typer.Option(None, "--prompt", help="A prompt version that "
                                          "formats each row."),
        var: list[str] = typer.Option([], "--var", help="A fixed prompt variable NAME=VALUE."),
        lora: bool | None = typer.Option(None, "--lora/--full", help="Train a LoRA adapter."),
        qlora: bool | None = typer.Option(None, "--qlora", help="LoRA on a 4-bit base (CUDA)."),
        epochs: float | None = typer.Option(None, "--epochs", help="Passes over the data."),
        max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps."),
        lr: float | None = typer.Option(None, "--lr", help="Peak learning rate."),
        batch_size: int | None = typer.Option(None, "--batch-size", help="Rows per step."),
        max_length: int | None = typer.Option(None, "--max-length", help="Tokens per row."),
        lora_r: int | None = typer.Option(None, "--lora-r", help="LoRA rank."),
        beta: float | None = typer.Option(None, "--beta", help="DPO beta."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed."),
        checkpoint_every: int | None = typer.Option(None, "--checkpoint-every",
                                                    help="Store a checkpoint every N steps."),
        register: str | None = typer.Option(None, "--register", help="Register the result as"
                                            " the next version of this model."),
        experiment: str | None = typer.Option(None, "--experiment", help="Experiment name."),
        name: str | None = typer.Option(None, "--name", help="Run name."),
        backend: str | None = typer.Option(None, "--backend", help="local (this process) or "
                                           "ray (Ray Train workers, data parallel)."),
        ray_address: str | None = typer.Option(None, "--ray-address",
                                               envvar="LLMOPS_RAY_ADDRESS", help="With --backend "
                                               "ray: auto or ray://HOST:10001 (default: a "
                                               "local Ray instance)."),
        workers: int | None = typer.Option(None, "--workers", help="With --backend ray: "
                                           "data-parallel workers."),
        gpus_per_worker: float | None = typer.Option(None, "--gpus-per-worker", help="With "
                                                     "--backend ray: GPUs per worker."),
        config: Path | None = typer.Option(None, "--config", help="A YAML recipe file with "
                                           "the same options; flags override it."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        options = {"base": base, "data": data, "eval_data": eval_data, "prompt": prompt,
                   "prompt_vars": _vars(var), "lora": lora, "qlora": qlora, "epochs": epochs,
                   "max_steps": max_steps, "lr": lr, "batch_size": batch_size,
                   "max_length": max_length, "lora_r": lora_r, "beta": beta, "seed": seed,
                   "checkpoint_every": checkpoint_every, "register": register,
                   "experiment": experiment, "name": name, "backend": backend,
                   "ray_address": ray_address, "workers": workers,
                   "gpus_per_worker": gpus_per_worker}
        _train(recipe, options, config, quiet, json_)

    command.__doc__ = {"sft": "Supervised fine-tuning on chat, instruction or text data.",
                       "dpo": "Direct preference optimisation on preference data."}[recipe]
    return command


app.command("sft", context_settings=HELP)(_command("sft"))
app.command("dpo", context_settings=HELP)(_command("dpo"))


@app.command("resume", context_settings=HELP)
def resume(run: str = typer.Argument(..., help="The id of a killed or failed training run."),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
           json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Continue a killed or failed run from its last stored checkpoint."""
    from llmops.training import resume as resume_run

    with step_progress("resuming", quiet=quiet or json_) as progress:
        result = resume_run(run.removeprefix("run:"), progress=progress)
    _print(result, json_)
