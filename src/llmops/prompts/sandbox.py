"""The template sandbox: Jinja2's immutable sandbox, strict undefined, and a budget.

Three layers stand between a template and the process that renders it:

1. **Static checks** on the parsed template, before anything is compiled or stored:
   no ``{% include %}``, ``{% import %}`` or ``{% extends %}``; no attribute, item or
   keyword name starting with ``_``; no string literal in an expression containing
   ``__`` (the building block of every known Jinja2 template-injection payload).
2. **Jinja2's ImmutableSandboxedEnvironment** at run time, with ``StrictUndefined``, and
   an unsafe attribute access raising at once instead of returning an undefined value.
3. **A budget per render**: loop iterations, calls, filters and operators each count
   against `RenderLimits.max_operations` and a wall-clock deadline; every operation
   that can grow a value (``*``, ``+``, ``%``, ``**``, ``~``, ``str.format``,
   ``center``, ``indent``, ``join``, ``replace``, ...) checks the size of what it would
   build *before* building it; output is counted as it streams.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.lexer import TokenStream
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.visitor import NodeTransformer

from llmops.prompts.budget import (
    CURRENT_BUDGET,
    DEFAULT_LIMITS,
    MAX_INT_BITS,
    Budget,
    RenderLimits,
    approx_size,
    check_result,
    filter_estimate,
    format_estimate,
    printf_estimate,
    run_with_budget,
    str_method_estimate,
    tick,
    too_big,
)
from llmops.prompts.errors import TemplateLimitExceeded, TemplateSecurityError, TemplateSyntaxError

__all__ = ["DEFAULT_LIMITS", "MAX_TEMPLATE_BYTES", "Budget", "PromptEnvironment",
           "RenderLimits", "compile_tree", "environment", "parse", "static_check",
           "syntax_error", "template_line"]

MAX_TEMPLATE_BYTES = 1024 * 1024


# -- filters ----------------------------------------------------------------------------
def _guard_filter(name: str, func: Callable[..., Any], limits: RenderLimits
                  ) -> Callable[..., Any]:
    passes = getattr(func, "jinja_pass_arg", None)
    skip = 1 if passes is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if name == "join" and len(args) > skip and not isinstance(args[skip], list | str):
            # join consumes its input anyway: take it as a list to know how many items
            args = (*args[:skip], list(args[skip]), *args[skip + 1:])
        if len(args) > skip:
            size = filter_estimate(name, args[skip], args[skip + 1:], kwargs,
                                   limits.max_value_chars)
            if size > limits.max_value_chars:
                raise too_big(f"the result of '{name}'", size, limits.max_value_chars)
        result = func(*args, **kwargs)
        check_result(result, limits.max_value_chars, f"the result of '{name}'")
        return result

    return guarded


# -- the environment --------------------------------------------------------------------
class PromptEnvironment(ImmutableSandboxedEnvironment):
    """The one environment prompt templates compile in (one per `RenderLimits`)."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False,
                         trim_blocks=True, lstrip_blocks=True, cache_size=0,
                         auto_reload=False)
        self.limits = limits
        limit = limits.max_value_chars
        self.globals.pop("lipsum", None)  # a work generator with no use in a prompt
        self.globals["range"] = _bounded_range
        self.filters = {name: _guard_filter(name, f, limits) for name, f in self.filters.items()}
        self.finalize = self._finalize

        def bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
            budget = CURRENT_BUDGET.get()
            for item in iterable:
                if budget is not None:
                    budget.tick()
                yield item

        def bounded_join(*parts: Any) -> str:  # the ``~`` operator
            total, out = 0, []
            for part in parts:
                if not isinstance(part, str):
                    size = approx_size(part, limit)
                    if size > limit:
                        raise too_big("a '~' concatenation", size, limit)
                    part = str(part)
                total += len(part)
                if total > limit:
                    raise too_big("a '~' concatenation", total, limit)
                out.append(part)
            return "".join(out)

        def bounded_concat(parts: Iterable[str]) -> str:  # macro bodies, {% set %} blocks
            total, out = 0, []
            for part in parts:
                total += len(part)
                if total > limit:
                    raise too_big("a block", total, limit)
                out.append(part)
            return "".join(out)

        self.llmops_iter = bounded_iter
        self.llmops_join = bounded_join
        self.concat = bounded_concat  # type: ignore[method-assign]

    def _finalize(self, value: Any) -> Any:
        if not isinstance(value, str):
            size = approx_size(value, self.limits.max_value_chars)
            if size > self.limits.max_value_chars:
                raise too_big("an output value", size, self.limits.max_value_chars)
        return value

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an undefined value that fails only when used; fail at once, so a
        # probe such as ``x|attr("__class__") is defined`` is stopped as well.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call(__self, __context: Any, __obj: Any, *args: Any,  # noqa: N805
             **kwargs: Any) -> Any:
        budget = CURRENT_BUDGET.get()
        if budget is not None:
            budget.tick()
        if __obj is __self.llmops_iter or __obj is __self.llmops_join:
            return __obj(*args)
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"{__obj!r} is not safely callable")
        limit = __self.limits.max_value_chars
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if getattr(__obj, "__name__", "") == "join" and args and not isinstance(
                    args[0], list | tuple):  # join consumes it anyway: count the items
                args = (list(args[0]), *args[1:])
            size = str_method_estimate(owner, getattr(__obj, "__name__", ""), args, kwargs,
                                       limit)
            if size > limit:
                raise too_big(f"the result of str.{__obj.__name__}", size, limit)
        if budget is None:
            result = __context.call(__obj, *args, **kwargs)
        else:
            budget.depth += 1
            try:
                if budget.depth > __self.limits.max_depth:
                    raise TemplateLimitExceeded(
                        f"calls nested more than {__self.limits.max_depth} deep (a macro or "
                        "recursive loop that does not stop?)")
                result = __context.call(__obj, *args, **kwargs)
            finally:
                budget.depth -= 1
        check_result(result, limit, "the result of a call")
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        limit = self.limits.max_value_chars
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    size = approx_size(seq, limit) * max(times, 0)
                    if size > limit:
                        raise too_big("a '*' repetition", size, limit)
            if isinstance(left, int) and isinstance(right, int) and (
                    left.bit_length() + right.bit_length() > MAX_INT_BITS):
                raise TemplateLimitExceeded(f"a product over {MAX_INT_BITS:,} bits")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                size = approx_size(left, limit) + approx_size(right, limit)
                if size > limit:
                    raise too_big("a '+' concatenation", size, limit)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and (
                    max(left.bit_length(), 1) * right > MAX_INT_BITS):
                raise TemplateLimitExceeded(f"a power over {MAX_INT_BITS:,} bits")
        elif operator == "%" and isinstance(left, str):
            size = printf_estimate(left, right, limit)
            if size > limit:
                raise too_big("a '%' format", size, limit)
        result = self.binop_table[operator](left, right)
        check_result(result, limit, f"the result of '{operator}'")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        limit = self.limits.max_value_chars
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            tick()
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else {}
            size = format_estimate(fmt, () if is_map else args, {**kwargs, **mapping}, limit)
            if size > limit:
                raise too_big("a str.format", size, limit)
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(checked, value)


def _bounded_range(*args: int) -> range:
    try:
        return safe_range(*args)
    except OverflowError as exc:
        raise TemplateLimitExceeded(str(exc).replace("The sandbox blocks", "prompts allow no")
                                    ) from None


@functools.cache
def environment(limits: RenderLimits = DEFAULT_LIMITS) -> PromptEnvironment:
    """The shared environment for `limits` (environments are immutable once built)."""
    return PromptEnvironment(limits)


# -- parsing, static checks, compiling --------------------------------------------------
# Dataset rows carry their id as ``_id``; a template may read it (``example._id``), which
# the sandbox allows at run time for mappings.
ALLOWED_PRIVATE = frozenset({"_id"})
_FORBIDDEN_TAGS = {nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import",
                   nodes.FromImport: "from ... import"}


def _postorder(node: nodes.Node) -> Iterator[nodes.Node]:
    for child in node.iter_child_nodes():
        yield from _postorder(child)
    yield node


def static_check(tree: nodes.Template) -> None:
    """Refuse what no prompt needs and every template-injection payload uses.

    Raises:
        TemplateSecurityError: naming the line and what was refused.
    """
    for node in _postorder(tree):  # innermost first: the leftmost part of a chain
        line = getattr(node, "lineno", 0)
        refused: str | None = None
        for kind, tag in _FORBIDDEN_TAGS.items():
            if isinstance(node, kind):
                refused = f"{{% {tag} %}} (a prompt template cannot load other templates)"
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_") and (
                node.attr not in ALLOWED_PRIVATE):
            refused = f"access to the private attribute {node.attr!r}"
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and (
                isinstance(node.arg.value, str) and node.arg.value.startswith("_")
                and node.arg.value not in ALLOWED_PRIVATE):
            refused = f"access to the private item {node.arg.value!r}"
        elif isinstance(node, nodes.Keyword) and node.key.startswith("_"):
            refused = f"the private keyword argument {node.key!r}"
        elif isinstance(node, nodes.Name) and node.name.startswith("__"):
            refused = f"the private name {node.name!r}"
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and (
                "__" in node.value):
            refused = (f"the string {node.value[:60]!r}, which names a private attribute "
                       "(contains '__')")
        if refused:
            raise TemplateSecurityError(f"line {line}: {refused} is not allowed")


class _Bound(NodeTransformer):
    """Route every ``for`` iteration and every ``~`` through the budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(nodes.EnvironmentAttribute("llmops_iter"), [node.iter], [],
                               None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(nodes.EnvironmentAttribute("llmops_join"), list(node.nodes), [],
                          None, None, lineno=node.lineno)


def _line_col(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def parse(env: PromptEnvironment, source: str) -> nodes.Template:
    """Parse `source` (newlines already normalised to ``\\n``).

    Raises:
        TemplateSyntaxError: with ``line`` and ``column`` of the problem.
    """
    seen: list[tuple[int, int, str, str]] = []  # (lineno, offset, token, raw text)
    state = {"cursor": 0, "lexer": False}

    def raw_tokens() -> Iterator[tuple[int, str, str]]:
        try:
            for lineno, token, value in env.lexer.tokeniter(source, None):
                pos = source.find(value, state["cursor"]) if value else -1
                if pos >= 0:
                    state["cursor"] = pos + len(value)
                    seen.append((lineno, pos, token, value))
                yield lineno, token, value
        except jinja2.TemplateSyntaxError:
            state["lexer"] = True
            raise

    parser = Parser(env, "")
    try:
        parser.stream = TokenStream(env.lexer.wrap(raw_tokens()), None, None)
        tree = parser.parse()
    except jinja2.TemplateSyntaxError as exc:
        raise syntax_error(source, exc, seen, bool(state["lexer"]), int(state["cursor"]),
                           getattr(parser.stream, "current", None)) from None
    except RecursionError:
        raise TemplateLimitExceeded("the template nests too deeply to parse") from None
    tree.set_environment(env)
    return tree


def syntax_error(source: str, exc: jinja2.TemplateSyntaxError,
                 seen: list[tuple[int, int, str, str]] | None = None, lexer: bool = False,
                 cursor: int = 0, current: Any = None) -> TemplateSyntaxError:
    """Our error for Jinja's, with the column Jinja does not give."""
    lines = source.split("\n")
    line = min(max(exc.lineno or 1, 1), len(lines))
    column = None
    if lexer:  # the lexer stopped where the last good token ended
        offset = cursor
        while offset < len(source) and source[offset] in " \t":
            offset += 1
        line, column = _line_col(source, offset)
    elif current is not None and current.type == "eof":
        line, column = len(lines), len(lines[-1]) + 1
    elif current is not None and seen:
        text = str(current.value).strip()
        on_line = [s for s in seen if s[0] == current.lineno and s[3].strip()]
        match = [s for s in on_line if s[3].strip() == text] or on_line
        if match:
            line, column = _line_col(source, match[-1][1])
    if column is None:
        quoted = re.search(r"'([^']+)'", exc.message or "")
        found = lines[line - 1].find(quoted.group(1)) if quoted else -1
        column = found + 1 if found >= 0 else 1
    message = (exc.message or "syntax error").rstrip(".")
    return TemplateSyntaxError(f"line {line}, column {column}: {message}",
                               errors=[{"line": line, "column": column, "message": message}])


def compile_tree(env: PromptEnvironment, source: str, tree: nodes.Template) -> jinja2.Template:
    """Compile a checked tree, with every loop and ``~`` bounded by the budget."""
    tree = _Bound().visit(tree)
    tree.set_environment(env)
    try:
        return run_with_budget(env.limits, lambda: env.from_string(tree))
    except jinja2.TemplateSyntaxError as exc:  # unknown filters and tests, found here
        raise syntax_error(source, exc) from None
    except RecursionError:
        raise TemplateLimitExceeded("the template nests too deeply to compile") from None


def template_line(template: jinja2.Template, tb: Any) -> int | None:
    """The template line an exception's traceback was at, innermost first."""
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return found
