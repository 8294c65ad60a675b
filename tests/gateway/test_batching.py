"""Continuous batching in the local engine: requests joining and leaving a running batch
decode exactly what they decode alone; stops, limits and sampling are per request; one
failing request leaves the others alone; LoRA versions of one base share one loaded base."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmops.config import Settings
from llmops.errors import InvalidInput
from llmops.gateway.batching import BatchScheduler, GenerationFailed, Sampling, StepEvent
from llmops.gateway.engines import ChatRequest, LocalEngine, LocalModels, UpstreamError

torch = pytest.importorskip("torch")

PROMPTS = [[5, 17, 42], [7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [100], [3, 1, 4, 1, 5, 9, 2, 6],
           [250, 251, 252, 253, 254], [60, 61]]
LIMITS = [6, 24, 9, 30, 12, 3]


@pytest.fixture(scope="module")
def tiny(tiny_base: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()
    return model, AutoTokenizer.from_pretrained(tiny_base)


@pytest.fixture
def scheduler(tiny: tuple[Any, Any]) -> Iterator[BatchScheduler]:
    s = BatchScheduler(tiny[0], max_batch=4, name="test")
    yield s
    s.close()


def alone(model: Any, prompt: list[int], max_tokens: int) -> list[int]:
    """What transformers' own generate gives for the prompt by itself (greedy)."""
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=max_tokens,
                             do_sample=False, eos_token_id=None, pad_token_id=0)
    return [int(t) for t in out[0, len(prompt):]]


@dataclass
class Collected:
    """A request's events, collected on the scheduler thread."""

    events: list[StepEvent] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)

    def __call__(self, event: StepEvent) -> None:
        self.events.append(event)
        if event.finish_reason is not None or event.error is not None:
            self.finished.set()

    def wait(self) -> Collected:
        assert self.finished.wait(60)
        return self

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events)

    @property
    def last(self) -> StepEvent:
        return self.events[-1]


def submit(scheduler: BatchScheduler, tokenizer: Any, prompt: list[int] | str,
           sampling: Sampling, *, eos: frozenset[int] = frozenset(),
           then: Callable[[StepEvent], None] | None = None, adapter: str | None = None
           ) -> Collected:
    got = Collected()

    def deliver(event: StepEvent) -> None:
        got(event)
        if then is not None:
            then(event)

    scheduler.submit(prompt, sampling, tokenizer=tokenizer, eos=eos, deliver=deliver,
                     adapter=adapter)
    return got


def test_requests_joining_a_running_batch_decode_what_they_decode_alone(
        tiny: tuple[Any, Any], scheduler: BatchScheduler) -> None:
    model, tok = tiny
    order: list[int] = []
    results: dict[int, Collected] = {}

    follows = {0: 1, 1: 2, 3: 4, 4: 5}
    started = {0, 3}  # only this set is read by callbacks (under `lock`), never `results`
    lock = threading.Lock()

    def chain(i: int) -> Callable[[StepEvent], None]:
        """Request i submits the one that follows it after its third token: requests
        join a batch that is already decoding."""
        def then(event: StepEvent) -> None:
            order.append(i)
            after = follows.get(i)
            if event.completion_tokens < 3 or after is None:
                return
            with lock:
                if after in started:
                    return
                started.add(after)
            start(after)
        return then

    def start(i: int) -> None:
        results[i] = submit(scheduler, tok, PROMPTS[i], Sampling(max_tokens=LIMITS[i]),
                            then=chain(i))

    start(0)
    start(3)  # two at once as well: both prefilled in one call
    for i in range(len(PROMPTS)):
        for _ in range(6000):  # submitted by a callback on the scheduler thread
            if i in results:
                break
            threading.Event().wait(0.01)
        results[i].wait()
    for i, prompt in enumerate(PROMPTS):
        expected = alone(model, prompt, LIMITS[i])
        got = results[i]
        assert got.text == tok.decode(expected, skip_special_tokens=True), i
        assert (got.last.finish_reason, got.last.completion_tokens,
                got.last.prompt_tokens) == ("length", LIMITS[i], len(prompt))
    assert scheduler.peak_batch == 4  # full: the batch was shared, up to max_batch
    # deltas were delivered step by step to each request, interleaved in one batch
    assert order.index(1) < len(order) - 1 - order[::-1].index(0)
    assert scheduler.running == 0


def test_stop_strings_eos_and_max_tokens_per_request(tiny: tuple[Any, Any],
                                                     scheduler: BatchScheduler) -> None:
    model, tok = tiny
    prompt = PROMPTS[1]
    tokens = alone(model, prompt, 24)
    full = tok.decode(tokens, skip_special_tokens=True)
    stop = full[len(full) // 2:len(full) // 2 + 3]
    eos_at = 5
    stopped = submit(scheduler, tok, prompt, Sampling(max_tokens=24, stop=(stop, "§never§")))
    ended = submit(scheduler, tok, prompt, Sampling(max_tokens=24),
                   eos=frozenset({tokens[eos_at]}))
    short = submit(scheduler, tok, prompt, Sampling(max_tokens=2))
    assert stopped.wait().text == full[:full.index(stop)]
    assert stopped.last.finish_reason == "stop"
    # a stop string is never sent in part, even when it spans two deltas
    assert all(stop not in e.text for e in stopped.events)
    first_eos = tokens.index(tokens[eos_at])
    assert ended.wait().text == tok.decode(tokens[:first_eos], skip_special_tokens=True)
    assert (ended.last.finish_reason, ended.last.completion_tokens) == ("stop",
                                                                        first_eos + 1)
    assert short.wait().text == tok.decode(tokens[:2], skip_special_tokens=True)
    assert (short.last.finish_reason, short.last.completion_tokens) == ("length", 2)


def test_sampling_rows_leave_greedy_rows_unchanged(tiny: tuple[Any, Any],
                                                   scheduler: BatchScheduler) -> None:
    model, tok = tiny
    greedy = submit(scheduler, tok, PROMPTS[3], Sampling(max_tokens=12))
    hot = submit(scheduler, tok, PROMPTS[3], Sampling(max_tokens=12, temperature=1.5))
    # a nucleus of (almost) zero mass keeps only the top token: greedy again
    narrow = submit(scheduler, tok, PROMPTS[3], Sampling(max_tokens=12, temperature=1.0,
                                                         top_p=1e-9))
    expected = tok.decode(alone(model, PROMPTS[3], 12), skip_special_tokens=True)
    assert greedy.wait().text == expected
    assert narrow.wait().text == expected
    assert hot.wait().last.completion_tokens == 12


def test_a_failing_request_does_not_stop_the_others(tiny: tuple[Any, Any],
                                                    scheduler: BatchScheduler) -> None:
    model, tok = tiny
    good = [submit(scheduler, tok, p, Sampling(max_tokens=8)) for p in PROMPTS[:2]]
    bad_token = submit(scheduler, tok, [5, 10**6], Sampling(max_tokens=8))
    too_long = submit(scheduler, tok, [5] * 128, Sampling(max_tokens=8))
    empty = submit(scheduler, tok, "", Sampling(max_tokens=8))

    exploded = threading.Event()

    def explode(event: StepEvent) -> None:
        exploded.set()
        raise RuntimeError("the consumer went away")

    gone = submit(scheduler, tok, PROMPTS[3], Sampling(max_tokens=50), then=explode)
    error = bad_token.wait().last.error
    assert isinstance(error, GenerationFailed)
    assert str(error).startswith("the model failed: IndexError")
    error = too_long.wait().last.error
    assert isinstance(error, InvalidInput)
    assert str(error) == ("the prompt has 128 tokens; this model takes at most 128 "
                          "(prompt and answer together)")
    assert str(empty.wait().last.error) == "the prompt is empty"
    for got, prompt in zip(good, PROMPTS[:2], strict=True):
        assert got.wait().text == tok.decode(alone(model, prompt, 8),
                                             skip_special_tokens=True)
    assert exploded.wait(60)
    after = submit(scheduler, tok, PROMPTS[0], Sampling(max_tokens=3)).wait()
    assert after.last.finish_reason == "length"
    assert len(gone.events) == 1  # retired after its consumer failed
    assert scheduler.running == 0


def test_bad_submissions_are_refused_before_queueing(tiny: tuple[Any, Any],
                                                     scheduler: BatchScheduler) -> None:
    tok = tiny[1]
    with pytest.raises(InvalidInput, match=r"^max_tokens must be at least 1, not 0$"):
        submit(scheduler, tok, [1, 2], Sampling(max_tokens=0))
    with pytest.raises(InvalidInput, match=r"^adapter 'nope' is not loaded \(loaded: none\)$"):
        submit(scheduler, tok, [1, 2], Sampling(), adapter="nope")
    with pytest.raises(InvalidInput, match=r"^max_batch must be at least 1, not 0$"):
        BatchScheduler(tiny[0], max_batch=0)
    assert scheduler.running == 0 and scheduler.steps == 0


def test_the_engine_streams_without_blocking_the_event_loop_and_cancels(
        sqlite_settings: Settings, tiny_base: Path) -> None:
    async def scenario() -> None:
        engine = LocalEngine(str(tiny_base))
        request = ChatRequest([{"role": "user", "content": "Where is Porto?"}], max_tokens=20)
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        streamed = [d async for d in engine.stream(request)]
        whole = await engine.generate(request)
        done = True
        await task
        final = streamed[-1].completion
        assert final is not None and final.completion_tokens == whole.completion_tokens
        assert "".join(d.text for d in streamed).strip() == whole.text
        assert ticks > 1  # the loop kept running while the model decoded
        stream = engine.stream(ChatRequest(request.messages, max_tokens=100))
        await anext(stream)
        await stream.aclose()  # a client that hangs up: its row is retired
        after = await engine.generate(ChatRequest(request.messages, max_tokens=2))
        assert after.completion_tokens == 2 and engine.scheduler.running == 0
        too_long = ChatRequest([{"role": "user", "content": "Lisbon " * 200}])
        with pytest.raises(InvalidInput, match="this model takes at most 128"):
            await engine.generate(too_long)
        await engine.aclose()
        assert engine.scheduler.closed
        with pytest.raises(UpstreamError, match="being unloaded"):
            await engine.generate(request)

    asyncio.run(scenario())


def _lora(tiny_base: Path, folder: Path, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=16, init_lora_weights=False,
                                            target_modules=["q_proj", "v_proj", "down_proj"]))
    peft.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_base).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "peft-mixed-batch"])
def test_lora_versions_share_one_loaded_base_and_answer_as_alone(
        sqlite_settings: Settings, tiny_base: Path, tmp_path: Path, stacked: bool) -> None:
    from llmops import registry
    from llmops.training.base import load_model, load_tokenizer, resolve_base

    base = registry.register("tiny", tiny_base)
    for seed in (1, 2):
        registry.register("tiny-lora", _lora(tiny_base, tmp_path / f"lora{seed}", seed),
                          format="lora", base_version_id=base.id)
    refs = ["model:tiny-lora@1", "model:tiny-lora@2", "model:tiny@1"]
    messages = [{"role": "user", "content": "Where is Porto?"}]

    def reference(ref: str) -> str:
        """The version loaded alone, adapter merged, answered by transformers."""
        resolved = resolve_base(ref)
        model, tok = load_model(resolved).eval(), load_tokenizer(resolved)
        ids = tok.apply_chat_template(messages, add_generation_prompt=True,
                                      return_dict=True, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=10, do_sample=False,
                                 eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        return str(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)).strip()

    async def scenario() -> list[str]:
        models = LocalModels(max_batch=8, stack_lora=stacked)
        engines = [LocalEngine(ref, models=models) for ref in refs]
        try:
            assert len({id(e.scheduler) for e in engines}) == 1
            assert len({id(e.model.get_base_model()) for e in engines}) == 1
            assert engines[0].adapter != engines[1].adapter and engines[2].adapter is None
            request = ChatRequest(messages, max_tokens=10)
            answers = await asyncio.gather(*(e.generate(request) for e in engines * 2))
            assert engines[0].scheduler.peak_batch > 1  # mixed adapters in one step
            assert (engines[0].scheduler._stack is not None) is stacked
            alone_in_batch = await engines[1].generate(request)  # one adapter in the step
            return [a.text for a in answers] + [alone_in_batch.text]
        finally:
            for engine in engines:
                await engine.aclose()
            assert engines[0].scheduler.closed

    texts = asyncio.run(scenario())
    expected = [reference(ref) for ref in refs]
    assert texts == expected * 2 + [expected[1]]
    assert len(set(expected)) == 3  # each adapter really changes the answer


def test_the_gateway_serves_two_lora_routes_from_one_loaded_base(
        client: Any, keys: dict[str, str], tiny_base: Path, tmp_path: Path) -> None:
    from llmops import registry
    from llmops.gateway.routes import Route, RouteStore, Target
    from llmops.workspace import Workspace
    from tests.helpers import auth

    base = registry.register("tiny", tiny_base)
    routes = RouteStore(Workspace.open())
    for seed in (1, 2):
        registry.register("tiny-lora", _lora(tiny_base, tmp_path / f"lora{seed}", seed),
                          format="lora", base_version_id=base.id)
        routes.put(Route(name=f"lora{seed}", targets=[
            Target(kind="model", model=f"model:tiny-lora@{seed}")]))
    answers = []
    for name in ("lora1", "lora2"):
        response = client.post("/v1/chat/completions", headers=auth(keys["inference"]), json={
            "model": name, "max_tokens": 6,
            "messages": [{"role": "user", "content": "Where is Porto?"}]})
        assert response.status_code == 200, response.text
        answers.append(response.json()["choices"][0]["message"]["content"])
    assert answers[0] != answers[1]
    assert client.app.state.gateway._local_models.bases == 1


def test_an_adapter_loads_between_steps_of_a_busy_batch(tiny_base: Path,
                                                        tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_base).eval()  # PEFT wraps it in place
    tok = AutoTokenizer.from_pretrained(tiny_base)
    expected = alone(model, PROMPTS[1], 40)
    folder = _lora(tiny_base, tmp_path / "a1", 1)
    scheduler = BatchScheduler(model, max_batch=4)
    try:
        started = threading.Event()
        busy = submit(scheduler, tok, PROMPTS[1], Sampling(max_tokens=40),
                      then=lambda event: started.set())
        assert started.wait(60)
        scheduler.add_adapter("a1", folder)
        tuned = submit(scheduler, tok, PROMPTS[1], Sampling(max_tokens=10), adapter="a1")
        assert busy.wait().text == tok.decode(expected, skip_special_tokens=True)
        assert tuned.wait().text != tok.decode(expected[:10], skip_special_tokens=True)
        assert scheduler.adapters == {"a1"}
    finally:
        scheduler.close()


def test_a_local_model_streams_through_the_gateway(client: Any, keys: dict[str, str],
                                                   tiny_base: Path) -> None:
    import json

    from llmops import registry
    from llmops.gateway.routes import Route, RouteStore, Target
    from llmops.workspace import Workspace
    from tests.helpers import auth

    registry.register("tiny", tiny_base)
    RouteStore(Workspace.open()).put(Route(name="tiny", targets=[
        Target(kind="model", model="model:tiny@1")]))
    body = {"model": "tiny", "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "Where is Porto?"}]}
    with client.stream("POST", "/v1/chat/completions", headers=auth(keys["inference"]),
                       json=body) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks
                       if c["choices"])
    whole = client.post("/v1/chat/completions", headers=auth(keys["inference"]),
                        json={**body, "stream": False}).json()
    assert streamed.strip() == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]
