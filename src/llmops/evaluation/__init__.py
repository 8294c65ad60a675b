"""Evaluation: reference metrics and LLM judges over a target's answers on a dataset
split, recorded and linked to the model, prompt and dataset versions; comparisons with
confidence intervals; promotion gates."""

from llmops.evaluation.compare import compare
from llmops.evaluation.metrics import METRICS, Metric, register_metric, score
from llmops.evaluation.models import Comparison, Evaluation, MetricDelta
from llmops.evaluation.run import evaluate
from llmops.evaluation.store import get_evaluation, list_evaluations
from llmops.evaluation.suite import Suite, make_suite

__all__ = ["METRICS", "Comparison", "Evaluation", "Metric", "MetricDelta", "Suite", "compare",
           "evaluate", "get_evaluation", "list_evaluations", "make_suite", "register_metric",
           "score"]
