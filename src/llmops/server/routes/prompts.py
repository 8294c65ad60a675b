"""The prompt registry over HTTP: viewers read and render, maintainers create and label."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from llmops.auth.keys import Principal
from llmops.errors import InvalidInput
from llmops.prompts.models import (
    CreatedPromptVersion,
    LabelChange,
    PromptDiff,
    PromptLabelEvent,
    PromptSummary,
    PromptVersion,
)
from llmops.prompts.registry import LocalPromptRegistry
from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Reader, Writer

router = APIRouter(prefix="/api/v1/prompts", tags=["prompts"])


def registry(request: Request, principal: Principal) -> LocalPromptRegistry:
    return LocalPromptRegistry(workspace(request), actor=principal.actor)


class PromptIn(BaseModel):
    name: str
    spec: dict[str, Any] | None = Field(default=None, description="the prompt as JSON")
    yaml: str | None = Field(default=None, description="or: the prompt file's text")
    label: str | None = Field(default=None, description="move this label to the version")
    source: str = Field(default="prompt", max_length=200,
                        description="how error messages name the input")


class LabelIn(BaseModel):
    version: str | int = Field(description="a version number, another label, latest, or a "
                                           "sha256: prefix")


class RenderIn(BaseModel):
    selector: str | None = Field(default=None, description="version, label, latest or "
                                                           "sha256: prefix; default latest")
    variables: dict[str, Any] = Field(default_factory=dict)


def _ref(name: str, selector: str | None) -> str:
    return f"prompt:{name}@{selector}" if selector else f"prompt:{name}"


@router.get("", response_model=list[PromptSummary])
def list_prompts(request: Request, who: Reader) -> Response:
    return as_json(registry(request, who).list_prompts())


@router.post("", response_model=CreatedPromptVersion, status_code=201,
             responses={200: {"description": "identical content: the existing version"}})
def create_prompt(body: PromptIn, request: Request, who: Writer) -> Response:
    """Create a version (201), or return the identical existing one (200)."""
    if (body.spec is None) == (body.yaml is None):
        raise InvalidInput("send the prompt as exactly one of `spec` (JSON) and `yaml` (text)",
                           errors=[{"field": "body.spec", "message": "spec or yaml"}])
    spec = body.yaml if body.yaml is not None else body.spec
    assert spec is not None
    created = registry(request, who).create(body.name, spec, label=body.label,
                                            source=body.source)
    return as_json(created, 201 if created.created else 200)


@router.get("/{name}", response_model=PromptVersion)
def show_prompt(name: str, request: Request, who: Reader) -> Response:
    """The newest version of `name`."""
    return as_json(registry(request, who).get(_ref(name, None)))


@router.get("/{name}/versions", response_model=list[PromptVersion])
def list_versions(name: str, request: Request, who: Reader) -> Response:
    return as_json(registry(request, who).versions(name))


@router.get("/{name}/versions/{selector}", response_model=PromptVersion)
def show_version(name: str, selector: str, request: Request, who: Reader) -> Response:
    """The version a number, label, ``latest`` or ``sha256:`` prefix selects."""
    return as_json(registry(request, who).get(_ref(name, selector)))


@router.get("/{name}/labels", response_model=list[PromptLabelEvent])
def label_history(name: str, request: Request, who: Reader,
                  label: Annotated[str | None, Query()] = None) -> Response:
    """Label moves, newest first (of one label with ``?label=``)."""
    return as_json(registry(request, who).label_history(name, label))


@router.put("/{name}/labels/{label}", response_model=LabelChange)
def set_label(name: str, label: str, body: LabelIn, request: Request, who: Writer) -> Response:
    return as_json(registry(request, who).set_label(name, str(body.version), label))


@router.delete("/{name}/labels/{label}", response_model=LabelChange)
def remove_label(name: str, label: str, request: Request, who: Writer) -> Response:
    return as_json(registry(request, who).remove_label(name, label))


@router.post("/{name}/labels/{label}/rollback", response_model=LabelChange)
def rollback_label(name: str, label: str, request: Request, who: Writer) -> Response:
    """Move the label back to where it pointed before its last move."""
    return as_json(registry(request, who).rollback(name, label))


@router.get("/{name}/diff", response_model=PromptDiff)
def diff_versions(name: str, request: Request, who: Reader,
                  a: Annotated[str, Query(description="a selector of NAME, or a reference")],
                  b: Annotated[str, Query(description="a selector of NAME, or a reference")]
                  ) -> Response:
    def ref(value: str) -> str:
        return value if value.startswith("prompt:") or "@" in value else _ref(name, value)

    return as_json(registry(request, who).diff(ref(a), ref(b)))


@router.post("/{name}/render")
def render_prompt(name: str, body: RenderIn, request: Request, who: Reader) -> dict[str, Any]:
    """Render a version with variables: messages (or text), parameters, example ids."""
    return registry(request, who).render(_ref(name, body.selector), body.variables).to_dict()
