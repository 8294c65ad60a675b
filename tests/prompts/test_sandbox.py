"""Server-side template injection fails, and runaway templates stop with an error.

Every payload of the corpus must raise TemplateSecurityError and run nothing: the ones
that would run a shell command try to create a marker file, which must not exist after.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from llmops.prompts import (
    Prompt,
    PromptSpec,
    TemplateLimitExceeded,
    TemplateSecurityError,
    compile_template,
)
from llmops.prompts.budget import RenderLimits

MARK = "{marker}"

# Refused when the template is checked, before it is compiled or stored.
STATIC = [
    '{{ cycler.__init__.__globals__.os.popen("id").read() }}',
    '{{ lipsum.__globals__["os"].popen("id").read() }}',
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    '{{ "{0.__class__}"|attr("format")(cycler) }}',
    '{{ cycler.__init__.__globals__.os.popen("touch {marker}").read() }}',
    '{{ joiner.__init__.__globals__.os.popen("touch {marker}").read() }}',
    '{{ namespace.__init__.__globals__.os.popen("touch {marker}").read() }}',
    "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch {marker}') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id') }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == 'catch_warnings' "
    "%}{{ c()._module.__builtins__['__import__']('os').popen('touch {marker}') }}{% endif %}"
    "{% endfor %}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''['__class__'] }}",
    "{{ ()|attr('__class__')|attr('__base__')|attr('__subclasses__')() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('touch {marker}') }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('touch {marker}').read() }}",
    "{{ url_for.__globals__.os.popen('touch {marker}').read() }}",
    "{{ get_flashed_messages.__globals__.__builtins__.open('/etc/passwd').read() }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os.popen('touch {marker}') }}",
    "{% extends '/etc/passwd' %}",
    "{% from 'os' import popen %}{{ popen('touch {marker}') }}",
    "{{ range.__self__ }}",
    "{{ dict(__class__=1) }}",
    "{{ x|map(attribute='__class__')|list }}",
    "{{ cycler.next.__func__.__globals__ }}",
    "{% set x = cycler.__init__ %}{{ x }}",
    "{{ loop.__class__ }}",
    "{{ (1).__class__.__base__.__subclasses__()[140].__init__.__globals__['popen']"
    "('touch {marker}').read() }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{% endfor %}",
    '{{ "%s"|format(x.__class__) }}',
    "{{ __builtins__ }}",
    "{{ x.__dict__ }}",
    "{% macro m() %}{{ caller.__globals__ }}{% endmacro %}",
    "{{ cycler['__init__'] }}",
]

# Pass the static checks (the attack is in the data or assembled at run time) and are
# stopped by the sandbox when rendered.
DYNAMIC: list[tuple[str, dict[str, Any]]] = [
    ("{{ x|attr(y) }}", {"x": "", "y": "__class__"}),
    ("{{ (x|attr(y)) is defined }}", {"x": "", "y": "__class__"}),
    ("{{ x|attr('_' ~ '_cla' ~ 'ss_' ~ '_') }}", {"x": ""}),
    ("{{ fmt.format(x) }}", {"fmt": "{0.__class__.__mro__}", "x": 1}),
    ("{{ fmt|attr('format')(cycler) }}", {"fmt": "{0.__init__.__globals__}"}),
    ("{{ fmt.format_map(m) }}", {"fmt": "{a.__class__}", "m": {"a": 1}}),
    ("{{ x|map(attribute=y)|list }}", {"x": [1], "y": "__class__"}),
    ("{{ x|sort(attribute=y) }}", {"x": [1, 2], "y": "__class__"}),
    ("{{ l.append(1) }}", {"l": []}),
    ("{{ d.update({'a': 1}) }}", {"d": {}}),
    ("{{ d.pop('a') }}", {"d": {"a": 1}}),
    ("{{ t.mro() }}", {"t": str}),
    ("{{ g.gi_frame }}", {"g": (i for i in range(1))}),
    ("{{ (cycler|attr(a))|attr(b) }}", {"a": "__init__", "b": "__globals__"}),
]


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def test_the_corpus_is_at_least_30_payloads() -> None:
    assert len(STATIC) + len(DYNAMIC) >= 30


@pytest.mark.parametrize("payload", STATIC)
def test_injection_is_refused_before_anything_compiles(payload: str, marker: Path) -> None:
    source = payload.replace(MARK, str(marker))
    for fast in (True, False):
        with pytest.raises(TemplateSecurityError, match="is not allowed"):
            compile_template(source, fast=fast)
    with pytest.raises(TemplateSecurityError):
        Prompt(PromptSpec(messages=[{"role": "user", "content": source}]))  # type: ignore[list-item]
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "values"), DYNAMIC)
def test_injection_at_run_time_is_stopped_by_the_sandbox(payload: str, values: dict[str, Any],
                                                         marker: Path) -> None:
    template = compile_template(payload, where="messages[0].content")
    with pytest.raises(TemplateSecurityError, match=r"messages\[0\].content, line 1: ") as caught:
        template.render(values)
    assert caught.value.status == 400 and caught.value.title == "Template security violation"
    assert not marker.exists()


def test_the_security_error_says_what_was_refused() -> None:
    with pytest.raises(TemplateSecurityError, match="access to attribute '__class__' of 'str'"):
        compile_template("{{ x|attr(y) }}").render({"x": "", "y": "__class__"})
    with pytest.raises(TemplateSecurityError, match="private attribute '__init__'"):
        compile_template("{{ cycler.__init__ }}")


def test_plain_prose_may_mention_dunders() -> None:
    text = "Python's __init__ method and {{ topic }} are explained in the __docs__."
    assert compile_template(text).render({"topic": "x"}).startswith("Python's __init__")


# -- bounded work -----------------------------------------------------------------------
BOMBS = [
    ("{% for i in range(1000000000) %}{% endfor %}", "Range too big"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "more than 1,000,000 loop iterations"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
     "more than 1,000,000 loop iterations"),
    ("{% for i in range(100000) %}{{ s }}{% endfor %}", "output is over the limit"),
    ("{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
     "{% endfor %}", "'~' concatenation"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set t %}{{ ns.s }}{{ ns.s }}"
     "{% endset %}{% set ns.s = t %}{% endfor %}", "a block would be"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
     "{% endfor %}", "'+' concatenation"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
     "{% set ns.s = '%s%s' % (ns.s, ns.s) %}{% endfor %}", "'%' format"),
    ("{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s='ab') %}"
     "{% for i in range(64) %}{% set ns.s = d(ns.s) %}{% endfor %}", "over the limit"),
    ("{{ 'a' * 1000000000 }}", "'*' repetition"),
    ("{{ ['a'] * 1000000000 }}", "'*' repetition"),
    ("{{ 'a'|center(1000000000) }}", "'center' with 1000000000"),
    ("{{ 'a'.ljust(1000000000) }}", "'str.ljust' with 1000000000"),
    ("{{ 'a\nb'|indent(1000000000) }}", "'indent'"),
    ("{{ '{:>1000000000}'.format(1) }}", "format width"),
    ("{{ '{:{}}'.format(1, 1000000000) }}", "nested format width"),
    ("{{ '%1000000000d' % 1 }}", "format width"),
    ("{{ '%*d' % (1000000000, 1) }}", "'*' width"),
    ("{{ '%1000000000d'|format(1) }}", "format width"),
    ("{{ 10 ** (10 ** 9) }}", "a power over"),
    ("{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}"
     "{% endfor %}", "a product over"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls nested more than 50 deep"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "calls nested more than"),
    ("{{ range(100000)|join(s) }}", "'join'"),
    ("{{ range(100000)|map('string')|join(s) }}", "'join'"),
    ("{{ s|replace('a', s) }}", "'replace'"),
    ("{{ s.join(range(100000)|map('string')) }}", "str.join"),
    ("{{ [s, s, s, s, s, s, s, s, s, s]|string }}", "'string'"),
    ("{{ [s, s, s, s, s, s, s, s, s, s]|tojson }}", "'tojson'"),
    ("{{ [s, s, s, s, s, s, s, s, s, s] }}", "an output value"),
    ("{{ dict.fromkeys(range(100000), s) }}", "an output value"),
    ("{{ range(3000)|map('string')|map('list')|list|sum(start=[]) }}", "'sum'"),
    ("{{ 'x\ty'.expandtabs(1000000000) }}", "str.expandtabs"),
    ("{{ x|tojson(1000) }}", "indent is limited"),
    ("{{ [1]|batch(1000000000, 'x')|list }}", "'batch'"),
]


@pytest.mark.parametrize(("source", "message"), BOMBS)
def test_runaway_templates_stop_quickly_with_an_error(source: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateLimitExceeded, match=re.escape(message)):
        compile_template(source).render({"s": "a" * 1_000_000, "x": {"a": 1}})
    assert time.perf_counter() - started < 5


def test_a_render_stops_at_its_deadline() -> None:
    limits = RenderLimits(max_seconds=0.05, max_operations=10**9)
    template = compile_template(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        limits=limits)
    started = time.perf_counter()
    with pytest.raises(TemplateLimitExceeded, match="ran for more than 0.05 s"):
        template.render({})
    assert time.perf_counter() - started < 2


def test_the_budget_is_per_render_of_the_whole_prompt() -> None:
    limits = RenderLimits(max_operations=1_000)
    loop = "{% for i in range(400) %}{% endfor %}"
    spec = PromptSpec(messages=[{"role": "user", "content": loop}] * 3)  # type: ignore[list-item]
    with pytest.raises(TemplateLimitExceeded, match="more than 1,000"):
        Prompt(spec, limits=limits).render()
    spec = PromptSpec(messages=[{"role": "user", "content": loop}] * 2)  # type: ignore[list-item]
    Prompt(spec, limits=limits).render()  # 800 operations: fine, and again:
    Prompt(spec, limits=limits).render()


def test_reasonable_templates_are_not_disturbed() -> None:
    source = ("{% for d in docs %}[{{ loop.index }}] {{ d.title|title }}: {{ d.body|truncate(20) }}"
              "\n{% endfor %}{{ tags|join(', ') }} {{ '%.2f'|format(score) }} {{ n * 2 }}"
              "{{ ' x'|indent(2) }}{{ '{:>6}'.format(n) }}")
    out = compile_template(source).render({
        "docs": [{"title": "lisbon", "body": "trams and " * 5}] * 3,
        "tags": ["a", "b"], "score": 0.456, "n": 21})
    assert out.startswith("[1] Lisbon: trams and trams...\n[2] Lisbon")
    assert out.endswith("a, b 0.46 42 x    21")


def test_a_row_id_may_be_read_but_no_other_private_name() -> None:
    assert compile_template("{{ row._id }}/{{ row['_id'] }}").render(
        {"row": {"_id": "01R"}}) == "01R/01R"
    with pytest.raises(TemplateSecurityError, match="private attribute '_secret'"):
        compile_template("{{ row._secret }}")

    class Thing:
        _id = "internal"

    with pytest.raises(TemplateSecurityError, match="attribute '_id' of 'Thing'"):
        compile_template("{{ row._id }}").render({"row": Thing()})
