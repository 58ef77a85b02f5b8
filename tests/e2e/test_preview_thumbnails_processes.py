"""A preview's thumbnails on the Redis engine with two real sidecar processes, each with
its own data dir, on one real redis-server and the session's real WordPress: whichever
process a browser's request reaches (nginx sends them round robin) serves every
thumbnail with the same bytes and headers, also once the files of the process that
cached them are out of reach (another host's disk), and an unknown one is a 404.

The export is the bundled sample (``sidecar/sample/instagram-export-sample.zip``) with
two posts added: a photo too large to keep in Redis as it is (shrunk) and a video,
which an export gives no still frame for (no thumbnail).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from dev.stack import Stack
from sidecar.media.thumbnails import THUMBNAIL_MAX_BYTES
from tests.e2e.conftest import SidecarApi
from tests.fakes.media_files import mp4
from tests.support.sidecar_process import SidecarProcess

pytestmark = pytest.mark.timeout(180)

SAMPLE_EXPORT = Path(__file__).parents[2] / "sidecar" / "sample" / "instagram-export-sample.zip"
POSTS_JSON = "your_instagram_activity/media/posts_1.json"


def sample_with_extras(path: Path) -> tuple[Path, int]:
    """The sample export plus a large photo and a video post; and how many posts."""
    with zipfile.ZipFile(SAMPLE_EXPORT) as sample:
        members = {name: sample.read(name) for name in sample.namelist()}
    posts: list[dict[str, Any]] = json.loads(members[POSTS_JSON])
    noise = Image.frombytes("RGBA", (900, 700), os.urandom(900 * 700 * 4))
    large = io.BytesIO()
    noise.save(large, format="PNG")
    assert len(large.getvalue()) > THUMBNAIL_MAX_BYTES
    members["media/posts/202406/big.png"] = large.getvalue()
    members["media/posts/202406/clip"] = mp4(4096)  # extensionless, as real videos are
    posts += [
        {"media": [{"uri": "media/posts/202406/big.png", "creation_timestamp": 1718000000,
                    "title": "A large photo", "media_metadata": {"photo_metadata": {}}}]},
        {"media": [{"uri": "media/posts/202406/clip", "creation_timestamp": 1718100000,
                    "title": "A video", "media_metadata": {"video_metadata": {}}}]},
    ]
    members[POSTS_JSON] = json.dumps(posts).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path, len(posts)


@pytest.fixture
def two_sidecars(tmp_path: Path, stack: Stack, redis_url: str) -> Iterator[list[SidecarProcess]]:
    env = {"IGBRIDGE_BACKEND": redis_url, "IGBRIDGE_HEARTBEAT_SECONDS": "0.3",
           "IGBRIDGE_WP_URL": stack.wp_url, "IGBRIDGE_WP_USER": stack.wp_app_user,
           "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password}
    processes: list[SidecarProcess] = []
    try:
        for n in range(2):
            processes.append(SidecarProcess(tmp_path / f"data-{n}", env=env).start())
        yield processes
    finally:
        for process in processes:
            process.kill()


def api(sidecar: SidecarProcess) -> SidecarApi:
    assert sidecar.secret is not None
    return SidecarApi(sidecar.url, sidecar.secret)


def items_of(on: SidecarApi, job_id: str) -> list[dict[str, Any]]:
    reply = on.get(f"/api/jobs/{job_id}/items", limit=100)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def fetch(on: SidecarApi, path: str) -> httpx.Response:
    return httpx.get(on.url + path, headers=on.headers, timeout=30)


def test_every_process_serves_every_thumbnail_of_a_preview_the_other_one_ran(
        tmp_path: Path, two_sidecars: list[SidecarProcess]) -> None:
    a, b = (api(process) for process in two_sidecars)
    export, posts = sample_with_extras(tmp_path / "export.zip")
    job_id = a.start_job({"type": "export", "path": str(export)}, kind="preview")
    job = a.finish(job_id)
    assert job["status"] == "complete", job
    items = items_of(b, job_id)
    assert len(items) == posts
    urls = [i["thumbnail_url"] for i in items if i["thumbnail_url"]]
    # Every photo post has one; the video's export gives no frame.
    assert len(urls) == posts - 1
    assert [i["kind"] for i in items if not i["thumbnail_url"]] == ["video"]

    def served_by_both() -> dict[str, bytes]:
        seen = {}
        for url in urls:
            replies = [fetch(a, url), fetch(b, url)]
            for reply in replies:
                assert reply.status_code == 200, (url, reply.status_code, reply.text[:200])
                assert reply.headers["content-type"].startswith("image/")
                assert reply.headers["cache-control"] == "private, max-age=86400, immutable"
            assert replies[0].content == replies[1].content
            assert replies[0].headers["etag"] == replies[1].headers["etag"]
            assert replies[0].headers["content-type"] == replies[1].headers["content-type"]
            sha256 = url.rsplit("/", 1)[1]
            assert hashlib.sha256(replies[0].content).hexdigest() == sha256
            assert len(replies[0].content) <= THUMBNAIL_MAX_BYTES
            seen[url] = replies[0].content
        return seen

    on_this_host = served_by_both()
    # Another host cannot read the preview's cache files through the path the shared
    # index names, as a process here can: take every process's media cache away.
    for process in two_sidecars:
        media = process.data_dir / "media"
        if media.exists():
            media.rename(process.data_dir / "media-elsewhere")
    assert served_by_both() == on_this_host

    for on in (a, b):
        unknown = fetch(on, f"/api/jobs/{job_id}/thumbnails/{'0' * 64}")
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"]["code"] == "not_found"
        assert fetch(on, f"/api/jobs/{job_id}/thumbnails/not-a-hash").status_code == 404
