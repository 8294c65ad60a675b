"""Gateway counters in Prometheus's text format, kept in process (no client library)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from typing import Any

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


class GatewayMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self.tokens: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.latency: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (
            len(BUCKETS_MS) + 1))
        self.latency_sum: defaultdict[str, float] = defaultdict(float)

    def observe(self, route: str, status: int, latency_ms: float, completion: Any) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            counts = self.latency[route]
            counts[bisect_left(BUCKETS_MS, latency_ms)] += 1  # first bound >= latency
            self.latency_sum[route] += latency_ms / 1000
            if completion is not None:
                self.tokens[(route, "prompt")] += completion.prompt_tokens or 0
                self.tokens[(route, "completion")] += completion.completion_tokens or 0

    def render(self, *, queue_depth: int, traces_written: int, traces_failed: int,
               traces_refused: int = 0) -> str:
        lines = ["# HELP llmops_gateway_requests_total Requests by route and status.",
                 "# TYPE llmops_gateway_requests_total counter"]
        with self._lock:
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'llmops_gateway_requests_total{{route="{route}",'
                             f'status="{status}"}} {n}')
            lines += ["# HELP llmops_gateway_tokens_total Tokens by route and kind.",
                      "# TYPE llmops_gateway_tokens_total counter"]
            for (route, kind), n in sorted(self.tokens.items()):
                lines.append(f'llmops_gateway_tokens_total{{route="{route}",kind="{kind}"}} {n}')
            lines += ["# HELP llmops_gateway_latency_seconds Request latency.",
                      "# TYPE llmops_gateway_latency_seconds histogram"]
            for route, counts in sorted(self.latency.items()):
                total = 0
                for bound, n in zip((*BUCKETS_MS, None), counts, strict=True):
                    total += n
                    le = "+Inf" if bound is None else f"{bound / 1000:g}"
                    lines.append(f'llmops_gateway_latency_seconds_bucket{{route="{route}",'
                                 f'le="{le}"}} {total}')
                lines.append(f'llmops_gateway_latency_seconds_sum{{route="{route}"}} '
                             f"{self.latency_sum[route]:.6f}")
                lines.append(f'llmops_gateway_latency_seconds_count{{route="{route}"}} {total}')
        lines += ["# HELP llmops_gateway_trace_queue_depth Traces waiting to be written.",
                  "# TYPE llmops_gateway_trace_queue_depth gauge",
                  f"llmops_gateway_trace_queue_depth {queue_depth}",
                  "# HELP llmops_gateway_traces_written_total Traces stored.",
                  "# TYPE llmops_gateway_traces_written_total counter",
                  f"llmops_gateway_traces_written_total {traces_written}",
                  "# HELP llmops_gateway_traces_failed_total Traces the store refused.",
                  "# TYPE llmops_gateway_traces_failed_total counter",
                  f"llmops_gateway_traces_failed_total {traces_failed}",
                  "# HELP llmops_gateway_traces_refused_total Requests refused (503) because "
                  "the trace queue was full.",
                  "# TYPE llmops_gateway_traces_refused_total counter",
                  f"llmops_gateway_traces_refused_total {traces_refused}"]
        return "\n".join(lines) + "\n"
