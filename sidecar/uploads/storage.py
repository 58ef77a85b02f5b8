"""Uploaded exports: received in chunks, kept in the data dir, deleted once imported.

tus-style and kept simple: an upload declares its size, each chunk names the byte it
starts at (``Upload-Offset``), and the sidecar answers the offset it now has, so a
dropped connection, a reload or another browser resumes where it stopped. Creating
an upload with the name, size and last-modified time of one already kept answers
that one: choosing the same file again resumes it.

On disk, the uploads directory (``IGBRIDGE_UPLOADS_DIR``, default ``<data
dir>/uploads/``; mode 0700) holds one directory per upload, named by an HMAC of the
upload id under a key of its own (``key``, 0600): the name is never shown and cannot
be derived from what is. Inside, the data keeps the file's own name (what error
messages about it should say) and ``meta.json`` what the upload is. A chunk's offset is
committed to ``meta.json`` only after its bytes are on disk; bytes past the committed
offset (a crash mid-chunk) are cut off by the next chunk. An export is personal data:
it is deleted when its import completes, and by the retention pass once nothing
touched it for the retention period.

Several processes may share one uploads directory (the Redis engine: a chunk, or the
job reading the upload, may reach any of them). What keeps that safe is the kernel's
``flock``, released by a process that dies, so a crash never leaves a lock behind:

- a chunk is received into memory (at most ``max_chunk_bytes``), then one worker
  thread holds the upload's ``lock`` file while it checks the offset, writes the bytes
  and commits ``meta.json``; only local disk work is done under it, never waiting on a
  client. Of two processes sending the same chunk at once one commits, the other finds
  the offset moved (409). Touching (an import using it) and deleting take it too.
- ``create`` holds ``create.lock`` while it looks for the same file and makes the
  upload, so the same file chosen on two processes is one upload.
- the key is written whole to a temporary file and linked into place (an exclusive
  create that no reader can see half-written); a process that loses that race reads
  the winner's.
- a deletion renames the upload's folder away (``.deleted-…``, one atomic step under
  its lock) before removing it, so nobody finds half a folder, and the retention pass
  and "delete after import" take another process having deleted it first as done.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
import zipfile
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import (
    BadRequest,
    ConfigError,
    Conflict,
    IgbridgeError,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)

META_FILE = "meta.json"
KEY_FILE = "key"
KEY_BYTES = 32
LOCK_FILE = "lock"  # in an upload's folder: one chunk, touch or deletion at a time
CREATE_LOCK_FILE = "create.lock"  # in the uploads dir: one create at a time
DELETED_PREFIX = ".deleted-"  # a folder renamed away, being removed
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
MAX_NAME_LENGTH = 255
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
                 clock: Callable[[], float] = time.time, *, missing_hint: str = "") -> None:
        self.directory = directory
        self.limits = limits
        self.clock = clock
        # Said with every "no upload": e.g. that this process's uploads are its own.
        self.missing_hint = missing_hint
        self._key = b""

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
        await self._require_room(size, name)
        return await asyncio.to_thread(self._find_or_create, name, size, last_modified)

    async def get(self, upload_id: str) -> Upload:
        found = await asyncio.to_thread(self._read_meta, upload_id)
        if found is None:
            raise self._not_found(upload_id)
        return found

    def _not_found(self, upload_id: str) -> NotFound:
        return NotFound(f"no upload {upload_id}: it was never made, or it was deleted "
                        "(after its import completed, or after the retention period)"
                        + (f"; {self.missing_hint}" if self.missing_hint else ""))

    async def all(self) -> list[Upload]:
        found = await asyncio.to_thread(self._read_all)
        return sorted(found, key=lambda u: u.created_at, reverse=True)

    async def delete(self, upload_id: str) -> None:
        if not await asyncio.to_thread(self._remove, self._folder(upload_id)):
            raise self._not_found(upload_id)

    async def delete_quietly(self, upload_ids: list[str]) -> None:
        """Deletes those that still exist (an import that completed owns them; another
        process having deleted one first is fine)."""
        for upload_id in upload_ids:
            await asyncio.to_thread(self._remove, self._folder(upload_id))

    async def append(self, upload_id: str, offset: int, body: AsyncIterable[bytes],
                     checksum: str | None = None) -> Upload:
        """Writes one chunk that starts at ``offset``; answers the upload as it now is.

        A refused chunk (wrong offset, past the declared size, not a ZIP, a checksum
        that does not match, a full disk) leaves the upload exactly as it was.
        """
        expected = _parse_checksum(checksum)
        # Refused before the body is read when it is plainly the wrong chunk; checked
        # again under the upload's lock, where another process may have moved it on.
        upload = await self.get(upload_id)
        _check_next_chunk(upload, offset)
        data = await self._receive(upload, body, expected)
        await self._require_room(len(data), upload.name)
        return await asyncio.to_thread(self._commit_chunk, upload_id, offset, data)

    async def paths_for(self, upload_ids: list[str]) -> list[Path]:
        """The files of complete uploads, in order, for an import; 422 naming any that
        is unknown or unfinished. Using an upload restarts its retention period."""
        return [self._data_path(u) for u in await self.ready(upload_ids)]

    async def ready(self, upload_ids: list[str]) -> list[Upload]:
        """The uploads, each complete (else 422 naming it); restarts their retention."""
        found = []
        for upload_id in upload_ids:
            try:
                found.append(await asyncio.to_thread(self._touch_complete, upload_id))
            except NotFound as exc:
                raise ValidationFailed(exc.message, code="unknown_upload") from None
        return found

    async def purge_expired(self) -> int:
        """Deletes uploads nothing touched for the retention period; returns how many."""
        cutoff = self.clock() - self.limits.retention_seconds
        return await asyncio.to_thread(self._purge_before, cutoff)

    # -- receiving a chunk ----------------------------------------------------------

    async def _receive(self, upload: Upload, body: AsyncIterable[bytes],
                       expected: bytes | None) -> bytearray:
        """The chunk's bytes, held in memory (``max_chunk_bytes`` at most) so that the
        upload's lock is only ever held for disk work, never while a client sends."""
        room = min(upload.size - upload.offset, self.limits.max_chunk_bytes)
        received = bytearray()
        async for piece in body:
            if len(received) + len(piece) > room:
                raise self._too_much(upload)
            received += piece
            if upload.offset == 0 and len(received) >= 4:
                self._require_zip_start(upload, received)
        if not received:
            raise BadRequest("the chunk is empty: send its bytes as the request body",
                             code="upload_empty_chunk")
        if upload.offset == 0:
            self._require_zip_start(upload, received)
        if expected is not None and not hmac.compare_digest(
                hashlib.sha256(received).digest(), expected):
            raise BadRequest(
                f"the chunk at byte {upload.offset} of {upload.name} does not match its "
                "Upload-Checksum; it was not saved, send it again", code="checksum_mismatch")
        return received  # not copied: a chunk may be 16 MB

    @staticmethod
    def _require_zip_start(upload: Upload, received: bytearray) -> None:
        if not received.startswith(ZIP_SIGNATURES):
            raise ValidationFailed(
                f"{upload.name} does not start like a ZIP file; upload the ZIP from "
                "Instagram's \"Download your information\" (JSON format)", code="not_a_zip")

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

    def _check_zip(self, upload: Upload) -> None:
        """A complete upload must be a readable ZIP; one that is not is deleted."""
        try:
            _read_zip_directory(self._data_path(upload))
        except (zipfile.BadZipFile, OSError) as exc:
            self._remove_locked(self._folder(upload.upload_id))
            raise ValidationFailed(
                f"{upload.name} is not a readable ZIP file ({exc}); it was not kept. Upload "
                "the export from Instagram's \"Download your information\" again",
                code="not_a_zip") from None

    # -- files (run in threads) -----------------------------------------------------

    def _prepare(self) -> bytes:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key_path = self.directory / KEY_FILE
        if not key_path.exists():
            # Written whole, then linked into place: the link fails for every process
            # but the first, and no process ever reads a key half written.
            temporary = self.directory / f".{KEY_FILE}.{secrets.token_hex(4)}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, key_path)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        key = key_path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"{key_path} holds {len(key)} bytes, not the {KEY_BYTES} of an uploads key; "
                "every upload in that directory is named under it, so move the directory "
                "away (its uploads are then lost) or restore the key")
        return key

    def _folder(self, upload_id: str) -> Path:
        name = hmac.new(self._key, upload_id.encode(), hashlib.sha256).hexdigest()[:40]
        return self.directory / name

    def _data_path(self, upload: Upload) -> Path:
        return self._folder(upload.upload_id) / upload.name

    def _find_or_create(self, name: str, size: int, last_modified: int) -> tuple[Upload, bool]:
        with _flock(self.directory / CREATE_LOCK_FILE):
            # Without a last-modified time two files of one name and size cannot be told
            # apart.
            for upload in self._read_all() if last_modified else []:
                if (upload.name, upload.size, upload.last_modified) == (
                        name, size, last_modified):
                    return upload, False
            moment = self.clock()
            upload = Upload(
                upload_id=secrets.token_urlsafe(24), name=name, size=size,
                last_modified=last_modified, offset=0, created_at=moment, updated_at=moment,
            )
            folder = self._folder(upload.upload_id)
            folder.mkdir(mode=0o700)
            os.close(os.open(self._data_path(upload), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600))
            self._write_meta(upload)
            return upload, True

    @contextlib.contextmanager
    def _upload_lock(self, upload_id: str) -> Iterator[Upload]:
        """The upload's lock, held; yields the upload as committed (read under it)."""
        try:
            with _flock(self._folder(upload_id) / LOCK_FILE):
                upload = self._read_meta(upload_id)
                if upload is None:  # deleted while we waited
                    raise self._not_found(upload_id)
                yield upload
        except FileNotFoundError:  # the folder is gone (renamed away, deleted)
            raise self._not_found(upload_id) from None

    def _commit_chunk(self, upload_id: str, offset: int, data: bytearray) -> Upload:
        """Check offset, write the bytes, commit meta.json: one step under the lock."""
        with self._upload_lock(upload_id) as upload:
            _check_next_chunk(upload, offset)
            with self._data_path(upload).open("r+b") as handle:
                _cut(handle, upload.offset)  # bytes of a chunk that was never committed
                try:
                    handle.write(data)
                    _flush(handle)
                except OSError as exc:
                    # The upload stays at the offset it had: no partial chunk is committed.
                    _cut(handle, upload.offset)
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise self._disk_full(upload) from exc
                    raise
            moment = self.clock()
            upload = replace(upload, offset=upload.offset + len(data), updated_at=moment)
            if upload.complete:
                self._check_zip(upload)
                upload = replace(upload, completed_at=moment)
            self._write_meta(upload)
            return upload

    def _touch_complete(self, upload_id: str) -> Upload:
        """A complete upload with its retention period started again (else 422)."""
        with self._upload_lock(upload_id) as upload:
            if not upload.complete:
                raise ValidationFailed(
                    f"upload {upload_id} ({upload.name}) has {upload.offset} of {upload.size} "
                    "bytes; finish uploading it first", code="upload_incomplete")
            upload = replace(upload, updated_at=self.clock())
            self._write_meta(upload)
            return upload

    def _remove(self, folder: Path) -> bool:
        """Deletes an upload's folder under its lock; False when it was gone already."""
        try:
            with _flock(folder / LOCK_FILE):
                return self._remove_locked(folder)
        except FileNotFoundError:
            return False

    def _remove_locked(self, folder: Path) -> bool:
        """The folder renamed away in one step, then removed (the lock holder's work)."""
        gone = self.directory / f"{DELETED_PREFIX}{secrets.token_hex(8)}"
        try:
            os.rename(folder, gone)
        except FileNotFoundError:
            return False
        shutil.rmtree(gone, ignore_errors=True)
        return True

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
        for folder in self._upload_folders():
            if (upload := _load_meta(folder / META_FILE)) is not None:
                found.append(upload)
        return found

    def _upload_folders(self) -> list[Path]:
        return [f for f in self.directory.iterdir()
                if not f.name.startswith(".") and f.is_dir()]

    def _purge_before(self, cutoff: float) -> int:
        """Expired uploads, each removed under its lock and checked again there: another
        process may have used it since, or deleted it first (then it is not counted)."""
        for leftover in self.directory.glob(f"{DELETED_PREFIX}*"):  # a crash mid-removal
            shutil.rmtree(leftover, ignore_errors=True)
        purged = 0
        for folder in self._upload_folders():
            try:
                with _flock(folder / LOCK_FILE):
                    if _last_touched(folder) < cutoff and self._remove_locked(folder):
                        purged += 1
            except FileNotFoundError:
                continue
        return purged


def _load_meta(path: Path) -> Upload | None:
    try:
        return Upload(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def _last_touched(folder: Path) -> float:
    """When the upload was last used; a folder without meta.json yet (being created)
    by its own age. FileNotFoundError when it is gone."""
    upload = _load_meta(folder / META_FILE)
    return upload.updated_at if upload else folder.stat().st_mtime


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), waiting for the holder:
    every holder does disk work only. FileNotFoundError when its folder is gone."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_next_chunk(upload: Upload, offset: int) -> None:
    if upload.complete:
        raise Conflict(f"upload {upload.upload_id} ({upload.name}) is complete already",
                       code="upload_complete")
    if offset != upload.offset:
        raise Conflict(f"upload {upload.upload_id} is at byte {upload.offset}, not {offset}: "
                       f"send the chunk that starts there", code="upload_offset_mismatch")


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
