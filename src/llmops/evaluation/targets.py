"""What answers the prompts of an evaluation: a registered or local model, any
OpenAI-compatible endpoint (the llmops gateway included), or a file of predictions.

Every target returns one `Answer` or one error per prompt, never raises for a single
example: a failed example is recorded as failed, and summaries leave it out visibly.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmops.errors import InvalidInput

Messages = list[dict[str, str]]
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    text: str
    latency_ms: float | None  # None: not measured (a predictions file)
    tokens: int | None = None


@dataclass(frozen=True)
class Failure:
    error: str


Result = Answer | Failure
Progress = Callable[[int], None]


class Target(Protocol):
    label: str  # how the evaluation records the target
    identity: str | None  # cache identity; None: answers are not cached
    model_version_id: str | None

    def answer(self, prompts: Sequence[Messages], row_ids: Sequence[str], *,
               max_new_tokens: int, progress: Progress) -> list[Result]: ...


class ModelTarget:
    """A model loaded in this process, answering in batches. The weights load on the
    first answer, so an evaluation served entirely from the cache never loads them."""

    def __init__(self, ref: str, *, batch_size: int = 16) -> None:
        from llmops.training.base import registered_version

        version = registered_version(ref)
        self.ref = version.ref if version else ref  # pinned: an alias may move meanwhile
        self.label = version.ref if version else f"folder:{ref}"
        self.identity: str | None = f"model:{version.id}" if version else None
        self.model_version_id: str | None = version.id if version else None
        self.batch_size = batch_size
        self._generator: Any = None

    def _loaded(self) -> Any:
        if self._generator is None:
            from llmops.evaluation.generate import LocalGenerator

            self._generator = LocalGenerator(self.ref)
        return self._generator

    def negative_log_likelihood(self, prompts: Sequence[Messages], references: Sequence[str]
                                ) -> tuple[list[float], list[int]]:
        """(summed NLL, token count) of each reference as the answer to its prompt."""
        return self._loaded().negative_log_likelihood(prompts, references)

    def answer(self, prompts: Sequence[Messages], row_ids: Sequence[str], *,
               max_new_tokens: int, progress: Progress) -> list[Result]:
        generator = self._loaded()
        out: list[Result] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            out += self._batch(generator, batch, max_new_tokens)
            progress(len(batch))
        return out

    @staticmethod
    def _batch(generator: Any, batch: Sequence[Messages], max_new_tokens: int
               ) -> list[Result]:
        """A batch of answers; when the batch fails (out of memory on a long prompt, a
        chat template that refuses a message), each example alone, so that only the
        examples that fail by themselves are failures."""
        began = time.perf_counter()
        try:
            texts = generator.generate(batch, max_new_tokens=max_new_tokens,
                                       batch_size=len(batch))
        except Exception as exc:
            _free_cuda()
            if len(batch) == 1:
                return [Failure(f"{type(exc).__name__}: {exc}")]
            return [r for one in batch for r in ModelTarget._batch(generator, [one],
                                                                     max_new_tokens)]
        each = (time.perf_counter() - began) * 1000 / len(batch)
        return [Answer(t, each) for t in texts]


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class EndpointTarget:
    """An OpenAI-compatible chat completions endpoint, called with bounded concurrency
    and retried with exponential backoff (honouring Retry-After) on 429 and 5xx."""

    def __init__(self, url: str, model: str, *, api_key_env: str | None = None,
                 concurrency: int = 8, retries: int = 3, timeout_s: float = 60.0,
                 backoff_s: float = 0.25, temperature: float = 0.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint {url!r} must be an http(s) URL, e.g. "
                               "http://127.0.0.1:8750/v1")
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.label = f"endpoint:{url.rstrip('/')}#{model}"
        # not cached: what answers behind a URL can change (a redeploy, an alias move)
        self.identity: str | None = None
        self.model_version_id: str | None = None
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        if api_key_env and not key:
            raise InvalidInput(f"environment variable {api_key_env} (the endpoint's API key) "
                               "is not set")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.concurrency, self.retries, self.timeout_s = concurrency, retries, timeout_s
        self.backoff_s, self.temperature = backoff_s, temperature

    def complete(self, client: Any, messages: Messages, max_tokens: int, *,
                 response_format: dict[str, Any] | None = None) -> Answer:
        """One chat completion, retried; raises the last error when retries run out."""
        import httpx

        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": max_tokens, "temperature": self.temperature}
        if response_format:
            body["response_format"] = response_format
        for attempt in range(self.retries + 1):
            began = time.perf_counter()
            try:
                response = client.post(self.url, json=body, headers=self.headers)
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise RuntimeError(f"{self.url} did not answer: {exc}") from exc
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(self._delay(attempt, response.headers.get("retry-after")))
                continue
            if response.status_code != 200:
                raise RuntimeError(f"{self.url} answered {response.status_code}: "
                                   f"{response.text[:300]}")
            data = response.json()
            text = data["choices"][0]["message"].get("content") or ""
            tokens = (data.get("usage") or {}).get("completion_tokens")
            return Answer(text, (time.perf_counter() - began) * 1000, tokens)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 30.0)
            except ValueError:
                pass
        return self.backoff_s * 2 ** attempt * (0.5 + random.random())

    def answer(self, prompts: Sequence[Messages], row_ids: Sequence[str], *,
               max_new_tokens: int, progress: Progress) -> list[Result]:
        import httpx

        def one(messages: Messages) -> Result:
            try:
                return self.complete(client, messages, max_new_tokens)
            except Exception as exc:  # recorded per example, never a silent score
                return Failure(str(exc))
            finally:
                progress(1)

        with httpx.Client(timeout=self.timeout_s) as client, ThreadPoolExecutor(
                max_workers=self.concurrency) as pool:
            return list(pool.map(one, prompts))


class PredictionsTarget:
    """Answers given in a JSONL file: ``{"output": ...}`` per line, matched to rows by
    ``_id`` (or ``row_id``) when the lines carry one, else by order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = f"predictions:{self.path.name}"
        self.identity: str | None = None
        self.model_version_id: str | None = None
        try:
            lines = self.path.read_text().splitlines()
        except OSError as exc:
            raise InvalidInput(f"cannot read predictions file {str(path)!r}: "
                               f"{exc.strerror}") from exc
        self.rows: list[dict[str, Any]] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{self.path.name}, line {number}: not JSON ({exc.msg})"
                                   ) from None
            if not isinstance(row, dict) or not isinstance(row.get("output"), str):
                raise InvalidInput(f"{self.path.name}, line {number}: expected an object "
                                   "with a string field 'output'")
            self.rows.append(row)

    def answer(self, prompts: Sequence[Messages], row_ids: Sequence[str], *,
               max_new_tokens: int, progress: Progress) -> list[Result]:
        by_id = {str(r.get("_id", r.get("row_id"))): r["output"] for r in self.rows
                 if r.get("_id", r.get("row_id")) is not None}
        if by_id:
            missing = [i for i in row_ids if i not in by_id]
            if missing:
                raise InvalidInput(f"{self.path.name} has no prediction for row {missing[0]} "
                                   f"({len(missing)} rows missing)")
            outputs = [by_id[i] for i in row_ids]
        else:
            if len(self.rows) != len(row_ids):
                raise InvalidInput(f"{self.path.name} has {len(self.rows)} predictions for "
                                   f"{len(row_ids)} rows; give one per row, or _id fields")
            outputs = [r["output"] for r in self.rows]
        progress(len(outputs))
        return [Answer(o, None) for o in outputs]
