"""Rendering: messages and parameters out, variables checked, both paths give the same text."""

from __future__ import annotations

import itertools
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmops.errors import InvalidInput, PayloadTooLarge, ValidationFailed
from llmops.prompts import (
    Prompt,
    TemplateLimitExceeded,
    TemplateRenderError,
    TemplateSyntaxError,
    UndefinedVariable,
    compile_template,
    parse_spec,
)
from llmops.prompts.budget import RenderLimits
from llmops.prompts.sandbox import MAX_TEMPLATE_BYTES
from tests.prompts.conftest import TRAVEL


def travel(**kwargs: Any) -> Prompt:
    return Prompt(parse_spec(TRAVEL), name="travel-system", version=3, version_id="01V", **kwargs)


def test_a_chat_prompt_renders_messages_and_parameters() -> None:
    rendered = travel().render(company="Acme", question="Where to eat?")
    assert rendered.messages == [
        {"role": "system", "content": "You are a travel assistant for Acme.\nAnswer in English."},
        {"role": "user", "content": "Where to eat?"}]
    assert rendered.parameters == {"temperature": 0.2, "max_tokens": 512}
    assert rendered.variables == {"company": "Acme", "question": "Where to eat?",
                                  "language": "English"}
    assert (rendered.ref, rendered.lineage_node) == ("prompt:travel-system@3", "prompt:01V")
    assert rendered.text is None and rendered.example_ids == []


def test_a_text_prompt_renders_text() -> None:
    prompt = Prompt(parse_spec({"text": "Summarise: {{ doc }}"}))
    rendered = prompt.render({"doc": "a long story"})
    assert rendered.text == "Summarise: a long story" and rendered.messages is None


def test_variables_come_as_a_mapping_keywords_or_both() -> None:
    prompt = travel()
    a = prompt.render({"company": "Acme", "question": "q"})
    b = prompt.render({"company": "Acme"}, question="q")
    assert a.messages == b.messages


def test_the_render_result_is_a_fresh_copy_each_time() -> None:
    prompt = travel()
    first = prompt.render(company="A", question="q")
    first.parameters["temperature"] = 9
    assert prompt.render(company="A", question="q").parameters["temperature"] == 0.2


def test_to_openai_gives_chat_completion_arguments() -> None:
    spec = parse_spec({"text": "Hi {{ x }}", "parameters": {"temperature": 0},
                       "output_schema": {"type": "object"}})
    body = Prompt(spec, name="p").render(x=1).to_openai()
    assert body["messages"] == [{"role": "user", "content": "Hi 1"}]
    assert body["temperature"] == 0 and body["response_format"]["type"] == "json_schema"


def test_a_missing_variable_is_an_error_that_names_it() -> None:
    with pytest.raises(UndefinedVariable, match="missing variable 'question'") as caught:
        travel().render(company="Acme")
    assert caught.value.errors == [{"field": "variables.question", "message": "required"}]
    assert caught.value.status == 422


def test_an_undeclared_prompt_takes_the_names_its_templates_use() -> None:
    prompt = Prompt(parse_spec({"text": "{{ a }} {% if b is defined %}{{ b }}{% endif %}"}))
    assert prompt.variables == {"a", "b"}
    with pytest.raises(UndefinedVariable, match="missing variable 'a'"):
        prompt.render()


def test_an_optional_variable_may_be_left_out() -> None:
    spec = parse_spec({"text": "{{ a }}{% if b is defined %}+{{ b }}{% endif %}",
                       "variables": {"a": "string", "b": {"type": "string", "required": False}}})
    prompt = Prompt(spec)
    assert prompt.render(a="x").text == "x" and prompt.render(a="x", b="y").text == "x+y"


def test_an_optional_variable_used_unguarded_names_it_on_both_paths() -> None:
    spec = parse_spec({"text": "A\n{{ b }}", "variables": {"b": {"required": False}}})
    for fast in (True, False):
        with pytest.raises(UndefinedVariable, match=r"^text, line 2: 'b' is undefined$"):
            Prompt(spec, fast=fast).render()


@pytest.mark.parametrize(("schema", "value", "message"), [
    ({"type": "integer"}, "three", "variable 'days': 'three' is not of type 'integer'"),
    ({"type": "integer"}, True, "variable 'days': True is not of type 'integer'"),
    ({"type": "integer", "minimum": 1}, 0, "variable 'days': 0 is less than the minimum of 1"),
    ({"type": "string", "enum": ["a", "b"]}, "c", "variable 'days': 'c' is not one of"),
    ({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": "x"},
     "variable 'days.n': 'x' is not of type 'integer'"),
    ({"type": "array", "items": {"type": "string"}}, ["a", 2],
     "variable 'days.1': 2 is not of type 'string'"),
])
def test_a_wrong_type_is_an_error_naming_the_field(schema: dict[str, Any], value: Any,
                                                   message: str) -> None:
    prompt = Prompt(parse_spec({"text": "{{ days }}", "variables": {"days": schema}}))
    with pytest.raises(ValidationFailed, match=message.replace("(", r"\(")) as caught:
        prompt.render(days=value)
    assert caught.value.errors[0]["field"].startswith("variables.days")
    assert type(caught.value) is ValidationFailed


@pytest.mark.parametrize(("schema", "value"), [
    ({"type": "integer"}, 3), ({"type": "integer"}, 3.0), ({"type": "number"}, 2.5),
    ({"type": "boolean"}, False), ({"type": "array"}, ("a", "b")), ({"type": "null"}, None),
    ({"type": ["string", "null"]}, None), ({}, object()),
])
def test_values_of_the_right_type_are_accepted(schema: dict[str, Any], value: Any) -> None:
    prompt = Prompt(parse_spec({"text": "{{ v }}", "variables": {"v": schema}}))
    assert prompt.render(v=value).text == str(value)


def test_an_unknown_variable_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationFailed, match="unknown variable 'cty': prompt travel-system@3 "
                                               "takes company, language, question"):
        travel().render(company="A", question="q", cty="Lisbon")


def test_defaults_are_applied_and_never_shared() -> None:
    spec = parse_spec({"text": "{{ tags|join(',') }}",
                       "variables": {"tags": {"type": "array", "default": ["a"]}}})
    prompt = Prompt(spec)
    first = prompt.render()
    first.variables["tags"].append("mutated")
    assert prompt.render().text == "a"


def test_a_template_using_an_undeclared_variable_is_refused() -> None:
    spec = parse_spec({"text": "{{ city }} {{ cty }}", "variables": {"city": "string"}})
    with pytest.raises(InvalidInput, match="text uses 'cty', which is not declared"):
        Prompt(spec)


@pytest.mark.parametrize(("source", "line", "column", "message"), [
    ("Hello {{ name }", 1, 15, "unexpected '}'"),
    ("line one\n  {% for x in %}{% endfor %}", 2, 15, "Expected an expression"),
    ("{{ x | nosuchfilter }}", 1, 8, "No filter named 'nosuchfilter'"),
    ("a\n{% if x %}\nb", 3, 2, "Unexpected end of template"),
    ("ab\ncd {{ 'unclosed }}", 2, 7, "unexpected char"),
    ("{{ 1 + }}", 1, 8, "unexpected 'end of print statement'"),
    ("{% endfor %}", 1, 4, "Encountered unknown tag 'endfor'"),
    ("x\n  {{ a.b. }}", 2, 13, "expected name or number"),
    ("{{ x is nosuchtest }}", 1, 9, "No test named 'nosuchtest'"),
])
def test_a_syntax_error_names_line_and_column(source: str, line: int, column: int,
                                              message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        compile_template(source, where="messages[1].content")
    assert caught.value.detail.startswith(
        f"messages[1].content, line {line}, column {column}: {message}")
    assert caught.value.errors[0]["line"] == line
    assert caught.value.errors[0]["column"] == column


def test_a_runtime_error_names_the_template_line() -> None:
    template = compile_template("ok\n{{ 1 / n }}", where="text")
    with pytest.raises(TemplateRenderError, match=r"text, line 2: ZeroDivisionError"):
        template.render({"n": 0})
    with pytest.raises(UndefinedVariable, match=r"line 1: 'dict object' has no attribute 'nme'"):
        compile_template("{{ user.nme }}").render({"user": {"name": "x"}})


def test_a_template_over_1_mb_is_refused() -> None:
    with pytest.raises(PayloadTooLarge, match="over the limit of 1 MB"):
        compile_template("x" * (MAX_TEMPLATE_BYTES + 1))
    with pytest.raises(PayloadTooLarge):
        compile_template("é" * (MAX_TEMPLATE_BYTES // 2 + 1))  # counted in bytes
    compile_template("x" * MAX_TEMPLATE_BYTES)


def test_output_over_the_limit_is_refused_on_both_paths() -> None:
    limits = RenderLimits(max_output_chars=10)
    for fast in (True, False):
        template = compile_template("{{ a }}", limits=limits, fast=fast)
        assert template.render({"a": "x" * 10}) == "x" * 10
        with pytest.raises(TemplateLimitExceeded, match="over the limit of 10"):
            template.render({"a": "x" * 11})


def test_variable_values_are_printed_never_evaluated() -> None:
    for source in ("{{ q }}", "{{ q|trim }}"):
        out = compile_template(source).render({"q": "{{ 7*7 }}{% for x in y %}"})
        assert out == "{{ 7*7 }}{% for x in y %}"


# -- the fast path ----------------------------------------------------------------------
FAST = ["", "plain text", "{{ a }}", "Hello {{ a }}!", "{{ a }}{{ b }}", "100% {{ a }} %s %(x)s",
        "{{ a }}\n", "{{ a }}\n\n", "line\n{{ a }}\r\nx", "{{- a }}  {{ b -}}\n  end",
        "  {{ a }}  ", "{% raw %}{{ not a var }}{% endraw %}{{ a }}", "é ✈ {{ a }} 中文",
        "{{ a }}{# comment #}{{ a }}", "{{a}}{{b}}{{a}}", "{ {{ a }} }", "%%{{ a }}%%"]
SLOW = ["{{ a|upper }}", "{{ a.b }}", "{{ a['b'] }}", "{% if a %}x{% endif %}", "{{ 'lit' }}",
        "{{ a ~ b }}", "{{ range }}", "{{ a + 1 }}", "{% for x in a %}{{ x }}{% endfor %}",
        "{{ a() }}", "{% set c = 1 %}{{ c }}", "{{ loop }}", "{{ self }}"]
VALUES = ["Lisbon", "", "%s %d %%", "{{ x }}", "{0}", "é\n中", 3, -2.5, True, None, [1, "a"],
          {"k": "v"}, ("t",)]


@pytest.mark.parametrize("source", FAST)
def test_plain_substitution_takes_the_fast_path_with_identical_output(source: str) -> None:
    fast = compile_template(source)
    slow = compile_template(source, fast=False)
    assert fast.fast and not slow.fast
    reference = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    for a, b in itertools.product(VALUES, VALUES[:4]):
        values = {"a": a, "b": b}
        expected = reference.from_string(source).render(values)
        assert fast.render(values) == slow.render(values) == expected, (source, a, b)


@pytest.mark.parametrize("source", SLOW)
def test_anything_beyond_plain_substitution_takes_the_sandbox(source: str) -> None:
    assert not compile_template(source).fast


def test_a_whole_prompt_is_fast_when_every_template_is() -> None:
    assert travel().fast
    assert not travel(fast=False).fast
    values = {"company": "A", "question": "q?"}
    assert travel().render(**values) == travel(fast=False).render(**values)


def test_a_value_whose_str_fails_is_a_render_error_on_both_paths() -> None:
    class Broken:
        def __str__(self) -> str:
            raise ValueError("no text")

    for fast in (True, False):
        with pytest.raises(TemplateRenderError, match="ValueError: no text"):
            compile_template("{{ v }}", fast=fast).render({"v": Broken()})
