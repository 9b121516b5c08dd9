"""``/healthz``, ``/readyz`` and ``/metrics`` for one daemon, on a small stdlib HTTP server in
a thread (``monitor: {enabled: true}``; ``syndbot run`` starts it before recovering the ledger).

- ``GET /healthz``: 200 when the scheduler runs and the ledger answers a trivial query within
  ``STORE_TIMEOUT`` seconds; else 503. Body (JSON)::

      {"status": "ok", "checks": {"scheduler": "ok", "store": "ok"}}
      {"status": "fail", "failed": ["store"],
       "checks": {"scheduler": "ok", "store": "store unavailable: unable to open database file"}}

- ``GET /readyz``: 200 once the daemon has recovered the ledger and scheduled its jobs, is not
  stopping, and the ledger answers; else 503 (``checks.daemon`` is ``starting`` or
  ``stopping``). Same body shape.
- ``GET /metrics``: the daemon's registry in the Prometheus text format (OpenMetrics when the
  scraper asks for it); see ``bot.metrics``.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from bot.errors import BotError
from bot.store import Store

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

STORE_TIMEOUT = 2.0
OK = "ok"


class Watched(Protocol):
    """What the monitor asks of the daemon (``bot.scheduler.Daemon``)."""

    @property
    def scheduler_running(self) -> bool: ...

    @property
    def phase(self) -> str: ...  # "starting" | "running" | "stopping"


class StoreProbe:
    """Asks the store a trivial query in a worker thread and waits at most ``timeout``: a hung
    database makes the check fail, never the HTTP answer hang. Requests that arrive while a
    query is in flight wait for that one instead of starting another."""

    def __init__(self, store: Store, timeout: float = STORE_TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self._lock = threading.Lock()
        self._inflight: tuple[threading.Event, list[str]] | None = None

    def check(self) -> str:
        """``"ok"``, or what went wrong."""
        with self._lock:
            if self._inflight is None:
                done, result = threading.Event(), list[str]()
                self._inflight = (done, result)
                threading.Thread(
                    target=self._run, args=(done, result), name="syndbot-store-probe", daemon=True
                ).start()
            done, result = self._inflight
        if not done.wait(self.timeout):
            return f"store did not answer within {self.timeout:g}s"
        return result[0]

    def _run(self, done: threading.Event, result: list[str]) -> None:
        try:
            self.store.ping(self.timeout)
            result.append(OK)
        except BotError as e:
            result.append(str(e))
        except Exception as e:  # whatever the driver raises, the check must answer
            result.append(f"store check failed: {type(e).__name__}: {e}")
        finally:
            with self._lock:
                self._inflight = None
            done.set()


class Monitor:
    """The three endpoints' logic, without HTTP (tested directly and served by ``serve``)."""

    def __init__(self, daemon: Watched, store: Store, registry: CollectorRegistry) -> None:
        self.daemon = daemon
        self.registry = registry
        self.probe = StoreProbe(store)

    def health(self) -> tuple[int, dict[str, Any]]:
        checks = {
            "scheduler": OK if self.daemon.scheduler_running else "not running",
            "store": self.probe.check(),
        }
        return _verdict(checks)

    def ready(self) -> tuple[int, dict[str, Any]]:
        phase = self.daemon.phase
        checks = {"daemon": OK if phase == "running" else phase}
        checks["store"] = self.probe.check()
        return _verdict(checks)

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _verdict(checks: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    failed = [name for name, result in checks.items() if result != OK]
    if not failed:
        return HTTPStatus.OK, {"status": OK, "checks": dict(checks)}
    return HTTPStatus.SERVICE_UNAVAILABLE, {
        "status": "fail",
        "failed": failed,
        "checks": dict(checks),
    }


class MonitorServer:
    """``monitor`` on ``host:port`` in a daemon thread. Binds when constructed (an ``OSError``
    when the port is taken)."""

    def __init__(self, monitor: Monitor, host: str, port: int) -> None:
        self.monitor = monitor
        handler = _handler(monitor)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> MonitorServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="syndbot-monitor", daemon=True
        )
        self._thread.start()
        log.info("monitor at %s (/healthz, /readyz, /metrics)", self.url)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10.0)
            self._thread = None
        self._server.server_close()


def _handler(monitor: Monitor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "syndbot-monitor"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._json(*monitor.health())
            elif path == "/readyz":
                self._json(*monitor.ready())
            elif path == "/metrics":
                body, content_type = monitor.metrics(self.headers.get("Accept"))
                self._send(HTTPStatus.OK, body, content_type)
            else:
                self._json(
                    HTTPStatus.NOT_FOUND,
                    {"error": "not found: try /healthz, /readyz or /metrics"},
                )

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode() + b"\n", "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("monitor: %s %s", self.address_string(), format % args)

    return Handler
