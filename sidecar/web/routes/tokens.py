"""Stream tokens: short-lived read access to named sessions, for a browser."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import document_response, validate_request

from ..auth import mint_stream_token
from ..routing import Reply, credential, errors, services
from ..schemas import StreamToken, StreamTokenRequest

blueprint = Blueprint("tokens", __name__)


@blueprint.post("/api/stream-tokens")
@errors
@validate_request(StreamTokenRequest)
@document_response(StreamToken, 201)
async def create_stream_token(data: StreamTokenRequest) -> Reply:
    credential(allow_token=False)
    token, expires_at = mint_stream_token(services().config.secret, data.sessions, data.ttl)
    return {"token": token, "expires_at": expires_at, "sessions": sorted(set(data.sessions))}, 201
