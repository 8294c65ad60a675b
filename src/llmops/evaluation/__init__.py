"""Evaluation: reference metrics over a model's answers on a dataset split, recorded as a
run linked to the model and dataset versions."""

from llmops.evaluation.metrics import METRICS, Metric, register_metric, score
from llmops.evaluation.run import EvalResult, evaluate

__all__ = ["METRICS", "EvalResult", "Metric", "evaluate", "register_metric", "score"]
