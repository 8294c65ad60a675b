"""Datasets over HTTP: list, show, rows, download, streamed multipart upload, derive, diff.

Viewers read; maintainers write. An upload streams to a temporary file; a body over
`LLMOPS_MAX_UPLOAD_BYTES` is refused with 413 while it streams, before anything is stored.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartParser

from llmops import datasets
from llmops.datasets.importer import ImportReport
from llmops.datasets.ops import (
    DatasetDiff,
    derive_dataset,
    diff_versions,
    profile_version,
    stored_profile,
)
from llmops.datasets.profile import Profile
from llmops.datasets.versions import DatasetInfo, DatasetVersion
from llmops.errors import InvalidInput, PayloadTooLarge
from llmops.server.routes.common import as_json, workspace
from llmops.server.security import Reader, Writer

router = APIRouter(prefix="/api/v1", tags=["datasets"])
TRUE = {"1", "true", "yes", "on"}


def _ref(name: str, selector: str, split: str | None = None) -> str:
    return f"dataset:{name}@{selector}" + (f"#{split}" if split else "")


class DeriveIn(BaseModel):
    source: str
    where: str | None = None
    dedup: str | None = None
    threshold: float = 0.8
    redact_pii: bool = False


@router.get("/datasets", response_model=list[DatasetInfo])
def list_datasets(request: Request, who: Reader) -> list[DatasetInfo]:
    return datasets.list_datasets(workspace=workspace(request))


@router.get("/datasets/{name}/versions", response_model=list[DatasetVersion])
def list_versions(name: str, request: Request, who: Reader) -> list[DatasetVersion]:
    return datasets.list_versions(name, workspace=workspace(request))


@router.get("/datasets/{name}/versions/{selector}", response_model=DatasetVersion)
def show_version(name: str, selector: str, request: Request, who: Reader) -> DatasetVersion:
    return datasets.get_version(_ref(name, selector), workspace=workspace(request))


@router.get("/datasets/{name}/versions/{selector}/profile", response_model=Profile)
def profile(name: str, selector: str, request: Request, who: Reader, refresh: bool = False,
            format: Literal["json", "html"] = "json") -> Response:
    """The stored profile of a version, computed now if there is none (or `refresh`);
    ``format=html`` gives the self-contained report with charts."""
    ref = _ref(name, selector)
    found = None if refresh else stored_profile(workspace(request), ref)
    result = found or profile_version(workspace(request), ref)
    if format == "html":
        from llmops.datasets.report import render_html

        return HTMLResponse(render_html(result, title=f"dataset:{name}@{selector}"))
    return as_json(result)


@router.get("/datasets/{name}/versions/{selector}/rows")
def rows(name: str, selector: str, request: Request, who: Reader, split: str | None = None,
         offset: Annotated[int, Query(ge=0)] = 0,
         limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Response:
    """A page of rows as JSON (each with its `_id`)."""
    found = []
    for i, row in enumerate(datasets.iter_rows(_ref(name, selector, split),
                                               workspace=workspace(request))):
        if i >= offset + limit:
            break
        if i >= offset:
            found.append(row)
    return Response(orjson.dumps(found), media_type="application/json")


@router.get("/datasets/{name}/versions/{selector}/download")
def download(name: str, selector: str, request: Request, who: Reader,
             split: str | None = None) -> StreamingResponse:
    """Every row as JSONL, streamed."""
    ref = _ref(name, selector, split)
    datasets.get_version(ref, workspace=workspace(request))  # 404 before streaming starts

    def lines() -> Iterator[bytes]:
        for row in datasets.iter_rows(ref, workspace=workspace(request)):
            row.pop("_id")
            yield orjson.dumps(row) + b"\n"

    filename = f"{name}-{selector}{'-' + split if split else ''}.jsonl"
    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the upload is over the limit of {limit} bytes "
                                  "(LLMOPS_MAX_UPLOAD_BYTES)")
        yield chunk


@router.post("/datasets/{name}/versions", status_code=201, response_model=ImportReport,
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file", "kind"], "properties": {
                     "file": {"type": "string", "format": "binary"},
                     "kind": {"type": "string"}, "format": {"type": "string"},
                     "split": {"type": "string"}, "seed": {"type": "integer"},
                     "skip_invalid": {"type": "boolean"}, "redact_pii": {"type": "boolean"},
                     "sensitive": {"type": "boolean"}}}}}}})
async def upload(name: str, request: Request, who: Writer) -> Response:
    """Import an uploaded file (multipart field `file`) as a new version."""
    ws = workspace(request)
    limit = ws.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"an upload of {declared} bytes is over the limit of {limit}")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("send the file as multipart/form-data with a field named 'file'")
    form = await MultiPartParser(request.headers, _limited(request, limit),
                                 max_part_size=1024 * 1024).parse()
    try:
        upload_file = form.get("file")
        if not isinstance(upload_file, UploadFile):
            raise InvalidInput("the multipart body has no file field named 'file'",
                               errors=[{"field": "file", "message": "required"}])
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if "kind" not in fields:
            raise InvalidInput("the multipart body has no field 'kind'",
                               errors=[{"field": "kind", "message": "required"}])
        try:
            seed = int(fields.get("seed", "42"))
        except ValueError:
            raise InvalidInput("seed must be an integer",
                               errors=[{"field": "seed", "message": "integer"}]) from None
        filename = Path(upload_file.filename or "").name or "upload.jsonl"
        with tempfile.TemporaryDirectory(prefix="llmops-upload-") as tmp:
            path = Path(tmp) / filename
            with open(path, "wb") as out:
                while chunk := await upload_file.read(1024 * 1024):
                    out.write(chunk)
            report = await run_in_threadpool(
                datasets.import_dataset, name, path, kind=fields["kind"],
                fmt=fields.get("format") or None, split=fields.get("split") or None,
                seed=seed, skip_invalid=fields.get("skip_invalid", "").lower() in TRUE,
                redact_pii=fields.get("redact_pii", "").lower() in TRUE,
                sensitive=fields.get("sensitive", "").lower() in TRUE, workspace=ws,
                actor=who.actor)
    finally:
        await form.close()
    return as_json(report, 201 if report.created else 200)


@router.post("/datasets/{name}/derive", status_code=201, response_model=ImportReport)
def derive(name: str, body: DeriveIn, request: Request, who: Writer) -> Response:
    report = derive_dataset(workspace(request), name, body.source, where=body.where,
                            dedup=body.dedup, threshold=body.threshold,
                            redact_pii=body.redact_pii, actor=who.actor)
    return as_json(report, 201 if report.created else 200)


@router.get("/dataset-diff", response_model=DatasetDiff)
def diff(request: Request, who: Reader, a: str, b: str) -> DatasetDiff:
    return diff_versions(workspace(request), a, b)
