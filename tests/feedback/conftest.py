"""Traces for feedback tests, written through the gateway's own trace writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from llmops.clock import now_ms
from llmops.gateway.traces import TraceWriter
from llmops.ids import new_id
from llmops.workspace import Workspace


def make_traces(workspace: Workspace, *items: dict[str, Any],
                listener: Callable[[list[dict[str, Any]]], None] | None = None) -> list[str]:
    """Write one trace per item (``question``, ``answer`` and any trace column) and
    return their ids, in order; `listener` gets the written batches (online eval)."""
    writer = TraceWriter(workspace.store)
    if listener is not None:
        writer.listeners.append(listener)
    ids = []
    for i, item in enumerate(items):
        item = dict(item)
        question = item.pop("question", f"question {i}")
        answer = item.pop("answer", f"answer {i}")
        trace_id = item.pop("id", None) or new_id()
        ids.append(trace_id)
        writer.put({"id": trace_id, "route": "travel", "target": "model:travel@1",
                    "model_version_id": None, "prompt_version_id": None, "key_id": None,
                    "status": 200, "error": None,
                    "input": json.dumps([{"role": "user", "content": question}]),
                    "output": answer, "prompt_tokens": 3, "completion_tokens": 2,
                    "latency_ms": 12.5, "ttft_ms": None, "stream": 0, "guard": None,
                    "created_at": now_ms() + i, **item})
    writer.close()
    assert writer.failed == 0
    return ids
