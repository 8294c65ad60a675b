"""Reference metrics equal the libraries', and an evaluation is a recorded run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from llmops import datasets
from llmops.errors import InvalidInput
from llmops.evaluation import evaluate, score
from llmops.tracking import open_tracking
from tests.tiny import qa_rows

PAIRS = [(f"In city {i}, try dish {i % 7} and walk the old town.",
          f"In city {i}, try dish {i % 5} and the market.") for i in range(300)]


def test_scores_equal_the_libraries() -> None:
    predictions, references = zip(*PAIRS, strict=True)
    got = score(["bleu", "chrf", "rougeL", "exact_match"], predictions, references)
    assert got["bleu"][0] == pytest.approx(
        sacrebleu.corpus_bleu(list(predictions), [list(references)]).score, abs=1e-9)
    assert got["chrf"][0] == pytest.approx(
        sacrebleu.corpus_chrf(list(predictions), [list(references)]).score, abs=1e-9)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = [scorer.score(r, p)["rougeL"].fmeasure for p, r in PAIRS]
    assert got["rougeL"][0] == pytest.approx(sum(expected) / len(expected), abs=1e-9)
    assert got["exact_match"][0] == 0.0


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown metric meteor: use bleu, chrf"):
        score(["meteor"], ["a"], ["b"])


def test_evaluate_records_a_run_with_examples_and_lineage(home: object, tiny_base: Path,
                                                          tmp_path: Path) -> None:
    result = evaluate(str(tiny_base), "travel-qa@1#val", metrics=["rougeL", "bleu"],
                      max_new_tokens=8)
    assert result.count == 11 and set(result.metrics) == {"rougeL", "bleu"}
    tracking = open_tracking()
    run = tracking.get_run(result.run_id or "")
    assert run.metrics["rougeL"].value == pytest.approx(result.metrics["rougeL"])
    table = pq.read_table(tracking.download_artifact(run.id, "examples.parquet",
                                                     tmp_path / "e.parquet"))
    assert table.num_rows == 11 and {"input", "output", "reference", "rougeL"} <= set(
        table.column_names)
    assert json.loads(table.column("input")[0].as_py())[-1]["role"] == "user"
    version = datasets.get_version("travel-qa@1")
    assert any(e.source == f"dataset:{version.id}" for e in tracking.lineage(
        f"run:{run.id}").upstream)


def test_a_dataset_without_references_fails_before_generation(home: object) -> None:
    datasets.import_dataset("notes", [{"text": "Lisbon is lovely."}], kind="text")
    with pytest.raises(InvalidInput, match="'text' dataset, which has no references"):
        evaluate("/never/loaded", "notes@1")
    rows = qa_rows(2)
    rows[1]["messages"] = rows[1]["messages"][:2]  # type: ignore[index]
    datasets.import_dataset("open-ended", rows, kind="chat")
    with pytest.raises(InvalidInput, match="must end with an assistant message"):
        evaluate("/never/loaded", "open-ended@1")
