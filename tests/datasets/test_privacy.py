"""PII redaction on import and derive; encryption at rest for sensitive datasets."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from llmops import datasets
from llmops.datasets.ops import derive_dataset
from llmops.errors import InvalidInput
from llmops.workspace import Workspace
from tests.datasets.conftest import chat_rows
from tests.helpers import table_counts

SECRET_ROW = {"prompt": "Book for jane.doe@example.com, card 4111 1111 1111 1111, "
                        "then mail jane.doe@example.com again",
              "response": "Booked. Reply to ops@travel.example if needed."}


def test_redact_pii_replaces_values_with_consistent_placeholders(workspace: Workspace) -> None:
    report = datasets.import_dataset("pii", [SECRET_ROW], kind="instruction", redact_pii=True,
                                     workspace=workspace)
    row = datasets.read_rows("pii", workspace=workspace)[0]
    assert row["prompt"] == ("Book for <EMAIL_1>, card <CARD_1>, then mail <EMAIL_1> again")
    assert row["response"] == "Booked. Reply to <EMAIL_2> if needed."
    assert report.redactions == {"email": 3, "card": 1}
    assert report.version.source["redacted"] == {"email": 3, "card": 1}  # type: ignore[index]
    where = datasets.redaction_report("pii", workspace=workspace)
    assert [(r["row"], r["field"], r["type"], r["placeholder"]) for r in where] == [
        (1, "prompt", "email", "<EMAIL_1>"), (1, "prompt", "card", "<CARD_1>"),
        (1, "prompt", "email", "<EMAIL_1>"), (1, "response", "email", "<EMAIL_2>")]
    assert where[0]["source"] == "row 1" and "jane" not in str(where)


def test_derive_can_redact_an_existing_version(workspace: Workspace) -> None:
    datasets.import_dataset("raw", [SECRET_ROW], kind="instruction", workspace=workspace)
    derive_dataset(workspace, "clean", "raw", redact_pii=True, actor="t")
    assert "@" not in str(datasets.read_rows("clean", workspace=workspace))


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> str:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("LLMOPS_ENCRYPTION_KEY", key)
    workspace.settings.encryption_key = SecretStr(key)
    return key


def test_sensitive_chunks_never_hold_plaintext_on_disk(workspace: Workspace,
                                                       master_key: str) -> None:
    rows = chat_rows(50) + [{"messages": [{"role": "user", "content": "KNOWN-PLAINTEXT-ROW"},
                                          {"role": "assistant", "content": "ok"}]}]
    report = datasets.import_dataset("secret", rows, kind="chat", sensitive=True,
                                     workspace=workspace)
    assert report.version.encrypted
    store = Path(workspace.settings.resolved_artifact_url)
    stored = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert b"KNOWN-PLAINTEXT-ROW" not in stored and b"travel agent" not in stored
    back = datasets.read_rows("secret", workspace=workspace)
    assert back[-1]["messages"][0]["content"] == "KNOWN-PLAINTEXT-ROW"


def test_reading_without_the_key_fails_clearly(workspace: Workspace, master_key: str) -> None:
    datasets.import_dataset("secret", chat_rows(5), kind="chat", sensitive=True,
                            workspace=workspace)
    workspace.settings.encryption_key = None
    with pytest.raises(InvalidInput, match="LLMOPS_ENCRYPTION_KEY"):
        datasets.read_rows("secret", workspace=workspace)


def test_a_sensitive_import_without_a_key_creates_nothing(workspace: Workspace) -> None:
    workspace.settings.encryption_key = None
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="LLMOPS_ENCRYPTION_KEY"):
        datasets.import_dataset("secret", chat_rows(5), kind="chat", sensitive=True,
                                workspace=workspace)
    assert table_counts(workspace.store) == before


def test_profile_is_computed_stored_and_rendered(workspace: Workspace, tmp_path: Path) -> None:
    from llmops.datasets.ops import profile_version, stored_profile
    from llmops.datasets.report import render_html

    rows = chat_rows(30) + chat_rows(2) + [{"messages": [
        {"role": "user", "content": "mail me at a.b@example.com"},
        {"role": "assistant", "content": "ok"}]}]
    datasets.import_dataset("prof", rows, kind="chat", workspace=workspace)
    assert stored_profile(workspace, "prof") is None
    profile = profile_version(workspace, "prof")
    assert profile.row_count == 33 and profile.duplicate_rows == 2
    assert profile.pii == {"email": 1}
    assert stored_profile(workspace, "prof") == profile
    html = render_html(profile, title="prof")
    assert "<svg" in html and "http://" not in html and "https://" not in html
