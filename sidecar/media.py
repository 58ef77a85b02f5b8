"""Media: download with a size cap, sniff the real type from the bytes, cache by sha256.

Instagram's CDN links expire and their extensions lie (WebP served as ``.jpg``),
so the type always comes from the first bytes, and files are stored under their
content hash: the same image fetched twice, or by two jobs, is kept once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import store as db
from .config import Config
from .errors import MediaError, SourceError, TransientError
from .jobs import JobContext, backoff_delay
from .phases import PhasePlan
from .timing import waiting_on

CHUNK = 256 * 1024
CDN_FILE_GUESS_SECONDS = 0.1  # a first guess of one download; the job measures its own
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/avif": "avif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
              b"dash", b"M4V ", b"M4A ", b"mmp4", b"3gp4", b"3gp5", b"MSNV"}


def sniff_content_type(head: bytes) -> str | None:
    """The media type the bytes really are, or None when they are not media we keep."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i:i + 4] for i in range(16, min(len(head), 64), 4)}
        if head[8:12] in AVIF_BRANDS:
            return "image/avif"
        if head[8:12] in HEIF_BRANDS:
            return "image/heic"
        if head[8:12] == b"qt  ":
            return "video/quicktime"
        if brands & MP4_BRANDS:
            return "video/mp4"
        if brands & AVIF_BRANDS:
            return "image/avif"
        if brands & HEIF_BRANDS:
            return "image/heic"
    return None


def describe_non_media(head: bytes, declared: str) -> str:
    text = head[:512].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return "an HTML page, not media"
    if text.startswith((b"{", b"[")):
        return "JSON, not media"
    return f"not a supported image or video (server said {declared or 'no content type'})"


@dataclass(frozen=True)
class CachedMedia:
    sha256: str
    path: Path
    content_type: str
    size: int
    cached: bool  # True when it was already there and nothing was downloaded

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "bin")


class MediaCache:
    def __init__(self, config: Config, store: db.Store, http: httpx.AsyncClient):
        self.config = config
        self.store = store
        self.http = http
        self.root = config.media_dir

    def path_for(self, sha256: str, content_type: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{EXTENSIONS.get(content_type, 'bin')}"

    async def lookup_url(self, url: str) -> CachedMedia | None:
        row = await db.fetch_media_by_url(self.store.reader, url)
        if row is not None and await _exists(row["path"]):
            return CachedMedia(row["sha256"], Path(row["path"]), row["content_type"],
                               int(row["size"]), cached=True)
        return None

    async def fetch(self, url: str) -> CachedMedia:
        """Download ``url`` into the cache (or find it there)."""
        found = await self.lookup_url(url)
        if found is not None:
            return found
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with waiting_on("downloads"):
                return await self._download(url)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out downloading {_short(url)}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"could not download {_short(url)}: {exc}") from exc

    async def _download(self, url: str) -> CachedMedia:
        limit = self.config.media_max_bytes
        async with self.http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientError(f"HTTP {response.status_code} from {_short(url)}")
            if response.status_code >= 400:
                raise MediaError(f"HTTP {response.status_code} from {_short(url)}")
            declared = int(response.headers.get("content-length") or 0)
            if declared > limit:
                raise MediaError(f"{_short(url)} is {_mb(declared)}, over the "
                                 f"{_mb(limit)} limit")
            return await self._store_stream(url, response, limit)

    def keep(self, data: bytes, label: str = "") -> CachedMedia:
        """Sniff, hash and write ``data`` unless the cache has it (blocking: call it from a
        worker thread). The cache is content-addressed: the same bytes have one path."""
        content_type = sniff_content_type(data[:64])
        if content_type is None:
            raise MediaError((f"{label} is " if label else "") + describe_non_media(data, ""))
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256, content_type)
        if path.exists():
            return CachedMedia(sha256, path, content_type, len(data), cached=True)
        _write_atomically(path, data)
        return CachedMedia(sha256, path, content_type, len(data), cached=False)

    async def record(self, kept: list[tuple[CachedMedia, str | None]]) -> None:
        """Note cached files (and the URLs they came from) in one transaction."""
        if kept:
            now = db.now()
            await self.store.write([], [
                ("INSERT OR IGNORE INTO media (sha256, path, content_type, size, source_url,"
                 " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                 [(m.sha256, str(m.path), m.content_type, m.size, url, now) for m, url in kept]),
                ("INSERT OR REPLACE INTO media_urls (url, sha256) VALUES (?, ?)",
                 [(url, m.sha256) for m, url in kept if url]),
            ])

    async def _store_stream(
        self, url: str, response: httpx.Response, limit: int
    ) -> CachedMedia:
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".part-")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in response.aiter_bytes(CHUNK):
                    if not head:
                        head = chunk[:64]
                        if sniff_content_type(head) is None:
                            declared_type = response.headers.get("content-type", "")
                            raise MediaError(
                                f"{_short(url)} is {describe_non_media(chunk, declared_type)}"
                            )
                    size += len(chunk)
                    if size > limit:
                        raise MediaError(f"{_short(url)} is over the {_mb(limit)} limit")
                    await asyncio.to_thread(_write_and_hash, handle, digest, chunk)
            if size == 0:
                raise MediaError(f"{_short(url)} answered an empty body")
            content_type = sniff_content_type(head)
            assert content_type is not None
            sha256 = digest.hexdigest()
            path = self.path_for(sha256, content_type)
            await asyncio.to_thread(_move_into_place, tmp, path)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        stored = CachedMedia(sha256, path, content_type, size, cached=False)
        await self.record([(stored, url)])
        return stored


def _write_and_hash(handle: Any, digest: Any, chunk: bytes) -> None:
    handle.write(chunk)
    digest.update(chunk)


async def _exists(path: str) -> bool:
    return await asyncio.to_thread(Path(path).exists)


def _move_into_place(tmp: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(path)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    Path(tmp).replace(path)


def _short(url: str) -> str:
    """A URL fit for a message: signed query strings are long and secret-ish."""
    base = url.split("?", 1)[0]
    return base if len(base) <= 120 else base[:117] + "…"


def _mb(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


# -- the cache_images job ---------------------------------------------------------------


async def run_cache_images(ctx: JobContext) -> str:
    """Job kind ``cache_images``: source ``{"type": "urls", "urls": [...]}``."""
    urls: list[str] = list(dict.fromkeys(ctx.source.get("urls") or []))
    only = ctx.options.get("only")
    if only:  # a retry: just the items that failed before
        urls = [u for u in urls if u in set(only)]
    if not urls:
        raise SourceError("no image URLs given")
    ctx.plan([PhasePlan("Downloading media", "files", CDN_FILE_GUESS_SECONDS, len(urls))])
    cache = MediaCache(ctx.config, ctx.store, ctx.http)
    await ctx.add_items(urls)
    ledger = await ctx.items()
    todo = [u for u in urls if ledger.get(u, {}).get("state") in (None, "pending", "failed")]
    finished = len(urls) - len(todo)
    total = len(urls)
    ctx.report(f"Downloading {total} image(s)", phase="Downloading media", done=finished,
               total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)

    async def one(url: str) -> None:
        nonlocal finished
        async with slots:
            attempt = 0
            while True:
                attempt += 1
                try:
                    media = await cache.fetch(url)
                    break
                except TransientError as exc:
                    if attempt >= ctx.config.job_attempts:
                        await ctx.set_item(url, "failed", reason=exc.message)
                        finished += 1
                        ctx.report(f"Failed image {finished} of {total}: {exc.message}",
                                   phase="Downloading media", done=finished)
                        return
                    await asyncio.sleep(backoff_delay(attempt, ctx.config.backoff_base_seconds))
                except MediaError as exc:
                    await ctx.set_item(url, "failed", reason=exc.message)
                    finished += 1
                    ctx.report(f"Failed image {finished} of {total}: {exc.message}",
                               phase="Downloading media", done=finished)
                    return
        detail = {"sha256": media.sha256, "content_type": media.content_type,
                  "size": media.size}
        if media.cached:
            await ctx.set_item(url, "skipped", reason="already cached", detail=detail)
        else:
            await ctx.set_item(url, "imported", detail=detail)
        finished += 1
        ctx.report(f"Downloading image {finished} of {total}", phase="Downloading media",
                   done=finished, details={"last": detail})

    await asyncio.gather(*(one(u) for u in todo))
    outcome = await ctx.items()
    failed = sum(1 for i in outcome.values() if i["state"] == "failed")
    cached = sum(1 for i in outcome.values() if i["state"] == "skipped")
    fetched = sum(1 for i in outcome.values() if i["state"] == "imported")
    if failed == total:
        raise MediaError(f"all {total} image(s) failed; first error: "
                         f"{next(iter(outcome.values()))['reason']}")
    parts = [f"{fetched} downloaded"]
    if cached:
        parts.append(f"{cached} already cached")
    if failed:
        parts.append(f"{failed} failed")
    return f"Cached {total - failed} of {total} image(s): " + ", ".join(parts)
