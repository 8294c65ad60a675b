"""Reference metrics, one registry. A metric is one function over (predictions,
references) returning the corpus score and per-example scores; BLEU and chrF come from
sacrebleu and ROUGE from rouge-score, so the numbers are the libraries' own."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from llmops.errors import InvalidInput

Scores = tuple[float, list[float]]  # corpus score, per-example scores


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Sequence[str], Sequence[str]], Scores]
    description: str


METRICS: dict[str, Metric] = {}
# Summary numbers where less is better; every other score is better when higher.
LOWER_IS_BETTER = frozenset({"latency_ms", "perplexity", "cost", "tokens"})


def higher_is_better(name: str) -> bool:
    return name not in LOWER_IS_BETTER


def register_metric(name: str, description: str
                    ) -> Callable[[Callable[[Sequence[str], Sequence[str]], Scores]],
                                  Callable[[Sequence[str], Sequence[str]], Scores]]:
    def add(fn: Callable[[Sequence[str], Sequence[str]], Scores]
            ) -> Callable[[Sequence[str], Sequence[str]], Scores]:
        METRICS[name] = Metric(name, fn, description)
        return fn

    return add


def _sacre(kind: str, predictions: Sequence[str], references: Sequence[str]) -> Scores:
    """The corpus score and each sentence's score from one pass of sacrebleu's own
    statistics extraction: the corpus score is computed from the summed statistics
    exactly as `corpus_bleu`/`corpus_chrf` do, a sentence's from its own statistics
    exactly as `sentence_bleu`/`sentence_chrf` do, without tokenizing twice."""
    import sacrebleu

    corpus = sacrebleu.BLEU() if kind == "bleu" else sacrebleu.CHRF()
    sentence = sacrebleu.BLEU(effective_order=True) if kind == "bleu" else corpus
    stats = corpus._extract_corpus_statistics(list(predictions), [list(references)])
    total = [sum(column) for column in zip(*stats, strict=True)] if stats else []
    score = corpus._compute_score_from_stats(total).score if stats else 0.0
    return score, [sentence._compute_score_from_stats(s).score for s in stats]


@register_metric("bleu", "corpus BLEU (sacrebleu, 0-100)")
def _bleu(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    return _sacre("bleu", predictions, references)


@register_metric("chrf", "corpus chrF (sacrebleu, 0-100)")
def _chrf(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    return _sacre("chrf", predictions, references)


ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@functools.cache
def _stemming_tokenizer() -> Any:
    """rouge-score's own tokenizer with its Porter stemmer memoised: the same tokens, and
    the same scores, without stemming each repeated word again (most of its time)."""
    from rouge_score import tokenizers

    tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
    stemmer = tokenizer._stemmer
    tokenizer._stemmer = SimpleNamespace(stem=functools.lru_cache(maxsize=1 << 17)(
        stemmer.stem))
    return tokenizer


def _rouge_all(kinds: Sequence[str], predictions: Sequence[str], references: Sequence[str]
               ) -> dict[str, Scores]:
    """Every asked ROUGE type from one rouge-score scorer (one tokenization per pair)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(kinds), tokenizer=_stemming_tokenizer())
    scored = [scorer.score(r, p) for p, r in zip(predictions, references, strict=True)]
    out = {}
    for kind in kinds:
        each = [s[kind].fmeasure for s in scored]
        out[kind] = ((sum(each) / len(each) if each else 0.0), each)
    return out


def _rouge(kind: str) -> Callable[[Sequence[str], Sequence[str]], Scores]:
    def fn(predictions: Sequence[str], references: Sequence[str]) -> Scores:
        return _rouge_all([kind], predictions, references)[kind]

    return fn


for _kind in ROUGE:
    register_metric(_kind, f"mean {_kind} F1 (rouge-score, stemmed, 0-1)")(_rouge(_kind))


@register_metric("exact_match", "share of answers equal to the reference (stripped)")
def _exact(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    each = [float(p.strip() == r.strip()) for p, r in zip(predictions, references, strict=True)]
    return (sum(each) / len(each) if each else 0.0), each


def _tokens(text: str) -> list[str]:
    import re

    return re.findall(r"\w+", text.lower())


@register_metric("token_f1", "mean token-overlap F1 (SQuAD-style, lower-cased words)")
def _token_f1(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    from collections import Counter

    each = []
    for p, r in zip(predictions, references, strict=True):
        pt, rt = _tokens(p), _tokens(r)
        common = sum((Counter(pt) & Counter(rt)).values())
        if not pt or not rt or not common:
            each.append(float(pt == rt))
            continue
        precision, recall = common / len(pt), common / len(rt)
        each.append(2 * precision * recall / (precision + recall))
    return (sum(each) / len(each) if each else 0.0), each


@register_metric("json_valid", "share of answers that parse as JSON")
def _json_valid(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    import json

    def valid(text: str) -> float:
        try:
            json.loads(text)
        except ValueError:
            return 0.0
        return 1.0

    each = [valid(p) for p in predictions]
    return (sum(each) / len(each) if each else 0.0), each


@register_metric("regex_match", "share of answers the reference, read as a regular "
                 "expression, matches (re.search)")
def _regex(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    import re

    each = []
    for p, r in zip(predictions, references, strict=True):
        try:
            each.append(float(re.search(r, p) is not None))
        except re.error as exc:
            raise InvalidInput(f"regex_match: reference {r!r} is not a regular expression "
                               f"({exc})") from None
    return (sum(each) / len(each) if each else 0.0), each


@register_metric("json_schema", "share of answers that are JSON valid against the "
                 "reference, read as a JSON Schema")
def _json_schema(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    import json

    import jsonschema

    each = []
    for p, r in zip(predictions, references, strict=True):
        try:
            schema = json.loads(r)
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except (ValueError, jsonschema.SchemaError) as exc:
            raise InvalidInput(f"json_schema: reference {r[:80]!r} is not a JSON Schema "
                               f"({exc})") from None
        try:
            jsonschema.validate(json.loads(p), schema)
            each.append(1.0)
        except (ValueError, jsonschema.ValidationError):
            each.append(0.0)
    return (sum(each) / len(each) if each else 0.0), each


@register_metric("embedding_similarity", "mean cosine similarity of answer and reference "
                 "sentence embeddings (needs llmops[embeddings])")
def _embedding_similarity(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    from llmops.embeddings import embed

    if not predictions:
        return 0.0, []
    a, b = embed(predictions), embed(references)
    each = [float(x) for x in (a * b).sum(axis=1)]
    return sum(each) / len(each), each


@register_metric("length", "mean answer length in characters")
def _length(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    each = [float(len(p)) for p in predictions]
    return (sum(each) / len(each) if each else 0.0), each


def check_metrics(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise InvalidInput(f"unknown metric {', '.join(unknown) or '(none given)'}: use "
                           f"{', '.join(METRICS)}")
    return list(names)


def score(names: Sequence[str], predictions: Sequence[str], references: Sequence[str]
          ) -> dict[str, Scores]:
    """Every named metric over the pairs (the ROUGE types in one pass)."""
    names = check_metrics(names)
    rouge = [n for n in names if n in ROUGE]
    together = _rouge_all(rouge, predictions, references) if rouge else {}
    return {n: together[n] if n in together else METRICS[n].fn(predictions, references)
            for n in names}
