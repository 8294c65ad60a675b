"""Feedback on traces, annotation queues, online evaluation and datasets from traces.

    from llmops import feedback
    fb = feedback.add_feedback(trace_id, score=2, correction="Porto is in Portugal.",
                               idempotency_key="form-123")
    feedback.list_feedback(trace_id=trace_id)
    feedback.create_annotation_queue("review", where="route == 'travel'", sample=50)
    item = feedback.next_annotation("review")          # None when the queue is done
    feedback.annotate("review", item.position, score=4)
    report = feedback.dataset_from_traces("travel-prefs", kind="preference",
                                          where="route = 'travel'")

Every function takes an optional `workspace` (default: `Workspace.open()`) and `actor`
(default: the local user). Errors are `llmops.errors`: an unknown trace is `NotFound`
(404 over HTTP), a bad value `ValidationFailed` (422) naming the field.
"""

from __future__ import annotations

from typing import Any

from llmops.feedback.models import Feedback, Preference
from llmops.workspace import Workspace

__all__ = [
    "Feedback",
    "Preference",
    "add_feedback",
    "annotate",
    "create_annotation_queue",
    "dataset_from_traces",
    "get_feedback",
    "list_annotation_queues",
    "list_feedback",
    "next_annotation",
]


def _ws(workspace: Workspace | None) -> Workspace:
    return workspace or Workspace.open()


def _actor(actor: str | None) -> str:
    from llmops.auth.audit import local_actor

    return actor or local_actor()


def add_feedback(trace_id: str, *, score: int | None = None, thumbs: int | str | None = None,
                 labels: list[str] | None = None, comment: str | None = None,
                 correction: str | None = None,
                 preference: Preference | dict[str, Any] | None = None,
                 actor: str | None = None, idempotency_key: str | None = None,
                 key_id: str | None = None, only_key: str | None = None,
                 source: str = "human", value: float | None = None,
                 workspace: Workspace | None = None) -> Feedback:
    """Record feedback on a trace and return it.

    Args:
        trace_id: The trace judged (the gateway returns it as ``x-llmops-trace-id``).
        score: 1-5.
        thumbs: ``"up"``/``"down"`` or +1/-1.
        labels: Short strings (1-64 characters, at most 32).
        comment: Free text.
        correction: The answer the trace should have given; `dataset_from_traces` uses it
            as the answer of SFT rows, the chosen side of preference rows and the
            reference of eval rows.
        preference: An A/B judgement against another response (`Preference`).
        actor: Who gives it (default: the local user).
        idempotency_key: A retried submission with the same (actor, key) is stored once;
            the retry returns the first submission unchanged.
        key_id: The API key that submitted it (HTTP).
        only_key: Accept only traces made with this key (inference keys); any other
            trace is reported as not found.
        source: ``human``, or ``auto:<metric>`` for automatic scores.
        value: An automatic metric's raw value.

    Raises:
        NotFound: no such trace (or, with `only_key`, not one of that key's traces).
        ValidationFailed: a value out of range; nothing is stored.
    """
    from llmops.feedback import store

    return store.add(_ws(workspace), trace_id, actor=_actor(actor), key_id=key_id,
                     only_key=only_key, source=source, score=score, thumbs=thumbs,
                     labels=labels, comment=comment, correction=correction,
                     preference=preference, idempotency_key=idempotency_key, value=value)


def get_feedback(feedback_id: str, *, workspace: Workspace | None = None) -> Feedback:
    from llmops.feedback import store

    return store.get(_ws(workspace), feedback_id)


def list_feedback(*, trace_id: str | None = None, source: str | None = None,
                  since_ms: int | None = None, key_id: str | None = None, limit: int = 100,
                  workspace: Workspace | None = None) -> list[Feedback]:
    """Feedback, newest first, optionally of one trace, source, key or since a time."""
    from llmops.feedback import store

    return store.list_(_ws(workspace), trace_id=trace_id, source=source, since_ms=since_ms,
                       key_id=key_id, limit=limit)


def dataset_from_traces(name: str, *, kind: str, where: str | None = None,
                        since: str | None = None, min_score: int = 4, redact: bool = True,
                        workspace: Workspace | None = None, actor: str | None = None
                        ) -> Any:
    """A new dataset version built from traces and their feedback (an `ImportReport`
    with ``.used``: the trace and feedback ids its lineage points at).
    See `llmops.feedback.datasets.from_traces`."""
    from llmops.feedback.datasets import from_traces

    return from_traces(_ws(workspace), name, kind=kind, where=where, since=since,
                       min_score=min_score, redact=redact, actor=_actor(actor))


def create_annotation_queue(name: str, *, where: str | None = None, sample: int = 50,
                            since: str | None = None, workspace: Workspace | None = None,
                            actor: str | None = None) -> Any:
    """A queue of up to `sample` random traces matching `where` (the trace query
    language of `llmops traces list --where`) and `since`; returns a `Queue`."""
    from llmops.feedback.queues import create_queue

    return create_queue(_ws(workspace), name, where=where, sample=sample, since=since,
                        actor=_actor(actor))


def list_annotation_queues(*, workspace: Workspace | None = None) -> list[Any]:
    from llmops.feedback.queues import list_queues

    return list_queues(_ws(workspace))


def next_annotation(queue: str, *, workspace: Workspace | None = None) -> Any:
    """The next `QueueItem` to judge (its trace's input, output, route and model), or
    None when every item is done."""
    from llmops.feedback.queues import next_item

    return next_item(_ws(workspace), queue)


def annotate(queue: str, position: int, *, score: int | None = None,
             labels: list[str] | None = None, correction: str | None = None,
             comment: str | None = None, skip: bool = False,
             workspace: Workspace | None = None, actor: str | None = None
             ) -> Feedback | None:
    """Judge item `position` of `queue` (or skip it); the feedback, or None if skipped."""
    from llmops.feedback.queues import complete_item

    return complete_item(_ws(workspace), queue, position, actor=_actor(actor), skip=skip,
                         score=score, labels=labels, correction=correction, comment=comment)
