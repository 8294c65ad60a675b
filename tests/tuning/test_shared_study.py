"""Two `llmops tune` processes on one study, as on two machines: the second joins with
``--study NAME --join``; together they run the study's trials once each. Runs on SQLite
(one machine) and on PostgreSQL (LLMOPS_TEST_POSTGRES_URL), where Optuna's tables live in
their own schema beside llmops's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from llmops import datasets
from llmops.config import Settings
from llmops.errors import NotFound
from llmops.store.engine import normalize_url
from llmops.tracking import open_tracking
from llmops.tuning import get_study
from llmops.tuning.storage import OPTUNA_SCHEMA
from tests.tiny import qa_rows

TRIALS = 4


def _drop_optuna_schema(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {OPTUNA_SCHEMA} CASCADE"))
    engine.dispose()


def _worker(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LLMOPS_HOME": str(settings.home_path), "HF_HUB_OFFLINE": "1",
           "LLMOPS_DATABASE_URL": settings.resolved_database_url}
    return subprocess.Popen([sys.executable, "-m", "llmops", "tune", *args, "--json", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_study(name: str, first: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            get_study(name)
            return
        except NotFound:
            assert first.poll() is None, first.communicate()[1]
            time.sleep(0.5)
    raise AssertionError(f"study {name} was never created")


def test_two_workers_share_one_study_and_run_each_trial_once(
        settings: Settings, tiny_base: Path, tmp_path: Path) -> None:
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        _drop_optuna_schema(url)
    datasets.import_dataset("travel-qa", qa_rows(32), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    space = tmp_path / "space.yaml"
    space.write_text("lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}\n"
                     "fixed: {lora: true, max_steps: 2, batch_size: 4, eval_every: 1}\n")
    workers = [_worker(settings, "--recipe", "sft", "--base", str(tiny_base), "--data",
                       "travel-qa@1", "--space", str(space), "--objective", "eval_loss",
                       "--trials", str(TRIALS), "--study", "shared")]
    outputs = []
    try:
        _wait_for_study("shared", workers[0])
        workers.append(_worker(settings, "--study", "shared", "--join"))
        for process in workers:
            stdout, stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr
            outputs.append(json.loads(stdout))
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.communicate()
    a, b = outputs

    assert a["ran_here"] + b["ran_here"] == TRIALS
    assert a["run_id"] == b["run_id"] and a["study"] == b["study"] == "shared"
    trials = a["trials"]
    assert [t["number"] for t in trials] == list(range(TRIALS))  # no number twice
    assert all(t["state"] == "complete" for t in trials)
    assert len({json.dumps(t["params"], sort_keys=True) for t in trials}) == TRIALS
    assert b["best_trial"] == a["best_trial"] and b["best_value"] == a["best_value"]
    children = open_tracking().list_runs(parent_id=a["run_id"])
    assert sorted(r.id for r in children) == sorted(t["run_id"] for t in trials)
    assert sorted(r.name for r in children) == [f"shared-trial-{n}" for n in range(TRIALS)]

    # Optuna's own alembic_version sits apart from llmops's
    engine = create_engine(normalize_url(url))
    if url.startswith("postgresql"):
        names = inspect(engine).get_table_names(schema=OPTUNA_SCHEMA)
        assert {"studies", "trials", "alembic_version"} <= set(names)
        with engine.connect() as conn:
            llmops_revision = conn.execute(text("SELECT version_num FROM public."
                                                "alembic_version")).scalar()
    else:
        assert (settings.home_path / "optuna.db").is_file()
        with engine.connect() as conn:
            llmops_revision = conn.execute(text("SELECT version_num FROM "
                                                "alembic_version")).scalar()
    engine.dispose()
    from llmops.store.migrate import SCHEMA_REVISION

    assert llmops_revision == SCHEMA_REVISION
