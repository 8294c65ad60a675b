"""Model registry records: Python return values, HTTP bodies and --json alike."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ModelFormat = Literal["full", "lora"]


class ModelVersion(BaseModel):
    """One immutable model version: a folder of weights (or a LoRA adapter) and where it
    came from."""

    id: str
    name: str
    version: int
    format: ModelFormat
    artifact: str  # sha256 digest of the folder tree in the artifact store
    size: int
    base: str | None = None  # what it was made from, as given (hub id, folder, model ref)
    base_version_id: str | None = None  # the registered base version, when there is one
    run_id: str | None = None
    sources: dict[str, Any] = Field(default_factory=dict)  # dataset and prompt versions
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[dict[str, Any]] = Field(default_factory=list)  # promotion gate results
    description: str | None = None
    aliases: list[str] = Field(default_factory=list)
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        """``model:NAME@VERSION``."""
        return f"model:{self.name}@{self.version}"


class ModelSummary(BaseModel):
    """One registered model: its newest version and where its aliases point."""

    id: str
    name: str
    description: str | None = None
    latest_version: int
    versions: int
    aliases: dict[str, int] = Field(default_factory=dict)
    created_at: int


class AliasChange(BaseModel):
    """The outcome of moving or rolling back an alias."""

    name: str
    alias: str
    version: int | None
    previous_version: int | None
    changed: bool
