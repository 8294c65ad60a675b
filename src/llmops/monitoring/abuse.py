"""Abuse detection per API key, from the key's own traces.

Three findings, each against the key's own history (the baseline window before the
current one, or since the key was created when that is later):

- ``rate_jump``: the key sent far more requests than its baseline rate predicts. The
  count in the window is tested against Poisson(expected) and must also be at least
  `rate_ratio` times the expected count and `min_requests` in all. A key younger than
  the window has no baseline and is not judged on rate.
- ``injection_share``: the share of the key's requests that the guardrails flagged as
  likely prompt injection (``guard.injection_score`` >= 0.5) or blocked rose: at least
  `min_flagged` such requests, a share of at least `injection_share`, and (when there is
  a baseline) a one-sided two-proportion z-test against the baseline share.
- ``limit_hits``: at least `limit_hits` requests answered 429 (over a rate or token
  limit) in the window.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select

from llmops.clock import now_ms
from llmops.monitoring import stats
from llmops.monitoring.models import AbuseFinding
from llmops.store.tables import api_keys, traces
from llmops.workspace import Workspace

INJECTION_SCORE = 0.5  # the guardrails' default blocking threshold


@dataclass
class AbuseOptions:
    window: str = "1h"
    baseline: str = "7d"
    rate_ratio: float = 3.0
    alpha: float = 0.001
    min_requests: int = 20
    injection_share: float = 0.2
    min_flagged: int = 3
    limit_hits: int = 10


def flagged(guard: str | None) -> bool:
    """Was this request flagged as likely injection, or blocked, by the guardrails?"""
    if not guard:
        return False
    try:
        data = json.loads(guard)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    score = data.get("injection_score") or 0
    return bool(data.get("blocked")) or (isinstance(score, int | float)
                                         and score >= INJECTION_SCORE)


def _counts(workspace: Workspace, start: int, end: int) -> tuple[Counter[str], Counter[str],
                                                                 Counter[str]]:
    """Per key: requests, 429s and flagged requests in [start, end)."""
    window = and_(traces.c.created_at >= start, traces.c.created_at < end,
                  traces.c.key_id.is_not(None))
    requests: Counter[str] = Counter()
    limited: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    with workspace.store.read() as conn:
        for key, n, n429 in conn.execute(
                select(traces.c.key_id, func.count(),
                       func.sum(case((traces.c.status == 429, 1), else_=0)))
                .where(window).group_by(traces.c.key_id)):
            requests[key] = int(n)
            limited[key] = int(n429 or 0)
        for key, guard in conn.execute(select(traces.c.key_id, traces.c.guard)
                                       .where(window, traces.c.guard.is_not(None))):
            if flagged(guard):
                flags[key] += 1
    return requests, limited, flags


def detect_abuse(workspace: Workspace, options: AbuseOptions | None = None, *,
                 now: int | None = None) -> list[AbuseFinding]:
    """Findings for every key with traffic in the last `options.window`."""
    from llmops.traces.query import duration_ms

    o = options or AbuseOptions()
    end = now_ms() if now is None else now
    window_ms = duration_ms(o.window)
    start = end - window_ms
    base_start = start - duration_ms(o.baseline)
    cur_n, cur_429, cur_flag = _counts(workspace, start, end)
    if not cur_n:
        return []
    base_n, _, base_flag = _counts(workspace, base_start, start)
    with workspace.store.read() as conn:
        keys = {row.id: row for row in conn.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.created_at)
            .where(api_keys.c.id.in_(list(cur_n))))}
    findings: list[AbuseFinding] = []
    for key_id, n in sorted(cur_n.items()):
        key = keys.get(key_id)
        name = key.name if key else None
        since = max(base_start, key.created_at) if key else base_start
        baseline_ms = start - since
        if baseline_ms >= window_ms:
            expected = base_n[key_id] * window_ms / baseline_ms
            p = stats.poisson_excess(n, expected)
            if n >= o.min_requests and n >= o.rate_ratio * max(expected, 1.0) and p < o.alpha:
                findings.append(AbuseFinding(
                    key_id=key_id, key_name=name, kind="rate_jump", value=n,
                    baseline=round(expected, 3), p_value=p, threshold=o.rate_ratio,
                    summary=f"key {name or key_id} sent {n} requests in {o.window}; its "
                            f"baseline predicts {expected:.1f}"))
        flags = cur_flag[key_id]
        share = flags / n
        if flags >= o.min_flagged and share >= o.injection_share:
            p_share: float | None = None
            if base_n[key_id]:
                _, p_share = stats.two_proportions(flags, n, base_flag[key_id], base_n[key_id],
                                                   alternative="greater")
            if p_share is None or p_share < o.alpha:
                before = base_flag[key_id] / base_n[key_id] if base_n[key_id] else None
                findings.append(AbuseFinding(
                    key_id=key_id, key_name=name, kind="injection_share", value=share,
                    baseline=before, p_value=p_share, threshold=o.injection_share,
                    summary=f"key {name or key_id}: {flags} of {n} requests in {o.window} "
                            "flagged as prompt injection or blocked"
                            + (f" (before: {before:.1%})" if before is not None else "")))
        if cur_429[key_id] >= o.limit_hits:
            findings.append(AbuseFinding(
                key_id=key_id, key_name=name, kind="limit_hits", value=cur_429[key_id],
                threshold=o.limit_hits,
                summary=f"key {name or key_id} hit its limits {cur_429[key_id]} times in "
                        f"{o.window}"))
    return findings
