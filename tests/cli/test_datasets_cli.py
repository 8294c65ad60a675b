"""`llmops datasets ...` as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import as_json, llmops
from tests.datasets.conftest import chat_rows, write_jsonl


def test_import_show_head_versions_diff_derive_export(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = write_jsonl(tmp_path / "qa.jsonl", chat_rows(100))
    created = as_json(llmops(home, "datasets", "import", "travel-qa", str(data), "--kind",
                             "chat", "--split", "train=0.8,val=0.1,test=0.1", "--json"))
    assert created["created"] and created["version"]["row_count"] == 100
    text = llmops(home, "datasets", "import", "travel-qa", str(data), "--kind", "chat",
                  "--split", "train=0.8,val=0.1,test=0.1")
    assert text.returncode == 0 and "Unchanged" in text.stdout
    shown = as_json(llmops(home, "datasets", "show", "dataset:travel-qa@1", "--json"))
    assert shown["splits"]["counts"]["train"] + shown["splits"]["counts"]["val"] + \
        shown["splits"]["counts"]["test"] == 100
    rows = as_json(llmops(home, "datasets", "head", "travel-qa@1#test", "-n", "3", "--json"))
    assert len(rows) == 3 and all("_id" in r for r in rows)
    write_jsonl(data, chat_rows(110))
    as_json(llmops(home, "datasets", "import", "travel-qa", str(data), "--kind", "chat",
                   "--json"))
    listed = as_json(llmops(home, "datasets", "versions", "travel-qa", "--json"))
    assert [v["version"] for v in listed] == [1, 2]
    diff = as_json(llmops(home, "datasets", "diff", "travel-qa@1", "travel-qa@2", "--json"))
    assert diff["added"] == 10
    derived = as_json(llmops(home, "datasets", "derive", "rome", "--from", "travel-qa@2",
                             "--where", "messages LIKE '%Rome%'", "--json"))
    assert derived["version"]["row_count"] == 14
    out = tmp_path / "rome.jsonl"
    assert llmops(home, "datasets", "export", "rome", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 14
    names = [d["name"] for d in as_json(llmops(home, "datasets", "list", "--json"))]
    assert names == ["rome", "travel-qa"]
    graph = as_json(llmops(home, "lineage", "show", "dataset:rome@1", "--json"))
    assert graph["root"] == f"dataset:{derived['version']['id']}"
    assert [e["relation"] for e in graph["upstream"]] == ["derived"]
    text = llmops(home, "lineage", "show", "dataset:rome@1").stdout
    assert "dataset:travel-qa@2" in text and "dataset:rome@1" in text


def test_bad_input_exits_1_with_the_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"text": \n')
    result = llmops(home, "datasets", "import", "x", str(bad), "--kind", "text")
    assert result.returncode == 1 and "bad.jsonl:2: invalid JSON" in result.stderr
    assert "Traceback" not in result.stderr
    result = llmops(home, "datasets", "show", "nope")
    assert result.returncode == 1 and "no dataset 'nope'" in result.stderr
    result = llmops(home, "datasets", "import", "../x", str(bad), "--kind", "text")
    assert result.returncode == 1 and "invalid dataset name" in result.stderr


def test_profile_prints_a_summary_and_writes_an_html_report(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = write_jsonl(tmp_path / "qa.jsonl", chat_rows(60))
    llmops(home, "datasets", "import", "qa", str(data), "--kind", "chat")
    report = tmp_path / "report.html"
    result = llmops(home, "datasets", "profile", "qa", "--html", str(report))
    assert result.returncode == 0, result.stderr
    assert "messages" in result.stdout and report.read_text().count("<svg") >= 2
    profile = as_json(llmops(home, "datasets", "profile", "qa@1", "--json"))
    assert profile["row_count"] == 60 and profile["kind"] == "chat"
