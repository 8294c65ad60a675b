"""`llmops prompts ...` as a user runs it: real processes, exit codes, --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import as_json, llmops
from tests.prompts.conftest import TRAVEL, travel


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"v1": tmp_path / "travel.yaml", "v2": tmp_path / "travel-v2.yaml",
             "vars": tmp_path / "vars.json"}
    paths["v1"].write_text(TRAVEL)
    paths["v2"].write_text(travel(0.7))
    paths["vars"].write_text(json.dumps({"company": "Acme", "question": "From file?"}))
    return paths


def test_create_version_label_rollback_and_list(home: Path, files: dict[str, Path]) -> None:
    first = as_json(llmops(home, "prompts", "create", "travel-system", "-f", str(files["v1"]),
                           "--label", "production", "--json"))
    assert (first["version"], first["created"], first["labels"]) == (1, True, ["production"])
    again = as_json(llmops(home, "prompts", "create", "travel-system", "-f", str(files["v1"]),
                           "--json"))
    assert (again["id"], again["created"]) == (first["id"], False)
    text = llmops(home, "prompts", "create", "travel-system", "-f", str(files["v2"]))
    assert text.returncode == 0 and "Created prompt:travel-system@2" in text.stdout
    moved = as_json(llmops(home, "prompts", "label", "travel-system", "2", "production",
                           "--json"))
    assert (moved["version"], moved["previous_version"]) == (2, 1)
    back = as_json(llmops(home, "prompts", "rollback", "travel-system", "production", "--json"))
    assert back["version"] == 1
    listed = as_json(llmops(home, "prompts", "list", "--json"))
    assert [(p["name"], p["latest_version"], p["labels"]) for p in listed] == [
        ("travel-system", 2, {"production": 1})]
    versions = as_json(llmops(home, "prompts", "versions", "travel-system", "--json"))
    assert [(v["version"], v["labels"]) for v in versions] == [(1, ["production"]), (2, [])]
    history = as_json(llmops(home, "prompts", "history", "travel-system", "--json"))
    assert [e["version"] for e in history] == [1, 2, 1]
    table = llmops(home, "prompts", "list").stdout
    assert "travel-system" in table and "production=1" in table


def test_show_diff_export_and_render(home: Path, files: dict[str, Path], tmp_path: Path) -> None:
    for key in ("v1", "v2"):
        llmops(home, "prompts", "create", "travel-system", "-f", str(files[key]))
    shown = llmops(home, "prompts", "show", "travel-system@1")
    assert "prompt:travel-system@1" in shown.stdout and "temperature: 0.2" in shown.stdout
    assert as_json(llmops(home, "prompts", "show", "travel-system", "--json"))["version"] == 2
    diff = as_json(llmops(home, "prompts", "diff", "travel-system@1", "travel-system@2",
                          "--json"))
    assert [(c["path"], c["a"], c["b"]) for c in diff["changes"]] == [
        ("parameters.temperature", 0.2, 0.7)]
    assert "+  temperature: 0.7" in llmops(home, "prompts", "diff", "travel-system@1",
                                           "travel-system@2").stdout
    exported = tmp_path / "exported.yaml"
    llmops(home, "prompts", "export", "travel-system@1", "-o", str(exported))
    back = as_json(llmops(home, "prompts", "create", "travel-system", "-f", str(exported),
                          "--json"))
    assert (back["version"], back["created"]) == (1, False)

    rendered = as_json(llmops(home, "prompts", "render", "travel-system@1", "--vars-file",
                              str(files["vars"]), "--var", "language=Portuguese", "--json"))
    assert rendered["messages"][0]["content"] == (
        "You are a travel assistant for Acme.\nAnswer in Portuguese.")
    assert rendered["messages"][1]["content"] == "From file?"
    assert rendered["parameters"] == {"temperature": 0.2, "max_tokens": 512}
    text = llmops(home, "prompts", "render", "travel-system@1", "--var", "company=[b]Acme[/b]",
                  "--var", "question=Where?").stdout
    assert "--- system ---" in text and "[b]Acme[/b]" in text and "temperature=0.2" in text


def test_render_reads_typed_variables_as_json(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text("text: '{{ days + 1 }} days, {{ tags|join(\"/\") }}, {{ name }}'\n"
                    "variables:\n  days: integer\n  tags: array\n  name: string\n")
    llmops(home, "prompts", "create", "p", "-f", str(spec))
    rendered = as_json(llmops(home, "prompts", "render", "p", "--var", "days=2", "--var",
                              'tags=["a","b"]', "--var", "name=007", "--json"))
    assert rendered["text"] == "3 days, a/b, 007"


@pytest.mark.parametrize(("args", "message"), [
    (["prompts", "show", "travl-system"], "no prompt 'travl-system'; did you mean travel-system"),
    (["prompts", "show", "travel-system@9"], "has no version 9; it has versions 1-1 and labels "
                                             "production (-> 1)"),
    (["prompts", "render", "travel-system@prod"], "has no label 'prod'"),
    (["prompts", "render", "travel-system", "--var", "company=A"], "missing variable 'question'"),
    (["prompts", "render", "travel-system", "--vars-file", "/nonexistent.json"], "cannot read"),
    (["prompts", "show", "Bad Name"], "invalid prompt name"),
    (["prompts", "label", "travel-system", "1", "7"], "invalid label '7'"),
    (["prompts", "rollback", "travel-system", "production"], "no earlier target"),
    (["prompts", "create", "x", "-f", "/nonexistent.yaml"], "cannot read"),
])
def test_user_errors_exit_1_with_a_message(home: Path, files: dict[str, Path],
                                           args: list[str], message: str) -> None:
    llmops(home, "prompts", "create", "travel-system", "-f", str(files["v1"]), "--label",
           "production")
    result = llmops(home, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_files_are_refused_naming_the_line(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("messages:\n  - role: user\n    content: {{ question }}\n")
    result = llmops(home, "prompts", "create", "p", "-f", str(bad))
    assert result.returncode == 1 and "bad.yaml line 3" in result.stderr
    bad.write_text("text: '{{ cycler.__init__.__globals__ }}'\n")
    result = llmops(home, "prompts", "create", "p", "-f", str(bad))
    assert result.returncode == 1 and "private attribute '__init__'" in result.stderr
    assert as_json(llmops(home, "prompts", "list", "--json")) == []


def test_usage_errors_exit_2_and_every_command_has_help(home: Path) -> None:
    assert llmops(home, "prompts", "render", "x", "--var", "novalue").returncode == 2
    for command in ("create", "list", "versions", "show", "diff", "export", "render", "label",
                    "rollback", "unlabel", "history"):
        result = llmops(home, "prompts", command, "-h")
        assert result.returncode == 0 and "Usage" in result.stdout, command
