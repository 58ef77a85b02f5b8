"""Read Instagram's "Download your information" JSON export straight from its ZIP.

Handles every layout since 2019:

- ``media.json`` (2019-2020): ``{"photos": [{caption, taken_at, path}], "videos": [...]}``
- ``content/posts_1.json`` (2020-2022)
- ``your_instagram_activity/content/posts_1.json`` (2022-2023)
- ``your_instagram_activity/media/posts_N.json`` (2024 on, several N)

The posts files hold a list of posts; a carousel has ``title`` and
``creation_timestamp`` on the post and a ``media`` list, a single post carries
them on its one media item. Instagram writes UTF-8 text as if it were Latin-1
(``"\\u00f0\\u009f\\u008c\\u00b1"`` for 🌱); that is undone where it round-trips.

Nothing is extracted to disk: media stay inside the ZIP and are read by
``read_member`` when imported. The ZIP is untrusted, so names that escape the
archive are refused and sizes are capped both as declared and as actually read.
Synchronous by design: the job runs it in a thread.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from ..domain.models import (
    Media,
    MediaKind,
    Post,
    Skipped,
    export_source_id,
    extract_hashtags,
    extract_mentions,
)
from ..errors import MediaError, SourceError
from .base import SourceJob

DEFAULT_MAX_UNCOMPRESSED = 20 * 1024**3  # exports with videos reach several GB
JSON_MAX_BYTES = 64 * 1024**2
READ_CHUNK = 1024**2

LAYOUT_FILES = (
    "your_instagram_activity/media/posts_1.json",
    "your_instagram_activity/content/posts_1.json",
    "content/posts_1.json",
    "media.json",
)
_POSTS_FILE = re.compile(
    r"your_instagram_activity/(?:media|content)/posts_\d+\.json|content/posts_\d+\.json|media\.json"
)
_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".3gp"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".gif"}

# Anything zipfile and zlib raise on a damaged or hostile archive.
_ZIP_FAULTS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
    struct.error,
    OverflowError,
)


@dataclass(frozen=True)
class ExportResult:
    posts: list[Post] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def read_export(path: Path, *, max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED) -> ExportResult:
    """Every post in the export at ``path``; raises ``SourceError`` naming what is wrong."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            infos = _checked_infos(archive, name, max_uncompressed)
            return _read_posts(archive, infos, path)
    except SourceError:
        raise
    except FileNotFoundError:
        raise SourceError(f"export file not found: {path}") from None
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{name} is not a readable ZIP file ({exc})") from None
    except _ZIP_FAULTS as exc:
        raise SourceError(
            f"{name} is damaged and cannot be read ({type(exc).__name__}: {exc})"
        ) from None


def read_member(zip_path: str | Path, member: str, max_bytes: int) -> bytes:
    """The bytes of one media file inside the export, at most ``max_bytes`` of them.

    A per-media failure is a ``MediaError`` so only that post fails, not the job.
    """
    [found] = iter_members(zip_path, [member], max_bytes)
    if isinstance(found, MediaError):
        raise found
    return found


def iter_members(zip_path: str | Path, members: list[str],
                 max_bytes: int) -> Iterator[bytes | MediaError]:
    """The bytes of several files inside the export, opening the ZIP once and yielding
    one at a time (only one is held in memory): each one's bytes or the ``MediaError``
    that says why it cannot be had."""
    name = Path(zip_path).name
    try:
        archive = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        error = MediaError(f"export file not found: {zip_path}")
    except _ZIP_FAULTS as exc:
        error = MediaError(f"cannot read {name} ({type(exc).__name__}: {exc})")
    else:
        with archive:
            for member in members:
                yield _member_or_error(archive, member, max_bytes, name)
        return
    for _member in members:
        yield error


def _member_or_error(archive: zipfile.ZipFile, member: str, max_bytes: int,
                     name: str) -> bytes | MediaError:
    if not _is_safe_name(member):
        return MediaError(f"refusing unsafe ZIP member name {member!r}")
    try:
        info = archive.getinfo(member)
    except KeyError:
        return MediaError(f"{member} is missing from {name}")
    if info.file_size > max_bytes:
        return MediaError(
            f"{member} in {name} is {info.file_size} bytes, over the {max_bytes} byte limit")
    try:
        return _read_capped(archive, info, max_bytes, name, MediaError)
    except MediaError as error:
        return error
    except _ZIP_FAULTS as exc:
        return MediaError(f"cannot read {member} from {name} ({type(exc).__name__}: {exc})")


def _is_safe_name(member: str) -> bool:
    normalized = member.replace("\\", "/")
    if not normalized or normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return False
    return ".." not in PurePosixPath(normalized).parts and "\x00" not in normalized


def _checked_infos(
    archive: zipfile.ZipFile, name: str, max_uncompressed: int
) -> dict[str, zipfile.ZipInfo]:
    infos: dict[str, zipfile.ZipInfo] = {}
    declared = 0
    for info in archive.infolist():
        if not _is_safe_name(info.filename):
            raise SourceError(
                f"{name} contains an unsafe file name {info.filename!r} "
                "(absolute or escaping the archive); refusing to read it"
            )
        declared += info.file_size
        if declared > max_uncompressed:
            raise SourceError(
                f"{name} would unpack to more than {max_uncompressed} bytes; "
                "refusing it as a possible ZIP bomb"
            )
        if not info.is_dir():
            infos[info.filename] = info
    return infos


def _read_capped(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    max_bytes: int,
    name: str,
    error: type[SourceError] | type[MediaError],
) -> bytes:
    """Stream a member with a byte cap: the declared size of a hostile ZIP may lie."""
    chunks: list[bytes] = []
    total = 0
    with archive.open(info) as stream:
        while chunk := stream.read(READ_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise error(
                    f"{info.filename} in {name} unpacks to more than {max_bytes} bytes; "
                    "refusing it as a possible ZIP bomb"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def _posts_files(infos: dict[str, zipfile.ZipInfo], name: str) -> tuple[str, list[str]]:
    """(root prefix, posts files in order) for the newest layout found in the ZIP."""
    found: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for member in infos:
        # The export sits at the ZIP's root or inside one folder (a re-zipped download).
        candidates = [("", member)]
        if "/" in member:
            head, rest = member.split("/", 1)
            candidates.append((head + "/", rest))
        for prefix, file in candidates:
            if not _POSTS_FILE.fullmatch(file):
                continue
            rank = next(i for i, layout in enumerate(LAYOUT_FILES) if _same_layout(layout, file))
            number = int(m[1]) if (m := re.search(r"posts_(\d+)\.json$", file)) else 0
            found.setdefault((prefix, rank), []).append((number, member))
    if not found:
        if any(m.endswith("posts_1.html") for m in infos):
            raise SourceError(
                f"{name} is Instagram's HTML export; request the export again with "
                "format JSON to import it"
            )
        expected = ", ".join(LAYOUT_FILES)
        raise SourceError(
            f"{name} does not look like an Instagram export: expected one of {expected}"
        )
    prefix, _rank = min(found, key=lambda key: (key[1], len(key[0])))
    return prefix, [member for _n, member in sorted(found[(prefix, _rank)])]


def _same_layout(layout: str, file: str) -> bool:
    return re.sub(r"posts_\d+", "posts_1", file) == layout


def _read_posts(
    archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], path: Path
) -> ExportResult:
    name = path.name
    prefix, files = _posts_files(infos, name)
    result = ExportResult()
    seen: set[str] = set()
    for member in files:
        try:
            data = fix_mojibake(_load_json(archive, infos[member], name))
        except RecursionError:
            raise SourceError(f"{member} in {name} is nested too deeply") from None
        for raw in _raw_posts(data, member, name):
            post_or_skip = _to_post(raw, prefix, infos, path)
            if isinstance(post_or_skip, Skipped):
                result.skipped.append(post_or_skip)
            elif post_or_skip.source_id in seen:
                result.skipped.append(Skipped(post_or_skip.source_id, "duplicate in export"))
            else:
                seen.add(post_or_skip.source_id)
                result.posts.append(post_or_skip)
    if not result.posts:
        if result.skipped:
            reasons = "; ".join(sorted({s.reason for s in result.skipped})[:5])
            raise SourceError(f"{name} has no usable posts: {reasons}")
        raise SourceError(f"{name} contains no posts ({', '.join(files)} list none)")
    result.posts.sort(key=lambda post: post.taken_at, reverse=True)
    return result


def _load_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> Any:
    if info.file_size > JSON_MAX_BYTES:
        raise SourceError(f"{info.filename} in {name} is larger than {JSON_MAX_BYTES} bytes")
    raw = _read_capped(archive, info, JSON_MAX_BYTES, name, SourceError)
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{info.filename} in {name} is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{info.filename} in {name} is not valid JSON ({exc.msg} at line {exc.lineno} "
            f"column {exc.colno})"
        ) from None
    except RecursionError:
        raise SourceError(f"{info.filename} in {name} is nested too deeply") from None


def fix_mojibake(value: Any) -> Any:
    """Undo Instagram's UTF-8-read-as-Latin-1 encoding in every string, where it round-trips."""
    if isinstance(value, str):
        try:
            return value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return value
    if isinstance(value, list):
        return [fix_mojibake(item) for item in value]
    if isinstance(value, dict):
        return {key: fix_mojibake(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class _RawPost:
    """One post as the export describes it, before validation."""

    caption: Any
    timestamp: Any
    media: list[Any]
    location: Any = None


def _raw_posts(data: Any, member: str, name: str) -> Iterator[_RawPost]:
    if member.endswith("media.json"):
        if not isinstance(data, dict):
            raise SourceError(f"{member} in {name} should hold an object with photos and videos")
        for key in ("photos", "videos"):
            entries = data.get(key) or []
            if not isinstance(entries, list):
                raise SourceError(f"{member} in {name}: {key!r} should be a list")
            for entry in entries:
                if not isinstance(entry, dict):
                    raise SourceError(f"{member} in {name}: {key!r} holds a non-object entry")
                yield _RawPost(
                    caption=entry.get("caption"),
                    timestamp=entry.get("taken_at"),
                    media=[{"uri": entry.get("path")}],
                    location=entry.get("location"),
                )
        return
    if isinstance(data, dict):
        # Some exports wrap the list, e.g. {"ig_posts": [...]}; take the one list inside.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise SourceError(f"{member} in {name} should hold a list of posts")
        data = lists[0]
    if not isinstance(data, list):
        raise SourceError(f"{member} in {name} should hold a list of posts")
    for entry in data:
        if not isinstance(entry, dict):
            raise SourceError(f"{member} in {name} holds a non-object post entry")
        media = entry.get("media")
        if not isinstance(media, list):
            media = [entry] if "uri" in entry else []
        first = media[0] if media and isinstance(media[0], dict) else {}
        # A carousel carries title and timestamp on the post, a single post on its media.
        caption = entry.get("title") or first.get("title")
        timestamp = entry.get("creation_timestamp") or first.get("creation_timestamp")
        yield _RawPost(caption=caption, timestamp=timestamp, media=media)


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _media_kind(uri: str) -> MediaKind:
    return "video" if PurePosixPath(uri).suffix.lower() in _VIDEO_SUFFIXES else "image"


def _to_post(
    raw: _RawPost, prefix: str, infos: dict[str, zipfile.ZipInfo], path: Path
) -> Post | Skipped:
    caption = raw.caption if isinstance(raw.caption, str) else ""
    uris = [m.get("uri") for m in raw.media if isinstance(m, dict)]
    first_uri = next((u for u in uris if isinstance(u, str)), "")
    taken_at = _timestamp(raw.timestamp)
    try:
        stamp = int(taken_at.timestamp()) if taken_at else 0
    except (OverflowError, ValueError):
        taken_at, stamp = None, 0
    source_id = export_source_id(stamp, caption, first_uri)
    if taken_at is None:
        return Skipped(source_id, f"no usable timestamp ({raw.timestamp!r})")
    media: list[Media] = []
    for uri in uris:
        if not isinstance(uri, str) or not uri:
            return Skipped(source_id, "media entry without a file path")
        if uri.startswith(("http://", "https://")):
            media.append(Media(kind=_media_kind(uri.split("?")[0]), url=uri))
            continue
        member = posixpath.normpath(prefix + uri.lstrip("/"))
        if not _is_safe_name(member):
            return Skipped(source_id, f"unsafe media path {uri}")
        if member not in infos:
            return Skipped(source_id, f"missing media file {uri}")
        suffix = PurePosixPath(member).suffix.lower()
        if suffix not in _VIDEO_SUFFIXES | _IMAGE_SUFFIXES:
            return Skipped(source_id, f"unsupported media file {uri}")
        media.append(Media(kind=_media_kind(member), zip_member=member))
    if not media:
        return Skipped(source_id, "post without media")
    location = raw.location if isinstance(raw.location, str) and raw.location else None
    return Post(
        source_id=source_id,
        short_code=None,
        permalink=None,
        owner=None,
        taken_at=taken_at,
        caption=caption,
        hashtags=extract_hashtags(caption),
        mentions=extract_mentions(caption),
        location=location,
        alt="",
        media=tuple(media),
        is_pinned=False,
        origin="export",
        zip_path=str(path),
    )


@dataclass(frozen=True)
class ExportSource:
    """A job's ``{"type": "export", "path"}`` source: one export ZIP on the sidecar's disk."""

    path: Path

    async def read(self, job: SourceJob) -> tuple[list[Post], list[Skipped]]:
        name = self.path.name
        job.report(f"Reading the export {name}", phase="Reading export")
        export = await asyncio.to_thread(read_export, self.path)
        job.report(f"Found {len(export.posts)} post(s) in {name}", phase="Reading export")
        return export.posts, export.skipped
