"""Serving the app: waitress (a production WSGI server, pure Python) when it is installed, else
Werkzeug's threaded development server. In the foreground (``syndbot web``) or in a thread
(``syndbot run`` with ``web.enabled``, and the tests)."""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

from flask import Flask

log = logging.getLogger(__name__)

THREADS = 8


class _Waitress:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        from waitress.server import create_server

        self._map: dict[int, Any] = {}
        self._server: Any = cast(
            Any,
            create_server(
                app,
                map=self._map,
                host=host,
                port=port,
                threads=THREADS,
                ident="syndbot",
                # A reverse proxy on this machine (nginx, Caddy) terminating HTTPS: believe its
                # X-Forwarded-Proto (cookies get Secure) and X-Forwarded-For (sign-in
                # throttling sees the editor's address). Anyone else's such headers are removed.
                trusted_proxy="127.0.0.1",
                trusted_proxy_count=1,
                trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
                clear_untrusted_proxy_headers=True,
            ),
        )
        listening = getattr(self._server, "effective_listen", None)
        self.port = int(listening[0][1] if listening else self._server.effective_port)

    def run(self) -> None:
        self._server.run()

    def stop(self) -> None:
        from waitress import wasyncore
        from waitress.trigger import trigger

        # Finish the requests in progress first: closing the sockets under a worker still
        # answering would make it write to a closed (perhaps already reused) descriptor.
        self._server.task_dispatcher.shutdown()
        # Then close the sockets from inside waitress's own loop (a trigger runs the function
        # there); the loop ends when it has nothing left to watch.
        pull = next((t for t in list(self._map.values()) if isinstance(t, trigger)), None)
        if pull is not None:
            try:
                cast(Any, pull).pull_trigger(lambda: wasyncore.close_all(self._map))
            except OSError:  # the loop has already closed its sockets and ended
                log.debug("server loop already closed", exc_info=True)

    def shutdown_workers(self) -> None:
        self._server.task_dispatcher.shutdown()


class _Werkzeug:
    def __init__(self, app: Flask, host: str, port: int) -> None:
        from werkzeug.serving import make_server

        self._server = make_server(host, port, app, threaded=True)
        self.port = self._server.server_port

    def run(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()

    def shutdown_workers(self) -> None:
        self._server.server_close()


def server_name() -> str:
    try:
        import waitress  # noqa: F401
    except ImportError:
        return "werkzeug"
    return "waitress"


class WebServer:
    """``app`` on ``host:port`` (port 0: a free one). Binds when constructed."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.host = host
        self._backend: _Waitress | _Werkzeug = (
            _Waitress(app, host, port)
            if server_name() == "waitress"
            else _Werkzeug(app, host, port)
        )
        self.port = self._backend.port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread) or Ctrl-C."""
        try:
            self._backend.run()
        finally:
            self._backend.shutdown_workers()

    def start(self) -> WebServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="syndbot-web", daemon=True)
        self._thread.start()
        log.info("web UI at %s (%s)", self.url, server_name())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._backend.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
