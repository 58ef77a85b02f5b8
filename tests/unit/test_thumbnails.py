"""Preview thumbnails (``sidecar/media/thumbnails.py``): small images pass untouched, large
ones are shrunk under the cap, and on Redis (the session's real redis-server) a
process whose media cache never saw an image still finds it, until its TTL ends."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from PIL import Image

from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.sqlite.backend import SqliteBackend
from sidecar.config import load_config
from sidecar.media import thumbnails
from sidecar.media.cache import MediaCache
from tests.fakes.media_files import jpeg, mp4


def noise_png(width: int, height: int) -> bytes:
    """A PNG that does not compress: RGBA noise, so it weighs about 4 bytes a pixel."""
    image = Image.frombytes("RGBA", (width, height), os.urandom(width * height * 4))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    backend = await RedisBackend.open(redis_url)
    yield backend
    await backend.close()


async def open_cache(data_dir: Path, backend: RedisBackend | SqliteBackend,
                     http: httpx.AsyncClient) -> MediaCache:
    config = load_config(env={"IGBRIDGE_DATA_DIR": str(data_dir)})
    return MediaCache(config, backend.media, http)


async def test_two_processes_media_caches_on_redis_serve_each_others_thumbnails(
        tmp_path: Path, redis_backend: RedisBackend, redis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thumbnails, "BATCH_BYTES", 1)  # one write per thumbnail
    small, large = jpeg(120, 90), noise_png(900, 700)
    assert len(large) > thumbnails.THUMBNAIL_MAX_BYTES
    async with httpx.AsyncClient() as http:
        here = await open_cache(tmp_path / "a", redis_backend, http)
        there = await open_cache(tmp_path / "b", redis_backend, http)
        kept = {"p1": here.keep(small), "p2": here.keep(large)}
        await here.record([(m, None) for m in kept.values()])
        ready = await thumbnails.prepare(here, redis_backend.thumbnails, kept, 3600)

        assert ready["p1"] == kept["p1"]  # small enough: the image itself
        shrunk = ready["p2"]
        assert shrunk.sha256 != kept["p2"].sha256
        assert shrunk.content_type == "image/jpeg"
        assert shrunk.size <= thumbnails.THUMBNAIL_MAX_BYTES
        with Image.open(shrunk.path) as image:
            assert max(image.size) == thumbnails.THUMBNAIL_SIDE
        served = {}
        for thumbnail in ready.values():
            # The process that cached it serves its own file.
            local = await thumbnails.find(here, redis_backend.thumbnails, thumbnail.sha256)
            assert local is not None
            assert (local.path, local.data) == (thumbnail.path, None)
            served[thumbnail.sha256] = thumbnail.path.read_bytes()
        # Another host cannot read this one's files (on this machine it could, through
        # the path the shared index names): take them away, the shared copy is served.
        (tmp_path / "a" / "media").rename(tmp_path / "a" / "elsewhere")
        for thumbnail in ready.values():
            found = await thumbnails.find(there, redis_backend.thumbnails, thumbnail.sha256)
            assert found is not None
            assert (found.path, found.content_type) == (None, thumbnail.content_type)
            assert found.data == served[thumbnail.sha256]
            assert hashlib.sha256(found.data).hexdigest() == thumbnail.sha256
        assert await thumbnails.find(there, redis_backend.thumbnails, "0" * 64) is None
        assert await thumbnails.find(there, redis_backend.thumbnails, "../etc") is None

    # Bounded: every key carries the TTL it was kept with.
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter("igbridge:media:thumb:*")]
        assert sorted(k.decode().rsplit(":", 1)[1] for k in keys) == sorted(
            t.sha256 for t in ready.values())
        for key in keys:
            assert 0 < await client.pttl(key) <= 3600 * 1000
    finally:
        await client.aclose()


async def test_the_shared_store_keeps_images_until_their_ttl_and_serves_no_other_kind(
        redis_backend: RedisBackend, tmp_path: Path) -> None:
    shared = redis_backend.thumbnails
    await shared.keep([("a" * 64, "image/webp", b"RIFF....WEBP"),
                       ("b" * 64, "video/mp4", mp4(64))], 3600)
    assert await shared.get("a" * 64) == ("image/webp", b"RIFF....WEBP")
    assert await shared.get("c" * 64) is None
    await shared.keep([], 3600)
    async with httpx.AsyncClient() as http:
        cache = await open_cache(tmp_path, redis_backend, http)
        # A video is never a thumbnail, wherever it was found.
        assert await thumbnails.find(cache, shared, "b" * 64) is None
    await shared.keep([("d" * 64, "image/png", b"x")], 0.05)
    deadline = asyncio.get_running_loop().time() + 10
    while await shared.get("d" * 64) is not None:  # a condition: Redis ends the key
        assert asyncio.get_running_loop().time() < deadline, "the TTL never ended the key"
        await asyncio.sleep(0.02)


async def test_on_sqlite_the_media_cache_alone_serves_them(tmp_path: Path) -> None:
    backend = await SqliteBackend.open(tmp_path / "db.sqlite3")
    try:
        assert backend.thumbnails is None
        async with httpx.AsyncClient() as http:
            cache = await open_cache(tmp_path, backend, http)
            kept = cache.keep(jpeg(40, 40))
            await cache.record([(kept, None)])
            assert await thumbnails.prepare(cache, None, {"p": kept}, 3600) == {"p": kept}
            found = await thumbnails.find(cache, None, kept.sha256)
            assert found is not None
            assert (found.path, found.content_type) == (kept.path, "image/jpeg")
            assert await thumbnails.find(cache, None, "f" * 64) is None
    finally:
        await backend.close()


def test_a_transparent_image_is_shrunk_onto_white_and_a_broken_one_is_refused(
        tmp_path: Path) -> None:
    clear = Image.new("RGBA", (1000, 500), (0, 0, 0, 0))
    path = tmp_path / "clear.png"
    clear.save(path)
    with Image.open(io.BytesIO(thumbnails.shrink(path))) as small:
        assert small.size == (640, 320)
        assert small.getpixel((10, 10)) == (255, 255, 255)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(thumbnails.MediaError, match="cannot be shrunk"):
        thumbnails.shrink(broken)
