"""Dataset kinds and the validation of each row against its kind.

    text         {"text": str}
    instruction  {"prompt": str, "response": str} or {"instruction", "input"?, "output"}
    chat         {"messages": [{"role": system|user|assistant|tool, "content": str}, ...]}
    preference   {"prompt", "chosen", "rejected"}: each a string or a messages list
    eval         {"input": str, "reference" or "expected": any}

Extra fields are kept. A check returns the problems of one row as (field, message) pairs,
so an import can report every bad row with where and what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmops.errors import InvalidInput

KINDS = ("text", "instruction", "chat", "preference", "eval")
ROLES = frozenset({"system", "user", "assistant", "tool"})
Problems = list[tuple[str, str]]


def _string(row: dict[str, Any], field: str, problems: Problems, *, required: bool = True,
            empty_ok: bool = False) -> None:
    if field not in row:
        if required:
            problems.append((field, "is missing"))
        return
    value = row[field]
    if not isinstance(value, str):
        problems.append((field, f"must be a string, not {type(value).__name__}"))
    elif not empty_ok and not value.strip():
        problems.append((field, "is empty"))


def _messages(value: Any, field: str, problems: Problems) -> None:
    if not isinstance(value, list) or not value:
        problems.append((field, "must be a non-empty list of messages"))
        return
    for i, message in enumerate(value):
        where = f"{field}.{i}"
        if not isinstance(message, dict):
            problems.append((where, "must be an object with role and content"))
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append((f"{where}.role", f"must be one of {', '.join(sorted(ROLES))}, "
                                              f"not {role!r}"))
        content = message.get("content")
        if content is None and role == "assistant" and message.get("tool_calls"):
            continue  # an assistant turn that only calls tools
        if not isinstance(content, str):
            problems.append((f"{where}.content", "must be a string"))


def _text(row: dict[str, Any]) -> Problems:
    problems: Problems = []
    _string(row, "text", problems)
    return problems


def _instruction(row: dict[str, Any]) -> Problems:
    problems: Problems = []
    if "instruction" in row or "output" in row:
        _string(row, "instruction", problems)
        _string(row, "input", problems, required=False, empty_ok=True)
        _string(row, "output", problems)
    else:
        _string(row, "prompt", problems)
        _string(row, "response", problems)
    return problems


def _plain_messages(value: Any) -> bool:
    """The common case, checked fast: a non-empty list of {role, content: str} dicts."""
    if type(value) is not list or not value:
        return False
    for m in value:
        if type(m) is not dict or m.get("role") not in ROLES or type(m.get("content")) is not str:
            return False
    return True


def _chat(row: dict[str, Any]) -> Problems:
    messages = row.get("messages")
    if _plain_messages(messages):
        return []
    if messages is None:
        return [("messages", "is missing")]
    problems: Problems = []
    _messages(messages, "messages", problems)
    return problems


def _preference(row: dict[str, Any]) -> Problems:
    problems: Problems = []
    for field in ("prompt", "chosen", "rejected"):
        if field not in row:
            problems.append((field, "is missing"))
        elif isinstance(row[field], list):
            _messages(row[field], field, problems)
        else:
            _string(row, field, problems)
    return problems


def _eval(row: dict[str, Any]) -> Problems:
    problems: Problems = []
    _string(row, "input", problems)
    if "reference" not in row and "expected" not in row:
        problems.append(("reference", "is missing (give reference or expected)"))
    return problems


CHECKS: dict[str, Callable[[dict[str, Any]], Problems]] = {
    "text": _text,
    "instruction": _instruction,
    "chat": _chat,
    "preference": _preference,
    "eval": _eval,
}


# The top-level fields each kind needs, as alternatives (for CSV header checks).
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "text": [("text",)],
    "instruction": [("prompt", "response"), ("instruction", "output")],
    "chat": [("messages",)],
    "preference": [("prompt", "chosen", "rejected")],
    "eval": [("input", "reference"), ("input", "expected")],
}


def check_columns(kind: str, columns: list[str], where: str) -> None:
    """Refuse a table (CSV header) that lacks the columns `kind` needs."""
    have = set(columns)
    if any(set(need) <= have for need in REQUIRED[kind]):
        return
    need = min(REQUIRED[kind], key=lambda n: len(set(n) - have))
    missing = [c for c in need if c not in have]
    options = " or ".join("(" + ", ".join(n) + ")" for n in REQUIRED[kind])
    raise InvalidInput(
        f"{where} has no column {', '.join(repr(m) for m in missing)}: kind {kind} needs "
        f"{options}; its columns are {', '.join(columns) or 'none'}",
        errors=[{"field": m, "message": "missing column"} for m in missing])


def check_kind(kind: str) -> str:
    if kind not in CHECKS:
        raise InvalidInput(f"unknown dataset kind {kind!r}: use one of {', '.join(KINDS)}",
                           errors=[{"field": "kind", "message": "unknown kind"}])
    return kind


def check_row(kind: str, row: Any) -> Problems:
    """The problems of one row against `kind` (empty when the row is valid)."""
    if not isinstance(row, dict):
        return [("", f"must be a JSON object, not {type(row).__name__}")]
    return CHECKS[kind](row)


def row_warnings(kind: str, row: dict[str, Any]) -> list[str]:
    """Suspicious but accepted rows (counted in the import report)."""
    if kind == "preference" and row.get("chosen") == row.get("rejected"):
        return ["chosen == rejected"]
    return []


def row_texts(row: Any) -> list[tuple[str, str]]:
    """Every string in a row with its field path (``messages.1.content``)."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            found.append((path, value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}.{i}" if path else str(i))

    walk(row, "")
    return found
