"""Read Instagram's "Download your information" JSON export straight from its ZIP.

Handles every layout since 2019:

- ``media.json`` (2019-2020): ``{"photos": [{caption, taken_at, path}], "videos": [...]}``
- ``content/posts_1.json`` (2020-2022)
- ``your_instagram_activity/content/posts_1.json`` (2022-2023)
- ``your_instagram_activity/media/posts_N.json`` (2024 on, several N)

Reels (``reels.json``, ``{"ig_reels_media": [...]}``) beside the posts files are posts
too (video posts, ``Post.is_reel``); stories, archived and recently deleted media live
in other files and are never read. A large export arrives as several ZIPs: they are
read as one, and a media file may sit in another part than the JSON naming it.

The posts files hold a list of posts; a carousel has ``title`` and
``creation_timestamp`` on the post and a ``media`` list, a single post carries
them on its one media item. Instagram writes UTF-8 text as if it were Latin-1
(``"\\u00f0\\u009f\\u008c\\u00b1"`` for 🌱); that is undone where it round-trips.

Nothing is extracted to disk: media stay inside the ZIP and are streamed out by
``copy_members`` when imported, in chunks, so memory stays bounded whatever a file's
size. What a file is (image or video, which format) is decided from its bytes then;
here a name or ``video_metadata`` is only a hint (real videos come without an
extension), and a file named in the JSON but missing from the ZIP costs that file,
never the post. An HTML export (``posts_1.html``) is refused with the fix: ask
Instagram for JSON. The ZIP is untrusted, so names that escape the archive are
refused and sizes are capped both as declared and as actually read. Synchronous by
design: the job runs it in a thread.
"""

from __future__ import annotations

import asyncio
import json
import math
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol, TypeVar

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
_HTML_POSTS_FILE = re.compile(r"(?:.*/)?posts_\d+\.html")
# Only a hint for how to show the post: the bytes decide once the file is read.
_VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm", ".3gp"}
REELS_EXCLUDED = "a reel, left out (include_reels is false)"
HTML_EXPORT_FIX = (
    "is Instagram's HTML export, which does not say which photo belongs to which post; "
    "request the export again in JSON format (Instagram: Your activity → Download your "
    "information → Format: JSON) and import that"
)

_T = TypeVar("_T")


class ByteStream(Protocol):
    """What ``copy_members`` hands out: something to ``read`` chunks from."""

    def read(self, size: int = -1, /) -> bytes: ...

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


def read_export(paths: Path | Sequence[Path], *,
                max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED) -> ExportResult:
    """Every post in the export at ``paths`` (one ZIP, or the parts of a split export
    read as one); raises ``SourceError`` naming what is wrong."""
    parts = [paths] if isinstance(paths, Path) else list(paths)
    if not parts:
        raise SourceError("no export file given")
    # Which part holds each file: the central directories only, no member is read.
    holder: dict[str, tuple[Path, zipfile.ZipInfo]] = {}
    declared = 0
    for part in parts:
        with _opened(part) as archive:
            infos = _checked_infos(archive, part.name, max_uncompressed)
        declared += sum(info.file_size for info in infos.values())
        if declared > max_uncompressed:
            raise SourceError(f"the {len(parts)} parts of this export would unpack to more "
                              f"than {max_uncompressed} bytes; refusing them as a possible "
                              "ZIP bomb")
        for member, info in infos.items():
            holder.setdefault(member, (part, info))
    files = {member: info for member, (_part, info) in holder.items()}
    label = parts[0].name if len(parts) == 1 else f"{parts[0].name} (and {len(parts) - 1} more)"
    prefix, posts_files, reels_files = _posts_files(files, label)
    # Only the parts holding a posts file are parsed; a media-only part costs its
    # central directory above. A new job over the same parts (a rerun, an export
    # source's sync) parses them again; a retry or a resumed job does not (the posts
    # are in the job's state, ``stages.fetch_source``). Not cached (issue 10; measured
    # 2026-12-03 on real-shaped 2025 posts in 4 parts): 1,000 posts parse in 0.10 s of
    # a 1.0 s rerun (its WordPress lookups 0.75 s), 20,000 in 4-6 s; reading them back
    # from a cache would still cost 0.8 s, under a key a replaced part cannot fool.
    result = ExportResult()
    seen: set[str] = set()
    for member, is_reel in [(m, False) for m in posts_files] + [(m, True) for m in reels_files]:
        part, info = holder[member]
        with _opened(part) as archive:
            try:
                data = fix_mojibake(_load_json(archive, info, part.name))
            except RecursionError:
                raise SourceError(f"{member} in {part.name} is nested too deeply") from None
        for raw in _raw_posts(data, member, part.name):
            post_or_skip = _to_post(raw, prefix, holder, part, is_reel=is_reel)
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
            raise SourceError(f"{label} has no usable posts: {reasons}")
        raise SourceError(f"{label} contains no posts ({', '.join(posts_files)} list none)")
    result.posts.sort(key=lambda post: post.taken_at, reverse=True)
    return result


class _opened:
    """A part of the export opened for reading, every fault turned into a ``SourceError``
    that names the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive: zipfile.ZipFile | None = None

    def __enter__(self) -> zipfile.ZipFile:
        name = self.path.name
        try:
            self.archive = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise SourceError(f"export file not found: {self.path}") from None
        except IsADirectoryError:
            raise SourceError(f"{self.path} is a folder, not an export ZIP") from None
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{name} is not a readable ZIP file ({exc})") from None
        except _ZIP_FAULTS as exc:
            raise SourceError(
                f"{name} is damaged and cannot be read ({type(exc).__name__}: {exc})"
            ) from None
        return self.archive

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        assert self.archive is not None
        self.archive.close()
        name = self.path.name
        if isinstance(error, zipfile.BadZipFile):
            raise SourceError(f"{name} is not a readable ZIP file ({error})") from None
        if isinstance(error, _ZIP_FAULTS) and not isinstance(error, SourceError):
            raise SourceError(f"{name} is damaged and cannot be read "
                              f"({type(error).__name__}: {error})") from None


def read_member(zip_path: str | Path, member: str, max_bytes: int) -> bytes:
    """The bytes of one small file inside the export, at most ``max_bytes`` of them (media
    are streamed with ``copy_members`` instead). A failure is a ``MediaError``."""
    [found] = copy_members(zip_path, [member], max_bytes, lambda _m, stream: _read_all(stream))
    if isinstance(found, MediaError):
        raise found
    return found


def _read_all(stream: ByteStream) -> bytes:
    chunks = []
    while chunk := stream.read(READ_CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


def copy_members(zip_path: str | Path, members: list[str], max_bytes: int,
                 sink: Callable[[str, ByteStream], _T]) -> list[_T | MediaError]:
    """Hand each of ``members`` to ``sink`` as a stream (at most ``max_bytes`` come out
    of it; past that it raises ``MediaError``), opening the ZIP once: the caller copies
    the file in chunks and never holds it whole. One answer per member, in order: what
    ``sink`` returned, or the ``MediaError`` that says why the file cannot be had."""
    name = Path(zip_path).name
    try:
        archive = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        return [MediaError(f"export file not found: {zip_path}")] * len(members)
    except _ZIP_FAULTS as exc:
        return [MediaError(f"cannot read {name} ({type(exc).__name__}: {exc})")] * len(members)
    answers: list[_T | MediaError] = []
    with archive:
        for member in members:
            info = _info_or_error(archive, member, max_bytes, name)
            if isinstance(info, MediaError):
                answers.append(info)
                continue
            try:
                with archive.open(info) as stream:
                    answers.append(sink(member, _CappedStream(stream, max_bytes, member, name)))
            except MediaError as error:
                answers.append(error)
            except _ZIP_FAULTS as exc:
                answers.append(MediaError(
                    f"cannot read {member} from {name} ({type(exc).__name__}: {exc})"))
    return answers


class _CappedStream:
    """A ZIP member's stream that refuses to give more than ``cap`` bytes: a hostile
    ZIP's declared size may lie."""

    def __init__(self, stream: IO[bytes], cap: int, member: str, name: str) -> None:
        self._stream, self._cap, self._member, self._name = stream, cap, member, name
        self._given = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._stream.read(READ_CHUNK if size < 0 else size)
        self._given += len(chunk)
        if self._given > self._cap:
            raise MediaError(f"{self._member} in {self._name} unpacks to more than "
                             f"{self._cap} bytes; refusing it as a possible ZIP bomb")
        return chunk


def _info_or_error(archive: zipfile.ZipFile, member: str, max_bytes: int,
                   name: str) -> zipfile.ZipInfo | MediaError:
    if not _is_safe_name(member):
        return MediaError(f"refusing unsafe ZIP member name {member!r}")
    try:
        info = archive.getinfo(member)
    except KeyError:
        return MediaError(f"{member} is missing from the export ({name})")
    if info.file_size > max_bytes:
        return MediaError(
            f"{member} in {name} is {info.file_size} bytes, over the {max_bytes} byte limit")
    return info


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


def _posts_files(infos: dict[str, zipfile.ZipInfo],
                 name: str) -> tuple[str, list[str], list[str]]:
    """(root prefix, posts files in order, reels files) for the newest layout found."""
    found: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for member in infos:
        for prefix, file in _candidates(member):
            if not _POSTS_FILE.fullmatch(file):
                continue
            rank = next(i for i, layout in enumerate(LAYOUT_FILES) if _same_layout(layout, file))
            number = int(m[1]) if (m := re.search(r"posts_(\d+)\.json$", file)) else 0
            found.setdefault((prefix, rank), []).append((number, member))
    if not found:
        if any(_HTML_POSTS_FILE.fullmatch(member) for member in infos):
            raise SourceError(f"{name} {HTML_EXPORT_FIX}")
        expected = ", ".join(LAYOUT_FILES)
        raise SourceError(
            f"{name} does not look like an Instagram export: expected one of {expected}"
        )
    prefix, rank = min(found, key=lambda key: (key[1], len(key[0])))
    posts = [member for _n, member in sorted(found[(prefix, rank)])]
    # Reels sit beside the posts files (the 2019 media.json has none).
    folder = posixpath.dirname(posts[0])
    reels = [] if rank == LAYOUT_FILES.index("media.json") else [
        member for member in (posixpath.join(folder, "reels.json"),) if member in infos]
    return prefix, posts, reels


def _candidates(member: str) -> list[tuple[str, str]]:
    # The export sits at the ZIP's root or inside one folder (a re-zipped download).
    candidates = [("", member)]
    if "/" in member:
        head, rest = member.split("/", 1)
        candidates.append((head + "/", rest))
    return candidates


def _same_layout(layout: str, file: str) -> bool:
    return re.sub(r"posts_\d+", "posts_1", file) == layout


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
                hint = "video_metadata" if key == "videos" else "photo_metadata"
                yield _RawPost(
                    caption=entry.get("caption"),
                    timestamp=entry.get("taken_at"),
                    media=[{"uri": entry.get("path"), "media_metadata": {hint: {}}}],
                    location=entry.get("location"),
                )
        return
    if isinstance(data, dict):
        # Some exports wrap the list, e.g. {"ig_posts": [...]} or reels.json's
        # {"ig_reels_media": [...]}; take the one list inside.
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


def _kind_hint(entry: dict[str, Any], uri: str) -> MediaKind:
    """What the JSON suggests the file is; its bytes decide later."""
    metadata = entry.get("media_metadata")
    if isinstance(metadata, dict):
        if "video_metadata" in metadata:
            return "video"
        if "photo_metadata" in metadata:
            return "image"
    return "video" if PurePosixPath(uri.split("?")[0]).suffix.lower() in _VIDEO_SUFFIXES else (
        "image")


def _coordinates(media: list[Any]) -> tuple[float, float] | None:
    """The first latitude/longitude pair in the media's ``exif_data`` lists."""
    for entry in media:
        metadata = entry.get("media_metadata") if isinstance(entry, dict) else None
        if not isinstance(metadata, dict):
            continue
        for kind in ("photo_metadata", "video_metadata"):
            block = metadata.get(kind)
            exif = block.get("exif_data") if isinstance(block, dict) else None
            for record in exif if isinstance(exif, list) else []:
                if not isinstance(record, dict):
                    continue
                lat, lng = record.get("latitude"), record.get("longitude")
                if isinstance(lat, int | float) and isinstance(lng, int | float) and (
                        _is_coordinate(lat, 90) and _is_coordinate(lng, 180)):
                    return float(lat), float(lng)
    return None


def _is_coordinate(value: Any, limit: float) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and -limit <= value <= limit)


def _to_post(raw: _RawPost, prefix: str, holder: dict[str, tuple[Path, zipfile.ZipInfo]],
             json_part: Path, *, is_reel: bool) -> Post | Skipped:
    caption = raw.caption if isinstance(raw.caption, str) else ""
    entries = [m for m in raw.media if isinstance(m, dict)]
    uris = [m.get("uri") for m in entries]
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
    for entry, uri in zip(entries, uris, strict=True):
        if not isinstance(uri, str) or not uri:
            return Skipped(source_id, "media entry without a file path")
        if uri.startswith(("http://", "https://")):
            media.append(Media(kind=_kind_hint(entry, uri), url=uri))
            continue
        member = posixpath.normpath(prefix + uri.lstrip("/"))
        if not _is_safe_name(member):
            return Skipped(source_id, f"unsafe media path {uri}")
        # A file missing from every part stays listed: fetching it fails that one file
        # (named in the post's outcome), never the post's other media.
        part = holder[member][0] if member in holder else json_part
        media.append(Media(kind=_kind_hint(entry, member), zip_member=member,
                           zip_path=None if part == json_part else str(part)))
    if not media:
        return Skipped(source_id, "post without media")
    location = raw.location if isinstance(raw.location, str) and raw.location else None
    coordinates = _coordinates(entries)
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
        zip_path=str(json_part),
        latitude=coordinates[0] if coordinates else None,
        longitude=coordinates[1] if coordinates else None,
        is_reel=is_reel,
    )


@dataclass(frozen=True)
class ExportSource:
    """A job's ``{"type": "export", "path"}`` or ``{"type": "export", "paths": [...]}``
    source: one export ZIP, or the parts of a split one, on the sidecar's disk."""

    paths: tuple[Path, ...]

    async def read(self, job: SourceJob) -> tuple[list[Post], list[Skipped]]:
        name = self.paths[0].name if len(self.paths) == 1 else (
            f"{self.paths[0].name} and {len(self.paths) - 1} more part(s)")
        job.report(f"Reading the export {name}", phase="Reading export")
        export = await asyncio.to_thread(read_export, list(self.paths))
        job.report(f"Found {len(export.posts)} post(s) in {name}", phase="Reading export")
        return export.posts, export.skipped
