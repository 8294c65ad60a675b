"""Which prompt registry a process uses: the local store, or a remote llmops server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from llmops.config import Settings, get_settings
from llmops.errors import InvalidInput
from llmops.prompts.models import (
    CreatedPromptVersion,
    LabelChange,
    PromptDiff,
    PromptLabelEvent,
    PromptSummary,
    PromptVersion,
)
from llmops.prompts.prompt import Prompt, RenderedPrompt
from llmops.prompts.spec import PromptSpec
from llmops.refs import parse_ref


def parse_prompt_ref(text: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME@SELECTOR`` or ``prompt:NAME@SELECTOR`` -> (name, selector).

    Raises:
        InvalidInput: not a prompt reference.
    """
    ref = parse_ref(text, default_kind="prompt")
    if ref.kind != "prompt" or ref.split:
        raise InvalidInput(f"invalid prompt reference {text!r}: expected "
                           "[prompt:]NAME[@VERSION|LABEL|sha256:PREFIX]")
    return ref.name, ref.selector


class PromptRegistry(Protocol):
    """The prompt registry; `LocalPromptRegistry` and `RemotePromptRegistry` both provide it.

    A `ref` is ``[prompt:]NAME[@SELECTOR]``; SELECTOR is a version number, a label,
    ``latest`` or a ``sha256:`` prefix of the content hash; none means the newest version.
    """

    def create(self, name: str, spec: PromptSpec | Mapping[str, Any] | str, *,
               label: str | None = None, source: str = "prompt") -> CreatedPromptVersion: ...
    def get(self, ref: str) -> PromptVersion: ...
    def list_prompts(self) -> list[PromptSummary]: ...
    def versions(self, name: str) -> list[PromptVersion]: ...
    def set_label(self, name: str, selector: str, label: str) -> LabelChange: ...
    def rollback(self, name: str, label: str) -> LabelChange: ...
    def remove_label(self, name: str, label: str) -> LabelChange: ...
    def label_history(self, name: str, label: str | None = None) -> list[PromptLabelEvent]: ...
    def diff(self, a: str, b: str) -> PromptDiff: ...
    def render(self, ref: str, variables: Mapping[str, Any]) -> RenderedPrompt: ...
    def compiled(self, ref: str) -> Prompt: ...


def open_prompts(settings: Settings | None = None) -> PromptRegistry:
    """Remote when ``LLMOPS_SERVER_URL`` is set, else the local workspace."""
    settings = settings or get_settings()
    if settings.server_url:
        from llmops.prompts.remote import RemotePromptRegistry

        return RemotePromptRegistry.from_settings(settings)
    from llmops.prompts.registry import LocalPromptRegistry
    from llmops.workspace import Workspace

    return LocalPromptRegistry(Workspace.open(settings))
