"""The lifecycle every fake platform server shares: a local HTTP server in a daemon thread.

A fake subclasses ``LocalServer``, sets ``host``, ``port`` and ``_lock`` and calls
``_init_server()`` in its ``__init__``, and names its request handler in ``_handler()``;
the handler subclasses ``FakeHandler`` (or ``TrackedHandler``, whose connections ``stop()``
closes) and reaches the fake as ``self.fake``.

Every fake also has ``faults``, a :class:`FaultSchedule`: windows of time during which its API
requests (not its ``/_fake/`` control requests) misbehave before the fake sees them::

    fake.faults.add("status", lasting=10, status=503)            # 503 for the next 10 s
    fake.faults.add("status", after=10, lasting=5, status=429,
                    headers=lambda end: {"Retry-After": str(round(end - time.time()))})
    fake.faults.add("timeout", lasting=8, seconds=6)             # hold 6 s, then hang up
    fake.faults.add("reset", lasting=4)                          # close without an answer
    fake.faults.add("slow", lasting=4, seconds=1.5)              # answer normally, 1.5 s late
    fake.faults.hits                                             # what the faults answered

A faulted request is not seen by the fake, so it is not in the fake's own ``requests``: count
``faults.hits`` beside them.
"""

from __future__ import annotations

import contextlib
import http
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

F = TypeVar("F", bound="LocalServer")

FaultKind = Literal["status", "timeout", "reset", "slow"]
_CONTROL_PREFIXES = ("/_fake/", "/_control/")


@dataclass(frozen=True, slots=True)
class Fault:
    """One window of misbehaviour, in wall-clock time (``time.time()``)."""

    kind: FaultKind
    start: float
    end: float
    status: int = 503
    # Extra answer headers, computed when answering from the window's end (a reset time).
    headers: Callable[[float], dict[str, str]] | None = None
    body: Any = None
    seconds: float = 0.0
    paths: tuple[str, ...] = ()  # path prefixes it applies to; empty: every API path

    def applies(self, path: str, now: float) -> bool:
        if not self.start <= now < self.end:
            return False
        return not self.paths or path.startswith(self.paths)


@dataclass(frozen=True, slots=True)
class FaultHit:
    """A request a fault answered (or delayed: ``kind`` "slow")."""

    time: float
    method: str
    path: str
    kind: FaultKind
    status: int | None  # None: no answer (timeout, reset)


@dataclass
class FaultSchedule:
    """Windows of faults for one fake; thread-safe."""

    _faults: list[Fault] = field(default_factory=list)
    _hits: list[FaultHit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        kind: FaultKind,
        *,
        lasting: float,
        after: float = 0.0,
        status: int = 503,
        headers: Callable[[float], dict[str, str]] | None = None,
        body: Any = None,
        seconds: float = 0.0,
        paths: tuple[str, ...] = (),
    ) -> Fault:
        """From ``after`` seconds from now, for ``lasting`` seconds: ``status`` answers
        ``status`` (with ``headers(end)`` and ``body``, default ``{"error": phrase}``);
        ``timeout`` holds the request ``seconds`` then closes the connection unanswered;
        ``reset`` closes it at once with a TCP reset; ``slow`` answers normally ``seconds``
        late. The first window that applies wins."""
        now = time.time()
        fault = Fault(
            kind, now + after, now + after + lasting, status, headers, body, seconds, paths
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self, path: str, now: float | None = None) -> Fault | None:
        now = time.time() if now is None else now
        if path.startswith(_CONTROL_PREFIXES):
            return None
        with self._lock:
            return next((f for f in self._faults if f.applies(path, now)), None)

    @property
    def hits(self) -> list[FaultHit]:
        with self._lock:
            return list(self._hits)

    def record(self, hit: FaultHit) -> None:
        with self._lock:
            self._hits.append(hit)


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
        self.faults = FaultSchedule()

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

    def parse_request(self) -> bool:
        """Parse the request line and headers, then apply the fake's fault schedule: False
        (the request is not dispatched) when a fault answered it."""
        if not super().parse_request():
            return False
        faults: FaultSchedule | None = getattr(self.server.fake, "faults", None)
        path = self.path.split("?", 1)[0]
        fault = faults.active(path) if faults is not None else None
        if faults is None or fault is None:
            return True
        stopping: threading.Event = self.server.fake._stopping
        if fault.kind == "slow":
            faults.record(FaultHit(time.time(), self.command, path, "slow", None))
            stopping.wait(fault.seconds)
            return True
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # read the request, as a server that received it would
        self.close_connection = True
        status = fault.status if fault.kind == "status" else None
        faults.record(FaultHit(time.time(), self.command, path, fault.kind, status))
        if fault.kind == "status":
            body = fault.body
            if body is None:
                body = {"error": http.HTTPStatus(fault.status).phrase}
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            for name, value in (fault.headers(fault.end) if fault.headers else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return False
        if fault.kind == "timeout":
            stopping.wait(fault.seconds)
        # Hang up without an answer; a zero linger turns the close into a TCP reset.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False


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
