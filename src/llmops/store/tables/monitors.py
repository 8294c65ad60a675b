"""Monitoring tables: scheduled monitors and the alerts they raise (with delivery state)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from llmops.store.tables.core import ID, metadata

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("check", String(16), nullable=False),  # drift|feedback|latency|errors|abuse
    Column("options", Text, nullable=False),  # JSON: model/route, windows, threshold
    Column("every_s", Integer, nullable=False),
    Column("alert", Text, nullable=True),  # webhook:URL
    Column("on_alert", Text, nullable=True),  # an action, e.g. retrain:PIPELINE.yaml
    Column("enabled", Integer, nullable=False),
    Column("last_run_at", BigInteger, nullable=True),  # claimed by the scheduler
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("monitor", String(64), nullable=False),
    Column("check", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("severity", String(16), nullable=False),  # warning|critical
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON: the check's result
    Column("target", Text, nullable=True),  # the webhook URL it is delivered to
    Column("delivery", String(16), nullable=False),  # pending|delivered|failed|none
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", BigInteger, nullable=True),
    Column("claimed_at", BigInteger, nullable=True),  # when a process last took delivery
    Column("action", Text, nullable=True),  # JSON: what the on-alert action recorded
    Index("ix_alerts_monitor_created_at", "monitor", "created_at"),
    Index("ix_alerts_created_at", "created_at"),
)
