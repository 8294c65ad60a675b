"""Evaluations, comparisons and gated promotions over HTTP.

Over HTTP a target is a registered model or inline predictions. Endpoints and judges
(which would make the server call a URL chosen by the caller, with keys from the server's
environment) are for the CLI and Python on a trusted machine: a request naming them is
refused.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from llmops.errors import InvalidInput
from llmops.evaluation import Comparison, Evaluation, compare, evaluate, make_suite
from llmops.evaluation.gates import Promotion, promote
from llmops.evaluation.store import get_evaluation, list_evaluations
from llmops.registry import ModelRegistry, ModelSummary, ModelVersion
from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Reader, Writer

router = APIRouter(tags=["evaluations"])


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no endpoint, judges or keys over HTTP

    data: str = Field(description="dataset version and split, e.g. travel-qa@1#test")
    model: str | None = Field(default=None, description="model:NAME@VERSION|ALIAS")
    predictions: list[str] | None = Field(default=None, description="or: one answer per "
                                          "row, in the split's order")
    metrics: list[str] = Field(default_factory=lambda: ["rougeL"])
    prompt: str | None = None
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    limit: int | None = Field(default=None, ge=1)


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    alias: str = "production"
    gates: list[str] = Field(default_factory=list)
    data: str
    metrics: list[str] = Field(default_factory=lambda: ["rougeL"])
    max_new_tokens: int = Field(default=64, ge=1, le=4096)


@router.get("/api/v1/evaluations", response_model=list[Evaluation])
def list_(who: Reader, target: str | None = None,
          limit: int = Query(100, ge=1, le=1000)) -> Response:
    return as_json(list_evaluations(target=target, limit=limit))


@router.post("/api/v1/evaluations", response_model=Evaluation, status_code=201)
def create(body: EvaluationIn, who: Writer) -> Response:
    """Evaluate a registered model or inline predictions; returns when it is recorded."""
    if (body.model is None) == (body.predictions is None):
        raise InvalidInput("send exactly one of `model` and `predictions`",
                           errors=[{"field": "body.model", "message": "model or predictions"}])
    suite = make_suite({"data": body.data, "metrics": body.metrics, "prompt": body.prompt,
                        "max_new_tokens": body.max_new_tokens, "limit": body.limit})
    if body.predictions is None:
        assert body.model is not None
        if not body.model.startswith("model:"):  # never a folder or hub id on the server
            raise InvalidInput("model must be a registered model, model:NAME@VERSION|ALIAS",
                               errors=[{"field": "body.model", "message": "model:NAME@..."}])
        return as_json(evaluate(body.model, suite=suite, actor=who.actor), 201)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.jsonl"
        path.write_text("".join(json.dumps({"output": p}) + "\n" for p in body.predictions))
        return as_json(evaluate(predictions=path, suite=suite, actor=who.actor), 201)


@router.get("/api/v1/evaluations/compare", response_model=Comparison)
def compare_(who: Reader, a: str, b: str,
             resamples: int = Query(2000, ge=100, le=20000)) -> Response:
    """B minus A per metric with paired bootstrap 95% intervals and p-values."""
    return as_json(compare(a, b, resamples=resamples))


@router.get("/api/v1/evaluations/{eval_id}", response_model=Evaluation)
def show(eval_id: str, who: Reader) -> Response:
    return as_json(get_evaluation(eval_id))


@router.get("/api/v1/models", response_model=list[ModelSummary])
def list_models(request: Request, who: Reader) -> Response:
    return as_json(ModelRegistry(workspace(request), actor=who.actor).list_models())


@router.get("/api/v1/models/{name}/versions", response_model=list[ModelVersion])
def list_versions(name: str, request: Request, who: Reader) -> Response:
    return as_json(ModelRegistry(workspace(request), actor=who.actor).versions(name))


@router.post("/api/v1/models/{name}/promote", response_model=Promotion)
def promote_(name: str, body: PromoteIn, who: Writer) -> Response:
    """Evaluate, check the gates, and move the alias only if all pass (``moved``)."""
    return as_json(promote(name, body.version, body.alias, body.gates, data=body.data,
                           metrics=body.metrics, max_new_tokens=body.max_new_tokens,
                           actor=who.actor))
