from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmops.auth import audit
from llmops.auth.keys import create_key, list_keys, revoke_key, verify_key
from llmops.errors import InvalidInput, NotFound, Unauthorized
from llmops.workspace import Workspace
from tests.helpers import table_counts


def test_a_key_is_random_prefixed_and_stored_only_as_a_hash(workspace: Workspace,
                                                           tmp_path: Path) -> None:
    secret, record = create_key(workspace.store, name="ci", role="maintainer", actor="test")
    other, _ = create_key(workspace.store, name="ci2", role="maintainer", actor="test")
    assert secret.startswith("llmops_") and len(secret) == 7 + 43 and secret != other
    assert record.prefix == secret[:12]
    assert verify_key(workspace.store, secret).role == "maintainer"
    if workspace.store.dialect == "sqlite":
        db = Path(workspace.store.engine.url.database or "")
        raw = b"".join(p.read_bytes() for p in db.parent.glob("llmops.db*"))
        assert secret.encode() not in raw and secret[12:].encode() not in raw


@pytest.mark.parametrize("presented", [None, "", "llmops_short", "Bearer x", "' OR 1=1 --",
                                       "llmops_" + "A" * 43])
def test_missing_malformed_and_unknown_keys_are_refused(workspace: Workspace,
                                                        presented: str | None) -> None:
    with pytest.raises(Unauthorized):
        verify_key(workspace.store, presented)


def test_a_revoked_key_stops_working_and_the_revoke_is_audited(workspace: Workspace) -> None:
    secret, record = create_key(workspace.store, name="temp", role="viewer", actor="alice")
    revoked = revoke_key(workspace.store, record.id, actor="bob")
    assert revoked.state() == "revoked"
    with pytest.raises(Unauthorized, match="revoked"):
        verify_key(workspace.store, secret)
    events = audit.list_events(workspace.store, object_kind="key", object_id=record.id)
    assert [(e.action, e.actor) for e in events] == [("key.revoke", "bob"), ("key.create", "alice")]


def test_an_expired_key_is_refused(workspace: Workspace) -> None:
    secret, record = create_key(workspace.store, name="short", role="viewer", actor="t",
                                expires_in_s=1)
    assert verify_key(workspace.store, secret).key_id == record.id
    time.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        verify_key(workspace.store, secret)


def test_bad_key_requests_change_nothing(workspace: Workspace) -> None:
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="unknown role"):
        create_key(workspace.store, name="x", role="superuser", actor="t")
    with pytest.raises(InvalidInput, match="a-z"):
        create_key(workspace.store, name="Bad Name", role="viewer", actor="t")
    with pytest.raises(InvalidInput, match="future"):
        create_key(workspace.store, name="x", role="viewer", actor="t", expires_in_s=-5)
    with pytest.raises(NotFound):
        revoke_key(workspace.store, "01NOSUCHKEY", actor="t")
    assert table_counts(workspace.store) == before
    assert list_keys(workspace.store) == []
