"""Time-ordered identifiers (ULIDs): sortable by creation, unique without coordination."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """A new 26-character ULID string."""
    return str(ULID())
