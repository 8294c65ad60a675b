"""`--backend ray`: the same training loop, data parallel on Ray Train workers.

    driver (this process)                       Ray Train workers (TorchTrainer)
    plan(): Ray installed, stores shared,
            address answers, data and base
            resolved and pinned (once)
    start the run: params, inputs, config  -->  rank 0 .. N-1: load, wrap with
    heartbeat, progress bar, end the run        prepare_trainer, train (gloo / NCCL),
                                                 evaluate; rank 0 alone logs metrics,
                                                 checkpoints, the model artifact and the
                                                 registered version, and hands the outcome
                                                 back through a small actor

Every worker gets the plan (the converted examples, the pinned base and config) and the
run id; only rank 0 holds the run, so metrics, checkpoints and the model are recorded
once. Ray's own checkpoint copy (`RayTrainReportCallback`) is not used: checkpoints
already live in the artifact store as run artifacts, which is where `llmops train resume`
reads them, and a second copy would need a second shared store on a cluster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import InvalidInput, LlmopsError
from llmops.tracking.run import ActiveRun

if TYPE_CHECKING:
    from llmops.registry.models import ModelVersion
    from llmops.tracking.backend import Tracking
    from llmops.tracking.models import Run
    from llmops.training.config import TrainConfig
    from llmops.training.loop import Progress, _Plan

# forwarded to workers on this machine only; a cluster's nodes have their own
_LOCAL_ONLY_ENV = ("LLMOPS_HOME", "HF_HUB_OFFLINE", "HF_HOME", "HF_HUB_CACHE")
_POLL_S = 0.5
# Ray Train V2 (FailureConfig of ray.train.v2; mypy sees V1's)
_NO_RETRIES: dict[str, Any] = {"max_failures": 0, "max_preemption_failures": 0}


def connect(config: TrainConfig) -> None:
    """Check what a Ray training needs, before any data is read or anything recorded:
    Ray Train installed, artifact store and database reachable from every node, the
    address answering (within seconds), enough CPUs and GPUs on a local instance.

    Raises:
        InvalidInput: Ray missing (with the pip command), a local artifact folder or
            SQLite database with a cluster address, too few local CPUs or GPUs.
        ServiceUnavailable: the Ray address does not answer.
    """
    from llmops.config import get_settings
    from llmops.ray_support import (
        INSTALL_HINT,
        import_ray,
        init_ray,
        is_remote,
        require_shared_artifacts,
    )

    ray = import_ray()
    if os.environ.get("RAY_TRAIN_V2_ENABLED", "1").lower() in ("0", "false"):
        raise InvalidInput("llmops trains on Ray Train V2 (Ray's default): unset "
                           "RAY_TRAIN_V2_ENABLED=0")
    try:
        import ray.train.torch  # noqa: F401  (the [train] extra of ray)
    except ImportError:
        raise InvalidInput(INSTALL_HINT) from None
    address = config.ray_address
    settings = get_settings()
    remote = is_remote(address)
    if not settings.server_url:  # with a server, runs and artifacts go through it
        require_shared_artifacts(address)
        if remote and settings.resolved_database_url.startswith("sqlite"):
            raise InvalidInput(
                f"the Ray cluster at {address!r} may run work on other machines, which cannot"
                f" write the local SQLite database {settings.resolved_database_url!r}: set "
                "LLMOPS_DATABASE_URL to a shared database (postgresql://...) or "
                "LLMOPS_SERVER_URL to an llmops server, or run without an address (a local "
                "Ray instance)")
    folder = not config.base.startswith("model:") and Path(config.base).expanduser().is_dir()
    if remote and folder:
        raise InvalidInput(f"base model {config.base!r} is a folder on this machine, which "
                           "Ray workers on other machines cannot read: register it (a "
                           "model:NAME@VERSION) or give a Hugging Face id")
    init_ray(address)
    if not remote:
        _check_local_resources(ray.cluster_resources(), config)


def _check_local_resources(have: dict[str, float], config: TrainConfig) -> None:
    """A local instance cannot grow: too few CPUs or GPUs would wait forever."""
    cpus, gpus = have.get("CPU", 0.0), have.get("GPU", 0.0)
    need_gpus = config.workers * config.gpus_per_worker
    if cpus < config.workers or gpus < need_gpus:
        raise InvalidInput(
            f"--workers {config.workers} needs {config.workers} CPUs"
            + (f" and {need_gpus:g} GPUs" if need_gpus else "")
            + f", but the local Ray instance has {cpus:g} CPUs and {gpus:g} GPUs: lower "
            "--workers or --gpus-per-worker, or give --ray-address of a cluster")


class _Outbox:
    """A small actor (no CPU) through which rank 0 reports its progress and outcome to the
    driver: Ray Train V2 keeps only metrics reported with a checkpoint in its Result."""

    def __init__(self) -> None:
        self.step = (0, 0)
        self.outcome: tuple[int, dict[str, float], str, Any] | None = None

    def progress(self, done: int, total: int) -> None:
        self.step = (done, total)

    def seen(self) -> tuple[int, int]:
        return self.step

    def finish(self, outcome: tuple[int, dict[str, float], str, Any]) -> None:
        self.outcome = outcome

    def result(self) -> tuple[int, dict[str, float], str, Any] | None:
        return self.outcome


class _RankZeroRun(ActiveRun):
    """The driver's run as the rank-0 worker sees it: it logs metrics, checkpoints and
    outputs; the driver keeps its heartbeat and ends it (this object never does)."""

    def __init__(self, tracking: Tracking, run: Run) -> None:  # no heartbeat thread
        self.tracking = tracking
        self.info = run
        self.id = run.id
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()
        self._ended = True  # end() and leaving a with block do nothing here


def _worker_env(remote: bool) -> dict[str, str]:
    """The driver's llmops settings, for workers (whose environment is the raylet's)."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("LLMOPS_") and not k.startswith("LLMOPS_TEST_")}
    env.update({k: os.environ[k] for k in _LOCAL_ONLY_ENV if k in os.environ})
    if remote:
        for name in _LOCAL_ONLY_ENV:
            env.pop(name, None)
    return env


def train_on_ray(p: _Plan, run: ActiveRun, workdir: Path, progress: Progress | None,
                 checkpoint: Path | None) -> tuple[int, dict[str, float], str,
                                                   ModelVersion | None]:
    """Train `p` on `p.config.workers` Ray Train workers for the driver's `run`;
    returns (final step, metrics, model artifact digest, registered version)."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from llmops.ray_support import is_remote

    c = p.config
    remote = is_remote(c.ray_address)
    if remote and checkpoint is not None:
        raise InvalidInput("resuming a Ray training on a cluster is not supported: resume "
                           "it on a local Ray instance")
    outbox: Any = ray.remote(num_cpus=0)(_Outbox).remote()
    gpus = c.gpus_per_worker
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"plan": p, "run_id": run.id, "env": _worker_env(remote),
                           "checkpoint": str(checkpoint) if checkpoint else None,
                           "outbox": outbox},
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=ScalingConfig(num_workers=c.workers, use_gpu=gpus > 0,
                                     resources_per_worker={"CPU": 1, "GPU": gpus} if gpus
                                     else {"CPU": 1}),
        # a restarted worker group would train and log the same steps again
        run_config=RunConfig(name=f"llmops-{run.id}",
                             storage_path=None if remote else str(workdir / "ray"),
                             failure_config=FailureConfig(**_NO_RETRIES)))
    stop = threading.Event()
    poller = threading.Thread(target=_show_progress, args=(outbox, progress, stop),
                              daemon=True, name=f"llmops-ray-progress-{run.id}")
    poller.start()
    try:
        trainer.fit()
        outcome = ray.get(outbox.result.remote())
    except Exception as exc:
        error = _worker_error(exc)
        if error is exc:
            raise
        raise error from exc
    finally:
        stop.set()
        poller.join()
        ray.kill(outbox)
    if outcome is None:
        raise LlmopsError("the Ray workers finished without rank 0 reporting its outcome")
    steps, metrics, digest, version = outcome
    if progress is not None:
        progress(steps, steps)
    return steps, metrics, digest, version


def _show_progress(outbox: Any, progress: Progress | None, stop: threading.Event) -> None:
    import ray

    last = None
    while progress is not None and not stop.wait(_POLL_S):
        try:
            seen = ray.get(outbox.seen.remote(), timeout=10)
        except Exception:  # a slow or restarting actor: the bar just waits
            continue
        if seen != last and seen[1]:
            progress(*seen)
            last = seen


def _worker_error(exc: Exception) -> Exception:
    """The error a worker raised (rank 0 first) when it is one of ours, so the run and the
    CLI show it as a local training would."""
    failures = getattr(exc, "worker_failures", None) or {}
    for rank in sorted(failures):
        cause = failures[rank]
        while cause is not None and not isinstance(cause, LlmopsError):
            cause = getattr(cause, "cause", None) or cause.__cause__
        if cause is not None:
            return cause
    if failures:
        rank = min(failures)
        return LlmopsError(f"Ray worker {rank} failed: {failures[rank]}")
    return exc


def _train_worker(config: dict[str, Any]) -> None:
    """One Ray Train worker: the shared loop on its shard; rank 0 records the run."""
    import ray
    import ray.train
    from ray.train.huggingface.transformers import prepare_trainer

    from llmops.config import get_settings
    from llmops.tracking import open_tracking
    from llmops.training.base import resolve_base
    from llmops.training.loop import _execute, store_output
    from llmops.workspace import Workspace

    os.environ.update(config["env"])
    get_settings.cache_clear()
    Workspace.close_all()
    p: _Plan = config["plan"]
    if not all(folder.is_dir() for folder in p.base.folders):  # another node: fetch it
        p = replace(p, base=resolve_base(p.config.base))
    rank = ray.train.get_context().get_world_rank()
    outbox = config["outbox"]
    run = None
    progress = None
    if rank == 0:
        tracking = open_tracking()
        run = _RankZeroRun(tracking, tracking.get_run(config["run_id"]))

        def progress(done: int, total: int) -> None:
            outbox.progress.remote(done, total)

    home = Workspace.open().settings.home_path
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"train-rank{rank}-", dir=home / "tmp"))
    try:
        checkpoint = Path(config["checkpoint"]) if config["checkpoint"] else None
        steps, metrics, out = _execute(p, run, workdir, progress, checkpoint,
                                       wrap=prepare_trainer)
        if run is not None:
            digest, version = store_output(p, run, out, metrics)
            ray.get(outbox.finish.remote((steps, metrics, digest, version)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
