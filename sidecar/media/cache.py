"""The media cache: download with a size cap, sniff the real type, store by sha256.

Instagram's CDN links expire and their extensions lie (WebP served as ``.jpg``),
so the type always comes from the first bytes (``sniff.py``), and files are stored
under their content hash: the same image fetched twice, or by two jobs, is kept once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import httpx

from ..backends.base import MediaIndex
from ..config import Config
from ..domain.models import MediaKind
from ..errors import MediaError, TransientError
from ..jobs.retry import retry_after_seconds
from ..jobs.timing import waiting_on
from ..sources.export_zip import ByteStream
from .convert import CONVERTED_TYPES, heic_to_jpeg, needs_conversion
from .sniff import EXTENSIONS, describe_non_media, kind_of, sniff_content_type

CHUNK = 256 * 1024
@dataclass(frozen=True)
class CachedMedia:
    sha256: str
    path: Path
    content_type: str
    size: int
    cached: bool  # True when it was already there and nothing was downloaded
    converted_from: str | None = None  # "HEIC" when a HEIC photo was kept as its JPEG

    @property
    def kind(self) -> MediaKind:
        return kind_of(self.content_type)

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "bin")


class MediaCache:
    def __init__(self, config: Config, index: MediaIndex, http: httpx.AsyncClient):
        self.config = config
        self.index = index
        self.http = http
        self.root = config.media_dir

    def path_for(self, sha256: str, content_type: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{EXTENSIONS.get(content_type, 'bin')}"

    async def lookup_sha256(self, sha256: str) -> CachedMedia | None:
        """The cached file with this hash, if it is still there."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            return None
        row = await self.index.cached_file(sha256)
        if row is not None and await _exists(row["path"]):
            return CachedMedia(sha256, Path(row["path"]), row["content_type"],
                               int(row["size"]), cached=True)
        return None

    async def lookup_url(self, url: str) -> CachedMedia | None:
        row = await self.index.cached(url)
        if row is not None and await _exists(row["path"]):
            return CachedMedia(row["sha256"], Path(row["path"]), row["content_type"],
                               int(row["size"]), cached=True)
        return None

    async def fetch(self, url: str) -> CachedMedia:
        """Download ``url`` into the cache (or find it there)."""
        found = await self.lookup_url(url)
        if found is not None:
            return found
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
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
                raise TransientError(
                    f"HTTP {response.status_code} from {_short(url)}",
                    retry_after=retry_after_seconds(response.headers.get("retry-after"),
                                                    response.headers.get("date")))
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
        if needs_conversion(content_type):
            jpeg = self.keep(heic_to_jpeg(data, label), label)
            return replace(jpeg, converted_from=CONVERTED_TYPES[content_type])
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256, content_type)
        if path.exists():
            return CachedMedia(sha256, path, content_type, len(data), cached=True)
        _write_atomically(path, data)
        return CachedMedia(sha256, path, content_type, len(data), cached=False)

    def keep_stream(self, stream: ByteStream, label: str) -> CachedMedia:
        """Copy a file from ``stream`` into the cache a chunk at a time, hashing and
        sniffing its type from its first bytes on the way (blocking: call it from a worker
        thread): memory stays one chunk whatever the file's size. A HEIC photo is kept
        as the JPEG of it (``converted_from``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".part-")
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with os.fdopen(fd, "wb") as handle:
                while chunk := stream.read(CHUNK):
                    if not head:
                        head = chunk[:64]
                        if sniff_content_type(head) is None:
                            raise MediaError(f"{label} is {describe_non_media(chunk, None)}")
                    size += len(chunk)
                    _write_and_hash(handle, digest, chunk)
            content_type = sniff_content_type(head)
            if content_type is None:
                raise MediaError(f"{label} is {describe_non_media(head, None)}")
            if needs_conversion(content_type):
                jpeg = self.keep(heic_to_jpeg(tmp, label), label)
                return replace(jpeg, converted_from=CONVERTED_TYPES[content_type])
            sha256 = digest.hexdigest()
            path = self.path_for(sha256, content_type)
            if path.exists():
                return CachedMedia(sha256, path, content_type, size, cached=True)
            _move_into_place(tmp, path)
            return CachedMedia(sha256, path, content_type, size, cached=False)
        finally:
            tmp.unlink(missing_ok=True)

    async def record(self, kept: list[tuple[CachedMedia, str | None]]) -> None:
        """Note cached files (and the URLs they came from) in one transaction."""
        if kept:
            await self.index.record_cached([
                (m.sha256, str(m.path), m.content_type, m.size, url) for m, url in kept])

    async def _store_stream(
        self, url: str, response: httpx.Response, limit: int
    ) -> CachedMedia:
        tmp, handle = await asyncio.to_thread(_open_part_file, self.root)
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            try:
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
            finally:
                await asyncio.to_thread(handle.close)
            if size == 0:
                raise MediaError(f"{_short(url)} answered an empty body")
            content_type = sniff_content_type(head)
            assert content_type is not None
            if needs_conversion(content_type):
                stored = await asyncio.to_thread(
                    lambda: self.keep(heic_to_jpeg(tmp, _short(url)), _short(url)))
                stored = replace(stored, converted_from=CONVERTED_TYPES[content_type])
            else:
                sha256 = digest.hexdigest()
                path = self.path_for(sha256, content_type)
                await asyncio.to_thread(_move_into_place, tmp, path)
                stored = CachedMedia(sha256, path, content_type, size, cached=False)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        await self.record([(stored, url)])
        return stored


def _open_part_file(directory: Path) -> tuple[Path, IO[bytes]]:
    """A new temporary file in ``directory``, open for writing."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".part-")
    return Path(name), os.fdopen(fd, "wb")


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
