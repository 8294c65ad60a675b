"""Fixtures for the prompt registry: sample prompt files, and the registry local and remote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmops.prompts import clear_prompt_cache
from llmops.workspace import Workspace

TRAVEL = """\
description: Travel assistant
messages:
  - role: system
    content: |
      You are a travel assistant for {{ company }}.
      Answer in {{ language }}.
  - role: user
    content: "{{ question }}"
variables:
  company: string
  language: {type: string, default: English}
  question: {type: string, description: the user's question}
parameters:
  temperature: 0.2
  max_tokens: 512
"""

# The same prompt written differently: shorthand types, other key order, defaults spelled
# out. Same content, so the same hash.
TRAVEL_RESPELLED = """\
parameters: {max_tokens: 512, temperature: 0.2, stop: null}
variables:
  question: {description: "the user's question", type: string, required: true}
  language: {default: English, type: string}
  company: {type: string}
messages:
  - {role: system,
     content: "You are a travel assistant for {{ company }}.\\nAnswer in {{ language }}.\\n"}
  - {content: "{{ question }}", role: user}
description: Travel assistant
name: travel-system
"""


def travel(temperature: float = 0.2) -> str:
    return TRAVEL.replace("temperature: 0.2", f"temperature: {temperature}")


@pytest.fixture(autouse=True)
def _fresh_prompt_cache() -> Iterator[None]:
    clear_prompt_cache()
    yield
    clear_prompt_cache()


@pytest.fixture(params=["local", "remote"])
def registry(request: pytest.FixtureRequest, workspace: Workspace, keys: dict[str, str],
             client: Any) -> Any:
    """The prompt registry, on the store directly and through the HTTP server."""
    from llmops.prompts.registry import LocalPromptRegistry
    from llmops.prompts.remote import RemotePromptRegistry

    if request.param == "local":
        return LocalPromptRegistry(workspace)
    client.headers["Authorization"] = f"Bearer {keys['maintainer']}"
    return RemotePromptRegistry(client, retries=1)
