"""Listing, paging, searching, showing and exporting traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from llmops.errors import InvalidInput, NotFound
from llmops.store.tables import spans
from llmops.traces.store import count_traces, export_traces, get_trace, list_traces
from llmops.workspace import Workspace
from tests.traces.conftest import NOW, add_traces, trace_row

OTEL = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def stored(workspace: Workspace) -> Workspace:
    add_traces(workspace, [
        trace_row(1, output="The Eiffel tower is in Paris"),
        trace_row(2, model="other", route="hotels", status=500, output=None),
        trace_row(3, input='[{"role": "user", "content": "Wo ist der Bahnhof?"}]',
                  output="100% certain"),
        *[trace_row(i) for i in range(4, 12)],
    ])
    return workspace


def _ids(page_items: list) -> list[int]:  # type: ignore[type-arg]
    return [int(t.id[-3:]) for t in page_items]


def test_filters_combine_and_newest_comes_first(stored: Workspace) -> None:
    page = list_traces(stored, model="support", since=str(NOW - 3500), limit=10)
    assert _ids(page.items) == [1, 3]
    assert _ids(list_traces(stored, route="hotels").items) == [2]
    assert _ids(list_traces(stored, where="status >= 500").items) == [2]
    assert _ids(list_traces(stored, model="support", where="latency_ms > 109").items) == [
        10, 11]
    first = list_traces(stored, limit=1).items[0]
    assert first.input == [{"role": "user", "content": "question 1"}]
    assert (first.model, first.route, first.stream) == ("support", "travel", False)
    assert count_traces(stored, model="support") == 10


def test_cursor_pages_through_everything_once(stored: Workspace) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = list_traces(stored, limit=4, cursor=cursor)
        seen += _ids(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(range(1, 12))


def test_search_finds_words_in_inputs_or_outputs(stored: Workspace) -> None:
    assert _ids(list_traces(stored, search="eiffel PARIS").items) == [1]
    assert _ids(list_traces(stored, search="bahnhof").items) == [3]
    assert _ids(list_traces(stored, search='"100%"').items) == [3]
    assert _ids(list_traces(stored, search="eiffel bahnhof").items) == []
    assert _ids(list_traces(stored, search="%").items) == [3]


def test_bad_filters_name_the_problem(stored: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid limit 0: use 1 to 1000"):
        list_traces(stored, limit=0)
    with pytest.raises(InvalidInput, match="invalid cursor 'nope'"):
        list_traces(stored, cursor="nope")
    with pytest.raises(InvalidInput, match="invalid --search: give at least one word"):
        list_traces(stored, search='""')
    with pytest.raises(InvalidInput, match="invalid --since 'later'|invalid duration"):
        list_traces(stored, since="later")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "t.jsonl"
    with pytest.raises(InvalidInput, match="invalid format 'csv': use jsonl or parquet"):
        export_traces(stored, out, format="csv")
    with pytest.raises(InvalidInput, match="unknown column 'nope'"):
        export_traces(stored, out, where="nope == 1")
    assert list((tmp_path / "out").iterdir()) == []


def test_export_jsonl_and_parquet_hold_the_same_traces(stored: Workspace,
                                                      tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    seen: list[int] = []
    n = export_traces(stored, tmp_path / "t.jsonl", format="jsonl", model="support",
                      batch=3, progress=seen.append)
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert n == len(lines) == 10 and seen[-1] == 10
    assert lines[0]["id"].endswith("001") and lines[0]["input"][0]["content"] == "question 1"
    m = export_traces(stored, tmp_path / "t.parquet", format="parquet", model="support",
                      batch=3)
    table = pq.read_table(tmp_path / "t.parquet")
    assert m == table.num_rows == 10
    assert table.column("id").to_pylist() == [line["id"] for line in lines]
    assert json.loads(table.column("input")[0].as_py()) == lines[0]["input"]
    assert export_traces(stored, tmp_path / "none.parquet", format="parquet",
                         model="nobody") == 0
    assert pq.read_table(tmp_path / "none.parquet").num_rows == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["none.parquet", "t.jsonl",
                                                          "t.parquet"]


def _span(span_id: str, parent: str | None, name: str, start: int) -> dict[str, object]:
    return {"trace_id": OTEL, "span_id": span_id, "parent_span_id": parent, "name": name,
            "kind": "internal", "start_ns": start, "end_ns": start + 5_000_000,
            "status": "ok", "attributes": '{"k": 1}', "events": "[]",
            "dropped_attributes": 0, "created_at": NOW}


def test_show_nests_the_gateway_trace_under_the_app_spans(workspace: Workspace) -> None:
    t0 = (NOW - 10_000) * 1_000_000
    workspace.store.write(lambda conn: conn.execute(insert(spans), [
        _span("a" * 16, None, "handle", t0), _span("b" * 16, "a" * 16, "retrieve", t0 + 1),
        _span("c" * 16, "a" * 16, "generate", t0 + 2)]))
    add_traces(workspace, [trace_row(1, otel_trace_id=OTEL, otel_span_id="d" * 16,
                                     otel_parent_span_id="c" * 16)])
    detail = get_trace(workspace, "01TRACE0000000000000000001")
    assert detail.trace is not None and detail.otel_trace_id == OTEL
    [root] = detail.tree
    assert root.name == "handle"
    assert [c.name for c in root.children] == ["retrieve", "generate"]
    [call] = root.children[1].children
    assert call.gateway_trace_id == detail.trace.id and call.name == "gateway travel"
    assert len(detail.spans) == 4
    by_otel = get_trace(workspace, OTEL.upper())
    assert by_otel.trace is not None and by_otel.trace.id == detail.trace.id
    with pytest.raises(NotFound, match="no trace 'nope'"):
        get_trace(workspace, "nope")
