"""The --where language: what it matches on SQLite and PostgreSQL, and the exact errors
for malformed expressions (which change nothing and never reach SQL as text)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from llmops.errors import InvalidInput
from llmops.store.tables import traces
from llmops.traces.query import since_ms, where_clause
from llmops.workspace import Workspace
from tests.helpers import table_counts
from tests.traces.conftest import NOW, add_traces, trace_row


def _ids(workspace: Workspace, expr: str) -> list[int]:
    with workspace.store.read() as conn:
        rows = conn.execute(select(traces.c.id).where(where_clause(expr))).scalars().all()
    return sorted(int(r[-3:]) for r in rows)


@pytest.fixture
def stored(workspace: Workspace) -> Workspace:
    add_traces(workspace, [
        trace_row(1),
        trace_row(2, status=500, latency_ms=900.0, output=None, error="upstream down"),
        trace_row(3, route="hotels", output="Sorry, I can't help with that"),
        trace_row(4, status=429, latency_ms=20.0, model="other"),
        trace_row(5, output="100% sure_thing"),
    ])
    return workspace


CASES = [
    ("status >= 400 and latency_ms > 500", [2]),
    ('route == "hotels"', [3]),
    ("route = 'travel' and status == 200", [1, 5]),
    ('output contains "sorry"', [3]),
    ('output contains "100%"', [5]),
    ('output contains "e_t"', [5]),
    ('output contains "%"', [5]),
    ("output is null", [2]),
    ("output is not null and status != 200", [4]),
    ("output == null", [2]),
    ('route in ["hotels", "nowhere"] or model == "other"', [3, 4]),
    ('not (route == "travel") ', [3]),
    ('NOT route == "travel" AND status < 300', [3]),
    ('input contains "question 4"', [4]),
    ('output startswith "answer" and output endswith "1"', [1]),
    (f"created_at >= {NOW - 2500}", [1, 2]),
    ("stream == false", [1, 2, 3, 4, 5]),
    ("", [1, 2, 3, 4, 5]),
    ("latency_ms >= 1e2", [1, 2, 3, 5]),
]


def test_expressions_select_the_matching_traces(stored: Workspace) -> None:
    for expr, expected in CASES:
        assert _ids(stored, expr) == expected, expr


def test_values_are_bound_parameters_not_sql(stored: Workspace) -> None:
    before = table_counts(stored.store)
    assert _ids(stored, "route == \"x' OR '1'='1\"") == []
    assert _ids(stored, 'output contains "\'; DROP TABLE traces; --"') == []
    compiled = str(where_clause('route == "travel"').compile())
    assert "travel" not in compiled and ":route_1" in compiled
    assert table_counts(stored.store) == before


BAD = [
    ("foo == 1", "invalid --where: unknown column 'foo' at offset 0; use one of id, route, "
                 "model, target, model_version_id, prompt_version_id, key_id, status, error, "
                 "input, output, prompt_tokens, completion_tokens, latency_ms, ttft_ms, "
                 "stream, created_at, otel_trace_id, otel_span_id"),
    ('status >= "x"', "invalid --where: status is a number, got the string 'x' at offset 10"),
    ("route == 3", "invalid --where: route is text, got 3 at offset 9; quote it"),
    ("status >", "invalid --where: expected a string, a number, true, false or null at "
                 "offset 8, found 'end of expression'"),
    ("(status == 1", "invalid --where: expected ')' at offset 12, found 'end of expression'"),
    ("status == 1 route == 'a'", "invalid --where: expected 'and', 'or' or the end at "
                                 "offset 12, found 'route'"),
    ("status == 1; DROP TABLE traces", "invalid --where: unexpected '; DROP TAB' at offset 11"),
    ('route == "abc', "invalid --where: unterminated string at offset 9"),
    ("output contains 3", "invalid --where: expected a quoted string after contains at "
                          "offset 16, found '3'"),
    ("status < null", "invalid --where: null can only be compared with == or != at offset 7"),
    ("status ~ 3", "invalid --where: unexpected '~ 3' at offset 7"),
    ("and status == 1", "invalid --where: expected a column name at offset 0, found 'and'"),
    ('route == "a\\q"', "invalid --where: unknown escape \\q at offset 11"),
    ("status is 3", "invalid --where: expected 'null' at offset 10, found '3'"),
    ("(" * 60 + "status == 1" + ")" * 60, "invalid --where: nested too deeply at offset 50"),
    ("x" * 4001, "invalid --where: longer than 4000 characters"),
]


def test_malformed_expressions_name_the_problem(stored: Workspace) -> None:
    before = table_counts(stored.store)
    for expr, message in BAD:
        with pytest.raises(InvalidInput) as info:
            where_clause(expr)
        assert info.value.detail == message
    assert table_counts(stored.store) == before


def test_since_takes_durations_and_timestamps() -> None:
    assert since_ms("1h", now=NOW) == NOW - 3_600_000
    assert since_ms("30m", now=NOW) == NOW - 1_800_000
    assert since_ms("7d", now=NOW) == NOW - 7 * 86_400_000
    assert since_ms("1h30m", now=NOW) == NOW - 5_400_000
    assert since_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert since_ms(str(NOW)) == NOW
    with pytest.raises(InvalidInput, match="invalid duration 'yesterday'"):
        since_ms("yesterday")
    with pytest.raises(InvalidInput, match="not an ISO 8601 timestamp"):
        since_ms("2026-13-45T00:00:00Z")
