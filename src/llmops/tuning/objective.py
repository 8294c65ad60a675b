"""The objective of a study: the eval loss, or a reference metric of the evaluation
package (``rougeL``, ``bleu``, ...) scored on the answers the model under training gives
to the validation split, at every evaluation of the trainer.

Each value is logged to the trial's run (``eval_loss``, or ``eval_<metric>``) and reported
to Optuna; when the pruner says the trial is behind, training stops at that step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from llmops.errors import InvalidInput

EVAL_LOSS = "eval_loss"
# summary numbers of an evaluation that say nothing about quality
_NOT_OBJECTIVES = frozenset({"latency_ms", "tokens", "cost", "length"})


def objectives() -> list[str]:
    """Every objective a study can optimise."""
    from llmops.evaluation.metrics import METRICS

    return [EVAL_LOSS, *(m for m in METRICS if m not in _NOT_OBJECTIVES)]


def check_objective(name: str) -> str:
    """`name` if a study can optimise it.

    Raises:
        InvalidInput: the evaluation does not produce `name`; lists the choices.
    """
    if name not in objectives():
        raise InvalidInput(f"objective {name!r} is not a metric the evaluation produces: use "
                           f"{', '.join(objectives())}")
    return name


def default_direction(name: str) -> str:
    """``min`` for the loss, else what the metric registry says is better."""
    from llmops.evaluation.metrics import higher_is_better

    return "min" if name == EVAL_LOSS or not higher_is_better(name) else "max"


def metric_key(objective: str) -> str:
    """The run metric the objective is logged under."""
    return objective if objective == EVAL_LOSS else f"eval_{objective}"


def references(examples: Sequence[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """(prompt messages, reference answer) of each validation example: the completion of
    an SFT example, the chosen answer of a DPO one."""
    prompts, refs = [], []
    for e in examples:
        answer = e.get("completion") or e.get("chosen")
        if "prompt" not in e or not answer:
            continue  # a row with nothing to answer (text, or a chat without a reply)
        prompts.append(e["prompt"])
        refs.append(answer[-1]["content"] if isinstance(answer, list) else str(answer))
    return prompts, refs


class ObjectiveCallback(TrainerCallback):
    """Scores the objective at each evaluation, logs it, reports it to the trial and stops
    training when the trial is pruned."""

    def __init__(self, run: Any, trial: Any, objective: str, prompts: list[Any],
                 refs: list[str], *, max_new_tokens: int = 64) -> None:
        self.run, self.trial, self.objective = run, trial, objective
        self.prompts, self.refs = prompts, refs
        self.max_new_tokens = max_new_tokens
        self.values: list[tuple[int, float]] = []  # (step, value)
        self.pruned_at: int | None = None

    @property
    def last(self) -> float | None:
        return self.values[-1][1] if self.values else None

    def _score(self, model: Any, tokenizer: Any) -> float:
        import torch

        from llmops.evaluation.generate import LocalGenerator
        from llmops.evaluation.metrics import score

        was_training, side = model.training, tokenizer.padding_side
        model.eval()
        tokenizer.padding_side = "left"  # generation continues at the right edge
        try:
            with torch.no_grad():
                answers = LocalGenerator.from_loaded(model, tokenizer).generate(
                    self.prompts, max_new_tokens=self.max_new_tokens)
        finally:
            tokenizer.padding_side = side
            model.train(was_training)
        return float(score([self.objective], answers, self.refs)[self.objective][0])

    def on_evaluate(self, args: Any, state: Any, control: Any,
                    metrics: dict[str, float] | None = None, **kwargs: Any) -> Any:
        if self.pruned_at is not None:
            return control
        step = state.global_step
        if self.values and self.values[-1][0] == step:
            return control  # the closing evaluation of a training that evaluated last step
        if self.objective == EVAL_LOSS:
            if not metrics or EVAL_LOSS not in metrics:
                return control
            value = float(metrics[EVAL_LOSS])  # the tracking callback logs it
        else:
            value = self._score(kwargs["model"], kwargs["processing_class"])
            self.run.log_metrics({metric_key(self.objective): value}, step=step)
        self.values.append((step, value))
        self.trial.report(value, step)
        # the closing evaluation of a finished training completes the trial, never prunes it
        if step < state.max_steps and self.trial.should_prune():
            self.pruned_at = step
            self.run.set_tag("tune.pruned_at", step)
            control.should_training_stop = True
        return control
