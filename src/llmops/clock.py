"""Time as llmops stores it: integer milliseconds since the epoch, UTC."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from llmops.errors import InvalidInput

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def iso(ms: int | None) -> str | None:
    """Format epoch milliseconds as ISO 8601 UTC (``2026-11-26T11:33:37.123Z``)."""
    if ms is None:
        return None
    text = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_duration(text: str) -> int:
    """Parse a duration such as ``30d``, ``12h`` or ``1h30m`` into seconds."""
    parts = _DURATION.findall(text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", text.lower()):
        raise InvalidInput(
            f"invalid duration {text!r}: use a number and a unit, e.g. 90s, 30m, 12h, 30d, 2w"
        )
    seconds = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInput(f"invalid duration {text!r}: must be positive")
    return seconds
