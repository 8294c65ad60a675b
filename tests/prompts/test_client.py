"""`get_prompt`: cached per reference, a label move is picked up after the TTL, not before."""

from __future__ import annotations

from typing import Any

import pytest

import llmops
from llmops.config import Settings
from llmops.errors import InvalidInput, NotFound, ServiceUnavailable
from llmops.prompts import client as prompt_client
from llmops.prompts import default_ttl, get_prompt
from tests.prompts.conftest import travel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(prompt_client, "_clock", fake)
    return fake


VALUES = {"company": "Acme", "question": "q"}


def temperature(prompt: Any) -> float:
    return float(prompt.render(**VALUES).parameters["temperature"])


def test_a_label_move_is_picked_up_after_the_ttl_and_not_before(registry: Any,
                                                                clock: Clock) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    registry.create("travel-system", travel(0.9))
    ref = "travel-system@production"
    assert temperature(get_prompt(ref, cache_ttl_s=30, registry=registry)) == 0.1
    registry.set_label("travel-system", "2", "production")
    clock.now += 29
    assert temperature(get_prompt(ref, cache_ttl_s=30, registry=registry)) == 0.1  # cached
    clock.now += 2
    assert temperature(get_prompt(ref, cache_ttl_s=30, registry=registry)) == 0.9  # moved
    registry.rollback("travel-system", "production")
    assert temperature(get_prompt(ref, cache_ttl_s=30, registry=registry)) == 0.9
    clock.now += 31
    assert temperature(get_prompt(ref, cache_ttl_s=30, registry=registry)) == 0.1


def test_a_cache_hit_does_no_lookup(registry: Any, clock: Clock,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    first = get_prompt("travel-system@production", registry=registry)
    calls = []
    original = registry.compiled
    monkeypatch.setattr(registry, "compiled", lambda ref: calls.append(ref) or original(ref))
    for _ in range(100):
        assert get_prompt("travel-system@production", registry=registry) is first
    assert calls == []
    clock.now += default_ttl()
    get_prompt("travel-system@production", registry=registry)
    assert calls == ["travel-system@production"]


def test_ttl_zero_looks_up_every_time(registry: Any, clock: Clock) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    registry.create("travel-system", travel(0.9))
    assert temperature(get_prompt("travel-system@production", cache_ttl_s=0,
                                  registry=registry)) == 0.1
    registry.set_label("travel-system", "2", "production")
    assert temperature(get_prompt("travel-system@production", cache_ttl_s=0,
                                  registry=registry)) == 0.9


def test_the_default_ttl_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMOPS_PROMPT_CACHE_TTL_S", raising=False)
    assert default_ttl() == 60.0
    monkeypatch.setenv("LLMOPS_PROMPT_CACHE_TTL_S", "2.5")
    assert default_ttl() == 2.5
    monkeypatch.setenv("LLMOPS_PROMPT_CACHE_TTL_S", "soon")
    with pytest.raises(InvalidInput, match="LLMOPS_PROMPT_CACHE_TTL_S='soon'"):
        default_ttl()
    with pytest.raises(InvalidInput, match="cache_ttl_s must be 0 or more"):
        get_prompt("x", cache_ttl_s=-1)


def test_the_environment_ttl_is_used_by_get_prompt(registry: Any, clock: Clock,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_PROMPT_CACHE_TTL_S", "5")
    registry.create("travel-system", travel(0.1), label="production")
    registry.create("travel-system", travel(0.9))
    get_prompt("travel-system@production", registry=registry)
    registry.set_label("travel-system", "2", "production")
    clock.now += 6
    assert temperature(get_prompt("travel-system@production", registry=registry)) == 0.9


class Flaky:
    """A registry that answers once, then is unreachable."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False

    def compiled(self, ref: str) -> Any:
        if self.down:
            raise ServiceUnavailable("connection refused")
        return self.inner.compiled(ref)


def test_an_unreachable_registry_keeps_serving_the_cached_prompt(
        registry: Any, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    registry.create("travel-system", travel(0.1), label="production")
    flaky = Flaky(registry)
    first = get_prompt("travel-system@production", registry=flaky)  # type: ignore[arg-type]
    flaky.down = True
    clock.now += 1000
    with caplog.at_level("WARNING", logger="llmops.prompts"):
        assert get_prompt("travel-system@production", registry=flaky) is first  # type: ignore[arg-type]
    assert "registry is unreachable" in caplog.text
    with pytest.raises(ServiceUnavailable):
        get_prompt("travel-system@staging", registry=flaky)  # type: ignore[arg-type]


def test_errors_are_not_cached(registry: Any) -> None:
    with pytest.raises(NotFound, match="no prompt 'travel-system'"):
        get_prompt("travel-system@production", registry=registry)
    registry.create("travel-system", travel(0.1), label="production")
    assert temperature(get_prompt("travel-system@production", registry=registry)) == 0.1


def test_llmops_get_prompt_uses_the_local_workspace(settings: Settings, workspace: Any) -> None:
    from llmops.prompts.registry import LocalPromptRegistry

    LocalPromptRegistry(workspace).create("travel-system", travel(0.3), label="production")
    prompt = llmops.get_prompt("travel-system@production")
    assert isinstance(prompt, llmops.Prompt)
    rendered = prompt.render(**VALUES)
    assert isinstance(rendered, llmops.RenderedPrompt)
    assert rendered.ref == "prompt:travel-system@1" and rendered.parameters["temperature"] == 0.3
    assert llmops.get_prompt("prompt:travel-system@production") is not None
