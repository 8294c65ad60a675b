"""The generic label service (llmops.labels), used here as the model registry will use it."""

from __future__ import annotations

import pytest

from llmops import labels
from llmops.errors import Conflict, InvalidInput, NotFound
from llmops.workspace import Workspace
from tests.helpers import table_counts

KIND, OWNER = "model", "01OWNERMODEL00000000000000"


def test_set_get_list_and_history(workspace: Workspace) -> None:
    store = workspace.store
    first = store.write(lambda c: labels.set_label(c, KIND, OWNER, "production", "V1",
                                                   actor="alice"))
    assert first is not None and (first.target_id, first.previous_id) == ("V1", None)
    assert store.write(lambda c: labels.set_label(c, KIND, OWNER, "production", "V1",
                                                  actor="alice")) is None  # unchanged
    store.write(lambda c: labels.set_label(c, KIND, OWNER, "production", "V2", actor="bob"))
    store.write(lambda c: labels.set_label(c, KIND, OWNER, "staging", "V3", actor="bob"))
    store.write(lambda c: labels.set_label(c, "prompt", OWNER, "production", "P1", actor="x"))
    with store.read() as conn:
        assert labels.get_target(conn, KIND, OWNER, "production") == "V2"
        assert labels.get_target(conn, KIND, OWNER, "nope") is None
        found = labels.list_labels(conn, KIND, [OWNER])
        assert [(x.label, x.target_id, x.updated_by) for x in found] == [
            ("production", "V2", "bob"), ("staging", "V3", "bob")]
        moves = labels.history(conn, KIND, OWNER, "production")
        assert [(e.target_id, e.previous_id, e.actor) for e in moves] == [
            ("V2", "V1", "bob"), ("V1", None, "alice")]
        assert len(labels.history(conn, KIND, OWNER)) == 3  # every label of the owner


def test_rollback_steps_back_through_moves(workspace: Workspace) -> None:
    store = workspace.store
    for target in ("V1", "V2", "V3"):
        store.write(lambda c, t=target: labels.set_label(c, KIND, OWNER, "prod", t, actor="a"))

    def rollback() -> str | None:
        return store.write(lambda c: labels.rollback_label(c, KIND, OWNER, "prod",
                                                           actor="a")).target_id

    assert rollback() == "V2"
    assert rollback() == "V1"
    with pytest.raises(Conflict, match="no earlier target"):
        rollback()
    store.write(lambda c: labels.set_label(c, KIND, OWNER, "prod", "V4", actor="a"))
    assert rollback() == "V1"  # undoing the move to V4


def test_a_removed_label_has_history_but_no_target(workspace: Workspace) -> None:
    store = workspace.store
    store.write(lambda c: labels.set_label(c, KIND, OWNER, "canary", "V1", actor="a"))
    event = store.write(lambda c: labels.remove_label(c, KIND, OWNER, "canary", actor="a"))
    assert (event.target_id, event.previous_id) == (None, "V1")
    with store.read() as conn:
        assert labels.get_target(conn, KIND, OWNER, "canary") is None
    with pytest.raises(NotFound):
        store.write(lambda c: labels.rollback_label(c, KIND, OWNER, "canary", actor="a"))
    store.write(lambda c: labels.set_label(c, KIND, OWNER, "canary", "V2", actor="a"))
    with pytest.raises(Conflict):  # history restarts after a removal
        store.write(lambda c: labels.rollback_label(c, KIND, OWNER, "canary", actor="a"))


@pytest.mark.parametrize("bad", ["3", "latest", "sha256", "Prod", "a b", "", "x" * 65])
def test_bad_label_names_are_refused_and_change_nothing(workspace: Workspace, bad: str) -> None:
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="invalid label"):
        workspace.store.write(lambda c: labels.set_label(c, KIND, OWNER, bad, "V1", actor="a"))
    assert table_counts(workspace.store) == before
