"""A workspace: the settings, metadata store and artifact store a process works with."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass

from llmops.artifacts import ArtifactStore, open_artifact_store
from llmops.config import Settings, get_settings
from llmops.store import Store
from llmops.store.migrate import ensure_schema

_lock = threading.Lock()
_open: dict[tuple[str, str], Workspace] = {}


@dataclass
class Workspace:
    settings: Settings
    store: Store
    artifacts: ArtifactStore

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> Workspace:
        """Open (once per process and URL pair) the stores `settings` point at.

        The home folder is created and pending migrations are applied on first open.
        """
        settings = settings or get_settings()
        key = (settings.resolved_database_url, settings.resolved_artifact_url)
        with _lock:
            found = _open.get(key)
            if found is not None:
                return found
            settings.home_path.mkdir(parents=True, exist_ok=True)
            store = Store(
                settings.resolved_database_url,
                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                synchronous=settings.sqlite_synchronous,
            )
            if migrate:
                ensure_schema(store)
            workspace = cls(settings, store, open_artifact_store(settings.resolved_artifact_url))
            _open[key] = workspace
            return workspace

    @staticmethod
    @atexit.register  # engines left to interpreter teardown sometimes abort the process
    def close_all() -> None:
        """Dispose every open workspace (tests, forks)."""
        with _lock:
            for workspace in _open.values():
                workspace.store.dispose()
            _open.clear()
