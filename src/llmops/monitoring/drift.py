"""Drift: does the current window of traffic differ from a reference?

The reference is a dataset version's rows or an earlier window of traces. Each check is
a two-sample test with a p-value; together they are held to one significance level
(`threshold`, default 0.01) by Holm's step-down procedure, so the chance that traffic
which did not change shows any drifted check is at most `threshold` (each check records
the level it was held to). The checks:

    input_length, output_length        KS on characters per input / answer
    prompt_tokens, completion_tokens   KS on token counts (traces); against a dataset,
                                       words and punctuation counted the same way on both
    input_embedding, output_embedding  MMD with an RBF kernel, permutation p-value, on
                                       sentence embeddings (or TF-IDF + SVD vectors)
    topics                             chi-square on the shares of k-means topic clusters
    refusal_rate                       two-proportion z-test on answers that decline
    feedback_score, thumbs_down_rate   Mann-Whitney U on 1-5 scores; z-test on thumbs
    latency                            Mann-Whitney U on latency_ms
    error_rate                         two-proportion z-test on status >= 400

Why MMD for embeddings: it compares whole distributions of vectors (not one projection),
needs no training (unlike a classifier two-sample test, which also needs a held-out
split), and its permutation p-value is exact for any sample size. Each side is capped
at 400 texts, so a report costs well under a second on TF-IDF vectors.

Checks that need traces on both sides (tokens as the gateway counted them, feedback,
latency, errors) are skipped against a dataset, with the reason; so is any check with
fewer than `min_samples` values on either side. The verdict is ``drift`` when any check
drifted, ``insufficient data`` when every check was skipped, else ``no drift``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import and_, select

from llmops.clock import iso, now_ms
from llmops.errors import InvalidInput
from llmops.monitoring import stats
from llmops.monitoring.models import DriftCheck, DriftReport
from llmops.monitoring.refusals import is_refusal
from llmops.monitoring.samples import (
    DEFAULT_LIMIT,
    Sample,
    load_dataset,
    load_traces,
    target_clause,
)
from llmops.monitoring.topics import topic_shift
from llmops.monitoring.vectors import Backend, embed_texts
from llmops.store.tables import feedback as feedback_table
from llmops.store.tables import traces
from llmops.workspace import Workspace

DEFAULT_THRESHOLD = 0.01
DEFAULT_MIN_SAMPLES = 20
MAX_TEXTS = 400  # per side, for embeddings and topics
HISTOGRAM_BINS = 20
SCATTER_POINTS = 150

CHECK_NAMES = ("input_length", "output_length", "prompt_tokens", "completion_tokens",
               "input_embedding", "output_embedding", "topics", "refusal_rate",
               "feedback_score", "thumbs_down_rate", "latency", "error_rate")

Progress = Callable[[int, int], None]


def _histogram(current: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    pooled = np.concatenate([current, reference])
    high = float(np.percentile(pooled, 99)) if len(pooled) else 1.0
    low = float(pooled.min()) if len(pooled) else 0.0
    edges = np.linspace(low, max(high, low + 1), HISTOGRAM_BINS + 1)

    def shares(x: np.ndarray) -> list[float]:
        counts, _ = np.histogram(np.clip(x, low, edges[-1]), bins=edges)
        return (counts / max(1, len(x))).round(4).tolist()

    return {"kind": "histogram", "edges": edges.round(2).tolist(),
            "current": shares(current), "reference": shares(reference)}


def _skip(name: str, test: str, threshold: float, reason: str, n_cur: int = 0,
          n_ref: int = 0) -> DriftCheck:
    return DriftCheck(name=name, test=test, threshold=threshold, skipped=reason,
                      n_current=n_cur, n_reference=n_ref)


class Checks:
    """Builds checks held to one significance level, skipping thin samples."""

    def __init__(self, threshold: float, min_samples: int) -> None:
        self.threshold = threshold
        self.min_samples = min_samples

    def too_few(self, name: str, test: str, n_cur: int, n_ref: int) -> DriftCheck | None:
        if min(n_cur, n_ref) < self.min_samples:
            return _skip(name, test, self.threshold, f"too few values ({n_cur} current, "
                         f"{n_ref} reference; at least {self.min_samples} each)", n_cur, n_ref)
        return None

    def numeric(self, name: str, current: np.ndarray, reference: np.ndarray, *,
                test: str = "ks", summary: str = "mean", note: str | None = None
                ) -> DriftCheck:
        skipped = self.too_few(name, test, len(current), len(reference))
        if skipped:
            return skipped
        fn = stats.ks if test == "ks" else stats.mann_whitney
        statistic, p = fn(current, reference)
        center = np.median if summary == "median" else np.mean
        return DriftCheck(name=name, test=test, statistic=statistic, p_value=p,
                          threshold=self.threshold, drifted=p < self.threshold,
                          value=float(center(current)), reference_value=float(center(reference)),
                          n_current=len(current), n_reference=len(reference), note=note,
                          chart=_histogram(current, reference))

    def proportion(self, name: str, x_cur: int, n_cur: int, x_ref: int, n_ref: int,
                   note: str | None = None) -> DriftCheck:
        test = "two-proportion-z"
        skipped = self.too_few(name, test, n_cur, n_ref)
        if skipped:
            return skipped
        z, p = stats.two_proportions(x_cur, n_cur, x_ref, n_ref)
        return DriftCheck(name=name, test=test, statistic=z, p_value=p,
                          threshold=self.threshold, drifted=p < self.threshold,
                          value=x_cur / n_cur, reference_value=x_ref / n_ref, n_current=n_cur,
                          n_reference=n_ref, note=note,
                          chart={"kind": "rates", "current": x_cur / n_cur,
                                 "reference": x_ref / n_ref})

    def embedding(self, name: str, current: Sequence[str], reference: Sequence[str],
                  backend: Backend, seed: int) -> tuple[DriftCheck, str | None]:
        test = "mmd-permutation"
        skipped = self.too_few(name, test, len(current), len(reference))
        if skipped:
            return skipped, None
        rng = np.random.default_rng(seed)
        cur = _subsample(current, rng)
        ref = _subsample(reference, rng)
        vectors, used = embed_texts(cur + ref, backend)
        x, y = vectors[:len(cur)], vectors[len(cur):]
        mmd2, p = stats.mmd_permutation(x, y, seed=seed)
        mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
        denominator = float(np.linalg.norm(mean_x) * np.linalg.norm(mean_y)) or 1.0
        distance = 1.0 - float(mean_x @ mean_y) / denominator
        return DriftCheck(name=name, test=test, statistic=mmd2, p_value=p,
                          threshold=self.threshold, drifted=p < self.threshold,
                          value=distance, n_current=len(current), n_reference=len(reference),
                          note="value: cosine distance between the mean vectors",
                          chart=_scatter(x, y)), used


def _subsample(texts: Sequence[str], rng: np.random.Generator) -> list[str]:
    if len(texts) <= MAX_TEXTS:
        return list(texts)
    return [texts[i] for i in sorted(rng.choice(len(texts), MAX_TEXTS, replace=False))]


def _scatter(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Both samples on the first two principal axes of the pooled vectors."""
    pooled = np.vstack([x, y])
    centered = pooled - pooled.mean(axis=0)
    if centered.shape[1] < 2 or not np.any(centered):
        return {"kind": "scatter", "current": [], "reference": []}
    # the top two eigenvectors of the d x d scatter matrix: cheaper than an SVD of the data
    _, vectors = np.linalg.eigh(centered.T @ centered)
    points = centered @ vectors[:, ::-1][:, :2]
    return {"kind": "scatter",
            "current": points[:len(x)][:SCATTER_POINTS].round(4).tolist(),
            "reference": points[len(x):][:SCATTER_POINTS].round(4).tolist()}


def feedback_for(workspace: Workspace, model: str | None, route: str | None, start: int,
                 end: int, where: str | None = None) -> tuple[list[int], list[int]]:
    """Scores and thumbs people gave to the window's traces (automatic scores from online
    evaluation are not users' judgement and are left out)."""
    clause = and_(target_clause(model, route), traces.c.created_at >= start,
                  traces.c.created_at < end, feedback_table.c.source == "human")
    if where:
        from llmops.traces.query import where_clause

        clause = and_(clause, where_clause(where))
    f = feedback_table
    query = (select(f.c.score, f.c.thumbs)
             .select_from(f.join(traces, traces.c.id == f.c.trace_id))
             .where(clause))
    scores: list[int] = []
    thumbs: list[int] = []
    with workspace.store.read() as conn:
        for score, thumb in conn.execute(query):
            if score is not None:
                scores.append(int(score))
            if thumb is not None:
                thumbs.append(int(thumb))
    return scores, thumbs


def _words(texts: Sequence[str | None]) -> np.ndarray:
    from llmops.datasets.tokenizers import RegexTokenizer

    tokenizer = RegexTokenizer()
    return np.asarray([tokenizer.count(t) for t in texts if t is not None], dtype=float)


def _lengths(texts: Sequence[str | None]) -> np.ndarray:
    return np.asarray([len(t) for t in texts if t is not None], dtype=float)


def compare(current: Sample, reference: Sample, *, threshold: float = DEFAULT_THRESHOLD,
            min_samples: int = DEFAULT_MIN_SAMPLES, embeddings: Backend = "auto",
            feedback: tuple[Any, Any] | None = None, seed: int = 0,
            progress: Progress | None = None) -> tuple[list[DriftCheck], str]:
    """Every check of `current` against `reference`; also the embedding backend used.

    `feedback` is ``(current, reference)``, each ``(scores, thumbs)`` or None.
    """
    checks = Checks(threshold, min_samples)
    traced = reference.source == "traces"
    steps: list[Callable[[], DriftCheck]] = []
    backend_used = "tfidf-svd" if embeddings == "tfidf" else "none"

    steps.append(lambda: checks.numeric("input_length", _lengths(current.inputs),
                                        _lengths(reference.inputs)))
    steps.append(lambda: checks.numeric("output_length", _lengths(current.outputs),
                                        _lengths(reference.outputs)))
    if traced:
        steps.append(lambda: checks.numeric("prompt_tokens", current.array("prompt_tokens"),
                                            reference.array("prompt_tokens")))
        steps.append(lambda: checks.numeric("completion_tokens",
                                            current.array("completion_tokens"),
                                            reference.array("completion_tokens")))
    else:
        note = "words and punctuation on both sides (the dataset has no model token counts)"
        steps.append(lambda: checks.numeric("prompt_tokens", _words(current.inputs),
                                            _words(reference.inputs), note=note))
        steps.append(lambda: checks.numeric("completion_tokens", _words(current.outputs),
                                            _words(reference.outputs), note=note))

    def embedding(name: str, cur: Sequence[str], ref: Sequence[str]) -> DriftCheck:
        nonlocal backend_used
        check, used = checks.embedding(name, cur, ref, embeddings, seed)
        backend_used = used or backend_used
        return check

    steps.append(lambda: embedding("input_embedding", current.inputs, reference.inputs))
    steps.append(lambda: embedding("output_embedding", current.answered(),
                                   reference.answered()))
    steps.append(lambda: _topics(checks, current, reference, seed))

    def refusals() -> DriftCheck:
        cur, ref = current.answered(), reference.answered()
        return checks.proportion("refusal_rate", sum(map(is_refusal, cur)), len(cur),
                                 sum(map(is_refusal, ref)), len(ref))

    steps.append(refusals)
    steps.append(lambda: _feedback_score(checks, feedback, traced))
    steps.append(lambda: _thumbs(checks, feedback, traced))
    if traced:
        steps.append(lambda: checks.numeric("latency", np.asarray(current.latency_ms),
                                            np.asarray(reference.latency_ms),
                                            test="mann-whitney-u", summary="median",
                                            note="value: median latency in ms"))

        def errors() -> DriftCheck:
            cur = sum(1 for s in current.status if s >= 400)
            ref = sum(1 for s in reference.status if s >= 400)
            return checks.proportion("error_rate", cur, len(current), ref, len(reference),
                                     note="status >= 400")

        steps.append(errors)
    else:
        reason = "the reference is a dataset: it has no latency or status"
        steps.append(lambda: _skip("latency", "mann-whitney-u", threshold, reason))
        steps.append(lambda: _skip("error_rate", "two-proportion-z", threshold, reason))

    results = []
    with _one_blas_thread():
        for i, step in enumerate(steps):
            results.append(step())
            if progress:
                progress(i + 1, len(steps))
    return holm(results, threshold), backend_used


def _one_blas_thread() -> Any:
    """The matrices here are small (at most 800 rows): BLAS threads only contend, and on
    a busy machine they made a report several times slower (2 x 5,000 traces on 2 cores
    under load 13: 2.1-2.4 s limited, 11.5 s not). Limits BLAS only, for the report."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; without it, run as configured
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def holm(checks: list[DriftCheck], alpha: float) -> list[DriftCheck]:
    """Decide `drifted` by Holm's step-down procedure over the checks that ran: the
    i-th smallest of m p-values (from 0) is held to ``alpha / (m - i)``, stopping at the
    first that fails. So a stream that did not change shows any drift with probability
    at most `alpha`, however many checks there are. Each check records the level it was
    held to as its `threshold`."""
    ran = sorted((c for c in checks if c.p_value is not None), key=lambda c: c.p_value or 0.0)
    rejecting = True
    for i, check in enumerate(ran):
        check.threshold = alpha / (len(ran) - i)
        rejecting = rejecting and (check.p_value or 0.0) < check.threshold
        check.drifted = rejecting
    return checks


def _topics(checks: Checks, current: Sample, reference: Sample, seed: int) -> DriftCheck:
    skipped = checks.too_few("topics", "chi-square", len(current), len(reference))
    if skipped:
        return skipped
    rng = np.random.default_rng(seed)
    shift = topic_shift(_subsample(current.inputs, rng), _subsample(reference.inputs, rng),
                        seed=seed)
    return DriftCheck(name="topics", test="chi-square", statistic=shift.chi2,
                      p_value=shift.p_value, threshold=checks.threshold,
                      drifted=shift.p_value < checks.threshold, value=shift.cramers_v,
                      n_current=len(current), n_reference=len(reference),
                      note="value: Cramér's V (0 same shares, 1 disjoint topics)",
                      chart={"kind": "topics", "topics": [
                          {"terms": t.terms, "current": t.current, "reference": t.reference}
                          for t in shift.topics]})


def _feedback_score(checks: Checks, feedback: tuple[Any, Any] | None,
                    traced: bool) -> DriftCheck:
    name, test = "feedback_score", "mann-whitney-u"
    if not traced:
        return _skip(name, test, checks.threshold, "the reference is a dataset: no feedback")
    assert feedback is not None
    current, reference = (np.asarray(f[0], dtype=float) for f in feedback)
    return checks.numeric(name, current, reference, test=test,
                          note="value: mean score (1-5)")


def _thumbs(checks: Checks, feedback: tuple[Any, Any] | None, traced: bool) -> DriftCheck:
    name, test = "thumbs_down_rate", "two-proportion-z"
    if not traced:
        return _skip(name, test, checks.threshold, "the reference is a dataset: no feedback")
    assert feedback is not None
    (_, cur), (_, ref) = feedback
    return checks.proportion(name, sum(1 for t in cur if t < 0), len(cur),
                             sum(1 for t in ref if t < 0), len(ref))


def verdict(checks: Sequence[DriftCheck]) -> str:
    if any(c.drifted for c in checks):
        return "drift"
    return "insufficient data" if all(c.skipped for c in checks) else "no drift"


def _window_label(start: int, end: int) -> str:
    return f"traces {iso(start)} to {iso(end)}"


def drift_report(*, model: str | None = None, route: str | None = None,
                 reference: str | None = None, reference_window: str | None = None,
                 window: str = "24h", where: str | None = None,
                 threshold: float = DEFAULT_THRESHOLD, min_samples: int = DEFAULT_MIN_SAMPLES,
                 embeddings: Backend = "auto", limit: int = DEFAULT_LIMIT,
                 now: int | None = None, seed: int = 0, workspace: Workspace | None = None,
                 progress: Progress | None = None) -> DriftReport:
    """Compare the last `window` of a model's (or route's) traces with a reference.

    Args:
        model: a registered model name (``NAME`` or ``model:NAME``): its traces.
        route: a gateway route: its traces (with `model`, both must match).
        reference: ``dataset:NAME@VERSION[#SPLIT]``: the rows the model was trained or
            evaluated on.
        reference_window: instead, the traces of this duration just before `window`
            (``7d``). One of the two; neither means ``7d``.
        window: the current window, a duration ending now (``24h``).
        where: an extra trace filter (the ``--where`` language of `llmops traces list`).
        threshold: the significance level every test is held to.
        min_samples: fewer values than this on either side skips a check.
        embeddings: ``auto`` (sentence embeddings when installed), ``sentence``, ``tfidf``.
        limit: at most this many traces per window, the newest.
        now: the end of the current window in epoch ms (default: now).

    Raises:
        InvalidInput: no model or route, both or neither reference given wrongly, a bad
            duration, a threshold outside (0, 1).
        NotFound: the reference dataset does not exist.
    """
    from llmops.traces.query import duration_ms

    if reference and reference_window:
        raise InvalidInput("give either --reference dataset:REF or --reference-window, "
                           "not both", errors=[{"field": "reference", "message": "one of"}])
    if not 0 < threshold < 1:
        raise InvalidInput(f"threshold {threshold} must be a significance level in (0, 1), "
                           "e.g. 0.01", errors=[{"field": "threshold", "message": "(0, 1)"}])
    target_clause(model, route)  # checks that one is given
    workspace = workspace or Workspace.open()
    end = now_ms() if now is None else now
    start = end - duration_ms(window)
    current = load_traces(workspace, model=model, route=route, start=start, end=end,
                          where=where, limit=limit, label=_window_label(start, end))
    given: tuple[Any, Any] | None = None
    ref_start = ref_end = None
    if reference:
        ref_sample = load_dataset(workspace, reference, limit=limit)
    else:
        ref_end = start
        ref_start = start - duration_ms(reference_window or "7d")
        ref_sample = load_traces(workspace, model=model, route=route, start=ref_start,
                                 end=ref_end, where=where, limit=limit,
                                 label=_window_label(ref_start, ref_end))
        given = (feedback_for(workspace, model, route, start, end, where),
                 feedback_for(workspace, model, route, ref_start, ref_end, where))
    checks, backend = compare(current, ref_sample, threshold=threshold,
                              min_samples=min_samples, embeddings=embeddings,
                              feedback=given, seed=seed, progress=progress)
    target = " ".join(part for part in (f"model:{model.removeprefix('model:')}" if model
                                        else "", f"route:{route}" if route else "") if part)
    return DriftReport(target=target, reference=ref_sample.label, current=current.label,
                       current_start=start, current_end=end, reference_start=ref_start,
                       reference_end=ref_end, embedding_backend=backend, threshold=threshold,
                       verdict=verdict(checks),  # type: ignore[arg-type]
                       drifted=[c.name for c in checks if c.drifted], checks=checks,
                       created_at=now_ms())
