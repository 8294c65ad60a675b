"""Search spaces: the distributions a study samples, and every invalid space refused
before anything runs, naming the parameter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli.app import app
from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.tuning import load_space, make_space
from llmops.workspace import Workspace
from tests.helpers import table_counts

runner = CliRunner()


def test_a_space_declares_each_distribution_and_fixed_options(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("learning_rate: {type: float, low: 1e-5, high: 1.0e-3, log: true}\n"
                    "lora_r: {type: categorical, choices: [4, 8, 16]}\n"
                    "max_steps: {type: int, low: 4, high: 8, step: 2}\n"
                    "beta: {type: uniform, low: 0.05, high: 0.5}\n"
                    "weight_decay: {type: loguniform, low: 0.001, high: 0.1}\n"
                    "fixed: {lora: true, batch_size: 4}\n")
    space = load_space(path)
    by_name = {p.name: p for p in space.params}
    assert list(by_name) == ["lr", "lora_r", "max_steps", "beta", "weight_decay"]
    assert by_name["lr"].log and by_name["lr"].low == 1e-5  # YAML's 1e-5 is a string
    assert by_name["weight_decay"].log and not by_name["beta"].log
    assert by_name["lora_r"].choices == (4, 8, 16)
    assert space.fixed == {"lora": True, "batch_size": 4}
    distributions = space.distributions()
    assert distributions["max_steps"].step == 2 and distributions["lr"].log
    assert make_space(space.to_data()) == space  # what a joining worker reads back


@pytest.mark.parametrize(("space", "message"), [
    ({}, "search space declares no parameters: add at least one"),
    ({"fixed": {"lora": True}}, "search space declares no parameters (only 'fixed')"),
    ({"lr": {"type": "gaussian", "low": 1, "high": 2}},
     "parameter 'lr': unknown distribution 'gaussian': use float, uniform, loguniform"),
    ({"lr": {"low": 1e-3, "high": 1e-2}}, "parameter 'lr': unknown distribution '(none)'"),
    ({"lr": {"type": "float", "low": 0.1, "high": 0.01}}, "parameter 'lr': low 0.1 > high 0.01"),
    ({"lora_r": {"type": "int", "low": 16, "high": 4}}, "parameter 'lora_r': low 16 > high 4"),
    ({"warmup": {"type": "float", "low": 0, "high": 0.1}},
     "parameter 'warmup': not a training option (TrainConfig field)"),
    ({"data": {"type": "categorical", "choices": ["a", "b"]}},
     "parameter 'data': fixed for a study, not searchable"),
    ({"lr": {"type": "float", "low": 0, "high": 0.1, "log": True}},
     "parameter 'lr': a log distribution needs low > 0, not 0"),
    ({"lr": {"type": "float", "low": 0, "high": 0.1}},
     "parameter 'lr': low 0 is not a valid lr: Input should be greater than 0"),
    ({"lora_r": {"type": "categorical", "choices": [8, 0]}},
     "parameter 'lora_r': choice 0 is not a valid lora_r: Input should be greater than 0"),
    ({"lora_r": {"type": "categorical", "choices": []}},
     "parameter 'lora_r': categorical needs a non-empty list 'choices'"),
    ({"lora_r": {"type": "int", "low": 4, "high": 8.5}},
     "parameter 'lora_r': high must be a whole number for an int parameter"),
    ({"lr": {"type": "float", "low": "small", "high": 0.1}},
     "parameter 'lr': low must be a number, not 'small'"),
    ({"lr": {"type": "float", "low": 1e-4, "high": 0.1, "choices": [1]}},
     "parameter 'lr': unknown key 'choices' for a float distribution"),
    ({"lr": 0.1}, "parameter 'lr': must be a mapping"),
    ({"lr": {"type": "float", "low": 1e-4, "high": 0.1}, "fixed": {"lr": 0.1}},
     "parameter 'lr': both searched and fixed"),
    ({"lr": {"type": "float", "low": 1e-4, "high": 0.1}, "fixed": {"speed": 1}},
     "fixed option 'speed' is not a training option"),
    ({"lr": {"type": "float", "low": 1e-4, "high": 0.1}, "fixed": {"backend": "ray"}},
     "fixed option 'backend' is set by the study itself"),
])
def test_an_invalid_space_names_the_parameter(space: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_space(space)
    assert message in caught.value.detail


@pytest.mark.parametrize(("text", "message"), [
    ("", "declares no parameters"),
    ("lr: {type: float, low: 0.1, high: 0.01}\n", "parameter 'lr': low 0.1 > high 0.01"),
    ("lr: {type: beta, low: 0.1, high: 0.2}\n", "parameter 'lr': unknown distribution 'beta'"),
    ("speed: {type: int, low: 1, high: 2}\n", "parameter 'speed': not a training option"),
])
def test_the_cli_refuses_an_invalid_space_as_a_usage_error_and_records_nothing(
        home: Settings, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    before = table_counts(Workspace.open().store)
    result = runner.invoke(app, ["tune", "--recipe", "sft", "--base", "x", "--data",
                                 "travel-qa@1", "--space", str(path), "--objective",
                                 "eval_loss", "--trials", "2"])
    assert result.exit_code == 2
    assert message in re.sub(r"[\s│]+", " ", result.output)
    assert table_counts(Workspace.open().store) == before
    assert not (home.home_path / "optuna.db").exists()  # no study storage either


def test_a_joining_worker_cannot_register_the_best_trial_again(home: Settings) -> None:
    from llmops.tuning import tune

    with pytest.raises(InvalidInput, match="--register belongs to the worker that created"):
        tune(study="shared", join=True, register="travel")
