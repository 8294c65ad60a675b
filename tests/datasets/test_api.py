"""Datasets over HTTP: streamed multipart upload with a size limit, reads, roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops.workspace import Workspace
from tests.datasets.conftest import chat_rows
from tests.helpers import auth, table_counts


def upload(client: Any, key: str, name: str, body: bytes, **fields: str) -> Any:
    return client.post(f"/api/v1/datasets/{name}/versions", headers=auth(key),
                       files={"file": ("data.jsonl", body, "application/x-ndjson")},
                       data={"kind": "chat", **fields})


def test_upload_read_and_download(client: Any, keys: dict[str, str]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in chat_rows(50)).encode()
    response = upload(client, keys["maintainer"], "qa", body, split="train=0.8,test=0.2")
    assert response.status_code == 201, response.text
    assert response.json()["version"]["row_count"] == 50
    again = upload(client, keys["maintainer"], "qa", body, split="train=0.8,test=0.2")
    assert again.status_code == 200 and again.json()["created"] is False
    viewer = auth(keys["viewer"])
    assert [d["name"] for d in client.get("/api/v1/datasets", headers=viewer).json()] == ["qa"]
    shown = client.get("/api/v1/datasets/qa/versions/1", headers=viewer).json()
    assert shown["splits"]["fractions"] == {"train": 0.8, "test": 0.2}
    page = client.get("/api/v1/datasets/qa/versions/latest/rows", headers=viewer,
                      params={"limit": 10, "offset": 5}).json()
    assert len(page) == 10 and page[0]["messages"] == chat_rows(50)[5]["messages"]
    test_rows = client.get("/api/v1/datasets/qa/versions/1/download", headers=viewer,
                           params={"split": "test"}).text.splitlines()
    assert len(test_rows) == shown["splits"]["counts"]["test"]


def test_an_upload_over_the_limit_is_413_and_stores_nothing(
        client: Any, keys: dict[str, str], workspace: Workspace) -> None:
    workspace.settings.max_upload_bytes = 10_000
    before = table_counts(workspace.store)
    body = "".join(json.dumps(r) + "\n" for r in chat_rows(200)).encode()
    response = upload(client, keys["maintainer"], "big", body)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert table_counts(workspace.store) == before


def test_bad_uploads_are_refused(client: Any, keys: dict[str, str],
                                 workspace: Workspace) -> None:
    before = table_counts(workspace.store)
    w = auth(keys["maintainer"])
    response = upload(client, keys["maintainer"], "bad", b'{"messages": 1}\n')
    assert response.status_code == 422 and "data.jsonl:1: messages" in response.json()["detail"]
    response = client.post("/api/v1/datasets/bad/versions", headers=w, data={"kind": "chat"},
                           files={"other": ("x.jsonl", b"{}", "text/plain")})
    assert response.status_code == 400 and "'file'" in response.json()["detail"]
    response = upload(client, keys["maintainer"], "Bad Name", b'{"text": "x"}\n')
    assert response.status_code == 400
    assert client.post("/api/v1/datasets/x/versions", headers=w, json={}).status_code == 400
    assert table_counts(workspace.store) == before


def test_unknown_dataset_is_404_and_viewers_cannot_write(client: Any,
                                                         keys: dict[str, str]) -> None:
    viewer = auth(keys["viewer"])
    response = client.get("/api/v1/datasets/nope/versions/1", headers=viewer)
    assert response.status_code == 404 and "no dataset 'nope'" in response.json()["detail"]
    assert upload(client, keys["viewer"], "x", b'{"text": "x"}\n').status_code == 403


def test_derive_and_diff_over_http(client: Any, keys: dict[str, str], tmp_path: Path) -> None:
    body = "".join(json.dumps(r) + "\n" for r in chat_rows(40)).encode()
    upload(client, keys["maintainer"], "qa", body)
    derived = client.post("/api/v1/datasets/rome/derive", headers=auth(keys["maintainer"]),
                          json={"source": "qa@1", "where": "messages LIKE '%Rome%'"})
    assert derived.status_code == 201 and derived.json()["version"]["row_count"] == 5
    d = client.get("/api/v1/dataset-diff", headers=auth(keys["viewer"]),
                   params={"a": "qa@1", "b": "rome@1"}).json()
    assert d["removed"] == 35 and d["added"] == 0


def test_profile_over_http(client: Any, keys: dict[str, str]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in chat_rows(20)).encode()
    upload(client, keys["maintainer"], "qa", body)
    profile = client.get("/api/v1/datasets/qa/versions/1/profile", headers=auth(keys["viewer"]))
    assert profile.status_code == 200 and profile.json()["row_count"] == 20
    html = client.get("/api/v1/datasets/qa/versions/1/profile", headers=auth(keys["viewer"]),
                      params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text
