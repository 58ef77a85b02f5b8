"""Several real sidecar processes on one real redis-server: any process serves any
stream, a crash or a Redis outage loses nothing a client saw, a flushed Redis is a
reset, never a silent gap."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_sessions import make_session
from tests.integration.test_streams import post_updates, read_stream
from tests.redis_server import RedisServer
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import Frame, iter_frames

pytestmark = pytest.mark.timeout(120)


class StreamReader(threading.Thread):
    """A client reading one stream in the background; a test waits on what it saw."""

    def __init__(self, sidecar: SidecarProcess, path: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True)
        self.url = sidecar.url + path
        self.headers = {**sidecar.headers, **(headers or {})}
        self.frames: list[Frame] = []
        self.changed = threading.Condition()
        self.ended = False

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, headers=self.headers,
                              timeout=httpx.Timeout(10, read=60)) as response:
                for frame in iter_frames(response):
                    with self.changed:
                        self.frames.append(frame)
                        self.changed.notify_all()
        except httpx.HTTPError:
            pass
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def wait_for(self, condition: Callable[[list[Frame]], bool], timeout: float = 30) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: condition(self.frames) or self.ended, timeout):
                raise AssertionError(f"the stream did not get there: {self.frames[-3:]}")
            assert condition(self.frames), f"the stream ended first: {self.frames[-3:]}"

    def events(self) -> list[Frame]:
        with self.changed:
            return [f for f in self.frames if f.data and f.data["type"] != "snapshot"]


def steps_seen(count: int) -> Callable[[list[Frame]], bool]:
    return lambda frames: len([f for f in frames if f.data and f.data["type"] == "progress"]
                              ) >= count


def start_sidecars(root: Path, redis_url: str, count: int) -> list[SidecarProcess]:
    # Each process has its own data dir (its lock, its media cache); the log is shared.
    return [SidecarProcess(root / f"data-{n}", env={"IGBRIDGE_BACKEND": redis_url,
                                                    "IGBRIDGE_HEARTBEAT_SECONDS": "0.3"}
                           ).start() for n in range(count)]


@pytest.fixture
def two_sidecars(tmp_path: Path, redis_url: str) -> Iterator[list[SidecarProcess]]:
    processes = start_sidecars(tmp_path, redis_url, 2)
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()


def test_a_stream_on_one_process_shows_updates_posted_to_either(
        two_sidecars: list[SidecarProcess]) -> None:
    a, b = two_sidecars
    with a.client() as on_a, b.client() as on_b:
        session_id = make_session(on_b, total=6)
        stream = StreamReader(a, f"/api/progress/stream/{session_id}")
        stream.start()
        stream.wait_for(lambda frames: any(f.data for f in frames))
        # Round robin, as nginx would send them.
        for step in range(1, 7):
            post_updates(on_a if step % 2 else on_b, session_id, range(step, step + 1))
        finished = on_b.post(f"/api/progress/sessions/{session_id}/complete", json={})
        assert finished.status_code == 200, finished.text
        stream.join(30)
        assert not stream.is_alive()  # it ended by itself after the terminal event
        events = stream.events()
        assert [(f.data["type"], f.data["step"]) for f in events if f.data] == [
            *[("progress", n) for n in range(1, 7)], ("complete", 6)]
        ids = [f.id for f in events]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert str(ids[-1]) == finished.json()["last_event_id"]
        # Both processes answer with the same stored snapshot.
        assert on_a.get(f"/api/progress/status/{session_id}").json() == on_b.get(
            f"/api/progress/status/{session_id}").json()


def test_kill_9_of_the_streaming_process_then_resume_on_another_loses_nothing(
        two_sidecars: list[SidecarProcess]) -> None:
    a, b = two_sidecars
    with b.client() as on_b:
        session_id = make_session(on_b, total=100)
        stream = StreamReader(a, f"/api/progress/stream/{session_id}")
        stream.start()
        stream.wait_for(lambda frames: any(f.data for f in frames))
        post_updates(on_b, session_id, range(1, 21))
        stream.wait_for(steps_seen(20))
        a.kill()
        stream.join(10)
        seen = stream.events()
        post_updates(on_b, session_id, range(21, 41))
        on_b.post(f"/api/progress/sessions/{session_id}/complete", json={})
        resumed = read_stream(b, f"/api/progress/stream/{session_id}",
                              headers={"Last-Event-ID": str(seen[-1].id)})
        replayed = [f for f in resumed if f.data and f.data["type"] != "snapshot"]
        steps = [f.data["step"] for f in seen + replayed if f.data]
        assert steps == [*range(1, 41), 100]  # 0 lost, 0 duplicated
        ids = [f.id for f in seen + replayed]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)


def test_redis_away_is_a_503_naming_it_and_streams_resume_when_it_is_back(
        tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "redis")
    a, b = start_sidecars(tmp_path, server.url, 2)
    try:
        with a.client() as on_a, b.client() as on_b:
            session_id = make_session(on_a, total=100)
            stream = StreamReader(b, f"/api/progress/stream/{session_id}")
            stream.start()
            stream.wait_for(lambda frames: any(f.data for f in frames))  # subscribed
            post_updates(on_a, session_id, range(1, 6))
            stream.wait_for(steps_seen(5))
            before = stream.events()[-1].id

            server.kill()  # kill -9: AOF with appendfsync always has every acknowledged write
            refused = on_a.post(f"/api/progress/sessions/{session_id}/updates",
                                json={"step": 6})
            assert refused.status_code == 503
            assert "Redis at 127.0.0.1" in refused.json()["error"]["message"]
            health = httpx.get(f"{b.url}/healthz", timeout=10)
            assert health.status_code == 503
            assert "Redis at 127.0.0.1" in health.json()["problem"]
            # A stream asked for meanwhile is a 503 too, and leaves no subscriber behind.
            no_stream = on_a.get(f"/api/progress/stream/{session_id}")
            assert no_stream.status_code == 503
            assert "Redis at 127.0.0.1" in no_stream.json()["error"]["message"]
            assert httpx.get(f"{a.url}/healthz", timeout=10).json()["streams_open"] == 0

            server.start_again()
            assert httpx.get(f"{b.url}/healthz", timeout=10).status_code == 200
            post_updates(on_b, session_id, range(6, 11))  # also to the other process
            post_updates(on_a, session_id, range(11, 13))
            stream.wait_for(steps_seen(12))
            steps = [f.data["step"] for f in stream.events() if f.data]
            assert steps == list(range(1, 13))  # the refused step 6 was posted again
            ids = [f.id for f in stream.events()]
            assert ids == sorted(ids)
            assert ids[5] > before
            assert stream.is_alive()  # the same connection all along
            assert len(stream.frames) == len(set(map(id, stream.frames)))
    finally:
        for process in (a, b):
            process.kill()
        server.stop()


def test_a_last_event_id_from_before_a_flush_gets_a_reset(
        two_sidecars: list[SidecarProcess], redis_server: RedisServer) -> None:
    a, b = two_sidecars
    with a.client() as on_a:
        old = make_session(on_a, total=3)
        post_updates(on_a, old, range(1, 3))
        seen = read_stream(a, "/api/progress/stream", stop_after=1)  # old's snapshot
        old_id = next(f.id for f in reversed(seen) if f.id is not None)
        redis_server.flush()
        fresh = make_session(on_a, total=5)
        post_updates(on_a, fresh, range(1, 2))
        frames = read_stream(b, "/api/progress/stream", headers={"Last-Event-ID": str(old_id)},
                             stop_after=1)
        resets = [f.data for f in frames if f.data]
        assert [(r["type"], r["session_id"], r["step"]) for r in resets] == [
            ("reset", fresh, 1)]
        assert "earlier run of the event log" in resets[0]["reason"]
        assert frames[-1].id is not None
        assert str(frames[-1].id).split(":")[0] != str(old_id).split(":")[0]
        # Trimmed or beyond the log is a reset too, never replay with a hole in it.
        beyond = str(frames[-1].id).split("-")[0] + "9999-0"
        later = read_stream(a, f"/api/progress/stream/{fresh}",
                            headers={"Last-Event-ID": beyond}, stop_after=1)
        assert [f.data["type"] for f in later if f.data] == ["reset"]


def test_ids_keep_increasing_across_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "redis")
    [sidecar] = start_sidecars(tmp_path, server.url, 1)
    try:
        with sidecar.client() as api:
            session_id = make_session(api, total=10)
            post_updates(api, session_id, range(1, 4))
            stream = StreamReader(sidecar, f"/api/progress/stream/{session_id}",
                                  headers={"Last-Event-ID": "0"})
            stream.start()
            stream.wait_for(steps_seen(3))
            server.stop()
            server.start_again()
            post_updates(api, session_id, range(4, 7))
            api.post(f"/api/progress/sessions/{session_id}/complete", json={})
            stream.join(30)
            events = stream.events()
            assert [f.data["step"] for f in events if f.data] == [0, 1, 2, 3, 4, 5, 6, 10]
            ids = [f.id for f in events]
            assert ids == sorted(ids)
            assert len(set(ids)) == len(ids)
    finally:
        sidecar.kill()
        server.stop()
