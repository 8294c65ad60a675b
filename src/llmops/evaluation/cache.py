"""The generation cache: an answer per (target, prompt version, input, settings).

An evaluation writes each batch's answers as they come, so one that is interrupted and
run again generates only what is missing, and evaluating the same model on the same
inputs twice (a promotion gate's baseline) costs a lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from llmops.clock import now_ms
from llmops.evaluation.targets import Answer
from llmops.store import Store, upsert_insert
from llmops.store.tables import generation_cache

_BATCH = 500


def cache_key(identity: str, prompt_version_id: str | None, messages: list[dict[str, str]],
              settings: dict[str, Any]) -> str:
    blob = json.dumps([identity, prompt_version_id, messages, settings], sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def lookup(store: Store, keys: Sequence[str]) -> dict[str, Answer]:
    found: dict[str, Answer] = {}
    c = generation_cache.c
    with store.read() as conn:
        for start in range(0, len(keys), _BATCH):
            for r in conn.execute(select(c.key, c.output, c.latency_ms, c.tokens).where(
                    c.key.in_(keys[start:start + _BATCH]))):
                found[r.key] = Answer(r.output, r.latency_ms, r.tokens)
    return found


def save(store: Store, answers: dict[str, Answer]) -> None:
    if not answers:
        return
    now = now_ms()
    rows = [{"key": k, "output": a.text, "latency_ms": a.latency_ms or 0.0, "tokens": a.tokens,
             "created_at": now} for k, a in answers.items()]

    def write(conn: Any) -> None:
        conn.execute(upsert_insert(conn, generation_cache).on_conflict_do_nothing(), rows)

    store.write(write)
