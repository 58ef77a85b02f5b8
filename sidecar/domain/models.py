"""The normalized post every source produces and the importer consumes, and the
states a job and its items go through.

Sources differ wildly (Apify dataset items, three generations of Instagram's JSON
export); everything after them sees only ``Post`` and ``Media``. Both are frozen
and round-trip through JSON so a job can keep fetched posts in SQLite and resume
after a crash without scraping again.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, cast


class ItemState(StrEnum):
    """Where one item of a job stands (stored and shown as its value)."""

    PENDING = "pending"
    IMPORTED = "imported"
    ALREADY_IMPORTED = "already_imported"  # the post was in WordPress before this job
    SKIPPED = "skipped"  # any other deliberate skip: a collab post, a duplicate, a reel
    FAILED = "failed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"


FINISHED_JOB_STATUSES = frozenset({JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED})
# A preview's fetched data is good for this long ("import selected", jobs/picked.py):
# Instagram's signed media links in it expire (videos within about a day), and an
# export it read is kept for it only this long.
PREVIEW_TTL_SECONDS = 24 * 3600

MediaKind = Literal["image", "video"]
Origin = Literal["apify", "export"]

TITLE_MAX_CHARS = 80
EXPORT_ID_PREFIX = "export:"
EXPORT_ID_HEX_CHARS = 24

# Instagram usernames: letters, digits, period, underscore; at most 30 characters.
_MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9._]{1,30})")
_HASHTAG_START = re.compile(r"(?<![\w&#])#")
# Public so the importer links mentions with exactly the rule used to extract them.
MENTION_PATTERN = _MENTION


@dataclass(frozen=True)
class Media:
    """One photo or video of a post, in Instagram's order.

    ``kind`` is what the source says (Apify's ``type``, an export's ``video_metadata``):
    a hint for showing the post before its files are read. The file's bytes decide what
    it really is once it is fetched. ``zip_path`` names the part of a split export that
    holds ``zip_member`` (None: the part the post itself came from).
    """

    kind: MediaKind
    url: str | None = None
    zip_member: str | None = None
    width: int | None = None
    height: int | None = None
    alt: str = ""
    zip_path: str | None = None
    # A video's still frame where the source has one (Apify's displayUrl): what a
    # preview shows of it before anyone downloads the video itself.
    poster_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "zip_member": self.zip_member,
            "width": self.width,
            "height": self.height,
            "alt": self.alt,
            "zip_path": self.zip_path,
            "poster_url": self.poster_url,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Media:
        kind = data["kind"]
        if kind not in ("image", "video"):
            raise ValueError(f"unknown media kind {kind!r}")
        return cls(
            kind=cast(MediaKind, kind),
            url=data.get("url"),
            zip_member=data.get("zip_member"),
            width=data.get("width"),
            height=data.get("height"),
            alt=data.get("alt") or "",
            zip_path=data.get("zip_path"),
            poster_url=data.get("poster_url"),
        )


@dataclass(frozen=True)
class Post:
    source_id: str
    short_code: str | None
    permalink: str | None
    owner: str | None
    taken_at: datetime
    caption: str
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    location: str | None
    alt: str
    media: tuple[Media, ...]
    is_pinned: bool
    origin: Origin
    zip_path: str | None = None
    # Where it was taken: a place name (Apify's locationName, media.json's location)
    # and/or coordinates (an export's exif_data); each may be missing alone.
    latitude: float | None = None
    longitude: float | None = None
    is_reel: bool = False
    # What a site owner should hear about this post's media besides "imported": a file
    # missing from the export, a photo converted from HEIC. Filled by the import.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.taken_at.tzinfo is None:
            raise ValueError("Post.taken_at must be timezone-aware")

    @property
    def title(self) -> str:
        """First caption line without hashtags, cut at a word boundary; a dated fallback."""
        return title_from_caption(self.caption, self.taken_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "short_code": self.short_code,
            "permalink": self.permalink,
            "owner": self.owner,
            "taken_at": self.taken_at.astimezone(UTC).isoformat(),
            "caption": self.caption,
            "hashtags": list(self.hashtags),
            "mentions": list(self.mentions),
            "location": self.location,
            "alt": self.alt,
            "media": [m.to_json() for m in self.media],
            "is_pinned": self.is_pinned,
            "origin": self.origin,
            "zip_path": self.zip_path,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "is_reel": self.is_reel,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Post:
        origin = data["origin"]
        if origin not in ("apify", "export"):
            raise ValueError(f"unknown post origin {origin!r}")
        return cls(
            source_id=data["source_id"],
            short_code=data.get("short_code"),
            permalink=data.get("permalink"),
            owner=data.get("owner"),
            taken_at=datetime.fromisoformat(data["taken_at"]).astimezone(UTC),
            caption=data.get("caption") or "",
            hashtags=tuple(data.get("hashtags") or ()),
            mentions=tuple(data.get("mentions") or ()),
            location=data.get("location"),
            alt=data.get("alt") or "",
            media=tuple(Media.from_json(m) for m in data.get("media") or ()),
            is_pinned=bool(data.get("is_pinned")),
            origin=cast(Origin, origin),
            zip_path=data.get("zip_path"),
            latitude=_coordinate(data.get("latitude")),
            longitude=_coordinate(data.get("longitude")),
            is_reel=bool(data.get("is_reel")),
            notes=tuple(data.get("notes") or ()),
        )


def _coordinate(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Skipped:
    """A source item deliberately not imported, with the reason shown to the person."""

    source_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"source_id": self.source_id, "reason": self.reason}


def _is_tag_char(char: str) -> bool:
    # Letters, digits and combining marks of any script (#日本, #हिन्दी) plus "_".
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    result: list[str] = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            result.append(value)
    return tuple(result)


def _hashtag_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ``#tag`` in ``text``, the ``#`` included."""
    spans = []
    for match in _HASHTAG_START.finditer(text):
        end = match.end()
        while end < len(text) and _is_tag_char(text[end]):
            end += 1
        if end > match.end() and not text[match.end() : end].isdigit():
            spans.append((match.start(), end))
    return spans


def extract_hashtags(caption: str) -> tuple[str, ...]:
    """Hashtags in caption order without ``#``, first spelling kept, duplicates dropped."""
    return _unique(caption[start + 1 : end] for start, end in _hashtag_spans(caption))


def extract_mentions(caption: str) -> tuple[str, ...]:
    return _unique(m.group(1).rstrip(".") for m in _MENTION.finditer(caption))


def strip_hashtags(text: str) -> str:
    pieces, position = [], 0
    for start, end in _hashtag_spans(text):
        pieces.append(text[position:start])
        position = end
    pieces.append(text[position:])
    return re.sub(r"\s{2,}", " ", "".join(pieces)).strip()


def title_from_caption(caption: str, taken_at: datetime) -> str:
    first_line = next((line for line in caption.splitlines() if strip_hashtags(line)), "")
    title = strip_hashtags(first_line)
    if len(title) > TITLE_MAX_CHARS:
        cut = title[: TITLE_MAX_CHARS - 1]
        boundary = cut.rfind(" ")
        if boundary >= TITLE_MAX_CHARS // 2:
            cut = cut[:boundary]
        title = cut.rstrip(" ,;:-–—") + "…"
    return title or f"Instagram post {taken_at.astimezone(UTC):%Y-%m-%d}"


def export_source_id(timestamp: int, caption: str, first_media_uri: str) -> str:
    """Stable id for an export post, which carries no Instagram id of its own."""
    digest = hashlib.sha256(f"{timestamp}\n{caption}\n{first_media_uri}".encode()).hexdigest()
    return EXPORT_ID_PREFIX + digest[:EXPORT_ID_HEX_CHARS]
