"""Dataset tables: named datasets and their immutable, content-addressed versions."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from llmops.store.tables.core import ID, metadata

datasets = Table(
    "datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dataset_id", ID, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(71), nullable=False),  # sha256 over kind, rows and splits
    Column("kind", String(16), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("byte_size", BigInteger, nullable=False),  # stored bytes of its chunks
    Column("manifest", Text, nullable=False),  # JSON: chunks (digest, rows), fields, splits
    Column("encrypted", Boolean, nullable=False, default=False),
    Column("wrapped_key", Text, nullable=True),  # the version's data key, wrapped
    Column("profile", Text, nullable=True),  # JSON profile, computed on demand
    Column("source", Text, nullable=True),  # JSON: what it was made from
    Column("parent_id", ID, ForeignKey("dataset_versions.id"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
    UniqueConstraint("dataset_id", "content_hash", name="uq_dataset_versions_hash"),
)
