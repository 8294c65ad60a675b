"""`llmops tune`: search training hyperparameters with Optuna, locally or on Ray."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmops.cli.output import console, number, print_json
from llmops.cli.progress import step_progress


def _print(result: Any, json_: bool) -> None:
    if json_:
        print_json(result)
        return
    table = Table("trial", "state", result.objective, "params", "run")
    for t in result.trials:
        params = ", ".join(f"{k}={number(v) if isinstance(v, float) else v}"
                           for k, v in t.params.items())
        state = t.state + (f" (= trial {t.duplicate_of})" if t.duplicate_of is not None
                           else "")
        table.add_row(str(t.number), state, "-" if t.value is None else number(t.value),
                      params, t.run_id or "-")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"study {result.study} (run {result.run_id}), {result.storage}")
    if result.best_trial is not None:
        params = ", ".join(f"{k}={v}" for k, v in result.best_params.items())
        console.print(f"best: trial {result.best_trial}, {result.objective} "
                      f"{number(result.best_value)} ({params}), run {result.best_run_id}")
    if result.model is not None:
        console.print(f"registered {result.model.ref}")


def tune(
    recipe: str | None = typer.Option(None, "--recipe", help="Training method: sft or dpo."),
    base: str | None = typer.Option(None, "--base", help="Base model: model:NAME@VERSION, a "
                                    "local folder or a Hugging Face id."),
    data: str | None = typer.Option(None, "--data", help="Dataset version; the objective is "
                                    "measured on its validation split."),
    space: Path | None = typer.Option(None, "--space", help="YAML search space: "
                                      "distributions per training option, plus `fixed`."),
    objective: str | None = typer.Option(None, "--objective", help="eval_loss or an "
                                         "evaluation metric (rougeL, bleu, chrf, ...)."),
    direction: str | None = typer.Option(None, "--direction", help="max or min (default: "
                                         "what suits the objective)."),
    trials: int | None = typer.Option(None, "--trials", help="Trials in the study, shared by"
                                      " all its workers."),
    study: str | None = typer.Option(None, "--study", help="Study name (default: generated)."),
    join: bool = typer.Option(False, "--join", help="Work on the existing --study, with its "
                              "settings (another process or machine)."),
    register: str | None = typer.Option(None, "--register", help="Register the best trial's "
                                        "model as the next version of this name."),
    backend: str = typer.Option("local", "--backend", help="local, or ray: trials in parallel"
                                " as Ray tasks."),
    ray_address: str | None = typer.Option(None, "--ray-address", envvar="LLMOPS_RAY_ADDRESS",
                                           help="Ray cluster (auto, ray://HOST:10001, "
                                           "HOST:6379) (default: a local Ray instance)."),
    parallel: int | None = typer.Option(None, "--parallel", help="Ray tasks at once "
                                        "(default: the cluster's CPUs, at most --trials)."),
    gpus_per_trial: float = typer.Option(0, "--gpus-per-trial", help="GPUs each Ray trial "
                                         "takes (0: CPU)."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Answer length when the "
                                       "objective scores generated answers."),
    startup_trials: int = typer.Option(5, "--startup-trials", help="Trials run in full "
                                       "before the median pruner stops any."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search hyperparameters of a training recipe with Optuna (TPE, median pruning)."""
    from llmops.errors import InvalidInput
    from llmops.refs import check_name
    from llmops.tuning import check_objective, load_space
    from llmops.tuning import tune as run_tune

    try:  # what is wrong with the command line itself: a usage error (exit 2)
        if study is not None and not join:
            check_name(study, what="study name")
        if space is not None:
            load_space(space)
        if objective is not None:
            check_objective(objective)
        if direction is not None and direction not in ("max", "min"):
            raise InvalidInput(f"--direction {direction!r}: use max or min")
        if trials is not None and trials < 1:
            raise InvalidInput(f"--trials must be at least 1, not {trials}")
        if backend not in ("local", "ray"):
            raise InvalidInput(f"--backend {backend!r}: use local or ray")
        if parallel is not None and parallel < 1:
            raise InvalidInput(f"--parallel must be at least 1, not {parallel}")
        if backend != "ray" and (parallel or gpus_per_trial):
            raise InvalidInput("--parallel and --gpus-per-trial need --backend ray")
        if gpus_per_trial < 0:
            raise InvalidInput(f"--gpus-per-trial must be 0 or more, not {gpus_per_trial:g}")
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail) from None
    with ExitStack() as stack:
        bar: list[Callable[[int, int], None]] = []

        def progress(done: int, total: int) -> None:
            if not bar:  # drawn from the first trial on: errors before it print alone
                bar.append(stack.enter_context(step_progress("trials", quiet=quiet or json_)))
            bar[0](done, total)

        result = run_tune(recipe, base, data, space=space, objective=objective,
                          direction=direction, trials=trials, study=study, join=join,
                          register=register, backend=backend, ray_address=ray_address,
                          parallel=parallel, gpus_per_trial=gpus_per_trial,
                          max_new_tokens=max_new_tokens,
                          startup_trials=startup_trials, progress=progress)
    _print(result, json_)
