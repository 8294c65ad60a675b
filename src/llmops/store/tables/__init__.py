"""The metadata schema as SQLAlchemy Core tables, one module per service, one MetaData.

Alembic migrations in ``store/migrations/versions`` create exactly these tables; a test
checks that they agree.
"""

from llmops.store.tables.core import (
    api_keys,
    audit_events,
    experiments,
    latest_metrics,
    lineage_edges,
    metadata,
    metrics,
    params,
    run_artifacts,
    runs,
    tags,
    users,
)
from llmops.store.tables.datasets import dataset_versions, datasets
from llmops.store.tables.evaluations import evaluations, generation_cache
from llmops.store.tables.feedback import annotation_items, annotation_queues, feedback
from llmops.store.tables.gateway import gateway_route_history, gateway_routes, traces
from llmops.store.tables.labels import label_events, labels
from llmops.store.tables.models import model_versions, registered_models
from llmops.store.tables.monitors import alerts, monitors
from llmops.store.tables.prompts import prompt_versions, prompts
from llmops.store.tables.spans import spans

__all__ = [
    "alerts",
    "monitors",
    "annotation_items",
    "annotation_queues",
    "feedback",
    "dataset_versions",
    "datasets",
    "evaluations",
    "gateway_route_history",
    "gateway_routes",
    "generation_cache",
    "label_events",
    "labels",
    "model_versions",
    "registered_models",
    "prompt_versions",
    "prompts",
    "api_keys",
    "audit_events",
    "experiments",
    "latest_metrics",
    "lineage_edges",
    "metadata",
    "metrics",
    "params",
    "run_artifacts",
    "runs",
    "spans",
    "tags",
    "traces",
    "users",
]
