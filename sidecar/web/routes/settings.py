"""Settings an admin sets from wp-admin, passed on by WordPress: the Apify token.

Write-only: the token is taken and kept (``sources/apify_token.py``), never answered.
"""

from __future__ import annotations

from quart import Blueprint
from quart_schema import document_response, validate_request

from ...sources.apify_token import check_token
from ..routing import Reply, credential, errors, services
from ..schemas import ApifyCheck, ApifyTokenBody, ApifyTokenStatus

blueprint = Blueprint("settings", __name__)


@blueprint.get("/api/settings/apify-token")
@errors
@document_response(ApifyTokenStatus)
async def apify_token_status() -> Reply:
    credential(allow_token=False)
    return (await services().apify_token.status()).to_json(), 200


@blueprint.put("/api/settings/apify-token")
@errors
@validate_request(ApifyTokenBody)
@document_response(ApifyTokenStatus)
async def save_apify_token(data: ApifyTokenBody) -> Reply:
    credential(allow_token=False)
    return (await services().apify_token.save(data.token)).to_json(), 200


@blueprint.delete("/api/settings/apify-token")
@errors
@document_response(ApifyTokenStatus)
async def clear_apify_token() -> Reply:
    credential(allow_token=False)
    return (await services().apify_token.clear()).to_json(), 200


@blueprint.post("/api/settings/apify-token/check")
@errors
@document_response(ApifyCheck)
async def check_apify_token() -> Reply:
    """Is Apify reachable, and does it accept the token in use? (Test connection)"""
    credential(allow_token=False)
    found = services()
    return await check_token(await found.apify_token.current(), found.config.apify_api_url), 200
