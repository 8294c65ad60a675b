from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from llmops.store import Store
from llmops.store.engine import normalize_url
from llmops.store.migrate import _MIGRATIONS, SCHEMA_REVISION, current_revision, upgrade
from llmops.store.tables import metadata
from llmops.tracking.local import LocalTracking
from llmops.tracking.models import MetricPoint
from llmops.workspace import Workspace


def test_schema_revision_is_the_alembic_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_migrations_create_exactly_the_declared_tables(workspace: Workspace) -> None:
    with workspace.store.engine.connect() as conn:
        assert current_revision(conn) == SCHEMA_REVISION
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_twice_changes_nothing(workspace: Workspace) -> None:
    upgrade(workspace.store)
    upgrade(workspace.store)
    with workspace.store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h:5432/db").startswith("postgresql+psycopg://")


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []

    def open_and_upgrade() -> None:
        try:
            upgrade(Store(url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_upgrade) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(url).read() as conn:
        assert current_revision(conn) == SCHEMA_REVISION


def test_a_locked_sqlite_database_is_waited_for_and_no_write_is_lost(
    sqlite_settings: object, tmp_path: Path
) -> None:
    workspace = Workspace.open(sqlite_settings)  # type: ignore[arg-type]
    # a tiny busy timeout forces the store's own retry loop to do the waiting
    workspace.store.engine.dispose()
    impatient = Store(workspace.store.url, busy_timeout_ms=10)
    tracking = LocalTracking(Workspace(workspace.settings, impatient, workspace.artifacts))
    run = tracking.create_run(experiment="locks")
    db_path = workspace.store.engine.url.database
    blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release_later() -> None:
        time.sleep(1.0)
        blocker.execute("COMMIT")
        released.set()

    threading.Thread(target=release_later).start()
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.5, 1, 1)])
    assert released.is_set()  # the write waited for the lock instead of failing
    assert tracking.metric_history(run.id, "loss").values == [0.5]
