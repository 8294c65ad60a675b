"""The model registry: numbered immutable versions, aliases with history, lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.registry import ModelRegistry
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace
from tests.helpers import table_counts


def _folder(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(content)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    return folder


@pytest.fixture
def reg(workspace: Workspace) -> ModelRegistry:
    return ModelRegistry(workspace)


def test_versions_are_numbered_and_found_by_number_alias_and_latest(
        reg: ModelRegistry, tmp_path: Path) -> None:
    v1 = reg.register("travel", _folder(tmp_path, "a", b"one"), metrics={"loss": 1.5})
    v2 = reg.register("travel", _folder(tmp_path, "b", b"two"), format="lora",
                      base="model:travel@1", base_version_id=v1.id)
    assert (v1.version, v2.version) == (1, 2)
    assert reg.get("travel").id == v2.id == reg.get("model:travel@latest").id
    assert reg.get("model:travel@1").metrics == {"loss": 1.5}
    change = reg.set_alias("travel", "1", "production")
    assert (change.version, change.previous_version, change.changed) == (1, None, True)
    assert reg.get("travel@production").id == v1.id
    assert reg.get("travel@1").aliases == ["production"]
    reg.set_alias("travel", "2", "production")
    back = reg.rollback("travel", "production")
    assert (back.version, back.previous_version) == (1, 2)
    [summary] = reg.list_models()
    assert (summary.latest_version, summary.versions, summary.aliases) == (
        2, 2, {"production": 1})


def test_files_come_back_byte_for_byte_from_a_cache(reg: ModelRegistry,
                                                    tmp_path: Path) -> None:
    version = reg.register("travel", _folder(tmp_path, "a", b"weights"))
    path = reg.local_path(version)
    assert (path / "model.safetensors").read_bytes() == b"weights"
    assert reg.local_path(version) == path


def test_registering_records_lineage_from_run_and_base(workspace: Workspace,
                                                       reg: ModelRegistry,
                                                       tmp_path: Path) -> None:
    tracking = LocalTracking(workspace)
    run = tracking.create_run(experiment="training")
    base = reg.register("base", _folder(tmp_path, "a", b"base"))
    tuned = reg.register("tuned", _folder(tmp_path, "b", b"lora"), format="lora",
                         base_version_id=base.id, run_id=run.id)
    graph = tracking.lineage(f"model:{tuned.id}")
    edges = {(e.source, e.target, e.relation) for e in graph.upstream}
    assert edges == {(f"run:{run.id}", f"model:{tuned.id}", "produced"),
                     (f"model:{base.id}", f"model:{tuned.id}", "base")}


def test_record_metrics_adds_to_a_version(reg: ModelRegistry, tmp_path: Path) -> None:
    reg.register("travel", _folder(tmp_path, "a", b"x"), metrics={"loss": 1.0})
    updated = reg.record_metrics("travel@1", {"eval.rougeL": 0.5})
    assert updated.metrics == {"loss": 1.0, "eval.rougeL": 0.5}


def test_bad_input_changes_nothing(workspace: Workspace, reg: ModelRegistry,
                                   tmp_path: Path) -> None:
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="invalid model name 'Bad Name'"):
        reg.register("Bad Name", _folder(tmp_path, "a", b"x"))
    with pytest.raises(InvalidInput, match="invalid model format 'gguf': use one of full, lora"):
        reg.register("travel", tmp_path / "a", format="gguf")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="does not exist or is not a folder"):
        reg.register("travel", tmp_path / "missing")
    with pytest.raises(NotFound, match="no registered model 'travel'.*build-base tiny-travel"):
        reg.get("model:travel@1")
    assert table_counts(workspace.store) == before

    reg.register("travel", tmp_path / "a")
    with pytest.raises(NotFound, match="model 'travel' has no version 7; it has versions 1-1"):
        reg.get("travel@7")
    with pytest.raises(NotFound, match="model 'travel' has no alias 'production'"):
        reg.get("travel@production")
    with pytest.raises(NotFound, match="no registered model 'travl'; did you mean travel"):
        reg.get("travl")
    with pytest.raises(InvalidInput, match="invalid model reference 'dataset:x@1'"):
        reg.get("dataset:x@1")
    reg.set_alias("travel", "1", "production")
    with pytest.raises(Conflict):
        reg.rollback("travel", "production")  # nothing earlier to go back to
