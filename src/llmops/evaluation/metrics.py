"""Reference metrics, one registry. A metric is one function over (predictions,
references) returning the corpus score and per-example scores; BLEU and chrF come from
sacrebleu and ROUGE from rouge-score, so the numbers are the libraries' own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmops.errors import InvalidInput

Scores = tuple[float, list[float]]  # corpus score, per-example scores


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Sequence[str], Sequence[str]], Scores]
    description: str


METRICS: dict[str, Metric] = {}


def register_metric(name: str, description: str
                    ) -> Callable[[Callable[[Sequence[str], Sequence[str]], Scores]],
                                  Callable[[Sequence[str], Sequence[str]], Scores]]:
    def add(fn: Callable[[Sequence[str], Sequence[str]], Scores]
            ) -> Callable[[Sequence[str], Sequence[str]], Scores]:
        METRICS[name] = Metric(name, fn, description)
        return fn

    return add


def _sacre(kind: str, predictions: Sequence[str], references: Sequence[str]) -> Scores:
    import sacrebleu

    corpus = getattr(sacrebleu, f"corpus_{kind}")(list(predictions), [list(references)])
    sentence = getattr(sacrebleu, f"sentence_{kind}")
    return corpus.score, [sentence(p, [r]).score for p, r in zip(predictions, references,
                                                                   strict=True)]


@register_metric("bleu", "corpus BLEU (sacrebleu, 0-100)")
def _bleu(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    return _sacre("bleu", predictions, references)


@register_metric("chrf", "corpus chrF (sacrebleu, 0-100)")
def _chrf(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    return _sacre("chrf", predictions, references)


def _rouge(kind: str) -> Callable[[Sequence[str], Sequence[str]], Scores]:
    def fn(predictions: Sequence[str], references: Sequence[str]) -> Scores:
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer([kind], use_stemmer=True)
        each = [scorer.score(r, p)[kind].fmeasure
                for p, r in zip(predictions, references, strict=True)]
        return (sum(each) / len(each) if each else 0.0), each

    return fn


for _kind in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
    register_metric(_kind, f"mean {_kind} F1 (rouge-score, stemmed, 0-1)")(_rouge(_kind))


@register_metric("exact_match", "share of answers equal to the reference (stripped)")
def _exact(predictions: Sequence[str], references: Sequence[str]) -> Scores:
    each = [float(p.strip() == r.strip()) for p, r in zip(predictions, references, strict=True)]
    return (sum(each) / len(each) if each else 0.0), each


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
    """Every named metric over the pairs."""
    return {n: METRICS[n].fn(predictions, references) for n in check_metrics(names)}
