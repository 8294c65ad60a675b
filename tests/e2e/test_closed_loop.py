"""The closed loop on the tiny model: a served version answers, people correct it, the
corrections become a dataset version, a fine-tune on it passes its gate and is promoted,
the gateway's next answer comes from the new version, and lineage walks from that answer
back to the feedback that trained its model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from llmops import feedback, registry
from llmops.auth.keys import create_key
from llmops.cli.app import app
from llmops.config import Settings
from llmops.gateway.routes import Route, RouteStore, Target
from llmops.pipelines import run_pipeline
from llmops.store.tables import traces
from llmops.tracking import open_tracking
from llmops.workspace import Workspace
from tests.helpers import auth
from tests.tiny import home, qa_rows, tiny_base  # noqa: F401

pytestmark = pytest.mark.slow
CHAT = "/v1/chat/completions"

PIPELINE = """
datasets:
  - name: travel-fixes
    kind: sft
    where: route == "travel"
    min_rows: 8
  - name: travel-fixes-eval
    kind: eval
    where: route == "travel"
train:
  recipe: sft
  base: model:travel@production
  data: ${datasets.travel-fixes}
  lora: true
  max_steps: 100
  lr: 0.005
  batch_size: 4
  register: travel
promote:
  alias: production
  data: ${datasets.travel-fixes-eval}
  metrics: [rougeL]
  max_new_tokens: 24
  gates: ["rougeL > production"]
"""


def _served_by(trace_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with Workspace.open().store.read() as conn:
            found = conn.execute(select(traces.c.model_version_id).where(
                traces.c.id == trace_id)).scalar()
        if found:
            return str(found)
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} was not written")


def test_corrections_train_the_next_model_and_lineage_walks_back(
        home: Settings, tiny_base: Path, tmp_path: Path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from llmops.server import create_app

    v1 = registry.register("travel", tiny_base)
    registry.set_alias("travel", "1", "production")
    RouteStore(Workspace.open()).put(Route(name="travel", targets=[
        Target(kind="model", model="model:travel@production")]))
    key = create_key(Workspace.open().store, name="app", role="inference", actor="test")[0]
    rows = qa_rows(10)

    def ask(client: TestClient, question: str) -> str:
        reply = client.post(CHAT, headers=auth(key), json={
            "model": "travel", "max_tokens": 12,
            "messages": [{"role": "user", "content": question}]})
        assert reply.status_code == 200, reply.text
        return reply.headers["x-llmops-trace-id"]

    with TestClient(create_app(home)) as client:
        client.app.state.gateway.refresh_s = 0.1  # type: ignore[attr-defined]
        asked = [(ask(client, r["messages"][1]["content"]), r)  # type: ignore[index]
                 for r in rows]
        corrections = []
        for trace_id, row in asked:
            assert _served_by(trace_id) == v1.id
            corrections.append(feedback.add_feedback(
                trace_id, score=1, correction=row["messages"][2]["content"],  # type: ignore[index]
                actor="reviewer@example.com").id)

        pipeline = tmp_path / "retrain.yaml"
        pipeline.write_text(PIPELINE)
        report = run_pipeline(pipeline)
        assert report.status == "promoted", report
        assert report.rows == {"travel-fixes": 10, "travel-fixes-eval": 10}
        v2 = registry.get("model:travel@production")
        assert v2.version == 2 and report.model == "model:travel@2"

        time.sleep(0.2)  # past the gateway's alias refresh
        answer = ask(client, rows[0]["messages"][1]["content"])  # type: ignore[index]
    assert _served_by(answer) == v2.id

    assert open_tracking().lineage(f"trace:{answer}", depth=10).upstream
    shown = CliRunner().invoke(app, ["lineage", "show", f"trace:{answer}", "--json"])
    assert shown.exit_code == 0, shown.output
    upstream = {n for e in json.loads(shown.output)["upstream"]
                for n in (e["source"], e["target"])}
    assert f"model:{v2.id}" in upstream
    assert f"run:{report.run_id}" in upstream
    assert {f"feedback:{c}" for c in corrections} <= upstream
