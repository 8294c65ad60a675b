"""The records monitoring returns: drift checks and reports, monitors, alerts, findings.

The same pydantic models are Python return values, HTTP bodies and ``--json`` output.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

CheckKind = Literal["drift", "feedback", "latency", "errors", "abuse"]
CHECK_KINDS: tuple[str, ...] = ("drift", "feedback", "latency", "errors", "abuse")


class DriftCheck(BaseModel):
    """One comparison of the current window with the reference.

    `drifted` is ``p_value < threshold`` (a significance level) for tests, or
    ``value > threshold`` for checks that compare a value with a limit. A check with too
    little data on either side is `skipped` (with the reason) and never drifted.
    """

    name: str  # input_length, output_length, ..., latency, error_rate
    test: str  # ks, mann-whitney-u, mmd-permutation, chi-square, two-proportion-z
    statistic: float | None = None
    p_value: float | None = None
    threshold: float
    drifted: bool = False
    value: float | None = None  # the current window's summary (mean, median, rate)
    reference_value: float | None = None  # the same summary for the reference
    n_current: int = 0
    n_reference: int = 0
    skipped: str | None = None
    note: str | None = None
    chart: dict[str, Any] | None = None  # what the HTML report draws

    @property
    def direction(self) -> str:
        """``higher``, ``lower`` or ``same``: the current summary against the reference."""
        if self.value is None or self.reference_value is None:
            return "same"
        if self.value > self.reference_value:
            return "higher"
        return "lower" if self.value < self.reference_value else "same"


class DriftReport(BaseModel):
    target: str  # model:NAME or route:R
    reference: str  # dataset:NAME@V, or traces from .. to ..
    current: str
    current_start: int
    current_end: int
    reference_start: int | None = None
    reference_end: int | None = None
    embedding_backend: str  # sentence-transformers model, or tfidf-svd
    threshold: float
    verdict: Literal["drift", "no drift", "insufficient data"]
    drifted: list[str] = Field(default_factory=list)
    checks: list[DriftCheck]
    created_at: int

    def check(self, name: str) -> DriftCheck:
        return next(c for c in self.checks if c.name == name)


class MonitorSpec(BaseModel):
    """What `llmops monitor create` and POST /api/v1/monitors take."""

    name: str
    check: CheckKind
    model: str | None = None
    route: str | None = None
    threshold: float | None = None  # per check; see monitoring/monitors.py
    window: str | None = None  # default: the monitor's period
    reference: str | None = None  # dataset:REF (drift only)
    reference_window: str | None = None  # default 7d
    every: str = "1h"
    alert: str | None = None  # webhook:URL
    on_alert: str | None = None  # retrain:PIPELINE.yaml
    enabled: bool = True


class Monitor(BaseModel):
    name: str
    check: CheckKind
    options: dict[str, Any]
    every_s: int
    alert: str | None = None
    on_alert: str | None = None
    enabled: bool
    last_run_at: int | None = None
    created_at: int
    created_by: str


class Alert(BaseModel):
    id: str
    monitor: str
    check: CheckKind
    created_at: int
    severity: Literal["warning", "critical"]
    summary: str
    details: dict[str, Any]
    target: str | None = None  # the webhook URL
    delivery: Literal["pending", "delivered", "failed", "none"]
    attempts: int = 0
    last_error: str | None = None
    delivered_at: int | None = None
    action: dict[str, Any] | None = None


class MonitorResult(BaseModel):
    """One run of a monitor: whether it fired, and the alert when it did."""

    monitor: str
    fired: bool
    summary: str
    details: dict[str, Any]
    alert: Alert | None = None


class AbuseFinding(BaseModel):
    """Something a key did in the window that its own history does not explain."""

    key_id: str
    key_name: str | None = None
    kind: Literal["rate_jump", "injection_share", "limit_hits"]
    value: float  # requests in the window / flagged share / 429 count
    baseline: float | None = None  # expected requests / flagged share before
    p_value: float | None = None
    threshold: float
    summary: str
