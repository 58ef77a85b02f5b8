"""Several real processes (``multiprocessing``, spawned) on one uploads directory, as
sidecars sharing ``IGBRIDGE_UPLOADS_DIR`` are: the same chunk sent by all at once is
committed once, the key is made once, the same file is one upload, and a deletion by
one is taken as done by the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.uploads.storage import UploadStore
from tests.support import upload_processes
from tests.support.upload_processes import CHUNK, LIMITS

SAMPLE = (Path(__file__).resolve().parents[2] / "sidecar" / "sample" /
          "instagram-export-sample.zip").read_bytes()
PROCESSES = 4
CONTEXT = multiprocessing.get_context("spawn")  # no threads of pytest's carried over


def race(target: Callable[..., None], *args: Any, count: int = PROCESSES) -> list[Any]:
    """Runs ``target(*args, barrier, results)`` in ``count`` processes; their reports."""
    barrier = CONTEXT.Barrier(count)
    results = CONTEXT.Queue()
    processes = [CONTEXT.Process(target=target, args=(*args, barrier, results))
                 for _ in range(count)]
    for process in processes:
        process.start()
    reports = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    errors = [r for r in reports if isinstance(r, tuple) and r and r[0] == "error"]
    assert errors == []
    return reports


async def open_store(directory: Path) -> UploadStore:
    store = UploadStore(directory, LIMITS)
    await store.open()
    return store


def test_the_same_chunk_sent_by_every_process_at_once_is_committed_once(
        tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    store = asyncio.run(open_store(directory))
    upload, _ = asyncio.run(store.create("export.zip", len(SAMPLE), 1))
    reports = race(upload_processes.send_every_chunk, directory, upload.upload_id, SAMPLE)
    chunks = len(range(0, len(SAMPLE), CHUNK))
    assert chunks >= 8
    for index, outcomes in enumerate(zip(*reports, strict=True)):
        assert sorted(outcomes).count("ok") == 1, (index, outcomes)
        refusals = {o for o in outcomes if o != "ok"}
        last = index == chunks - 1
        assert refusals <= ({"upload_offset_mismatch", "upload_complete"} if last
                            else {"upload_offset_mismatch"}), (index, outcomes)
    done = asyncio.run(store.get(upload.upload_id))
    assert (done.offset, done.complete) == (len(SAMPLE), True)
    [path] = asyncio.run(store.paths_for([upload.upload_id]))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(SAMPLE).hexdigest()


def test_processes_opening_a_new_directory_at_once_make_one_key(tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    keys = race(upload_processes.open_key, directory)
    assert len({key for _, key in keys}) == 1
    assert (directory / "key").read_bytes().hex() == keys[0][1]
    assert sorted(p.name for p in directory.iterdir()) == ["key"]  # no temporary left


def test_the_same_file_created_on_every_process_at_once_is_one_upload(
        tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    asyncio.run(open_store(directory))  # the key exists: this test is about create
    made = race(upload_processes.create, directory, "export.zip", len(SAMPLE), 1_700_000_000)
    assert len({upload_id for upload_id, _ in made}) == 1
    assert sorted(created for _, created in made) == [False] * (PROCESSES - 1) + [True]
    store = asyncio.run(open_store(directory))
    assert [u.upload_id for u in asyncio.run(store.all())] == [made[0][0]]


def test_deleting_and_purging_on_every_process_at_once_deletes_once(tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    store = asyncio.run(open_store(directory))
    upload, _ = asyncio.run(store.create("export.zip", len(SAMPLE), 1))
    for at in range(0, len(SAMPLE), CHUNK):
        asyncio.run(store.append(upload.upload_id, at, upload_processes._body(
            SAMPLE[at:at + CHUNK])))
    deleters = race(upload_processes.delete_or_purge, directory, upload.upload_id, False,
                    count=2)
    assert deleters == [0, 0]  # the second found it gone: done, not an error
    again, _ = asyncio.run(store.create("again.zip", len(SAMPLE), 2))
    purged = race(upload_processes.delete_or_purge, directory, again.upload_id, True)
    assert sorted(purged) == [0] * (PROCESSES - 1) + [1]  # counted by the one that did it
    assert asyncio.run(store.all()) == []
    assert sorted(p.name for p in directory.iterdir()) == ["create.lock", "key"]


def waiters_on(path: Path) -> int:
    """How many flock waiters the kernel lists for ``path`` (``/proc/locks``: ``->``)."""
    inode = f":{path.stat().st_ino} "
    return sum(1 for line in Path("/proc/locks").read_text().splitlines()
               if "->" in line and "FLOCK" in line and inode in line)


def test_a_chunk_waits_for_the_process_holding_the_uploads_lock(tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    store = asyncio.run(open_store(directory))
    upload, _ = asyncio.run(store.create("export.zip", len(SAMPLE), 1))
    held, release = CONTEXT.Event(), CONTEXT.Event()
    holder = CONTEXT.Process(target=upload_processes.hold_upload_lock,
                             args=(directory, upload.upload_id, held, release))
    holder.start()
    try:
        assert held.wait(60)
        [lock] = directory.glob("*/lock")
        answers: list[object] = []
        sender = threading.Thread(target=lambda: answers.append(asyncio.run(store.append(
            upload.upload_id, 0, upload_processes._body(SAMPLE[:CHUNK])))))
        sender.start()
        # A condition, not a sleep: until the kernel lists the chunk's commit as waiting
        # on the lock (or it finished without waiting, which is the bug).
        deadline = time.monotonic() + 60
        while not waiters_on(lock) and sender.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sender.is_alive(), "the chunk was committed while another process held the lock"
        assert waiters_on(lock) == 1
        assert asyncio.run(store.get(upload.upload_id)).offset == 0
    finally:
        release.set()
        holder.join(30)
    sender.join(60)
    assert [a.offset for a in answers] == [CHUNK]  # type: ignore[attr-defined]
