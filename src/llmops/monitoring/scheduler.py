"""The server's monitor scheduler: one asyncio task that, every `tick_s` seconds, claims
the due monitors (see `MonitorStore.claim_due`) and runs them on a worker thread.

Several server processes may run it against one PostgreSQL database: each due monitor
is claimed by exactly one. A monitor that fails is logged and tried again next period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from llmops.monitoring.models import MonitorResult
from llmops.monitoring.monitors import MonitorStore
from llmops.workspace import Workspace

log = logging.getLogger("llmops.monitoring")


class MonitorScheduler:
    def __init__(self, workspace: Workspace, *, tick_s: float) -> None:
        self.monitors = MonitorStore(workspace, actor="llmops:scheduler")
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._tick: asyncio.Future[list[MonitorResult]] | None = None

    def tick(self, now: int | None = None) -> list[MonitorResult]:
        """Deliver alerts a stopped process left pending, then claim and run every due
        monitor once (blocking); the results of the monitors that ran."""
        results = []
        try:
            self.monitors.redeliver_stale(now)
        except Exception:
            log.exception("redelivering stale alerts failed")
        for monitor in self.monitors.claim_due(now):
            try:
                results.append(self.monitors.run(monitor, now=now, claimed=True))
            except Exception:  # one broken monitor must not stop the others
                log.exception("monitor %s failed", monitor.name)
        return results

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._tick = loop.run_in_executor(None, self.tick)
            try:
                await asyncio.shield(self._tick)  # a cancel leaves the tick to finish
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is briefly away: try again next tick
                log.exception("the monitor scheduler's tick failed")
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        """Start the loop on the running event loop (no-op when tick_s is 0)."""
        if self.tick_s > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                name="llmops-monitors")

    async def aclose(self) -> None:
        """Stop the loop and wait for the tick in progress, if any."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._tick is not None and not self._tick.done():
            with contextlib.suppress(Exception):
                await self._tick  # finish the runs in progress before the store closes
