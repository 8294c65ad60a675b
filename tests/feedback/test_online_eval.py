"""Online evaluation: a route's sampled share of answers is scored off the request path
by reference-free metrics and rubric judges, stored as feedback from an automatic
source, once per trace and metric."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from pydantic import ValidationError

from llmops import feedback
from llmops.feedback.online import OnlineEval, OnlineEvaluator, sampled
from llmops.gateway.routes import Route, RouteOptions, RouteStore, Target
from llmops.workspace import Workspace
from tests.fake_openai import fake_openai
from tests.helpers import auth


def _route(workspace: Workspace, name: str, online: dict[str, Any] | None,
           url: str = "http://127.0.0.1:9/v1") -> None:
    RouteStore(workspace).put(Route(name=name, targets=[Target(
        kind="upstream", url=url, upstream_model="up")], options=RouteOptions(
        online_eval=OnlineEval(**online) if online else None)))


def test_the_sampled_share_is_scored_by_each_metric_once(workspace: Workspace) -> None:
    _route(workspace, "travel", {"share": 0.5, "metrics": ["json_valid", "length"]})
    _route(workspace, "hotels", None)
    evaluator = OnlineEvaluator(workspace)
    answers = ['{"city": "Porto"}' if i % 2 else "Porto" for i in range(24)]
    ids = _traces_through(workspace, evaluator, [{"answer": a} for a in answers]
                          + [{"route": "hotels", "answer": "{}"},
                             {"status": 502, "output": None}])
    evaluator.close()
    expected = {t for t in ids[:24] if sampled(t, 0.5)}
    assert 0 < len(expected) < 24  # a real sample
    auto = feedback.list_feedback(limit=1000)
    assert {f.trace_id for f in auto} == expected
    assert {f.source for f in auto} == {"auto:json_valid", "auto:length"}
    for f in auto:
        answer = answers[ids.index(f.trace_id)]
        assert f.actor == "llmops:online-eval" and f.score is None
        assert f.value == (float(answer.startswith("{")) if f.source == "auto:json_valid"
                           else float(len(answer)))
    # offered again (a replayed batch, a second gateway): stored once
    again = OnlineEvaluator(workspace)
    again.offer([{"id": t, "route": "travel", "status": 200, "output": "x"} for t in ids[:24]])
    again.close()
    assert len(feedback.list_feedback(limit=1000)) == len(auto) == 2 * len(expected)


def _traces_through(workspace: Workspace, evaluator: OnlineEvaluator,
                    items: list[dict[str, Any]]) -> list[str]:
    """Traces written by a trace writer that offers its batches to `evaluator`."""
    from tests.feedback.conftest import make_traces

    return make_traces(workspace, *items, listener=evaluator.offer)


def test_gateway_traffic_is_scored_by_metrics_and_a_judge(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    with fake_openai(lambda m: (200, '{"city": "Porto"}')) as upstream, \
            fake_openai(lambda m: (200, '{"score": 4, "reason": "helpful"}')) as judge:
        _route(workspace, "travel", {"share": 1.0, "metrics": ["json_valid"], "judges": [
            {"name": "helpful", "endpoint": judge.url, "model": "judge"}]}, upstream.url)
        _route(workspace, "plain", None, upstream.url)
        made = []
        for model in ("travel", "plain"):
            response = client.post("/v1/chat/completions", headers=auth(keys["inference"]),
                                   json={"model": model, "messages": [
                                       {"role": "user", "content": "Where is Porto?"}]})
            assert response.status_code == 200, response.text
            made.append(response.headers["x-llmops-trace-id"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(feedback.list_feedback()) < 2:
            time.sleep(0.05)
        asked = judge.requests[0]["body"]["messages"]
    scores = {f.source: f for f in feedback.list_feedback()}
    assert set(scores) == {"auto:json_valid", "auto:judge.helpful"}
    assert all(f.trace_id == made[0] for f in scores.values())
    assert scores["auto:json_valid"].value == 1.0
    assert (scores["auto:judge.helpful"].score, scores["auto:judge.helpful"].comment) == (
        4, "helpful")
    assert "Where is Porto?" in asked[-1]["content"]


def test_bad_online_eval_options_are_refused(workspace: Workspace) -> None:
    cases = [
        ({"share": 1.5, "metrics": ["length"]}, "less than or equal to 1"),
        ({"share": 0.1, "metrics": ["bleu"]}, "metric 'bleu' cannot be used"),
        ({"share": 0.1, "metrics": ["regex_match"]}, "metric regex_match needs `reference`"),
        ({"share": 0.1, "judges": [{"name": "p", "kind": "pairwise", "endpoint": "http://x",
                                    "model": "m"}]}, "use a rubric judge"),
    ]
    for options, message in cases:
        with pytest.raises(ValidationError, match=message):
            OnlineEval(**options)
    result = subprocess.run([sys.executable, "-m", "llmops", "routes", "add", "travel",
                             "--upstream", "http://127.0.0.1:9/v1", "--upstream-model", "m",
                             "--online-eval-share", "0.1", "--online-eval-metric", "rouge1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "metric 'rouge1' cannot be used" in result.stderr
    assert RouteStore(workspace).list() == []
    ok = subprocess.run([sys.executable, "-m", "llmops", "routes", "add", "travel",
                         "--upstream", "http://127.0.0.1:9/v1", "--upstream-model", "m",
                         "--online-eval-share", "0.1", "--online-eval-metric", "regex_match",
                         "--online-eval-reference", "Porto", "--json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["options"]["online_eval"] == {
        "share": 0.1, "metrics": ["regex_match"], "judges": [], "reference": "Porto"}
