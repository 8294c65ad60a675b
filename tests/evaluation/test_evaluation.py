"""Evaluations of models, endpoints and prediction files: recorded, cached, resumable;
failed examples never counted silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from llmops import datasets, registry
from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.evaluation import evaluate, get_evaluation, list_evaluations
from llmops.evaluation.store import read_examples
from llmops.evaluation.targets import ModelTarget
from llmops.tracking import open_tracking
from tests.fake_openai import fake_openai
from tests.helpers import free_port
from tests.tiny import qa_rows

VAL = "travel-qa@1#val"  # 11 rows


def _references() -> list[str]:
    return [r["messages"][-1]["content"] for r in datasets.read_rows(VAL)]


def test_a_model_evaluation_is_recorded_with_examples_and_lineage(
        home: Settings, tiny_base: Path, tmp_path: Path) -> None:
    version = registry.register("tiny", tiny_base)
    result = evaluate("model:tiny@1", VAL, metrics=["rougeL", "bleu"], max_new_tokens=8)
    assert (result.total, result.failed, result.cached, result.status) == (11, 0, 0, "complete")
    assert {"rougeL", "bleu", "latency_ms"} <= set(result.metrics)
    assert result.target == "model:tiny@1" and result.model_version_id == version.id
    assert get_evaluation(result.id) == result and list_evaluations() == [result]

    table = read_examples(result)
    assert table.num_rows == 11
    assert {"row_id", "input", "output", "reference", "rougeL", "bleu", "error"} <= set(
        table.column_names)
    assert json.loads(table.column("input")[0].as_py())[-1]["role"] == "user"
    assert table.column("reference").to_pylist() == _references()

    graph = open_tracking().lineage(f"eval:{result.id}")
    sources = {e.source for e in graph.upstream}
    assert {f"model:{version.id}", f"dataset:{datasets.get_version(VAL).id}"} <= sources
    assert registry.get("tiny@1").metrics["eval.rougeL"] == pytest.approx(
        result.metrics["rougeL"])


def test_a_second_evaluation_is_served_from_the_cache(home: Settings, tiny_base: Path) -> None:
    registry.register("tiny", tiny_base)
    first = evaluate("model:tiny@1", VAL, max_new_tokens=8)
    second = evaluate("model:tiny@1", VAL, max_new_tokens=8)
    assert (first.cached, second.cached) == (0, 11)
    assert read_examples(first).column("output") == read_examples(second).column("output")
    third = evaluate("model:tiny@1", VAL, max_new_tokens=9)  # other settings: no reuse
    assert third.cached == 0


def test_an_interrupted_evaluation_resumes_without_regenerating(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.register("tiny", tiny_base)
    real = ModelTarget.answer
    calls = {"n": 0}

    def flaky(self: ModelTarget, *args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ModelTarget, "answer", flaky)
    with pytest.raises(KeyboardInterrupt):
        evaluate("model:tiny@1", VAL, batch_size=2, max_new_tokens=8)  # chunks of 8 rows
    assert list_evaluations() == []
    monkeypatch.setattr(ModelTarget, "answer", real)
    resumed = evaluate("model:tiny@1", VAL, batch_size=2, max_new_tokens=8)
    assert (resumed.cached, resumed.total, resumed.failed) == (8, 11, 0)


def test_an_endpoint_is_retried_on_429_and_5xx(home: Settings) -> None:
    seen = {"n": 0}

    def reply(messages: list[dict[str, str]]) -> tuple[int, str]:
        seen["n"] += 1
        if seen["n"] in (1, 2):
            return (429, "slow down") if seen["n"] == 1 else (503, "busy")
        return 200, "In Lisbon, try pasteis de nata."

    with fake_openai(reply) as fake:
        result = evaluate(endpoint=fake.url, model_name="travel", data=VAL, metrics=["rougeL"])
    assert (result.total, result.failed, result.status) == (11, 0, "complete")
    assert result.target == f"endpoint:{fake.url}#travel"
    assert len(fake.requests) == 13
    assert fake.requests[0]["body"]["model"] == "travel"


def test_an_endpoint_that_is_down_makes_the_evaluation_incomplete(home: Settings) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = evaluate(endpoint=url, model_name="m", data=VAL, metrics=["rougeL"])
    assert (result.status, result.failed, result.total) == ("incomplete", 11, 11)
    assert "rougeL" not in result.metrics  # nothing scored, nothing averaged
    errors = read_examples(result).column("error").to_pylist()
    assert all(e and "did not answer" in e for e in errors)


def test_predictions_files_match_rows_by_id_or_order(home: Settings, tmp_path: Path) -> None:
    rows = datasets.read_rows(VAL)
    by_id = tmp_path / "by-id.jsonl"
    by_id.write_text("".join(json.dumps({"_id": r["_id"], "output": r["messages"][-1][
        "content"]}) + "\n" for r in reversed(rows)))
    perfect = evaluate(predictions=by_id, data=VAL, metrics=["exact_match", "rougeL"])
    assert perfect.metrics["exact_match"] == 1.0 and perfect.target == "predictions:by-id.jsonl"

    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"output": "x"}) + "\n")
    with pytest.raises(InvalidInput, match="has 1 predictions for 11 rows"):
        evaluate(predictions=short, data=VAL)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"output": "fine"}\n{oops\n')
    with pytest.raises(InvalidInput, match=r"broken.jsonl, line 2: not JSON"):
        evaluate(predictions=broken, data=VAL)
    assert len(list_evaluations()) == 1


def test_bad_input_fails_before_generation(home: Settings) -> None:
    datasets.import_dataset("notes", [{"text": "Lisbon is lovely."}], kind="text")
    with pytest.raises(InvalidInput, match="'text' dataset, which has no references"):
        evaluate("/never/loaded", "notes@1")
    rows = qa_rows(2)
    rows[1]["messages"] = rows[1]["messages"][:2]  # type: ignore[index]
    datasets.import_dataset("open-ended", rows, kind="chat")
    with pytest.raises(InvalidInput, match="must end with an assistant message"):
        evaluate("/never/loaded", "open-ended@1")
    with pytest.raises(InvalidInput, match="unknown metric meteor"):
        evaluate("/never/loaded", VAL, metrics=["meteor"])
    with pytest.raises(InvalidInput, match="give exactly one target"):
        evaluate(data=VAL)
    with pytest.raises(InvalidInput, match="threshold on 'bleu', which the suite does not "
                                           "produce"):
        evaluate("/never/loaded", VAL, metrics=["rougeL"], thresholds={"bleu": 10})
    assert list_evaluations() == []


def test_examples_parquet_is_a_run_artifact_too(home: Settings, tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"output": "Paris"}) + "\n" for _ in range(11)))
    result = evaluate(predictions=path, data=VAL)
    table = pq.read_table(open_tracking().download_artifact(result.run_id or "",
                                                            "examples.parquet",
                                                            tmp_path / "e.parquet"))
    assert table.num_rows == 11


def test_perplexity_tokens_and_cost(home: Settings, tiny_base: Path) -> None:
    import math

    registry.register("tiny", tiny_base)
    result = evaluate("model:tiny@1", VAL, max_new_tokens=4, perplexity=True)
    vocab = 400  # a random model is about as unsure as the vocabulary is large
    assert vocab / 4 < result.metrics["perplexity"] < vocab * 4
    per_row = read_examples(result).column("perplexity").to_pylist()
    assert all(p > 1 for p in per_row) and not any(math.isnan(p) for p in per_row)
    with pytest.raises(InvalidInput, match="perplexity needs the model's weights"):
        evaluate(endpoint="http://127.0.0.1:9/v1", model_name="m", data=VAL, perplexity=True)

    with fake_openai(lambda m: (200, "one two three")) as fake:
        priced = evaluate(endpoint=fake.url, model_name="m", data=VAL,
                          price_per_1k_tokens=2.0)
    assert priced.metrics["tokens"] == 3.0
    assert priced.metrics["cost"] == pytest.approx(11 * 3 * 2.0 / 1000)


def test_one_failing_example_does_not_sink_a_model_evaluation(
        home: Settings, tiny_base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.evaluation.generate import LocalGenerator

    registry.register("tiny", tiny_base)
    poison = datasets.read_rows(VAL)[3]["messages"][1]["content"]
    real = LocalGenerator.generate

    def generate(self: LocalGenerator, prompts: Any, **kw: Any) -> list[str]:
        if any(p[-1]["content"] == poison for p in prompts):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(self, prompts, **kw)

    monkeypatch.setattr(LocalGenerator, "generate", generate)
    result = evaluate("model:tiny@1", VAL, max_new_tokens=4, batch_size=4)
    assert (result.total, result.failed, result.status) == (11, 1, "incomplete")
    table = read_examples(result)
    errors = table.column("error").to_pylist()
    assert errors[3] == "RuntimeError: CUDA out of memory (simulated)"
    assert table.column("rougeL").to_pylist()[3] is None  # not scored, not averaged
    assert "eval.rougeL" not in registry.get("tiny@1").metrics  # incomplete: not recorded


def test_endpoint_answers_are_not_cached(home: Settings) -> None:
    with fake_openai(lambda m: (200, "same")) as fake:
        evaluate(endpoint=fake.url, model_name="m", data=VAL)
        again = evaluate(endpoint=fake.url, model_name="m", data=VAL)
    assert again.cached == 0 and len(fake.requests) == 22
