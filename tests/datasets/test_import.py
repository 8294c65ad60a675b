"""Importing datasets: kinds, formats, versions, splits, and bad input that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops import datasets
from llmops.errors import InvalidInput, NotFound, ValidationFailed
from llmops.workspace import Workspace
from tests.datasets.conftest import chat_rows, write_jsonl
from tests.helpers import table_counts

ROWS = {
    "text": [{"text": "Lisbon is hilly."}, {"text": "Porto has port wine."}],
    "instruction": [{"prompt": "Capital of Italy?", "response": "Rome."},
                    {"instruction": "Translate", "input": "bonjour", "output": "hello"}],
    "chat": chat_rows(2),
    "preference": [{"prompt": "Best time for Kyoto?", "chosen": "Spring, for the blossoms.",
                    "rejected": "Whenever."},
                   {"prompt": [{"role": "user", "content": "Oslo?"}],
                    "chosen": [{"role": "assistant", "content": "Fjords."}],
                    "rejected": [{"role": "assistant", "content": "No idea."}]}],
    "eval": [{"input": "Capital of Peru?", "reference": "Lima"},
             {"input": "Capital of Egypt?", "expected": "Cairo", "tags": ["geo"]}],
}


@pytest.mark.parametrize("kind", list(ROWS))
def test_every_kind_imports_from_python_and_reads_back(workspace: Workspace, kind: str) -> None:
    report = datasets.import_dataset(f"k-{kind}", ROWS[kind], kind=kind, workspace=workspace)
    assert report.created and report.version.version == 1
    assert report.version.kind == kind and report.version.row_count == 2
    back = datasets.read_rows(f"k-{kind}", workspace=workspace)
    assert [{k: v for k, v in r.items() if k != "_id"} for r in back] == ROWS[kind]
    assert len({r["_id"] for r in back}) == 2


def test_identical_content_returns_the_existing_version(workspace: Workspace,
                                                        chat_file: Path) -> None:
    first = datasets.import_dataset("qa", chat_file, kind="chat", workspace=workspace)
    before = table_counts(workspace.store)
    again = datasets.import_dataset("qa", chat_file, kind="chat", workspace=workspace)
    assert not again.created and again.version == first.version
    assert table_counts(workspace.store) == before
    assert first.version.content_hash.startswith("sha256:")
    by_hash = datasets.get_version(f"qa@{first.version.content_hash[:15]}", workspace=workspace)
    assert by_hash.id == first.version.id


def test_versions_count_up_and_unchanged_chunks_are_not_stored_again(
        workspace: Workspace, tmp_path: Path) -> None:
    rows = chat_rows(6000)
    v1 = datasets.import_dataset("big", rows, kind="chat", workspace=workspace)
    assert len(v1.version.model_dump()) and v1.stored_bytes == v1.version.byte_size
    v2 = datasets.import_dataset("big", rows + chat_rows(60, offset=6000), kind="chat",
                                 workspace=workspace)
    assert v2.version.version == 2 and v2.version.row_count == 6060
    assert v2.reused_chunks >= 1
    assert v2.stored_bytes < 0.5 * v1.stored_bytes  # only the tail was written
    assert [v.version for v in datasets.list_versions("big", workspace=workspace)] == [1, 2]
    assert datasets.list_datasets(workspace=workspace)[0].latest == 2


def test_splits_are_stable_when_the_dataset_grows(workspace: Workspace) -> None:
    split = "train=0.8,val=0.1,test=0.1"
    datasets.import_dataset("s", chat_rows(500), kind="chat", split=split, workspace=workspace)
    datasets.import_dataset("s", chat_rows(700), kind="chat", split=split, workspace=workspace)
    v1 = datasets.get_version("s@1", workspace=workspace)
    assert v1.splits and sum(v1.splits["counts"].values()) == 500
    assert 300 < v1.splits["counts"]["train"] < 480
    for name in ("train", "val", "test"):
        old = {r["_id"] for r in datasets.read_rows(f"dataset:s@1#{name}", workspace=workspace)}
        new = {r["_id"] for r in datasets.read_rows(f"dataset:s@2#{name}", workspace=workspace)}
        assert old <= new, name
    with pytest.raises(NotFound, match="no split 'dev'"):
        datasets.read_rows("s@1#dev", workspace=workspace)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "hf"])
def test_each_file_format(workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(50)]
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", rows)
    elif fmt == "csv":
        path = tmp_path / "d.csv"
        path.write_text("prompt,response\n" + "".join(f"q{i},a{i}\n" for i in range(50)))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        from datasets import Dataset

        path = tmp_path / "hf"
        Dataset.from_list(rows).save_to_disk(str(path))
    report = datasets.import_dataset("fmt", path, kind="instruction", workspace=workspace)
    assert report.version.row_count == 50
    assert datasets.head("fmt", 1, workspace=workspace)[0]["prompt"] == "q0"


def test_chat_rows_from_csv_parse_their_messages_column(workspace: Workspace,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "chat.csv"
    messages = json.dumps([{"role": "user", "content": "hi"},
                           {"role": "assistant", "content": "hello"}]).replace('"', '""')
    path.write_text(f'messages\n"{messages}"\n')
    report = datasets.import_dataset("c", path, kind="chat", workspace=workspace)
    assert datasets.head("c", workspace=workspace)[0]["messages"][1]["content"] == "hello"
    assert report.version.row_count == 1


# -- bad input ------------------------------------------------------------------------------
def assert_nothing_created(workspace: Workspace, before: dict[str, int]) -> None:
    assert table_counts(workspace.store) == before


def test_malformed_json_names_the_line(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "ok"}\n{"text": oops}\n{"text": "ok"}\n')
    before = table_counts(workspace.store)
    with pytest.raises(ValidationFailed, match=r"bad\.jsonl:3: invalid JSON") as info:
        datasets.import_dataset("bad", path, kind="text", workspace=workspace)
    assert "1 invalid record" in str(info.value) and "no version was created" in str(info.value)
    assert_nothing_created(workspace, before)


def test_rows_that_do_not_fit_the_kind_name_line_field_and_problem(
        workspace: Workspace, tmp_path: Path) -> None:
    rows = chat_rows(3) + [{"messages": [{"role": "wizard", "content": "hi"}]},
                           {"messages": "hello"}, {"text": "wrong kind"}] + chat_rows(30)
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    before = table_counts(workspace.store)
    with pytest.raises(ValidationFailed) as info:
        datasets.import_dataset("mixed", path, kind="chat", workspace=workspace)
    text = str(info.value)
    assert "3 invalid record(s)" in text
    assert "mixed.jsonl:4: messages.0.role: must be one of" in text
    assert "mixed.jsonl:5: messages: must be a non-empty list of messages" in text
    assert "mixed.jsonl:6: messages: is missing" in text
    assert_nothing_created(workspace, before)


def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest(
        workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"text": "a"}\n{"text": 5}\nnot json\n{"text": "b"}\n')
    report = datasets.import_dataset("skip", path, kind="text", skip_invalid=True,
                                     workspace=workspace)
    assert report.version.row_count == 2 and report.rejected == 2
    assert report.problems == ["mixed.jsonl:2: text: must be a string, not int",
                               "mixed.jsonl:3: invalid JSON (invalid literal, expected "
                               "'null': line 1 column 1 (char 0))"]


def test_a_csv_missing_a_column_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("prompt,answer\nq,a\n")
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match=r"qa\.csv has no column 'response'"):
        datasets.import_dataset("qa", path, kind="instruction", workspace=workspace)
    assert_nothing_created(workspace, before)


def test_a_non_utf8_file_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"text": "café"}\n'.encode("latin-1"))
    before = table_counts(workspace.store)
    with pytest.raises(ValidationFailed, match=r"latin1\.jsonl:1: .*UTF-8"):
        datasets.import_dataset("l", path, kind="text", workspace=workspace)
    csv_path = tmp_path / "latin1.csv"
    csv_path.write_bytes("text\ncafé\n".encode("latin-1"))
    with pytest.raises(ValidationFailed, match="not valid UTF-8"):
        datasets.import_dataset("l", csv_path, kind="text", workspace=workspace)
    assert_nothing_created(workspace, before)


def test_a_huge_single_line_is_refused_without_loading_it(workspace: Workspace,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with open(path, "w") as f:
        f.write('{"text": "')
        for _ in range(100):
            f.write("x" * (1024 * 1024))
        f.write('"}\n{"text": "fine"}\n')
    import tracemalloc

    before = table_counts(workspace.store)
    tracemalloc.start()
    with pytest.raises(ValidationFailed, match=r"huge\.jsonl:1: line is longer than the limit"):
        datasets.import_dataset("huge", path, kind="text", workspace=workspace)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40 * 1024 * 1024  # the 100 MB line never sat in memory
    assert_nothing_created(workspace, before)


def test_an_empty_file_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="no rows to import: the source is empty"):
        datasets.import_dataset("e", path, kind="text", workspace=workspace)
    assert_nothing_created(workspace, before)


def test_preference_rows_with_chosen_equal_rejected_are_counted(workspace: Workspace) -> None:
    rows = [{"prompt": "p", "chosen": "same", "rejected": "same"},
            {"prompt": "q", "chosen": "good", "rejected": "bad"}]
    report = datasets.import_dataset("pref", rows, kind="preference", workspace=workspace)
    assert report.warnings == {"chosen == rejected": 1} and report.version.row_count == 2


@pytest.mark.parametrize("name", ["../x", "Travel", "with space", "a/b", ""])
def test_bad_dataset_names_are_refused(workspace: Workspace, chat_file: Path,
                                       name: str) -> None:
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        datasets.import_dataset(name, chat_file, kind="chat", workspace=workspace)
    assert_nothing_created(workspace, before)


def test_unknown_references_name_the_candidates(workspace: Workspace, chat_file: Path) -> None:
    datasets.import_dataset("travel-qa", chat_file, kind="chat", workspace=workspace)
    with pytest.raises(NotFound, match="no dataset 'travel-q'; datasets: travel-qa"):
        datasets.get_version("travel-q", workspace=workspace)
    with pytest.raises(NotFound, match="versions: 1"):
        datasets.get_version("travel-qa@7", workspace=workspace)


def test_unknown_kind_and_bad_split(workspace: Workspace, chat_file: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown dataset kind 'dialog'"):
        datasets.import_dataset("x", chat_file, kind="dialog", workspace=workspace)
    with pytest.raises(InvalidInput, match="must add up to 1"):
        datasets.import_dataset("x", chat_file, kind="chat", split="train=0.8,test=0.1",
                                workspace=workspace)


def test_reimporting_a_grown_file_skips_its_unchanged_prefix(workspace: Workspace,
                                                            tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "grow.jsonl", chat_rows(8000))
    first = datasets.import_dataset("grow", path, kind="chat", workspace=workspace)
    checkpoints = first.version.source["checkpoints"]  # type: ignore[index]
    assert len(checkpoints) >= 1
    write_jsonl(path, chat_rows(8080))  # the same lines, then 80 more
    second = datasets.import_dataset("grow", path, kind="chat", workspace=workspace)
    assert second.version.source["resumed_at"] == checkpoints[-1][0]  # type: ignore[index]
    assert second.reused_chunks == len(checkpoints)
    fresh = datasets.import_dataset("fresh", path, kind="chat", workspace=workspace)
    assert fresh.version.content_hash == second.version.content_hash
    assert second.version.row_count == 8080
    ids = [r["_id"] for r in datasets.read_rows("grow@2", workspace=workspace)]
    assert ids == [r["_id"] for r in datasets.read_rows("fresh", workspace=workspace)]


def test_a_change_early_in_the_file_is_not_hidden_by_prefix_reuse(workspace: Workspace,
                                                                  tmp_path: Path) -> None:
    rows = chat_rows(8000)
    path = write_jsonl(tmp_path / "edit.jsonl", rows)
    datasets.import_dataset("edit", path, kind="chat", workspace=workspace)
    rows[1]["messages"][2]["content"] = "edited"
    write_jsonl(path, rows)
    second = datasets.import_dataset("edit", path, kind="chat", workspace=workspace)
    assert "resumed_at" not in (second.version.source or {})
    assert datasets.read_rows("edit@2", workspace=workspace)[1]["messages"][2]["content"] == \
        "edited"


def test_pandas_and_arrow_tables_import_like_lists(workspace: Workspace) -> None:
    import pandas as pd
    import pyarrow as pa

    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(30)]
    from_list = datasets.import_dataset("t", rows, kind="instruction", workspace=workspace)
    for table in (pd.DataFrame(rows), pa.Table.from_pylist(rows)):
        report = datasets.import_dataset("t", table, kind="instruction", workspace=workspace)
        assert not report.created and report.version.id == from_list.version.id
