"""Test helpers that are not fixtures."""

from __future__ import annotations

import socket
from typing import Any

from sqlalchemy import func, select

from llmops.store import Store
from llmops.store.tables import metadata


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every table: compare before and after to prove nothing changed."""
    with store.read() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in metadata.sorted_tables}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth(key: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {key}"}
