"""What the route modules share: the workspace, per-caller services, JSON output."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.convertors import PathConvertor, register_url_convertor

from llmops.auth.keys import Principal
from llmops.tracking.local import LocalTracking
from llmops.workspace import Workspace


class AnyPathConvertor(PathConvertor):
    """Like ``path`` but also matches newlines, so that every malformed artifact name
    reaches the path checks and gets a 400 instead of slipping past as a 404."""

    regex = r"[\s\S]*"


# Routes compile their patterns when declared, so the convertor must exist first.
register_url_convertor("anypath", AnyPathConvertor())


def workspace(request: Request) -> Workspace:
    return request.app.state.workspace


def tracking(request: Request, principal: Principal) -> LocalTracking:
    return LocalTracking(workspace(request), actor=principal.actor)


def as_json(model: BaseModel | Sequence[BaseModel], status: int = 200) -> Response:
    """Serialise with pydantic itself, so NaN and infinities become "NaN"/"Infinity"."""
    if not isinstance(model, BaseModel):
        body = b"[" + b",".join(m.model_dump_json().encode() for m in model) + b"]"
    else:
        body = model.model_dump_json().encode()
    return Response(body, status_code=status, media_type="application/json")
