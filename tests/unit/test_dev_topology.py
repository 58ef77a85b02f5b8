"""``make stack-up SIDECARS=N BACKEND=…``: which stack each asks for, and the refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dev.stack import Stack, StackError, Topology, _sidecar_environment


@pytest.mark.parametrize(("sidecars", "backend", "expected"), [
    (1, None, Topology(1, "sqlite")),
    (2, None, Topology(2, "redis")),
    (1, "redis", Topology(1, "redis")),
    (3, "redis", Topology(3, "redis")),
])
def test_the_engine_follows_the_number_of_sidecars(
        sidecars: int, backend: str | None, expected: Topology) -> None:
    assert Topology.of(sidecars, backend) == expected
    assert expected.balanced == (expected.backend == "redis")


@pytest.mark.parametrize(("sidecars", "backend", "message"), [
    (2, "sqlite", "2 sidecars need the Redis engine (--backend redis)"),
    (0, None, "--sidecars must be at least 1, got 0"),
    (1, "postgres", "--backend must be one of sqlite, redis, got 'postgres'"),
])
def test_a_stack_that_cannot_work_is_refused_naming_why(
        sidecars: int, backend: str, message: str) -> None:
    with pytest.raises(StackError, match=re.escape(message)):
        Topology.of(sidecars, backend)


def stack_of(root: Path, *, redis_port: int | None, sidecars: int) -> Stack:
    return Stack(root=root, wp_url="http://127.0.0.1:1", wp_admin_user="admin",
                 wp_admin_password="x", wp_app_user="admin", wp_app_password="y",
                 sidecar_url="http://127.0.0.1:2", sidecar_secret="s",
                 sidecar_data_dir=str(root / "sidecar"), wp_dir=root / "wordpress",
                 db_port=3, db_socket=root / "db.sock", wp_port=1, sidecar_port=4,
                 sidecar_ports=list(range(4, 4 + sidecars)) if redis_port else [],
                 redis_port=redis_port, nginx_port=5 if redis_port else None)


def test_the_sidecars_on_redis_share_one_uploads_dir_outside_their_data_dirs(
        tmp_path: Path) -> None:
    scaled = stack_of(tmp_path, redis_port=6, sidecars=3)
    envs = [_sidecar_environment(scaled, {}, port=scaled.sidecar_port_of(i),
                                 data_dir=scaled.sidecar_data_dir_of(i)) for i in range(3)]
    assert len({env["IGBRIDGE_DATA_DIR"] for env in envs}) == 3
    assert {env["IGBRIDGE_UPLOADS_DIR"] for env in envs} == {str(tmp_path / "uploads")}
    for env in envs:
        assert not Path(env["IGBRIDGE_UPLOADS_DIR"]).is_relative_to(env["IGBRIDGE_DATA_DIR"])


def test_the_one_sqlite_sidecar_keeps_uploads_in_its_data_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IGBRIDGE_UPLOADS_DIR", raising=False)
    single = stack_of(tmp_path, redis_port=None, sidecars=1)
    env = _sidecar_environment(single, {}, port=4, data_dir=single.sidecar_data_dir)
    assert "IGBRIDGE_UPLOADS_DIR" not in env
