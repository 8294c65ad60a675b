"""The prompt registry through a remote llmops server, with the methods of the local one.

Errors come back as the same classes: the server's problem ``type`` names the class
(``.../problems/template-security-error``), and the status code is the fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from llmops.api_client import ApiClient
from llmops.config import Settings
from llmops.prompts.backend import parse_prompt_ref
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


def _q(part: str) -> str:
    return quote(part, safe="")


class RemotePromptRegistry:
    """Talks to ``/api/v1/prompts`` of an llmops server with an API key.

    Reads are retried on connection errors and 502/503/504 with backoff; so are creates
    and label moves, which are idempotent (same content, same version; a label set where
    it points changes nothing). Rollbacks are not retried: a second one would step back
    again.
    """

    def __init__(self, client: httpx.Client | ApiClient, *, retries: int = 4) -> None:
        self.api = client if isinstance(client, ApiClient) else ApiClient(client,
                                                                         retries=retries)

    @classmethod
    def from_settings(cls, settings: Settings) -> RemotePromptRegistry:
        return cls(ApiClient.from_settings(settings, timeout_s=30.0))

    # -- reading ------------------------------------------------------------------------
    def get(self, ref: str) -> PromptVersion:
        name, selector = parse_prompt_ref(ref)
        return PromptVersion(**self.api.json(
            "GET", f"/api/v1/prompts/{_q(name)}/versions/{_q(selector or 'latest')}"))

    def versions(self, name: str) -> list[PromptVersion]:
        return [PromptVersion(**v) for v in self.api.json(
            "GET", f"/api/v1/prompts/{_q(name)}/versions")]

    def list_prompts(self) -> list[PromptSummary]:
        return [PromptSummary(**p) for p in self.api.json("GET", "/api/v1/prompts")]

    def label_history(self, name: str, label: str | None = None) -> list[PromptLabelEvent]:
        params = {"label": label} if label else None
        return [PromptLabelEvent(**e) for e in self.api.json(
            "GET", f"/api/v1/prompts/{_q(name)}/labels", params=params)]

    def diff(self, a: str, b: str) -> PromptDiff:
        name, selector = parse_prompt_ref(a)
        other, other_selector = parse_prompt_ref(b)
        return PromptDiff(**self.api.json(
            "GET", f"/api/v1/prompts/{_q(name)}/diff",
            params={"a": selector or "latest",
                    "b": f"prompt:{other}@{other_selector or 'latest'}"}))

    # -- writing ------------------------------------------------------------------------
    def create(self, name: str, spec: PromptSpec | Mapping[str, Any] | str, *,
               label: str | None = None, source: str = "prompt") -> CreatedPromptVersion:
        body: dict[str, Any] = {"name": name, "label": label, "source": source}
        if isinstance(spec, str):
            body["yaml"] = spec
        elif isinstance(spec, PromptSpec):
            body["spec"] = spec.canonical_dict()
        else:
            body["spec"] = dict(spec)
        return CreatedPromptVersion(**self.api.json("POST", "/api/v1/prompts", json=body))

    def set_label(self, name: str, selector: str, label: str) -> LabelChange:
        return LabelChange(**self.api.json(
            "PUT", f"/api/v1/prompts/{_q(name)}/labels/{_q(label)}",
            json={"version": str(selector)}))

    def rollback(self, name: str, label: str) -> LabelChange:
        return LabelChange(**self.api.json(
            "POST", f"/api/v1/prompts/{_q(name)}/labels/{_q(label)}/rollback",
            idempotent=False))

    def remove_label(self, name: str, label: str) -> LabelChange:
        return LabelChange(**self.api.json(
            "DELETE", f"/api/v1/prompts/{_q(name)}/labels/{_q(label)}", idempotent=False))

    # -- rendering ----------------------------------------------------------------------
    def render(self, ref: str, variables: Mapping[str, Any]) -> RenderedPrompt:
        name, selector = parse_prompt_ref(ref)
        body = {"selector": selector, "variables": dict(variables)}
        return RenderedPrompt.from_dict(self.api.json(
            "POST", f"/api/v1/prompts/{_q(name)}/render", json=body))

    def compiled(self, ref: str) -> Prompt:
        """The version `ref` selects, compiled here; few-shot prompts render on the server
        (it holds the datasets), pinned to this version."""
        version = self.get(ref)
        pinned = f"{version.name}@{version.version}"
        return Prompt(version.spec, name=version.name, version=version.version,
                      version_id=version.id,
                      delegate=lambda values: self.render(pinned, values))
