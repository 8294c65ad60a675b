"""What a monitor does besides alerting: ``--on-alert retrain:PIPELINE.yaml``.

`parse_action` checks an action when a monitor is created (the pipeline file must parse
as a pipeline); `run_on_alert` runs it after an alert is stored and returns what it did,
which is kept with the alert. A retrain action starts `llmops pipelines run FILE` (datasets
from traces, train, gate, promote: `llmops.pipelines`) as its own process, so training
never competes with the scheduler or the gateway in the server process; its report goes
to ``LLMOPS_HOME/pipelines/runs/ALERT.json``, its messages to ``ALERT.log``. One run per
pipeline file at a time: an alert that arrives while the previous run of the same file is
still going is recorded as skipped.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmops.config import Settings
from llmops.errors import InvalidInput, UnsafePath
from llmops.monitoring.models import Alert

ACTIONS = ("retrain",)
_STARTED: dict[int, subprocess.Popen[bytes]] = {}  # pipelines this process started


def parse_action(text: str, *, root: Path | None = None) -> tuple[str, Path]:
    """``retrain:PIPELINE.yaml`` as (kind, absolute path to an existing YAML file).

    Args:
        root: when given (requests over HTTP), the file must lie inside this folder and
            the path is taken relative to it.

    Raises:
        InvalidInput: an unknown action, not a YAML file, or no such file.
        UnsafePath: with `root`, a path that leaves it.
    """
    kind, _, raw = text.partition(":")
    if kind not in ACTIONS or not raw:
        raise InvalidInput(f"invalid --on-alert {text!r}: use retrain:PIPELINE.yaml",
                           errors=[{"field": "on_alert", "message": "retrain:PATH"}])
    if not raw.endswith((".yaml", ".yml")):
        raise InvalidInput(f"invalid --on-alert {text!r}: the pipeline must be a .yaml file",
                           errors=[{"field": "on_alert", "message": "a .yaml file"}])
    if root is not None:
        from llmops.artifacts.paths import contained

        try:
            path = contained(root, raw)
        except UnsafePath as exc:
            raise UnsafePath(f"invalid --on-alert {text!r}: {exc.detail}; name a file "
                             f"inside {root}", errors=exc.errors) from None
    else:
        path = Path(raw).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(f"invalid --on-alert {text!r}: no pipeline file {path}",
                           errors=[{"field": "on_alert", "message": "no such file"}])
    from llmops.pipelines import load_pipeline

    try:
        load_pipeline(path)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid --on-alert {text!r}: {exc.detail}",
                           errors=[{"field": "on_alert", "message": "invalid pipeline"}]
                           ) from None
    return kind, path


def run_on_alert(action: str, alert: Alert, settings: Settings) -> dict[str, Any]:
    """Run a monitor's on-alert action for `alert` against the monitor's own workspace
    (`settings`: its home, database and artifact store); never raises.

    Returns:
        What happened, stored with the alert: ``{"action", "pipeline", "alert", "status":
        "started", "pid", "output", "log"}``, ``"status": "skipped"`` with the running pid, or
        ``{"action", "status": "failed", "error"}``.
    """
    try:
        kind, path = parse_action(action)
    except InvalidInput as exc:
        return {"action": action, "status": "failed", "error": exc.detail}
    done: dict[str, Any] = {"action": kind, "pipeline": str(path), "alert": alert.id}
    runs = settings.home_path / "pipelines" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    marker = runs / (hashlib.sha256(str(path).encode()).hexdigest()[:16] + ".pid")
    running = _alive(marker)
    if running is not None:
        return {**done, "status": "skipped", "running_pid": running}
    output, log = runs / f"{alert.id}.json", runs / f"{alert.id}.log"
    try:
        with output.open("wb") as out, log.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "llmops", "pipelines", "run", str(path), "--json"],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "LLMOPS_HOME": str(settings.home_path),
                     "LLMOPS_DATABASE_URL": settings.resolved_database_url,
                     "LLMOPS_ARTIFACT_URL": settings.resolved_artifact_url})
    except OSError as exc:
        return {**done, "status": "failed", "error": f"cannot start the pipeline: {exc}"}
    _STARTED[process.pid] = process
    marker.write_text(str(process.pid))
    return {**done, "status": "started", "pid": process.pid, "output": str(output),
            "log": str(log)}


def _alive(marker: Path) -> int | None:
    """The pid in `marker` when that process still runs (reaped here when it ended)."""
    try:
        pid = int(marker.read_text())
    except (OSError, ValueError):
        return None
    started = _STARTED.get(pid)
    if started is not None:  # ours: poll() reaps it when it has ended
        if started.poll() is None:
            return pid
        del _STARTED[pid]
        return None
    try:  # another process started it
        os.kill(pid, 0)
    except OSError:
        return None
    return pid
