"""`start_run`: the object a training script logs through, local or remote alike."""

from __future__ import annotations

import atexit
import os
import threading
import traceback
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from llmops.clock import now_ms
from llmops.errors import Conflict
from llmops.tracking.backend import Tracking, open_tracking
from llmops.tracking.models import MetricPoint, Run, RunArtifact, RunStatus, check_key, clean_value

_live: weakref.WeakSet[ActiveRun] = weakref.WeakSet()


class ActiveRun:
    """A run in progress. Use as a context manager, or call `end()`.

    Leaving the `with` block normally ends the run as finished, by an exception as failed
    (with the error), by Ctrl-C as interrupted. A heartbeat thread tells the store the
    process is alive; if the process dies, the run is later marked interrupted.
    """

    def __init__(self, tracking: Tracking, run: Run, *, heartbeat_interval_s: float) -> None:
        self.tracking = tracking
        self.info = run
        self.id = run.id
        self._steps: dict[str, int] = {}
        self._keys: set[str] = set()  # keys already validated
        self._ended = False
        self._stop = threading.Event()
        self._beat = threading.Thread(
            target=self._heartbeat, args=(heartbeat_interval_s,), daemon=True,
            name=f"llmops-heartbeat-{run.id}")
        self._beat.start()
        _live.add(self)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.info.experiment}/{self.info.name}>"

    # -- logging ------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.tracking.log_params(self.id, {key: value})

    def log_params(self, values: Mapping[str, Any]) -> None:
        self.tracking.log_params(self.id, dict(values))

    def set_tag(self, key: str, value: Any) -> None:
        self.tracking.set_tags(self.id, {key: value})

    def set_tags(self, values: Mapping[str, Any]) -> None:
        self.tracking.set_tags(self.id, dict(values))

    def _step(self, key: str, step: int | None) -> int:
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = max(step, self._steps.get(key, -1))
        return int(step)

    def _key(self, key: str) -> str:
        if key not in self._keys:
            self._keys.add(check_key(key))
        return key

    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Log one point; without `step`, each key counts up from 0. Durable on return."""
        ts = now_ms() if timestamp is None else timestamp
        point = MetricPoint(self._key(key), clean_value(value, key), self._step(key, step), ts)
        self.tracking.log_metrics(self.id, [point])

    def log_metrics(self, values: Mapping[str, float], step: int | None = None,
                    timestamp: int | None = None) -> None:
        """Log several metrics at one step, in one write."""
        ts = now_ms() if timestamp is None else timestamp
        points = [MetricPoint(self._key(k), clean_value(v, k), self._step(k, step), ts)
                  for k, v in values.items()]
        self.tracking.log_metrics(self.id, points)

    def log_batch(self, metrics: Iterable[tuple[str, float, int, int]]) -> None:
        """Log many points at once, (key, value, step, timestamp ms) each, in one write."""
        points = []
        for key, value, step, ts in metrics:
            if type(value) is not float:
                value = clean_value(value, key)
            points.append(MetricPoint(self._key(key), value, int(step), int(ts)))
        self.tracking.log_metrics(self.id, points)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> RunArtifact:
        """Store a file, or a folder as one artifact, under `name` (default: its name)."""
        return self.tracking.upload_artifact(self.id, Path(path), name=name)

    def log_input(self, node: str, relation: str = "input") -> None:
        """Record that this run used `node` (``kind:id``), for lineage."""
        self.tracking.add_lineage(node, f"run:{self.id}", relation)

    def log_output(self, node: str, relation: str = "produced") -> None:
        self.tracking.add_lineage(f"run:{self.id}", node, relation)

    # -- lifecycle ----------------------------------------------------------------------
    def _heartbeat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.tracking.heartbeat(self.id)
            except Conflict:
                return  # ended elsewhere
            except Exception:  # the store may be briefly unreachable; try at the next beat
                continue

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> Run:
        """End the run; calling it again does nothing."""
        if self._ended:
            return self.info
        self._stop.set()
        self._ended = True
        self.info = self.tracking.end_run(self.id, status, error=error)
        return self.info

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.INTERRUPTED, error="interrupted (KeyboardInterrupt)")
        else:
            text = "".join(traceback.format_exception_only(exc)).strip()
            self.end(RunStatus.FAILED, error=text)


def start_run(experiment: str = "default", name: str | None = None, *,
              params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
              parent: ActiveRun | str | None = None, tracking: Tracking | None = None
              ) -> ActiveRun:
    """Start a tracked run in `experiment` (created if new).

    Talks to the local store, or to ``LLMOPS_SERVER_URL`` with ``LLMOPS_API_KEY`` when set.

    Example:
        >>> with llmops.start_run(experiment="demo", name="r1") as run:
        ...     run.log_params({"lr": 1e-4}); run.log_metric("loss", 0.5, step=1)
    """
    tracking = tracking or open_tracking()
    parent_id = parent.id if isinstance(parent, ActiveRun) else parent
    info = tracking.create_run(experiment=experiment, name=name, parent_id=parent_id,
                               tags_=dict(tags or {}), pid=os.getpid())
    run = ActiveRun(tracking, info, heartbeat_interval_s=tracking.heartbeat_interval_s)
    if params:
        run.log_params(params)
    return run


@atexit.register
def _end_open_runs() -> None:
    """A script that exits without ending its runs ends them as finished."""
    for run in list(_live):
        if not run._ended:
            try:
                run.end(RunStatus.FINISHED)
            except Exception:
                pass
