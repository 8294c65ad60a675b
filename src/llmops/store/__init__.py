"""The metadata store: one engine, read and write transactions, retried on lock."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from llmops.errors import ServiceUnavailable
from llmops.store.engine import make_engine

T = TypeVar("T")

__all__ = ["Store", "upsert_insert"]

_LOCK_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def upsert_insert(conn: Connection, table: Table) -> Any:
    """An INSERT that takes ``on_conflict_do_nothing/do_update`` on SQLite and PostgreSQL."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return any(m in text for m in _LOCK_MESSAGES)


class Store:
    """Access to the metadata database.

    `read()` opens a read transaction. `write(fn)` runs `fn(conn)` in a write
    transaction and commits; if SQLite reports the database locked even after its busy
    timeout, the whole function is retried, so an acknowledged write is never lost and
    a write that returned is committed.
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, synchronous: str = "NORMAL",
                 lock_retry_s: float = 120.0) -> None:
        self.url = url
        self.engine: Engine = make_engine(
            url, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous
        )
        self.dialect = self.engine.dialect.name
        self.lock_retry_s = lock_retry_s

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, fn: Callable[[Connection], T]) -> T:
        deadline = time.monotonic() + self.lock_retry_s
        delay = 0.005
        while True:
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(llmops_write=True)
                    with conn.begin():
                        return fn(conn)
            except OperationalError as exc:
                if not _is_lock_error(exc):
                    raise
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"the database stayed locked for {self.lock_retry_s:.0f} s; "
                        "another process holds a long write transaction"
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def dispose(self) -> None:
        self.engine.dispose()
