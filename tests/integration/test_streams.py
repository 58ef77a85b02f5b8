"""SSE against a real sidecar: snapshot, replay, multiplexing, heartbeat, close, crash."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_sessions import make_session
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import Frame, iter_frames


@pytest.fixture
def sidecar(engine_sidecar: SidecarProcess) -> SidecarProcess:
    """These tests run against both engines (SQLite, and the event log on Redis)."""
    return engine_sidecar

def post_updates(api: httpx.Client, session_id: str, steps: range) -> None:
    for step in steps:
        reply = api.post(f"/api/progress/sessions/{session_id}/updates",
                         json={"step": step, "message": f"step {step}"})
        assert reply.status_code == 200, reply.text


def read_stream(sidecar: SidecarProcess, path: str, *, params: object = None,
                headers: dict[str, str] | None = None, stop_after: int | None = None,
                ) -> list[Frame]:
    frames: list[Frame] = []
    with httpx.stream("GET", sidecar.url + path, params=params,  # type: ignore[arg-type]
                      headers={**sidecar.headers, **(headers or {})}, timeout=10) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in iter_frames(response):
            frames.append(frame)
            if stop_after is not None and len([f for f in frames if f.data]) >= stop_after:
                break
    return frames


def test_one_session_stream_from_snapshot_to_terminal_close(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    session_id = make_session(api, total=3)
    post_updates(api, session_id, range(1, 2))

    def finish_later() -> None:
        time.sleep(0.3)
        post_updates(api, session_id, range(2, 4))
        api.post(f"/api/progress/sessions/{session_id}/complete", json={"message": "done"})

    finisher = threading.Thread(target=finish_later)
    finisher.start()
    frames = read_stream(sidecar, f"/api/progress/stream/{session_id}")
    finisher.join(10)  # its last answer may still be on the way: the client closes after
    assert frames[0].retry == 2000
    snapshot = frames[1]
    assert snapshot.data is not None
    assert snapshot.data["type"] == "snapshot"
    assert (snapshot.data["step"], snapshot.data["status"]) == (1, "running")
    events = [f for f in frames[2:] if f.data]
    assert [(f.data["type"], f.data["step"]) for f in events if f.data] == [
        ("progress", 2), ("progress", 3), ("complete", 3)]
    ids = [f.id for f in events]
    assert snapshot.id is not None
    assert all(i is not None and i > snapshot.id for i in ids)
    assert ids == sorted(ids)  # the stream then ended by itself: we are here


def test_replay_after_disconnect_loses_nothing_and_repeats_nothing(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    session_id = make_session(api, total=100)
    post_updates(api, session_id, range(1, 11))
    first = read_stream(sidecar, f"/api/progress/stream/{session_id}",
                        params={"last_event_id": 0}, stop_after=6)
    seen = [f for f in first if f.data and f.data["type"] != "snapshot"]
    resume_from = seen[-1].id
    post_updates(api, session_id, range(11, 21))
    api.post(f"/api/progress/sessions/{session_id}/complete", json={})
    second = read_stream(sidecar, f"/api/progress/stream/{session_id}",
                         headers={"Last-Event-ID": str(resume_from)})
    replayed = [f for f in second if f.data and f.data["type"] != "snapshot"]
    steps = [f.data["step"] for f in seen + replayed if f.data]
    assert steps == [0, *range(1, 21), 100]
    ids = [f.id for f in seen + replayed]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    # Everything seen: the server says so with 204, and EventSource stops reconnecting.
    done = httpx.get(f"{sidecar.url}/api/progress/stream/{session_id}",
                     headers={**sidecar.headers, "Last-Event-ID": str(ids[-1])})
    assert done.status_code == 204


def test_multiplexed_stream_serves_several_sessions_on_one_connection(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    a, b, c = make_session(api, 2, "a"), make_session(api, 2, "b"), make_session(api, 2, "c")

    def drive() -> None:
        time.sleep(0.3)
        for step in (1, 2):
            post_updates(api, a, range(step, step + 1))
            post_updates(api, b, range(step, step + 1))
            post_updates(api, c, range(step, step + 1))
        api.post(f"/api/progress/sessions/{a}/complete", json={})
        api.post(f"/api/progress/sessions/{b}/fail", json={"message": "nope"})

    driver = threading.Thread(target=drive)
    driver.start()
    frames = read_stream(sidecar, "/api/progress/stream", params=[("session", a), ("session", b)])
    driver.join(10)  # the stream can end before the last POST's answer arrives
    snapshots = [f.data["session_id"] for f in frames if f.data and f.data["type"] == "snapshot"]
    assert snapshots == [a, b]
    events = [(f.data["session_id"], f.data["type"], f.data["step"])
              for f in frames if f.data and f.data["type"] != "snapshot"]
    assert events == [(a, "progress", 1), (b, "progress", 1), (a, "progress", 2),
                      (b, "progress", 2), (a, "complete", 2), (b, "error", 2)]
    # It closed once both listed sessions ended; c was never on it.


def test_all_sessions_stream_and_scoped_token(sidecar: SidecarProcess, api: httpx.Client) -> None:
    a = make_session(api, 2, "a")
    b = make_session(api, 2, "b")
    token = api.post("/api/stream-tokens", json={"sessions": [a], "ttl": 60}).json()["token"]
    received: list[Frame] = []

    def listen() -> None:
        with httpx.stream("GET", f"{sidecar.url}/api/progress/stream",
                          params={"token": token}, timeout=10) as response:
            for frame in iter_frames(response):
                received.append(frame)
                if frame.data and frame.data["type"] == "complete":
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)
    post_updates(api, b, range(1, 3))
    post_updates(api, a, range(1, 3))
    api.post(f"/api/progress/sessions/{b}/complete", json={})
    api.post(f"/api/progress/sessions/{a}/complete", json={})
    listener.join(10)
    assert {f.data["session_id"] for f in received if f.data} == {a}


def test_heartbeat_comments_keep_an_idle_stream_open(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    session_id = make_session(api)
    comments = []
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{session_id}",
                      headers=sidecar.headers, timeout=10) as response:
        for frame in iter_frames(response):
            if frame.comment:
                comments.append(frame.comment)
                if len(comments) == 2:
                    break
    assert comments == ["hb", "hb"]


def test_kill_9_mid_stream_keeps_every_seen_event_and_replay_continues(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path / "data").start()
    try:
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        session_id = make_session(api, total=1000)
        seen: list[Frame] = []
        stop = threading.Event()

        def writer() -> None:
            step = 0
            while not stop.is_set() and step < 999:
                step += 1
                try:
                    api.post(f"/api/progress/sessions/{session_id}/updates",
                             json={"step": step}, timeout=2)
                except httpx.HTTPError:
                    return

        def reader() -> None:
            try:
                with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{session_id}",
                                  headers=sidecar.headers, timeout=10) as response:
                    for frame in iter_frames(response):
                        seen.append(frame)
            except httpx.HTTPError:
                return

        threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
        for thread in threads:
            thread.start()
        while len([f for f in seen if f.data]) < 40:
            time.sleep(0.01)
        sidecar.kill()
        stop.set()
        for thread in threads:
            thread.join(10)
        seen_ids = [f.id for f in seen if f.data and f.data["type"] != "snapshot"]
        assert len(seen_ids) >= 30

        mark = next(f.id for f in seen if f.id is not None)  # the snapshot's position
        api.close()
        sidecar.start()
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        post_updates(api, session_id, range(1000, 1001))
        api.post(f"/api/progress/sessions/{session_id}/complete", json={})
        everything = read_stream(sidecar, f"/api/progress/stream/{session_id}",
                                 params={"last_event_id": 0})
        all_ids = [f.id for f in everything if f.data and f.data["type"] != "snapshot"]
        assert set(seen_ids) <= set(all_ids)  # whatever a client saw survived the crash
        resumed = read_stream(sidecar, f"/api/progress/stream/{session_id}",
                              headers={"Last-Event-ID": str(seen_ids[-1])})
        resumed_ids = [f.id for f in resumed if f.data and f.data["type"] != "snapshot"]
        # Replay continues right after what the client saw: no gap, no repeat.
        assert seen_ids + resumed_ids == [i for i in all_ids if i > mark]
        api.close()
    finally:
        sidecar.kill()


@pytest.mark.parametrize("open_streams", [3])
def test_shutdown_with_open_streams_is_prompt(tmp_path: Path, open_streams: int) -> None:
    sidecar = SidecarProcess(tmp_path / "data").start()
    api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
    session_id = make_session(api)
    ended: list[bool] = []

    def hold() -> None:
        try:
            with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{session_id}",
                              headers=sidecar.headers, timeout=30) as response:
                for _ in iter_frames(response):
                    pass
            ended.append(True)
        except httpx.HTTPError:
            ended.append(False)

    holders = [threading.Thread(target=hold) for _ in range(open_streams)]
    for thread in holders:
        thread.start()
    deadline = time.monotonic() + 5
    while httpx.get(f"{sidecar.url}/healthz").json()["streams_open"] < open_streams:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    api.close()
    sidecar.stop(timeout=5.0)  # raises if shutdown took longer than 5 s
    assert sidecar.process is not None
    assert sidecar.process.returncode == 0
    for thread in holders:
        thread.join(5)
    assert ended == [True] * open_streams  # each stream ended cleanly, none was cut


def test_a_last_event_id_beyond_the_log_gets_a_reset_saying_so(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    session_id = make_session(api, total=5)
    post_updates(api, session_id, range(1, 3))
    [snapshot] = [f for f in read_stream(sidecar, f"/api/progress/stream/{session_id}",
                                         stop_after=1) if f.data]
    assert snapshot.id is not None
    # An id this log never gave out (a Redis that lost its newest writes hands them
    # out): the client is told, and gets the current state to start again from.
    text = str(snapshot.id)
    epoch, _, entry = text.rpartition(":")
    beyond = f"{epoch}:{int(entry.split('-')[0]) + 10**6}-0" if epoch else str(int(text) + 1000)
    frames = read_stream(sidecar, f"/api/progress/stream/{session_id}",
                         headers={"Last-Event-ID": beyond}, stop_after=1)
    [reset] = [f for f in frames if f.data]
    assert reset.data is not None
    assert (reset.data["type"], reset.data["step"]) == ("reset", 2)
    assert "beyond" in reset.data["reason"]
    assert reset.id == snapshot.id  # where to resume from: this log's own position
    bad = httpx.get(f"{sidecar.url}/api/progress/stream/{session_id}",
                    headers={**sidecar.headers, "Last-Event-ID": "not-an-id"})
    assert bad.status_code == 400
