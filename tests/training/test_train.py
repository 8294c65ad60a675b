"""SFT (full, LoRA) and DPO end to end on a tiny in-process model: the artifact tree, the
run, the registered version and its lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops import registry
from llmops.config import Settings
from llmops.tracking import open_tracking
from llmops.training import TrainResult, make_config, train


def _files(digest: str) -> set[str]:
    from llmops.workspace import Workspace

    return {e.path for e in Workspace.open().artifacts.read_tree(digest)}


def _lineage(node: str) -> set[tuple[str, str, str]]:
    graph = open_tracking().lineage(node)
    return {(e.source, e.target, e.relation) for e in graph.upstream + graph.downstream}


def test_sft_lora_trains_tracks_checkpoints_and_registers(home: Settings,
                                                          tiny_base: Path) -> None:
    steps: list[tuple[int, int]] = []
    result = train(recipe="sft", base=str(tiny_base), data="travel-qa@1", lora=True,
                   max_steps=4, batch_size=4, lr=1e-3, checkpoint_every=2,
                   register="travel-assistant", progress=lambda d, t: steps.append((d, t)))
    assert result.status == "finished" and result.steps == 4
    assert steps[-1] == (4, 4)
    assert set(result.metrics) == {"train_loss", "eval_loss"}  # val split found by itself

    files = _files(result.artifact)
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json",
            "chat_template.jinja", "llmops-train.yaml"} <= files
    assert not any(f.endswith((".bin", ".pt")) for f in files)

    tracking = open_tracking()
    run = tracking.get_run(result.run_id)
    assert run.tags["method"] == "lora" and run.params["recipe"] == "sft"
    names = {a.name for a in run.artifacts}
    assert {"model", "llmops-train.yaml", "checkpoints/step-00000002",
            "checkpoints/step-00000004"} <= names
    loss = tracking.metric_history(result.run_id, "loss")
    assert loss.steps == [1, 2, 3, 4]
    assert {"lr", "grad_norm", "tokens_per_s", "system/cpu_peak_rss_mb"} <= set(run.metrics)

    version = result.model
    assert version is not None and version.ref == "model:travel-assistant@1"
    assert version.format == "lora" and version.run_id == result.run_id
    assert version.artifact == result.artifact
    assert version.sources["train"] == "dataset:travel-qa@1#train"
    assert version.sources["eval"] == "dataset:travel-qa@1#val"
    dataset_id = version.sources["datasets"][0]
    edges = _lineage(f"run:{result.run_id}")
    assert (f"dataset:{dataset_id}", f"run:{result.run_id}", "input") in edges
    assert (f"run:{result.run_id}", f"model:{version.id}", "produced") in edges


def test_full_sft_then_lora_on_the_registered_version(home: Settings, tiny_base: Path) -> None:
    full = train(recipe="sft", base=str(tiny_base), data="travel-qa@1#train", max_steps=2,
                 batch_size=4, register="travel-base")
    assert full.model is not None and full.model.format == "full"
    assert "model.safetensors" in _files(full.artifact)

    lora = train(recipe="sft", base="model:travel-base@1", data="travel-qa@1", lora=True,
                 max_steps=2, batch_size=4, register="travel-assistant")
    assert lora.model is not None and lora.model.base_version_id == full.model.id
    assert (f"model:{full.model.id}", f"model:{lora.model.id}", "base") in _lineage(
        f"model:{lora.model.id}")

    # a base that is itself a LoRA version is merged into its base first, and says so
    stacked = train(recipe="sft", base="model:travel-assistant@1", data="travel-qa@1",
                    lora=True, max_steps=1, batch_size=4)
    assert any("LoRA adapter: merged into model:travel-base@1" in n for n in stacked.notes)


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
def test_dpo_trains_on_preferences(home: Settings, tiny_base: Path, lora: bool) -> None:
    result = train(recipe="dpo", base=str(tiny_base), data="travel-prefs@1", lora=lora,
                   max_steps=2, batch_size=4, beta=0.2, register="travel-dpo")
    assert result.status == "finished" and result.steps == 2
    run = open_tracking().get_run(result.run_id)
    assert run.params["beta"] == "0.2"
    assert "dpo/reward_accuracy" in run.metrics
    weights = "adapter_model.safetensors" if lora else "model.safetensors"
    assert weights in _files(result.artifact)
    assert registry.get("travel-dpo").format == ("lora" if lora else "full")


def test_yaml_recipe_with_flag_overrides(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("recipe: sft\nbase: model:tiny-travel@1\ndata: travel-qa@1\n"
                      "lora: true\nlr: 0.001\nmax-steps: 10\n")
    config = make_config({"lr": 0.01, "epochs": None}, file=recipe)
    assert (config.lr, config.max_steps, config.lora) == (0.01, 10, True)
    assert make_config(config.resolved()) == config  # what the run saves reloads the same


def test_the_resolved_config_is_saved_with_the_output(home: Settings, tiny_base: Path,
                                                      tmp_path: Path) -> None:
    result: TrainResult = train(recipe="sft", base=str(tiny_base), data="travel-qa@1",
                                max_steps=1, batch_size=4, seed=7)
    saved = open_tracking().download_artifact(result.run_id, "llmops-train.yaml",
                                              tmp_path / "c.yaml")
    config = make_config(__import__("yaml").safe_load(saved.read_text()))
    assert (config.seed, config.max_steps, config.recipe) == (7, 1, "sft")


def test_full_dpo_gets_the_merged_base_as_its_reference(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trl import DPOTrainer

    train(recipe="sft", base=str(tiny_base), data="travel-qa@1", lora=True, max_steps=1,
          batch_size=4, register="adapter")
    seen: dict[str, object] = {}
    real = DPOTrainer.__init__

    def init(self: DPOTrainer, *args: object, **kwargs: object) -> None:
        seen["ref_model"] = kwargs.get("ref_model")
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DPOTrainer, "__init__", init)
    train(recipe="dpo", base="model:adapter@1", data="travel-prefs@1", max_steps=1,
          batch_size=4)
    assert seen["ref_model"] is not None  # not reloaded from the raw base's path


def test_the_saved_config_pins_versions_for_resume(home: Settings, tiny_base: Path,
                                                   tmp_path: Path) -> None:
    import yaml

    result = train(recipe="sft", base=str(tiny_base), data="travel-qa", max_steps=1,
                   batch_size=4)
    saved = yaml.safe_load(open_tracking().download_artifact(
        result.run_id, "llmops-train.yaml", tmp_path / "c.yaml").read_text())
    assert saved["data"] == "dataset:travel-qa@1#train"
    assert saved["eval_data"] == "dataset:travel-qa@1#val"
    assert saved["base"] == str(tiny_base.resolve()) and saved["packing"] is False
