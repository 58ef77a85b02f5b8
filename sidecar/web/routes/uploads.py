"""Exports uploaded in chunks (tus-style ``Upload-Offset``), called by WordPress only."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response, validate_request

from ...errors import BadRequest
from ..routing import Reply, credential, errors, services
from ..schemas import CreateUpload, Upload, UploadList

blueprint = Blueprint("uploads", __name__)

CHUNK_CONTENT_TYPE = "application/offset+octet-stream"


def is_chunk_request(method: str, path: str) -> bool:
    """A chunk's body may be larger than any JSON body (see ``web/app.py``)."""
    return method == "PATCH" and path.startswith("/api/uploads/")


@blueprint.get("/api/uploads")
@errors
@document_response(UploadList)
async def list_uploads() -> Reply:
    credential(allow_token=False)
    uploads = services().uploads
    return {"limits": await uploads.describe_limits(),
            "uploads": [uploads.public(u) for u in await uploads.all()]}, 200


@blueprint.post("/api/uploads")
@errors
@validate_request(CreateUpload)
@document_response(Upload, 201)
@document_response(Upload, 200)
async def create_upload(data: CreateUpload) -> Reply:
    """201 with a new upload, or 200 with the one kept for the same file (resume it)."""
    credential(allow_token=False)
    uploads = services().uploads
    upload, created = await uploads.create(data.name, data.size, data.last_modified)
    return uploads.public(upload), 201 if created else 200


@blueprint.get("/api/uploads/<upload_id>")
@errors
@document_response(Upload)
async def get_upload(upload_id: str) -> Reply:
    credential(allow_token=False)
    uploads = services().uploads
    return uploads.public(await uploads.get(upload_id)), 200


@blueprint.patch("/api/uploads/<upload_id>")
@errors
@document_response(Upload)
async def append_chunk(upload_id: str) -> tuple[Response, int] | Reply:
    """The body is the chunk's bytes; ``Upload-Offset`` names the byte it starts at and
    ``Upload-Checksum: sha256 <base64>`` (optional) its digest."""
    credential(allow_token=False)
    if request.mimetype != CHUNK_CONTENT_TYPE:
        raise BadRequest(f"a chunk is sent as {CHUNK_CONTENT_TYPE}, not "
                         f"{request.mimetype or 'no content type'}", code="chunk_content_type")
    raw_offset = request.headers.get("Upload-Offset", "")
    if not raw_offset.isdigit():
        raise BadRequest("a chunk needs an Upload-Offset header: the byte of the file where "
                         "it starts", code="upload_offset")
    uploads = services().uploads
    upload = await uploads.append(upload_id, int(raw_offset), request.body,
                                  request.headers.get("Upload-Checksum"))
    return uploads.public(upload), 200


@blueprint.delete("/api/uploads/<upload_id>")
@errors
async def delete_upload(upload_id: str) -> tuple[str, int]:
    credential(allow_token=False)
    await services().uploads.delete(upload_id)
    return "", 204

