"""One worker of a study: claim the next trial, train it, tell Optuna, until the study has
its number of trials. Local workers, workers on other machines (``--join``) and Ray tasks
all run this same loop against the same storage.

A trial is one training run, a child of the study's run: its params are the resolved
training config (the sampled values included), its metrics the training's plus the
objective at each evaluation. A trial that raises is told to Optuna as failed, with the
error, and the worker goes on with the next one.
"""

from __future__ import annotations

import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from llmops.tuning.objective import ObjectiveCallback, references
from llmops.tuning.space import SearchSpace, make_space
from llmops.tuning.storage import HEARTBEAT_S, open_storage, study_lock

Progress = Callable[[int, int], None]
SETTINGS_ATTR = "llmops"


class StudySettings(BaseModel):
    """What every worker of a study needs, stored with the study (joiners read it)."""

    recipe: str
    base: str
    data: str
    space: dict[str, Any]
    objective: str
    direction: str  # max | min
    trials: int
    options: dict[str, Any] = {}  # fixed training options given outside the space file
    max_new_tokens: int = 64
    startup_trials: int = 5
    warmup_steps: int = 0
    experiment: str = "tuning"
    run_id: str = ""  # the study's run

    def search_space(self) -> SearchSpace:
        return make_space(self.space)

    def train_options(self, values: dict[str, Any]) -> dict[str, Any]:
        """The training options of a trial that samples `values`."""
        return {**self.search_space().fixed, **self.options, **values, "recipe": self.recipe,
                "base": self.base, "data": self.data, "experiment": self.experiment}


def load(name: str) -> tuple[Any, StudySettings]:
    """(Optuna study, settings) of study `name`."""
    import optuna

    from llmops.errors import NotFound

    storage = open_storage()
    try:
        frozen = storage.get_study_id_from_name(name)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise NotFound(f"no study {name!r}" + (f"; studies: {', '.join(sorted(names))}"
                                                if names else "")) from None
    deadline = time.monotonic() + 15
    while SETTINGS_ATTR not in (attrs := storage.get_study_user_attrs(frozen)):
        if time.monotonic() > deadline:  # its creator died between the two writes
            raise NotFound(f"study {name!r} exists but was never set up by llmops; start "
                           "a study under another name")
        time.sleep(0.2)  # created a moment ago: its creator is writing its settings
    settings = StudySettings.model_validate(attrs[SETTINGS_ATTR])
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler(),
                              pruner=pruner(settings))
    return study, settings


def sampler() -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant liar: trials running in other workers count as (pessimistic) results,
        # so parallel workers do not all sample the same region
        return optuna.samplers.TPESampler(constant_liar=True)


def pruner(settings: StudySettings) -> Any:
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials,
                                       n_warmup_steps=settings.warmup_steps)


def fail_stale(study: Any) -> None:
    """Fail the running trials of workers that stopped sending heartbeats."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def counts(study: Any) -> tuple[int, int]:
    """(claimed trials, finished trials) of the study."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    claimed = [t for t in trials if t.state != TrialState.WAITING]
    return len(claimed), sum(t.state.is_finished() for t in claimed)


@contextmanager
def quiet_heartbeat_warning() -> Iterator[None]:
    """Optuna warns that storage heartbeats are meant for `Study.optimize`; this loop
    records them itself (`_heartbeat`), as `optimize` does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed",
                                category=UserWarning)
        yield


@contextmanager
def _heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # the database may be briefly unreachable: next beat
                pass
            if stop.wait(HEARTBEAT_S):
                return

    thread = threading.Thread(target=beat, daemon=True, name=f"llmops-trial-{trial_id}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _duplicate(study: Any, trial: Any, values: dict[str, Any]) -> Any:
    """An earlier completed trial with exactly these values, if any."""
    from optuna.trial import TrialState

    for done in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if done.number != trial.number and done.params == values:
            return done
    return None


def _failed_run(settings: StudySettings, name: str, tags: dict[str, Any], error: str) -> str:
    """A failed child run for a trial that failed before its training run started."""
    from llmops.tracking import RunStatus, start_run

    run = start_run(experiment=settings.experiment, name=name, tags=tags,
                    parent=settings.run_id or None)
    run.end(RunStatus.FAILED, error=error)
    return run.id


def _child_run(settings: StudySettings, name: str) -> str | None:
    """The id of the study run's child called `name`, if it exists."""
    from llmops.tracking import open_tracking

    if not settings.run_id:
        return None
    runs = open_tracking().list_runs(parent_id=settings.run_id, limit=10_000)
    return next((r.id for r in runs if r.name == name), None)


def _objective(study: Any, trial: Any, settings: StudySettings, space: SearchSpace) -> float:
    """Train one trial and return its objective; raises `optuna.TrialPruned` when the
    pruner stopped it, or whatever the training raised."""
    import optuna

    from llmops.training import make_config
    from llmops.training.loop import plan, run_plan

    values = space.suggest(trial)
    same = _duplicate(study, trial, values)
    if same is not None:  # each parameter set is trained once
        trial.set_user_attr("duplicate_of", same.number)
        return float(same.value)
    name = f"{study.study_name}-trial-{trial.number}"
    tags = {"llmops.kind": "training", "tune.study": study.study_name,
            "tune.trial": trial.number}
    try:
        config = make_config({**settings.train_options(values), "name": name})
        p = plan(config)
    except Exception as exc:
        error = "".join(traceback.format_exception_only(exc)).strip()
        trial.set_user_attr("run_id", _failed_run(settings, name, tags, error))
        raise
    if p.config.eval_every is None:  # pruning needs evaluations during training
        steps = p.config.max_steps or max(1, int(
            len(p.examples) * p.config.epochs // (p.config.batch_size * p.config.grad_accum)))
        p.config = p.config.model_copy(update={"eval_every": max(1, steps // 4)})
    prompts, refs = references(p.eval_examples)
    made: list[ObjectiveCallback] = []

    def callback(run: Any) -> ObjectiveCallback:
        run.set_tags(tags)
        trial.set_user_attr("run_id", run.id)
        made.append(ObjectiveCallback(run, trial, settings.objective, prompts, refs,
                                      max_new_tokens=settings.max_new_tokens))
        return made[-1]

    p.parent = settings.run_id or None
    p.callbacks.append(callback)
    try:
        run_plan(p)
    except Exception as exc:
        if not made:  # failed before training began: find its run, or record one
            error = "".join(traceback.format_exception_only(exc)).strip()
            trial.set_user_attr("run_id", _child_run(settings, name)
                                or _failed_run(settings, name, tags, error))
        raise
    scored = made[0]
    if scored.pruned_at is not None:
        raise optuna.TrialPruned(f"pruned at step {scored.pruned_at}")
    if scored.last is None:
        raise RuntimeError(f"the training made no evaluation, so no {settings.objective}")
    return scored.last


def run_trial(study: Any, trial: Any, settings: StudySettings, space: SearchSpace) -> None:
    """Run one claimed trial to an end Optuna knows: complete, pruned or failed."""
    import optuna
    from optuna.trial import TrialState

    with _heartbeat(study._storage, trial._trial_id):
        try:
            value = _objective(study, trial, settings, space)
        except optuna.TrialPruned:
            state, value = TrialState.PRUNED, None
        except Exception as exc:  # a crashed trial is recorded; the study goes on
            trial.set_user_attr("error", "".join(
                traceback.format_exception_only(exc)).strip()[:2000])
            state, value = TrialState.FAIL, None
        else:
            state = TrialState.COMPLETE
        with quiet_heartbeat_warning():
            study.tell(trial, value, state=state)


def work(name: str, *, progress: Progress | None = None) -> int:
    """Claim and run trials of study `name` until it has its number; returns how many
    this worker ran."""
    study, settings = load(name)
    space = settings.search_space()
    ran = 0
    while True:
        with study_lock(name):
            fail_stale(study)
            claimed, finished = counts(study)
            if claimed >= settings.trials:
                break
            with quiet_heartbeat_warning():
                trial = study.ask()  # an enqueued trial first, else a new sampled one
        if progress is not None:
            progress(finished, settings.trials)
        run_trial(study, trial, settings, space)
        ran += 1
    if progress is not None:
        progress(counts(study)[1], settings.trials)
    return ran


def wait_for_others(name: str, *, progress: Progress | None = None,
                    poll_s: float = 2.0) -> None:
    """Wait until no trial of the study is running (other workers finish theirs, or
    their heartbeats stop and the trials are failed as stale)."""
    from optuna.trial import TrialState

    study, settings = load(name)
    while True:
        fail_stale(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if progress is not None:
            progress(counts(study)[1], settings.trials)
        if not running:
            return
        time.sleep(poll_s)
