"""dev/nginx.py: the shared site template filled in, the SSE location's settings, and the
access log read back (which process answered)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dev import nginx


def site(tmp_path: Path, upstreams: list[str]) -> str:
    return nginx.site_config(port=8080, upstreams=upstreams, read_timeout=61,
                             access_log=tmp_path / "access.log")


def location(text: str, path: str) -> str:
    """The directives of one location block, comments left out."""
    match = re.search(rf"location {re.escape(path)} \{{(.*?)\n    \}}", text, re.S)
    assert match, f"no location {path}"
    return re.sub(r"#[^\n]*", "", match.group(1))


def test_every_sidecar_is_an_upstream_and_nginx_listens_on_loopback(tmp_path: Path) -> None:
    text = site(tmp_path, ["127.0.0.1:7001", "127.0.0.1:7002"])
    assert "listen 127.0.0.1:8080;" in text
    servers = re.findall(r"^\s*server (\S+) max_fails=1 fail_timeout=5s;$", text, re.M)
    assert servers == ["127.0.0.1:7001", "127.0.0.1:7002"]
    assert re.search(r"\$\{IGBRIDGE_[A-Z]", text) is None


def test_streams_are_unbuffered_uncompressed_and_may_be_silent_past_a_heartbeat(
        tmp_path: Path) -> None:
    text = site(tmp_path, ["127.0.0.1:7001"])
    stream = location(text, "/api/progress/stream")
    for directive in ("proxy_buffering off;", "proxy_cache off;", "gzip off;",
                      "proxy_read_timeout 61s;"):
        assert directive in stream
    # A proxy_set_header here would drop the server block's (Connection "" among them).
    assert "proxy_set_header" not in stream
    assert 'proxy_set_header Connection "";' in text
    assert "proxy_http_version 1.1;" in text
    # X-Accel-Buffering from the sidecar is honoured everywhere.
    assert "proxy_ignore_headers" not in re.sub(r"#[^\n]*", "", text)


def test_a_placeholder_without_a_value_is_named() -> None:
    with pytest.raises(nginx.NginxError, match="IGBRIDGE_NGINX_PORT"):
        nginx.fill_template("listen ${IGBRIDGE_NGINX_PORT}; set $x $host;", {})
    assert nginx.fill_template("listen ${IGBRIDGE_NGINX_PORT}; set $x $host;",
                               {"IGBRIDGE_NGINX_PORT": "1"}) == "listen 1; set $x $host;"


def test_no_sidecar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(nginx.NginxError, match="at least one sidecar"):
        site(tmp_path, [])


def test_the_access_log_says_which_process_answered(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    nginx.access_log(tmp_path).write_text(
        '127.0.0.1 [x] "GET /healthz HTTP/1.1" 200 2 upstream="127.0.0.1:7001" '
        'upstream_status="200" request_time=0.001\n'
        '127.0.0.1 [x] "POST /api/jobs HTTP/1.1" 202 9 upstream="127.0.0.1:7001, '
        '127.0.0.1:7002" upstream_status="502, 202" request_time=0.002\n')
    assert nginx.upstreams_in_log(tmp_path) == ["127.0.0.1:7001", "127.0.0.1:7002"]
    assert nginx.upstreams_in_log(tmp_path, "/api/") == ["127.0.0.1:7002"]
