"""Continuous batching for a model loaded in this process.

One `BatchScheduler` per loaded model owns the model and a background thread. Requests
join and leave the running batch between decoding steps:

    step boundary:  retire finished or cancelled rows  ->  prefill new prompts and
                    join them  ->  one decoding step for every row  ->  deliver deltas

The batch shares one KV cache (transformers' `DynamicCache`) whose rows are right-aligned:
each row's tokens end at the last column and shorter rows are padded on the left. A 2-D
attention mask hides the padding and explicit position ids give every row its own
positions, so a row computes what it would compute alone. Joining pads the shorter of
the two caches on the left and concatenates along the batch; retiring keeps the other
rows and drops the left columns that have become padding in every row.

Several LoRA adapters may be loaded on the model (PEFT multi-adapter); each row names its
adapter and one forward call serves them all (PEFT applies each adapter's low-rank update
to its own rows, the base weights once for the whole batch).

A failure while preparing one request (a prompt the model cannot take, a bad token,
detokenising, delivering) fails that request only. A failure of the batched forward call
itself (out of memory, say) fails the rows of that step; the scheduler goes on with the
requests that come after.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from llmops.errors import InvalidInput, LlmopsError, ResourceExhausted, ServiceUnavailable

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch


class GenerationFailed(ServiceUnavailable):
    """The local model failed while generating this request."""


@dataclass(frozen=True)
class Sampling:
    """How one request is decoded: greedy at temperature 0, else nucleus sampling."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass
class StepEvent:
    """What one decoding step produced for one request.

    Attributes:
        text: the new text since the previous event (may be empty).
        completion_tokens: tokens generated so far.
        prompt_tokens: the prompt's length in tokens.
        finish_reason: "stop" or "length" on the last event, else None.
        error: set (and nothing else) when the request failed.
    """

    text: str
    completion_tokens: int
    prompt_tokens: int
    finish_reason: str | None = None
    error: BaseException | None = None


@dataclass
class _Row:
    """One request inside the scheduler."""

    prompt: str | list[int]
    sampling: Sampling
    tokenizer: Any
    eos: frozenset[int]
    adapter: str
    deliver: Callable[[StepEvent], None] | None  # called on the scheduler thread, or
    sink: tuple[Any, Any] | None = None  # (event loop, asyncio queue): sent once a step
    outbox: list[tuple[_Row, StepEvent]] | None = None  # where events for `sink` wait
    prompt_ids: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # generated, end-of-sequence excluded
    generated: int = 0  # tokens generated, end-of-sequence included
    text: str = ""  # decoded so far
    sent: int = 0  # characters of `text` already delivered
    prefix_at: int = 0  # incremental detokenisation offsets (as in TGI and vLLM)
    read_at: int = 0
    done: bool = False
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def emit(self, event: StepEvent) -> None:
        if self.outbox is not None:
            self.outbox.append((self, event))
            return
        try:
            assert self.deliver is not None
            self.deliver(event)
        except Exception:  # the consumer is gone: stop work for it
            self.cancelled = True

    def fail(self, error: BaseException) -> None:
        if not self.done:
            self.done = True
            self.emit(StepEvent("", self.generated, len(self.prompt_ids), error=error))

    def accept(self, token: int, context: int | None) -> None:
        """Take the next token: detokenise, check stops, deliver a delta."""
        self.generated += 1
        reason = None
        if token in self.eos:
            reason = "stop"
        else:
            self.tokens.append(token)
            if self.generated >= self.sampling.max_tokens or (
                    context is not None and len(self.prompt_ids) + self.generated >= context):
                reason = "length"
        self.text += self._decode_next(final=reason is not None)
        stops = self.sampling.stop
        cut = len(self.text)
        if stops:
            start = max(0, self.sent - max(len(s) for s in stops))
            found = [i for i in (self.text.find(s, start) for s in stops) if i >= 0]
            if found:
                cut, reason = min(found), "stop"
        if reason is None:
            cut -= _held_back(self.text, stops)
        else:
            self.text = self.text[:cut]
            self.done = True
        piece = self.text[self.sent:cut]
        self.sent = max(self.sent, cut)
        if piece or reason is not None:
            self.emit(StepEvent(piece, self.generated, len(self.prompt_ids), reason))

    def _decode_next(self, *, final: bool) -> str:
        tok = self.tokenizer
        before = tok.decode(self.tokens[self.prefix_at:self.read_at], skip_special_tokens=True)
        after = tok.decode(self.tokens[self.prefix_at:], skip_special_tokens=True)
        if final or (len(after) > len(before) and not after.endswith("\ufffd")):
            self.prefix_at, self.read_at = self.read_at, len(self.tokens)
            return str(after[len(before):])
        return ""  # an incomplete character: wait for the next token


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of `text` might begin a stop string."""
    held = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:n]):
                held = n
                break
    return held


class BatchScheduler:
    """Continuous batching over one loaded model, on one background thread.

    Args:
        model: a transformers causal LM (or a PEFT model wrapping one), already on
            `device` and in eval mode.
        device: where input tensors go.
        max_batch: the most rows decoded together; more requests wait their turn.
        name: for the thread's name.
        stack_lora: serve LoRA adapters stacked (`multilora`), so a step's cost does not
            grow with the adapters it mixes; False keeps PEFT's mixed batch forward.
    """

    def __init__(self, model: Any, *, device: Any = "cpu", max_batch: int = 64,
                 name: str = "model", stack_lora: bool = True) -> None:
        if max_batch < 1:
            raise InvalidInput(f"max_batch must be at least 1, not {max_batch}")
        self.model = model
        self.device = device
        self.max_batch = max_batch
        config = model.config
        self.context: int | None = getattr(config, "max_position_embeddings", None)
        # transformers 5.2x renamed `past_key_values` to `cache`; the cache object is
        # updated in place either way
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        forward = inspect.signature(type(base).forward).parameters
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self.adapters: set[str] = set()
        self.stack_lora = stack_lora
        self._stack: Any = None  # multilora.StackedLora while plain LoRA adapters are loaded
        self.steps = 0  # decoding steps run, and the widest batch seen (for tests, stats)
        self.peak_batch = 0
        self._model_lock = threading.Lock()  # a step, or an adapter load, at a time
        self._wake = threading.Condition()
        self._pending: deque[_Row] = deque()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: Any = None  # (rows, columns) 1 where a cached token is real
        self._positions: Any = None  # (rows,) position of each row's next input token
        self._next: Any = None  # (rows,) each row's next input token
        self._mergeable: bool | None = None  # full-attention caches only; else one row
        self._work: deque[tuple[Callable[[], Any], Future[Any]]] = deque()  # adapter loads
        self._outbox: list[tuple[_Row, StepEvent]] = []  # async consumers' events of a step
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"llmops-batch-{name}",
                                        daemon=True)
        self._thread.start()

    # -- the public side (any thread) ---------------------------------------------------
    @property
    def running(self) -> int:
        """Requests in the batch or waiting to join it, not yet finished or cancelled."""
        rows = [*self._rows, *self._pending]
        return sum(1 for r in rows if not (r.done or r.cancelled))

    @property
    def closed(self) -> bool:
        return not self._thread.is_alive()

    def submit(self, prompt: str | list[int], sampling: Sampling, *, tokenizer: Any,
               eos: frozenset[int], deliver: Callable[[StepEvent], None],
               adapter: str | None = None) -> _Row:
        """Queue a request; `deliver` is called on the scheduler thread with each event."""
        return self._enqueue(_Row(prompt, sampling, tokenizer, eos, self._adapter(adapter),
                                  deliver))

    def _adapter(self, adapter: str | None) -> str:
        name = adapter or BASE_ADAPTER
        if name != BASE_ADAPTER and name not in self.adapters:
            raise InvalidInput(f"adapter {name!r} is not loaded (loaded: "
                               f"{', '.join(sorted(self.adapters)) or 'none'})")
        return name

    def _enqueue(self, row: _Row) -> _Row:
        if row.sampling.max_tokens < 1:
            raise InvalidInput(f"max_tokens must be at least 1, not {row.sampling.max_tokens}")
        with self._wake:
            if self._closing:
                raise ServiceUnavailable("the model is being unloaded; retry")
            self._pending.append(row)
            self._wake.notify()
        return row

    async def astream(self, prompt: str | list[int], sampling: Sampling, *, tokenizer: Any,
                      eos: frozenset[int], adapter: str | None = None
                      ) -> AsyncIterator[StepEvent]:
        """The request's events as they are decoded; raises the request's error. Leaving
        the loop early (a client that disconnects) retires the row at the next step."""
        queue: asyncio.Queue[StepEvent] = asyncio.Queue()
        row = self._enqueue(_Row(prompt, sampling, tokenizer, eos, self._adapter(adapter), None,
                                 (asyncio.get_running_loop(), queue), self._outbox))
        try:
            while True:
                event = await queue.get()
                if event.error is not None:
                    raise event.error
                yield event
                if event.finish_reason is not None:
                    return
        finally:
            row.cancel()

    def between_steps(self, work: Callable[[], Any]) -> Any:
        """Run `work` on the scheduler thread at the next step boundary and return its
        result (a busy batch cannot starve it, as it could a lock)."""
        if self.closed:
            with self._model_lock:
                return work()
        done: Future[Any] = Future()
        with self._wake:
            self._work.append((work, done))
            self._wake.notify()
        return done.result()

    def add_adapter(self, name: str, folder: Any) -> None:
        """Load a LoRA adapter under `name` next to the others (PEFT multi-adapter)."""
        self.between_steps(lambda: self._add_adapter(name, folder))

    def remove_adapter(self, name: str) -> None:
        self.between_steps(lambda: self._remove_adapter(name))

    def _add_adapter(self, name: str, folder: Any) -> None:
        from peft import PeftModel

        if name in self.adapters:
            return
        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(folder), adapter_name=name)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=name)
        self.model.eval()
        self.adapters.add(name)
        self._restack()

    def _remove_adapter(self, name: str) -> None:
        if name in self.adapters and len(self.adapters) > 1:
            if name in self.model.active_adapters:  # rows name theirs: any will do
                self.model.set_adapter(sorted(self.adapters - {name})[0])
            self.model.delete_adapter(name)
        self.adapters.discard(name)  # the last one stays loaded, unused, until close
        self._restack()

    def _restack(self) -> None:
        from llmops.gateway import multilora

        if self.stack_lora and self.adapters and multilora.supports(self.model):
            self._stack = self._stack or multilora.StackedLora(self.model)
            self._stack.rebuild(sorted(self.adapters))
        elif self._stack is not None:
            self._stack.rebuild([])  # PEFT's own layers again
            self._stack = None

    def close(self) -> None:
        """Fail what is waiting, stop the thread (after the step in progress)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    # -- the scheduler thread --------------------------------------------------------------
    def _run(self) -> None:
        import torch

        while True:
            with self._wake:
                while not (self._closing or self._pending or self._rows or self._work):
                    self._wake.wait()
                if self._closing:
                    break
                work = list(self._work)
                self._work.clear()
                room = self._room()
                joining = [self._pending.popleft() for _ in range(min(room,
                                                                      len(self._pending)))]
            with self._model_lock, torch.inference_mode():
                for task, done in work:
                    try:
                        done.set_result(task())
                    except BaseException as exc:  # the caller gets it
                        done.set_exception(exc)
                try:
                    self._retire()
                    if joining:
                        self._join(joining)
                        self._retire()
                    if self._rows:
                        self._step()
                        self._retire()
                except Exception as exc:  # a bug here must not stop the thread
                    for row in [*self._rows, *joining]:
                        row.fail(_failure(exc))
                    self._rows, self._cache = [], None
            self._flush()
        gone = ServiceUnavailable("the model was unloaded before this request finished")
        for row in [*self._rows, *self._pending]:
            row.fail(gone)
        self._flush()
        for task, done in self._work:  # arrived while closing: run it here
            with self._model_lock:
                try:
                    done.set_result(task())
                except BaseException as exc:
                    done.set_exception(exc)
        self._rows, self._cache = [], None

    def _flush(self) -> None:
        """Hand a step's events to their event loops: one wake-up per loop, not per row."""
        if not self._outbox:
            return
        by_loop: dict[Any, list[tuple[_Row, StepEvent]]] = {}
        for row, event in self._outbox:
            assert row.sink is not None
            by_loop.setdefault(row.sink[0], []).append((row, event))
        self._outbox.clear()
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_put_all, [(r.sink, e) for r, e in items])
            except RuntimeError:  # the loop is closed: nobody is listening
                for row, _ in items:
                    row.cancelled = True

    def _room(self) -> int:
        limit = self.max_batch if self._mergeable is not False else 1
        return max(0, limit - len(self._rows))

    def _forward(self, rows: Sequence[_Row], **inputs: Any) -> Any:
        """One forward call; every row with its own adapter (or none)."""
        names = [r.adapter for r in rows]
        if self._stack is not None:  # the stacked layers read each row's slot
            self._stack.select(names, self.device)
            return self.model.get_base_model()(**inputs)
        if hasattr(self.model, "peft_config"):
            return self.model(**inputs, adapter_names=names)
        return self.model(**inputs)

    def _join(self, rows: list[_Row]) -> None:
        """Tokenise and prefill new rows, pick their first token, merge them in."""
        ready = []
        for row in rows:
            if row.cancelled:
                continue
            try:
                self._tokenize(row)
            except Exception as exc:
                row.fail(exc)
                continue
            ready.append(row)
        if not ready:
            return
        try:
            cache, mask, positions, logits = self._prefill(ready)
        except Exception as exc:
            if len(ready) == 1:
                ready[0].fail(_failure(exc))
                return
            for row in ready:  # find the culprit: each row alone
                self._join_prepared([row])
            return
        self._admit(ready, cache, mask, positions, logits)

    def _join_prepared(self, rows: list[_Row]) -> None:
        try:
            cache, mask, positions, logits = self._prefill(rows)
        except Exception as exc:
            for row in rows:
                row.fail(_failure(exc))
            return
        self._admit(rows, cache, mask, positions, logits)

    def _tokenize(self, row: _Row) -> None:
        if isinstance(row.prompt, str):
            row.prompt_ids = list(row.tokenizer(row.prompt, add_special_tokens=False)[
                "input_ids"])
        else:
            row.prompt_ids = list(row.prompt)
        if not row.prompt_ids:
            raise InvalidInput("the prompt is empty")
        if self.context is not None and len(row.prompt_ids) >= self.context:
            raise InvalidInput(f"the prompt has {len(row.prompt_ids)} tokens; this model "
                               f"takes at most {self.context} (prompt and answer together)")

    def _prefill(self, rows: list[_Row]) -> tuple[Any, Any, Any, Any]:
        import torch
        from transformers import DynamicCache

        width = max(len(r.prompt_ids) for r in rows)
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row.prompt_ids):] = torch.tensor(row.prompt_ids)
            mask[i, width - len(row.prompt_ids):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        out = self._forward(rows, input_ids=ids, attention_mask=mask, position_ids=positions,
                            use_cache=True, logits_to_keep=1, **{self._cache_arg: cache})
        if self._mergeable is None:
            from transformers.cache_utils import DynamicLayer

            self._mergeable = all(type(layer) is DynamicLayer for layer in cache.layers)
        return cache, mask, positions[:, -1] + 1, out.logits[:, -1]

    def _admit(self, rows: list[_Row], cache: Any, mask: Any, positions: Any,
               logits: Any) -> None:
        import torch

        tokens = _choose(logits, [r.sampling for r in rows])
        if not self._rows:
            self._cache, self._mask, self._positions = cache, mask, positions
            self._next = tokens
        else:
            self._cache = _merge(self._cache, self._mask.shape[1], cache, mask.shape[1])
            width = max(self._mask.shape[1], mask.shape[1])
            self._mask = torch.cat([_pad_left(self._mask, width), _pad_left(mask, width)])
            self._positions = torch.cat([self._positions, positions])
            self._next = torch.cat([self._next, tokens])
        self._rows += rows
        self._deliver(rows, tokens)

    def _step(self) -> None:
        import torch

        rows = self._rows
        self.steps += 1
        self.peak_batch = max(self.peak_batch, len(rows))
        mask = torch.cat([self._mask, self._mask.new_ones((len(rows), 1))], dim=1)
        try:
            out = self._forward(rows, input_ids=self._next[:, None], attention_mask=mask,
                                position_ids=self._positions[:, None], use_cache=True,
                                **{self._cache_arg: self._cache})
        except Exception as exc:
            error = _failure(exc)
            for row in rows:
                row.fail(error)
            self._rows, self._cache = [], None
            return
        self._mask = mask  # the cache grew in place
        self._positions = self._positions + 1
        self._next = _choose(out.logits[:, -1], [r.sampling for r in rows])
        self._deliver(rows, self._next)

    def _deliver(self, rows: list[_Row], tokens: Any) -> None:
        for row, token in zip(rows, tokens.tolist(), strict=True):
            if row.cancelled or row.done:
                continue
            try:
                row.accept(int(token), self.context)
            except Exception as exc:
                row.fail(_failure(exc))

    def _retire(self) -> None:
        """Drop finished and cancelled rows, and columns that are padding in every row."""
        import torch

        keep = [i for i, r in enumerate(self._rows) if not (r.done or r.cancelled)]
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._rows, self._cache = [], None
            self._mask = self._positions = self._next = None
            return
        index = torch.tensor(keep, device=self._mask.device)
        self._rows = [self._rows[i] for i in keep]
        self._mask, self._positions = self._mask[index], self._positions[index]
        self._next = self._next[index]
        if not self._mergeable:  # sliding-window layers keep their own bookkeeping
            self._cache.batch_select_indices(index)
            return
        first = int(self._mask.any(dim=0).int().argmax())
        self._mask = self._mask[:, first:]
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]


def _put_all(items: list[tuple[Any, StepEvent]]) -> None:
    for sink, event in items:
        sink[1].put_nowait(event)


def _failure(exc: Exception) -> LlmopsError:
    """The error a request sees when the model failed on it."""
    if isinstance(exc, LlmopsError):
        return exc
    if "out of memory" in str(exc).lower():
        return ResourceExhausted(f"the model ran out of memory: {exc}")
    return GenerationFailed(f"the model failed: {type(exc).__name__}: {exc}")


def _pad_left(tensor: Any, width: int, dim: int = -1) -> Any:
    import torch

    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _merge(old: Any, old_width: int, new: Any, new_width: int) -> Any:
    """`old`'s rows then `new`'s, both right-aligned to the wider of the two."""
    import torch

    width = max(old_width, new_width)
    for mine, theirs in zip(old.layers, new.layers, strict=True):
        mine.keys = torch.cat([_pad_left(mine.keys, width, 2), _pad_left(theirs.keys, width, 2)])
        mine.values = torch.cat([_pad_left(mine.values, width, 2),
                                 _pad_left(theirs.values, width, 2)])
    return old


def _choose(logits: Any, sampling: Sequence[Sampling]) -> Any:
    """The next token of each row: argmax, or a nucleus sample at the row's temperature."""
    import torch

    chosen = logits.argmax(dim=-1)
    drawn = [i for i, s in enumerate(sampling) if s.temperature > 0]
    if not drawn:
        return chosen
    index = torch.tensor(drawn, device=logits.device)
    temperature = torch.tensor([sampling[i].temperature for i in drawn],
                               device=logits.device)
    top_p = torch.tensor([sampling[i].top_p for i in drawn], device=logits.device)
    probs = torch.softmax(logits[index].float() / temperature[:, None], dim=-1)
    ordered, order = probs.sort(dim=-1, descending=True)
    outside = ordered.cumsum(dim=-1) - ordered > top_p[:, None]  # keeps the top token
    ordered = ordered.masked_fill(outside, 0.0)
    picked = order.gather(-1, torch.multinomial(ordered, 1)).squeeze(-1)
    chosen[index] = picked
    return chosen
