"""The comparison report is one self-contained, escaped HTML page."""

from __future__ import annotations

import math

from llmops.evaluation.models import Comparison, Evaluation, ExamplePair, MetricDelta
from llmops.evaluation.report import render_comparison, verdict

XSS = "<script>alert(1)</script>"


def _evaluation(eid: str, target: str) -> Evaluation:
    return Evaluation(id=eid, status="complete", target=target, data="dataset:qa@1#test",
                      dataset_version_id="dv1", total=120, failed=3, examples="sha256:abc",
                      created_at=1_790_000_000_000, created_by="ana")


def _delta(metric: str, a: float, b: float, low: float, high: float) -> MetricDelta:
    return MetricDelta(metric=metric, a=a, b=b, diff=b - a, ci_low=low, ci_high=high,
                       p_value=0.0123, n=117)


def _comparison(**kw: object) -> Comparison:
    deltas = [_delta("bleu", 31.5, 34.25, 1.125, 4.375),
              _delta("rougeL", 0.52, 0.48, -0.0625, -0.0175),
              _delta("latency_ms", 800.0, 950.0, 40.0, 260.0),
              _delta("exact_match", 0.3, 0.31, -0.02, 0.04),
              MetricDelta(metric="judge", a=math.nan, b=0.7, diff=math.nan, ci_low=math.nan,
                          ci_high=math.nan, p_value=math.nan, n=0)]
    pair = ExamplePair(row_id="r-17", input="Q " + "x" * 1000, reference=XSS,
                       output_a='Paris & "Lyon"', output_b="Berlin, it's <b>", score_a=0.9,
                       score_b=0.1)
    fields: dict[str, object] = dict(
        a=_evaluation("ea", "model:base@1"), b=_evaluation("eb", "model:tuned@2"),
        deltas=deltas, regressed={"rougeL": [pair], "bleu": []}, resamples=1000)
    fields.update(kw)
    return Comparison.model_validate(fields)


def test_page_shows_targets_metrics_and_intervals() -> None:
    page = render_comparison(_comparison())
    assert page.startswith("<!doctype html>") and page.endswith("</html>")
    assert "Evaluation comparison" in page
    assert "model:base@1" in page and "model:tuned@2" in page
    assert "dataset:qa@1#test" in page and "1,000 resamples" in page
    assert "created 2026-09-21T14:13:20.000Z" in page and "3 failed" in page
    for metric in ("bleu", "rougeL", "latency_ms", "exact_match", "judge"):
        assert metric in page
    assert "[1.125, 4.375]" in page and "[-0.0625, -0.0175]" in page
    assert "+2.75" in page and "0.012" in page
    # one forest plot per metric plus one paired-bar chart
    assert page.count("<svg") == 5 + 1


def test_verdicts() -> None:
    by_metric = {d.metric: verdict(d) for d in _comparison().deltas}
    assert by_metric == {"bleu": "better", "rougeL": "worse", "latency_ms": "higher",
                         "exact_match": "no significant change", "judge": "n/a"}
    cost = _delta("cost_usd", 1.0, 0.5, -0.6, -0.4)
    assert verdict(cost) == "lower"


def test_nan_shows_na() -> None:
    page = render_comparison(_comparison())
    assert "n/a" in page and "nan" not in page.lower().replace("n/a", "")


def test_data_is_escaped_and_nothing_external() -> None:
    page = render_comparison(_comparison(b=_evaluation("eb", XSS)))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Paris &amp; &quot;Lyon&quot;" in page and "Berlin, it&#x27;s &lt;b&gt;" in page
    for bad in ("http://", "https://", "src=", "@import", "url("):
        assert bad not in page


def test_regressed_examples_and_long_text() -> None:
    page = render_comparison(_comparison())
    assert "r-17" in page and "Largest regressions" in page
    assert "Paris &amp;" in page and "Berlin" in page
    assert "-0.8" in page  # delta of the regressed example
    assert "x" * 1000 in page  # full text in the title attribute
    assert ">Q " + "x" * 297 + "…<" in page  # shown truncated


def test_empty_comparison() -> None:
    page = render_comparison(_comparison(deltas=[], regressed={}))
    assert "No metric in common" in page and "<svg" not in page
    assert "Largest regressions" not in page
