"""`llmops tune` on the tiny model: trials as child runs, pruning, crashed trials, the best
trial registered with lineage, and the inputs refused before the first trial."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import llmops
from llmops import datasets
from llmops.cli.app import app
from llmops.config import Settings
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.tracking import open_tracking
from llmops.workspace import Workspace
from tests.helpers import table_counts
from tests.tiny import preference_rows

runner = CliRunner()
FIXED = {"lora": True, "max_steps": 4, "batch_size": 4, "eval_every": 2}
LR = {"type": "float", "low": 1e-8, "high": 5e-2, "log": True}


def _children(run_id: str) -> list[Any]:
    return sorted(open_tracking().list_runs(parent_id=run_id), key=lambda r: r.name)


def test_trials_are_child_runs_and_the_best_is_registered_with_lineage(
        home: Settings, tiny_base: Path) -> None:
    result = llmops.tune("sft", str(tiny_base), "travel-qa@1",
                         space={"lr": LR, "lora_r": {"type": "categorical", "choices": [4, 8]},
                                "fixed": FIXED},
                         objective="eval_loss", trials=2, study="lr-search",
                         register="tuned", enqueue=[{"lr": 1e-2, "lora_r": 4}])
    assert result.study == "lr-search" and result.direction == "min"
    assert [t.number for t in result.trials] == [0, 1] and result.ran_here == 2
    assert result.trials[0].params == {"lr": 1e-2, "lora_r": 4}  # enqueued first
    assert all(t.state == "complete" for t in result.trials)
    best = min(result.trials, key=lambda t: t.value or 0)
    assert (result.best_trial, result.best_value, result.best_params, result.best_run_id) == (
        best.number, best.value, best.params, best.run_id)

    tracking = open_tracking()
    study_run = tracking.get_run(result.run_id)
    assert study_run.status == "finished" and study_run.tags["llmops.kind"] == "tuning"
    assert study_run.params["objective"] == "eval_loss" and study_run.params["trials"] == "2"
    assert study_run.metrics["best_eval_loss"].value == result.best_value
    assert study_run.tags["tune.best_run"] == result.best_run_id
    children = _children(result.run_id)
    assert [c.name for c in children] == ["lr-search-trial-0", "lr-search-trial-1"]
    for child, trial in zip(children, result.trials, strict=True):
        assert child.id == trial.run_id and child.status == "finished"
        assert float(child.params["lr"]) == trial.params["lr"]
        assert child.params["lora_r"] == str(trial.params["lora_r"])
        assert child.params["max_steps"] == "4"
        assert child.metrics["eval_loss"].value == trial.value
        assert child.tags["tune.study"] == "lr-search"
        artifacts = tracking.get_run(child.id).artifacts
        assert {"model", "llmops-train.yaml"} <= {a.name for a in artifacts}

    model = result.model
    assert model is not None and model.ref == "model:tuned@1" and model.format == "lora"
    assert model.run_id == result.best_run_id
    assert model.sources["study"] == "lr-search" and model.sources["trial"] == best.number
    assert model.metrics == {"eval_loss": result.best_value}
    graph = tracking.lineage(f"model:{model.id}")
    edges = {(e.source, e.target, e.relation) for e in [*graph.upstream, *graph.downstream]}
    assert (f"run:{result.best_run_id}", f"model:{model.id}", "produced") in edges
    assert (f"run:{result.run_id}", f"model:{model.id}", "best-trial") in edges
    assert (f"run:{result.run_id}", f"run:{result.best_run_id}", "parent") in edges


def test_a_trial_behind_the_median_is_pruned_at_an_intermediate_evaluation(
        home: Settings, tiny_base: Path) -> None:
    result = llmops.tune("sft", str(tiny_base), "travel-qa@1", space={"lr": LR, "fixed": FIXED},
                         objective="eval_loss", trials=2, startup_trials=1,
                         enqueue=[{"lr": 5e-2}, {"lr": 1e-8}])
    good, slow = result.trials
    assert good.state == "complete" and slow.state == "pruned"
    assert result.best_trial == good.number
    run = open_tracking().get_run(slow.run_id or "")
    assert run.tags["tune.pruned_at"] == "2" and run.status == "finished"
    assert run.metrics["eval_loss"].step == 2  # stopped there: no evaluation at step 4


def test_a_crashed_trial_is_recorded_as_failed_and_the_study_goes_on(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.training import loop

    real = loop._execute
    calls: list[int] = []

    def crash_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom: the GPU fell off")
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "_execute", crash_once)
    result = llmops.tune("sft", str(tiny_base), "travel-qa@1", space={"lr": LR, "fixed": FIXED},
                         objective="eval_loss", trials=2)
    crashed, ok = result.trials
    assert crashed.state == "fail" and ok.state == "complete"
    assert crashed.error == "RuntimeError: boom: the GPU fell off"
    assert result.best_trial == ok.number
    run = open_tracking().get_run(crashed.run_id or "")
    assert run.status == "failed" and run.error == "RuntimeError: boom: the GPU fell off"
    assert run.parent_id == result.run_id


def test_cli_scores_a_generation_metric_and_prints_json(
        home: Settings, tiny_base: Path, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
                     "fixed: {lora: true, max_steps: 2, batch_size: 4, eval_every: 1}\n")
    result = runner.invoke(app, ["tune", "--recipe", "sft", "--base", str(tiny_base),
                                 "--data", "travel-qa@1", "--space", str(space),
                                 "--objective", "rougeL", "--direction", "max", "--trials",
                                 "2", "--study", "rouge", "--max-new-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["study"] == "rouge" and out["objective"] == "rougeL"
    assert out["direction"] == "max" and len(out["trials"]) == 2
    assert set(out["best_params"]) == {"lr"} and 0 <= out["best_value"] <= 1
    assert out["run_id"] and out["best_run_id"] in {t["run_id"] for t in out["trials"]}
    history = open_tracking().metric_history(out["best_run_id"], "eval_rougeL")
    assert list(history.steps) == [1, 2]  # scored at each evaluation

    shown = runner.invoke(app, ["tune", "--study", "rouge", "--join", "--json"])
    assert shown.exit_code == 0, shown.output  # the study is full: a joiner runs nothing
    assert json.loads(shown.stdout)["ran_here"] == 0
    table = runner.invoke(app, ["tune", "--study", "rouge", "--join"])
    assert table.exit_code == 0, table.output
    assert f"best: trial {out['best_trial']}, rougeL" in table.stdout
    assert f"run {out['best_run_id']}" in table.stdout and "complete" in table.stdout


def test_dpo_searches_beta(home: Settings, tiny_base: Path) -> None:
    datasets.import_dataset("prefs", preference_rows(16), kind="preference",
                            split={"train": 0.75, "val": 0.25})
    result = llmops.tune("dpo", str(tiny_base), "prefs@1",
                         space={"beta": {"type": "uniform", "low": 0.05, "high": 0.5},
                                "fixed": {"lora": True, "max_steps": 2, "batch_size": 4}},
                         objective="eval_loss", trials=2)
    assert [t.state for t in result.trials] == ["complete", "complete"]
    for trial in result.trials:
        run = open_tracking().get_run(trial.run_id or "")
        assert float(run.params["beta"]) == trial.params["beta"]
        assert run.params["recipe"] == "dpo"


def _tune_cli(*args: str) -> Any:
    return runner.invoke(app, ["tune", "--recipe", "sft", "--base", "x", "--data",
                               "travel-qa@1", "--trials", "2", *args])


def test_an_objective_the_evaluation_does_not_produce_is_refused_before_any_trial(
        home: Settings, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("lr: {type: float, low: 1.0e-4, high: 1.0e-2}\n")
    before = table_counts(Workspace.open().store)
    for objective in ("accuracy", "latency_ms"):
        result = _tune_cli("--space", str(space), "--objective", objective)
        assert result.exit_code == 2
        text = re.sub(r"[\s│]+", " ", result.output)
        assert f"objective '{objective}' is not a metric the evaluation produces: use " \
               "eval_loss, bleu, chrf, rouge1" in text
    with pytest.raises(InvalidInput, match="objective 'accuracy' is not a metric"):
        llmops.tune("sft", "x", "travel-qa@1", space=str(space), objective="accuracy",
                    trials=2)
    assert table_counts(Workspace.open().store) == before
    assert not (home.home_path / "optuna.db").exists()


def test_a_bad_study_name_is_a_usage_error(home: Settings, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("lr: {type: float, low: 1.0e-4, high: 1.0e-2}\n")
    result = _tune_cli("--space", str(space), "--objective", "eval_loss", "--study", "My Study")
    assert result.exit_code == 2
    assert "invalid study name 'My Study'" in re.sub(r"[\s│]+", " ", result.output)
    assert not (home.home_path / "optuna.db").exists()


def test_data_without_a_validation_split_is_refused_before_any_trial(
        home: Settings, tiny_base: Path) -> None:
    before = table_counts(Workspace.open().store)
    with pytest.raises(InvalidInput, match=r"travel-prefs@1 has no validation split to "
                                           r"measure 'eval_loss' on"):
        llmops.tune("dpo", str(tiny_base), "travel-prefs@1", space={"beta": {
            "type": "float", "low": 0.1, "high": 0.2}}, objective="eval_loss", trials=2)
    assert table_counts(Workspace.open().store) == before


def test_joining_needs_an_existing_study_and_takes_its_settings(
        home: Settings, tiny_base: Path) -> None:
    with pytest.raises(NotFound, match="no study 'nope'"):
        llmops.tune(study="nope", join=True)
    llmops.tune("sft", str(tiny_base), "travel-qa@1", space={"lr": LR, "fixed": {
        **FIXED, "max_steps": 1}}, objective="eval_loss", trials=1, study="s1")
    with pytest.raises(Conflict, match="study 's1' already exists: add --join"):
        llmops.tune("sft", str(tiny_base), "travel-qa@1", space={"lr": LR},
                    objective="eval_loss", trials=1, study="s1")
    with pytest.raises(InvalidInput, match="a worker joining study 's1' takes its settings "
                                           "from the study: drop objective"):
        llmops.tune(study="s1", join=True, objective="rougeL")
