"""Comparisons with paired bootstrap intervals, and gated promotions, from Python, the
CLI and HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops import datasets, registry
from llmops.cli.app import app
from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.evaluation import compare, evaluate
from llmops.evaluation.gates import parse_gate, promote
from tests.tiny import qa_rows

runner = CliRunner()


@pytest.fixture
def qa200(home: Settings) -> str:
    datasets.import_dataset("qa200", qa_rows(200), kind="chat")
    return "qa200@1"


def _predictions(tmp_path: Path, name: str, data: str, good_every: int) -> Path:
    """Every `good_every`-th answer is the reference; the others are a fixed wrong one."""
    rows = datasets.read_rows(data)
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"_id": r["_id"], "output": r["messages"][-1]["content"]
                                        if i % good_every == 0 else "I do not know."}) + "\n"
                            for i, r in enumerate(rows)))
    return path


def test_a_real_improvement_has_an_interval_above_zero(qa200: str, tmp_path: Path) -> None:
    a = evaluate(predictions=_predictions(tmp_path, "a", qa200, 4), data=qa200,
                 metrics=["rougeL", "bleu", "exact_match"])
    b = evaluate(predictions=_predictions(tmp_path, "b", qa200, 2), data=qa200,
                 metrics=["rougeL", "bleu", "exact_match"])
    result = compare(a.id, b.id, resamples=500)
    deltas = {d.metric: d for d in result.deltas}
    assert set(deltas) >= {"rougeL", "bleu", "exact_match"}
    em = deltas["exact_match"]
    assert (em.a, em.b, em.n) == (0.25, 0.5, 200)
    assert em.ci_low > 0 and em.p_value < 0.01 and em.significant
    assert deltas["bleu"].a == pytest.approx(a.metrics["bleu"])  # the corpus score itself
    assert deltas["bleu"].ci_low > 0
    same = compare(a.id, a.id, resamples=200)
    assert all(d.diff == 0 and d.p_value == 1.0 for d in same.deltas)
    assert result.regressed["exact_match"] == []  # B only added right answers

    worse = compare(b.id, a.id, resamples=200)
    assert len(worse.regressed["exact_match"]) == 5
    pair = worse.regressed["exact_match"][0]
    assert (pair.score_a, pair.score_b, pair.output_b) == (1.0, 0.0, "I do not know.")


def test_compare_cli_writes_a_self_contained_html_report(qa200: str, tmp_path: Path) -> None:
    a = evaluate(predictions=_predictions(tmp_path, "a", qa200, 4), data=qa200)
    b = evaluate(predictions=_predictions(tmp_path, "b", qa200, 2), data=qa200)
    report = tmp_path / "report.html"
    result = runner.invoke(app, ["eval", "compare", a.id, b.id, "--html", str(report),
                                 "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert "rougeL" in result.stdout and "95% CI" in result.stdout
    page = report.read_text()
    assert "<svg" in page and "http://" not in page and "<script" not in page


def test_comparing_different_datasets_is_refused(qa200: str, tmp_path: Path) -> None:
    a = evaluate(predictions=_predictions(tmp_path, "a", qa200, 2), data=qa200)
    b = evaluate(predictions=_predictions(tmp_path, "b", "travel-qa@1#val", 1),
                 data="travel-qa@1#val")
    with pytest.raises(InvalidInput, match="compare evaluations of the same dataset version"):
        compare(a.id, b.id)


@pytest.mark.parametrize(("text", "message"), [
    ("rougeL >>= 1", "does not parse"),
    ("rougeL >= production -", "does not parse"),
    ("bleu >= 20", "names metric 'bleu', which the evaluation does not produce (it produces "
                   "rougeL)"),
])
def test_bad_gates_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_gate(text, ["rougeL"])


def test_gates_parse() -> None:
    gate = parse_gate("rougeL >= production - 0.01", ["rougeL"])
    assert (gate.metric, gate.op, gate.alias, gate.delta) == ("rougeL", ">=", "production",
                                                              -0.01)
    assert parse_gate("judge.helpfulness>=4", ["judge.helpfulness"]).value == 4.0


def test_promotion_moves_the_alias_only_when_every_gate_passes(
        home: Settings, tiny_base: Path) -> None:
    registry.register("travel", tiny_base)
    registry.register("travel", tiny_base)  # same weights: the same scores
    suite = {"data": "travel-qa@1#val", "metrics": ["rougeL"], "max_new_tokens": 8}
    first = promote("travel", 1, "production", ["rougeL >= production - 0.01"], **suite)
    assert first.passed and first.moved
    assert first.gates[0].note == "no version holds 'production' yet: nothing to compare with"
    assert registry.get("travel@production").version == 1

    second = promote("travel", 2, "production", ["rougeL >= production + 0.5",
                                                 "rougeL >= 0"], **suite)
    assert not second.passed and not second.moved
    failed, passed = second.gates
    assert not failed.passed and failed.margin == pytest.approx(-0.5)
    assert failed.baseline == "model:travel@1" and passed.passed
    assert registry.get("travel@production").version == 1  # unchanged
    recorded = registry.get("travel@2").gates
    assert recorded[-1]["passed"] is False and recorded[-1]["alias"] == "production"
    assert second.baseline_evals["production"] != second.candidate_eval


def test_promote_cli_exits_1_with_a_report_and_2_on_a_bad_gate(
        home: Settings, tiny_base: Path) -> None:
    registry.register("travel", tiny_base)
    bad = runner.invoke(app, ["models", "promote", "travel", "1", "--data", "travel-qa@1#val",
                              "--gate", "bleu >= 1"])
    assert bad.exit_code == 2 and "does not produce" in re.sub(r"[\s│]+", " ", bad.output)
    refused = runner.invoke(app, ["models", "promote", "travel", "1", "--data",
                                  "travel-qa@1#val", "--max-new-tokens", "4", "--gate",
                                  "rougeL >= 0.99", "--quiet"])
    assert refused.exit_code == 1
    assert "FAIL  rougeL >= 0.99" in refused.stdout and "not promoted" in refused.stdout
    ok = runner.invoke(app, ["models", "promote", "travel", "1", "--data", "travel-qa@1#val",
                             "--max-new-tokens", "4", "--gate", "rougeL >= 0", "--quiet"])
    assert ok.exit_code == 0 and "travel@production -> 1" in ok.stdout


def test_eval_run_cli_with_a_suite_and_threshold(home: Settings, tmp_path: Path) -> None:
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"output": "no idea"}) + "\n" for _ in range(11)))
    suite = tmp_path / "suite.yaml"
    suite.write_text("data: travel-qa@1#val\nmetrics: [rougeL, exact_match]\n"
                     "thresholds: {exact_match: 0.5}\n")
    result = runner.invoke(app, ["eval", "run", "--predictions", str(answers), "--suite",
                                 str(suite), "--json"])
    assert result.exit_code == 1  # below the threshold
    recorded = json.loads(result.stdout)
    assert recorded["metrics"]["exact_match"] == 0.0 and recorded["total"] == 11
    listed = json.loads(runner.invoke(app, ["eval", "list", "--json"]).stdout)
    assert [e["id"] for e in listed] == [recorded["id"]]


def test_compare_with_a_pairwise_judge(qa200: str, tmp_path: Path) -> None:
    from tests.fake_openai import fake_openai

    a = evaluate(predictions=_predictions(tmp_path, "a", qa200, 4), data=qa200)
    b = evaluate(predictions=_predictions(tmp_path, "b", qa200, 2), data=qa200)

    def reply(messages: list[dict[str, str]]) -> tuple[int, str]:
        # prefers whichever answer is not the refusal; ties when both are the same kind
        text = messages[-1]["content"]
        first, second = text.split("Answer A:\n")[1].split("\n\nAnswer B:\n")
        winner = "tie" if (first == "I do not know.") == (second == "I do not know.") else (
            "B" if first == "I do not know." else "A")
        return 200, json.dumps({"winner": winner, "reason": "r"})

    with fake_openai(reply) as fake:
        result = runner.invoke(app, ["eval", "compare", a.id, b.id, "--resamples", "200",
                                     "--judge", "pairwise:preference", "--judge-endpoint",
                                     fake.url, "--judge-model", "judge", "--json"])
    assert result.exit_code == 0, result.output
    delta = {d["metric"]: d for d in json.loads(result.stdout)["deltas"]}[
        "judge.preference.win_rate_b"]
    # B is right on half the rows, A on a quarter (a subset): B wins 1/4 of rows, rest tie
    assert delta["b"] == pytest.approx(0.25 * 1 + 0.75 * 0.5)
    assert delta["ci_low"] > 0 and delta["n"] == 200


def test_review_fixes_for_gates() -> None:
    from llmops.evaluation.gates import check
    from llmops.evaluation.models import Evaluation

    gate = parse_gate("rougeL >= production-0.01", ["rougeL"])  # no spaces
    assert (gate.alias, gate.delta) == ("production", -0.01)

    def ev(status: str, value: float) -> Evaluation:
        return Evaluation(id="e", status=status, target="t", data="d", dataset_version_id="x",
                          metrics={"rougeL": value}, total=10, failed=0 if status ==
                          "complete" else 3, examples="sha256:0", created_at=0, created_by="a")

    typo = parse_gate("rougeL >= prodution", ["rougeL"])
    assert not check(typo, ev("complete", 0.9), None, None, promoting="production").passed
    first = check(gate, ev("complete", 0.9), None, None, promoting="production")
    assert first.passed
    incomplete = check(parse_gate("rougeL >= 0.1", ["rougeL"]), ev("incomplete", 0.9), None,
                       None)
    assert not incomplete.passed and "is incomplete (3 of 10 examples failed)" in (
        incomplete.note or "")
