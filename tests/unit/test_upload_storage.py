"""Uploaded exports on a real filesystem: chunks in order make the file, every refused
chunk leaves the upload as it was, and names on disk are neither shown nor guessable.

The bytes are the bundled sample export (the 2024 "Download your information" layout
that sidecar/sample/make_sample.py documents), cut in chunks as the browser does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sidecar.errors import (
    BadRequest,
    Conflict,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from sidecar.uploads.storage import UploadLimits, UploadStore

SAMPLE = (Path(__file__).resolve().parents[2] / "sidecar" / "sample" /
          "instagram-export-sample.zip").read_bytes()
CHUNK = 4096
LIMITS = UploadLimits(max_file_bytes=10 * 1024 * 1024, max_chunk_bytes=CHUNK,
                      reserve_bytes=0, retention_seconds=3600)


# What the uploads directory holds with no upload in it: the key, the create lock.
NO_UPLOAD = {"key", "create.lock"}


async def body(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def sha256_header(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


async def open_store(directory: Path, limits: UploadLimits = LIMITS,
                     clock: Callable[[], float] = time.time) -> UploadStore:
    store = UploadStore(directory, limits, clock)
    await store.open()
    return store


async def send_all(store: UploadStore, upload_id: str, data: bytes, start: int = 0) -> None:
    for at in range(start, len(data), CHUNK):
        await store.append(upload_id, at, body(data[at:at + CHUNK]))


def data_file(directory: Path, name: str) -> Path:
    [found] = directory.rglob(name)
    return found


def folder_files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


async def test_chunks_in_order_make_the_export_under_a_name_nobody_is_shown(
        tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    store = await open_store(directory)
    upload, created = await store.create("my export.zip", len(SAMPLE), 1_700_000_000_000)
    assert created
    await send_all(store, upload.upload_id, SAMPLE)
    done = await store.get(upload.upload_id)
    assert (done.offset, done.complete, done.completed_at is not None) == (
        len(SAMPLE), True, True)

    [path] = await store.paths_for([upload.upload_id])
    assert path.read_bytes() == SAMPLE
    assert path.name == "my export.zip"  # what messages about the file should say
    assert upload.upload_id not in str(path)  # the id is what the browser is shown
    assert path.parent.parent == directory
    assert len(path.parent.name) == 40
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "key").stat().st_mode) == 0o600
    public = store.public(done)
    assert str(path.parent.name) not in repr(public)
    assert (public["offset"], public["complete"], public["max_chunk_bytes"]) == (
        len(SAMPLE), True, CHUNK)


async def test_the_same_file_again_finds_its_upload_even_after_a_restart(
        tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    first, _ = await store.create("export.zip", len(SAMPLE), 123)
    await store.append(first.upload_id, 0, body(SAMPLE[:CHUNK]))
    restarted = await open_store(tmp_path)  # the key on disk maps ids to the same folders
    again, created = await restarted.create("export.zip", len(SAMPLE), 123)
    assert (created, again.upload_id, again.offset) == (False, first.upload_id, CHUNK)
    other, created = await restarted.create("export.zip", len(SAMPLE), 124)
    assert created
    assert other.upload_id != first.upload_id
    # No last-modified time (0): nothing tells two files of one name and size apart.
    unknown_a, _ = await restarted.create("export.zip", len(SAMPLE), 0)
    unknown_b, created = await restarted.create("export.zip", len(SAMPLE), 0)
    assert created
    assert unknown_a.upload_id != unknown_b.upload_id


@pytest.mark.parametrize("offset", [0, CHUNK + 1, 2 * CHUNK])
async def test_a_chunk_at_the_wrong_offset_is_refused(tmp_path: Path, offset: int) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))
    before = folder_files(tmp_path)
    with pytest.raises(Conflict) as refused:
        await store.append(upload.upload_id, offset, body(SAMPLE[offset:offset + CHUNK]))
    assert refused.value.code == "upload_offset_mismatch"
    assert refused.value.message == (f"upload {upload.upload_id} is at byte {CHUNK}, not "
                                     f"{offset}: send the chunk that starts there")
    assert folder_files(tmp_path) == before


async def test_a_chunk_past_the_declared_size_saves_nothing(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    size = CHUNK + 100
    upload, _ = await store.create("export.zip", size, 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))
    before = folder_files(tmp_path)
    with pytest.raises(PayloadTooLarge) as refused:
        await store.append(upload.upload_id, CHUNK, body(SAMPLE[CHUNK:CHUNK + 60],
                                                         SAMPLE[CHUNK + 60:CHUNK + 200]))
    assert (refused.value.status, refused.value.code) == (413, "upload_past_size")
    assert "declared size of export.zip (4196 bytes, 4096 received)" in refused.value.message
    assert folder_files(tmp_path) == before
    assert (await store.get(upload.upload_id)).offset == CHUNK


async def test_a_chunk_over_the_chunk_limit_is_refused(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    with pytest.raises(PayloadTooLarge) as refused:
        await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK + 1]))
    assert refused.value.code == "chunk_too_large"
    assert (await store.get(upload.upload_id)).offset == 0


async def test_what_is_not_a_zip_is_refused_at_its_first_chunk(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", 2000, 0)
    with pytest.raises(ValidationFailed) as refused:
        await store.append(upload.upload_id, 0, body(b"<!DOCTYPE html>" + b"x" * 985))
    assert (refused.value.status, refused.value.code) == (422, "not_a_zip")
    assert refused.value.message.startswith("export.zip does not start like a ZIP file")
    assert (await store.get(upload.upload_id)).offset == 0
    with pytest.raises(ValidationFailed) as by_name:
        await store.create("export.tar.gz", 2000, 0)
    assert by_name.value.code == "not_a_zip"


async def test_a_complete_upload_that_is_no_readable_zip_is_not_kept(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    fake = b"PK\x03\x04" + b"\0" * 500  # the right first bytes, then nothing of a ZIP
    upload, _ = await store.create("broken.zip", len(fake), 0)
    with pytest.raises(ValidationFailed) as refused:
        await store.append(upload.upload_id, 0, body(fake))
    assert refused.value.message.startswith("broken.zip is not a readable ZIP file (")
    with pytest.raises(NotFound):
        await store.get(upload.upload_id)
    assert folder_files(tmp_path).keys() <= NO_UPLOAD


async def test_a_checksum_that_does_not_match_saves_nothing(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    chunk = SAMPLE[:CHUNK]
    with pytest.raises(BadRequest) as refused:
        await store.append(upload.upload_id, 0, body(chunk), sha256_header(chunk[:-1] + b"!"))
    assert refused.value.code == "checksum_mismatch"
    assert (await store.get(upload.upload_id)).offset == 0
    assert os.path.getsize(data_file(tmp_path, "export.zip")) == 0
    accepted = await store.append(upload.upload_id, 0, body(chunk), sha256_header(chunk))
    assert accepted.offset == CHUNK
    with pytest.raises(BadRequest) as unknown:
        await store.append(upload.upload_id, CHUNK, body(b"x"), "md5 abc")
    assert unknown.value.code == "checksum_algorithm"


async def test_a_chunk_cut_off_midway_leaves_the_upload_where_it_was(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))

    async def dropped() -> AsyncIterator[bytes]:
        yield SAMPLE[CHUNK:CHUNK + 1000]
        raise ConnectionResetError("the browser went away")

    with pytest.raises(ConnectionResetError):
        await store.append(upload.upload_id, CHUNK, dropped())
    assert (await store.get(upload.upload_id)).offset == CHUNK
    assert os.path.getsize(data_file(tmp_path, "export.zip")) == CHUNK
    await send_all(store, upload.upload_id, SAMPLE, CHUNK)
    [path] = await store.paths_for([upload.upload_id])
    assert path.read_bytes() == SAMPLE


async def test_bytes_past_the_committed_offset_are_cut_by_the_next_chunk(
        tmp_path: Path) -> None:
    """A crash after writing a chunk's bytes but before committing its offset."""
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))
    data_path = data_file(tmp_path, "export.zip")
    with data_path.open("ab") as handle:
        handle.write(b"half a chunk nobody acknowledged")
    await send_all(store, upload.upload_id, SAMPLE, CHUNK)
    assert data_path.read_bytes() == SAMPLE


async def test_a_full_disk_is_named_and_nothing_is_saved(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("export.zip", len(SAMPLE), 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))
    free = shutil.disk_usage(tmp_path).free
    # The same data dir with a reserve above what is free: the disk is "full" for uploads.
    # A terabyte above, not a byte: other processes free space on this disk meanwhile.
    full = await open_store(tmp_path, UploadLimits(LIMITS.max_file_bytes, CHUNK,
                                                   reserve_bytes=free + 10**12,
                                                   retention_seconds=60))
    before = folder_files(tmp_path)
    with pytest.raises(InsufficientStorage) as refused:
        await full.append(upload.upload_id, CHUNK, body(SAMPLE[CHUNK:2 * CHUNK]))
    assert (refused.value.status, refused.value.code) == (507, "disk_full")
    assert "the sidecar's disk is too full for export.zip" in refused.value.message
    assert folder_files(tmp_path) == before
    with pytest.raises(InsufficientStorage):
        await full.create("another.zip", 1000, 0)
    assert (await full.describe_limits())["free_bytes"] == 0


async def test_a_file_over_the_size_limit_is_refused_before_any_byte(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    with pytest.raises(PayloadTooLarge) as refused:
        await store.create("huge.zip", LIMITS.max_file_bytes + 1, 0)
    assert "IGBRIDGE_UPLOAD_MAX_BYTES" in refused.value.message
    assert folder_files(tmp_path).keys() <= NO_UPLOAD


async def test_unknown_and_unfinished_uploads_are_named_for_an_import(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    upload, _ = await store.create("part2.zip", len(SAMPLE), 0)
    await store.append(upload.upload_id, 0, body(SAMPLE[:CHUNK]))
    with pytest.raises(ValidationFailed) as unfinished:
        await store.paths_for([upload.upload_id])
    assert unfinished.value.message == (
        f"upload {upload.upload_id} (part2.zip) has {CHUNK} of {len(SAMPLE)} bytes; "
        "finish uploading it first")
    with pytest.raises(ValidationFailed) as unknown:
        await store.paths_for(["no-such-upload-000000"])
    assert unknown.value.code == "unknown_upload"
    with pytest.raises(NotFound):
        await store.append("no-such-upload-000000", 0, body(SAMPLE[:CHUNK]))


async def test_retention_deletes_what_nothing_touched(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = await open_store(tmp_path, clock=lambda: now[0])
    old, _ = await store.create("old.zip", len(SAMPLE), 0)
    await send_all(store, old.upload_id, SAMPLE)
    used, _ = await store.create("used.zip", len(SAMPLE), 0)
    await send_all(store, used.upload_id, SAMPLE)
    now[0] += LIMITS.retention_seconds - 10
    await store.paths_for([used.upload_id])  # an import used it: its period starts again
    assert await store.purge_expired() == 0
    now[0] += 20
    assert await store.purge_expired() == 1
    assert [u.upload_id for u in await store.all()] == [used.upload_id]
    await store.delete(used.upload_id)
    assert folder_files(tmp_path).keys() <= NO_UPLOAD
    with pytest.raises(NotFound):
        await store.delete(used.upload_id)
