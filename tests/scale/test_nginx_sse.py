"""nginx's configuration for SSE (docker/nginx/igbridge.conf.template, filled in by
dev/nginx.py): what any engine needs of the proxy, checked on SQLite sidecars.

A frame reaches the browser as soon as the sidecar writes it (not when a buffer
fills, nor when the stream ends), Last-Event-ID reaches the process, a stream silent
between heartbeats stays open, and a dead process is passed over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dev import nginx as nginx_config
from tests.scale.follower import Follower
from tests.support.nginx_process import NginxProcess
from tests.support.sidecar_process import SidecarProcess

# Nothing but the frames under test is written within this many seconds.
LONG_HEARTBEAT = 60.0
FRAME_TIMEOUT = 20.0  # well inside one heartbeat


def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "data",
                             env={"IGBRIDGE_HEARTBEAT_SECONDS": str(LONG_HEARTBEAT)}).start()
    try:
        yield process
    finally:
        process.kill()


def start_nginx(tmp_path: Path, sidecars: list[SidecarProcess], *,
                edit_site: Callable[[str], str] | None = None) -> NginxProcess:
    return NginxProcess(tmp_path / "nginx", [s.port for s in sidecars],
                        heartbeat_seconds=LONG_HEARTBEAT, edit_site=edit_site).start()


@pytest.fixture
def balancer(tmp_path: Path, sidecar: SidecarProcess) -> Iterator[NginxProcess]:
    running = start_nginx(tmp_path, [sidecar])
    try:
        yield running
    finally:
        running.stop()


def new_session(api: httpx.Client) -> str:
    response = api.post("/api/progress/sessions", json={"operation": "nginx", "total_steps": 5})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def update(api: httpx.Client, session_id: str, step: int) -> None:
    response = api.post(f"/api/progress/sessions/{session_id}/updates",
                        json={"step": step, "message": f"step {step}"})
    assert response.status_code == 200, response.text


def complete(api: httpx.Client, session_id: str) -> None:
    response = api.post(f"/api/progress/sessions/{session_id}/complete", json={"message": "ok"})
    assert response.status_code == 200, response.text


def frames_pass_at_once(nginx: NginxProcess, sidecar: SidecarProcess, *,
                        timeout: float) -> tuple[bool, Follower]:
    """Open a stream through nginx; wait for its snapshot, post one update and wait for
    its frame, while the sidecar writes nothing else (no heartbeat is due); then end the
    session so the stream closes. True when both frames came while they were awaited."""
    with httpx.Client(base_url=nginx.url, headers=sidecar.headers, timeout=10) as api:
        session_id = new_session(api)
        follower = Follower(nginx.url, f"/api/progress/stream/{session_id}", sidecar.headers,
                            {session_id}).start()
        arrived = follower.subscribed.wait(timeout)
        if arrived:
            update(api, session_id, 1)
            arrived = until(lambda: follower.received(session_id, 1), timeout)
        complete(api, session_id)
        follower.join(FRAME_TIMEOUT)
    return arrived, follower


def types(follower: Follower) -> list[str]:
    return [data["type"] for _, data in follower.frames]


def test_a_frame_passes_nginx_before_the_next_heartbeat(
        balancer: NginxProcess, sidecar: SidecarProcess) -> None:
    arrived, follower = frames_pass_at_once(balancer, sidecar, timeout=FRAME_TIMEOUT)
    assert arrived, f"frames waited in nginx; received only at the end: {types(follower)}"
    assert types(follower) == ["snapshot", "progress", "complete"]
    assert follower.reconnects == 0


def test_the_check_catches_a_proxy_that_holds_frames(
        tmp_path: Path, sidecar: SidecarProcess) -> None:
    # The same site undone: buffered despite the sidecar's X-Accel-Buffering: no, and
    # gzip on the event stream. nginx then sends frames only when its gzip buffer fills
    # or the stream ends (either change alone still lets small frames through here).
    def buffer_and_gzip_streams(site: str) -> str:
        assert "proxy_buffering off;" in site
        assert "gzip off;" in site
        return site.replace(
            "proxy_buffering off;", "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;"
        ).replace("gzip off;", "gzip on; gzip_types text/event-stream; gzip_min_length 0;")

    held = start_nginx(tmp_path, [sidecar], edit_site=buffer_and_gzip_streams)
    try:
        # Bounded wait on purpose: nothing else is written for LONG_HEARTBEAT seconds,
        # so a held frame stays held for all of these 2 s.
        arrived, follower = frames_pass_at_once(held, sidecar, timeout=2.0)
    finally:
        held.stop()
    assert not arrived
    assert types(follower) == ["snapshot", "complete"]  # held, then let out at the end


def test_last_event_id_reaches_the_sidecar_through_nginx(
        balancer: NginxProcess, sidecar: SidecarProcess) -> None:
    with httpx.Client(base_url=balancer.url, headers=sidecar.headers, timeout=10) as api:
        session_id = new_session(api)
        first = Follower(balancer.url, f"/api/progress/stream/{session_id}", sidecar.headers,
                         {session_id}).start()
        assert first.subscribed.wait(FRAME_TIMEOUT)
        for step in range(1, 6):
            update(api, session_id, step)
        complete(api, session_id)
        first.join(FRAME_TIMEOUT)
        seen = [event_id for event_id, data in first.frames if data["type"] == "progress"]
        assert len(seen) == 5

        # A client that saw steps 1-2 comes back with the id of step 2.
        resumed = Follower(balancer.url, f"/api/progress/stream/{session_id}",
                           {**sidecar.headers, "Last-Event-ID": seen[1]}, {session_id})
        resumed.last_id = seen[1]
        resumed.start().join(FRAME_TIMEOUT)
    assert resumed.steps(session_id) == [3, 4, 5]
    assert [d["type"] for d in resumed.events(session_id)][-1] == "complete"


@pytest.mark.parametrize(("heartbeat", "read_timeout"), [(1, 60), (15, 61), (30, 121)])
def test_a_stream_may_stay_silent_for_several_heartbeats(
        tmp_path: Path, heartbeat: float, read_timeout: int) -> None:
    site = nginx_config.site_config(port=1, upstreams=["127.0.0.1:2"],
                                    read_timeout=nginx_config.read_timeout_seconds(heartbeat),
                                    access_log=tmp_path / "access.log")
    stream_block = site[site.index("location /api/progress/stream"):]
    assert f"proxy_read_timeout {read_timeout}s;" in stream_block
    assert read_timeout > heartbeat


def test_requests_pass_over_a_dead_process(tmp_path: Path) -> None:
    sidecars = [SidecarProcess(tmp_path / f"data-{i}").start() for i in range(2)]
    nginx = start_nginx(tmp_path, sidecars)
    try:
        with httpx.Client(base_url=nginx.url, timeout=10) as client:
            assert [client.get("/healthz").status_code for _ in range(4)] == [200] * 4
            assert set(nginx.upstreams("/healthz")) == {f"127.0.0.1:{s.port}" for s in sidecars}
            sidecars[0].kill()
            assert [client.get("/healthz").status_code for _ in range(4)] == [200] * 4
    finally:
        nginx.stop()
        for sidecar in sidecars:
            sidecar.kill()
    after = nginx.upstreams("/healthz")[4:]
    assert after[-1] == f"127.0.0.1:{sidecars[1].port}"
    assert all(address.endswith(f":{sidecars[1].port}") for address in after)
