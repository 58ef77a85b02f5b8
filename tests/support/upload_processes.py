"""What one sidecar process does to a shared uploads directory, run in a process of its
own (``multiprocessing``, spawned) so that tests race real processes, not threads.

Each function starts its step when every process reached the barrier, so the steps
really overlap, and reports what it got on the queue: never raises (a test reads why).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from sidecar.errors import IgbridgeError
from sidecar.uploads.storage import LOCK_FILE, UploadLimits, UploadStore, _flock

CHUNK = 16 * 1024
LIMITS = UploadLimits(max_file_bytes=10 * 1024 * 1024, max_chunk_bytes=CHUNK,
                      reserve_bytes=0, retention_seconds=3600)
EXPIRED_AT_ONCE = UploadLimits(max_file_bytes=10 * 1024 * 1024, max_chunk_bytes=CHUNK,
                               reserve_bytes=0, retention_seconds=0)


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _store(directory: Path, limits: UploadLimits = LIMITS) -> UploadStore:
    store = UploadStore(directory, limits)
    await store.open()
    return store


def open_key(directory: Path, barrier: Barrier, results: Queue[Any]) -> None:
    """Opens the directory's store (making the key when there is none)."""
    barrier.wait()
    try:
        store = asyncio.run(_store(directory))
        results.put(("key", store._key.hex()))  # what names the folders
    except Exception as exc:  # reported to the test
        results.put(("error", repr(exc)))


def create(directory: Path, name: str, size: int, last_modified: int, barrier: Barrier,
           results: Queue[Any]) -> None:
    async def run() -> tuple[str, bool]:
        store = await _store(directory)
        barrier.wait()
        upload, created = await store.create(name, size, last_modified)
        return upload.upload_id, created

    try:
        results.put(asyncio.run(run()))
    except Exception as exc:
        results.put(("error", repr(exc)))


def send_every_chunk(directory: Path, upload_id: str, data: bytes, barrier: Barrier,
                     results: Queue[Any]) -> None:
    """Sends each chunk of ``data`` in turn, every process the same chunk at once;
    reports per chunk ``ok`` or the refusal's code."""
    async def run() -> list[str]:
        store = await _store(directory)
        outcomes = []
        for at in range(0, len(data), CHUNK):
            barrier.wait()  # nothing else runs in this process meanwhile
            try:
                await store.append(upload_id, at, _body(data[at:at + CHUNK]))
                outcomes.append("ok")
            except IgbridgeError as exc:
                outcomes.append(exc.code)
        return outcomes

    try:
        results.put(asyncio.run(run()))
    except Exception as exc:
        results.put(("error", repr(exc)))


def delete_or_purge(directory: Path, upload_id: str, purge: bool, barrier: Barrier,
                    results: Queue[Any]) -> None:
    """Deletes the upload as a completed import does, or runs the retention pass with
    everything expired; reports how many the pass deleted (0 for a deletion)."""
    async def run() -> int:
        store = await _store(directory, EXPIRED_AT_ONCE)
        barrier.wait()
        if purge:
            return await store.purge_expired()
        await store.delete_quietly([upload_id])
        return 0

    try:
        results.put(asyncio.run(run()))
    except Exception as exc:
        results.put(("error", repr(exc)))


def hold_upload_lock(directory: Path, upload_id: str, held: Event, release: Event) -> None:
    """Holds the upload's lock, as a process committing a chunk does, until ``release``."""
    store = asyncio.run(_store(directory))
    with _flock(store._folder(upload_id) / LOCK_FILE):
        held.set()
        release.wait(120)
