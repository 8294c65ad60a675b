"""The work and size budget of one render, and the size estimates that enforce it.

Every loop iteration, call, filter and operator in the sandbox `tick`s the render's
`Budget` (a context variable, so threads and tasks each have their own); every operation
that can grow a value asks these estimates first and refuses before building anything
over `RenderLimits.max_value_chars`.
"""

from __future__ import annotations

import contextvars
import re
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jinja2.utils import Namespace

from llmops.prompts.errors import TemplateLimitExceeded

MAX_INT_BITS = 10_000  # about 3,000 decimal digits: no prompt needs bigger numbers


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """How much one render may produce and do. The defaults suit any real prompt."""

    max_output_chars: int = 4_000_000
    """Characters of rendered output, per template."""
    max_value_chars: int = 4_000_000
    """Characters (or items) of any value a template builds: strings, lists, widths."""
    max_operations: int = 1_000_000
    """Loop iterations, calls, filters and operators, per render."""
    max_seconds: float = 2.0
    """Wall-clock time, per render."""
    max_depth: int = 50
    """Nested calls: macros calling macros, recursive loops."""


DEFAULT_LIMITS = RenderLimits()


class Budget:
    """The work one render may still do; `tick` counts one operation."""

    __slots__ = ("depth", "deadline", "limits", "next_clock", "ops")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self.ops = 0
        self.depth = 0
        self.next_clock = 64
        self.deadline = time.monotonic() + limits.max_seconds

    def tick(self) -> None:
        self.ops += 1
        if self.ops >= self.next_clock:
            self.next_clock += 64
            if self.ops > self.limits.max_operations:
                raise TemplateLimitExceeded(
                    f"the template did more than {self.limits.max_operations:,} loop "
                    "iterations, calls and filters; simplify it or pass it less data")
            if time.monotonic() > self.deadline:
                raise TemplateLimitExceeded(
                    f"the template ran for more than {self.limits.max_seconds:g} s")


CURRENT_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "llmops_template_budget", default=None)


def tick() -> None:
    budget = CURRENT_BUDGET.get()
    if budget is not None:
        budget.tick()


def run_with_budget(limits: RenderLimits, fn: Callable[[], Any]) -> Any:
    """Run `fn` (a render or a compile) with a fresh budget."""
    token = CURRENT_BUDGET.set(Budget(limits))
    try:
        return fn()
    finally:
        CURRENT_BUDGET.reset(token)


# -- sizes ------------------------------------------------------------------------------
def approx_size(value: Any, cap: int) -> int:
    """About how many characters ``str(value)`` has; stops counting once over `cap`."""
    if isinstance(value, str):
        return len(value)
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(dict(item._Namespace__attrs))
        else:
            total += 64
        if total > cap:
            break
    return total


def too_big(what: str, size: int, limit: int) -> TemplateLimitExceeded:
    """The error for `what` going over `limit`."""
    return TemplateLimitExceeded(
        f"{what} would be about {size:,} characters, over the limit of {limit:,}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def printf_estimate(fmt: str, args: Any, limit: int) -> int:
    """Upper estimate of the size of ``fmt % args``; refuses huge widths."""
    specs = _PRINTF.findall(fmt)
    values = list(args.values()) if isinstance(args, dict) else (
        list(args) if isinstance(args, tuple) else [args])
    for width, precision in specs:
        for part in (width, precision):
            if part == "*":
                if any(_is_number(v) and abs(v) > limit for v in values):
                    raise too_big("a '*' width", max(abs(v) for v in values if _is_number(v)),
                                   limit)
            elif part and int(part) > limit:
                raise too_big(f"the format width {part}", int(part), limit)
    biggest = max((approx_size(v, limit) for v in values), default=0)
    widest = max((int(p) for spec in specs for p in spec if p and p != "*"), default=0)
    return len(fmt) + len(specs) * max(biggest, widest)


def format_estimate(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                    limit: int) -> int:
    """Upper estimate of the size of ``fmt.format(*args, **kwargs)``."""
    fields, nested = 0, False
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return len(fmt)  # format() itself will raise the same error
    widest = 0
    for _literal, field, spec, _conversion in parsed:
        if field is None:
            continue
        fields += 1
        if spec:
            nested = nested or "{" in spec
            widest = max([widest, *(int(n) for n in re.findall(r"\d+", spec))])
    if widest > limit:
        raise too_big(f"the format width {widest}", widest, limit)
    values = [*args, *kwargs.values()]
    if nested and any(_is_number(v) and abs(v) > limit for v in values):
        raise too_big("a nested format width", limit + 1, limit)
    biggest = max((approx_size(v, limit) for v in values), default=0)
    return len(fmt) + fields * max(biggest, widest, limit if nested else 0)


# -- filters and methods ----------------------------------------------------------------
def _check_numbers(name: str, values: Iterable[Any], limit: int) -> None:
    for v in values:
        if _is_number(v) and abs(v) > limit:
            raise too_big(f"'{name}' with {v}", int(abs(v)), limit)


# Filters whose output is about as long as their input printed: a list holding the same
# big string many times must be refused before it is printed, not after.
_STRINGIFY = frozenset({"string", "pprint", "tojson", "xmlattr", "urlencode", "escape", "e",
                        "forceescape"})


def filter_estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                    limit: int) -> int:
    """Refuse filter calls that would build a value over `limit`; 0 when not estimated."""
    if name == "tojson":
        indent = args[0] if args else kwargs.get("indent")
        if indent is not None and (len(indent) if isinstance(indent, str) else indent) > 16:
            raise TemplateLimitExceeded("'tojson' indent is limited to 16")
    if name in _STRINGIFY:
        return approx_size(value, limit)
    extra = [*args, *kwargs.values()]
    if name in ("center", "batch", "slice", "truncate", "wordwrap"):
        _check_numbers(name, extra, limit)
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        prefix = len(width) if isinstance(width, str) else (width if _is_number(width) else 0)
        _check_numbers(name, [prefix], limit)
        text = value if isinstance(value, str) else ""
        return len(text) + (text.count("\n") + 1) * int(prefix)
    if name == "format" and isinstance(value, str):
        return printf_estimate(value, tuple(args) or dict(kwargs), limit)
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = value.count(old) if old else len(value) + 1
        if len(args) > 2 and _is_number(args[2]) and args[2] >= 0:
            count = min(count, int(args[2]))
        return len(value) + count * max(len(new) - len(old), 0)
    if name == "join" and isinstance(value, list):
        sep = args[0] if args else kwargs.get("d", "")
        return approx_size(value, limit) + len(str(sep)) * len(value)
    if name == "wordwrap" and isinstance(value, str):
        wrap = args[3] if len(args) > 3 else kwargs.get("wrapstring")
        if wrap:
            return len(value) * (1 + len(str(wrap)))
    if name == "sum" and isinstance(value, list | tuple) and any(
            isinstance(v, list | tuple | str) for v in value):
        total = sum(len(v) for v in value if isinstance(v, list | tuple | str))
        return total * len(value) // 2  # adding sequences one by one copies quadratically
    return 0


def check_result(result: Any, limit: int, what: str) -> None:
    """Refuse a string or container over `limit` (built by something not estimated)."""
    if isinstance(result, str | list | tuple | dict) and len(result) > limit:
        raise too_big(what, len(result), limit)


_STR_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def str_method_estimate(owner: str, name: str, args: tuple[Any, ...],
                        kwargs: dict[str, Any], limit: int) -> int:
    """Size estimate of a str method call that can grow its string (0 when it cannot)."""
    if name in _STR_WIDTH_METHODS:
        _check_numbers(f"str.{name}", [*args, *kwargs.values()], limit)
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if _is_number(size):
            return len(owner) + owner.count("\t") * max(int(size), 0)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            count = owner.count(old) if old else len(owner) + 1
            return len(owner) + count * max(len(new) - len(old), 0)
    elif name == "join" and args and isinstance(args[0], list | tuple):
        return approx_size(args[0], limit) + len(owner) * len(args[0])
    return 0
