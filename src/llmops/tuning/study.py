"""`tune`: a hyperparameter search over the training loop, with Optuna.

    validate space, objective and data (fail before any trial or record)
    -> create the study (Optuna RDB storage beside the metadata) and its run
    -> workers claim trials until the study has N: this process, other processes or
       machines (``join=True``), or Ray tasks (``backend="ray"``)
    -> wait for trials still running elsewhere, record the best on the study's run
    -> register the best trial's model (optional), with lineage to its run
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llmops.errors import Conflict, InvalidInput
from llmops.refs import check_name
from llmops.registry.models import ModelVersion
from llmops.tuning import worker
from llmops.tuning.objective import check_objective, default_direction, metric_key
from llmops.tuning.space import SearchSpace, load_space
from llmops.tuning.storage import describe, open_storage
from llmops.tuning.worker import SETTINGS_ATTR, StudySettings

Progress = Callable[[int, int], None]
DIRECTIONS = {"max": "maximize", "min": "minimize"}


class TrialResult(BaseModel):
    """One trial: its number, how it ended, its objective value and its training run."""

    number: int
    state: str  # complete | pruned | fail | running | waiting
    value: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    duplicate_of: int | None = None


class TuneResult(BaseModel):
    """A study as it stands after this worker: every trial and the best one."""

    study: str
    run_id: str  # the study's run; each trial's run is its child
    objective: str
    direction: str
    storage: str
    trials: list[TrialResult]
    best_trial: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = Field(default_factory=dict)
    best_run_id: str | None = None
    ran_here: int = 0
    model: ModelVersion | None = None
    notes: list[str] = Field(default_factory=list)


def _trial(t: Any) -> TrialResult:
    return TrialResult(number=t.number, state=t.state.name.lower(), value=t.value,
                       params=dict(t.params), run_id=t.user_attrs.get("run_id"),
                       error=t.user_attrs.get("error"),
                       duplicate_of=t.user_attrs.get("duplicate_of"))


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction {direction!r}: use max or min")
    return direction


def validate(*, recipe: str, base: str, data: str, space: SearchSpace, objective: str,
             trials: int, options: dict[str, Any]) -> Any:
    """Check everything a study needs before any trial runs; returns the training plan of
    the space's fixed options.

    Raises:
        InvalidInput: a bad option, an objective the evaluation does not produce, no
            validation split to measure it on, a dataset kind the recipe does not take, a
            base that cannot load.
    """
    from llmops.training import make_config
    from llmops.training.loop import plan
    from llmops.tuning.objective import EVAL_LOSS, references

    check_objective(objective)
    if trials < 1:
        raise InvalidInput(f"--trials must be at least 1, not {trials}")
    config = make_config({**space.fixed, **options, "recipe": recipe, "base": base,
                          "data": data})
    p = plan(config)
    if not p.eval_examples:
        raise InvalidInput(
            f"{data} has no validation split to measure {objective!r} on: use a dataset "
            "version with a val split, or set eval_data (e.g. fixed: {eval_data: "
            f"{p.train_ref.split('#')[0]}#test}} in the space file)")
    if objective != EVAL_LOSS and not references(p.eval_examples)[0]:
        raise InvalidInput(f"{p.eval_ref} has no reference answers to score {objective!r} "
                           "against: use eval_loss")
    return p


def _create(name: str, settings: StudySettings, enqueue: Sequence[dict[str, Any]]) -> Any:
    import optuna

    storage = open_storage()
    try:
        study = optuna.create_study(study_name=name, storage=storage,
                                    direction=DIRECTIONS[settings.direction],  # type: ignore[arg-type]
                                    sampler=worker.sampler(), pruner=worker.pruner(settings))
    except optuna.exceptions.DuplicatedStudyError:
        raise Conflict(f"study {name!r} already exists: add --join to work on it, or pick "
                       "another --study name") from None
    for params in enqueue:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    return study


def _summary(name: str, settings: StudySettings, ran: int) -> TuneResult:
    from optuna.trial import TrialState

    study, _ = worker.load(name)
    trials = [_trial(t) for t in study.get_trials(deepcopy=False)]
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    result = TuneResult(study=name, run_id=settings.run_id, objective=settings.objective,
                        direction=settings.direction, storage=describe(), trials=trials,
                        ran_here=ran)
    if done:
        best = study.best_trial
        result.best_trial, result.best_value = best.number, best.value
        result.best_params = dict(best.params)
        source = best.user_attrs.get("duplicate_of")
        result.best_run_id = (study.trials[source].user_attrs.get("run_id")
                              if source is not None else best.user_attrs.get("run_id"))
    else:
        result.notes.append("no trial completed: nothing to call best")
    return result


def _register(name: str, result: TuneResult, settings: StudySettings) -> ModelVersion:
    """Register the best trial's model, with lineage to its run and the study's run."""
    from llmops.registry import open_registry
    from llmops.tracking import open_tracking
    from llmops.training import make_config
    from llmops.training.loop import OUTPUT_ARTIFACT, plan

    if result.best_run_id is None:
        raise Conflict(f"study {result.study!r} has no completed trial to register")
    p = plan(make_config(settings.train_options(result.best_params)))
    tracking = open_tracking()
    folder = Path(tempfile.mkdtemp(prefix="tune-"))
    try:
        out = tracking.download_artifact(result.best_run_id, OUTPUT_ARTIFACT, folder / "model")
        version = open_registry().register(
            name, out, format="lora" if p.config.lora else "full",
            base=p.config.base_label or p.config.base,
            base_version_id=p.base.version.id if p.base.version else None,
            run_id=result.best_run_id,
            sources={"datasets": p.dataset_ids, "train": p.train_ref, "eval": p.eval_ref,
                     "study": result.study, "trial": result.best_trial},
            metrics={settings.objective: float(result.best_value or 0.0)})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if settings.run_id:
        tracking.add_lineage(f"run:{settings.run_id}", f"model:{version.id}", "best-trial")
    return version


def tune(recipe: str | None = None, base: str | None = None, data: str | None = None, *,
         space: str | Path | dict[str, Any] | None = None, objective: str | None = None,
         direction: str | None = None, trials: int | None = None, study: str | None = None,
         join: bool = False, register: str | None = None, backend: str = "local",
         ray_address: str | None = None, parallel: int | None = None,
         gpus_per_trial: float = 0, max_new_tokens: int = 64, startup_trials: int = 5,
         warmup_steps: int = 0,
         enqueue: Sequence[dict[str, Any]] = (), progress: Progress | None = None,
         **options: Any) -> TuneResult:
    """Search training hyperparameters with Optuna (TPE sampler, median pruning).

    A new study needs `recipe`, `base`, `data`, `space` (YAML file or mapping),
    `objective` (``eval_loss`` or an evaluation metric such as ``rougeL``, measured on the
    data's validation split) and `trials` (the study's total, shared by all its workers).
    With `join=True`, this process becomes one more worker of the existing `study` and
    takes everything else from it. Other keyword `options` are fixed training options
    of every trial (``lora=True``, ``max_steps=8``).

    Example:
        >>> llmops.tune("sft", "model:tiny-travel@1", "travel-qa@1", space="space.yaml",
        ...             objective="rougeL", direction="max", trials=20, lora=True)

    Raises:
        InvalidInput: an invalid space (naming the parameter), an objective the
            evaluation does not produce, a bad option, no validation split; before any
            trial. Ray missing (with the install command).
        ServiceUnavailable: a Ray address that does not answer (within seconds).
        NotFound / Conflict: joining a study that does not exist / creating one that does.
    """
    import optuna

    from llmops.ids import new_id

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if backend not in ("local", "ray"):
        raise InvalidInput(f"backend {backend!r}: use local or ray")
    if join:
        if not study:
            raise InvalidInput("--join needs --study NAME: the study to work on")
        if register:
            raise InvalidInput("--register belongs to the worker that created the study: "
                               "a joining worker would register the best trial again")
        given = {"recipe": recipe, "base": base, "data": data, "objective": objective,
                 "direction": direction, "trials": trials}
        _, settings = worker.load(study)
        differ = [k for k, v in given.items() if v is not None and v != getattr(settings, k)]
        if differ or space is not None or options:
            what = differ[0] if differ else "space" if space is not None else next(iter(
                options))
            raise InvalidInput(f"a worker joining study {study!r} takes its settings from the "
                               f"study: drop {what} (the study has "
                               f"{getattr(settings, what, '(set)')!r})")
        name = study
    else:
        missing = [k for k, v in {"recipe": recipe, "base": base, "data": data,
                                  "space": space, "objective": objective,
                                  "trials": trials}.items() if v is None]
        if missing:
            raise InvalidInput(f"a new study needs {', '.join(missing)}")
        assert recipe and base and data and objective and trials is not None
        searched = load_space(space)  # type: ignore[arg-type]
        direction = _check_direction(direction or default_direction(check_objective(
            objective)))
        validate(recipe=recipe, base=base, data=data, space=searched, objective=objective,
                 trials=trials, options=options)
        for params in enqueue:
            unknown = sorted(set(params) - {p.name for p in searched.params})
            if unknown:
                raise InvalidInput(f"enqueued trial sets {unknown[0]!r}, which the space "
                                   "does not search")
        name = check_name(study, what="study name") if study else \
            f"{recipe}-{new_id()[-8:].lower()}"
        settings = StudySettings(
            recipe=recipe, base=base, data=data, space=searched.to_data(),
            objective=objective, direction=direction, trials=trials, options=options,
            max_new_tokens=max_new_tokens, startup_trials=startup_trials,
            warmup_steps=warmup_steps, experiment=str(options.get("experiment", "tuning")))
    started = False
    if backend == "ray":
        from llmops.tuning.ray_trials import connect

        started = connect(ray_address)  # before anything is recorded: install, address
    try:
        return _start(name, settings, join, enqueue, register, backend,
                      (parallel, gpus_per_trial), progress)
    finally:
        if started:
            import ray

            ray.shutdown()


def _start(name: str, settings: StudySettings, join: bool, enqueue: Sequence[dict[str, Any]],
           register: str | None, backend: str, parallel: tuple[int | None, float],
           progress: Progress | None) -> TuneResult:
    """Create the study and its run (or join it), then work on it."""
    if join:
        return _work(name, settings, register, backend, parallel, progress, owner=None)
    created = _create(name, settings, enqueue)
    from llmops.tracking import start_run

    with start_run(experiment=settings.experiment, name=name, tags={
            "llmops.kind": "tuning", "tune.study": name, "tune.storage": describe()},
            params={"recipe": settings.recipe, "base": settings.base,
                    "data": settings.data, "objective": settings.objective,
                    "direction": settings.direction, "trials": settings.trials,
                    "backend": backend}) as run:
        import json

        run.log_param("space", json.dumps(settings.space, sort_keys=True))
        settings.run_id = run.id
        created.set_user_attr(SETTINGS_ATTR, settings.model_dump(mode="json"))
        return _work(name, settings, register, backend, parallel, progress, owner=run)


def _work(name: str, settings: StudySettings, register: str | None, backend: str,
          parallel: tuple[int | None, float], progress: Progress | None, owner: Any
          ) -> TuneResult:
    """Run trials here or on Ray, wait for the rest, summarise, register."""
    if backend == "ray":
        from llmops.tuning.ray_trials import work_on_ray

        ran = work_on_ray(name, settings, parallel=parallel[0], gpus_per_trial=parallel[1],
                          progress=progress)
    else:
        ran = worker.work(name, progress=progress)
    worker.wait_for_others(name, progress=progress)
    result = _summary(name, settings, ran)
    if owner is not None and result.best_value is not None:
        owner.log_metrics({f"best_{metric_key(settings.objective)}": result.best_value},
                          step=0)
        owner.set_tags({"tune.best_trial": result.best_trial,
                        "tune.best_run": result.best_run_id})
    if register:
        result.model = _register(register, result, settings)
        if owner is not None:
            owner.set_tag("registered", result.model.ref)
    return result


def get_study(name: str) -> TuneResult:
    """Study `name` as it stands (any worker may still be running trials)."""
    _, settings = worker.load(name)
    return _summary(name, settings, 0)
