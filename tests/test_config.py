from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmops.config import Settings


def test_defaults_live_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path))
    s = Settings()
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'llmops.db'}"
    assert s.resolved_artifact_url == str(tmp_path / "artifacts")
    assert (s.host, s.port) == ("127.0.0.1", 8750)


def test_every_setting_comes_from_an_llmops_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_DATABASE_URL", "postgresql://u@db/x")
    monkeypatch.setenv("LLMOPS_ARTIFACT_URL", "s3://bucket/llmops")
    monkeypatch.setenv("LLMOPS_PORT", "9000")
    monkeypatch.setenv("LLMOPS_API_KEY", "llmops_secret")
    s = Settings()
    assert s.resolved_database_url == "postgresql://u@db/x"
    assert s.resolved_artifact_url == "s3://bucket/llmops"
    assert s.port == 9000
    assert "llmops_secret" not in repr(s)


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_SQLITE_SYNCHRONOUS", "sometimes")
    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        Settings()


def test_every_setting_has_a_description() -> None:
    assert all(f.description for f in Settings.model_fields.values())
