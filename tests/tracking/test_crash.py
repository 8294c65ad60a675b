"""A run whose process dies keeps every acknowledged metric and is marked interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.tracking import RunStatus, start_run
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace

CHILD = textwrap.dedent("""
    import sys, llmops
    run = llmops.start_run(experiment="crash", name="victim")
    print(run.id, flush=True)
    step = 0
    while True:
        if step % 2:
            run.log_metric("loss", float(step), step=step)
        else:  # a batch of ten points, acknowledged as one
            run.log_batch([("acc", float(step), step * 10 + i, i) for i in range(10)])
        print(step, flush=True)  # printed only after the call returned
        step += 1
""")


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_metric(sqlite_settings: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "LLMOPS_HOME": str(sqlite_settings.home_path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    acknowledged = []
    while len(acknowledged) < 400:
        acknowledged.append(int(child.stdout.readline()))
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    acknowledged += [int(line) for line in rest.split()]
    assert child.returncode == -signal.SIGKILL

    tracking = LocalTracking(Workspace.open(sqlite_settings))
    run = tracking.get_run(run_id)  # reading reaps: the pid on this host is gone
    assert run.status == RunStatus.INTERRUPTED
    losses = set(tracking.metric_history(run_id, "loss").steps)
    accs = set(tracking.metric_history(run_id, "acc").steps)
    for step in acknowledged:
        if step % 2:
            assert step in losses, step
        else:
            assert {step * 10 + i for i in range(10)} <= accs, step
    with tracking.store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_a_silent_run_is_marked_interrupted_after_the_heartbeat_timeout(
        workspace: Workspace) -> None:
    tracking = LocalTracking(workspace)
    remote = tracking.create_run(experiment="hb", host="another-machine", pid=1)
    time.sleep(0.3)
    assert tracking.reap_dead_runs(timeout_s=0.2) == [remote.id]
    info = tracking.get_run(remote.id)
    assert info.status == RunStatus.INTERRUPTED and info.ended_at == info.heartbeat_at


def test_a_run_that_keeps_beating_stays_running(workspace: Workspace) -> None:
    tracking = LocalTracking(workspace)
    tracking.heartbeat_interval_s = 0.05
    with start_run(experiment="hb", tracking=tracking) as run:
        time.sleep(0.5)
        assert tracking.reap_dead_runs(timeout_s=0.3) == []
        assert tracking.get_run(run.id).status == RunStatus.RUNNING
    assert tracking.get_run(run.id).status == RunStatus.FINISHED
