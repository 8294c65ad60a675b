from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CITIES = ["Lisbon", "Porto", "Rome", "Paris", "Oslo", "Kyoto", "Lima", "Cairo"]


def chat_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [{"messages": [
        {"role": "system", "content": "You are a travel agent."},
        {"role": "user", "content": f"What to see in {CITIES[i % 8]} on day {i}?"},
        {"role": "assistant", "content": f"On day {i}, walk {CITIES[i % 8]}'s old town."}]}
        for i in range(offset, offset + n)]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "chat.jsonl", chat_rows(200))
