"""The HTTP API: problem+json errors, bad input refused, nothing changed."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

import pytest

from llmops.workspace import Workspace
from tests.artifacts.test_paths import BAD_PATHS
from tests.helpers import auth, table_counts

UNKNOWN = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"


@pytest.fixture
def run_id(client: Any, keys: dict[str, str]) -> str:
    response = client.post("/api/v1/runs", headers=auth(keys["maintainer"]),
                           json={"experiment": "api", "name": "r"})
    assert response.status_code == 201
    return str(response.json()["id"])


def upload(client: Any, key: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert client.put(f"/api/v1/blobs/{digest}", headers=auth(key), content=data
                      ).status_code == 201
    return digest


def test_errors_are_rfc9457_problems(client: Any, keys: dict[str, str]) -> None:
    response = client.get(f"/api/v1/runs/{UNKNOWN}", headers=auth(keys["viewer"]))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not found"
    assert UNKNOWN in body["detail"] and body["instance"] == f"/api/v1/runs/{UNKNOWN}"
    assert body["type"].endswith("/not-found")


def test_a_run_and_its_metric_history_over_http(client: Any, keys: dict[str, str],
                                               run_id: str) -> None:
    points = [{"key": "train/loss", "value": 1 / (i + 1), "step": i, "timestamp": 1000 + i}
              for i in range(500)] + [{"key": "nan", "value": "NaN", "step": 0, "timestamp": 1}]
    w = auth(keys["maintainer"])
    assert client.post(f"/api/v1/runs/{run_id}/metrics", headers=w,
                       json={"metrics": points}).status_code == 204
    history = client.get(f"/api/v1/runs/{run_id}/metrics/train/loss",
                         headers=auth(keys["viewer"])).json()
    assert history["steps"] == list(range(500)) and history["values"][1] == 0.5
    run = client.get(f"/api/v1/runs/{run_id}", headers=auth(keys["viewer"])).json()
    assert run["metrics"]["train/loss"]["step"] == 499 and run["metrics"]["nan"]["value"] == "NaN"


def test_logging_to_a_finished_run_is_409_and_changes_nothing(
        client: Any, keys: dict[str, str], run_id: str, workspace: Workspace) -> None:
    w = auth(keys["maintainer"])
    assert client.post(f"/api/v1/runs/{run_id}/end", headers=w, json={}).json()["status"] == \
        "finished"
    before = table_counts(workspace.store)
    response = client.post(f"/api/v1/runs/{run_id}/metrics", headers=w, json={
        "metrics": [{"key": "loss", "value": 1.0, "step": 0, "timestamp": 1}]})
    assert response.status_code == 409 and "finished" in response.json()["detail"]
    assert client.post(f"/api/v1/runs/{run_id}/params", headers=w,
                       json={"params": {"a": 1}}).status_code == 409
    assert table_counts(workspace.store) == before


def test_unknown_run_is_404_for_every_run_route(client: Any, keys: dict[str, str]) -> None:
    w = auth(keys["admin"])
    assert client.post(f"/api/v1/runs/{UNKNOWN}/metrics", headers=w, json={"metrics": []}
                       ).status_code in (204, 404)
    for method, path, body in [
        ("GET", f"/api/v1/runs/{UNKNOWN}", None),
        ("GET", f"/api/v1/runs/{UNKNOWN}/metrics/loss", None),
        ("POST", f"/api/v1/runs/{UNKNOWN}/end", {}),
        ("POST", f"/api/v1/runs/{UNKNOWN}/heartbeat", None),
        ("POST", f"/api/v1/runs/{UNKNOWN}/params", {"params": {"a": 1}}),
        ("POST", f"/api/v1/runs/{UNKNOWN}/tags", {"tags": {"a": 1}}),
        ("POST", f"/api/v1/runs/{UNKNOWN}/metrics",
         {"metrics": [{"key": "l", "value": 1, "step": 0, "timestamp": 1}]}),
        ("GET", f"/api/v1/runs/{UNKNOWN}/artifacts", None),
    ]:
        assert client.request(method, path, headers=w, json=body).status_code == 404, path


@pytest.mark.parametrize(("body", "field"), [
    ({"metrics": [{"key": "loss", "value": "abc", "step": 0, "timestamp": 1}]},
     "body.metrics.0.value"),
    ({"metrics": [{"key": "loss", "value": 1.0, "step": "x", "timestamp": 1}]},
     "body.metrics.0.step"),
    ({"metrics": [{"key": "loss", "value": 1.0, "step": 0}]}, "body.metrics.0.timestamp"),
    ({"metric": []}, "body.metrics"),
    ({"metrics": "loss"}, "body.metrics"),
])
def test_wrong_types_and_missing_fields_are_422_naming_the_field(
        client: Any, keys: dict[str, str], run_id: str, workspace: Workspace,
        body: dict[str, Any], field: str) -> None:
    before = table_counts(workspace.store)
    response = client.post(f"/api/v1/runs/{run_id}/metrics", headers=auth(keys["maintainer"]),
                           json=body)
    assert response.status_code == 422
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]] and field in problem["detail"]
    assert table_counts(workspace.store) == before


def test_a_run_body_with_a_wrong_type_is_422(client: Any, keys: dict[str, str]) -> None:
    response = client.post("/api/v1/runs", headers=auth(keys["maintainer"]),
                           json={"experiment": ["x"]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == \
        "body.experiment"


def test_bad_names_are_400(client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    before = table_counts(workspace.store)
    for name in ("Bad Name", "../x", "a/b"):
        response = client.post("/api/v1/runs", headers=auth(keys["maintainer"]),
                               json={"experiment": name})
        assert response.status_code == 400, name
    assert table_counts(workspace.store) == before


def test_an_upload_whose_bytes_do_not_match_its_digest_is_refused(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    digest = "sha256:" + hashlib.sha256(b"expected").hexdigest()
    response = client.put(f"/api/v1/blobs/{digest}", headers=auth(keys["maintainer"]),
                          content=b"something else")
    assert response.status_code == 400
    assert not workspace.artifacts.exists(digest)


def test_an_upload_over_the_size_limit_is_413(client: Any, keys: dict[str, str],
                                              workspace: Workspace) -> None:
    workspace.settings.max_upload_bytes = 1000
    data = b"x" * 5000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = client.put(f"/api/v1/blobs/{digest}", headers=auth(keys["maintainer"]),
                          content=data)
    assert response.status_code == 413
    assert not workspace.artifacts.exists(digest)

    def chunks() -> Any:  # no Content-Length: the limit is enforced while streaming
        yield data[:2500]
        yield data[2500:]

    response = client.put(f"/api/v1/blobs/{digest}", headers=auth(keys["maintainer"]),
                          content=chunks())
    assert response.status_code == 413
    assert not workspace.artifacts.exists(digest)


def test_bad_artifact_paths_over_http_are_400_and_nothing_is_touched(
        client: Any, keys: dict[str, str], run_id: str, workspace: Workspace) -> None:
    w = auth(keys["maintainer"])
    digest = upload(client, keys["maintainer"], b"content")
    assert client.post(f"/api/v1/runs/{run_id}/artifacts", headers=w, json={
        "name": "model", "kind": "tree", "files": [{"path": "w.bin", "digest": digest}]}
    ).status_code == 201
    before = table_counts(workspace.store)
    for bad in BAD_PATHS:
        # dots too: a client would otherwise collapse ".." segments before sending
        encoded = quote(bad, safe="").replace(".", "%2E")
        for path in (f"/api/v1/runs/{run_id}/download/{encoded}",
                     f"/api/v1/runs/{run_id}/artifacts/{encoded}"):
            response = client.get(path, headers=w)
            assert response.status_code == 400, (bad, path, response.text)
        response = client.get(f"/api/v1/runs/{run_id}/download/model", headers=w,
                              params={"path": bad})
        assert response.status_code == 400, (bad, response.text)
        for body in ({"name": bad, "kind": "file", "digest": digest},
                     {"name": "ok", "kind": "tree", "files": [{"path": bad, "digest": digest}]}):
            response = client.post(f"/api/v1/runs/{run_id}/artifacts", headers=w, json=body)
            assert response.status_code in (400, 422), (bad, body, response.text)
    assert table_counts(workspace.store) == before


def test_downloads_stream_verified_bytes(client: Any, keys: dict[str, str], run_id: str) -> None:
    w = auth(keys["maintainer"])
    digest = upload(client, keys["maintainer"], b"weights")
    client.post(f"/api/v1/runs/{run_id}/artifacts", headers=w,
                json={"name": "dir", "kind": "tree",
                      "files": [{"path": "sub/w.bin", "digest": digest}]})
    response = client.get(f"/api/v1/runs/{run_id}/download/dir", headers=w,
                          params={"path": "sub/w.bin"})
    assert response.content == b"weights" and response.headers["x-llmops-digest"] == digest
    listing = client.get(f"/api/v1/runs/{run_id}/artifacts/dir", headers=w).json()
    assert listing["files"] == [{"path": "sub/w.bin", "digest": digest, "size": 7}]
    missing = client.post("/api/v1/blobs/missing", headers=w,
                          json={"digests": [digest, "sha256:" + "0" * 64]}).json()
    assert missing["digests"] == ["sha256:" + "0" * 64]


def test_the_openapi_document_covers_every_route(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    from tests.server.test_roles import api_routes

    for method, path, _ in api_routes():
        documented = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)  # OpenAPI drops convertors
        assert method.lower() in spec["paths"][documented], (method, path)
    assert "/healthz" in spec["paths"]
    assert spec["paths"]["/api/v1/runs/{run_id}"]["get"]["responses"]["200"]["content"]
