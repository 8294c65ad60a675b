"""Diff, derive (SQL filter, dedup), export: new versions with lineage to their parents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops import datasets
from llmops.datasets.ops import derive_dataset, diff_versions, export_dataset
from llmops.errors import InvalidInput
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace
from tests.datasets.conftest import chat_rows
from tests.helpers import table_counts


@pytest.fixture
def two_versions(workspace: Workspace) -> Workspace:
    rows = chat_rows(300)
    datasets.import_dataset("qa", rows, kind="chat", workspace=workspace)
    changed = [json.loads(json.dumps(r)) for r in rows[:-10]] + chat_rows(5, offset=1000)
    changed[3]["messages"][2]["content"] = "A better answer."
    datasets.import_dataset("qa", changed, kind="chat", workspace=workspace)
    return workspace


def test_diff_counts_added_removed_and_changed_with_samples(two_versions: Workspace) -> None:
    d = diff_versions(two_versions, "qa@1", "qa@2")
    assert (d.added, d.removed, d.changed) == (5, 10, 1)
    assert d.unchanged == 295 - 5 - 1
    assert d.samples["changed"][0]["after"]["messages"][2]["content"] == "A better answer."
    assert len(d.samples["removed"]) == 5


def test_derive_filters_with_sql_and_records_lineage(two_versions: Workspace) -> None:
    report = derive_dataset(two_versions, "kyoto", "qa@2",
                            where="messages LIKE '%Kyoto%'", actor="t")
    rows = datasets.read_rows("kyoto", workspace=two_versions)
    assert report.version.row_count == len(rows) > 0
    assert all("Kyoto" in r["messages"][1]["content"] for r in rows)
    parent = datasets.get_version("qa@2", workspace=two_versions)
    assert report.version.parent_id == parent.id
    graph = LocalTracking(two_versions).lineage(f"dataset:{report.version.id}")
    assert [(e.source, e.relation) for e in graph.upstream] == [(f"dataset:{parent.id}",
                                                                "derived")]


def test_derive_where_sees_typed_fields(workspace: Workspace) -> None:
    rows = [{"input": f"q{i}", "reference": f"a{i}", "score": i, "ok": i % 2 == 0}
            for i in range(20)]
    datasets.import_dataset("ev", rows, kind="eval", workspace=workspace)
    report = derive_dataset(workspace, "ev-hi", "ev", where="score >= 15 AND ok", actor="t")
    assert [r["score"] for r in datasets.read_rows("ev-hi", workspace=workspace)] == [16, 18]
    assert report.version.source == {"type": "derive", "from": "dataset:ev@1", "where":
                                     "score >= 15 AND ok", "dedup": None}


def test_exact_and_near_deduplication(workspace: Workspace) -> None:
    base = chat_rows(40)
    near = [json.loads(json.dumps(r)) for r in base[:10]]
    for r in near:
        r["messages"][2]["content"] += " Enjoy!"
    datasets.import_dataset("dups", base + base[:10] + near, kind="chat", workspace=workspace)
    exact = derive_dataset(workspace, "d1", "dups", dedup="exact", actor="t")
    assert exact.version.row_count == 50
    near_report = derive_dataset(workspace, "d2", "dups", dedup="near", threshold=0.7,
                                 actor="t")
    assert 30 <= near_report.version.row_count <= 40


def test_bad_derive_input_changes_nothing(two_versions: Workspace) -> None:
    before = table_counts(two_versions.store)
    with pytest.raises(InvalidInput, match="failed"):
        derive_dataset(two_versions, "x", "qa", where="no_such_column > 1", actor="t")
    with pytest.raises(InvalidInput, match="one SQL expression"):
        derive_dataset(two_versions, "x", "qa", where="1=1; DROP TABLE chunk", actor="t")
    with pytest.raises(InvalidInput):  # no file access from a condition
        derive_dataset(two_versions, "x", "qa",
                       where="(SELECT count(*) FROM read_text('/etc/passwd')) > 0", actor="t")
    with pytest.raises(InvalidInput, match="unknown --dedup"):
        derive_dataset(two_versions, "x", "qa", dedup="fuzzy", actor="t")
    assert table_counts(two_versions.store) == before


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_export_round_trips(two_versions: Workspace, tmp_path: Path, fmt: str) -> None:
    dest = export_dataset(two_versions, "qa@1", tmp_path / f"out.{fmt}", fmt)
    report = datasets.import_dataset("again", dest, kind="chat", fmt=fmt,
                                     workspace=two_versions)
    assert report.version.row_count == 300
    original = {r["_id"] for r in datasets.read_rows("qa@1", workspace=two_versions)}
    assert {r["_id"] for r in datasets.read_rows("again", workspace=two_versions)} == original
