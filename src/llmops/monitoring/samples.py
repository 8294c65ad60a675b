"""What drift compares: a sample of traffic, from a window of traces or a dataset version.

A `Sample` holds, per request, the input text (the non-system turns), the output text,
token counts, latency, status and trace id. Traces of one model (the ``model`` column)
or one route are read newest first, up to `limit` per window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, select

from llmops.errors import InvalidInput
from llmops.store.tables import traces
from llmops.workspace import Workspace

DEFAULT_LIMIT = 10_000


@dataclass
class Sample:
    label: str
    source: str  # traces | dataset
    inputs: list[str] = field(default_factory=list)
    outputs: list[str | None] = field(default_factory=list)
    prompt_tokens: list[float] = field(default_factory=list)  # NaN when unknown
    completion_tokens: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)
    start: int | None = None
    end: int | None = None

    def __len__(self) -> int:
        return len(self.inputs)

    def answered(self) -> list[str]:
        return [o for o in self.outputs if o is not None]

    def array(self, name: str) -> np.ndarray:
        values = np.asarray(getattr(self, name), dtype=float)
        return values[~np.isnan(values)]


def target_clause(model: str | None, route: str | None) -> ColumnElement[bool]:
    """Traces of a registered model (by name) and/or a gateway route."""
    if not model and not route:
        raise InvalidInput("name what to monitor: --model NAME or --route R",
                           errors=[{"field": "model", "message": "model or route required"}])
    clauses = []
    if model:
        name = model.removeprefix("model:").split("@")[0]
        clauses.append(traces.c.model == name)
    if route:
        clauses.append(traces.c.route == route)
    return and_(*clauses)


def _message_text(raw: str) -> str:
    """The non-system turns of a trace's stored input (messages JSON, or a prompt)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(data, list):
        return "\n".join(str(m.get("content", "")) for m in data
                         if isinstance(m, dict) and m.get("role") != "system")
    return data if isinstance(data, str) else raw


def load_traces(workspace: Workspace, *, model: str | None, route: str | None, start: int,
                end: int, where: str | None = None, limit: int = DEFAULT_LIMIT,
                label: str | None = None) -> Sample:
    """The traces of `model`/`route` created in ``[start, end)`` (newest `limit`)."""
    clause = and_(target_clause(model, route), traces.c.created_at >= start,
                  traces.c.created_at < end)
    if where:
        from llmops.traces.query import where_clause

        clause = and_(clause, where_clause(where))
    query = (select(traces.c.id, traces.c.input, traces.c.output, traces.c.prompt_tokens,
                    traces.c.completion_tokens, traces.c.latency_ms, traces.c.status)
             .where(clause).order_by(traces.c.created_at.desc()).limit(limit))
    sample = Sample(label=label or "traces", source="traces", start=start, end=end)
    with workspace.store.read() as conn:
        for row in conn.execute(query):
            sample.trace_ids.append(row.id)
            sample.inputs.append(_message_text(row.input))
            sample.outputs.append(row.output)
            sample.prompt_tokens.append(np.nan if row.prompt_tokens is None
                                        else float(row.prompt_tokens))
            sample.completion_tokens.append(np.nan if row.completion_tokens is None
                                            else float(row.completion_tokens))
            sample.latency_ms.append(float(row.latency_ms))
            sample.status.append(int(row.status))
    return sample


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # a messages list
        return "\n".join(str(m.get("content", "")) for m in value
                         if isinstance(m, dict) and m.get("role") != "system")
    return None


def row_pair(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(input, output) of a dataset row of any kind, as traffic would carry them."""
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        if last.get("role") == "assistant":
            return _text(messages[:-1]), _text(last.get("content"))
        return _text(messages), None
    if "prompt" in row:
        return _text(row["prompt"]), _text(row.get("response", row.get("chosen")))
    if "instruction" in row:
        prompt = str(row["instruction"])
        if row.get("input"):
            prompt += "\n" + str(row["input"])
        return prompt, _text(row.get("output"))
    if "input" in row:
        return _text(row["input"]), _text(row.get("reference", row.get("expected")))
    return _text(row.get("text")), None


def load_dataset(workspace: Workspace, ref: str, *, limit: int = DEFAULT_LIMIT) -> Sample:
    """The rows of a dataset version (``dataset:NAME@V[#SPLIT]``) as a reference sample."""
    from llmops.datasets.rows import iter_rows, open_version

    if not ref.startswith("dataset:"):
        raise InvalidInput(f"invalid reference {ref!r}: use dataset:NAME@VERSION, or "
                           "--reference-window 7d for earlier traces",
                           errors=[{"field": "reference", "message": "dataset:REF"}])
    stored = open_version(workspace, ref)
    split = ref.partition("#")[2]
    label = stored.info.ref + (f"#{split}" if split else "")
    sample = Sample(label=label, source="dataset")
    for row in iter_rows(workspace, ref):
        text, output = row_pair(row)
        if text is None:
            continue
        sample.inputs.append(text)
        sample.outputs.append(output)
        if len(sample.inputs) >= limit:
            break
    return sample
