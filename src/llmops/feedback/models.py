"""Feedback records as every front end returns them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, model_validator


class Preference(BaseModel):
    """An A/B judgement: was this trace's answer or the other one better?

    The other response is named by its text (`other_output`) or by the trace that gave it
    (`other_trace_id`), exactly one of the two.
    """

    chosen: Literal["this", "other"]
    other_output: str | None = None
    other_trace_id: str | None = None

    @model_validator(mode="after")
    def _one_other(self) -> Preference:
        if (self.other_output is None) == (self.other_trace_id is None):
            raise ValueError("a preference names the other response by exactly one of "
                             "other_output (its text) or other_trace_id")
        return self


class Feedback(BaseModel):
    """One judgement of one trace.

    Attributes:
        thumbs: +1 (up) or -1 (down).
        score: 1-5.
        value: For automatic sources, the metric's raw value (json_valid 0/1, length...).
        correction: The answer the trace should have given.
        source: ``human``, or ``auto:<metric>`` / ``auto:judge.<name>`` (online evaluation).
        actor: Who gave it (``local:USER`` or ``key:NAME:ID``).
    """

    id: str
    trace_id: str
    thumbs: int | None = None
    score: int | None = None
    value: float | None = None
    labels: list[str] = []
    comment: str | None = None
    correction: str | None = None
    preference: Preference | None = None
    source: str
    actor: str
    key_id: str | None = None
    idempotency_key: str | None = None
    created_at: int

    @property
    def ref(self) -> str:
        return f"feedback:{self.id}"

    @classmethod
    def from_row(cls, row: Any) -> Feedback:
        return cls(id=row.id, trace_id=row.trace_id, thumbs=row.thumbs, score=row.score,
                   value=row.value, labels=json.loads(row.labels) if row.labels else [],
                   comment=row.comment, correction=row.correction,
                   preference=Preference.model_validate_json(row.preference)
                   if row.preference else None, source=row.source, actor=row.actor,
                   key_id=row.key_id, idempotency_key=row.idempotency_key,
                   created_at=row.created_at)
