"""An SSE client behind a proxy that keeps cutting its connections, while a session
gets a steady stream of updates: what it saw equals the stored log, id for id."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.fault_proxy import FaultProxy
from tests.faults.resuming_client import ResumingClient, stored_event_ids
from tests.support.sidecar_process import SidecarProcess

UPDATES_PER_SECOND = 50
SEED = 20240601


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_HEARTBEAT_SECONDS": "0.5"})
    process.start()
    try:
        yield process
    finally:
        process.kill()


def produce_updates(sidecar: SidecarProcess, session_id: str, seconds: float,
                    failures: list[str]) -> int:
    """POST updates at a steady rate for ``seconds``, then complete; returns how many."""
    sent = 0
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
        began = time.monotonic()
        while (elapsed := time.monotonic() - began) < seconds:
            sent += 1
            reply = api.post(f"/api/progress/sessions/{session_id}/updates",
                             json={"step": sent, "message": f"update {sent}",
                                   "details": {"n": sent}})
            if reply.status_code != 200:
                failures.append(reply.text)
                break
            pause = sent / UPDATES_PER_SECOND - elapsed
            if pause > 0:
                time.sleep(pause)
        reply = api.post(f"/api/progress/sessions/{session_id}/complete",
                         json={"message": f"sent {sent}"})
        if reply.status_code != 200:
            failures.append(reply.text)
    return sent


@pytest.mark.parametrize("seconds", [
    pytest.param(60, id="60s"),
    pytest.param(600, id="600s", marks=pytest.mark.slow),
])
def test_client_behind_random_cuts_sees_the_log_exactly_once(
    sidecar: SidecarProcess, seconds: int, record_figure: Callable[[str, object], None]
) -> None:
    api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
    created = api.post("/api/progress/sessions",
                       json={"operation": "fault soak", "total_steps": 10**7})
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]

    with FaultProxy("127.0.0.1", sidecar.port, seed=SEED) as proxy:
        proxy.cut_randomly(0.05, 1.5, hows=("rst", "fin"))
        client = ResumingClient(f"{proxy.url}/api/progress/stream/{session_id}",
                                sidecar.headers, seed=SEED)
        failures: list[str] = []
        reader = threading.Thread(target=client.follow, name="sse-client")
        reader.start()
        sent = produce_updates(sidecar, session_id, seconds, failures)
        reader.join(60)
        assert not reader.is_alive(), "the client did not reach the terminal event"
        cuts = proxy.stats["cut_rst"] + proxy.stats["cut_fin"]
        record_figure("updates_sent", sent)
        record_figure("connections", client.connections)
        record_figure("cuts_rst", proxy.stats["cut_rst"])
        record_figure("cuts_fin", proxy.stats["cut_fin"])
        record_figure("client_errors", dict(client.errors))

    assert failures == []
    stored = stored_event_ids(sidecar.url, session_id, sidecar.headers)
    # One creation event, every update, the terminal event.
    assert len(stored) == sent + 2
    assert client.event_ids == stored  # 0 lost, 0 duplicated, same order
    # The scenario really cut the stream, both ways, many times.
    assert cuts >= seconds // 3
    assert proxy.stats["cut_rst"] > 0
    assert proxy.stats["cut_fin"] > 0
    assert client.connections >= cuts
    api.close()
