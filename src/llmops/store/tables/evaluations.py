"""Evaluation tables: recorded evaluations and the generation cache they resume from."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from llmops.store.tables.core import ID, metadata

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("status", String(16), nullable=False),  # complete | incomplete
    Column("target", Text, nullable=False),
    Column("model_version_id", ID, nullable=True),
    Column("data", Text, nullable=False),
    Column("dataset_version_id", ID, nullable=False),
    Column("prompt_version_id", ID, nullable=True),
    Column("metrics", Text, nullable=False),  # JSON: summary scores
    Column("total", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("cached", Integer, nullable=False),
    Column("examples", String(71), nullable=False),  # Parquet artifact digest
    Column("run_id", ID, nullable=True),
    Column("config", Text, nullable=False),  # JSON: metrics, judges, generation, thresholds
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

# One answer per (target, prompt version, input, generation settings), so an interrupted
# or repeated evaluation does not generate again.
generation_cache = Table(
    "generation_cache",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of what produced the answer
    Column("output", Text, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("tokens", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)
