"""Request traces, written by one background thread in batches.

A request puts its trace on a bounded queue and returns; the writer inserts up to
`batch` rows per transaction. A full queue refuses new requests (503) instead of
dropping what was answered, and `close()` drains the queue before the process exits.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from sqlalchemy import insert

from llmops.errors import ServiceUnavailable
from llmops.store import Store
from llmops.store.tables import traces

_STOP = object()


class TraceWriter:
    def __init__(self, store: Store, *, capacity: int = 10_000, batch: int = 500) -> None:
        self.store = store
        self.batch = batch
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self.written = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="llmops-trace-writer")
        self._thread.start()

    def check_room(self) -> None:
        """Raise before doing any work when traces could not be kept."""
        if self.queue.full():
            raise ServiceUnavailable("the trace queue is full; retry shortly")

    def put(self, row: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            raise ServiceUnavailable("the trace queue is full; retry shortly") from None

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            rows = [first]
            stop = False
            while len(rows) < self.batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                rows.append(item)
            self._write(rows)
            if stop:
                return

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            self.store.write(lambda conn: conn.execute(insert(traces), rows))
            self.written += len(rows)
        except Exception:  # the store is down: keep the count, do not kill the writer
            self.failed += len(rows)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop."""
        self.queue.put(_STOP)
        self._thread.join(timeout)
