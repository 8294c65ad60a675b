"""Experiments, runs, params, tags, metrics and lineage over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from llmops.server.routes.common import as_json, tracking
from llmops.server.security import Reader, Writer
from llmops.tracking.models import (
    Experiment,
    LineageGraph,
    MetricHistory,
    MetricPoint,
    Run,
    RunStatus,
    check_key,
    clean_value,
)

router = APIRouter(prefix="/api/v1", tags=["tracking"])
MAX_POINTS_PER_REQUEST = 100_000



class ExperimentIn(BaseModel):
    name: str
    description: str | None = None


class RunIn(BaseModel):
    experiment: str = "default"
    name: str | None = None
    parent_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    host: str | None = None
    pid: int | None = None


class RunEnd(BaseModel):
    status: RunStatus = RunStatus.FINISHED
    error: str | None = None


class ParamsIn(BaseModel):
    params: dict[str, Any]


class TagsIn(BaseModel):
    tags: dict[str, Any]


class PointIn(BaseModel):
    key: str
    value: float  # "NaN", "Infinity" and "-Infinity" are accepted as strings
    step: int = 0
    timestamp: int


class MetricsIn(BaseModel):
    metrics: list[PointIn] = Field(max_length=MAX_POINTS_PER_REQUEST)


@router.get("/experiments", response_model=list[Experiment])
def list_experiments(request: Request, who: Reader) -> Response:
    return as_json(tracking(request, who).list_experiments())


@router.post("/experiments", response_model=Experiment, status_code=201)
def create_experiment(body: ExperimentIn, request: Request, who: Writer) -> Response:
    exp = tracking(request, who).get_or_create_experiment(body.name, body.description)
    return as_json(exp, 201)


@router.post("/runs", response_model=Run, status_code=201)
def create_run(body: RunIn, request: Request, who: Writer) -> Response:
    run = tracking(request, who).create_run(
        experiment=body.experiment, name=body.name, parent_id=body.parent_id,
        tags_=body.tags, host=body.host, pid=body.pid)
    return as_json(run, 201)


@router.get("/runs", response_model=list[Run])
def list_runs(request: Request, who: Reader, experiment: str | None = None,
              status: RunStatus | None = None, parent_id: str | None = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Response:
    found = tracking(request, who).list_runs(
        experiment=experiment, status=status, parent_id=parent_id, limit=limit)
    return as_json(found)


@router.get("/runs/{run_id}", response_model=Run)
def get_run(run_id: str, request: Request, who: Reader) -> Response:
    return as_json(tracking(request, who).get_run(run_id))


@router.post("/runs/{run_id}/end", response_model=Run)
def end_run(run_id: str, body: RunEnd, request: Request, who: Writer) -> Response:
    return as_json(tracking(request, who).end_run(run_id, body.status, error=body.error))


@router.post("/runs/{run_id}/heartbeat", status_code=204)
def heartbeat(run_id: str, request: Request, who: Writer) -> Response:
    tracking(request, who).heartbeat(run_id)
    return Response(status_code=204)


@router.post("/runs/{run_id}/params", status_code=204)
def log_params(run_id: str, body: ParamsIn, request: Request, who: Writer) -> Response:
    tracking(request, who).log_params(run_id, body.params)
    return Response(status_code=204)


@router.post("/runs/{run_id}/tags", status_code=204)
def set_tags(run_id: str, body: TagsIn, request: Request, who: Writer) -> Response:
    tracking(request, who).set_tags(run_id, body.tags)
    return Response(status_code=204)


@router.post("/runs/{run_id}/metrics", status_code=204)
def log_metrics(run_id: str, body: MetricsIn, request: Request, who: Writer) -> Response:
    """Log a batch of points. Replaying the same batch changes nothing (idempotent)."""
    points = [MetricPoint(check_key(p.key), clean_value(p.value, p.key), p.step, p.timestamp)
              for p in body.metrics]
    tracking(request, who).log_metrics(run_id, points)
    return Response(status_code=204)


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=MetricHistory)
def metric_history(run_id: str, key: str, request: Request, who: Reader) -> Response:
    return as_json(tracking(request, who).metric_history(run_id, key))


class EdgeIn(BaseModel):
    source: str
    target: str
    relation: str = Field(min_length=1, max_length=64)


@router.post("/lineage", status_code=204)
def add_lineage(body: EdgeIn, request: Request, who: Writer) -> Response:
    tracking(request, who).add_lineage(body.source, body.target, body.relation)
    return Response(status_code=204)


@router.get("/lineage/{node:path}", response_model=LineageGraph)
def lineage(node: str, request: Request, who: Reader,
            depth: Annotated[int, Query(ge=1, le=50)] = 10) -> Response:
    return as_json(tracking(request, who).lineage(node, depth=depth))
