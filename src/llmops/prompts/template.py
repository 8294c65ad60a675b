"""One template, compiled once, rendered many times.

Templates that only substitute plain variables (``Hello {{ name }}!``: text and bare
names, no filters, tags, attributes or operators) are recognised from the parsed
template and rendered by a fast path: one ``%`` format of the variables' ``str()``, the
same thing the compiled Jinja code yields. Everything else renders in the sandbox
(sandbox.py). Both paths come from the same parse, enforce the same strict undefined
and output limit, and give identical output (a test checks this on many templates).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from llmops.errors import InvalidInput, LlmopsError, PayloadTooLarge
from llmops.prompts.budget import CURRENT_BUDGET, DEFAULT_LIMITS, Budget, RenderLimits
from llmops.prompts.errors import (
    TemplateLimitExceeded,
    TemplateRenderError,
    TemplateSecurityError,
    UndefinedVariable,
)
from llmops.prompts.sandbox import (
    MAX_TEMPLATE_BYTES,
    PromptEnvironment,
    compile_tree,
    environment,
    parse,
    static_check,
    syntax_error,
    template_line,
)

# Names Jinja gives a meaning of its own; they never take the fast path and a prompt
# may not declare them as variables.
SPECIAL_NAMES = frozenset({"self", "loop", "caller", "varargs", "kwargs"})


def _located(exc: LlmopsError, where: str) -> LlmopsError:
    """The same error, its message prefixed with where it happened."""
    errors = [{"field": where, **e} for e in exc.errors] or [{"field": where,
                                                             "message": exc.detail}]
    return type(exc)(f"{where}, {exc.detail}" if exc.detail.startswith("line ")
                     else f"{where}: {exc.detail}", errors=errors)


class CompiledTemplate:
    """A checked, compiled template. `render(values)` returns the text.

    Attributes:
        source: the template text (newlines normalised).
        where: where the template sits in its prompt, e.g. ``messages[1].content``.
        variables: the names the template reads that it does not set itself.
        fast: whether renders take the fast path.
    """

    __slots__ = ("_format", "_getter", "_names", "_single", "_template", "env", "fast",
                 "source", "variables", "where")

    def __init__(self, source: str, where: str, env: PromptEnvironment,
                 template: jinja2.Template, variables: frozenset[str],
                 parts: list[str | tuple[str, int]] | None) -> None:
        self.source = source
        self.where = where
        self.env = env
        self.variables = variables
        self._template = template
        self.fast = parts is not None
        self._names: tuple[tuple[str, int], ...] = ()
        self._format = ""
        self._getter: Any = None
        self._single = False
        if parts is not None:
            text = []
            names = []
            for part in parts:
                if isinstance(part, str):
                    text.append(part.replace("%", "%%"))
                else:
                    text.append("%s")  # `%s` is str(value), as the compiled template does
                    names.append(part)
            self._format = "".join(text) if names else "".join(
                p for p in parts if isinstance(p, str))
            self._names = tuple(names)
            if names:
                self._getter = itemgetter(*(n for n, _ in names))
                self._single = len(names) == 1

    def render(self, values: Mapping[str, Any]) -> str:
        """Render with `values`; the fast path when the template allows it."""
        if self.fast:
            return self.render_fast(values)
        return self.render_sandboxed(values)

    def render_fast(self, values: Mapping[str, Any]) -> str:
        if self._getter is None:
            return self._format
        try:
            found = self._getter(values)
        except KeyError:
            for name, line in self._names:
                if name not in values:
                    raise UndefinedVariable(
                        f"{self.where}, line {line}: '{name}' is undefined",
                        errors=[{"field": self.where, "line": line,
                                 "message": f"'{name}' is undefined"}]) from None
            raise
        try:
            text = self._format % ((found,) if self._single else found)
        except Exception as exc:  # a value whose str() fails: as the sandbox reports it
            raise TemplateRenderError(f"{self.where}: {type(exc).__name__}: {exc}",
                                      errors=[{"field": self.where, "message": str(exc)}]
                                      ) from None
        if len(text) > self.env.limits.max_output_chars:
            raise _located(TemplateLimitExceeded(
                f"the output would be {len(text):,} characters, over the limit of "
                f"{self.env.limits.max_output_chars:,}"), self.where)
        return text

    def render_sandboxed(self, values: Mapping[str, Any]) -> str:
        if CURRENT_BUDGET.get() is not None:
            return self._render_sandboxed(values)
        token = CURRENT_BUDGET.set(Budget(self.env.limits))
        try:
            return self._render_sandboxed(values)
        finally:
            CURRENT_BUDGET.reset(token)

    def _render_sandboxed(self, values: Mapping[str, Any]) -> str:
        template = self._template
        limit = self.env.limits.max_output_chars
        try:
            out, total = [], 0
            for chunk in template.root_render_func(template.new_context(dict(values))):
                total += len(chunk)
                if total > limit:
                    raise TemplateLimitExceeded(
                        f"the output is over the limit of {limit:,} characters")
                out.append(chunk)
            return "".join(out)
        except Exception as exc:  # every failure inside a template becomes ours
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> LlmopsError:
        line = template_line(self._template, sys.exc_info()[2])
        at = f"{self.where}, line {line}" if line else self.where
        extra = {"line": line} if line else {}
        if isinstance(exc, LlmopsError):
            return type(exc)(f"{at}: {exc.detail}",
                             errors=[{"field": self.where, **extra, "message": exc.detail}])
        if isinstance(exc, SecurityError):
            cls: type[LlmopsError] = TemplateSecurityError
            message = str(exc)
        elif isinstance(exc, UndefinedError):
            cls, message = UndefinedVariable, str(exc.message)
        elif isinstance(exc, MemoryError | RecursionError | OverflowError):
            cls, message = TemplateLimitExceeded, f"{type(exc).__name__}: {exc}"
        else:
            cls, message = TemplateRenderError, f"{type(exc).__name__}: {exc}"
        return cls(f"{at}: {message}",
                   errors=[{"field": self.where, **extra, "message": message}])


def _fast_parts(tree: nodes.Template, env: PromptEnvironment
                ) -> list[str | tuple[str, int]] | None:
    parts: list[str | tuple[str, int]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append(child.data)
            elif (isinstance(child, nodes.Name) and child.ctx == "load"
                  and child.name not in env.globals and child.name not in SPECIAL_NAMES):
                parts.append((child.name, child.lineno))
            else:
                return None
    return parts


def compile_template(source: str, *, where: str = "template",
                     limits: RenderLimits = DEFAULT_LIMITS, fast: bool = True
                     ) -> CompiledTemplate:
    """Check and compile one template.

    Args:
        source: Jinja2 template text.
        where: where it sits in its prompt; every error message starts with it.
        limits: the render limits to compile against.
        fast: allow the fast path (False forces the sandbox, for tests and benchmarks).

    Raises:
        PayloadTooLarge: the template is over 1 MB.
        TemplateSyntaxError: naming line and column.
        TemplateSecurityError: the template uses something the sandbox forbids.
    """
    if not isinstance(source, str):
        raise InvalidInput(f"{where}: a template must be a string, not {type(source).__name__}",
                           errors=[{"field": where, "message": "must be a string"}])
    size = len(source) if len(source) * 4 <= MAX_TEMPLATE_BYTES else len(source.encode())
    if size > MAX_TEMPLATE_BYTES:
        raise PayloadTooLarge(
            f"{where}: the template is {size:,} bytes, over the limit of 1 MB "
            f"({MAX_TEMPLATE_BYTES:,} bytes)",
            errors=[{"field": where, "message": "over 1 MB"}])
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    env = environment(limits)
    try:
        tree = parse(env, source)
        static_check(tree)
        try:
            found = meta.find_undeclared_variables(tree)
        except jinja2.TemplateSyntaxError as exc:  # unknown filters and tests
            raise syntax_error(source, exc) from None
        variables = frozenset(found) - set(env.globals)
        parts = _fast_parts(tree, env) if fast else None
        template = compile_tree(env, source, tree)
    except LlmopsError as exc:
        raise _located(exc, where) from None
    except RecursionError:
        raise _located(TemplateLimitExceeded("the template nests too deeply"), where) from None
    return CompiledTemplate(source, where, env, template, variables, parts)
