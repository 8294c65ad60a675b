"""Request traces, written by one background thread in batches.

A request appends its trace to an in-memory queue and returns: no lock, no wake-up,
nothing but a `deque.append` on the hot path. The writer thread wakes every `linger_s`
seconds and inserts what has accumulated, up to `batch` rows per transaction (on SQLite
as multi-row INSERTs). A full queue refuses new requests before any work (503, counted
in `refused`); a request already admitted always gets its trace queued, so nothing
answered is dropped; `close()` drains the queue before the process exits.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert

from llmops.errors import ServiceUnavailable
from llmops.store import Store
from llmops.store.tables import traces


def _max_variables() -> int:
    """Bound parameters SQLite takes in one statement (32,766 since 3.32, 999 before)."""
    import sqlite3

    return 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


class TraceWriter:
    def __init__(self, store: Store, *, capacity: int = 10_000, batch: int = 500,
                 linger_s: float = 0.05) -> None:
        self.store = store
        self.batch = batch
        self.capacity = capacity
        self.linger_s = linger_s
        self._rows: deque[dict[str, Any]] = deque()
        self._taking = threading.Lock()  # the writer takes a batch; `pending` looks
        self._writing: set[str] = set()  # ids of the batch being written
        self.written = 0
        self.failed = 0
        self.refused = 0  # requests turned away because the queue was full
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []  # see _write
        self._compiled: dict[Any, tuple[str, tuple[str, ...] | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="llmops-trace-writer")
        self._thread.start()

    def depth(self) -> int:
        """Traces waiting to be written."""
        return len(self._rows)

    def _full(self) -> ServiceUnavailable:
        self.refused += 1
        return ServiceUnavailable("the trace queue is full; retry shortly")

    def check_room(self) -> None:
        """Raise before doing any work when traces could not be kept."""
        if len(self._rows) >= self.capacity:
            raise self._full()

    def put(self, row: dict[str, Any]) -> None:
        """Queue the trace of a request admitted by `check_room`: never refused, so an
        answer is not lost after its work is done (the queue can pass `capacity` by the
        requests in flight at most)."""
        self._rows.append(row)  # deque.append is atomic: the writer thread pops safely

    def _run(self) -> None:
        while not self._stop.wait(self.linger_s):
            self._drain()
        self._drain()  # what was queued before close()

    def _drain(self) -> None:
        rows = self._rows
        while rows:
            with self._taking:
                batch = [rows.popleft() for _ in range(min(self.batch, len(rows)))]
                self._writing = {row["id"] for row in batch}
            self._write(batch)
            self._writing = set()

    def pending(self, trace_id: str) -> bool:
        """Whether the trace is queued or being written (not yet readable in the store)."""
        with self._taking:
            return trace_id in self._writing or any(
                row["id"] == trace_id for row in self._rows)

    def _write(self, rows: list[dict[str, Any]], attempts: int = 5) -> None:
        """Write a batch, retried with backoff (a busy or restarting store); if it still
        fails, row by row, so only rows the store refuses are lost and counted."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:  # one executemany per column set (callers may add columns)
            groups.setdefault(tuple(row), []).append(row)

        def write(conn: Any) -> None:
            for columns, group in groups.items():
                sql, positions = self._statement(conn, columns)
                if positions is None:  # named / pyformat (PostgreSQL): executemany
                    conn.exec_driver_sql(sql, group)
                    continue
                # qmark (SQLite): many rows per INSERT. The driver lets the GIL go around
                # every statement step, and a busy event loop keeps it up to the switch
                # interval (5 ms): a statement per row would crawl under load.
                head, _, values = sql.partition(" VALUES ")
                per = max(1, _max_variables() // len(positions))
                for i in range(0, len(group), per):
                    chunk = group[i:i + per]
                    conn.exec_driver_sql(f"{head} VALUES {', '.join([values] * len(chunk))}",
                                         tuple(r[k] for r in chunk for k in positions))

        for attempt in range(attempts):
            try:
                self.store.write(write)
                self.written += len(rows)
                break
            except Exception:  # the store is busy or down: wait and try again
                if attempt == attempts - 1:
                    if len(rows) > 1:  # one bad row must not lose the others
                        for row in rows:
                            self._write([row], attempts=1)
                    else:
                        self.failed += 1
                    return
                time.sleep(min(0.05 * 2 ** attempt, 2.0))
        for listener in self.listeners:  # e.g. online evaluation, after the commit
            try:
                listener(rows)
            except Exception:  # a listener's failure never stops trace writing
                pass

    def _statement(self, conn: Any, columns: tuple[str, ...]
                   ) -> tuple[str, tuple[str, ...] | None]:
        """The INSERT for these columns in the driver's own parameter style, compiled once:
        rows go to the driver's executemany as they are (every trace column is a string,
        an integer or a float, which no driver needs converted)."""
        key = (conn.dialect.name, columns)
        found = self._compiled.get(key)
        if found is None:
            compiled = insert(traces).compile(dialect=conn.dialect, column_keys=list(columns))
            positions = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = self._compiled[key] = (str(compiled), positions)
        return found

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop."""
        self._stop.set()
        self._thread.join(timeout)
