"""What every route module shares: this process's services, what the request's
credential proved, and the error envelope documented for every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart import current_app, g
from quart_schema import document_response

from .auth import Credential
from .schemas import ErrorBody
from .services import Services

Reply = tuple[dict[str, Any], int]
Handler = TypeVar("Handler", bound=Callable[..., Any])

# What any /api route can answer besides success: malformed body (400), credentials
# (401/403), unknown id (404), a state conflict (409), a body too large (413), a body
# or query that fails validation (422), the database unwritable (503), the disk too
# full for an upload (507).
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 503, 507)


def errors(func: Handler) -> Handler:
    """Document the error envelope for every error status in /openapi.json."""
    for status in ERROR_STATUSES:
        func = document_response(ErrorBody, status)(func)
    return func


def services() -> Services:
    found: Services = current_app.extensions["igbridge"]
    return found


def credential(*, allow_token: bool) -> Credential:
    """What this request proved (checked before the handler ran)."""
    found: Credential = g.igbridge_credential
    if not allow_token:
        found.require_secret()
    return found
