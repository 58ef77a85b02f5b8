"""Opaque page cursors: a page's last sort key, for the client to hand back unread."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..errors import BadRequest


def encode_cursor(*key: Any) -> str:
    text = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key in ``cursor``, each part of the given type; a 400 naming it otherwise."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != len(types) or not all(
        _is(part, kind) for part, kind in zip(key, types, strict=True)
    ):
        raise BadRequest(f"cursor {cursor[:40]!r} is not one this sidecar gave out: "
                         "pass next_cursor from the previous page as it is")
    return tuple(float(p) if kind is float else p for p, kind in zip(key, types, strict=True))


def _is(part: Any, kind: type) -> bool:
    if isinstance(part, bool):
        return False
    if kind is float:
        return isinstance(part, int | float)
    return isinstance(part, kind)
