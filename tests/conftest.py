"""Shared fixtures: a fresh home per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from llmops.config import Settings, get_settings
from llmops.store.engine import normalize_url
from llmops.workspace import Workspace

os.environ.setdefault("HF_HUB_OFFLINE", "1")
POSTGRES_URL = os.environ.get("LLMOPS_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on SQLite, and on PostgreSQL when LLMOPS_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'llmops.db'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL variant: set LLMOPS_TEST_POSTGRES_URL to run it")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def settings(tmp_path: Path, database_url: str,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for a fresh home, also exported as LLMOPS_* for code that reads the env."""
    home = tmp_path / "home"
    env = {"LLMOPS_HOME": str(home), "LLMOPS_DATABASE_URL": database_url}
    for name in list(os.environ):
        if name.startswith("LLMOPS_") and name != "LLMOPS_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield Settings()
    Workspace.close_all()
    get_settings.cache_clear()


@pytest.fixture
def workspace(settings: Settings) -> Workspace:
    return Workspace.open(settings)


@pytest.fixture
def sqlite_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """SQLite-only settings, for tests about SQLite itself or about processes."""
    for name in list(os.environ):
        if name.startswith("LLMOPS_") and name != "LLMOPS_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield Settings()
    Workspace.close_all()
    get_settings.cache_clear()


@pytest.fixture
def keys(workspace: Workspace) -> dict[str, str]:
    """One fresh API key per role."""
    from llmops.auth.keys import create_key

    return {role: create_key(workspace.store, name=f"{role}-key", role=role, actor="test")[0]
            for role in ("admin", "maintainer", "viewer", "inference")}


@pytest.fixture
def client(settings: Settings, workspace: Workspace) -> Iterator[object]:
    """An in-process ASGI client of the server (no key set)."""
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(params=["local", "remote"])
def tracking(request: pytest.FixtureRequest, workspace: Workspace, keys: dict[str, str],
             client: object) -> object:
    """The tracking API, against the store directly and through the HTTP server."""
    from llmops.tracking.local import LocalTracking
    from llmops.tracking.remote import RemoteTracking

    if request.param == "local":
        return LocalTracking(workspace)
    client.headers["Authorization"] = f"Bearer {keys['maintainer']}"  # type: ignore[attr-defined]
    return RemoteTracking(client, retries=1)  # type: ignore[arg-type]
