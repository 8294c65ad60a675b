"""`llmops train resume` after the training process was killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.tracking import open_tracking
from llmops.training import resume
from llmops.workspace import Workspace

pytestmark = pytest.mark.slow
STEPS = 120


def _checkpoints(run_id: str) -> list[str]:
    return sorted(a.name for a in open_tracking().get_run(run_id).artifacts
                  if a.name.startswith("checkpoints/"))


def test_a_killed_run_resumes_from_its_last_checkpoint_to_the_same_final_step(
        home: Settings, tiny_base: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops", "train", "sft", "--base", str(tiny_base), "--data",
         "travel-qa@1", "--lora", "--max-steps", str(STEPS), "--batch-size", "2",
         "--checkpoint-every", "5", "--quiet"],
        env={**os.environ, "LLMOPS_HOME": str(home.home_path)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tracking = open_tracking()
    deadline = time.monotonic() + 120
    run_id = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            runs = tracking.list_runs(experiment="training")
            if runs and _checkpoints(runs[0].id):
                run_id = runs[0].id
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    assert run_id is not None, err.decode()[-2000:]
    killed_at = _checkpoints(run_id)
    # nobody ended it: the next read sees its process is gone and marks it interrupted
    assert tracking.get_run(run_id).status == "interrupted"

    Workspace.close_all()
    result = resume(run_id)

    old = open_tracking().get_run(run_id)
    assert old.status == "interrupted"
    assert result.status == "finished" and result.steps == STEPS
    assert result.resumed_from == run_id
    assert any(f"resumed from {killed_at[-1]}" in n for n in result.notes)
    new = open_tracking().get_run(result.run_id)
    assert new.tags["resumed_from"] == run_id
    first_step = open_tracking().metric_history(result.run_id, "loss").steps[0]
    assert first_step > int(killed_at[0].rsplit("-", 1)[1])  # it did not start over
    assert open_tracking().metric_history(result.run_id, "loss").steps[-1] == STEPS
    graph = open_tracking().lineage(f"run:{run_id}")
    assert any(e.target == f"run:{result.run_id}" and e.relation == "resumed"
               for e in graph.downstream)


def test_resume_refuses_a_finished_run(home: Settings, tiny_base: Path) -> None:
    from llmops.errors import Conflict
    from llmops.training import train

    done = train(recipe="sft", base=str(tiny_base), data="travel-qa@1", max_steps=1,
                 batch_size=4)
    with pytest.raises(Conflict, match="already finished; there is nothing to resume"):
        resume(done.run_id)
