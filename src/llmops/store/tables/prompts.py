"""Prompt registry tables: prompts, their immutable versions (labels live in labels.py)."""

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

prompts = Table(
    "prompts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("prompt_id", ID, ForeignKey("prompts.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(71), nullable=False),  # sha256:... of the canonical spec
    Column("spec", Text, nullable=False),  # the canonical JSON of the prompt definition
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_number"),
    UniqueConstraint("prompt_id", "content_hash", name="uq_prompt_versions_hash"),
)
