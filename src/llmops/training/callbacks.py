"""Trainer callbacks: live metrics into the run, checkpoints into the artifact store."""

from __future__ import annotations

import errno
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from llmops.errors import ResourceExhausted, ServiceUnavailable
from llmops.tracking.run import ActiveRun

Progress = Callable[[int, int], None]
CHECKPOINT_PREFIX = "checkpoints/step-"
# Trainer log keys -> run metric names
_RENAME = {"learning_rate": "lr", "epoch": "epoch", "loss": "loss", "grad_norm": "grad_norm",
           "eval_loss": "eval_loss", "mean_token_accuracy": "token_accuracy",
           "eval_mean_token_accuracy": "eval_token_accuracy", "entropy": "entropy",
           "rewards/accuracies": "dpo/reward_accuracy", "rewards/margins": "dpo/reward_margin",
           "rewards/chosen": "dpo/reward_chosen", "rewards/rejected": "dpo/reward_rejected",
           "distill_kl": "distill/kl", "distill_ce": "distill/ce",
           "eval_distill_kl": "distill/eval_kl", "eval_distill_ce": "distill/eval_ce"}


def _rss_mb() -> float:
    """Peak resident memory of this process, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TrackingCallback(TrainerCallback):
    """Streams the trainer's logs into the run as they happen: loss, learning rate, grad
    norm, eval loss, tokens per second and memory, each at its optimizer step."""

    def __init__(self, run: ActiveRun, progress: Progress | None = None) -> None:
        self.run = run
        self.progress = progress
        self._last: tuple[float, float] | None = None  # (time, tokens seen)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress(state.global_step, state.max_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not logs or state.global_step == 0:
            return
        values = {_RENAME[k]: float(v) for k, v in logs.items() if k in _RENAME}
        tokens = logs.get("num_tokens")
        now = time.perf_counter()
        if tokens is not None:
            if self._last is not None and now > self._last[0] and tokens > self._last[1]:
                values["tokens_per_s"] = (tokens - self._last[1]) / (now - self._last[0])
            self._last = (now, float(tokens))
            values["tokens"] = float(tokens)
        if "loss" in logs or "eval_loss" in logs:
            values["system/cpu_peak_rss_mb"] = _rss_mb()
            import torch

            if torch.cuda.is_available():
                values["system/gpu_peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        if values:
            self.run.log_metrics(values, step=state.global_step)


class CheckpointCallback(TrainerCallback):
    """Copies each checkpoint the trainer saves into the run's artifacts, then drops the
    local copy (keeping the newest for a fast local resume).

    A checkpoint that cannot be stored stops training with `ResourceExhausted`; the
    checkpoints stored before it stay intact (the artifact store writes each file to a
    temporary name and renames it, and never rewrites a stored one).
    """

    def __init__(self, run: ActiveRun) -> None:
        self.run = run
        self.stored: list[str] = []

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        name = f"{CHECKPOINT_PREFIX}{state.global_step:08d}"
        try:
            self.run.log_artifact(folder, name=name)
        except OSError as exc:
            full = exc.errno == errno.ENOSPC
            why = "the disk is full" if full else str(exc)
            kept = ", ".join(self.stored[-3:]) or "none"
            raise (ResourceExhausted if full else ServiceUnavailable)(
                f"checkpoint at step {state.global_step} could not be stored: {why}. "
                f"Earlier checkpoints are intact ({kept}); free space and run "
                f"`llmops train resume {self.run.id}`") from exc
        self.stored.append(name)
        for older in Path(args.output_dir).glob("checkpoint-*"):
            if older != folder:
                shutil.rmtree(older, ignore_errors=True)
