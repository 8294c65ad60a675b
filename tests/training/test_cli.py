"""`llmops train`, `llmops models` and `llmops eval` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli.app import app
from llmops.config import Settings
from llmops.training.tinytravel import build
from llmops.training.tinytravel.corpus import FACTS, corpus_lines
from llmops.workspace import Workspace
from tests.helpers import table_counts

runner = CliRunner()


def test_train_registers_and_models_commands_show_it(home: Settings, tiny_base: Path) -> None:
    result = runner.invoke(app, ["train", "sft", "--base", str(tiny_base), "--data",
                                 "travel-qa@1", "--lora", "--max-steps", "2", "--batch-size",
                                 "4", "--register", "travel-assistant", "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["model"]["version"] == 1 and trained["steps"] == 2

    assert runner.invoke(app, ["models", "alias", "travel-assistant", "1",
                               "production"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["models", "show",
                                           "model:travel-assistant@production",
                                           "--json"]).stdout)
    assert shown["run_id"] == trained["run_id"] and shown["aliases"] == ["production"]
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert listed[0]["aliases"] == {"production": 1}
    lineage = runner.invoke(app, ["lineage", "show", "model:travel-assistant@1"])
    assert "model:travel-assistant@1" in lineage.stdout and f"run:{trained['run_id']}" in (
        lineage.stdout)


@pytest.mark.parametrize("flags", [["--lr", "0"], ["--lr", "-0.1"], ["--max-steps", "0"],
                                   ["--batch-size", "0"]])
def test_non_positive_numbers_are_usage_errors(home: Settings, flags: list[str]) -> None:
    result = runner.invoke(app, ["train", "sft", "--base", "x", "--data", "travel-qa@1",
                                 *flags])
    assert result.exit_code == 2
    assert "Input should be greater than 0" in re.sub(r"[\s│]+", " ", result.output)
    assert table_counts(Workspace.open().store)["runs"] == 0


def test_wrong_dataset_kind_is_a_user_error(home: Settings) -> None:
    result = runner.invoke(app, ["train", "dpo", "--base", "x", "--data", "travel-qa@1"])
    assert "it takes 'preference' datasets" in str(result.exception)
    assert result.output == ""  # failed before the progress bar


def test_recipe_file_options_are_overridden_by_flags(home: Settings, tiny_base: Path,
                                                     tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"base: {tiny_base}\ndata: travel-qa@1\nmax_steps: 3\nlr: 0.5\n")
    result = runner.invoke(app, ["train", "sft", "--config", str(recipe), "--max-steps", "1",
                                 "--batch-size", "4", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 1


def test_the_corpus_is_deterministic_and_states_the_facts() -> None:
    lines = corpus_lines()
    assert lines == corpus_lines() and 2000 < len(lines) == len(set(lines))
    text = "\n".join(lines)
    for city, (country, *_rest) in FACTS.items():
        assert f"{city} is in {country}." in text


def test_build_base_pretrains_and_registers_with_lineage(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = build.BaseSpec(vocab_size=400, hidden_size=32, layers=1, heads=2, kv_heads=1,
                          intermediate_size=64, context=64, epochs=0.02, batch_size=16)
    monkeypatch.setitem(build.BASES, "tiny-travel", tiny)
    result = runner.invoke(app, ["models", "build-base", "tiny-travel", "--json"])
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["model"]["name"] == "tiny-travel" and built["model"]["version"] == 1
    assert built["model"]["format"] == "full"
    assert built["model"]["sources"]["train"] == "dataset:tiny-travel-corpus@1#train"
    again = runner.invoke(app, ["models", "build-base", "tiny-travel"])
    assert "model:tiny-travel@1 is registered already" in str(again.exception)


def test_model_card_and_vllm_export(home: Settings, tiny_base: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    from llmops import registry
    from llmops.training import train

    full = train(recipe="sft", base=str(tiny_base), data="travel-qa@1", max_steps=1,
                 batch_size=4, register="travel-base")
    lora = train(recipe="sft", base="model:travel-base@1", data="travel-qa@1", lora=True,
                 max_steps=1, batch_size=4, register="travel-assistant")
    registry.set_alias("travel-assistant", "1", "production")
    card = runner.invoke(app, ["models", "card", "travel-assistant@production"])
    assert card.exit_code == 0, card.output
    text = card.stdout
    assert text.startswith("# travel-assistant (version 1)")
    assert "| Base model | model:travel-base@1 |" in text
    assert f"Run `{lora.run_id}`" in text and "dataset:travel-qa@1" in text
    assert "| train_loss |" in text and "recipe=sft" in text and "lora=True" in text

    merged = tmp_path / "vllm"
    result = runner.invoke(app, ["models", "export", "travel-assistant@1", "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in merged.iterdir()}
    with safe_open(str(merged / "model.safetensors"), "pt") as f:
        assert not any("lora" in k for k in f.keys())  # merged: plain weights
    separate = tmp_path / "separate"
    runner.invoke(app, ["models", "export", "travel-assistant@1", "-o", str(separate),
                        "--separate-lora"])
    assert (separate / "adapter" / "adapter_config.json").is_file()
    assert (separate / "base" / "model.safetensors").is_file()
    assert full.model is not None
    again = runner.invoke(app, ["models", "export", "travel-base@1", "-o", str(merged)])
    assert "exists; export into a new folder" in str(again.exception)
