"""`compare`: is B better than A, per metric, with a paired bootstrap.

Both evaluations must be on the same dataset rows. For each metric the examples both
scored are paired by row id and resampled with replacement (the same indices for A and
B); the 95% interval is the 2.5th-97.5th percentile of B-A over the resamples, and the
p-value is the two-sided share of resamples on the other side of zero. Corpus metrics
(BLEU, chrF) are recomputed from sacrebleu's per-sentence sufficient statistics on each
resample, so their interval is for the corpus score, as sacrebleu's own paired test does.
"""

from __future__ import annotations

from typing import Any

from llmops.errors import InvalidInput
from llmops.evaluation.judges import Judge, JudgeSpec, Verdict
from llmops.evaluation.metrics import higher_is_better
from llmops.evaluation.models import Comparison, Evaluation, ExamplePair, MetricDelta
from llmops.evaluation.store import get_evaluation, read_examples
from llmops.evaluation.targets import Failure

CORPUS = ("bleu", "chrf")


def _corpus_stats(metric: str, outputs: list[str], references: list[str]) -> tuple[Any, Any]:
    """(per-sentence sufficient statistics, stats -> score) for a sacrebleu metric."""
    import numpy as np
    import sacrebleu

    scorer = sacrebleu.BLEU() if metric == "bleu" else sacrebleu.CHRF()
    stats = np.array(scorer._extract_corpus_statistics(outputs, [references]), dtype=float)
    return stats, lambda summed: scorer._compute_score_from_stats(list(summed)).score


def _scores(table: Any) -> dict[str, dict[str, float]]:
    """{metric: {row id: score}} of the per-example columns of one evaluation."""
    ids = table.column("row_id").to_pylist()
    # perplexity's summary is a corpus value (exp of summed NLL over summed tokens) that a
    # mean of per-example perplexities would not reproduce: compare it with `eval show`
    skip = {"row_id", "input", "output", "reference", "error", "tokens", "perplexity"}
    out: dict[str, dict[str, float]] = {}
    for name in table.column_names:
        if name in skip or name.endswith(".reason"):
            continue
        values = table.column(name).to_pylist()
        out[name] = {i: float(v) for i, v in zip(ids, values, strict=True) if v is not None}
    return out


def _preference(judge: JudgeSpec, ids: list[str], rows_a: dict[str, Any],
                rows_b: dict[str, Any], rng: Any, resamples: int) -> MetricDelta:
    """A pairwise judge's share of wins for B (ties count half) against the 0.5 of no
    preference; examples the judge failed on are left out."""
    import json

    import numpy as np

    items = [(json.loads(rows_a[i]["input"])[-1]["content"], rows_a[i]["output"],
              rows_b[i]["output"]) for i in ids]
    verdicts = Judge(judge).prefer(items)
    wins = np.array([v.score for v in verdicts if isinstance(v, Verdict)])
    if not len(wins):
        raise InvalidInput(f"judge {judge.name} failed on every example: "
                           f"{next(v for v in verdicts if isinstance(v, Failure)).error}")
    n = len(wins)
    boot = wins[rng.integers(0, n, size=(resamples, n))].mean(axis=1) - 0.5
    low, high = np.percentile(boot, [2.5, 97.5])
    p = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    rate = float(wins.mean())
    return MetricDelta(metric=f"{judge.metric}.win_rate_b", a=0.5, b=rate, diff=rate - 0.5,
                       ci_low=float(low), ci_high=float(high), p_value=p, n=n)


def compare(a: str | Evaluation, b: str | Evaluation, *, resamples: int = 2000,
            seed: int = 0, worst: int = 5, judge: JudgeSpec | None = None) -> Comparison:
    """B minus A for every metric both evaluations have, with intervals and p-values,
    and the examples that regressed most; with a pairwise `judge`, also its share of
    preferences for B, asked in both orders."""
    import numpy as np

    ea = a if isinstance(a, Evaluation) else get_evaluation(a)
    eb = b if isinstance(b, Evaluation) else get_evaluation(b)
    if ea.dataset_version_id != eb.dataset_version_id:
        raise InvalidInput(f"eval:{ea.id} is on {ea.data} and eval:{eb.id} on {eb.data}: "
                           "compare evaluations of the same dataset version")
    ta, tb = read_examples(ea), read_examples(eb)
    sa, sb = _scores(ta), _scores(tb)
    rows_a = {r["row_id"]: r for r in ta.to_pylist()}
    rows_b = {r["row_id"]: r for r in tb.to_pylist()}
    rng = np.random.default_rng(seed)
    deltas, regressed = [], {}
    for metric in [m for m in sa if m in sb]:
        ids = sorted(set(sa[metric]) & set(sb[metric]))
        if not ids:
            continue
        n = len(ids)
        picks = rng.integers(0, n, size=(resamples, n))
        if metric in CORPUS:
            stats_a, fa = _corpus_stats(metric, [rows_a[i]["output"] for i in ids],
                                        [rows_a[i]["reference"] for i in ids])
            stats_b, fb = _corpus_stats(metric, [rows_b[i]["output"] for i in ids],
                                        [rows_b[i]["reference"] for i in ids])
            va, vb = fa(stats_a.sum(0)), fb(stats_b.sum(0))
            boot = np.array([fb(stats_b[p].sum(0)) - fa(stats_a[p].sum(0)) for p in picks])
        else:
            xa = np.array([sa[metric][i] for i in ids])
            xb = np.array([sb[metric][i] for i in ids])
            va, vb = float(xa.mean()), float(xb.mean())
            boot = (xb - xa)[picks].mean(axis=1)
        low, high = np.percentile(boot, [2.5, 97.5])
        p = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
        deltas.append(MetricDelta(metric=metric, a=va, b=vb, diff=vb - va, ci_low=float(low),
                                  ci_high=float(high), p_value=p, n=n))
        sign = 1.0 if higher_is_better(metric) else -1.0  # a regression is a step back
        pairs = sorted(ids, key=lambda i: sign * (sb[metric][i] - sa[metric][i]))[:worst]
        regressed[metric] = [ExamplePair(
            row_id=i, input=rows_a[i]["input"], reference=rows_a[i]["reference"],
            output_a=rows_a[i]["output"], output_b=rows_b[i]["output"],
            score_a=sa[metric][i], score_b=sb[metric][i])
            for i in pairs if sign * (sb[metric][i] - sa[metric][i]) < 0]
    if judge is not None:
        if judge.kind != "pairwise":
            raise InvalidInput(f"judge {judge.name} is {judge.kind}; compare takes a pairwise "
                               "judge")
        ids = sorted(set(rows_a) & set(rows_b))
        ok = [i for i in ids if not rows_a[i].get("error") and not rows_b[i].get("error")]
        deltas.append(_preference(judge, ok, rows_a, rows_b, rng, resamples))
    return Comparison(a=ea, b=eb, deltas=deltas, regressed=regressed, resamples=resamples)
