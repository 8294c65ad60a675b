"""What each monitor check measures and when it fires.

    drift     the drift report (monitoring/drift.py) over the monitor's window against
              its reference; fires on the verdict ``drift``. threshold: the significance
              level (default 0.01).
    feedback  feedback scores and thumbs in the window against the reference window;
              fires when the mean score is below `threshold` (default 3.0, on 1-5) or the
              scores fell / thumbs-down rose significantly (p < 0.01).
    latency   fires when the window's p95 latency is over `threshold` ms, or, with no
              threshold, when latency rose significantly against the reference window.
    errors    fires when the share of status >= 400 is over `threshold` (default 0.05)
              among at least 10 requests.
    abuse     per-key findings (monitoring/abuse.py); `threshold` is the rate-jump ratio.

The window defaults to the monitor's period (`every`), the reference window to 7d.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmops.clock import now_ms
from llmops.monitoring.models import Monitor

MIN_ERROR_REQUESTS = 10
FEEDBACK_ALPHA = 0.01


@dataclass
class Outcome:
    fired: bool
    summary: str
    severity: str = "warning"
    details: dict[str, Any] = field(default_factory=dict)


def _window(monitor: Monitor) -> str:
    return monitor.options.get("window") or f"{monitor.every_s}s"


def _target(monitor: Monitor) -> str:
    o = monitor.options
    return " ".join(p for p in (f"model:{o['model']}" if o.get("model") else "",
                                f"route:{o['route']}" if o.get("route") else "") if p)


def _drift(workspace: Any, monitor: Monitor, now: int) -> Outcome:
    from llmops.monitoring.drift import DEFAULT_THRESHOLD, drift_report

    o = monitor.options
    report = drift_report(model=o.get("model"), route=o.get("route"),
                          reference=o.get("reference"),
                          reference_window=None if o.get("reference") else
                          o.get("reference_window") or "7d",
                          window=_window(monitor), threshold=o.get("threshold") or
                          DEFAULT_THRESHOLD, now=now, workspace=workspace)
    details = report.model_dump(exclude={"checks": {"__all__": {"chart"}}})
    if report.verdict != "drift":
        return Outcome(False, f"{report.target}: {report.verdict}", details=details)
    return Outcome(True, f"drift on {report.target}: " + ", ".join(report.drifted),
                   "critical" if len(report.drifted) >= 3 else "warning", details)


def _samples(workspace: Any, monitor: Monitor, now: int) -> tuple[Any, Any, int, int]:
    from llmops.monitoring.samples import load_traces
    from llmops.traces.query import duration_ms

    o = monitor.options
    start = now - duration_ms(_window(monitor))
    ref_start = start - duration_ms(o.get("reference_window") or "7d")
    current = load_traces(workspace, model=o.get("model"), route=o.get("route"),
                          start=start, end=now)
    reference = load_traces(workspace, model=o.get("model"), route=o.get("route"),
                            start=ref_start, end=start)
    return current, reference, start, ref_start


def _feedback(workspace: Any, monitor: Monitor, now: int) -> Outcome:
    from llmops.monitoring.drift import DEFAULT_MIN_SAMPLES, Checks, feedback_for
    from llmops.traces.query import duration_ms

    o = monitor.options
    start = now - duration_ms(_window(monitor))
    ref_start = start - duration_ms(o.get("reference_window") or "7d")
    current = feedback_for(workspace, o.get("model"), o.get("route"), start, now)
    reference = feedback_for(workspace, o.get("model"), o.get("route"), ref_start, start)
    checks = Checks(FEEDBACK_ALPHA, o.get("min_samples") or DEFAULT_MIN_SAMPLES)
    score = checks.numeric("feedback_score", np.asarray(current[0], dtype=float),
                           np.asarray(reference[0], dtype=float), test="mann-whitney-u")
    (_, cur_t), (_, ref_t) = current, reference
    thumbs = checks.proportion("thumbs_down_rate", sum(1 for t in cur_t if t < 0), len(cur_t),
                               sum(1 for t in ref_t if t < 0), len(ref_t))
    floor = o.get("threshold") or 3.0
    mean = float(np.mean(current[0])) if current[0] else None
    reasons = []
    if mean is not None and len(current[0]) >= checks.min_samples and mean < floor:
        reasons.append(f"mean score {mean:.2f} is below {floor:g}")
    if score.drifted and score.direction == "lower":
        reasons.append(f"scores fell ({score.reference_value:.2f} -> {score.value:.2f}, "
                       f"p={score.p_value:.2g})")
    if thumbs.drifted and thumbs.direction == "higher":
        reasons.append(f"thumbs-down rate rose ({thumbs.reference_value:.1%} -> "
                       f"{thumbs.value:.1%}, p={thumbs.p_value:.2g})")
    details = {"mean_score": mean, "scores": len(current[0]), "threshold": floor,
               "checks": [c.model_dump(exclude={"chart"}) for c in (score, thumbs)]}
    summary = f"feedback on {_target(monitor)}: " + ("; ".join(reasons) or "ok")
    return Outcome(bool(reasons), summary, details=details)


def _latency(workspace: Any, monitor: Monitor, now: int) -> Outcome:
    from llmops.monitoring.drift import DEFAULT_MIN_SAMPLES, Checks

    current, reference, _, _ = _samples(workspace, monitor, now)
    latencies = np.asarray(current.latency_ms)
    limit = monitor.options.get("threshold")
    p95 = float(np.percentile(latencies, 95)) if len(latencies) else None
    details: dict[str, Any] = {"p95_ms": p95, "requests": len(latencies), "threshold_ms": limit}
    if limit is not None:
        fired = p95 is not None and p95 > limit
        summary = (f"latency on {_target(monitor)}: p95 {p95:.0f} ms"
                   + (f" is over {limit:g} ms" if fired else f" (limit {limit:g} ms)")
                   if p95 is not None else f"latency on {_target(monitor)}: no requests")
        return Outcome(fired, summary, details=details)
    checks = Checks(0.01, monitor.options.get("min_samples") or DEFAULT_MIN_SAMPLES)
    check = checks.numeric("latency", latencies, np.asarray(reference.latency_ms),
                           test="mann-whitney-u", summary="median")
    details["check"] = check.model_dump(exclude={"chart"})
    fired = check.drifted and check.direction == "higher"
    summary = (f"latency on {_target(monitor)} rose: median {check.reference_value:.0f} -> "
               f"{check.value:.0f} ms (p={check.p_value:.2g})" if fired
               else f"latency on {_target(monitor)}: ok")
    return Outcome(fired, summary, details=details)


def _errors(workspace: Any, monitor: Monitor, now: int) -> Outcome:
    current, _, _, _ = _samples(workspace, monitor, now)
    n = len(current.status)
    failed = sum(1 for s in current.status if s >= 400)
    limit = monitor.options.get("threshold")
    limit = 0.05 if limit is None else limit
    rate = failed / n if n else 0.0
    fired = n >= MIN_ERROR_REQUESTS and rate > limit
    details = {"requests": n, "errors": failed, "error_rate": rate, "threshold": limit}
    summary = (f"errors on {_target(monitor)}: {failed} of {n} requests ({rate:.1%}) "
               + (f"over the {limit:.1%} limit" if fired else "within limits"))
    return Outcome(fired, summary, "critical" if fired and rate > 2 * limit else "warning",
                   details)


def _abuse(workspace: Any, monitor: Monitor, now: int) -> Outcome:
    from llmops.monitoring.abuse import AbuseOptions, detect_abuse

    o = monitor.options
    options = AbuseOptions(window=_window(monitor), baseline=o.get("reference_window") or "7d")
    if o.get("threshold"):
        options.rate_ratio = float(o["threshold"])
    findings = detect_abuse(workspace, options, now=now)
    details = {"findings": [f.model_dump() for f in findings]}
    if not findings:
        return Outcome(False, "abuse: no findings", details=details)
    keys = sorted({f.key_name or f.key_id for f in findings})
    kinds = sorted({f.kind for f in findings})
    return Outcome(True, f"abuse: {len(findings)} finding(s) for key(s) {', '.join(keys)} "
                   f"({', '.join(kinds)})",
                   "critical" if any(f.kind != "rate_jump" for f in findings) else "warning",
                   details)


CHECKS = {"drift": _drift, "feedback": _feedback, "latency": _latency, "errors": _errors,
          "abuse": _abuse}


def evaluate(workspace: Any, monitor: Monitor, *, now: int | None = None) -> Outcome:
    """Run `monitor`'s check over its window ending `now`."""
    return CHECKS[monitor.check](workspace, monitor, now_ms() if now is None else now)
