"""`llmops traces list|show|export` and GET /api/v1/traces[/{id}] with role checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from typer.testing import CliRunner

from llmops.config import Settings
from llmops.store.tables import spans
from llmops.workspace import Workspace
from tests.helpers import auth
from tests.traces.conftest import NOW, add_traces, trace_row

runner = CliRunner()
OTEL = "0af7651916cd43dd8448eb211c80319c"


def _seed(workspace: Workspace) -> None:
    add_traces(workspace, [
        trace_row(1, otel_trace_id=OTEL, otel_span_id="b7ad6b7169203331",
                  otel_parent_span_id="00f067aa0ba902b7", created_at=NOW),
        trace_row(2, status=500, output=None, error="upstream down", route="hotels",
                  model="other"),
        trace_row(3, output="sorry, no"),
    ])
    workspace.store.write(lambda conn: conn.execute(insert(spans), [{
        "trace_id": OTEL, "span_id": "00f067aa0ba902b7", "parent_span_id": None,
        "name": "answer", "kind": "internal", "start_ns": (NOW - 500) * 1_000_000,
        "end_ns": NOW * 1_000_000, "status": "ok", "attributes": "{}", "events": "[]",
        "dropped_attributes": 0, "created_at": NOW}]))


def _cli(*args: str) -> Any:
    from llmops.cli.app import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in args else result.stdout


def test_list_show_and_export_on_the_command_line(sqlite_settings: Settings,
                                                  tmp_path: Path) -> None:
    workspace = Workspace.open()
    _seed(workspace)
    page = _cli("traces", "list", "--model", "support", "--json")
    assert [t["id"][-1] for t in page["items"]] == ["1", "3"]
    page = _cli("traces", "list", "--where", 'output contains "sorry"', "--json")
    assert [t["id"][-1] for t in page["items"]] == ["3"]
    page = _cli("traces", "list", "--search", "question 2", "--route", "hotels",
                "--since", str(NOW - 60_000), "--limit", "5", "--json")
    assert [t["id"][-1] for t in page["items"]] == ["2"]
    text = _cli("traces", "list")
    assert "01TRACE0000000000000000002" in text and "upstream down" in text
    shown = _cli("traces", "show", "01TRACE0000000000000000001", "--json")
    assert shown["tree"][0]["name"] == "answer"
    assert shown["tree"][0]["children"][0]["gateway_trace_id"] == "01TRACE0000000000000000001"
    tree = _cli("traces", "show", "01TRACE0000000000000000001")
    assert "answer" in tree and "gateway travel" in tree
    out = tmp_path / "t.parquet"
    done = _cli("traces", "export", "--format", "parquet", "--out", str(out), "--model",
                "support", "--json")
    assert done == {"path": str(out), "format": "parquet", "traces": 2}


def test_bad_input_exits_1_with_the_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOPS_")}
    env["LLMOPS_HOME"] = str(tmp_path / "home")
    for args, message in [
        (["traces", "list", "--where", "status >> 3"], "invalid --where: expected a string,"),
        (["traces", "show", "01NOPE"], "no trace '01NOPE'"),
        (["traces", "export", "--format", "csv", "--out", str(tmp_path / "x")],
         "invalid format 'csv': use jsonl or parquet"),
    ]:
        result = subprocess.run([sys.executable, "-m", "llmops", *args], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_http_queries_need_the_read_permission(client: Any, workspace: Workspace,
                                               keys: dict[str, str]) -> None:
    _seed(workspace)
    response = client.get("/api/v1/traces", params={"model": "support", "limit": 1},
                          headers=auth(keys["viewer"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["id"][-1] for t in body["items"]] == ["1"] and body["next_cursor"]
    more = client.get("/api/v1/traces", params={"model": "support",
                                                "cursor": body["next_cursor"]},
                      headers=auth(keys["viewer"])).json()
    assert [t["id"][-1] for t in more["items"]] == ["3"] and more["next_cursor"] is None
    bad = client.get("/api/v1/traces", params={"where": "nope == 1"},
                     headers=auth(keys["viewer"]))
    assert bad.status_code == 400 and bad.json()["detail"].startswith(
        "invalid --where: unknown column 'nope'")
    shown = client.get("/api/v1/traces/01TRACE0000000000000000001",
                       headers=auth(keys["viewer"]))
    assert shown.status_code == 200 and shown.json()["otel_trace_id"] == OTEL
    missing = client.get("/api/v1/traces/01NOPE", headers=auth(keys["viewer"]))
    assert missing.status_code == 404
    for path in ("/api/v1/traces", "/api/v1/traces/01TRACE0000000000000000001",
                 "/api/v1/traces/export"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=auth(keys["inference"])).status_code == 403


def test_http_export_as_jsonl_and_parquet(client: Any, workspace: Workspace,
                                          keys: dict[str, str]) -> None:
    import io

    import pyarrow.parquet as pq

    _seed(workspace)
    viewer = auth(keys["viewer"])
    lines = client.get("/api/v1/traces/export", params={"model": "support"}, headers=viewer)
    assert lines.status_code == 200 and lines.headers["x-llmops-count"] == "2"
    assert [json.loads(x)["id"][-1] for x in lines.text.splitlines()] == ["1", "3"]
    table = client.get("/api/v1/traces/export", params={"format": "parquet"}, headers=viewer)
    assert table.status_code == 200
    assert pq.read_table(io.BytesIO(table.content)).num_rows == int(
        table.headers["x-llmops-count"])
    bad = client.get("/api/v1/traces/export", params={"where": "nope == 1"}, headers=viewer)
    assert bad.status_code == 400 and "unknown column 'nope'" in bad.json()["detail"]
    assert client.get("/api/v1/traces/export", params={"format": "csv"},
                      headers=viewer).status_code == 422


def test_the_cli_reads_a_remote_server_when_one_is_configured(
        live_server: str, workspace: Workspace, keys: dict[str, str], tmp_path: Path,
        monkeypatch: Any) -> None:
    from llmops.config import get_settings

    _seed(workspace)
    monkeypatch.setenv("LLMOPS_SERVER_URL", live_server)
    monkeypatch.setenv("LLMOPS_API_KEY", keys["viewer"])
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path / "elsewhere"))  # not the server's
    get_settings.cache_clear()
    try:
        page = _cli("traces", "list", "--model", "support", "--limit", "1", "--json")
        assert [t["id"][-1] for t in page["items"]] == ["1"] and page["next_cursor"]
        shown = _cli("traces", "show", "01TRACE0000000000000000001", "--json")
        assert shown["tree"][0]["name"] == "answer"
        out = tmp_path / "remote.jsonl"
        done = _cli("traces", "export", "--format", "jsonl", "--out", str(out), "--json")
        assert done["traces"] == 3 and len(out.read_text().splitlines()) == 3
        from llmops.cli.app import app

        bad = runner.invoke(app, ["traces", "list", "--where", "nope == 1"])
        assert bad.exit_code != 0
        assert "unknown column 'nope'" in str(bad.exception)
    finally:
        get_settings.cache_clear()
