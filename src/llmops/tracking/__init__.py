"""Experiments, runs, params, metrics, tags, artifacts and lineage."""

from llmops.tracking.backend import Tracking, open_tracking
from llmops.tracking.models import (
    Experiment,
    LineageEdge,
    LineageGraph,
    MetricHistory,
    MetricPoint,
    MetricValue,
    Run,
    RunArtifact,
    RunStatus,
)
from llmops.tracking.run import ActiveRun, start_run

__all__ = [
    "ActiveRun",
    "Experiment",
    "LineageEdge",
    "LineageGraph",
    "MetricHistory",
    "MetricPoint",
    "MetricValue",
    "Run",
    "RunArtifact",
    "RunStatus",
    "Tracking",
    "open_tracking",
    "start_run",
]
