"""``/healthz``, ``/readyz`` and ``/metrics`` for one daemon, on a small stdlib HTTP server in
a thread (``monitor: {enabled: true}``; ``syndbot run`` starts it before recovering the ledger).

- ``GET /healthz``: 200 when the scheduler runs and the ledger answers a trivial query within
  ``bot.metrics.STORE_TIMEOUT`` seconds; else 503. Body (JSON)::

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

from prometheus_client.exposition import choose_encoder

from bot.metrics import OK

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.metrics import Metrics

log = logging.getLogger(__name__)


class Watched(Protocol):
    """What the monitor asks of the daemon (``bot.scheduler.Daemon``)."""

    @property
    def scheduler_running(self) -> bool: ...

    @property
    def phase(self) -> str: ...  # "starting" | "running" | "stopping"


class Monitor:
    """The three endpoints' logic, without HTTP (tested directly and served by ``serve``)."""

    def __init__(self, daemon: Watched, metrics: Metrics) -> None:
        self.daemon = daemon
        self.registry = metrics.registry
        self.probe = metrics.probe

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
