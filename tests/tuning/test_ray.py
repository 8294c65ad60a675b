"""`llmops tune --backend ray`: trials as parallel Ray tasks on a local Ray instance (2
CPUs), on the same study storage; and the Ray failures that must come before any work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmops
from llmops.config import Settings
from llmops.errors import InvalidInput, ServiceUnavailable
from llmops.tracking import open_tracking
from llmops.workspace import Workspace
from tests.helpers import free_port, table_counts

SPACE = {"lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
         "fixed": {"lora": True, "max_steps": 2, "batch_size": 4, "eval_every": 1}}


@pytest.fixture
def local_ray() -> Iterator[None]:
    import ray

    from llmops.ray_support import init_ray

    init_ray(None, num_cpus=2)
    yield
    ray.shutdown()


def test_trials_run_as_parallel_ray_tasks(home: Settings, tiny_base: Path,
                                          local_ray: None) -> None:
    result = llmops.tune("sft", str(tiny_base), "travel-qa@1", space=SPACE,
                         objective="eval_loss", trials=2, backend="ray", study="on-ray")
    assert [t.number for t in result.trials] == [0, 1] and result.ran_here == 2
    assert all(t.state == "complete" for t in result.trials)
    runs = open_tracking().list_runs(parent_id=result.run_id)
    assert sorted(r.id for r in runs) == sorted(t.run_id or "" for t in result.trials)
    assert len({r.pid for r in runs}) == 2  # two Ray worker processes, one trial each
    assert all(r.status == "finished" and "eval_loss" in r.metrics for r in runs)
    assert result.best_run_id in {r.id for r in runs}


def _tune_on_ray(address: str | None, tiny_base: Path) -> None:
    llmops.tune("sft", str(tiny_base), "travel-qa@1", space=SPACE, objective="eval_loss",
                trials=2, backend="ray", ray_address=address)


def test_without_ray_the_error_says_how_to_install_it(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    before = table_counts(Workspace.open().store)
    with pytest.raises(InvalidInput, match=r"Ray is not installed: pip install 'llmops\[ray\]'"):
        _tune_on_ray(None, tiny_base)
    assert table_counts(Workspace.open().store) == before


def test_a_ray_address_that_does_not_answer_fails_at_once(home: Settings,
                                                          tiny_base: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    before = table_counts(Workspace.open().store)
    with pytest.raises(ServiceUnavailable, match=rf"Ray address '{address}' does not answer "
                                                 r"\(Connection refused"):
        _tune_on_ray(address, tiny_base)
    assert table_counts(Workspace.open().store) == before
    assert not (home.home_path / "optuna.db").exists()


def test_a_remote_cluster_needs_a_shared_artifact_store(home: Settings,
                                                        tiny_base: Path) -> None:
    before = table_counts(Workspace.open().store)
    with pytest.raises(InvalidInput, match="may run work on other machines, which cannot read "
                                           "the local artifact folder"):
        _tune_on_ray("ray://10.1.2.3:10001", tiny_base)
    assert table_counts(Workspace.open().store) == before


@pytest.mark.parametrize(("address", "remote"), [
    (None, False), ("local", False), ("127.0.0.1:6379", False), ("ray://localhost:10001", False),
    ("auto", True), ("ray://head.internal:10001", True), ("10.0.0.5:6379", True)])
def test_which_addresses_may_reach_other_machines(address: str | None, remote: bool) -> None:
    from llmops.ray_support import is_remote

    assert is_remote(address) is remote


def test_a_shared_artifact_store_is_accepted_with_a_remote_address(
        home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.config import get_settings
    from llmops.ray_support import require_shared_artifacts

    require_shared_artifacts("127.0.0.1:6379")  # a cluster on this machine: local is fine
    monkeypatch.setenv("LLMOPS_ARTIFACT_URL", "s3://bucket/llmops")
    get_settings.cache_clear()
    require_shared_artifacts("ray://head.internal:10001")
    with pytest.raises(InvalidInput, match="invalid Ray address 'head-without-port'"):
        require_shared_artifacts("head-without-port")
