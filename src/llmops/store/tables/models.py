"""Model registry tables: registered models and their immutable versions (aliases live
in labels.py)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from llmops.store.tables.core import ID, metadata

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("format", String(16), nullable=False),  # "full" weights or a "lora" adapter
    Column("artifact", String(71), nullable=False),  # sha256 digest of the folder tree
    Column("size", BigInteger, nullable=False),  # bytes of the folder
    Column("base", Text, nullable=True),  # what it was made from, as the user named it
    Column("base_version_id", ID, ForeignKey("model_versions.id"), nullable=True),
    Column("run_id", ID, nullable=True),  # the training run that produced it
    Column("sources", Text, nullable=False),  # JSON: dataset and prompt versions used
    Column("metrics", Text, nullable=False),  # JSON: metrics recorded on the version
    Column("gates", Text, nullable=True),  # JSON: promotion gate results, newest last
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
)
