"""Where studies live: Optuna's RDB storage, next to the llmops metadata.

Optuna keeps its own alembic revision in a table named ``alembic_version``, the same name
llmops's migrations use, so the two cannot share one namespace:

- **PostgreSQL**: Optuna's tables live in the schema ``optuna`` of the same database
  (created on first use; every Optuna connection sets ``search_path=optuna``). Workers on
  other machines reach the study through the same ``LLMOPS_DATABASE_URL``.
- **SQLite**: Optuna's tables live in ``optuna.db`` next to the llmops database file
  (``~/.llmops/optuna.db`` by default), the same machine's processes share it.

Trials are claimed under a lock (a PostgreSQL advisory lock; a file lock beside the SQLite
file), so that workers together run exactly the study's number of trials.
"""

from __future__ import annotations

import fcntl
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OPTUNA_SCHEMA = "optuna"
SQLITE_FILE = "optuna.db"
HEARTBEAT_S = 10  # a running trial says it is alive this often
GRACE_S = 60  # ...and is failed as stale when it has not for this long


def _database_url() -> str:
    from llmops.config import get_settings
    from llmops.store.engine import normalize_url

    return normalize_url(get_settings().resolved_database_url)


def describe() -> str:
    """Where studies are stored, for people (no password)."""
    from sqlalchemy.engine import make_url

    url = make_url(_database_url())
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{_sqlite_path(url.database or '')}"
    return f"{url.render_as_string(hide_password=True)} (schema {OPTUNA_SCHEMA})"


def _sqlite_path(database: str) -> Path:
    return Path(database).expanduser().resolve().parent / SQLITE_FILE


_STORAGES: dict[str, Any] = {}


def close_storages() -> None:
    """Close the connections of every storage this process opened (tests, shutdown)."""
    while _STORAGES:
        _, storage = _STORAGES.popitem()
        storage.engine.dispose()


def _storage(url: str) -> Any:
    import optuna
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with warnings.catch_warnings():
        # heartbeats are "experimental" in Optuna; they are what fails a dead worker's trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if parsed.get_backend_name() == "sqlite":
            path = _sqlite_path(parsed.database or "")
            path.parent.mkdir(parents=True, exist_ok=True)
            with _file_lock(path.with_suffix(".lock")):
                return optuna.storages.RDBStorage(
                    f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 60}},
                    heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        from llmops.workspace import Workspace

        engine = Workspace.open().store.engine
        with engine.connect() as conn:
            # one creator at a time: CREATE SCHEMA IF NOT EXISTS and Optuna's own
            # create_all race when two workers start together
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key("schema")})
            try:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
                conn.commit()
                return optuna.storages.RDBStorage(
                    url, engine_kwargs={"connect_args": {
                        "options": f"-csearch_path={OPTUNA_SCHEMA}"},
                        "pool_pre_ping": True},
                    heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key("schema")})
                conn.commit()


def open_storage() -> Any:
    """The Optuna storage of this workspace (one per process and database URL)."""
    url = _database_url()
    if url not in _STORAGES:
        _STORAGES[url] = _storage(url)
    return _STORAGES[url]


def _key(name: str) -> int:
    return zlib.crc32(f"llmops-tune:{name}".encode()) - 2**31  # a signed 32-bit lock key


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def study_lock(study: str) -> Iterator[None]:
    """Held while a worker counts a study's trials and claims the next one."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    url = make_url(_database_url())
    if url.get_backend_name() == "sqlite":
        with _file_lock(_sqlite_path(url.database or "").with_suffix(".lock")):
            yield
        return
    from llmops.workspace import Workspace

    with Workspace.open().store.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _key(study)})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(study)})
            conn.commit()
