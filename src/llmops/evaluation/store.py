"""Evaluation records in the metadata store, with their lineage."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select

from llmops.auth import audit
from llmops.clock import now_ms
from llmops.errors import NotFound
from llmops.evaluation.models import Evaluation
from llmops.ids import new_id
from llmops.store.tables import evaluations
from llmops.tracking import lineage


def _workspace() -> Any:
    from llmops.workspace import Workspace

    return Workspace.open()


def _to_evaluation(row: RowMapping) -> Evaluation:
    return Evaluation(**{**row, "metrics": json.loads(row["metrics"]),
                         "config": json.loads(row["config"])})


def save_evaluation(*, target: str, model_version_id: str | None, data: str,
                    dataset_version_id: str, prompt_version_id: str | None,
                    metrics: dict[str, float], total: int, failed: int, cached: int,
                    examples: str, run_id: str | None, config: dict[str, Any],
                    actor: str | None = None, on_version: bool = True) -> Evaluation:
    """Record an evaluation and its lineage; an evaluation with failures is incomplete.

    A complete evaluation of a whole split (`on_version`) also sets ``eval.*`` metrics on
    the model version; a partial one does not overwrite them."""
    workspace = _workspace()
    actor = actor or audit.local_actor()
    eval_id = new_id()
    row: dict[str, Any] = {
           "id": eval_id, "status": "incomplete" if failed else "complete", "target": target,
           "model_version_id": model_version_id, "data": data,
           "dataset_version_id": dataset_version_id, "prompt_version_id": prompt_version_id,
           "metrics": json.dumps(metrics, sort_keys=True), "total": total, "failed": failed,
           "cached": cached, "examples": examples, "run_id": run_id,
           "config": json.dumps(config, sort_keys=True), "created_at": now_ms(),
           "created_by": actor}

    def write(conn: Connection) -> None:
        conn.execute(insert(evaluations), row)
        node = f"eval:{eval_id}"
        lineage.add_edge(conn, f"dataset:{dataset_version_id}", node, "input")
        if model_version_id:
            lineage.add_edge(conn, f"model:{model_version_id}", node, "evaluated")
        if prompt_version_id:
            lineage.add_edge(conn, f"prompt:{prompt_version_id}", node, "input")
        if run_id:
            lineage.add_edge(conn, f"run:{run_id}", node, "produced")
        audit.record(conn, actor, "eval.create", "eval", eval_id,
                     {"target": target, "data": data, "failed": failed})

    workspace.store.write(write)
    evaluation = get_evaluation(eval_id)
    if model_version_id and on_version and not failed:
        from llmops.registry import ModelRegistry

        registry = ModelRegistry(workspace, actor=actor)
        registry.record_metrics(registry.get_by_id(model_version_id).ref,
                                {f"eval.{k}": v for k, v in metrics.items()})
    return evaluation


def get_evaluation(eval_id: str) -> Evaluation:
    eval_id = eval_id.removeprefix("eval:")
    with _workspace().store.read() as conn:
        row = conn.execute(select(evaluations).where(evaluations.c.id == eval_id)
                           ).mappings().first()
    if row is None:
        raise NotFound(f"no evaluation {eval_id!r}; `llmops eval list` shows them")
    return _to_evaluation(row)


def list_evaluations(*, target: str | None = None, limit: int = 100) -> list[Evaluation]:
    query = select(evaluations).order_by(evaluations.c.created_at.desc()).limit(limit)
    if target:
        query = query.where(evaluations.c.target == target)
    with _workspace().store.read() as conn:
        return [_to_evaluation(r) for r in conn.execute(query).mappings()]


def read_examples(evaluation: Evaluation) -> Any:
    """The per-example rows as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = _workspace().artifacts.read_bytes(evaluation.examples)  # verified against its hash
    return pq.read_table(pa.BufferReader(data))
