"""Evaluation records: Python return values, HTTP bodies and --json alike."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Evaluation(BaseModel):
    """One recorded evaluation: what was evaluated on what, and the summary scores.

    Summary numbers are over the examples that succeeded; `failed` says how many did not
    (generation or judge errors), and `status` is ``incomplete`` when any failed.
    """

    id: str
    status: Literal["complete", "incomplete"]
    target: str  # model:NAME@V, endpoint:URL#MODEL, or predictions:FILE
    model_version_id: str | None = None
    data: str  # dataset:NAME@V#SPLIT
    dataset_version_id: str
    prompt_version_id: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    total: int
    failed: int = 0
    cached: int = 0  # answers served from the generation cache
    examples: str  # digest of the per-example Parquet artifact
    run_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)  # metrics, judges, generation
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        return f"eval:{self.id}"


class MetricDelta(BaseModel):
    """B minus A for one metric, over the examples both scored, with a paired bootstrap
    95% confidence interval and a two-sided p-value for "no difference"."""

    metric: str
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


class ExamplePair(BaseModel):
    """One example as A and B answered it, for the examples that changed most."""

    row_id: str
    input: str
    reference: str | None
    output_a: str
    output_b: str
    score_a: float
    score_b: float

    @property
    def delta(self) -> float:
        return self.score_b - self.score_a


class Comparison(BaseModel):
    a: Evaluation
    b: Evaluation
    deltas: list[MetricDelta]
    regressed: dict[str, list[ExamplePair]] = Field(default_factory=dict)  # worst first
    resamples: int
