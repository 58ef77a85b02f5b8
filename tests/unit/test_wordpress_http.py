"""The WordPress client's HTTP connection handling (httpx's own transport with limits for
WordPress): keep-alive reuse, servers that close after every answer or drop an idle
connection, TLS with a certificate the client trusts and one it does not, and httpx's
own errors for refused connections and silent servers."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from dev.stack import free_port
from sidecar.wordpress.client import wordpress_http_client
from tests.support.http_server import serving


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks otherwise

    def do_GET(self) -> None:
        # The client's port names the connection the request came on.
        body = f"{self.path} on {self.connection.getpeername()[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if self.path.startswith("/close"):
            self.send_header("Connection", "close")  # as PHP's built-in server does
            self.close_connection = True
        if self.path.startswith("/drop"):
            self.close_connection = True  # says keep-alive, then hangs up (an idle timeout)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Answer)) as address:
        yield address


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls(certificate: tuple[Path, Path]) -> Iterator[str]:
    cert, key = certificate
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server) as address:
        yield address


def client(context: ssl.SSLContext | None = None,
           timeout: httpx.Timeout | None = None) -> httpx.AsyncClient:
    return wordpress_http_client(verify=context, timeout=timeout or httpx.Timeout(5.0))


def connection(reply: httpx.Response) -> str:
    return reply.text.split(" on ")[1]


async def test_plain_http_reuses_kept_alive_connections(plain: str) -> None:
    async with client() as http:
        replies = [await http.get(f"http://{plain}/n{n}") for n in range(3)]
        posted = await http.post(f"http://{plain}/echo", content=b"x" * 200_000)
    answers = [r.text for r in replies]
    assert [a.split(" on ")[0] for a in answers] == ["/n0", "/n1", "/n2"]
    assert len({connection(r) for r in replies}) == 1
    assert (posted.status_code, len(posted.content)) == (201, 200_000)


async def test_servers_that_close_after_each_answer_get_a_new_connection(plain: str) -> None:
    async with client() as http:
        replies = [await http.get(f"http://{plain}/close{n}") for n in range(5)]
    assert [r.text.split(" on ")[0] for r in replies] == [f"/close{n}" for n in range(5)]
    assert len({connection(r) for r in replies}) == 5


async def test_a_kept_alive_connection_the_server_dropped_is_not_reused(plain: str) -> None:
    async with client() as http:
        dropped = await http.get(f"http://{plain}/drop")
        await asyncio.sleep(0.1)  # the server has closed its end by now
        again = await http.get(f"http://{plain}/again")
    assert dropped.text.startswith("/drop on ")
    assert again.text.startswith("/again on ")
    assert connection(again) != connection(dropped)


async def test_tls_with_a_trusted_certificate(tls: str, certificate: tuple[Path, Path]) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    async with client(trusting) as http:
        reply = await http.get(f"https://{tls}/secure")
        assert reply.text.startswith("/secure on ")
        assert reply.extensions["network_stream"].get_extra_info("ssl_object") is not None


async def test_tls_with_an_untrusted_certificate_is_a_connect_error(tls: str) -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://{tls}/secure")


async def test_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


async def test_a_silent_server_is_a_read_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        async with client(timeout=httpx.Timeout(0.2)) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"http://127.0.0.1:{port}/")
