"""`--backend ray`: two Ray Train workers on the tiny model on CPU record one run, its
metrics once and one model; the bad inputs fail before anything is recorded."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops import datasets
from llmops.config import Settings
from llmops.errors import InvalidInput, ServiceUnavailable
from llmops.tracking import open_tracking
from llmops.training import train
from llmops.workspace import Workspace
from tests.helpers import free_port, table_counts
from tests.tiny import qa_rows

pytest.importorskip("ray.train.torch")

# Ray Data's context (imported by Ray Train) sets deprecated options of its own
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture
def local_ray() -> Iterator[None]:
    """A local Ray instance with two CPUs, shut down after the test."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def any_home(settings: Settings) -> Settings:
    """travel-qa@1 in a fresh home on SQLite, and on PostgreSQL when configured (what a
    cluster uses)."""
    datasets.import_dataset("travel-qa", qa_rows(48), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    return settings


def _nothing_recorded() -> None:
    counts = table_counts(Workspace.open().store)
    assert counts["runs"] == 0 and counts["model_versions"] == 0


def test_two_workers_record_one_run_once_from_rank_zero(any_home: Settings, tiny_base: Path,
                                                        local_ray: None) -> None:
    import torch

    with pytest.raises(InvalidInput) as err:  # a local instance cannot grow: refused
        train(recipe="sft", base=str(tiny_base), data="travel-qa@1", backend="ray",
              workers=3)
    assert str(err.value) == ("--workers 3 needs 3 CPUs, but the local Ray instance has 2 "
                              "CPUs and 0 GPUs: lower --workers or --gpus-per-worker, or give "
                              "--ray-address of a cluster")
    _nothing_recorded()

    steps: list[tuple[int, int]] = []
    result = train(recipe="sft", base=str(tiny_base), data="travel-qa@1", lora=True,
                   max_steps=3, batch_size=2, checkpoint_every=2, backend="ray", workers=2,
                   register="travel-ray", progress=lambda d, t: steps.append((d, t)))
    assert result.status == "finished" and result.steps == 3
    assert set(result.metrics) == {"train_loss", "eval_loss"}
    assert steps[-1] == (3, 3)

    tracking = open_tracking()
    [listed] = tracking.list_runs(experiment="training")
    run = tracking.get_run(listed.id)
    assert run.id == result.run_id and run.status == "finished"
    assert run.params["backend"] == "ray" and run.params["workers"] == "2"
    for key in ("loss", "lr", "grad_norm"):  # one point per step: rank 0 alone logged
        assert tracking.metric_history(run.id, key).steps == [1, 2, 3]
    assert tracking.metric_history(run.id, "eval_loss").steps == [3]
    # data parallel: each step took batch_size rows on each of the 2 workers
    rows = sum(1 for _ in datasets.iter_rows("travel-qa@1#train"))
    epoch = tracking.metric_history(run.id, "epoch").values[0]
    assert epoch == pytest.approx(1 / math.ceil(rows / (2 * 2)))
    names = sorted(a.name for a in run.artifacts)
    assert names == ["checkpoints/step-00000002", "checkpoints/step-00000003",
                     "llmops-train.yaml", "model"]
    assert result.model is not None and result.model.ref == "model:travel-ray@1"
    assert result.model.run_id == run.id and result.model.artifact == result.artifact
    assert table_counts(Workspace.open().store)["model_versions"] == 1

    from llmops import registry
    from llmops.training.base import load_model, resolve_base

    folder = registry.local_path("model:travel-ray@1")
    assert (folder / "adapter_model.safetensors").is_file()
    model = load_model(resolve_base("model:travel-ray@1"))  # adapter merged on its base
    logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape == (1, 3, model.config.vocab_size)


def test_an_address_that_does_not_answer_fails_at_once(home: Settings) -> None:
    address = f"ray://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as err:
        train(recipe="sft", base="/never/loaded", data="travel-qa@1", backend="ray",
              ray_address=address, workers=2)
    assert str(err.value).startswith(f"Ray address {address!r} does not answer (")
    assert "start the cluster (`ray start --head`) or fix the address" in str(err.value)
    _nothing_recorded()


def test_a_cluster_with_a_local_artifact_folder_is_refused_before_any_work(
        home: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base="/never/loaded", data="travel-qa@1", backend="ray",
              ray_address="ray://10.255.255.1:10001", workers=2)
    folder = str(home.home_path / "artifacts")
    assert str(err.value) == (
        "the Ray cluster at 'ray://10.255.255.1:10001' may run work on other machines, which "
        f"cannot read the local artifact folder {folder!r}: set LLMOPS_ARTIFACT_URL to a "
        "shared store (e.g. s3://bucket/llmops) that every node reaches, or run without an "
        "address (a local Ray instance)")
    _nothing_recorded()


def test_a_cluster_with_a_sqlite_database_is_refused(home: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.config import get_settings

    monkeypatch.setenv("LLMOPS_ARTIFACT_URL", "memory://shared")
    get_settings.cache_clear()
    with pytest.raises(InvalidInput, match=r"cannot write the local SQLite database .*: set "
                                           r"LLMOPS_DATABASE_URL to a shared database"):
        train(recipe="sft", base="/never/loaded", data="travel-qa@1", backend="ray",
              ray_address="ray://10.255.255.1:10001")
    _nothing_recorded()


def test_a_cluster_cannot_train_a_base_folder_of_this_machine(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.config import get_settings

    # shared stores that are never reached: the refusal comes first
    monkeypatch.setenv("LLMOPS_ARTIFACT_URL", "memory://shared")
    monkeypatch.setenv("LLMOPS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base=str(tiny_base), data="travel-qa@1", backend="ray",
              ray_address="ray://10.255.255.1:10001")
    assert str(err.value) == (
        f"base model {str(tiny_base)!r} is a folder on this machine, which Ray workers on "
        "other machines cannot read: register it (a model:NAME@VERSION) or give a Hugging "
        "Face id")


def test_ray_options_without_the_ray_backend_are_refused(home: Settings) -> None:
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base="/never/loaded", data="travel-qa@1", workers=2)
    assert str(err.value) == ("--ray-address, --workers and --gpus-per-worker take effect on "
                              "Ray: add --backend ray")
    _nothing_recorded()


def test_without_ray_the_backend_says_how_to_install_it(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name: str, *args: object, **kwargs: object) -> object:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(InvalidInput) as err:
        train(recipe="sft", base="/never/loaded", data="travel-qa@1", backend="ray")
    assert str(err.value) == "Ray is not installed: pip install 'llmops[ray]'"
    _nothing_recorded()


def test_cli_errors(home: Settings) -> None:
    from typer.testing import CliRunner

    from llmops.cli.app import app

    runner = CliRunner()
    address = f"ray://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["train", "sft", "--base", "x", "--data", "travel-qa@1",
                                 "--backend", "ray", "--ray-address", address,
                                 "--workers", "2"])
    assert result.exit_code == 1
    assert f"Ray address {address!r} does not answer" in str(result.exception)
    result = runner.invoke(app, ["train", "sft", "--base", "x", "--data", "travel-qa@1",
                                 "--backend", "spark"])
    assert result.exit_code == 2
    assert "backend: Input should be 'local' or 'ray'" in re.sub(r"[\s│]+", " ", result.output)
    result = runner.invoke(app, ["train", "sft", "--base", "x", "--data", "travel-qa@1",
                                 "--workers", "2"])
    assert result.exit_code == 2
    assert "add --backend ray" in re.sub(r"[\s│]+", " ", result.output)
    _nothing_recorded()
