"""LLM judges against a fake OpenAI-compatible server: scores parsed against the prompt's
schema, retries, errors recorded as errors, and pairwise in both orders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.config import Settings
from llmops.evaluation import evaluate
from llmops.evaluation.judges import Judge, JudgeSpec, Verdict
from llmops.evaluation.store import read_examples
from llmops.evaluation.targets import Failure
from llmops.prompts.registry import LocalPromptRegistry
from llmops.workspace import Workspace
from tests.fake_openai import fake_openai

VAL = "travel-qa@1#val"


def _answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"output": f"answer {i}"}) + "\n" for i in range(11)))
    return path


def _judge(url: str, name: str = "helpfulness", kind: str = "rubric") -> dict[str, object]:
    return {"name": name, "kind": kind, "endpoint": url, "model": "judge"}


def test_rubric_scores_are_averaged_and_the_judge_prompt_is_a_version(
        home: Settings, tmp_path: Path) -> None:
    with fake_openai(lambda m: (200, '```json\n{"score": 4, "reason": "clear"}\n```')) as fake:
        result = evaluate(predictions=_answers(tmp_path), data=VAL, metrics=["rougeL"],
                          judges=[_judge(fake.url)])
    assert result.metrics["judge.helpfulness"] == 4.0 and result.status == "complete"
    table = read_examples(result)
    assert table.column("judge.helpfulness.reason").to_pylist() == ["clear"] * 11
    sent = fake.requests[0]["body"]
    assert "for helpfulness" in sent["messages"][0]["content"]
    assert sent["response_format"] == {"type": "json_object"}
    version = LocalPromptRegistry(Workspace.open()).get("judge-rubric")
    assert result.config["judge_prompts"] == [version.ref] == ["prompt:judge-rubric@1"]


def test_an_invalid_reply_is_asked_again_then_recorded_as_an_error(
        home: Settings, tmp_path: Path) -> None:
    def reply(messages: list[dict[str, str]]) -> tuple[int, str]:
        user = messages[-1]["content"]
        if "answer 0" in user:
            return 200, '{"score": 9, "reason": "out of range"}'  # never valid
        if "answer 1" in user and not reply.asked:  # type: ignore[attr-defined]
            reply.asked = True  # type: ignore[attr-defined]
            return 200, "I think it is a 3"
        return 200, '{"score": 2, "reason": "vague"}'

    reply.asked = False  # type: ignore[attr-defined]
    with fake_openai(reply) as fake:
        result = evaluate(predictions=_answers(tmp_path), data=VAL, metrics=["rougeL"],
                          judges=[{**_judge(fake.url), "concurrency": 1}])
    assert result.status == "incomplete" and result.failed == 1
    assert result.metrics["judge.helpfulness"] == 2.0  # the 10 valid verdicts only
    assert read_examples(result).column("rougeL").to_pylist()[0] is None
    errors = [e for e in read_examples(result).column("error").to_pylist() if e]
    assert len(errors) == 1 and "reply not valid for the schema after 3 tries" in errors[0]


def test_a_judge_endpoint_that_is_down_leaves_the_evaluation_incomplete(
        home: Settings, tmp_path: Path) -> None:
    with fake_openai(lambda m: (500, "boom")) as fake:
        result = evaluate(predictions=_answers(tmp_path), data=VAL, metrics=["rougeL"],
                          judges=[_judge(fake.url)])
    assert (result.status, result.failed) == ("incomplete", 11)
    assert "judge.helpfulness" not in result.metrics
    assert "rougeL" not in result.metrics  # every summary is over fully scored examples
    assert len(fake.requests) == 11 * 4  # each asked once and retried three times


def test_reference_judge_sees_the_reference(home: Settings, tmp_path: Path) -> None:
    with fake_openai(lambda m: (200, '{"score": 5, "reason": "matches"}')) as fake:
        evaluate(predictions=_answers(tmp_path), data=VAL, metrics=["rougeL"],
                 judges=[_judge(fake.url, "correctness", "reference")])
    assert "Reference answer:" in fake.requests[0]["body"]["messages"][1]["content"]


@pytest.mark.parametrize(("first", "second", "expected"), [
    ("B", "A", 1.0),    # B wins in both orders
    ("A", "B", 0.0),    # A wins in both orders
    ("B", "B", 0.5),    # position bias: the second slot always wins -> tie
    ("tie", "tie", 0.5),
])
def test_pairwise_runs_both_orders(home: Settings, first: str, second: str,
                                   expected: float) -> None:
    answers = iter([first, second])
    with fake_openai(lambda m: (200, json.dumps({"winner": next(answers),
                                                 "reason": "r"}))) as fake:
        judge = Judge(JudgeSpec(**_judge(fake.url, "preference", "pairwise")))  # type: ignore[arg-type]
        [verdict] = judge.prefer([("Where?", "answer a", "answer b")])
    assert isinstance(verdict, Verdict) and verdict.score == expected
    swapped = fake.requests[1]["body"]["messages"][1]["content"]
    assert swapped.index("answer b") < swapped.index("answer a")


def test_pairwise_failure_is_a_failure(home: Settings) -> None:
    with fake_openai(lambda m: (200, "not json")) as fake:
        judge = Judge(JudgeSpec(**_judge(fake.url, "preference", "pairwise")))  # type: ignore[arg-type]
        [verdict] = judge.prefer([("Where?", "a", "b")])
    assert isinstance(verdict, Failure)
