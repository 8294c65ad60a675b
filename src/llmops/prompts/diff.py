"""Differences between two prompt versions: changed fields and a unified diff of the YAML."""

from __future__ import annotations

import difflib
from typing import Any

from llmops.prompts.models import PromptDiff, PromptVersion, SpecChange

_ABSENT = object()


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out[path] = value


def diff_versions(a: PromptVersion, b: PromptVersion) -> PromptDiff:
    """What changed from `a` to `b`: field by field, and as a unified diff of the YAML."""
    flat_a: dict[str, Any] = {}
    flat_b: dict[str, Any] = {}
    _flatten(a.spec.canonical_dict(), "", flat_a)
    _flatten(b.spec.canonical_dict(), "", flat_b)
    changes = []
    for path in sorted(set(flat_a) | set(flat_b)):
        left, right = flat_a.get(path, _ABSENT), flat_b.get(path, _ABSENT)
        if left != right:
            changes.append(SpecChange(path=path, a=None if left is _ABSENT else left,
                                      b=None if right is _ABSENT else right))
    unified = "".join(difflib.unified_diff(
        a.spec.to_yaml().splitlines(keepends=True), b.spec.to_yaml().splitlines(keepends=True),
        fromfile=a.ref, tofile=b.ref))
    return PromptDiff(a=a.ref, b=b.ref, a_hash=a.content_hash, b_hash=b.content_hash,
                      identical=a.content_hash == b.content_hash, changes=changes,
                      unified=unified)
