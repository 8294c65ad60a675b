"""Trials in parallel on Ray: each Ray task is one more worker of the study, running the
same loop as a local worker (`llmops.tuning.worker.work`) against the same storage, so
Ray adds parallelism and placement, not a second implementation of a trial.

Ray starts locally unless an address is given (`llmops.ray_support`); with a remote
cluster the artifact store and the database must be reachable from every node.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from llmops.errors import InvalidInput
from llmops.tuning.worker import StudySettings

Progress = Callable[[int, int], None]
_ENV = ("LLMOPS_HOME", "LLMOPS_DATABASE_URL", "LLMOPS_ARTIFACT_URL", "HF_HUB_OFFLINE",
        "HF_HOME")


def connect(address: str | None) -> bool:
    """Start or reach Ray, refusing stores other nodes cannot reach, before any work;
    True when this call initialised Ray (the caller shuts it down when done)."""
    from llmops.config import get_settings
    from llmops.ray_support import import_ray, init_ray, is_remote, require_shared_artifacts

    ray = import_ray()
    require_shared_artifacts(address)  # also when Ray is up already: checks come first
    if is_remote(address) and get_settings().resolved_database_url.startswith("sqlite"):
        raise InvalidInput(f"the Ray cluster at {address!r} may run trials on other machines, "
                           "which cannot reach the local SQLite database: set "
                           "LLMOPS_DATABASE_URL to a PostgreSQL server every node reaches")
    if ray.is_initialized():
        return False
    init_ray(address)
    return True


def _worker_env() -> dict[str, str]:
    from llmops.config import get_settings

    settings = get_settings()
    env = {k: os.environ[k] for k in _ENV if k in os.environ}
    env["LLMOPS_HOME"] = str(settings.home_path)
    env["LLMOPS_DATABASE_URL"] = settings.resolved_database_url
    env["LLMOPS_ARTIFACT_URL"] = settings.resolved_artifact_url
    return env


def _ray_work(name: str) -> int:
    """The body of one Ray task: a worker of study `name`."""
    from llmops.tuning.worker import work

    return work(name)


def work_on_ray(name: str, settings: StudySettings, *, parallel: int | None = None,
                progress: Progress | None = None, gpus_per_trial: float = 0) -> int:
    """Run the study's trials as `parallel` Ray tasks (default: one per CPU of the
    cluster, at most one per trial); returns how many trials they ran."""
    import ray

    from llmops.tuning.worker import counts, load

    if parallel is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        parallel = max(1, min(settings.trials, cpus))
    task = ray.remote(_ray_work).options(
        num_cpus=1, num_gpus=gpus_per_trial, max_retries=0,
        runtime_env={"env_vars": _worker_env()})
    pending = [task.remote(name) for _ in range(parallel)]
    study, _ = load(name)
    ran = 0
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=2.0)
        for ref in done:
            ran += int(ray.get(ref))  # a task that raised re-raises here
        if progress is not None:
            progress(counts(study)[1], settings.trials)
        if pending and not done:
            time.sleep(0.1)
    return ran
