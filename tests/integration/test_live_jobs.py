"""Live jobs over HTTP (issue 11): job lifecycle events on the all-sessions stream and
their replay, the paginated jobs and items lists, and one bar per job that never goes
back, across a ``kill -9`` too. A real sidecar process, a local media server and the
fake Apify; no WordPress here (tests/e2e has the item fields of a real import)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.fakes.media_files import jpeg, png
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import Frame, iter_frames

JOB_KEYS = {"job_id", "session_id", "kind", "source", "status", "counts", "created_at",
            "started_at", "finished_at", "error", "progress"}
COUNT_KEYS = {"pending", "imported", "already_imported", "skipped", "failed", "total"}
ITEM_KEYS = {"source_id", "state", "reason", "wp_post_id", "post_url", "thumbnail_url",
             "caption_excerpt", "taken_at"}


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    """Two downloads at a time: a job of a dozen slow files runs long enough to be seen."""
    process = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_DOWNLOAD_CONCURRENCY": "2"})
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


def start_cache_job(api: httpx.Client, urls: list[str]) -> str:
    reply = api.post("/api/jobs", json={"kind": "cache_images",
                                        "source": {"type": "urls", "urls": urls}})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["job_id"])


def wait_finished(sidecar: SidecarProcess, job_id: str) -> list[dict[str, Any]]:
    """Follow the job's own stream to its end; every frame's data."""
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job_id}",
                      params={"last_event_id": 0}, headers=sidecar.headers,
                      timeout=60) as response:
        return [f.data for f in iter_frames(response) if f.data]


def job_frames_until(response: httpx.Response, job_id: str, status: str) -> list[Frame]:
    """Frames of ``{"type": "job"}`` events for ``job_id`` until it reports ``status``."""
    seen = []
    for frame in iter_frames(response):
        data = frame.data
        if data and data["type"] == "job" and data["job"]["job_id"] == job_id:
            seen.append(frame)
            if data["job"]["status"] == status:
                return seen
    raise AssertionError(f"the stream ended before job {job_id} was {status}")


def statuses(frames: list[Frame]) -> list[str]:
    """The job's statuses in the order they came, repeats folded."""
    found: list[str] = []
    for frame in frames:
        assert frame.data is not None
        status = frame.data["job"]["status"]
        if not found or found[-1] != status:
            found.append(status)
    return found


def test_a_star_token_minted_before_a_job_streams_its_lifecycle(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    urls = [media.add(f"/p{i}.jpg", jpeg(8 + i, 8), delay=0.15) for i in range(12)]
    urls.append(media.url + "/missing.jpg")
    token = api.post("/api/stream-tokens", json={"sessions": ["*"], "ttl": 60}).json()["token"]

    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream", params={"token": token},
                      timeout=30) as stream:
        assert stream.status_code == 200
        job_id = start_cache_job(api, urls)  # created after the token and the stream
        frames = job_frames_until(stream, job_id, "complete")

    assert statuses(frames) == ["queued", "running", "complete"]
    for frame in frames:
        assert frame.data is not None
        assert frame.id is not None
        assert set(frame.data) == {"type", "job"}
        assert set(frame.data["job"]) == JOB_KEYS
        assert set(frame.data["job"]["counts"]) == COUNT_KEYS
        assert set(frame.data["job"]["progress"]) == {"percentage", "phase", "done", "total"}
    first, last = frames[0].data, frames[-1].data
    assert first is not None
    assert last is not None
    assert first["job"]["counts"] == dict.fromkeys(COUNT_KEYS, 0)
    assert last["job"]["counts"] == {"pending": 0, "imported": 12, "already_imported": 0,
                                     "skipped": 0, "failed": 1, "total": 13}
    assert last["job"]["progress"]["percentage"] == 100.0
    assert last["job"]["finished_at"] is not None
    assert last["job"]["source"] == {"type": "urls", "urls": urls}
    # The Outcome column moves while the job runs: counts in between the first and last.
    middle = [f.data["job"]["counts"]["imported"] for f in frames[1:-1] if f.data]
    assert any(0 < n < 12 for n in middle), middle
    # Coalesced: 13 item outcomes, far fewer count events than that, spaced by the
    # sidecar's own clock (not a timing assertion of this test's).
    assert len(frames) < 13
    ids = [f.id for f in frames]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_job_events_replay_after_a_reconnect_and_a_kill_9(
    tmp_path: Path, media: MediaServer
) -> None:
    sidecar = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_DOWNLOAD_CONCURRENCY": "1"})
    sidecar.start()
    urls = [media.add(f"/slow{i}.jpg", png(8, 8 + i), delay=0.2) for i in range(6)]
    try:
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        with httpx.stream("GET", f"{sidecar.url}/api/progress/stream", headers=sidecar.headers,
                          timeout=30) as stream:
            job_id = start_cache_job(api, urls)
            first = job_frames_until(stream, job_id, "queued")
        resume_from = first[-1].id
        wait_finished(sidecar, job_id)
        sidecar.kill()  # the events were committed before they were sent: they are on disk
        sidecar.start()

        with httpx.stream("GET", f"{sidecar.url}/api/progress/stream", headers={
                **sidecar.headers, "Last-Event-ID": str(resume_from)}, timeout=30) as stream:
            replayed = job_frames_until(stream, job_id, "complete")

        assert all(f.id is not None and resume_from is not None and f.id > resume_from
                   for f in replayed)
        assert statuses(replayed) == ["running", "complete"]
        last = replayed[-1].data
        assert last is not None
        assert last["job"]["counts"]["imported"] == 6
        api.close()
    finally:
        sidecar.kill()


def test_a_token_for_other_sessions_sees_none_of_the_jobs_events(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    other = api.post("/api/progress/sessions", json={"operation": "other"}).json()["session_id"]
    token = api.post("/api/stream-tokens", json={"sessions": [other]}).json()["token"]
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream", params={"token": token},
                      timeout=30) as stream:
        job_id = start_cache_job(api, [media.add("/one.jpg", jpeg())])
        wait_finished(sidecar, job_id)
        api.post(f"/api/progress/sessions/{other}/complete", json={"message": "done"})
        seen = []
        for frame in iter_frames(stream):
            if frame.data:
                seen.append(frame.data)
                if frame.data.get("session_id") == other and frame.data["type"] == "complete":
                    break
    assert [d["type"] for d in seen] == ["snapshot", "complete"]


def test_the_jobs_list_pages_newest_first_without_items(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    image = media.add("/shared.jpg", jpeg())
    created = [start_cache_job(api, [image, f"{image}?n={n}"]) for n in range(23)]
    for job_id in created:
        wait_finished(sidecar, job_id)

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        reply = api.get("/api/jobs", params=params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert set(body) == {"jobs", "next_cursor"}
        pages.append(body["jobs"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)

    assert [len(p) for p in pages] == [10, 10, 3]
    listed = [job for page in pages for job in page]
    assert [j["job_id"] for j in listed] == created[::-1]
    for job in listed:
        assert set(job) == JOB_KEYS
        assert job["counts"]["total"] == 2
        assert job["progress"]["percentage"] == 100.0

    assert api.get("/api/jobs", params={"limit": 10, "status": "error"}).json() == {
        "jobs": [], "next_cursor": None}
    bad = api.get("/api/jobs", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert "cursor" in bad.json()["error"]["message"]
    assert api.get("/api/jobs", params={"limit": 0}).status_code == 422
    token = api.post("/api/stream-tokens", json={"sessions": ["*"]}).json()["token"]
    assert httpx.get(f"{sidecar.url}/api/jobs", params={"token": token}).status_code == 403


def test_a_jobs_items_page_in_order(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    urls = [media.add(f"/item{i}.jpg", jpeg(8, 8 + i)) for i in range(12)]
    urls.insert(5, media.url + "/gone.jpg")
    job_id = start_cache_job(api, urls)
    wait_finished(sidecar, job_id)

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        body = api.get(f"/api/jobs/{job_id}/items", params=params).json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert [len(p) for p in pages] == [5, 5, 3]
    items = [item for page in pages for item in page]
    assert [i["source_id"] for i in items] == urls
    assert all(set(i) == ITEM_KEYS for i in items)
    gone = items[5]
    assert (gone["state"], gone["reason"]) == ("failed", f"HTTP 404 from {media.url}/gone.jpg")
    assert {i["state"] for i in items if i is not gone} == {"imported"}
    assert api.get("/api/jobs/0000/items").status_code == 404
    assert api.get(f"/api/jobs/{job_id}/items", params={"cursor": "%%"}).status_code == 400


def test_one_bar_per_job_never_goes_back_across_a_kill_9(
    tmp_path: Path, media: MediaServer
) -> None:
    """A scrape: the Apify run, then its media (slow). The sidecar is killed during the
    media; after the restart the job resumes and its one bar goes on from where it was."""
    with FakeApify() as fake:
        items = ItemFactory(fake, "walker")
        posts = []
        for n in range(10):
            post = items.image(f"walk {n} #walk")
            url = media.add(f"/walker/{n}.jpg", jpeg(8 + n, 8), delay=0.25)
            post.update(displayUrl=url, images=[url])
            posts.append(post)
        fake.add_profile("walker", posts, step_seconds=0.3)
        sidecar = SidecarProcess(tmp_path / "data", env={
            "APIFY_TOKEN": fake.token, "IGBRIDGE_APIFY_API_URL": fake.url,
            "IGBRIDGE_APIFY_POLL_SECONDS": "0.05", "IGBRIDGE_DOWNLOAD_CONCURRENCY": "1",
        })
        sidecar.start()
        try:
            api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
            reply = api.post("/api/jobs", json={
                "kind": "scrape", "source": {"type": "apify", "username": "walker"}})
            assert reply.status_code == 202, reply.text
            job_id = reply.json()["job_id"]
            seen: list[dict[str, Any]] = []
            last_id = None
            with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job_id}",
                              headers=sidecar.headers, timeout=30) as stream:
                for frame in iter_frames(stream):
                    last_id = frame.id if frame.id is not None else last_id
                    if frame.data:
                        seen.append(frame.data)
                        if frame.data["phase"] == "Downloading media" and frame.data["done"] >= 4:
                            break
            sidecar.kill()
            sidecar.start()
            with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job_id}",
                              headers={**sidecar.headers, "Last-Event-ID": str(last_id)},
                              timeout=60) as stream:
                seen += [f.data for f in iter_frames(stream) if f.data]
            api.close()
        finally:
            sidecar.kill()

    # Events in the order they were written; a reconnect's snapshot is the state as of
    # the reconnect, sent before the replay of older events (a client keeps the higher).
    events = [d for d in seen if d["type"] != "snapshot"]
    shown = [d["percentage"] for d in events]
    assert shown == sorted(shown), shown
    assert events[-1]["type"] == "complete"
    assert shown[-1] == 100.0
    reconnect = [d for d in seen if d["type"] == "snapshot"][-1]
    assert reconnect["percentage"] >= seen[seen.index(reconnect) - 1]["percentage"]
    # Both phases moved the one bar, each with its own count beside it.
    scraping = [d for d in seen if d["phase"] == "Scraping via Apify"]
    downloading = [d for d in seen if d["phase"] == "Downloading media"]
    assert scraping
    assert downloading
    assert max(d["percentage"] for d in scraping) < min(
        d["percentage"] for d in downloading if d["done"] > 0)
    assert {d["total"] for d in downloading if d["type"] == "progress"} >= {10}
    assert {d["rate_unit"] for d in downloading if d["rate"] is not None} == {"files/s"}
    # A phase with no count of its own shows no rate rather than a made-up one.
    assert all(d["rate"] is None for d in scraping)
