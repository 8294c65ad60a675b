"""Tracking records. The same models are Python return values, HTTP bodies and --json."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class _Record(BaseModel):
    # NaN and infinities travel as the strings "NaN", "Infinity", "-Infinity" in JSON
    model_config = ConfigDict(ser_json_inf_nan="strings")


class Experiment(_Record):
    id: str
    name: str
    description: str | None = None
    created_at: int


class MetricValue(_Record):
    """The latest point of one metric."""

    step: int
    value: float
    timestamp: int


class RunArtifact(_Record):
    name: str
    kind: Literal["file", "tree"]
    digest: str
    size: int
    created_at: int


class Run(_Record):
    id: str
    experiment: str
    name: str
    status: RunStatus
    parent_id: str | None = None
    created_by: str
    started_at: int
    ended_at: int | None = None
    heartbeat_at: int
    host: str | None = None
    pid: int | None = None
    error: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    artifacts: list[RunArtifact] = Field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        end = self.ended_at if self.ended_at is not None else self.heartbeat_at
        return end - self.started_at


class MetricPoint(NamedTuple):
    key: str
    value: float
    step: int
    timestamp: int


class MetricHistory(_Record):
    """Every point of one metric of one run, in columns, ordered by step then time."""

    run_id: str
    key: str
    steps: list[int]
    values: list[float]
    timestamps: list[int]

    def __len__(self) -> int:
        return len(self.steps)

    def points(self) -> Iterator[tuple[int, float, int]]:
        return zip(self.steps, self.values, self.timestamps, strict=True)


class LineageEdge(_Record):
    source: str  # "kind:id"
    target: str
    relation: str
    created_at: int


class LineageGraph(_Record):
    root: str
    upstream: list[LineageEdge]
    downstream: list[LineageEdge]


def check_key(key: Any, what: str = "metric") -> str:
    """A param, metric or tag key: 1-255 printable characters."""
    from llmops.errors import ValidationFailed

    if not isinstance(key, str) or not 0 < len(key) <= 255 or not key.isprintable():
        raise ValidationFailed(
            f"invalid {what} key {key!r}: use 1-255 printable characters",
            errors=[{"field": f"{what}.key", "message": "1-255 printable characters"}],
        )
    return key


def clean_value(value: Any, key: str) -> float:
    """A metric value as float (NaN and infinities allowed); non-numbers are refused."""
    from llmops.errors import ValidationFailed

    if not isinstance(value, bool):
        try:
            return float(value)  # ints, numpy scalars, "NaN" from JSON
        except (TypeError, ValueError):
            pass
    raise ValidationFailed(
        f"metric {key!r}: value {value!r} is not a number",
        errors=[{"field": f"metrics.{key}", "message": "must be a number"}],
    )
