"""The Apify token: from the environment, or saved from wp-admin into the data dir.

``APIFY_TOKEN`` (or ``APIFY_TOKEN_FILE``) wins when set: whoever runs the sidecar
decided. Otherwise a token an admin entered in WordPress' settings, sent here server
to server, is kept in ``<data dir>/apify-token`` with mode 0600 and read again for
each job, so a new token counts from the next job on without a restart. The token
is never sent back: callers learn only whether one is set and where it comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import impit
import pydantic
from apify_client import ApifyClientAsync
from apify_client.errors import ApifyApiError, ApifyClientError

from ..errors import ValidationFailed

TOKEN_FILE = "apify-token"  # noqa: S105 - a file name
MAX_TOKEN_LENGTH = 200
CHECK_TIMEOUT = timedelta(seconds=10)

Source = Literal["environment", "saved"]


@dataclass(frozen=True)
class TokenStatus:
    set: bool
    source: Source | None

    def to_json(self) -> dict[str, Any]:
        return {"set": self.set, "source": self.source}


class ApifyToken:
    def __init__(self, environment_token: str, data_dir: Path) -> None:
        self.environment_token = environment_token
        self.path = data_dir / TOKEN_FILE

    async def current(self) -> str:
        """The token a job uses now ('' when none is set)."""
        if self.environment_token:
            return self.environment_token
        return await asyncio.to_thread(self._read)

    async def status(self) -> TokenStatus:
        if self.environment_token:
            return TokenStatus(True, "environment")
        return TokenStatus(True, "saved") if await asyncio.to_thread(self._read) else \
            TokenStatus(False, None)

    async def save(self, token: str) -> TokenStatus:
        token = token.strip()
        if not token or len(token) > MAX_TOKEN_LENGTH or any(
                not ("\x21" <= ch <= "\x7e") for ch in token):
            raise ValidationFailed(
                f"an Apify token is 1 to {MAX_TOKEN_LENGTH} printable ASCII characters "
                "without spaces", code="bad_apify_token")
        await asyncio.to_thread(self._write, token)
        return await self.status()

    async def clear(self) -> TokenStatus:
        await asyncio.to_thread(self._remove)
        return await self.status()

    def _read(self) -> str:
        try:
            return self.path.read_text().strip()
        except FileNotFoundError:
            return ""

    def _write(self, token: str) -> None:
        # Written to a 0600 file of its own and moved into place: never readable by
        # others, never half-written.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{TOKEN_FILE}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def _remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def check_token(token: str, api_url: str) -> dict[str, Any]:
    """Asks Apify who the token belongs to: {ok, status, message, username}.

    ``status``: ``ok``, ``not_set``, ``invalid`` (Apify answered 401/403),
    ``unreachable`` (no answer), ``error`` (any other answer).
    """
    def outcome(status: str, message: str, username: str | None = None) -> dict[str, Any]:
        return {"ok": status == "ok", "status": status, "message": message,
                "username": username}

    if not token:
        return outcome("not_set", "No Apify token is set: enter it under Settings → igbridge "
                                  "in wp-admin (or set APIFY_TOKEN for the sidecar). Exports "
                                  "import without it; scraping a profile needs it.")
    # One try: a person is waiting for the answer, and a retry loop would hide an outage.
    client = ApifyClientAsync(token, api_url=api_url, api_public_url=api_url, max_retries=0,
                              timeout_short=CHECK_TIMEOUT)
    try:
        user = await client.user().get()
    except ApifyApiError as exc:
        if exc.status_code in (401, 403):
            return outcome("invalid", f"Apify at {api_url} refused the token ({exc.type}): "
                                      "enter a valid token under Settings → igbridge.")
        return outcome("error", f"Apify at {api_url} answered {exc.status_code} "
                                f"({exc.type}): {exc.message}")
    except impit.HTTPError as exc:
        return outcome("unreachable", f"Apify at {api_url} could not be reached: "
                                      f"{type(exc).__name__}: {exc}")
    except (ApifyClientError, pydantic.ValidationError) as exc:
        return outcome("error", f"unexpected answer from Apify at {api_url}: "
                                f"{type(exc).__name__}")
    finally:
        await client.http_client.aclose()
    if user is None:
        return outcome("invalid", f"Apify at {api_url} knows no user for this token.")
    return outcome("ok", f"Apify accepts the token (user {user.username}).", user.username)
