"""The model registry: registered models, immutable versions, aliases and lineage.

    >>> from llmops import registry
    >>> v = registry.register("travel-assistant", "out/model", format="lora")
    >>> registry.set_alias("travel-assistant", str(v.version), "production")
    >>> registry.get("model:travel-assistant@production").ref
    'model:travel-assistant@1'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llmops.registry.compress import QuantizeResult, merge_version, quantize_version
from llmops.registry.models import AliasChange, ModelSummary, ModelVersion
from llmops.registry.store import ModelRegistry, parse_model_ref

__all__ = [
    "AliasChange",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersion",
    "QuantizeResult",
    "get",
    "list_models",
    "local_path",
    "merge_version",
    "open_registry",
    "parse_model_ref",
    "quantize_version",
    "register",
    "set_alias",
    "versions",
]


def open_registry() -> ModelRegistry:
    from llmops.workspace import Workspace

    return ModelRegistry(Workspace.open())


def register(name: str, folder: str | os.PathLike[str], **fields: Any) -> ModelVersion:
    """Store `folder` as the next version of model `name` (see `ModelRegistry.register`)."""
    return open_registry().register(name, folder, **fields)


def get(ref: str) -> ModelVersion:
    """The version ``[model:]NAME[@VERSION|ALIAS|latest]`` selects."""
    return open_registry().get(ref)


def versions(name: str) -> list[ModelVersion]:
    return open_registry().versions(name)


def list_models() -> list[ModelSummary]:
    return open_registry().list_models()


def set_alias(name: str, selector: str, alias: str) -> AliasChange:
    return open_registry().set_alias(name, selector, alias)


def local_path(ref: str) -> Path:
    """A local folder holding the files of the version `ref` selects (cached)."""
    registry = open_registry()
    return registry.local_path(registry.get(ref))
