"""How the CLI prints: rich tables for people, ``--json`` for programs."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from llmops.clock import iso
from llmops.errors import LlmopsError

# Piped output (a log, a file) gets wide lines instead of the 80 columns rich assumes.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False)


def to_data(value: Any) -> Any:
    """Plain JSON-ready data from models, lists and dicts (NaN as "NaN")."""
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json())
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_data(value), indent=2) + "\n")


def error(exc: LlmopsError | str) -> None:
    err_console.print(f"[red]error:[/red] {exc.detail if isinstance(exc, LlmopsError) else exc}",
                      soft_wrap=True)


def when(ms: int | None) -> str:
    text = iso(ms)
    return text.replace("T", " ")[:19] if text else "-"


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 1:
        return f"{ms}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def number(value: float) -> str:
    return f"{value:.6g}"
