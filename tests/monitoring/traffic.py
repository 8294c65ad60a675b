"""Synthetic gateway traffic, inserted straight into the traces table."""

from __future__ import annotations

import json
import random
from typing import Any

from sqlalchemy import insert

from llmops.clock import now_ms
from llmops.ids import new_id
from llmops.store.tables import traces
from llmops.workspace import Workspace

HOUR = 3_600_000
DAY = 24 * HOUR

CITIES = ["Lisbon", "Porto", "Madrid", "Rome", "Paris", "Vienna", "Prague", "Berlin"]
TRAVEL = ["What is the best time to visit {c}?", "Which museums should I see in {c}?",
          "How do I get from the airport to the centre of {c}?",
          "Recommend a cheap hotel near the old town of {c}.",
          "What local food should I try in {c}?"]
CODING = ["How do I reverse a linked list in {c}?", "Why does my {c} compiler segfault on "
          "templates?", "Write a {c} function that parses JSON and retries on failure.",
          "Explain borrow checking in {c} with an example of lifetimes."]
LANGS = ["Rust", "C++", "Go", "Haskell", "Zig"]


def make_trace(rng: random.Random, at: int, *, drifted: bool = False, model: str = "travel",
               route: str | None = "travel", key_id: str | None = None, status: int = 200,
               guard: dict[str, Any] | None = None) -> dict[str, Any]:
    if drifted:
        question = rng.choice(CODING).format(c=rng.choice(LANGS))
        if rng.random() < 0.3:
            answer = "I'm sorry, but I can't help with that request."
        else:
            answer = " ".join(["Here is a detailed walkthrough of the code."] * rng.randint(6, 12))
        latency = rng.gauss(900, 120)
        if rng.random() < 0.15:
            status = 500
    else:
        question = rng.choice(TRAVEL).format(c=rng.choice(CITIES))
        answer = f"{rng.choice(CITIES)} is lovely in spring; " * rng.randint(1, 3)
        latency = rng.gauss(200, 30)
    ok = status < 400
    return {"id": new_id(), "route": route, "target": f"model:{model}@1", "model": model,
            "key_id": key_id, "status": status, "error": None if ok else "upstream failed",
            "input": json.dumps([{"role": "system", "content": "You are a travel agent."},
                                 {"role": "user", "content": question}]),
            "output": answer if ok else None,
            "prompt_tokens": len(question.split()) + 6,
            "completion_tokens": len(answer.split()) if ok else None,
            "latency_ms": max(5.0, latency), "ttft_ms": None, "stream": 0,
            "guard": json.dumps(guard) if guard else None, "created_at": at}


def insert_traces(workspace: Workspace, rows: list[dict[str, Any]]) -> None:
    workspace.store.write(lambda conn: conn.execute(insert(traces), rows))


def traffic(workspace: Workspace, *, drifted: bool, n: int = 120, seed: int = 1,
            now: int | None = None) -> int:
    """`n` reference traces spread over 7 days before the last 24 h, and `n` in the last
    24 h (drifted or not). Returns `now`."""
    now = now or now_ms()
    rng = random.Random(seed)
    rows = [make_trace(rng, now - DAY - rng.randrange(7 * DAY)) for _ in range(n)]
    rows += [make_trace(rng, now - rng.randrange(1, DAY), drifted=drifted) for _ in range(n)]
    insert_traces(workspace, rows)
    return now
