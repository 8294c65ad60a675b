"""Per-key gateway limits: requests and tokens per minute (sliding 60-second window) and
a token budget over the key's whole life.

Windows live in the gateway process (several gateway processes each apply the full
limit), with a running token total so a check costs the same at any request rate. The
budget is counted from the key's traces in the store, so it holds across processes and
restarts: read once synchronously, then re-read in the background every `budget_ttl_s`
seconds while requests go on against the last figure plus what this process has counted
since.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from sqlalchemy import func, select

from llmops.auth.keys import Principal
from llmops.errors import RateLimited
from llmops.store import Store
from llmops.store.tables import traces

WINDOW_S = 60.0


class KeyLimits:
    def __init__(self, store: Store, *, budget_ttl_s: float = 5.0) -> None:
        self.store = store
        self.budget_ttl_s = budget_ttl_s
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, deque[tuple[float, int]]] = {}
        self._token_sums: dict[str, int] = {}  # tokens in each key's window
        self._used: dict[str, tuple[float, int]] = {}  # key -> (read at, tokens used)
        self._reading: set[str] = set()  # keys whose budget a thread is re-reading

    def _read_used(self, key_id: str) -> int:
        with self.store.read() as conn:
            used = conn.execute(select(func.coalesce(func.sum(
                func.coalesce(traces.c.prompt_tokens, 0)
                + func.coalesce(traces.c.completion_tokens, 0)), 0)).where(
                traces.c.key_id == key_id)).scalar() or 0
        return int(used)

    def _refresh(self, key_id: str) -> None:
        try:
            used = self._read_used(key_id)
            with self._lock:
                self._used[key_id] = (time.monotonic(), used)
        except Exception:  # the store is busy or down: keep the last figure, retry later
            pass
        finally:
            with self._lock:
                self._reading.discard(key_id)

    def _budget_used(self, key_id: str) -> int:
        cached = self._used.get(key_id)
        if cached is None:  # first request of this key: read now
            used = self._read_used(key_id)
            with self._lock:
                self._used[key_id] = (time.monotonic(), used)
            return used
        if time.monotonic() - cached[0] >= self.budget_ttl_s:
            with self._lock:
                start = key_id not in self._reading
                self._reading.add(key_id)
            if start:  # re-read off the request path; this request uses the last figure
                threading.Thread(target=self._refresh, args=(key_id,), daemon=True,
                                 name="llmops-budget-read").start()
        return cached[1]

    def check(self, who: Principal) -> None:
        """Raise RateLimited (429, with Retry-After when waiting helps) before any work."""
        if who.rpm is None and who.tpm is None and who.token_budget is None:
            return
        now = time.monotonic()
        with self._lock:
            requests = self._requests.setdefault(who.key_id, deque())
            tokens = self._tokens.setdefault(who.key_id, deque())
            while requests and now - requests[0] > WINDOW_S:
                requests.popleft()
            while tokens and now - tokens[0][0] > WINDOW_S:
                self._token_sums[who.key_id] -= tokens.popleft()[1]
            if who.rpm is not None and len(requests) >= who.rpm:
                raise RateLimited(f"key {who.name} is over its {who.rpm} requests per minute",
                                  retry_after_s=WINDOW_S - (now - requests[0]))
            if who.tpm is not None and self._token_sums.get(who.key_id, 0) >= who.tpm:
                raise RateLimited(f"key {who.name} is over its {who.tpm} tokens per minute",
                                  retry_after_s=WINDOW_S - (now - tokens[0][0]))
            requests.append(now)
        if who.token_budget is not None and self._budget_used(who.key_id) >= who.token_budget:
            raise RateLimited(f"key {who.name} has used its budget of {who.token_budget} "
                              "tokens; ask for a new key or a larger budget")

    def record(self, who: Principal, tokens: int) -> None:
        if who.tpm is None and who.token_budget is None:
            return
        with self._lock:
            self._tokens.setdefault(who.key_id, deque()).append((time.monotonic(), tokens))
            self._token_sums[who.key_id] = self._token_sums.get(who.key_id, 0) + tokens
            read_at, used = self._used.get(who.key_id, (0.0, 0))
            self._used[who.key_id] = (read_at, used + tokens)  # until the next read
