"""Drift between a window of traces and a reference: verdicts, the report, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.errors import InvalidInput, NotFound
from llmops.monitoring.drift import CHECK_NAMES, drift_report
from llmops.monitoring.report import render_html
from llmops.workspace import Workspace
from tests.helpers import table_counts
from tests.monitoring.traffic import DAY, insert_traces, make_trace, traffic


def _report(workspace: Workspace, now: int, **kwargs: object) -> object:
    return drift_report(model="travel", now=now, embeddings="tfidf", workspace=workspace,
                        **kwargs)  # type: ignore[arg-type]


def test_the_same_traffic_is_no_drift(workspace: Workspace) -> None:
    now = traffic(workspace, drifted=False)
    report = _report(workspace, now)
    assert report.verdict == "no drift", [(c.name, c.p_value) for c in report.checks]
    assert report.drifted == []
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert report.embedding_backend == "tfidf-svd"
    lengths = report.check("input_length")
    assert lengths.test == "ks" and lengths.n_current == 120 and lengths.n_reference == 120
    assert 0 < lengths.p_value <= 1 and lengths.threshold > 0


def test_changed_traffic_is_drift_on_the_checks_that_changed(workspace: Workspace) -> None:
    now = traffic(workspace, drifted=True)
    report = _report(workspace, now)
    assert report.verdict == "drift"
    for name in ("output_length", "input_embedding", "output_embedding", "topics",
                 "refusal_rate", "latency", "error_rate"):
        check = report.check(name)
        assert check.drifted, name
        assert check.p_value is not None and check.p_value < check.threshold
    assert report.check("refusal_rate").value > report.check("refusal_rate").reference_value
    assert report.check("latency").direction == "higher"
    assert 0 < report.check("error_rate").value < 1
    # no feedback was given: the feedback checks are skipped, not failed
    assert report.check("feedback_score").skipped


def test_feedback_scores_enter_the_report(workspace: Workspace) -> None:
    from sqlalchemy import insert

    from llmops.ids import new_id
    from llmops.store.tables import feedback

    now = traffic(workspace, drifted=False)
    report = _report(workspace, now)
    ids = {c: [] for c in ("cur", "ref")}
    from sqlalchemy import select

    from llmops.store.tables import traces
    with workspace.store.read() as conn:
        for tid, at in conn.execute(select(traces.c.id, traces.c.created_at)):
            ids["cur" if at >= now - DAY else "ref"].append(tid)
    rows = [{"id": new_id(), "trace_id": t, "score": 5 if side == "ref" else 2,
             "thumbs": 1 if side == "ref" else -1, "source": "human", "actor": "test",
             "created_at": now - 1} for side, tids in ids.items() for t in tids[:30]]
    workspace.store.write(lambda conn: conn.execute(insert(feedback), rows))
    report = _report(workspace, now)
    score = report.check("feedback_score")
    assert score.drifted and score.value == 2 and score.reference_value == 5
    assert report.check("thumbs_down_rate").drifted
    assert report.verdict == "drift"


def test_a_dataset_version_as_the_reference(workspace: Workspace) -> None:
    import random

    from llmops.datasets import import_dataset
    from tests.monitoring.traffic import CITIES, TRAVEL

    rng = random.Random(3)
    rows = [{"messages": [{"role": "user", "content": rng.choice(TRAVEL).format(
        c=rng.choice(CITIES))}, {"role": "assistant", "content": f"{rng.choice(CITIES)} is "
        "lovely in spring; " * rng.randint(1, 3)}]} for _ in range(150)]
    import_dataset("travel-qa", rows, kind="chat", workspace=workspace)
    now = traffic(workspace, drifted=True)
    report = _report(workspace, now, reference="dataset:travel-qa@1")
    assert report.reference == "dataset:travel-qa@1"
    assert report.verdict == "drift" and "topics" in report.drifted
    assert report.check("latency").skipped == \
        "the reference is a dataset: it has no latency or status"
    assert report.check("prompt_tokens").note.startswith("words and punctuation")


def test_the_html_report_is_self_contained(workspace: Workspace, tmp_path: Path) -> None:
    now = traffic(workspace, drifted=True)
    html = render_html(_report(workspace, now))
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    for name in ("input_embedding", "topics", "refusal rate"):
        assert name.replace("_", " ") in html
    # every chart is well-formed SVG, one per check that ran
    import xml.etree.ElementTree as ET

    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 10  # twelve checks, two skipped (no feedback)
    for svg in charts:
        ET.fromstring(svg)


def test_the_cli_writes_json_and_html(workspace: Workspace, tmp_path: Path) -> None:
    from llmops.cli.app import app

    traffic(workspace, drifted=True)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["monitor", "drift", "--model", "travel", "--window",
                                      "24h", "--reference-window", "7d", "--embeddings",
                                      "tfidf", "--html", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verdict"] == "drift"
    assert all("chart" not in c for c in data["checks"])
    assert "<svg" in out.read_text()


def test_bad_drift_requests_are_refused_with_nothing_changed(workspace: Workspace) -> None:
    now = traffic(workspace, drifted=False, n=30)
    before = table_counts(workspace.store)
    with pytest.raises(InvalidInput, match=r"^name what to monitor: --model NAME or --route R$"):
        drift_report(now=now, workspace=workspace)
    with pytest.raises(InvalidInput, match="give either --reference dataset:REF or "
                                           "--reference-window, not both"):
        _report(workspace, now, reference="dataset:x@1", reference_window="7d")
    with pytest.raises(InvalidInput, match=r"threshold 1.5 must be a significance level"):
        _report(workspace, now, threshold=1.5)
    with pytest.raises(InvalidInput, match="invalid duration 'yesterday'"):
        _report(workspace, now, window="yesterday")
    with pytest.raises(NotFound):
        _report(workspace, now, reference="dataset:nothing@1")
    with pytest.raises(InvalidInput, match="invalid reference 'travel@1'"):
        _report(workspace, now, reference="travel@1")
    assert table_counts(workspace.store) == before


def test_too_little_traffic_is_insufficient_data(workspace: Workspace) -> None:
    import random

    from llmops.clock import now_ms

    now = now_ms()
    rng = random.Random(0)
    insert_traces(workspace, [make_trace(rng, now - 1000) for _ in range(5)])
    report = _report(workspace, now)
    assert report.verdict == "insufficient data"
    assert all(c.skipped for c in report.checks)


def test_sentence_embeddings_go_through_the_embeddings_seam(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sentence path calls llmops.embeddings.embed (faked here: the real model takes
    seconds to load); the fake maps the two kinds of traffic to two directions."""
    import numpy as np

    from llmops import embeddings

    def fake_embed(texts: list[str]) -> np.ndarray:
        rng = np.random.default_rng(len(texts))
        base = np.array([[1.0, 0.0] if ("Rust" in t or "C++" in t or "Go" in t or "Zig" in t
                                        or "Haskell" in t or "code" in t or "sorry" in t)
                         else [0.0, 1.0] for t in texts])
        return base + rng.normal(0, 0.05, base.shape)

    monkeypatch.setattr(embeddings, "embed", fake_embed)
    now = traffic(workspace, drifted=True)
    report = drift_report(model="travel", now=now, embeddings="sentence", workspace=workspace)
    assert report.embedding_backend == "sentence-transformers:all-MiniLM-L6-v2"
    assert report.check("input_embedding").drifted
