"""Blobs (content-addressed uploads) and run artifacts over HTTP.

A client uploads the blobs the server lacks (`POST /blobs/missing`, then
`PUT /blobs/{digest}`), then records a file or a folder manifest in a run. Uploads
stream to a spool file while hashed; the digest must match or nothing is stored.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from llmops.artifacts import ArtifactRef, TreeEntry, check_relpath, parse_digest
from llmops.errors import InvalidInput, PayloadTooLarge
from llmops.server.routes.common import as_json, tracking, workspace
from llmops.server.security import Reader, Writer
from llmops.tracking.models import RunArtifact

router = APIRouter(prefix="/api/v1", tags=["artifacts"])


class DigestList(BaseModel):
    digests: list[str] = Field(max_length=100_000)


class FileIn(BaseModel):
    path: str
    digest: str


class ArtifactIn(BaseModel):
    name: str
    kind: Literal["file", "tree"]
    digest: str | None = Field(default=None, description="the blob, for kind=file")
    files: list[FileIn] = Field(default_factory=list, description="the entries, for kind=tree")


class ArtifactFiles(BaseModel):
    artifact: RunArtifact
    files: list[dict[str, str | int]]


@router.post("/blobs/missing", response_model=DigestList)
def missing_blobs(body: DigestList, request: Request, who: Writer) -> DigestList:
    store = workspace(request).artifacts
    return DigestList(digests=[d for d in body.digests if not store.exists(d)])


@router.put("/blobs/{digest}", status_code=201, response_model=ArtifactRef)
async def upload_blob(digest: str, request: Request, who: Writer) -> ArtifactRef:
    hexdigest = parse_digest(digest)
    limit = workspace(request).settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"an upload of {declared} bytes is over the limit of {limit}")
    store = workspace(request).artifacts
    with tempfile.NamedTemporaryFile(prefix="llmops-upload-") as spool:
        h, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the upload is over the limit of {limit} bytes")
            h.update(chunk)
            spool.write(chunk)
        spool.flush()
        if h.hexdigest() != hexdigest:
            raise InvalidInput(f"the uploaded bytes hash to sha256:{h.hexdigest()}, not {digest}")
        return await run_in_threadpool(store.put_file, spool.name)


@router.get("/blobs/{digest}")
def download_blob(digest: str, request: Request, who: Reader) -> StreamingResponse:
    stream = workspace(request).artifacts.open(digest)
    return StreamingResponse(_chunks(stream), media_type="application/octet-stream")


@router.post("/runs/{run_id}/artifacts", status_code=201, response_model=RunArtifact)
def log_artifact(run_id: str, body: ArtifactIn, request: Request, who: Writer) -> Response:
    check_relpath(body.name, what="artifact name")
    store = workspace(request).artifacts
    if body.kind == "file":
        if body.digest is None:
            raise InvalidInput("a file artifact needs its digest",
                               errors=[{"field": "body.digest", "message": "required"}])
        ref = ArtifactRef(body.digest, "file", store.size(body.digest))
    else:
        ref = store.put_manifest([TreeEntry(f.path, f.digest, 0) for f in body.files])
    return as_json(tracking(request, who).log_artifact(run_id, body.name, ref), 201)


@router.get("/runs/{run_id}/artifacts", response_model=list[RunArtifact])
def list_artifacts(run_id: str, request: Request, who: Reader) -> Response:
    return as_json(tracking(request, who).get_run(run_id).artifacts)


@router.get("/runs/{run_id}/artifacts/{name:anypath}", response_model=ArtifactFiles)
def artifact_files(run_id: str, name: str, request: Request, who: Reader) -> ArtifactFiles:
    service = tracking(request, who)
    files = service.artifact_files(run_id, name)
    return ArtifactFiles(
        artifact=service.get_artifact(run_id, name),
        files=[{"path": f.path, "digest": f.digest, "size": f.size} for f in files],
    )


@router.get("/runs/{run_id}/download/{name:anypath}")
def download_artifact(run_id: str, name: str, request: Request, who: Reader,
                      path: Annotated[str | None, Query()] = None) -> StreamingResponse:
    """The bytes of a file artifact, or with `path` of one file inside a folder artifact."""
    entry, stream = tracking(request, who).open_artifact_file(run_id, name, path)
    filename = entry.path.rsplit("/", 1)[-1].replace('"', "")
    return StreamingResponse(
        _chunks(stream), media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                 "X-Llmops-Digest": entry.digest})


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(1024 * 1024):
            yield chunk
