"""A news site that misbehaves in one chosen way, for the fault tests.

``BadSite(mode)`` serves every path the same broken way:

- ``html``: 200 ``text/html``, a web page where the feed should be;
- ``loop``: ``/a`` redirects to ``/b``, which redirects back to ``/a`` (any other path: ``/a``);
- ``huge``: 200, an endless-looking feed of ``huge_bytes`` (50 MB) with no Content-Length,
  streamed in 64 KiB writes until the client hangs up (``sent`` counts what went out);
- ``slowloris``: 200 with a Content-Length of 1 MB, then one byte every ``trickle`` seconds;
- ``not_modified``: 304 with no ETag or Last-Modified, whatever the request held;
- ``ok``: a valid, empty RSS feed (switch ``mode`` later to start misbehaving).

``requests`` lists ``(time, path, headers, seconds_until_the_client_left)`` per request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Literal

from tests.fakes.server import FakeHandler, LocalServer

Mode = Literal["html", "loop", "huge", "slowloris", "not_modified", "ok"]

_ITEM = (
    b"<item><title>Padding</title><link>http://example.invalid/p</link>"
    b"<description>" + b"x" * 900 + b"</description></item>\n"
)


class BadSite(LocalServer):
    def __init__(
        self, mode: Mode, *, huge_bytes: int = 50_000_000, trickle: float = 0.2, port: int = 0
    ) -> None:
        self.mode = mode
        self.huge_bytes = huge_bytes
        self.trickle = trickle
        self.host = "127.0.0.1"
        self.port = port
        self.sent = 0  # body bytes written (huge, slowloris)
        self.requests: list[tuple[float, str, dict[str, str], float]] = []
        self._lock = threading.Lock()
        self._init_server()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    @property
    def feed(self) -> str:
        return f"{self.url}/feed/"


class _Handler(FakeHandler[BadSite]):
    def do_GET(self) -> None:
        started = time.monotonic()
        try:
            self._answer()
        except OSError:
            pass  # the client hung up: what the size cap and the deadline are for
        finally:
            with self.fake._lock:
                self.fake.requests.append(
                    (time.time(), self.path, dict(self.headers), time.monotonic() - started)
                )

    def _answer(self) -> None:
        fake = self.fake
        self.close_connection = True
        if fake.mode == "html":
            body = b"<!DOCTYPE html><html><head><title>Home</title></head><body>Hi</body></html>"
            self._head(200, "text/html; charset=UTF-8", len(body))
            self.wfile.write(body)
        elif fake.mode == "ok":
            body = (
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bad</title>'
                b"<link>http://127.0.0.1/</link><description>d</description></channel></rss>"
            )
            self._head(200, "application/rss+xml; charset=UTF-8", len(body))
            self.wfile.write(body)
        elif fake.mode == "loop":
            target = "/b" if self.path.startswith("/a") else "/a"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        elif fake.mode == "not_modified":
            self.send_response(304)
            self.send_header("Connection", "close")
            self.end_headers()
        elif fake.mode == "huge":
            self._head(200, "application/rss+xml; charset=UTF-8", None)
            self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>\n')
            while fake.sent < fake.huge_bytes and not fake._stopping.is_set():
                chunk = _ITEM * 64
                self.wfile.write(chunk)
                with fake._lock:
                    fake.sent += len(chunk)
        elif fake.mode == "slowloris":
            self._head(200, "application/rss+xml; charset=UTF-8", 1_000_000)
            while not fake._stopping.wait(fake.trickle):
                self.wfile.write(b"<")
                self.wfile.flush()
                with fake._lock:
                    fake.sent += 1
        with contextlib.suppress(OSError):
            self.wfile.flush()

    def _head(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
