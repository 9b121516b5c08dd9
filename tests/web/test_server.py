"""The app behind waitress, as ``syndbot web`` serves it."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from bot.pipeline import Pipeline
from bot.web.app import create_app
from bot.web.server import WebServer, server_name
from bot.web.users import Users


@pytest.fixture
def server(pipeline: Pipeline, users: Users) -> Iterator[WebServer]:
    with WebServer(create_app(pipeline), "127.0.0.1", 0) as s:
        yield s


def fetch(
    server: WebServer, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_served_by_waitress_on_a_free_port(server: WebServer) -> None:
    assert server_name() == "waitress"
    assert server.port > 0
    response = fetch(server, "/login")
    assert response.status == 200
    assert response.getheader("Server") == "syndbot"


def test_https_at_a_local_reverse_proxy_makes_cookies_secure(server: WebServer) -> None:
    plain = fetch(server, "/login")
    assert "Secure" not in (plain.getheader("Set-Cookie") or "")
    proxied = fetch(
        server, "/login", {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    )
    assert "Secure" in (proxied.getheader("Set-Cookie") or "")


def test_stop_frees_the_port(pipeline: Pipeline, users: Users) -> None:
    server = WebServer(create_app(pipeline), "127.0.0.1", 0).start()
    port = server.port
    assert fetch(server, "/login").status == 200
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
