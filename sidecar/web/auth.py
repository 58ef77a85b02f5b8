"""Who may do what: the bearer secret, scoped stream tokens, and the CORS allowlist.

A stream token is ``v1.<payload>.<signature>``: the payload is base64url JSON
``{"s": [session ids or "*"], "exp": unix seconds}`` and the signature is
HMAC-SHA256 over it with a key derived from the secret. Tokens cannot mutate
anything; they only let a browser read the sessions they name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import Forbidden, Unauthorized

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret


@dataclass(frozen=True)
class Credential:
    """What a request proved: the secret (everything) or a token (some sessions)."""

    kind: str  # "secret" or "token"
    sessions: frozenset[str] | None  # None: every session
    expires_at: float | None = None

    def may_read(self, session_id: str) -> bool:
        return self.sessions is None or session_id in self.sessions

    def require_read(self, session_ids: Iterable[str]) -> None:
        refused = [s for s in session_ids if not self.may_read(s)]
        if refused:
            raise Forbidden(f"this stream token does not cover session {refused[0]}")

    def require_secret(self) -> None:
        if self.kind != "secret":
            raise Forbidden("a stream token only allows reading progress; this needs the secret")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(secret: str) -> bytes:
    # A key of its own, so a token's signature never reveals anything usable as the secret.
    return hashlib.sha256(b"igbridge stream token\x00" + secret.encode()).digest()


def mint_stream_token(
    secret: str, sessions: Iterable[str], ttl: float, *, now: float | None = None
) -> tuple[str, int]:
    expires_at = int((time.time() if now is None else now) + ttl)
    payload = _b64(json.dumps({"s": sorted(set(sessions)), "exp": expires_at},
                              separators=(",", ":")).encode())
    signature = hmac.new(_signing_key(secret), payload.encode(), hashlib.sha256).digest()
    return f"{TOKEN_VERSION}.{payload}.{_b64(signature)}", expires_at


def verify_stream_token(secret: str, token: str, *, now: float | None = None) -> Credential:
    try:
        version, payload, signature = token.split(".")
    except ValueError:
        raise Unauthorized("malformed stream token") from None
    if version != TOKEN_VERSION:
        raise Unauthorized("unsupported stream token version")
    expected = hmac.new(_signing_key(secret), payload.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        claims = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError):
        raise Unauthorized("malformed stream token") from None
    if not hmac.compare_digest(expected, given):
        raise Unauthorized("stream token signature is not valid")
    if not isinstance(claims, dict) or not isinstance(claims.get("s"), list) or not isinstance(
        claims.get("exp"), int
    ):
        raise Unauthorized("malformed stream token")
    if claims["exp"] <= (time.time() if now is None else now):
        raise Unauthorized("stream token has expired; ask for a new one", code="token_expired")
    scope = [str(s) for s in claims["s"]]
    sessions = None if "*" in scope else frozenset(scope)
    return Credential(kind="token", sessions=sessions, expires_at=float(claims["exp"]))


def authenticate(
    secret: str, headers: Mapping[str, str], query_token: str | None, *, allow_token: bool
) -> Credential:
    """The bearer secret always works; a ``?token=`` only where ``allow_token``."""
    header = headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise Unauthorized("Authorization must be 'Bearer <secret>'")
        if hmac.compare_digest(value.strip().encode(), secret.encode()):
            return Credential(kind="secret", sessions=None)
        if not allow_token:
            raise Unauthorized("wrong secret")
        # A stream token may also come as a bearer credential.
        return verify_stream_token(secret, value.strip())
    if query_token:
        if not allow_token:
            raise Unauthorized("this call needs the secret, not a stream token")
        return verify_stream_token(secret, query_token)
    raise Unauthorized("missing credentials: send 'Authorization: Bearer <secret>'"
                       + (" or a ?token=" if allow_token else ""))


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    return origin.rstrip("/") in set(allowed)
