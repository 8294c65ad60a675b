"""Feedback through the Python API: every kind of judgement, bad input changing
nothing, idempotent retries, lineage from trace to feedback."""

from __future__ import annotations

from typing import Any

import pytest

from llmops import feedback
from llmops.errors import NotFound, ValidationFailed
from llmops.workspace import Workspace
from tests.feedback.conftest import make_traces
from tests.helpers import table_counts


def test_every_kind_of_feedback_is_stored_and_listed(workspace: Workspace) -> None:
    a, b = make_traces(workspace, {"answer": "Lisbon"}, {"answer": "Porto"})
    first = feedback.add_feedback(a, score=4, thumbs="up", labels=["geo", "short"],
                                  comment="fine", actor="alice")
    assert (first.score, first.thumbs, first.labels, first.source, first.actor) == (
        4, 1, ["geo", "short"], "human", "alice")
    fixed = feedback.add_feedback(a, thumbs=-1, correction="Lisbon, Portugal")
    pref = feedback.add_feedback(a, preference={"chosen": "other", "other_trace_id": b})
    assert pref.preference == feedback.Preference(chosen="other", other_trace_id=b)
    listed = feedback.list_feedback(trace_id=a)
    assert [f.id for f in listed] == [pref.id, fixed.id, first.id]
    assert feedback.list_feedback(trace_id=b) == []
    assert feedback.get_feedback(fixed.id).correction == "Lisbon, Portugal"
    from llmops.tracking import open_tracking

    graph = open_tracking().lineage(f"trace:{b}")
    assert [(e.source, e.target, e.relation) for e in graph.downstream] == [
        (f"trace:{b}", f"feedback:{pref.id}", "compared")]


def test_a_retry_with_the_same_idempotency_key_counts_once(workspace: Workspace) -> None:
    [t] = make_traces(workspace, {})
    first = feedback.add_feedback(t, score=5, idempotency_key="form-1", actor="alice")
    before = table_counts(workspace.store)
    again = feedback.add_feedback(t, score=1, idempotency_key="form-1", actor="alice")
    assert again == first and table_counts(workspace.store) == before
    other = feedback.add_feedback(t, score=1, idempotency_key="form-1", actor="bob")
    assert other.id != first.id and len(feedback.list_feedback(trace_id=t)) == 2


BAD: list[tuple[dict[str, Any], str]] = [
    ({"score": 0}, "score must be an integer from 1 to 5, not 0"),
    ({"score": 6}, "score must be an integer from 1 to 5, not 6"),
    ({"score": 3.5}, "score must be an integer from 1 to 5, not 3.5"),
    ({"score": True}, "score must be an integer from 1 to 5, not True"),
    ({"thumbs": "sideways"}, "thumbs must be up or down (+1 or -1), not 'sideways'"),
    ({"thumbs": 0}, "thumbs must be up or down (+1 or -1), not 0"),
    ({"labels": [""]}, "labels must be at most 32 printable strings of 1-64 characters"),
    ({"labels": ["x"] * 33}, "labels must be at most 32 printable strings of 1-64 "
                             "characters"),
    ({"correction": "  "}, "correction is empty"),
    ({"comment": "x" * 100_001}, "comment must be a string of at most 100,000 characters"),
    ({"preference": {"chosen": "other"}}, "preference Value error, a preference names the "
     "other response by exactly one of other_output (its text) or other_trace_id"),
    ({"preference": {"chosen": "maybe", "other_output": "x"}},
     "preference Input should be 'this' or 'other'"),
    ({}, "feedback needs at least one of score, thumbs, labels, comment, correction or "
         "preference"),
    ({"score": 3, "idempotency_key": "k" * 129},
     "idempotency_key must be a string of 1-128 characters"),
]


@pytest.mark.parametrize(("fields", "message"), BAD)
def test_bad_feedback_is_refused_and_changes_nothing(workspace: Workspace,
                                                     fields: dict[str, Any],
                                                     message: str) -> None:
    [t] = make_traces(workspace, {})
    before = table_counts(workspace.store)
    with pytest.raises(ValidationFailed) as err:
        feedback.add_feedback(t, **fields)
    assert err.value.detail == message and err.value.status == 422
    assert table_counts(workspace.store) == before


def test_feedback_on_an_unknown_trace_is_not_found(workspace: Workspace) -> None:
    [t] = make_traces(workspace, {})
    before = table_counts(workspace.store)
    for trace_id in ("01ZZZZZZZZZZZZZZZZZZZZZZZZ", "", "x" * 100):
        with pytest.raises(NotFound) as err:
            feedback.add_feedback(trace_id, score=3)
        assert err.value.detail == (f"no trace {trace_id!r}; `llmops traces list` "
                                    "shows them")
    with pytest.raises(NotFound, match="no trace 'nope'"):
        feedback.add_feedback(t, preference={"chosen": "this", "other_trace_id": "nope"})
    assert table_counts(workspace.store) == before
