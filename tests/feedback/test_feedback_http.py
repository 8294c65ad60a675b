"""Feedback over HTTP: roles, inference keys scoped to their own traces, 404/422
problems that change nothing, idempotent retries, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmops.auth.keys import create_key, verify_key
from llmops.gateway.routes import Route, RouteStore, Target
from llmops.workspace import Workspace
from tests.fake_openai import fake_openai
from tests.feedback.conftest import make_traces
from tests.helpers import auth, table_counts

URL = "/api/v1/feedback"


def test_inference_keys_give_feedback_only_on_their_own_traces(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    other_secret, _ = create_key(workspace.store, name="other-app", role="inference",
                                 actor="test")
    with fake_openai(lambda m: (200, "Porto is in Portugal")) as upstream:
        RouteStore(workspace).put(Route(name="travel", targets=[Target(
            kind="upstream", url=upstream.url, upstream_model="up")]))
        answer = client.post("/v1/chat/completions", headers=auth(keys["inference"]), json={
            "model": "travel", "messages": [{"role": "user", "content": "Porto?"}]})
    assert answer.status_code == 200, answer.text
    trace_id = answer.headers["x-llmops-trace-id"]
    # sent at once: the trace may still be queued in the batch writer; it is waited for
    made = client.post(URL, headers={**auth(keys["inference"]), "Idempotency-Key": "k1"},
                       json={"trace_id": trace_id, "thumbs": "down",
                             "correction": "Porto is in northern Portugal."})
    assert made.status_code == 201, made.text
    body = made.json()
    key_id = verify_key(workspace.store, keys["inference"]).key_id
    assert (body["thumbs"], body["key_id"], body["source"]) == (-1, key_id, "human")
    assert body["actor"] == f"key:inference-key:{key_id}"
    [foreign] = make_traces(workspace, {})  # made by no key at all
    before = table_counts(workspace.store)
    for secret, trace in ((other_secret, trace_id), (keys["inference"], foreign),
                          (keys["inference"], "01ZZZZZZZZZZZZZZZZZZZZZZZZ")):
        refused = client.post(URL, headers=auth(secret), json={"trace_id": trace,
                                                               "score": 2})
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == (f"no trace {trace!r}; `llmops traces list` "
                                            "shows them")
    retry = client.post(URL, headers={**auth(keys["inference"]), "Idempotency-Key": "k1"},
                        json={"trace_id": trace_id, "thumbs": "up"})
    assert retry.status_code == 201 and retry.json() == body
    assert table_counts(workspace.store) == before
    for role in ("admin", "maintainer"):  # writers: any trace
        ok = client.post(URL, headers=auth(keys[role]), json={"trace_id": foreign,
                                                              "score": 5})
        assert ok.status_code == 201, ok.text
    viewer = client.post(URL, headers=auth(keys["viewer"]), json={"trace_id": foreign,
                                                                  "score": 5})
    assert viewer.status_code == 403
    listed = client.get(URL, params={"trace": trace_id}, headers=auth(keys["viewer"]))
    assert [f["id"] for f in listed.json()] == [body["id"]]
    assert client.get(URL, headers=auth(keys["inference"])).status_code == 403


def test_a_score_outside_1_to_5_is_422_and_stores_nothing(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    [trace] = make_traces(workspace, {})
    before = table_counts(workspace.store)
    for score in (0, 6, -1):
        response = client.post(URL, headers=auth(keys["maintainer"]),
                               json={"trace_id": trace, "score": score})
        assert response.status_code == 422
        problem = response.json()
        assert problem["detail"] == f"score must be an integer from 1 to 5, not {score}"
        assert problem["errors"] == [{"field": "score", "message":
                                      f"must be an integer from 1 to 5, not {score}"}]
    unknown = client.post(URL, headers=auth(keys["maintainer"]),
                          json={"trace_id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "score": 3})
    assert unknown.status_code == 404
    extra = client.post(URL, headers=auth(keys["maintainer"]),
                        json={"trace_id": trace, "score": 3, "base_url": "http://x"})
    assert extra.status_code == 422
    not_json = client.post(URL, headers={**auth(keys["maintainer"]),
                                         "content-type": "application/json"},
                           content=b"{not json")
    assert not_json.status_code == 422
    assert not_json.headers["content-type"] == "application/problem+json"
    limit = workspace.settings.max_request_bytes
    huge = client.post(URL, headers=auth(keys["inference"]),
                       json={"trace_id": trace, "comment": "x" * (limit + 1)})
    assert huge.status_code == 413
    assert huge.json()["detail"] == (f"the body is over {limit} bytes "
                                     "(LLMOPS_MAX_REQUEST_BYTES)")
    assert table_counts(workspace.store) == before


def test_the_openapi_schema_documents_the_feedback_body(client: Any) -> None:
    body = client.get("/openapi.json").json()["paths"]["/api/v1/feedback"]["post"]
    schema = body["requestBody"]["content"]["application/json"]["schema"]
    assert {"trace_id", "score", "correction", "preference"} <= set(schema["properties"])


def _llmops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmops", *args], capture_output=True,
                          text=True)


def test_cli_feedback_add_and_list(workspace: Workspace, tmp_path: Path) -> None:
    [trace] = make_traces(workspace, {"answer": "Lisbon"})
    added = _llmops("feedback", "add", trace, "--score", "4", "--thumbs", "up", "--label",
                    "geo", "--comment", "good", "--correction", "Lisbon, Portugal", "--json")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert (made["score"], made["thumbs"], made["labels"], made["correction"]) == (
        4, 1, ["geo"], "Lisbon, Portugal")
    listed = json.loads(_llmops("feedback", "list", "--trace", trace, "--json").stdout)
    assert [f["id"] for f in listed] == [made["id"]]
    shown = _llmops("feedback", "show", f"feedback:{made['id']}")
    assert shown.returncode == 0 and "correction: Lisbon, Portugal" in shown.stdout
    assert "no feedback 'nope'" in _llmops("feedback", "show", "nope").stderr
    before = table_counts(workspace.store)
    bad = _llmops("feedback", "add", trace, "--score", "9")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "score must be an integer from 1 to 5, not 9" in bad.stderr
    missing = _llmops("feedback", "add", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--score", "3")
    assert missing.returncode == 1
    assert "no trace '01ZZZZZZZZZZZZZZZZZZZZZZZZ'" in missing.stderr
    bad_pref = _llmops("feedback", "add", trace, "--prefer", "other")
    assert bad_pref.returncode == 1 and "preference Value error, a preference names the " \
        "other response by exactly one of other_output" in bad_pref.stderr
    assert table_counts(workspace.store) == before
    assert "Lisbon" in _llmops("feedback", "list").stdout
    ab = _llmops("feedback", "add", trace, "--prefer", "other", "--other-output",
                 "Lisbon, the capital", "--json")
    assert json.loads(ab.stdout)["preference"] == {
        "chosen": "other", "other_output": "Lisbon, the capital", "other_trace_id": None}
