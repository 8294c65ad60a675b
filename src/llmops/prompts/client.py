"""`get_prompt`: a prompt version by reference, compiled, from a cache that expires.

    prompt = llmops.get_prompt("travel-system@production")
    prompt.render(city="Lisbon").messages

An application calls this on every request. For `cache_ttl_s` seconds after a lookup
(default 60; ``LLMOPS_PROMPT_CACHE_TTL_S``, read when a prompt is fetched, changes the
default; the argument overrides both) the same reference is answered from memory, with
no database or network round trip; the first call after that looks the reference up
again, so a label moved in the registry is picked up within the TTL, and never before
it. A TTL of 0 looks up every call.

Against the local workspace by default; through the HTTP API when ``LLMOPS_SERVER_URL``
is set (with ``LLMOPS_API_KEY``). If a refresh finds the store or server unreachable
(`ServiceUnavailable`), the prompt already cached keeps being served, with a logged
warning, and the next call after another TTL tries again.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from llmops.config import Settings, get_settings
from llmops.errors import InvalidInput, ServiceUnavailable
from llmops.prompts.backend import PromptRegistry, open_prompts
from llmops.prompts.prompt import Prompt

log = logging.getLogger("llmops.prompts")

DEFAULT_CACHE_TTL_S = 60.0
TTL_ENV = "LLMOPS_PROMPT_CACHE_TTL_S"

_clock: Callable[[], float] = time.monotonic  # tests replace it
_cache: dict[tuple[Any, str], tuple[float, float, Prompt]] = {}  # fetched, expires, prompt
_registries: dict[Any, PromptRegistry] = {}
_sources: dict[int, tuple[Settings, Any]] = {}
_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _parse_ttl(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InvalidInput(f"{TTL_ENV}={raw!r}: expected a number of seconds, 0 or more")
    return value


def default_ttl() -> float:
    """The cache TTL when `get_prompt` is not given one: ``LLMOPS_PROMPT_CACHE_TTL_S`` or 60."""
    raw = os.environ.get(TTL_ENV)
    return DEFAULT_CACHE_TTL_S if raw is None else _parse_ttl(raw)


def _registry(source: Any, settings: Settings) -> PromptRegistry:
    found = _registries.get(source)
    if found is None:
        with _lock:
            found = _registries.get(source)
            if found is None:
                found = _registries[source] = open_prompts(settings)
    return found


def get_prompt(ref: str, *, cache_ttl_s: float | None = None,
               settings: Settings | None = None,
               registry: PromptRegistry | None = None) -> Prompt:
    """The prompt version `ref` selects, compiled and ready to `render`.

    Args:
        ref: ``NAME``, ``NAME@LABEL``, ``NAME@VERSION``, ``NAME@sha256:PREFIX``, with or
            without ``prompt:`` in front. A bare name is the newest version; pin a label
            in applications.
        cache_ttl_s: how long a lookup is reused (see the module docstring).
        settings: where to look (default: the process settings).
        registry: look here instead (tests, or a registry built by hand).

    Raises:
        NotFound: no such prompt, version or label (names the candidates).
        InvalidInput: a malformed reference.
    """
    if cache_ttl_s is not None and cache_ttl_s < 0:
        raise InvalidInput(f"cache_ttl_s must be 0 or more, not {cache_ttl_s}")
    if registry is not None:
        source: Any = ("registry", id(registry))
    else:
        settings = settings or get_settings()
        known = _sources.get(id(settings))
        if known is None or known[0] is not settings:  # kept alive below, so ids are unique
            known = _sources[id(settings)] = (
                settings, (settings.server_url, settings.database_url, str(settings.home)))
        source = known[1]
    key = (source, ref)
    now = _clock()
    entry = _cache.get(key)
    if entry is not None:
        # The environment's TTL is read when a prompt is fetched, not on every hit.
        fresh = now < entry[1] if cache_ttl_s is None else now - entry[0] < cache_ttl_s
        if fresh:
            return entry[2]
    expires = now + (default_ttl() if cache_ttl_s is None else cache_ttl_s)
    try:
        prompt = (registry or _registry(source, settings or get_settings())).compiled(ref)
    except ServiceUnavailable as exc:
        if entry is None:
            raise
        log.warning("serving cached %s: the prompt registry is unreachable (%s)",
                    entry[2].ref, exc.detail)
        _cache[key] = (now, expires, entry[2])
        return entry[2]
    _cache[key] = (now, expires, prompt)
    return prompt


def clear_prompt_cache() -> None:
    """Forget every cached prompt and registry connection (tests, forks)."""
    with _lock:
        _cache.clear()
        _registries.clear()
        _sources.clear()
