"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from llmops.errors import LlmopsError

log = logging.getLogger("llmops.server")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, *, slug: str, instance: str,
            errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://llmops.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    @app.exception_handler(LlmopsError)
    async def _llmops(request: Request, exc: LlmopsError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        retry = getattr(exc, "retry_after_s", None)
        if retry is not None:
            headers = {"Retry-After": str(max(1, math.ceil(retry)))}
        if exc.status >= 500:
            log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path,
                      exc.detail)
        return problem(exc.status, exc.title, exc.detail, slug=exc.slug,
                       instance=request.url.path, errors=exc.errors, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Validation failed", detail, slug="validation-failed",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail),
                       slug=f"http-{exc.status_code}", instance=request.url.path,
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "the server failed; its log has the details",
                       slug="internal-error", instance=request.url.path)
