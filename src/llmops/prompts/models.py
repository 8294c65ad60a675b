"""Prompt registry records: Python return values, HTTP bodies and --json alike."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_serializer

from llmops.prompts.spec import PromptSpec


class PromptVersion(BaseModel):
    """One immutable prompt version and the labels pointing at it now."""

    id: str
    name: str
    version: int
    content_hash: str
    spec: PromptSpec
    labels: list[str] = Field(default_factory=list)
    created_at: int
    created_by: str

    @field_serializer("spec")
    def _canonical(self, spec: PromptSpec) -> dict[str, Any]:
        return spec.canonical_dict()

    @property
    def ref(self) -> str:
        """``prompt:NAME@VERSION``."""
        return f"prompt:{self.name}@{self.version}"


class CreatedPromptVersion(PromptVersion):
    """What `create` returns: the version, and whether this call made it."""

    created: bool


class PromptSummary(BaseModel):
    """One prompt: its newest version and where its labels point."""

    id: str
    name: str
    description: str | None = None
    latest_version: int
    versions: int
    labels: dict[str, int] = Field(default_factory=dict)
    created_at: int
    updated_at: int


class PromptLabelEvent(BaseModel):
    """One move of a label; `version` is None when the label was removed."""

    label: str
    version: int | None
    previous_version: int | None
    at: int
    actor: str


class LabelChange(BaseModel):
    """The outcome of labelling, rolling back or removing a label."""

    name: str
    label: str
    version: int | None
    previous_version: int | None
    changed: bool


class SpecChange(BaseModel):
    """A field that differs between two versions (absent values are None)."""

    path: str
    a: Any = None
    b: Any = None


class PromptDiff(BaseModel):
    a: str
    b: str
    a_hash: str
    b_hash: str
    identical: bool
    changes: list[SpecChange]
    unified: str
