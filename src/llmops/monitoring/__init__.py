"""Monitoring: drift between traffic and a reference, monitors that alert on a schedule,
and abuse detection per key.

    drift_report(model=..., reference=... | reference_window=..., window=...)
    MonitorStore(workspace).create(MonitorSpec(...)) / run(name) / alerts()
    detect_abuse(workspace, AbuseOptions(...))
"""

from llmops.monitoring.abuse import AbuseOptions, detect_abuse
from llmops.monitoring.drift import drift_report
from llmops.monitoring.models import (
    AbuseFinding,
    Alert,
    DriftCheck,
    DriftReport,
    Monitor,
    MonitorResult,
    MonitorSpec,
)
from llmops.monitoring.monitors import MonitorStore
from llmops.monitoring.report import render_html

__all__ = [
    "AbuseFinding",
    "AbuseOptions",
    "Alert",
    "DriftCheck",
    "DriftReport",
    "Monitor",
    "MonitorResult",
    "MonitorSpec",
    "MonitorStore",
    "detect_abuse",
    "drift_report",
    "render_html",
]
