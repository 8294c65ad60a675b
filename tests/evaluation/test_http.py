"""Evaluations, comparisons and promotions over HTTP, with role checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops import datasets, registry
from llmops.config import Settings
from tests.helpers import auth
from tests.tiny import qa_rows

API = "/api/v1/evaluations"


def _answers(good: bool) -> list[str]:
    rows = datasets.read_rows("travel-qa@1#val")
    return [r["messages"][-1]["content"] if good else "no idea" for r in rows]


def test_evaluate_list_show_and_compare(client: Any, keys: dict[str, str]) -> None:
    datasets.import_dataset("travel-qa", qa_rows(48), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    writer, viewer = auth(keys["maintainer"]), auth(keys["viewer"])
    body = {"data": "travel-qa@1#val", "predictions": _answers(False),
            "metrics": ["exact_match"]}
    assert client.post(API, headers=viewer, json=body).status_code == 403
    a = client.post(API, headers=writer, json=body)
    assert a.status_code == 201, a.text
    b = client.post(API, headers=writer, json={**body, "predictions": _answers(True)}).json()
    assert b["metrics"]["exact_match"] == 1.0 and b["total"] == 11

    listed = client.get(API, headers=viewer).json()
    assert [e["id"] for e in listed] == [b["id"], a.json()["id"]]
    assert client.get(f"{API}/{b['id']}", headers=viewer).json() == b
    compared = client.get(f"{API}/compare", headers=viewer,
                          params={"a": a.json()["id"], "b": b["id"], "resamples": 200}).json()
    [delta] = compared["deltas"]
    assert (delta["metric"], delta["diff"]) == ("exact_match", 1.0)
    assert client.get(f"{API}/nope", headers=viewer).status_code == 404


def test_endpoints_and_judges_are_refused_over_http(client: Any,
                                                    keys: dict[str, str]) -> None:
    response = client.post(API, headers=auth(keys["admin"]), json={
        "data": "travel-qa@1#val", "endpoint": "http://169.254.169.254/v1",
        "model_name": "x", "metrics": ["rougeL"]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    both = client.post(API, headers=auth(keys["admin"]), json={
        "data": "travel-qa@1#val", "model": "model:x@1", "predictions": ["a"]})
    assert both.status_code == 400 and "exactly one of `model` and `predictions`" in both.text


def test_promote_over_http(client: Any, keys: dict[str, str], settings: Settings,
                           tiny_base: Path) -> None:
    datasets.import_dataset("travel-qa", qa_rows(48), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    registry.register("travel", tiny_base)
    body = {"version": 1, "alias": "production", "gates": ["rougeL >= 0"],
            "data": "travel-qa@1#val", "max_new_tokens": 4}
    path = "/api/v1/models/travel/promote"
    assert client.post(path, headers=auth(keys["viewer"]), json=body).status_code == 403
    done = client.post(path, headers=auth(keys["maintainer"]), json=body)
    assert done.status_code == 200, done.text
    assert done.json()["moved"] is True
    models = client.get("/api/v1/models", headers=auth(keys["viewer"])).json()
    assert models[0]["aliases"] == {"production": 1}
    bad = client.post(path, headers=auth(keys["maintainer"]), json={**body,
                                                                     "gates": ["bleu >= 1"]})
    assert bad.status_code == 400 and "does not produce" in bad.json()["detail"]


def test_only_registered_models_over_http(client: Any, keys: dict[str, str],
                                          tiny_base: Path) -> None:
    datasets.import_dataset("travel-qa", qa_rows(48), kind="chat",
                            split={"train": 0.75, "val": 0.25})
    for model in (str(tiny_base), "acme/some-model"):
        response = client.post(API, headers=auth(keys["maintainer"]), json={
            "data": "travel-qa@1#val", "model": model})
        assert response.status_code == 400
        assert "must be a registered model" in response.json()["detail"]
