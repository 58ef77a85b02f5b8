"""Several sidecar processes on one Redis behind nginx (issue 13): requests and streams
are spread over the processes and every stream still shows everything once, and a
process killed with SIGKILL mid-stream costs its clients nothing: they reconnect
through nginx with Last-Event-ID and see every event exactly once. (Straight to the
processes, without nginx: tests/integration/test_redis_processes.py.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.scale.conftest import Cluster
from tests.scale.follower import Follower

STREAM_TIMEOUT = 60.0


def until(condition: Callable[[], bool], timeout: float = STREAM_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def new_sessions(api: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = api.post("/api/progress/sessions", json={"operation": "scale",
                                                             "total_steps": 100})
        assert response.status_code == 201, response.text
        ids.append(response.json()["session_id"])
    return ids


def post_steps(api: httpx.Client, session_ids: list[str], steps: range) -> None:
    for step in steps:
        for session_id in session_ids:
            response = api.post(f"/api/progress/sessions/{session_id}/updates",
                                json={"step": step, "message": f"step {step}"})
            assert response.status_code == 200, response.text


def complete_all(api: httpx.Client, session_ids: list[str]) -> None:
    for session_id in session_ids:
        response = api.post(f"/api/progress/sessions/{session_id}/complete",
                            json={"message": "done"})
        assert response.status_code == 200, response.text


def open_streams(cluster: Cluster, session_ids: list[str]) -> list[Follower]:
    """One stream per session and one for all of them together, opened one after the
    other so nginx hands them to the processes in turn; returns once each is live."""
    paths = [(f"/api/progress/stream/{sid}", {sid}) for sid in session_ids]
    query = "&".join(f"session={sid}" for sid in session_ids)
    paths.append((f"/api/progress/stream?{query}", set(session_ids)))
    followers = []
    for path, sessions in paths:
        follower = Follower(cluster.url, path, cluster.headers, sessions).start()
        assert follower.subscribed.wait(STREAM_TIMEOUT), f"{path} never opened"
        followers.append(follower)
    return followers


def assert_everything_once(followers: list[Follower], session_ids: list[str],
                           steps: list[int]) -> None:
    for follower in followers:
        follower.join(STREAM_TIMEOUT)
        assert follower.repeated_ids() == [], f"{follower.path} saw events twice"
        for session_id in follower.sessions:
            kinds = [event["type"] for event in follower.events(session_id)]
            assert "reset" not in kinds, f"{follower.path} was told history was lost"
            assert follower.steps(session_id) == steps, follower.path
            assert kinds[-1] == "complete", follower.path
            assert kinds.count("complete") == 1, follower.path


def test_streams_and_updates_spread_over_processes_show_everything_once(
        cluster: Callable[[int], Cluster]) -> None:
    running = cluster(2)
    api = running.client()
    session_ids = new_sessions(api, 3)
    followers = open_streams(running, session_ids)
    post_steps(api, session_ids, range(1, 21))
    complete_all(api, session_ids)

    assert_everything_once(followers, session_ids, list(range(1, 21)))
    processes = {running.upstream(s) for s in running.sidecars}
    assert set(running.nginx.upstreams("/api/progress/sessions/")) == processes
    assert set(running.nginx.upstreams("/api/progress/stream")) == processes


def test_kill_9_of_a_process_mid_stream_loses_nothing_and_repeats_nothing(
        cluster: Callable[[int], Cluster]) -> None:
    running = cluster(2)
    api = running.client()
    session_ids = new_sessions(api, 3)
    followers = open_streams(running, session_ids)
    post_steps(api, session_ids, range(1, 11))
    until(lambda: all(f.received(sid, 10) for f in followers for sid in f.sessions))

    victim = running.sidecars[0]
    victim.kill()
    # Posted while the clients of the dead process are reconnecting: nginx sends every
    # request to the living one, and the stream's replay covers what it missed.
    post_steps(api, session_ids, range(11, 21))
    complete_all(api, session_ids)

    assert_everything_once(followers, session_ids, list(range(1, 21)))
    assert sum(f.reconnects for f in followers) >= 1, \
        "no stream was on the killed process: the test proved nothing"
    survivor = running.upstream(running.sidecars[1])
    assert running.nginx.upstreams("/api/progress/sessions/")[-1] == survivor
