"""The prompt registry behaves the same on the store directly and through the server,
on SQLite and on PostgreSQL: versions, labels, rollback, diff, render, bad input."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llmops.auth import audit
from llmops.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, ValidationFailed
from llmops.prompts import (
    PromptSpec,
    TemplateSecurityError,
    TemplateSyntaxError,
    UndefinedVariable,
    parse_spec,
)
from llmops.prompts.registry import LocalPromptRegistry
from llmops.workspace import Workspace
from tests.helpers import table_counts
from tests.prompts.conftest import TRAVEL, TRAVEL_RESPELLED, travel


def test_create_makes_version_1_and_identical_content_returns_it(registry: Any) -> None:
    first = registry.create("travel-system", TRAVEL)
    assert (first.version, first.created, first.name) == (1, True, "travel-system")
    assert first.content_hash == parse_spec(TRAVEL).content_hash
    again = registry.create("travel-system", TRAVEL)
    assert (again.id, again.version, again.created) == (first.id, 1, False)
    respelled = registry.create("travel-system", TRAVEL_RESPELLED)
    assert (respelled.id, respelled.created) == (first.id, False)
    as_object = registry.create("travel-system", parse_spec(TRAVEL))
    assert as_object.id == first.id
    assert [v.version for v in registry.versions("travel-system")] == [1]


def test_new_content_makes_the_next_version(registry: Any) -> None:
    registry.create("travel-system", travel(0.2))
    second = registry.create("travel-system", travel(0.5))
    assert (second.version, second.created) == (2, True)
    assert second.spec.parameters.temperature == 0.5
    assert registry.create("travel-system", travel(0.2)).version == 1  # still there
    assert [v.version for v in registry.versions("travel-system")] == [1, 2]
    listed = registry.list_prompts()
    assert [(p.name, p.latest_version, p.versions) for p in listed] == [("travel-system", 2, 2)]
    assert listed[0].description == "Travel assistant"


def test_versions_are_found_by_number_label_latest_and_hash(registry: Any) -> None:
    one = registry.create("travel-system", travel(0.2), label="production")
    two = registry.create("travel-system", travel(0.5), label="staging")
    assert registry.get("travel-system").version == 2
    assert registry.get("travel-system@latest").version == 2
    assert registry.get("prompt:travel-system@1").id == one.id
    assert registry.get("travel-system@production").id == one.id
    assert registry.get("travel-system@staging").id == two.id
    assert registry.get(f"travel-system@{two.content_hash[:12]}").id == two.id
    assert registry.get("travel-system@1").labels == ["production"]


def test_an_ambiguous_hash_prefix_is_refused(registry: Any) -> None:
    seen: dict[str, str] = {}
    for i in range(2000):
        text = f"v{i} {{{{ x }}}}"
        prefix = parse_spec({"text": text}).content_hash[:11]  # sha256: + 4 hex digits
        if prefix in seen:
            registry.create("p", {"text": seen[prefix]})
            registry.create("p", {"text": text})
            break
        seen[prefix] = text
    with pytest.raises(InvalidInput, match=f"hash prefix '{prefix}' of prompt 'p' is ambiguous"):
        registry.get(f"p@{prefix}")


def test_labels_move_keep_history_and_roll_back(registry: Any) -> None:
    for temperature in (0.1, 0.2, 0.3):
        registry.create("travel-system", travel(temperature))
    change = registry.set_label("travel-system", "1", "production")
    assert (change.version, change.previous_version, change.changed) == (1, None, True)
    registry.set_label("travel-system", "2", "production")
    registry.set_label("travel-system", "3", "production")
    same = registry.set_label("travel-system", "3", "production")
    assert (same.changed, same.version) == (False, 3)
    registry.set_label("travel-system", "production", "staging")  # a label names a version
    assert registry.get("travel-system@staging").version == 3

    back = registry.rollback("travel-system", "production")
    assert (back.version, back.previous_version, back.changed) == (2, 3, True)
    assert registry.rollback("travel-system", "production").version == 1
    with pytest.raises(Conflict, match="no earlier target to roll back to"):
        registry.rollback("travel-system", "production")
    assert registry.get("travel-system@production").version == 1

    moves = [(e.label, e.version, e.previous_version)
             for e in registry.label_history("travel-system")]
    assert moves == [("production", 1, 2), ("production", 2, 3), ("staging", 3, None),
                     ("production", 3, 2), ("production", 2, 1), ("production", 1, None)]
    assert len(registry.label_history("travel-system", "staging")) == 1


def test_a_label_can_be_removed_and_its_history_stays(registry: Any) -> None:
    registry.create("travel-system", TRAVEL, label="canary")
    removed = registry.remove_label("travel-system", "canary")
    assert (removed.version, removed.previous_version) == (None, 1)
    with pytest.raises(NotFound, match="has no label 'canary'"):
        registry.get("travel-system@canary")
    assert [e.version for e in registry.label_history("travel-system", "canary")] == [None, 1]
    with pytest.raises(NotFound, match="has no label 'canary'"):
        registry.remove_label("travel-system", "canary")


def test_create_with_a_label_moves_it_even_to_an_existing_version(registry: Any) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    registry.create("travel-system", travel(0.2), label="production")
    again = registry.create("travel-system", travel(0.1), label="production")
    assert (again.created, again.version, again.labels) == (False, 1, ["production"])


def test_diff_shows_changed_fields_and_a_unified_diff(registry: Any) -> None:
    registry.create("travel-system", travel(0.2))
    registry.create("travel-system", travel(0.7).replace("{{ question }}", "Q: {{ question }}"))
    diff = registry.diff("travel-system@1", "travel-system@2")
    assert not diff.identical and (diff.a, diff.b) == ("prompt:travel-system@1",
                                                        "prompt:travel-system@2")
    assert {(c.path, c.a, c.b) for c in diff.changes} == {
        ("parameters.temperature", 0.2, 0.7),
        ("messages[1].content", "{{ question }}", "Q: {{ question }}")}
    assert "-  temperature: 0.2\n+  temperature: 0.7" in diff.unified
    same = registry.diff("travel-system@1", "travel-system@1")
    assert same.identical and same.changes == [] and same.unified == ""
    registry.create("other", {"text": "hi"})
    assert {c.path for c in registry.diff("travel-system@1", "other").changes} >= {"text"}


def test_render_through_the_registry(registry: Any) -> None:
    registry.create("travel-system", TRAVEL, label="production")
    rendered = registry.render("travel-system@production", {"company": "Acme",
                                                            "question": "Trams?"})
    assert rendered.messages[1] == {"role": "user", "content": "Trams?"}
    assert (rendered.version, rendered.parameters["max_tokens"]) == (1, 512)
    with pytest.raises(UndefinedVariable, match="missing variable 'question'"):
        registry.render("travel-system", {"company": "Acme"})
    with pytest.raises(ValidationFailed, match="variable 'company': 3 is not of type 'string'"):
        registry.render("travel-system", {"company": 3, "question": "q"})


def test_unknown_prompts_versions_and_labels_name_the_candidates(registry: Any) -> None:
    registry.create("travel-system", TRAVEL, label="production")
    with pytest.raises(NotFound, match=r"no prompt 'travel-sytem'; did you mean travel-system\? "
                                       r"\(prompts: travel-system\)"):
        registry.get("travel-sytem")
    with pytest.raises(NotFound, match=r"prompt 'travel-system' has no version 7; it has "
                                       r"versions 1-1 and labels production \(-> 1\)"):
        registry.get("travel-system@7")
    with pytest.raises(NotFound, match="has no label 'prod'; .*labels production"):
        registry.get("travel-system@prod")
    with pytest.raises(NotFound, match="has no version with hash sha256:0000"):
        registry.get("travel-system@sha256:0000")
    with pytest.raises(NotFound, match="no prompt 'nope'"):
        registry.set_label("nope", "1", "production")
    with pytest.raises(NotFound, match="has no version 9"):
        registry.set_label("travel-system", "9", "production")
    with pytest.raises(NotFound, match="has no label 'staging'"):
        registry.rollback("travel-system", "staging")


BAD_CREATES = [
    ("Travel System", TRAVEL, None, InvalidInput, "invalid prompt name 'Travel System'"),
    ("../etc", TRAVEL, None, InvalidInput, "invalid prompt name"),
    ("ok", TRAVEL, "2", InvalidInput, "invalid label '2'"),
    ("ok", TRAVEL, "latest", InvalidInput, "invalid label 'latest'"),
    ("ok", TRAVEL, "Prod!", InvalidInput, "invalid label 'Prod!'"),
    ("ok", "text: [unclosed\n", None, InvalidInput, "line 2, column 1: invalid YAML"),
    ("ok", "text: hi\nvariables: 5\n", None, ValidationFailed, "line 2: variables"),
    ("ok", {"text": "{{ x }"}, None, TemplateSyntaxError, "text, line 1, column 6"),
    ("ok", {"text": "{{ ''.__class__ }}"}, None, TemplateSecurityError, "private attribute"),
    ("ok", {"text": "{{ a }}", "variables": {"b": "string"}}, None, InvalidInput,
     "uses 'a', which is not declared"),
    ("ok", {"text": "x" * (1024 * 1024 + 1)}, None, PayloadTooLarge, "1 MB"),
]


@pytest.mark.parametrize(("name", "spec", "label", "error", "message"), BAD_CREATES)
def test_bad_creates_are_refused_and_change_nothing(registry: Any, workspace: Workspace,
                                                    name: str, spec: Any, label: str | None,
                                                    error: type, message: str) -> None:
    registry.create("ok", {"text": "first"}, label="production")
    before = table_counts(workspace.store)
    with pytest.raises(error, match=message.replace("(", r"\(")):
        registry.create(name, spec, label=label)
    assert table_counts(workspace.store) == before


def test_bad_label_operations_change_nothing(registry: Any, workspace: Workspace) -> None:
    registry.create("ok", {"text": "first"}, label="production")
    before = table_counts(workspace.store)
    for call, error in [
        (lambda: registry.set_label("ok", "1", "12"), InvalidInput),
        (lambda: registry.set_label("ok", "1", "latest"), InvalidInput),
        (lambda: registry.set_label("ok", "5", "staging"), NotFound),
        (lambda: registry.set_label("Bad Name", "1", "staging"), InvalidInput),
        (lambda: registry.rollback("ok", "production"), Conflict),
        (lambda: registry.remove_label("ok", "staging"), NotFound),
    ]:
        with pytest.raises(error):
            call()
    assert table_counts(workspace.store) == before


def test_changes_are_audited(registry: Any, workspace: Workspace) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    registry.create("travel-system", travel(0.2))
    registry.set_label("travel-system", "2", "production")
    registry.rollback("travel-system", "production")
    events = audit.list_events(workspace.store, object_kind="prompt")
    assert [e.action for e in reversed(events)] == [
        "prompt.create", "prompt.label", "prompt.create", "prompt.label", "prompt.rollback"]
    assert events[-1].detail == {"version": 1, "content_hash": parse_spec(travel(0.1)).content_hash}
    assert events[0].detail == {"label": "production", "version": 1, "previous": 2}


def test_concurrent_identical_creates_make_one_version(workspace: Workspace) -> None:
    registry = LocalPromptRegistry(workspace)
    results: list[Any] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            results.append(registry.create("travel-system", TRAVEL, label="production"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert {r.id for r in results} == {results[0].id}
    assert sum(r.created for r in results) == 1
    assert len(registry.versions("travel-system")) == 1
    assert len(registry.label_history("travel-system")) == 1


def test_a_tampered_spec_is_detected(workspace: Workspace) -> None:
    from sqlalchemy import update

    from llmops.errors import IntegrityError
    from llmops.store.tables import prompt_versions

    registry = LocalPromptRegistry(workspace)
    registry.create("p", {"text": "hello"})
    workspace.store.write(lambda conn: conn.execute(
        update(prompt_versions).values(spec=PromptSpec(text="evil").canonical_json())))
    with pytest.raises(IntegrityError, match="does not match its hash"):
        registry.get("p")
