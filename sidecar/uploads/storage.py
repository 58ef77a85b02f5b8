"""Uploaded exports: received in chunks, kept in the data dir, deleted once imported.

tus-style and kept simple: an upload declares its size, each chunk names the byte it
starts at (``Upload-Offset``), and the sidecar answers the offset it now has, so a
dropped connection, a reload or another browser resumes where it stopped. Creating
an upload with the name, size and last-modified time of one already kept answers
that one: choosing the same file again resumes it.

On disk, ``<data dir>/uploads/`` (mode 0700) holds one directory per upload, named by
an HMAC of the upload id under a key of its own (``uploads/key``, 0600): the name is
never shown and cannot be derived from what is. Inside, the data keeps the file's
own name (what error messages about it should say) and ``meta.json`` what the upload
is. A chunk's offset is committed to ``meta.json`` only after its bytes are on disk;
bytes past the committed offset (a crash mid-chunk) are cut off by the next chunk.
An export is personal data: it is deleted when its import completes, and by the
retention pass once nothing touched it for the retention period.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import AsyncIterable, Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import (
    BadRequest,
    Conflict,
    IgbridgeError,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)

META_FILE = "meta.json"
KEY_FILE = "key"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
MAX_NAME_LENGTH = 255
WRITE_BYTES = 1024 * 1024  # received bytes are written to disk in pieces of this size
MAX_CHUNK_BYTES = 16 * 1024 * 1024  # a chunk's body; WordPress sends 8 MB at most


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int  # one file of an export
    max_chunk_bytes: int  # one request's body
    reserve_bytes: int  # left free on the disk for the database and the media cache
    retention_seconds: float


@dataclass(frozen=True)
class Upload:
    upload_id: str
    name: str
    size: int
    last_modified: int
    offset: int
    created_at: float
    updated_at: float
    completed_at: float | None = None

    @property
    def complete(self) -> bool:
        return self.offset == self.size


class UploadStore:
    """Every upload of one sidecar. Blocking file work runs in threads."""

    def __init__(self, directory: Path, limits: UploadLimits,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.limits = limits
        self.clock = clock
        self._key = b""
        self._busy: set[str] = set()  # uploads a chunk is being written to right now

    async def open(self) -> None:
        self._key = await asyncio.to_thread(self._prepare)

    # -- what callers see ---------------------------------------------------------

    def public(self, upload: Upload) -> dict[str, Any]:
        return {
            "upload_id": upload.upload_id,
            "name": upload.name,
            "size": upload.size,
            "last_modified": upload.last_modified,
            "offset": upload.offset,
            "complete": upload.complete,
            "created_at": _iso(upload.created_at),
            "updated_at": _iso(upload.updated_at),
            "expires_at": _iso(upload.updated_at + self.limits.retention_seconds),
            "max_chunk_bytes": self.limits.max_chunk_bytes,
        }

    async def describe_limits(self) -> dict[str, Any]:
        free = (await asyncio.to_thread(shutil.disk_usage, self.directory)).free
        return {
            "max_file_bytes": self.limits.max_file_bytes,
            "max_chunk_bytes": self.limits.max_chunk_bytes,
            "free_bytes": max(0, free - self.limits.reserve_bytes),
            "retention_days": self.limits.retention_seconds / 86400,
        }

    # -- requests -------------------------------------------------------------------

    async def create(self, name: str, size: int, last_modified: int) -> tuple[Upload, bool]:
        """A new upload, or the one kept for the same file (then False: nothing was created)."""
        name = _clean_name(name)
        if size < 1:
            raise ValidationFailed(f"{name} is empty: an export ZIP has at least a few bytes")
        if size > self.limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{name} is {size} bytes; the sidecar takes files of up to "
                f"{self.limits.max_file_bytes} bytes (IGBRIDGE_UPLOAD_MAX_BYTES)",
                code="upload_too_large",
            )
        # Without a last-modified time two files of one name and size cannot be told apart.
        for upload in await self.all() if last_modified else []:
            if (upload.name, upload.size, upload.last_modified) == (name, size, last_modified):
                return upload, False
        await self._require_room(size, name)
        moment = self.clock()
        upload = Upload(
            upload_id=secrets.token_urlsafe(24), name=name, size=size,
            last_modified=last_modified, offset=0, created_at=moment, updated_at=moment,
        )
        await asyncio.to_thread(self._create_files, upload)
        return upload, True

    async def get(self, upload_id: str) -> Upload:
        found = await asyncio.to_thread(self._read_meta, upload_id)
        if found is None:
            raise NotFound(f"no upload {upload_id}: it was never made, or it was deleted "
                           "(after its import completed, or after the retention period)")
        return found

    async def all(self) -> list[Upload]:
        found = await asyncio.to_thread(self._read_all)
        return sorted(found, key=lambda u: u.created_at, reverse=True)

    async def delete(self, upload_id: str) -> None:
        await self.get(upload_id)
        await asyncio.to_thread(shutil.rmtree, self._folder(upload_id), True)

    async def delete_quietly(self, upload_ids: list[str]) -> None:
        """Deletes those that still exist (an import that completed owns them)."""
        for upload_id in upload_ids:
            await asyncio.to_thread(shutil.rmtree, self._folder(upload_id), True)

    async def append(self, upload_id: str, offset: int, body: AsyncIterable[bytes],
                     checksum: str | None = None) -> Upload:
        """Writes one chunk that starts at ``offset``; answers the upload as it now is.

        A refused chunk (wrong offset, past the declared size, not a ZIP, a checksum
        that does not match, a full disk) leaves the upload exactly as it was.
        """
        expected = _parse_checksum(checksum)
        if upload_id in self._busy:
            raise Conflict(f"a chunk of upload {upload_id} is being written right now; "
                           "send the next one when it is answered", code="upload_busy")
        self._busy.add(upload_id)
        try:
            upload = await self.get(upload_id)
            if upload.complete:
                raise Conflict(f"upload {upload_id} ({upload.name}) is complete already",
                               code="upload_complete")
            if offset != upload.offset:
                raise Conflict(f"upload {upload_id} is at byte {upload.offset}, not {offset}: "
                               f"send the chunk that starts there", code="upload_offset_mismatch")
            received = await self._receive(upload, body, expected)
            moment = self.clock()
            upload = replace(upload, offset=upload.offset + received, updated_at=moment)
            if upload.complete:
                await self._check_zip(upload)
                upload = replace(upload, completed_at=moment)
            await asyncio.to_thread(self._write_meta, upload)
            return upload
        finally:
            self._busy.discard(upload_id)

    async def paths_for(self, upload_ids: list[str]) -> list[Path]:
        """The files of complete uploads, in order, for an import; 422 naming any that
        is unknown or unfinished. Using an upload restarts its retention period."""
        return [self._data_path(u) for u in await self.ready(upload_ids)]

    async def ready(self, upload_ids: list[str]) -> list[Upload]:
        """The uploads, each complete (else 422 naming it); restarts their retention."""
        found = []
        for upload_id in upload_ids:
            try:
                upload = await self.get(upload_id)
            except NotFound as exc:
                raise ValidationFailed(exc.message, code="unknown_upload") from None
            if not upload.complete:
                raise ValidationFailed(
                    f"upload {upload_id} ({upload.name}) has {upload.offset} of {upload.size} "
                    "bytes; finish uploading it first", code="upload_incomplete")
            upload = replace(upload, updated_at=self.clock())
            await asyncio.to_thread(self._write_meta, upload)
            found.append(upload)
        return found

    async def purge_expired(self) -> int:
        """Deletes uploads nothing touched for the retention period; returns how many."""
        cutoff = self.clock() - self.limits.retention_seconds
        return await asyncio.to_thread(self._purge_before, cutoff)

    # -- receiving a chunk ----------------------------------------------------------

    async def _receive(self, upload: Upload, body: AsyncIterable[bytes],
                       expected: bytes | None) -> int:
        room = min(upload.size - upload.offset, self.limits.max_chunk_bytes)
        handle = await asyncio.to_thread(self._open_at, upload)
        digest = hashlib.sha256()
        written = 0
        pending = bytearray()
        try:
            async for piece in body:
                if written + len(pending) + len(piece) > room:
                    raise self._too_much(upload)
                pending += piece
                if len(pending) >= WRITE_BYTES:
                    written += await self._write(handle, digest, upload, written, bytes(pending))
                    pending.clear()
            if pending:
                written += await self._write(handle, digest, upload, written, bytes(pending))
            if written == 0:
                raise BadRequest("the chunk is empty: send its bytes as the request body",
                                 code="upload_empty_chunk")
            if expected is not None and not hmac.compare_digest(digest.digest(), expected):
                raise BadRequest(
                    f"the chunk at byte {upload.offset} of {upload.name} does not match its "
                    "Upload-Checksum; it was not saved, send it again", code="checksum_mismatch")
            await asyncio.to_thread(_flush, handle)
        except BaseException:
            # Whatever stopped the chunk (a refusal, a full disk, a client gone), the
            # upload stays at the offset it had: no partial chunk is ever committed.
            await asyncio.to_thread(_cut, handle, upload.offset)
            raise
        finally:
            await asyncio.to_thread(handle.close)
        return written

    async def _write(self, handle: BinaryIO, digest: Any, upload: Upload, written: int,
                     data: bytes) -> int:
        if upload.offset + written == 0 and not data.startswith(ZIP_SIGNATURES):
            raise ValidationFailed(
                f"{upload.name} does not start like a ZIP file; upload the ZIP from "
                "Instagram's \"Download your information\" (JSON format)", code="not_a_zip")
        await self._require_room(len(data), upload.name)
        try:
            await asyncio.to_thread(_write_and_hash, handle, digest, data)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise self._disk_full(upload) from exc
            raise
        return len(data)

    def _too_much(self, upload: Upload) -> IgbridgeError:
        if upload.size - upload.offset <= self.limits.max_chunk_bytes:
            return PayloadTooLarge(
                f"the chunk goes past the declared size of {upload.name} ({upload.size} "
                f"bytes, {upload.offset} received); it was not saved", code="upload_past_size")
        return PayloadTooLarge(
            f"a chunk may be at most {self.limits.max_chunk_bytes} bytes; it was not saved",
            code="chunk_too_large")

    async def _require_room(self, needed: int, name: str) -> None:
        free = (await asyncio.to_thread(shutil.disk_usage, self.directory)).free
        if free - needed < self.limits.reserve_bytes:
            raise InsufficientStorage(
                f"the sidecar's disk is too full for {name}: {max(0, free)} bytes free, "
                f"{needed} more needed and {self.limits.reserve_bytes} kept free for its "
                "database (IGBRIDGE_UPLOAD_RESERVE_BYTES); nothing was saved from this "
                "request, free some space and resume", code="disk_full")

    def _disk_full(self, upload: Upload) -> IgbridgeError:
        return InsufficientStorage(
            f"the sidecar's disk is full: the chunk at byte {upload.offset} of {upload.name} "
            "was not saved; free some space and resume", code="disk_full")

    async def _check_zip(self, upload: Upload) -> None:
        """A complete upload must be a readable ZIP; one that is not is deleted."""
        try:
            await asyncio.to_thread(_read_zip_directory, self._data_path(upload))
        except (zipfile.BadZipFile, OSError) as exc:
            await asyncio.to_thread(shutil.rmtree, self._folder(upload.upload_id), True)
            raise ValidationFailed(
                f"{upload.name} is not a readable ZIP file ({exc}); it was not kept. Upload "
                "the export from Instagram's \"Download your information\" again",
                code="not_a_zip") from None

    # -- files (run in threads) -----------------------------------------------------

    def _prepare(self) -> bytes:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key_path = self.directory / KEY_FILE
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return key_path.read_bytes()
        key = secrets.token_bytes(32)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    def _folder(self, upload_id: str) -> Path:
        name = hmac.new(self._key, upload_id.encode(), hashlib.sha256).hexdigest()[:40]
        return self.directory / name

    def _data_path(self, upload: Upload) -> Path:
        return self._folder(upload.upload_id) / upload.name

    def _create_files(self, upload: Upload) -> None:
        folder = self._folder(upload.upload_id)
        folder.mkdir(mode=0o700)
        os.close(os.open(self._data_path(upload), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._write_meta(upload)

    def _write_meta(self, upload: Upload) -> None:
        folder = self._folder(upload.upload_id)
        temporary = folder / f".{META_FILE}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(upload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, folder / META_FILE)

    def _read_meta(self, upload_id: str) -> Upload | None:
        return _load_meta(self._folder(upload_id) / META_FILE)

    def _read_all(self) -> list[Upload]:
        found = []
        for folder in self.directory.iterdir():
            if folder.is_dir() and (upload := _load_meta(folder / META_FILE)) is not None:
                found.append(upload)
        return found

    def _open_at(self, upload: Upload) -> BinaryIO:
        fd = os.open(self._data_path(upload), os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        _cut(handle, upload.offset)  # bytes of a chunk that was never committed
        return handle

    def _purge_before(self, cutoff: float) -> int:
        purged = 0
        for folder in self.directory.iterdir():
            if not folder.is_dir():
                continue
            upload = _load_meta(folder / META_FILE)
            touched = upload.updated_at if upload else folder.stat().st_mtime
            if touched < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                purged += 1
        return purged


def _load_meta(path: Path) -> Upload | None:
    try:
        return Upload(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def _write_and_hash(handle: BinaryIO, digest: Any, data: bytes) -> None:
    handle.write(data)
    digest.update(data)  # hashlib releases the GIL for large buffers


def _flush(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _cut(handle: BinaryIO, offset: int) -> None:
    with contextlib.suppress(OSError):  # the file may be closed with the disk full
        handle.flush()
    handle.truncate(offset)
    handle.seek(offset)


def _read_zip_directory(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        archive.infolist()


def _clean_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    if not base or base.startswith(".") or len(base) > MAX_NAME_LENGTH:
        raise ValidationFailed(f"{name!r} is not a usable file name for an export ZIP",
                               code="bad_upload_name")
    if not base.lower().endswith(".zip"):
        raise ValidationFailed(
            f"{base} is not a .zip file; upload the ZIP from Instagram's \"Download your "
            "information\" (JSON format)", code="not_a_zip")
    return base


def _parse_checksum(header: str | None) -> bytes | None:
    """tus' ``Upload-Checksum: sha256 <base64>``."""
    if header is None or not header.strip():
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise BadRequest(f"Upload-Checksum algorithm {algorithm!r} is not supported; use sha256",
                         code="checksum_algorithm")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise BadRequest("Upload-Checksum must be 'sha256 ' and the base64 of 32 bytes",
                         code="checksum_format")
    return digest


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
