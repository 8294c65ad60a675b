"""The prompt routes: roles, status codes, problem+json errors, nothing changed on failure."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.prompts import TemplateSecurityError, get_prompt
from llmops.prompts.remote import RemotePromptRegistry
from llmops.workspace import Workspace
from tests.helpers import auth, table_counts
from tests.prompts.conftest import TRAVEL, travel

API = "/api/v1/prompts"


@pytest.fixture
def created(client: Any, keys: dict[str, str]) -> dict[str, Any]:
    response = client.post(API, headers=auth(keys["maintainer"]),
                           json={"name": "travel-system", "yaml": TRAVEL, "label": "production"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_is_201_then_200_for_identical_content(client: Any, keys: dict[str, str],
                                                      created: dict[str, Any]) -> None:
    assert created["version"] == 1 and created["created"] is True
    assert created["labels"] == ["production"]
    assert created["spec"]["parameters"] == {"temperature": 0.2, "max_tokens": 512}
    again = client.post(API, headers=auth(keys["maintainer"]),
                        json={"name": "travel-system", "spec": created["spec"]})
    assert again.status_code == 200 and again.json()["id"] == created["id"]


def test_viewers_read_and_render_but_cannot_write(client: Any, keys: dict[str, str],
                                                  created: dict[str, Any]) -> None:
    viewer = auth(keys["viewer"])
    assert client.get(API, headers=viewer).json()[0]["labels"] == {"production": 1}
    assert client.get(f"{API}/travel-system", headers=viewer).json()["version"] == 1
    assert client.get(f"{API}/travel-system/versions/production",
                      headers=viewer).json()["id"] == created["id"]
    rendered = client.post(f"{API}/travel-system/render", headers=viewer, json={
        "selector": "production", "variables": {"company": "Acme", "question": "Trams?"}})
    assert rendered.status_code == 200
    assert rendered.json()["messages"][1] == {"role": "user", "content": "Trams?"}
    assert rendered.json()["ref"] == "prompt:travel-system@1"
    for method, path, body in [
        ("POST", API, {"name": "x", "yaml": TRAVEL}),
        ("PUT", f"{API}/travel-system/labels/staging", {"version": 1}),
        ("POST", f"{API}/travel-system/labels/production/rollback", None),
        ("DELETE", f"{API}/travel-system/labels/production", None),
    ]:
        response = client.request(method, path, headers=viewer, json=body)
        assert response.status_code == 403, (method, path)
    inference = client.get(API, headers=auth(keys["inference"]))
    assert inference.status_code == 403


def test_labels_over_http(client: Any, keys: dict[str, str], created: dict[str, Any]) -> None:
    w = auth(keys["maintainer"])
    client.post(API, headers=w, json={"name": "travel-system", "yaml": travel(0.5)})
    moved = client.put(f"{API}/travel-system/labels/production", headers=w,
                       json={"version": "2"}).json()
    assert (moved["version"], moved["previous_version"], moved["changed"]) == (2, 1, True)
    back = client.post(f"{API}/travel-system/labels/production/rollback", headers=w).json()
    assert back["version"] == 1
    history = client.get(f"{API}/travel-system/labels", headers=auth(keys["viewer"]),
                         params={"label": "production"}).json()
    assert [e["version"] for e in history] == [1, 2, 1]
    diff = client.get(f"{API}/travel-system/diff", headers=auth(keys["viewer"]),
                      params={"a": "1", "b": "2"}).json()
    assert [c["path"] for c in diff["changes"]] == ["parameters.temperature"]


@pytest.mark.parametrize(("method", "path", "body", "status", "slug", "text"), [
    ("GET", f"{API}/travel-sytem", None, 404, "not-found", "did you mean travel-system"),
    ("GET", f"{API}/travel-system/versions/9", None, 404, "not-found", "has no version 9"),
    ("GET", f"{API}/Bad%20Name", None, 400, "invalid-input", "invalid prompt name"),
    ("POST", f"{API}/travel-system/render", {"variables": {"company": "A"}}, 422,
     "undefined-variable", "missing variable 'question'"),
    ("POST", f"{API}/travel-system/render", {"variables": {"company": 1, "question": "q"}},
     422, "validation-failed", "variable 'company': 1 is not of type 'string'"),
    ("POST", API, {"name": "x", "spec": {"text": "{{ ''.__class__ }}"}}, 400,
     "template-security-error", "private attribute '__class__'"),
    ("POST", API, {"name": "x", "spec": {"text": "{{ x }"}}, 400, "template-syntax-error",
     "text, line 1, column 6: unexpected '}'"),
    ("POST", API, {"name": "x", "yaml": "text: [oops\n"}, 400, "invalid-input",
     "line 2, column 1: invalid YAML"),
    ("POST", API, {"name": "x"}, 400, "invalid-input", "exactly one of `spec`"),
    ("POST", API, {"name": "x", "spec": {"text": "a"}, "yaml": "text: a"}, 400,
     "invalid-input", "exactly one of `spec`"),
    ("POST", API, {"name": "x", "spec": {"text": "x" * (1024 * 1024 + 1)}}, 413,
     "payload-too-large", "1 MB"),
    ("PUT", f"{API}/travel-system/labels/latest", {"version": 1}, 400, "invalid-input",
     "invalid label 'latest'"),
    ("POST", f"{API}/travel-system/labels/production/rollback", None, 409, "conflict",
     "no earlier target"),
])
def test_bad_requests_are_problems_and_change_nothing(
        client: Any, keys: dict[str, str], workspace: Workspace, created: dict[str, Any],
        method: str, path: str, body: Any, status: int, slug: str, text: str) -> None:
    before = table_counts(workspace.store)
    response = client.request(method, path, headers=auth(keys["maintainer"]), json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith(f"/{slug}") and text in problem["detail"]
    assert table_counts(workspace.store) == before


def test_the_remote_client_raises_the_same_error_classes(client: Any, keys: dict[str, str]
                                                          ) -> None:
    client.headers["Authorization"] = f"Bearer {keys['maintainer']}"
    remote = RemotePromptRegistry(client, retries=1)
    with pytest.raises(TemplateSecurityError, match="private attribute"):
        remote.create("x", {"text": "{{ cycler.__init__ }}"})


def test_few_shot_prompts_fetched_remotely_render_on_the_server(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    from llmops import datasets

    datasets.import_dataset("qa", [{"input": "Lisbon trams?", "expected": "Tram 28."},
                                   {"input": "Paris metro?", "expected": "2 euros."}],
                            kind="eval", workspace=workspace)
    client.headers["Authorization"] = f"Bearer {keys['maintainer']}"
    remote = RemotePromptRegistry(client, retries=1)
    remote.create("qa-bot", {
        "messages": [{"role": "user", "content": "{{ q }}"}], "variables": {"q": "string"},
        "few_shot": {"dataset": "qa@1", "mode": "similar", "k": 1, "query": "{{ q }}",
                     "output": "expected"}}, label="production")
    rendered = get_prompt("qa-bot@production", registry=remote).render(q="metro in Paris")
    assert rendered.messages is not None and rendered.messages[1]["content"] == "2 euros."
    assert len(rendered.example_ids) == 1 and rendered.examples_dataset == "dataset:qa@1"


def test_the_remote_client_retries_reads_but_not_rollbacks(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import httpx

    from llmops import api_client
    from llmops.errors import ServiceUnavailable

    monkeypatch.setattr(api_client.time, "sleep", lambda s: None)
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) % 2:  # every other call: the server is briefly unavailable
            return httpx.Response(503, json={"type": "x/service-unavailable",
                                             "detail": "restarting"})
        return httpx.Response(200, json=[])

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://llmops")
    registry = RemotePromptRegistry(client, retries=3)
    assert registry.list_prompts() == [] and calls == ["GET", "GET"]
    calls.clear()
    with pytest.raises(ServiceUnavailable, match="restarting"):
        registry.rollback("p", "production")
    assert calls == ["POST"]
