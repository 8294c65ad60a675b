"""Every bad input the training issue names: the exact error, and nothing recorded."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.errors import InvalidInput, ResourceExhausted
from llmops.tracking import open_tracking
from llmops.training import train
from llmops.workspace import Workspace
from tests.helpers import table_counts


def _nothing_ran() -> None:
    counts = table_counts(Workspace.open().store)
    assert counts["runs"] == 0 and counts["model_versions"] == 0


def test_dpo_on_a_chat_dataset_fails_before_any_model_loads(home: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        train(recipe="dpo", base="/nonexistent/never-loaded", data="travel-qa@1")
    assert str(err.value) == ("recipe 'dpo' cannot train on dataset:travel-qa@1 (kind 'chat'): "
                              "it takes 'preference' datasets")
    _nothing_ran()


@pytest.mark.parametrize(("option", "value", "field"), [
    ("lr", 0, "lr"), ("lr", -1e-4, "lr"), ("max_steps", 0, "max_steps"),
    ("batch_size", 0, "batch_size"), ("batch_size", -2, "batch_size"),
    ("epochs", 0, "epochs"),
])
def test_non_positive_numbers_are_refused(home: Settings, option: str, value: float,
                                          field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base="x", data="travel-qa@1", **{option: value})
    assert str(err.value).startswith(f"invalid training options: {field}: Input should be "
                                     "greater than 0")
    _nothing_ran()


def test_unknown_option_and_recipe(home: Settings) -> None:
    with pytest.raises(InvalidInput, match="learning_rate: Extra inputs are not permitted"):
        train(recipe="sft", base="x", data="travel-qa@1", learning_rate=1e-3)
    with pytest.raises(InvalidInput, match="unknown recipe 'ppo': use one of sft, dpo"):
        train(recipe="ppo", base="x", data="travel-qa@1")
    _nothing_ran()


def test_qlora_on_cpu_fails_before_anything_loads(home: Settings) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InvalidInput, match="needs a CUDA GPU; on this machine use --lora"):
        train(recipe="sft", base="/nonexistent", data="travel-qa@1", qlora=True)
    _nothing_ran()


def test_pickle_weights_are_refused(home: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base=str(folder), data="travel-qa@1")
    assert "holds pickle weights (pytorch_model.bin); only safetensors load" in str(err.value)
    _nothing_ran()


def test_unknown_hub_id_offline_says_how_to_give_a_local_path(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base="acme/never-downloaded", data="travel-qa@1")
    assert str(err.value).startswith("model 'acme/never-downloaded' is not available offline "
                                     "(HF_HUB_OFFLINE=1")
    assert "--base ./path/to/model" in str(err.value)
    _nothing_ran()


def test_out_of_memory_marks_the_run_failed_with_the_message(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from trl import SFTTrainer

    def oom(self: object, *args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(SFTTrainer, "train", oom)
    with pytest.raises(ResourceExhausted, match="out of memory at step 0"):
        train(recipe="sft", base=str(tiny_base), data="travel-qa@1", max_steps=2)
    [run] = open_tracking().list_runs(experiment="training")
    assert run.status == "failed"
    assert "Tried to allocate 2.00 GiB" in (run.error or "")
    assert "Lower --batch-size" in (run.error or "")


def test_disk_full_while_checkpointing_keeps_earlier_checkpoints(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    artifacts = Workspace.open().artifacts
    real_put = artifacts.put
    calls = {"checkpoints": 0}

    def put(source: object) -> object:
        if "checkpoint-" in str(source):
            calls["checkpoints"] += 1
            if calls["checkpoints"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(source)  # type: ignore[arg-type]

    monkeypatch.setattr(artifacts, "put", put)
    with pytest.raises(ResourceExhausted) as err:
        train(recipe="sft", base=str(tiny_base), data="travel-qa@1", max_steps=6,
              batch_size=4, checkpoint_every=2)
    assert str(err.value).startswith("checkpoint at step 4 could not be stored: the disk is "
                                     "full. Earlier checkpoints are intact "
                                     "(checkpoints/step-00000002)")
    tracking = open_tracking()
    [run] = tracking.list_runs(experiment="training")
    assert run.status == "failed" and "the disk is full" in (run.error or "")
    assert "model" not in {a.name for a in run.artifacts}
    kept = tracking.download_artifact(run.id, "checkpoints/step-00000002", tmp_path / "ckpt")
    assert (kept / "trainer_state.json").is_file()  # verified against its digest on the way


def test_mixed_chat_rows_fail_before_anything_loads(home: Settings) -> None:
    from llmops import datasets
    from tests.tiny import qa_rows

    rows = qa_rows(3)
    rows[2]["messages"] = rows[2]["messages"][:2]  # type: ignore[index]
    datasets.import_dataset("mixed", rows, kind="chat")
    with pytest.raises(InvalidInput, match="row 2 ends with a non-assistant message and row 0"
                                           " does not"):
        train(recipe="sft", base="/never/loaded", data="mixed@1")
    _nothing_ran()
