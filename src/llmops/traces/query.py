"""A small, safe filter language over gateway traces (``--where``).

    status >= 400 and latency_ms > 500
    route == "travel" or (model == "support" and not output contains "sorry")
    output is null
    route in ["travel", "hotels"]

Grammar (case-insensitive keywords)::

    expr     := or_expr
    or_expr  := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | compare
    compare  := COLUMN OP value
              | COLUMN ("contains" | "startswith" | "endswith") STRING
              | COLUMN "in" "[" value ("," value)* "]"
              | COLUMN "is" ["not"] "null"
    OP       := "==" | "=" | "!=" | "<" | "<=" | ">" | ">="
    value    := STRING | NUMBER | "null" | "true" | "false"

Only the columns in `COLUMNS` can be named. The expression is parsed into SQLAlchemy
clauses with bound parameters; no part of it is ever formatted into SQL text.
``contains``/``startswith``/``endswith`` are case-insensitive and treat ``%`` and ``_``
literally. A mistake raises `InvalidInput` naming what and where (a character offset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, true

from llmops.clock import now_ms, parse_duration
from llmops.errors import InvalidInput
from llmops.store.tables import traces

__all__ = ["COLUMNS", "duration_ms", "since_ms", "where_clause"]

#: The columns a --where expression may name, and whether each holds text or a number.
COLUMNS: dict[str, str] = {
    "id": "text",
    "route": "text",
    "model": "text",
    "target": "text",
    "model_version_id": "text",
    "prompt_version_id": "text",
    "key_id": "text",
    "status": "number",
    "error": "text",
    "input": "text",
    "output": "text",
    "prompt_tokens": "number",
    "completion_tokens": "number",
    "latency_ms": "number",
    "ttft_ms": "number",
    "stream": "number",
    "created_at": "number",
    "otel_trace_id": "text",
    "otel_span_id": "text",
}

_MAX_EXPR = 4000
_MAX_DEPTH = 50
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op>==|!=|<=|>=|=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false", "contains",
             "startswith", "endswith"}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # string, number, op, punct, word, end
    text: str
    pos: int
    value: Any = None


def _unquote(raw: str, pos: int) -> str:
    out: list[str] = []
    i = 1
    while i < len(raw) - 1:
        c = raw[i]
        if c == "\\":
            nxt = raw[i + 1]
            if nxt not in _ESCAPES:
                raise InvalidInput(f"invalid --where: unknown escape \\{nxt} at offset {pos + i}")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _tokenize(expr: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            snippet = expr[pos:pos + 10]
            if expr[pos] in "\"'":
                raise InvalidInput(f"invalid --where: unterminated string at offset {pos}")
            raise InvalidInput(f"invalid --where: unexpected {snippet!r} at offset {pos}")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "string":
            toks.append(_Tok("string", text, pos, _unquote(text, pos)))
        elif kind == "number":
            num = float(text)
            toks.append(_Tok("number", text, pos, int(num) if num.is_integer()
                             and "." not in text and "e" not in text.lower() else num))
        elif kind == "word":
            low = text.lower()
            toks.append(_Tok("word", low if low in _KEYWORDS else text, pos))
        elif kind != "ws":
            toks.append(_Tok(kind, text, pos))
        pos = m.end()
    toks.append(_Tok("end", "end of expression", len(expr)))
    return toks


class _Parser:
    def __init__(self, expr: str) -> None:
        self.toks = _tokenize(expr)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, wanted: str) -> InvalidInput:
        return InvalidInput(
            f"invalid --where: expected {wanted} at offset {tok.pos}, found {tok.text!r}"
        )

    def expect(self, kind: str, text: str) -> _Tok:
        tok = self.take()
        if tok.kind != kind or tok.text != text:
            raise self.fail(tok, repr(text))
        return tok

    def parse(self) -> ColumnElement[bool]:
        clause = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(tok, "'and', 'or' or the end")
        return clause

    def or_expr(self) -> ColumnElement[bool]:
        parts = [self.and_expr()]
        while self.peek().kind == "word" and self.peek().text == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def and_expr(self) -> ColumnElement[bool]:
        parts = [self.not_expr()]
        while self.peek().kind == "word" and self.peek().text == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def not_expr(self) -> ColumnElement[bool]:
        tok = self.peek()
        if self.depth >= _MAX_DEPTH:
            raise InvalidInput(f"invalid --where: nested too deeply at offset {tok.pos}")
        if tok.kind == "word" and tok.text == "not":
            self.take()
            self.depth += 1
            negated = not_(self.not_expr())
            self.depth -= 1
            return negated
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            self.depth += 1
            inner = self.or_expr()
            self.depth -= 1
            self.expect("punct", ")")
            return inner
        return self.compare()

    def value(self, column: str) -> Any:
        tok = self.take()
        if tok.kind == "string":
            val: Any = tok.value
        elif tok.kind == "number":
            val = tok.value
        elif tok.kind == "word" and tok.text in ("true", "false"):
            val = 1 if tok.text == "true" else 0
        elif tok.kind == "word" and tok.text == "null":
            return None
        else:
            raise self.fail(tok, "a string, a number, true, false or null")
        kind = COLUMNS[column]
        if kind == "number" and isinstance(val, str):
            raise InvalidInput(
                f"invalid --where: {column} is a number, got the string {val!r} "
                f"at offset {tok.pos}"
            )
        if kind == "text" and not isinstance(val, str):
            raise InvalidInput(
                f"invalid --where: {column} is text, got {tok.text} at offset {tok.pos}; "
                "quote it"
            )
        return val

    def compare(self) -> ColumnElement[bool]:
        tok = self.take()
        if tok.kind != "word" or tok.text in _KEYWORDS:
            raise self.fail(tok, "a column name")
        name = tok.text
        if name not in COLUMNS:
            raise InvalidInput(
                f"invalid --where: unknown column {name!r} at offset {tok.pos}; "
                f"use one of {', '.join(COLUMNS)}"
            )
        col = traces.c[name]
        op = self.take()
        if op.kind == "op":
            val = self.value(name)
            if val is None:
                if op.text in ("==", "="):
                    return col.is_(None)
                if op.text == "!=":
                    return col.is_not(None)
                raise InvalidInput(
                    f"invalid --where: null can only be compared with == or != "
                    f"at offset {op.pos}"
                )
            return {
                "==": col.__eq__, "=": col.__eq__, "!=": col.__ne__, "<": col.__lt__,
                "<=": col.__le__, ">": col.__gt__, ">=": col.__ge__,
            }[op.text](val)
        if op.kind == "word" and op.text in ("contains", "startswith", "endswith"):
            arg = self.take()
            if arg.kind != "string":
                raise self.fail(arg, f"a quoted string after {op.text}")
            if op.text == "contains":
                return col.icontains(arg.value, autoescape=True)
            if op.text == "startswith":
                return col.istartswith(arg.value, autoescape=True)
            return col.iendswith(arg.value, autoescape=True)
        if op.kind == "word" and op.text == "in":
            self.expect("punct", "[")
            values = [self.value(name)]
            while self.peek().kind == "punct" and self.peek().text == ",":
                self.take()
                values.append(self.value(name))
            self.expect("punct", "]")
            if any(v is None for v in values):
                raise InvalidInput(f"invalid --where: null in a list at offset {op.pos}; "
                                   f"use '{name} is null'")
            return col.in_(values)
        if op.kind == "word" and op.text == "is":
            negate = False
            if self.peek().kind == "word" and self.peek().text == "not":
                self.take()
                negate = True
            self.expect("word", "null")
            return col.is_not(None) if negate else col.is_(None)
        raise self.fail(op, "an operator (==, !=, <, <=, >, >=, contains, startswith, "
                            "endswith, in, is)")


def where_clause(expr: str) -> ColumnElement[bool]:
    """Parse a --where expression into a SQLAlchemy boolean clause over `traces`.

    Args:
        expr: the expression, e.g. ``status >= 400 and latency_ms > 500``. An empty or
            blank expression matches every trace.

    Returns:
        A clause to pass to ``select(traces).where(...)``; values are bound parameters.

    Raises:
        InvalidInput: the expression is malformed or names an unknown column; the message
            says what was expected and at which character offset.
    """
    if not isinstance(expr, str):
        raise InvalidInput("invalid --where: the expression must be a string")
    if len(expr) > _MAX_EXPR:
        raise InvalidInput(f"invalid --where: longer than {_MAX_EXPR} characters")
    if not expr.strip():
        return true()
    return _Parser(expr).parse()


def duration_ms(text: str) -> int:
    """A duration such as ``30m``, ``1h``, ``7d`` or ``1h30m`` in milliseconds."""
    return parse_duration(text) * 1000


def since_ms(text: str, *, now: int | None = None) -> int:
    """The epoch-millisecond cutoff for ``--since``: `text` ago from `now`.

    Args:
        text: a duration (``30m``, ``1h``, ``7d``, ``1h30m``), or an absolute epoch-ms
            integer, or an ISO 8601 timestamp (``2026-11-26T10:00:00Z``).
        now: the reference time in epoch ms (default: the current time).

    Returns:
        Epoch milliseconds; use as ``traces.c.created_at >= since_ms("1h")``.

    Raises:
        InvalidInput: `text` is neither a duration nor a timestamp.
    """
    raw = text.strip()
    if raw.isdigit() and len(raw) >= 10:
        return int(raw)
    if "T" in raw or (len(raw) == 10 and raw[4:5] == "-"):
        from datetime import UTC, datetime

        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"invalid --since {text!r}: not an ISO 8601 timestamp") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    return (now_ms() if now is None else now) - duration_ms(raw)
