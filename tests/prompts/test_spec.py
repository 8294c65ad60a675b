"""The prompt file format: parsing, normalisation, canonical hashing, and bad files refused."""

from __future__ import annotations

import json

import pytest

from llmops.errors import InvalidInput, PayloadTooLarge, ValidationFailed
from llmops.prompts.spec import PromptSpec, canonical_json, content_hash, parse_spec
from tests.prompts.conftest import TRAVEL, TRAVEL_RESPELLED


def test_a_prompt_file_parses_into_its_parts() -> None:
    spec = parse_spec(TRAVEL)
    assert [m.role for m in spec.messages or []] == ["system", "user"]
    assert spec.variables["language"] == {"type": "string", "default": "English"}
    assert spec.parameters.temperature == 0.2 and spec.parameters.max_tokens == 512
    assert spec.description == "Travel assistant"


def test_the_same_content_written_differently_has_the_same_hash() -> None:
    a, b = parse_spec(TRAVEL), parse_spec(TRAVEL_RESPELLED, name="travel-system")
    assert a.canonical_json() == b.canonical_json()
    assert a.content_hash == b.content_hash


def test_the_hash_is_sha256_of_sorted_compact_json() -> None:
    spec = parse_spec(TRAVEL)
    text = spec.canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
    assert spec.content_hash == content_hash(text) and spec.content_hash.startswith("sha256:")
    assert len(spec.content_hash) == 71


def test_defaults_are_left_out_of_the_canonical_form() -> None:
    spec = parse_spec({"text": "hi", "parameters": {"temperature": None}, "variables": {}})
    assert spec.canonical_dict() == {"text": "hi"}


def test_canonical_json_round_trips() -> None:
    spec = parse_spec(TRAVEL)
    again = PromptSpec.model_validate_json(spec.canonical_json())
    assert again.content_hash == spec.content_hash


def test_yaml_export_reads_back_to_the_same_hash() -> None:
    spec = parse_spec(TRAVEL)
    assert parse_spec(spec.to_yaml()).content_hash == spec.content_hash
    assert "content: |" in spec.to_yaml()  # multi-line templates stay readable


def test_unicode_is_kept_as_text_in_the_canonical_form() -> None:
    spec = parse_spec({"text": "Olá {{ nome }} ✈"})
    assert "Olá" in canonical_json(spec.canonical_dict())


def test_dates_stay_strings() -> None:
    spec = parse_spec("text: 'hi {{ d }}'\nvariables:\n  d: {type: string, default: 2024-01-01}\n")
    assert spec.variables["d"]["default"] == "2024-01-01"


@pytest.mark.parametrize(("text", "line", "column"), [
    ("messages:\n  - role: user\n    content: [unclosed\n", 4, 1),
    ("text: hi\nvariables:\n  a: {type: string\n", 4, 1),
    ("text: hi\n  bad indent: here\n", 2, 13),
])
def test_invalid_yaml_names_the_line(text: str, line: int, column: int) -> None:
    with pytest.raises(InvalidInput, match=rf"prompt.yaml line {line}, column {column}: "
                                           "invalid YAML") as caught:
        parse_spec(text, source="prompt.yaml")
    assert caught.value.errors[0]["line"] == line


def test_a_field_error_names_the_field_and_its_line() -> None:
    text = TRAVEL.replace("temperature: 0.2", "temperature: 7")
    with pytest.raises(ValidationFailed, match=r"p.yaml line 14: parameters.temperature: "
                                               "Input should be less than or equal to 2"):
        parse_spec(text, source="p.yaml")


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ValidationFailed, match="temprature: Extra inputs are not permitted"):
        parse_spec({"text": "hi", "parameters": {"temprature": 0.1}})
    with pytest.raises(ValidationFailed, match="line 2: tempalte"):
        parse_spec("text: hi\ntempalte: x\n")


@pytest.mark.parametrize(("data", "message"), [
    ({"text": "a", "messages": [{"role": "user", "content": "b"}]}, "exactly one of"),
    ({}, "exactly one of"),
    ({"messages": []}, "at least 1 item"),
    ({"messages": [{"role": "User!", "content": "x"}]}, "messages.0.role"),
    ({"text": "x", "variables": {"1abc": "string"}}, "invalid variable name '1abc'"),
    ({"text": "x", "variables": {"examples": "string"}}, "invalid variable name 'examples'"),
    ({"text": "x", "variables": {"a": {"type": "strng"}}}, "variable 'a': not a valid JSON"),
    ({"text": "x", "variables": {"a": {"type": "integer", "default": "x"}}},
     "variable 'a': the default does not match its schema"),
    ({"text": "x", "variables": {"a": {"required": "yes"}}}, "`required` must be true or false"),
    ({"text": "x", "output_schema": {"type": 5}}, "output_schema: not a valid JSON Schema"),
    ({"text": "x", "few_shot": {"dataset": "qa@1", "mode": "fixed"}}, "needs `ids`"),
    ({"text": "x", "few_shot": {"dataset": "qa@1", "mode": "similar", "insert": "variable"}},
     "needs `query`"),
    ({"text": "x", "few_shot": {"dataset": "run:01ABC", "mode": "random",
                                "insert": "variable"}}, "expected a dataset reference"),
    ({"text": "x", "few_shot": {"dataset": "qa@1", "mode": "random"}},
     "set few_shot.insert to 'variable'"),
    ("- just\n- a list\n", "must be a mapping"),
    ({"text": "x", "variables": {"a": {"default": float("nan")}}}, "must be JSON data"),
])
def test_bad_specs_are_refused_naming_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(data)  # type: ignore[arg-type]


def test_the_name_inside_the_file_must_match() -> None:
    with pytest.raises(InvalidInput, match="names the prompt 'other', not 'travel'"):
        parse_spec("name: other\ntext: hi\n", name="travel")


def test_yaml_aliases_and_duplicate_keys_are_refused() -> None:
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\ntext: hi\n'
    with pytest.raises(InvalidInput, match="aliases"):
        parse_spec(bomb)
    with pytest.raises(InvalidInput, match="line 2: duplicate key 'text'"):
        parse_spec("text: a\ntext: b\n")


def test_a_file_over_1_mb_is_refused() -> None:
    with pytest.raises(PayloadTooLarge, match="over the limit of 1 MB"):
        parse_spec("text: '" + "x" * (1024 * 1024) + "'\n")
    with pytest.raises(PayloadTooLarge, match="over the limit of 1 MB"):
        parse_spec({"text": "x" * (1024 * 1024 + 1)})
