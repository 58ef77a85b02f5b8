"""The media cache against a local HTTP server and a real SQLite file: its file work
happens in worker threads, never on the event loop."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.backends.sqlite.backend import SqliteBackend
from sidecar.config import load_config
from sidecar.media.cache import MediaCache
from tests.fakes.media_files import jpeg
from tests.support.media_server import MediaServer

# Audit events of file work: opening (os.open, open, tempfile), creating directories,
# renaming and removing. An audit hook cannot be removed, so it records only while a
# test asks it to.
FILE_EVENTS = frozenset({"open", "os.mkdir", "os.rename", "os.replace", "os.remove"})
_recording: list[tuple[str, str]] | None = None
_loop_thread: int | None = None


def _on_audit(event: str, args: tuple[object, ...]) -> None:
    if _recording is None or event not in FILE_EVENTS or threading.get_ident() != _loop_thread:
        return
    target = str(args[0]) if args else ""
    if not target.endswith((".py", ".pyc")):  # Python importing a module lazily
        _recording.append((event, target))


sys.addaudithook(_on_audit)


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


@pytest.fixture
async def cache(tmp_path: Path) -> AsyncIterator[MediaCache]:
    config = load_config(env={"IGBRIDGE_DATA_DIR": str(tmp_path)})
    backend = await SqliteBackend.open(config.db_path)
    async with httpx.AsyncClient() as http:
        yield MediaCache(config, backend.media, http)
    await backend.close()


async def test_downloading_into_the_cache_does_no_file_work_on_the_event_loop(
    media: MediaServer, cache: MediaCache
) -> None:
    global _recording, _loop_thread
    body = jpeg(32, 32)
    url = media.add("/a.jpg", body, content_type="image/jpeg")
    _recording, _loop_thread = [], threading.get_ident()
    try:
        stored = await cache.fetch(url)
        again = await cache.fetch(url)
    finally:
        on_loop, _recording = _recording, None
    assert on_loop == []
    assert stored.path.read_bytes() == body
    assert (stored.cached, again.cached, again.path) == (False, True, stored.path)
