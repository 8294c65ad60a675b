"""Experiment tracking: llmops vs MLflow 3, both on local SQLite, in one process.

    python benchmarks/tracking_vs_mlflow.py [--quick] [--json PATH]      (or: make bench)

Same data for both, each figure on a fresh run after a warm-up call (database creation
and migrations are not counted):
  1. log_batch: points/s, logging batches of 1,000 metric points (4 keys);
  2. log_metric: calls/s, one point per call, each committed when the call returns;
  3. metric_history: time to read back one 20,000-point metric (best of 5 reads).
MLflow's SQLite store uses SQLite's defaults (rollback journal, synchronous=FULL: fsync per
commit). llmops runs twice: its default synchronous=NORMAL (WAL; an acknowledged write
survives a process crash) and synchronous=FULL (also survives power loss).
The goal is llmops >= 10x MLflow on each figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

GOAL = 10.0
BATCH = 1_000
KEYS = ("loss", "accuracy", "lr", "grad_norm")
T0 = 1_795_693_426_801  # fixed timestamps (ms): both stores get identical data
READS = 5
Points = list[tuple[str, float, int, int]]  # (key, value, step, timestamp_ms)


def make_batches(n_batches: int, keys: tuple[str, ...]) -> list[Points]:
    points = []
    for n in range(n_batches * BATCH):
        step = n // len(keys)
        points.append((keys[n % len(keys)], math.exp(-step / 5e3) + (n % 7) * 1e-3, step,
                       T0 + step))
    return [points[i:i + BATCH] for i in range(0, len(points), BATCH)]


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class MlflowBackend:
    """Each backend: new_run, log_batch, log_metric, history_len, end."""

    def __init__(self, home: Path) -> None:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        home.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
        self.metric, self.client = Metric, MlflowClient()
        self.exp = self.client.create_experiment("bench")  # creates the db, runs migrations

    def new_run(self, name: str) -> str:
        return self.client.create_run(self.exp, run_name=name).info.run_id

    def log_batch(self, run: str, points: Points) -> None:
        metrics = [self.metric(k, v, t, s) for k, v, s, t in points]
        self.client.log_batch(run, metrics=metrics, synchronous=True)

    def log_metric(self, run: str, key: str, value: float, step: int) -> None:
        self.client.log_metric(run, key, value, step=step, synchronous=True)

    def history_len(self, run: str, key: str) -> int:
        return len(self.client.get_metric_history(run, key))

    def end(self) -> None:
        pass


class LlmopsBackend:
    def __init__(self, home: Path, synchronous: str) -> None:
        import llmops

        settings = llmops.Settings(home=home, sqlite_synchronous=synchronous, server_url=None)
        self.tracking = llmops.open_tracking(settings)  # creates the db, runs migrations
        self.runs: list[Any] = []

    def new_run(self, name: str) -> Any:
        import llmops

        self.runs.append(llmops.start_run(experiment="bench", name=name, tracking=self.tracking))
        return self.runs[-1]

    def log_batch(self, run: Any, points: Points) -> None:
        run.log_batch(points)

    def log_metric(self, run: Any, key: str, value: float, step: int) -> None:
        run.log_metric(key, value, step=step)

    def history_len(self, run: Any, key: str) -> int:
        return len(run.tracking.metric_history(run.id, key))

    def end(self) -> None:
        for run in self.runs:
            run.end()


def measure(backend: Any, data: list[Points], n_calls: int, history: list[Points]
            ) -> dict[str, float]:
    def warm_run(name: str) -> Any:
        run = backend.new_run(name)
        backend.log_metric(run, "warmup", 0.0, 0)
        return run

    run = warm_run("batch")
    batch_s = seconds(lambda: [backend.log_batch(run, b) for b in data])
    run = warm_run("single")
    single_s = seconds(lambda: [backend.log_metric(run, "loss", 1 / (i + 1), i)
                                for i in range(n_calls)])
    run = warm_run("history")
    for b in history:
        backend.log_batch(run, b)
    expected = sum(len(b) for b in history)
    reads = []
    for _ in range(READS):
        start = time.perf_counter()
        got = backend.history_len(run, "loss")
        reads.append(time.perf_counter() - start)
        if got != expected:
            raise RuntimeError(f"{type(backend).__name__} read {got} of {expected} points")
    return {"log_batch_points_per_s": len(data) * BATCH / batch_s,
            "log_metric_calls_per_s": n_calls / single_s, "history_read_ms": min(reads) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no background network calls
    try:
        import mlflow  # noqa: F401
    except ImportError:
        print("mlflow is not installed; install it with: pip install -e '.[bench]'",
              file=sys.stderr)
        return 1
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    n_batches, n_calls, n_history = (5, 200, 20) if args.quick else (50, 2_000, 20)
    data = make_batches(n_batches, KEYS)
    history = make_batches(n_history, ("loss",))
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "platform": platform.platform(), "mlflow": version("mlflow"),
               "sqlalchemy": version("sqlalchemy"), "llmops": version("llmops")}
    print("  ".join(f"{k}={v}" for k, v in machine.items()))
    print(f"log_batch: {n_batches} x {BATCH} points; log_metric: {n_calls} calls; "
          f"metric_history: {n_history * BATCH} points, best of {READS} reads")

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        os.environ["LLMOPS_HOME"] = str(Path(tmp) / "llmops-env")  # never touch ~/.llmops
        backends: dict[str, Callable[[], Any]] = {
            "mlflow": lambda: MlflowBackend(Path(tmp) / "mlflow"),
            "llmops": lambda: LlmopsBackend(Path(tmp) / "normal", "NORMAL"),
            "llmops_full": lambda: LlmopsBackend(Path(tmp) / "full", "FULL"),
        }
        for name, make in backends.items():
            backend = make()
            results[name] = measure(backend, data, n_calls, history)
            backend.end()
            print(f"  {name}: " + ", ".join(f"{k}={v:,.1f}" for k, v in results[name].items()))

    rows = []
    for label, key, variant in [
        ("log_batch, points/s (llmops sync=NORMAL)", "log_batch_points_per_s", "llmops"),
        ("log_batch, points/s (llmops sync=FULL)", "log_batch_points_per_s", "llmops_full"),
        ("log_metric, calls/s (llmops sync=NORMAL)", "log_metric_calls_per_s", "llmops"),
        ("log_metric, calls/s (llmops sync=FULL)", "log_metric_calls_per_s", "llmops_full"),
        (f"metric_history, {n_history}k points, ms", "history_read_ms", "llmops"),
    ]:
        ours, theirs = results[variant][key], results["mlflow"][key]
        ratio = theirs / ours if key.endswith("_ms") else ours / theirs  # times faster
        rows.append({"measure": label, "mlflow": theirs, "llmops": ours, "ratio": ratio,
                     "goal_met": ratio >= GOAL})
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "quick": args.quick,
                                         "results": results, "rows": rows}, indent=2))
    return 0


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"llmops vs MLflow (ratio: times faster; goal >= {GOAL:g}x)")
    for column in ("measure", "MLflow", "llmops", "ratio", f"goal (>={GOAL:g}x) met?"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for r in rows:
        table.add_row(r["measure"], f"{r['mlflow']:,.1f}", f"{r['llmops']:,.1f}",
                      f"{r['ratio']:.1f}x", "yes" if r["goal_met"] else "NO")
    Console(width=120).print(table)


if __name__ == "__main__":
    sys.exit(main())
