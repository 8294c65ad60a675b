"""Online evaluation: score a sampled share of a route's traffic off the request path.

A route's `online_eval` option names a share (0-1) and reference-free metrics
(``json_valid``, ``length``; ``regex_match``/``json_schema`` with the route's pattern or
schema as `reference`) and LLM judges (rubric kind, through judges.py). The gateway's
trace writer hands every batch it has committed to `OnlineEvaluator.offer`, which keeps
the answered traces of routes with online evaluation; its own thread then picks the
sample (a trace is in it when the hash of its id falls under the share, so the choice is
stable across processes and restarts) and stores each score as feedback from source
``auto:<metric>`` or ``auto:judge.<name>`` (actor ``llmops:online-eval``, idempotency key
per trace and metric, so scoring a trace twice stores it once).

Nothing here runs on the request path, nor slows the trace writer: `offer` appends the
answered traces of a batch to a deque; the evaluator's thread reads the route table
(re-read every `refresh_s`, and at once for a route it has not seen) and drops what is
not sampled. When it falls behind by `capacity` traces it skips further ones and counts
them in `skipped` (a sample is a sample; requests are never slowed or refused for it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator, model_validator

if TYPE_CHECKING:
    from llmops.workspace import Workspace

ACTOR = "llmops:online-eval"
REFERENCE_FREE = ("json_valid", "length")
WITH_REFERENCE = ("regex_match", "json_schema")  # the route's `reference` is the pattern
CHUNK = 256  # traces scored, and their scores stored, together


class OnlineEval(BaseModel):
    """A route's online evaluation: which share of its answers to score, and how."""

    share: float = Field(default=0.0, ge=0.0, le=1.0)
    metrics: list[str] = []
    judges: list[dict[str, Any]] = []  # evaluation.judges.JudgeSpec, kind rubric
    reference: str | None = None  # regex_match's pattern or json_schema's schema

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in REFERENCE_FREE + WITH_REFERENCE:
                raise ValueError(f"online evaluation has no reference answers: metric "
                                 f"{name!r} cannot be used; use "
                                 + ", ".join(REFERENCE_FREE + WITH_REFERENCE))
        return names

    @field_validator("judges")
    @classmethod
    def _judges(cls, judges: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not judges:
            return judges
        from llmops.evaluation.judges import JudgeSpec  # only when judges are configured

        specs = [JudgeSpec.model_validate(j) for j in judges]
        for spec in specs:
            if spec.kind != "rubric":
                raise ValueError(f"judge {spec.name}: online evaluation has no reference "
                                 "or second answer; use a rubric judge")
        return [s.model_dump(exclude_defaults=True) for s in specs]

    @model_validator(mode="after")
    def _reference(self) -> OnlineEval:
        needs = [m for m in self.metrics if m in WITH_REFERENCE]
        if needs and not self.reference:
            raise ValueError(f"metric {needs[0]} needs `reference` (the pattern or schema "
                             "answers must match)")
        return self

    @property
    def active(self) -> bool:
        return self.share > 0 and bool(self.metrics or self.judges)


def sampled(trace_id: str, share: float) -> bool:
    """Whether a trace is in a `share` sample: stable for a given id."""
    digest = hashlib.sha256(trace_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _question(raw: str) -> str:
    import json

    try:
        messages = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(messages, list):
        users = [m.get("content", "") for m in messages if isinstance(m, dict)
                 and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return str(messages)


class OnlineEvaluator:
    """The background worker: `offer(rows)` after traces are committed; `close()` scores
    what is waiting and stops."""

    def __init__(self, workspace: Workspace, *, refresh_s: float = 2.0, poll_s: float = 0.1,
                 capacity: int = 10_000) -> None:
        self.workspace = workspace
        self.refresh_s = refresh_s
        self.poll_s = poll_s
        self.capacity = capacity
        self.scored = 0  # feedback rows stored
        self.failed = 0  # scores that could not be computed or stored
        self.skipped = 0  # traces not looked at because the evaluator fell behind
        self._pending: deque[dict[str, Any]] = deque()
        self._routes: dict[str, OnlineEval | None] = {}
        self._routes_at = -1e9
        self._judges: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="llmops-online-eval")
        self._thread.start()

    def _refresh(self) -> None:
        from llmops.gateway.routes import RouteStore

        self._routes_at = time.monotonic()
        try:
            routes = RouteStore(self.workspace).list()
        except Exception:  # the store is down: keep the last routes, try again later
            return
        self._routes = {r.name: r.options.online_eval for r in routes}

    def offer(self, rows: list[dict[str, Any]]) -> None:
        """Take committed traces (called by the trace writer after each batch)."""
        for row in rows:
            if row.get("status") == 200 and row.get("output") is not None:
                if len(self._pending) >= self.capacity:
                    self.skipped += 1
                    continue
                self._pending.append(row)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._drain()
        self._drain()

    def _spec(self, route: str | None) -> OnlineEval | None:
        age = time.monotonic() - self._routes_at
        if age > self.refresh_s or (route not in self._routes and age > 0.2):
            self._refresh()  # a new route, or options that may have changed
        spec = self._routes.get(route or "")
        return spec if spec is not None and spec.active else None

    def _drain(self) -> None:
        while self._pending:
            chunk = [self._pending.popleft() for _ in range(min(CHUNK, len(self._pending)))]
            groups: dict[str, tuple[OnlineEval, list[dict[str, Any]]]] = {}
            for row in chunk:
                spec = self._spec(row.get("route"))
                if spec is not None and sampled(row["id"], spec.share):
                    groups.setdefault(row["route"], (spec, []))[1].append(row)
            scores: list[tuple[str, dict[str, Any]]] = []
            for spec, rows in groups.values():
                scores += self.evaluate(rows, spec)
            self._store(scores)

    def evaluate(self, rows: list[dict[str, Any]], spec: OnlineEval
                 ) -> list[tuple[str, dict[str, Any]]]:
        """``(trace id, feedback fields)`` for every metric and judge of `spec` on each
        of `rows` (metrics over the whole list at once, judges concurrently)."""
        from llmops.evaluation.metrics import score

        outputs = [row["output"] for row in rows]
        found: list[tuple[str, dict[str, Any]]] = []
        for name in spec.metrics:
            try:
                _, each = score([name], outputs, [spec.reference or ""] * len(rows))[name]
            except Exception:
                self.failed += len(rows)
                continue
            found += [(row["id"], {"source": f"auto:{name}", "value": value})
                      for row, value in zip(rows, each, strict=True)]
        for judge_spec in spec.judges:
            found += self._judge(rows, judge_spec)
        return found

    def _judge(self, rows: list[dict[str, Any]], spec: dict[str, Any]
               ) -> list[tuple[str, dict[str, Any]]]:
        from llmops.evaluation.judges import Judge, JudgeSpec, Verdict

        parsed = JudgeSpec.model_validate(spec)
        key = parsed.model_dump_json()
        try:
            judge = self._judges.get(key) or self._judges.setdefault(key, Judge(parsed))
            verdicts = judge.score([(_question(row["input"]), row["output"], None)
                                    for row in rows])
        except Exception:
            self.failed += len(rows)
            return []
        found = []
        for row, verdict in zip(rows, verdicts, strict=True):
            if not isinstance(verdict, Verdict):  # a Failure: no valid reply after retries
                self.failed += 1
                continue
            found.append((row["id"], {"source": f"auto:{parsed.metric}",
                                      "value": verdict.score,
                                      "score": int(round(verdict.score)),
                                      "comment": verdict.reason}))
        return found

    def _store(self, scores: list[tuple[str, dict[str, Any]]]) -> None:
        """All scores of a chunk in one transaction, once per trace and source."""
        from llmops.feedback import store

        if not scores:
            return
        for trace_id, fields in scores:
            digest = hashlib.sha256(f"{trace_id}\n{fields['source']}".encode()).hexdigest()
            fields["idempotency_key"] = f"online:{digest[:32]}"
        try:
            self.scored += store.add_many(self.workspace, scores, actor=ACTOR)
        except Exception:  # the store is down, or a bad value: count, keep running
            self.failed += len(scores)

    def close(self, timeout: float = 30.0) -> None:
        """Score what is waiting, then stop."""
        self._stop.set()
        self._thread.join(timeout)
