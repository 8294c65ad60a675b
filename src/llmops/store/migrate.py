"""Schema migrations: alembic, applied under a database-wide lock.

`llmops init` and server start call `upgrade()`; library entry points call
`ensure_schema()`, which costs one query when the schema is already current.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from llmops.store import Store

# The head revision in migrations/versions; a test checks that they agree.
SCHEMA_REVISION = "0010"
_PG_LOCK_KEY = 0x6C6C6D6F7073  # "llmops"
_MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to `revision`, serialised across processes.

    SQLite: the migration runs inside ``BEGIN IMMEDIATE``, which holds the single write
    lock. PostgreSQL: inside a transaction holding an advisory lock. SQLite and
    PostgreSQL both roll DDL back with the transaction, so a failed migration leaves the
    old schema intact.
    """
    from alembic import command
    from alembic.config import Config

    def run(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        if revision == "head" and current_revision(conn) == SCHEMA_REVISION:
            return
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)

    store.write(run)


def ensure_schema(store: Store) -> None:
    """Apply pending migrations if the database is not at the code's revision."""
    with store.read() as conn:
        if current_revision(conn) == SCHEMA_REVISION:
            return
    upgrade(store)
