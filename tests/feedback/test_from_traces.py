"""Datasets from traces and feedback: each kind in the shape of hand-imported datasets,
PII redacted by default, lineage to every trace and feedback used, and a trace's
lineage walking back through its model to the feedback that trained it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmops import datasets, feedback
from llmops.errors import InvalidInput, ValidationFailed
from llmops.ids import new_id
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace
from tests.feedback.conftest import make_traces
from tests.helpers import table_counts


def _rows(ref: str) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "_id"} for r in datasets.read_rows(ref)]


def _upstream(workspace: Workspace, ref: str) -> set[str]:
    version = datasets.get_version(ref)
    graph = LocalTracking(workspace).lineage(f"dataset:{version.id}", depth=1)
    return {e.source for e in graph.upstream}


@pytest.fixture
def judged(workspace: Workspace) -> dict[str, str]:
    """Traces with every kind of feedback; returns name -> trace id."""
    names = ["good", "scored", "fixed", "bad", "ab", "ab_trace", "mixed", "silent", "hotel"]
    ids = dict(zip(names, make_traces(
        workspace,
        {"question": "Capital of Portugal?", "answer": "Lisbon"},
        {"question": "Mail me at ana@example.com", "answer": "Sent to ana@example.com"},
        {"question": "Where is Porto?", "answer": "In Spain"},
        {"question": "Best beach?", "answer": "No idea"},
        {"question": "Museum in Lisbon?", "answer": "Gulbenkian"},
        {"question": "Museum in Lisbon?", "answer": "The zoo"},
        {"question": "Train to Sintra?", "answer": "From Rossio"},
        {"question": "Unjudged", "answer": "whatever"},
        {"question": "Hotel?", "answer": "Ritz", "route": "hotels"}), strict=True))
    feedback.add_feedback(ids["good"], thumbs="up")
    feedback.add_feedback(ids["scored"], score=5)
    feedback.add_feedback(ids["fixed"], thumbs="down",
                          correction="In northern Portugal; call +351 912 345 678")
    feedback.add_feedback(ids["bad"], score=1)
    feedback.add_feedback(ids["ab"], preference={"chosen": "this",
                                                 "other_trace_id": ids["ab_trace"]})
    feedback.add_feedback(ids["good"], preference={"chosen": "other",
                                                   "other_output": "Lisbon, on the Tagus"})
    feedback.add_feedback(ids["mixed"], score=5)
    feedback.add_feedback(ids["mixed"], thumbs="down")
    feedback.add_feedback(ids["hotel"], score=5)
    feedback.add_feedback(ids["silent"], score=5, source="auto:judge.helpful",
                          actor="llmops:online-eval")
    return ids


def test_sft_rows_from_good_feedback_and_corrections(workspace: Workspace,
                                                     judged: dict[str, str]) -> None:
    report = feedback.dataset_from_traces("travel-sft", kind="sft", where="route == 'travel'")
    assert report.created and report.version.kind == "chat"
    assert _rows("travel-sft@1") == [
        {"messages": [{"role": "user", "content": "Capital of Portugal?"},
                      {"role": "assistant", "content": "Lisbon"}]},
        {"messages": [{"role": "user", "content": "Mail me at <EMAIL_1>"},
                      {"role": "assistant", "content": "Sent to <EMAIL_1>"}]},
        {"messages": [{"role": "user", "content": "Where is Porto?"},
                      {"role": "assistant",
                       "content": "In northern Portugal; call <PHONE_1>"}]},
    ]
    assert report.redactions == {"email": 2, "phone": 1}
    used = {f"trace:{judged[n]}" for n in ("good", "scored", "fixed")}
    fb = {f.id for n in ("good", "scored", "fixed") for f in
          feedback.list_feedback(trace_id=judged[n])
          if f.thumbs == 1 or f.score == 5 or f.correction}
    assert set(report.trace_ids) == {u[6:] for u in used} and set(report.feedback_ids) == fb
    assert _upstream(workspace, "travel-sft@1") == used | {f"feedback:{i}" for i in fb}
    # identical content: the same version, lineage intact
    again = feedback.dataset_from_traces("travel-sft", kind="sft", where="route == 'travel'")
    assert not again.created and again.version.id == report.version.id
    kept = feedback.dataset_from_traces("travel-raw", kind="sft", where="route == 'travel'",
                                        redact=False, min_score=5)
    assert "ana@example.com" in json.dumps(_rows("travel-raw@1")) and kept.redactions == {}


def test_preference_rows_from_corrections_and_ab_judgements(workspace: Workspace,
                                                            judged: dict[str, str]) -> None:
    report = feedback.dataset_from_traces("travel-prefs", kind="preference")
    assert report.version.kind == "preference"
    rows = _rows("travel-prefs@1")
    assert rows == [
        {"prompt": [{"role": "user", "content": "Capital of Portugal?"}],
         "chosen": "Lisbon, on the Tagus", "rejected": "Lisbon"},
        {"prompt": [{"role": "user", "content": "Where is Porto?"}],
         "chosen": "In northern Portugal; call <PHONE_1>", "rejected": "In Spain"},
        {"prompt": [{"role": "user", "content": "Museum in Lisbon?"}],
         "chosen": "Gulbenkian", "rejected": "The zoo"},
    ]
    upstream = _upstream(workspace, "travel-prefs@1")
    assert {f"trace:{judged[n]}" for n in ("good", "fixed", "ab", "ab_trace")} <= upstream
    assert len([n for n in upstream if n.startswith("feedback:")]) == 3


def test_eval_rows_from_corrections(workspace: Workspace, judged: dict[str, str]) -> None:
    feedback.dataset_from_traces("travel-eval", kind="eval", redact=False)
    assert _rows("travel-eval@1") == [
        {"input": "Where is Porto?",
         "reference": "In northern Portugal; call +351 912 345 678"}]


def test_bad_from_traces_input_is_refused_and_changes_nothing(
        workspace: Workspace, judged: dict[str, str]) -> None:
    before = table_counts(workspace.store)
    cases = [
        ({"kind": "dpo"}, InvalidInput, "unknown kind 'dpo': use sft, preference or eval"),
        ({"kind": "sft", "min_score": 6}, ValidationFailed, "min_score must be from 1 to 5, "
                                                            "not 6"),
        ({"kind": "sft", "where": "colour = 1"}, InvalidInput,
         "invalid --where: unknown column 'colour' at offset 0"),
        ({"kind": "eval", "where": "route == 'hotels'"}, InvalidInput,
         "no eval rows: 1 answered trace(s) with human feedback match --where \"route == "
         "'hotels'\", and none has a correction"),
        ({"kind": "sft", "where": "route == 'nowhere'"}, InvalidInput,
         "no sft rows: 0 answered trace(s) with human feedback match --where \"route == "
         "'nowhere'\", and none has a correction or good feedback (thumbs up or score >= 4)"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error) as err:
            feedback.dataset_from_traces("out", **kwargs)  # type: ignore[arg-type]
        assert err.value.detail.startswith(message), err.value.detail
    assert table_counts(workspace.store) == before


def test_lineage_of_a_trace_walks_back_to_the_feedback_that_trained_its_model(
        workspace: Workspace, judged: dict[str, str]) -> None:
    report = feedback.dataset_from_traces("travel-prefs", kind="preference")
    tracking = LocalTracking(workspace)
    run = tracking.create_run(name="dpo")  # stands for `llmops train dpo --data travel-prefs@1`
    model_version = new_id()
    tracking.add_lineage(f"dataset:{report.version.id}", f"run:{run.id}", "input")
    tracking.add_lineage(f"run:{run.id}", f"model:{model_version}", "produced")
    [answer] = make_traces(workspace, {"model_version_id": model_version})
    fixed = feedback.list_feedback(trace_id=judged["fixed"])[0]
    shown = subprocess.run([sys.executable, "-m", "llmops", "lineage", "show",
                            f"trace:{answer}", "--json"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    edges = {(e["source"], e["relation"], e["target"])
             for e in json.loads(shown.stdout)["upstream"]}
    assert (f"model:{model_version}", "served", f"trace:{answer}") in edges
    assert (f"run:{run.id}", "produced", f"model:{model_version}") in edges
    assert (f"dataset:{report.version.id}", "input", f"run:{run.id}") in edges
    assert (f"feedback:{fixed.id}", "used", f"dataset:{report.version.id}") in edges
    assert (f"trace:{judged['fixed']}", "feedback", f"feedback:{fixed.id}") in edges


def test_from_traces_cli(workspace: Workspace, judged: dict[str, str]) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "llmops", "datasets", "from-traces",
                               *args], capture_output=True, text=True)

    made = run("travel-eval", "--kind", "eval", "--where", "route == 'travel'", "--since",
               "1h", "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["version"]["kind"] == "eval" and report["version"]["row_count"] == 1
    assert report["trace_ids"] == [judged["fixed"]] and report["redactions"] == {"phone": 1}
    assert (report["version"]["source"]["type"], report["version"]["source"]["traces"],
            report["version"]["source"]["feedback"]) == ("traces", 1, 1)
    printed = run("travel-sft", "--kind", "sft", "--min-score", "5", "--no-redact")
    assert printed.returncode == 0, printed.stderr
    assert "Created dataset:travel-sft@1 (chat, 4 rows" in printed.stdout  # hotels too
    assert "from 4 trace(s) and 4 feedback row(s)" in printed.stdout
    before = table_counts(workspace.store)
    bad = run("out", "--kind", "sft", "--min-score", "0")
    assert bad.returncode == 1 and "min_score must be from 1 to 5, not 0" in bad.stderr
    unknown = run("out", "--kind", "rlhf")
    assert unknown.returncode == 1
    assert "unknown kind 'rlhf': use sft, preference or eval" in unknown.stderr
    assert table_counts(workspace.store) == before
