"""Core tables: users, keys, audit, experiments, runs, metrics, artifacts, lineage.

Timestamps are integer epoch milliseconds (UTC). Ids are ULIDs. Alembic migrations in
``migrations/versions`` create exactly these tables; a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(26)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("user_id", ID, ForeignKey("users.id"), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    # gateway limits (None: unlimited): requests and tokens per minute, total tokens
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("token_budget", BigInteger, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_kind", String(32), nullable=False),
    Column("object_id", String(128), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_audit_events_object", "object_kind", "object_id"),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parent_id", ID, ForeignKey("runs.id"), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("host", String(255), nullable=True),
    Column("pid", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_runs_experiment_started", "experiment_id", "started_at"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_parent", "parent_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

# One row per point. The unique index doubles as the history index (run, key, step) and
# makes replaying a batch (same points, same client timestamps) change nothing.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=True),  # NULL stores NaN (SQLite cannot hold NaN)
    UniqueConstraint("run_id", "key", "step", "timestamp", "value", name="uq_metrics_point"),
)

# The last point (highest step, then newest) of each metric of each run, kept on write so
# that showing and comparing runs never scans a history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(1024), primary_key=True),
    Column("kind", String(8), nullable=False),  # file | tree
    Column("digest", String(71), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_kind", String(32), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_id", String(128), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint(
        "source_kind", "source_id", "target_kind", "target_id", "relation",
        name="uq_lineage_edges_edge",
    ),
    Index("ix_lineage_edges_target", "target_kind", "target_id"),
)
