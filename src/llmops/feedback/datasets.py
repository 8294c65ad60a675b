"""Datasets from production traces and their human feedback (`llmops datasets from-traces`).

Three kinds, each in the shape of the datasets imported by hand, so training and
evaluation read them unchanged:

    sft         chat rows ``{"messages": [...input, {"role": "assistant", ...}]}`` from
                traces with good feedback (thumbs up or score >= `min_score`, and no
                thumbs down or lower score) and from traces with a correction, which
                replaces the answer.
    preference  ``{"prompt": [...input], "chosen": str, "rejected": str}`` from
                (correction, original answer) and from A/B preferences (this answer
                against another text or another trace's answer).
    eval        ``{"input": str, "reference": str}`` from traces with a correction.

Only human feedback is used (automatic online-evaluation scores are not ground truth);
of several corrections of a trace the newest wins. PII is redacted by default with the
datasets package's detectors, and the redaction report is kept with the version. The new
version's lineage points at every trace and feedback row that made one of its rows
(``trace:ID -> dataset:VERSION`` and ``feedback:ID -> dataset:VERSION``, relation
``used``), recorded after the version (a rerun of the same query records any missing
edges, because identical content finds the same version).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from llmops.datasets.importer import ImportOptions, ImportReport, import_records
from llmops.errors import InvalidInput, ValidationFailed
from llmops.feedback.models import Feedback
from llmops.store.tables import feedback, traces
from llmops.tracking import lineage
from llmops.workspace import Workspace

KINDS = {"sft": "chat", "preference": "preference", "eval": "eval"}
_BATCH = 500


class FromTracesReport(ImportReport):
    """An import report plus what the version was built from (also in its lineage)."""

    traces_matched: int = 0
    trace_ids: list[str] = []
    feedback_ids: list[str] = []


def _messages(raw: str) -> list[dict[str, str]]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return [{"role": str(m.get("role")), "content": str(m.get("content", ""))}
                for m in value]
    return [{"role": "user", "content": value if isinstance(value, str) else json.dumps(value)}]


def _last_user(messages: list[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else messages[-1]["content"]


def _matching(conn: Connection, where: str | None, since: str | None
              ) -> Iterator[list[Any]]:
    """Answered traces matching the query that have human feedback, in batches."""
    from llmops.traces.query import since_ms, where_clause

    query = select(traces).where(where_clause(where or ""), traces.c.status == 200,
                                 traces.c.output.is_not(None),
                                 traces.c.id.in_(select(feedback.c.trace_id).where(
                                     feedback.c.source == "human")))
    if since:
        query = query.where(traces.c.created_at >= since_ms(since))
    batch: list[Any] = []
    for row in conn.execute(query.order_by(traces.c.created_at, traces.c.id)):
        batch.append(row)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _feedback_of(conn: Connection, trace_ids: list[str]) -> dict[str, list[Feedback]]:
    found: dict[str, list[Feedback]] = {t: [] for t in trace_ids}
    for row in conn.execute(select(feedback).where(
            feedback.c.trace_id.in_(trace_ids), feedback.c.source == "human")
            .order_by(feedback.c.created_at, feedback.c.id)):
        found[row.trace_id].append(Feedback.from_row(row))
    return found


def _outputs(conn: Connection, trace_ids: set[str]) -> dict[str, str]:
    if not trace_ids:
        return {}
    return {r.id: r.output for r in conn.execute(select(traces.c.id, traces.c.output).where(
        traces.c.id.in_(trace_ids), traces.c.output.is_not(None)))}


def _good(f: Feedback, min_score: int) -> bool | None:
    """True (good), False (bad) or None (no judgement) of one feedback row."""
    if f.thumbs is None and f.score is None:
        return None
    return (f.thumbs or 1) > 0 and (f.score is None or f.score >= min_score)


def _rows(kind: str, trace: Any, given: list[Feedback], others: dict[str, str],
          min_score: int) -> Iterator[tuple[dict[str, Any], list[str], list[str]]]:
    """(row, trace ids, feedback ids) for each row one trace yields."""
    messages = _messages(trace.input)
    corrections = [f for f in given if f.correction]
    fix = corrections[-1] if corrections else None
    if kind == "sft":
        if fix is not None:
            yield ({"messages": [*messages, {"role": "assistant", "content": fix.correction}]},
                   [trace.id], [fix.id])
            return
        verdicts = [(f, _good(f, min_score)) for f in given]
        good = [f for f, v in verdicts if v]
        if good and not any(v is False for _, v in verdicts) and trace.output.strip():
            yield ({"messages": [*messages, {"role": "assistant", "content": trace.output}]},
                   [trace.id], [f.id for f in good])
    elif kind == "eval":
        if fix is not None:
            yield {"input": _last_user(messages), "reference": fix.correction}, [trace.id], [
                fix.id]
    else:
        if fix is not None and fix.correction != trace.output:
            yield ({"prompt": messages, "chosen": fix.correction, "rejected": trace.output},
                   [trace.id], [fix.id])
        for f in given:
            p = f.preference
            if p is None:
                continue
            other = p.other_output if p.other_output is not None else others.get(
                p.other_trace_id or "")
            if other is None or other == trace.output:
                continue
            chosen, rejected = (trace.output, other) if p.chosen == "this" else (
                other, trace.output)
            used = [trace.id] + ([p.other_trace_id] if p.other_trace_id else [])
            yield {"prompt": messages, "chosen": chosen, "rejected": rejected}, used, [f.id]


def from_traces(workspace: Workspace, name: str, *, kind: str, where: str | None = None,
                since: str | None = None, min_score: int = 4, redact: bool = True,
                actor: str) -> FromTracesReport:
    """Build a new version of dataset `name` from traces and their feedback.

    Args:
        kind: ``sft`` (a chat dataset), ``preference`` or ``eval``.
        where: A trace query (`llmops.traces.query.where_clause`), e.g.
            ``route == 'travel'``; empty: every trace.
        since: Only traces this recent (``24h``, ``7d``, an ISO time).
        min_score: The lowest 1-5 score that counts as good feedback (sft).
        redact: Replace PII with placeholders (the default).

    Raises:
        InvalidInput: an unknown kind, a bad query, or no trace yields a row.
        ValidationFailed: `min_score` outside 1-5.
    """
    from llmops.refs import check_name

    check_name(name, what="dataset name")
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: use sft, preference or eval",
                           errors=[{"field": "kind", "message": "unknown kind"}])
    if isinstance(min_score, bool) or not isinstance(min_score, int) \
            or not 1 <= min_score <= 5:
        raise ValidationFailed(f"min_score must be from 1 to 5, not {min_score!r}",
                               errors=[{"field": "min_score", "message": "out of range"}])
    used_traces: dict[str, None] = {}
    used_feedback: dict[str, None] = {}
    matched = 0
    options = ImportOptions(kind=KINDS[kind], redact_pii=redact, source={
        "type": "traces", "kind": kind, "where": where, "since": since,
        "min_score": min_score, "redact": redact})

    def generate(conn: Connection) -> Iterator[tuple[str, dict[str, Any]]]:
        """Rows, batch by batch (never all traces in memory), noting what each used."""
        nonlocal matched
        for batch in _matching(conn, where, since):
            matched += len(batch)
            given = _feedback_of(conn, [t.id for t in batch])
            others = _outputs(conn, {f.preference.other_trace_id for fs in given.values()
                                     for f in fs if f.preference
                                     and f.preference.other_trace_id})
            for trace in batch:
                for row, t_ids, f_ids in _rows(kind, trace, given[trace.id], others,
                                               min_score):
                    used_traces.update(dict.fromkeys(t_ids))
                    used_feedback.update(dict.fromkeys(f_ids))
                    yield f"trace {trace.id}", row
        # read by the importer after the last row, when it records the version
        options.source.update(traces=len(used_traces), feedback=len(used_feedback))

    with workspace.store.read() as conn:
        rows = generate(conn)
        first = next(rows, None)
        if first is None:
            raise InvalidInput(
                f"no {kind} rows: {matched} answered trace(s) with human feedback match "
                f"--where {where or ''!r}" + (f" since {since}" if since else "")
                + {"sft": f", and none has a correction or good feedback (thumbs up or "
                          f"score >= {min_score})",
                   "preference": ", and none has a correction or an A/B preference",
                   "eval": ", and none has a correction"}[kind])
        report = import_records(workspace, name, itertools.chain([first], rows), options,
                                actor=actor)
    node = f"dataset:{report.version.id}"

    def link(conn: Connection) -> None:
        for trace_id in used_traces:
            lineage.add_edge(conn, f"trace:{trace_id}", node, "used")
        for feedback_id in used_feedback:
            lineage.add_edge(conn, f"feedback:{feedback_id}", node, "used")

    workspace.store.write(link)
    return FromTracesReport(**report.model_dump(), traces_matched=matched,
                            trace_ids=list(used_traces), feedback_ids=list(used_feedback))
