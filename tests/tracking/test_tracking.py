"""Tracking behaves the same against the local store and through the server."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import Conflict, InvalidInput, NotFound, UnsafePath, ValidationFailed
from llmops.tracking import RunStatus, start_run
from llmops.tracking.models import MetricPoint


def test_a_run_records_params_metrics_tags_and_artifacts(tracking: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "weights.bin").write_bytes(b"\x00" * 100)
    (out / "sub" / "config.json").write_text('{"a": 1}')
    with start_run(experiment="demo", name="r1", tracking=tracking) as run:
        run.log_params({"lr": 1e-4, "layers": 2})
        run.log_metric("loss", 0.5, step=1)
        run.log_metrics({"loss": 0.4, "acc": 0.7}, step=2)
        run.set_tag("stage", "test")
        folder = run.log_artifact(out)
        single = run.log_artifact(out / "weights.bin", name="model/weights.bin")
    info = tracking.get_run(run.id)
    assert info.status == RunStatus.FINISHED and info.ended_at is not None
    assert (info.experiment, info.name) == ("demo", "r1")
    assert info.params == {"lr": "0.0001", "layers": "2"}
    assert info.tags == {"stage": "test"}
    assert {k: (m.step, m.value) for k, m in info.metrics.items()} == {
        "loss": (2, 0.4), "acc": (2, 0.7)}
    assert [(a.name, a.kind, a.size) for a in info.artifacts] == [
        ("model/weights.bin", "file", 100), ("out", "tree", 108)]
    assert folder.kind == "tree" and single.kind == "file"
    history = tracking.metric_history(run.id, "loss")
    assert list(history.points())[0][:2] == (1, 0.5) and history.values == [0.5, 0.4]
    dest = tracking.download_artifact(run.id, "out", tmp_path / "back")
    assert (dest / "sub" / "config.json").read_text() == '{"a": 1}'
    assert (dest / "weights.bin").read_bytes() == b"\x00" * 100
    f = tracking.download_artifact(run.id, "model/weights.bin", tmp_path / "w.bin")
    assert f.read_bytes() == b"\x00" * 100


def test_steps_count_up_per_key_when_not_given(tracking: Any) -> None:
    with start_run(tracking=tracking) as run:
        for v in (3.0, 2.0, 1.0):
            run.log_metric("loss", v)
        run.log_metric("acc", 0.1)
    assert tracking.metric_history(run.id, "loss").steps == [0, 1, 2]
    assert tracking.metric_history(run.id, "acc").steps == [0]


def test_nan_and_infinity_survive_the_round_trip(tracking: Any) -> None:
    with start_run(tracking=tracking) as run:
        run.log_metrics({"nan": math.nan, "inf": math.inf, "ninf": -math.inf}, step=0)
    info = tracking.get_run(run.id)
    assert math.isnan(info.metrics["nan"].value)
    assert info.metrics["inf"].value == math.inf and info.metrics["ninf"].value == -math.inf
    assert math.isnan(tracking.metric_history(run.id, "nan").values[0])


def test_replaying_a_batch_changes_nothing(tracking: Any) -> None:
    run = start_run(tracking=tracking)
    points = [MetricPoint("loss", 1.0 / (i + 1), i, 1_000 + i) for i in range(100)]
    tracking.log_metrics(run.id, points)
    tracking.log_metrics(run.id, points)
    assert len(tracking.metric_history(run.id, "loss")) == 100
    run.end()


def test_latest_metric_is_the_highest_step_not_the_last_logged(tracking: Any) -> None:
    run = start_run(tracking=tracking)
    run.log_batch([("loss", 0.1, 10, 5), ("loss", 0.9, 3, 6)])
    assert tracking.get_run(run.id).metrics["loss"].step == 10
    run.end()


def test_an_exception_ends_the_run_as_failed_with_the_error(tracking: Any) -> None:
    with pytest.raises(RuntimeError), start_run(tracking=tracking) as run:
        raise RuntimeError("out of memory on step 7")
    info = tracking.get_run(run.id)
    assert info.status == RunStatus.FAILED
    assert info.error == "RuntimeError: out of memory on step 7"


def test_logging_to_a_finished_run_conflicts_and_changes_nothing(tracking: Any) -> None:
    with start_run(tracking=tracking) as run:
        run.log_metric("loss", 1.0, step=0)
    before = tracking.get_run(run.id)
    with pytest.raises(Conflict, match="finished"):
        tracking.log_metrics(run.id, [MetricPoint("loss", 2.0, 1, 1)])
    with pytest.raises(Conflict):
        tracking.log_params(run.id, {"late": 1})
    with pytest.raises(Conflict):
        tracking.end_run(run.id, "failed")
    assert tracking.get_run(run.id) == before


def test_a_param_cannot_change_but_can_be_repeated(tracking: Any) -> None:
    with start_run(tracking=tracking) as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="'lr'"):
            run.log_param("lr", 0.2)
    assert tracking.get_run(run.id).params == {"lr": "0.1"}


def test_unknown_runs_are_not_found(tracking: Any) -> None:
    with pytest.raises(NotFound):
        tracking.get_run("01ZZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(NotFound):
        tracking.log_metrics("01ZZZZZZZZZZZZZZZZZZZZZZZZ", [MetricPoint("x", 1.0, 0, 0)])


def test_bad_values_are_refused_before_anything_is_written(tracking: Any) -> None:
    with start_run(tracking=tracking) as run:
        with pytest.raises(ValidationFailed, match="'loss'"):
            run.log_metric("loss", "not a number")  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed):
            run.log_metric("", 1.0)
        with pytest.raises(ValidationFailed):
            run.log_metric("flag", True)
    assert tracking.get_run(run.id).metrics == {}


def test_bad_artifact_names_are_refused_and_nothing_is_recorded(tracking: Any,
                                                               tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    with start_run(tracking=tracking) as run:
        for bad in ("../f.txt", "/abs.txt", "a\\b", "%2e%2e%2f", "x\x00"):
            with pytest.raises(UnsafePath):
                run.log_artifact(f, name=bad)
    assert tracking.get_run(run.id).artifacts == []


def test_parent_and_child_runs_are_linked_in_lineage(tracking: Any) -> None:
    with start_run(experiment="search", name="study", tracking=tracking) as parent:
        with start_run(experiment="search", name="trial-0", parent=parent,
                       tracking=tracking) as child:
            child.log_input("dataset:01DATASETVERSION")
    assert tracking.get_run(child.id).parent_id == parent.id
    assert [r.id for r in tracking.list_runs(parent_id=parent.id)] == [child.id]
    graph = tracking.lineage(f"run:{child.id}")
    assert {(e.source, e.relation) for e in graph.upstream} == {
        (f"run:{parent.id}", "parent"), ("dataset:01DATASETVERSION", "input")}
    down = tracking.lineage(f"run:{parent.id}").downstream
    assert [e.target for e in down] == [f"run:{child.id}"]


def test_runs_are_listed_newest_first_and_filtered(tracking: Any) -> None:
    ids = []
    for exp in ("a", "b", "a"):
        with start_run(experiment=exp, tracking=tracking) as run:
            ids.append(run.id)
    assert [r.id for r in tracking.list_runs(experiment="a")] == [ids[2], ids[0]]
    assert len(tracking.list_runs(limit=2)) == 2
    assert {e.name for e in tracking.list_experiments()} >= {"a", "b"}


def test_experiment_names_follow_the_name_rule(tracking: Any) -> None:
    with pytest.raises(InvalidInput, match="a-z"):
        start_run(experiment="Bad Name", tracking=tracking)
