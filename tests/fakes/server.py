"""The lifecycle every fake platform server shares: a local HTTP server in a daemon thread.

A fake subclasses ``LocalServer``, sets ``host``, ``port`` and ``_lock`` and calls
``_init_server()`` in its ``__init__``, and names its request handler in ``_handler()``;
the handler subclasses ``FakeHandler`` (or ``TrackedHandler``, whose connections ``stop()``
closes) and reaches the fake as ``self.fake``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

F = TypeVar("F", bound="LocalServer")


class FakeHTTPServer(ThreadingHTTPServer, Generic[F]):
    daemon_threads = True
    fake: F

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client went away (timeouts, dropped answers): expected here
        super().handle_error(request, client_address)


class LocalServer:
    """Serves on ``host``:``port`` (0: any free port) in a thread; a context manager."""

    host: str
    port: int
    _lock: threading.Lock

    def _init_server(self) -> None:
        self._stopping = threading.Event()
        self._server: FakeHTTPServer[Self] | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        server: FakeHTTPServer[Self] = FakeHTTPServer((self.host, self.port), self._handler())
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed answers and close every open connection."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The ``api_base`` to give an account, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"


class FakeHandler(BaseHTTPRequestHandler, Generic[F]):
    """HTTP/1.1, quiet (the fakes record requests themselves), ``self.fake`` at hand."""

    protocol_version = "HTTP/1.1"
    server: FakeHTTPServer[F]

    @property
    def fake(self) -> F:
        return self.server.fake

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TrackedHandler(FakeHandler[F]):
    """A handler whose open connection the fake's ``stop()`` shuts down."""

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()
