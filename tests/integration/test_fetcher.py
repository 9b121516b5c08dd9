"""Fetcher against a real HTTP server on 127.0.0.1 (stdlib, in a thread)."""

from __future__ import annotations

import gzip
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.config import FetchSettings
from bot.errors import FetchError
from bot.fetcher import Fetcher, FetchResult

FEED = (Path(__file__).resolve().parents[1] / "fixtures/wordpress-6.1/feed-rss2.xml").read_bytes()
ETAG = '"f568acc7ba7359e91794385442e6c99e"'
LAST_MODIFIED = "Sun, 29 Nov 2026 12:51:19 GMT"
USER_AGENT = "syndbot-test/1.0 (+https://example.org/bot)"


@dataclass
class SiteState:
    """What the handler saw, and a switch that stops slow responses at teardown."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def headers_for(self, path: str) -> dict[str, str]:
        with self.lock:
            return next(h for p, h in reversed(self.requests) if p == path)


class Handler(BaseHTTPRequestHandler):
    """A small WordPress-like site. Routes are methods named ``route_<first path segment>``."""

    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        with self.server.state.lock:
            self.server.state.requests.append(
                (parts.path, {k.lower(): v for k, v in self.headers.items()})
            )
        segments = [s for s in parts.path.split("/") if s]
        route = getattr(self, f"route_{(segments or ['root'])[0].replace('-', '_')}", None)
        if route is None:
            self.reply(404, b"not found")
            return
        route(segments[1:], {k: v[0] for k, v in parse_qs(parts.query).items()})

    # helpers

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def redirect(self, status: int, location: str) -> None:
        self.reply(status, b"", {"Location": location})

    # routes

    def route_feed(self, rest: list[str], query: dict[str, str]) -> None:
        validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
        matches = self.headers.get("If-None-Match") == ETAG or (
            "If-None-Match" not in self.headers
            and self.headers.get("If-Modified-Since") == LAST_MODIFIED
        )
        if matches:
            self.reply(304, headers={} if query.get("bare304") else validators)
            return
        self.reply(200, FEED, {**validators, "Content-Type": "application/rss+xml; charset=UTF-8"})

    def route_gzip(self, rest: list[str], query: dict[str, str]) -> None:
        if "gzip" not in self.headers.get("Accept-Encoding", ""):
            self.reply(406, b"gzip only")
            return
        self.reply(
            200, gzip.compress(FEED), {"Content-Encoding": "gzip", "Content-Type": "text/xml"}
        )

    def route_deflate(self, rest: list[str], query: dict[str, str]) -> None:
        wrapped = zlib.compress(FEED)
        body = wrapped[2:-4] if query.get("raw") else wrapped  # raw deflate, as some servers send
        self.reply(200, body, {"Content-Encoding": "deflate"})

    def route_bomb(self, rest: list[str], query: dict[str, str]) -> None:
        self.reply(200, gzip.compress(b"\0" * 20_000_000), {"Content-Encoding": "gzip"})

    def route_r1(self, rest: list[str], query: dict[str, str]) -> None:
        self.redirect(301, "/r2")

    def route_r2(self, rest: list[str], query: dict[str, str]) -> None:
        self.redirect(302, f"http://127.0.0.1:{self.server.server_port}/feed/")

    def route_loop(self, rest: list[str], query: dict[str, str]) -> None:
        self.redirect(302, "/loop/b" if rest == ["a"] else "/loop/a")

    def route_chain(self, rest: list[str], query: dict[str, str]) -> None:
        n = int(rest[0])
        if n == 0:
            self.reply(200, b"end of chain")
        else:
            self.redirect(307, f"/chain/{n - 1}")

    def route_away(self, rest: list[str], query: dict[str, str]) -> None:
        self.redirect(302, query.get("to", "http://169.254.169.254/latest/meta-data/"))

    def route_status(self, rest: list[str], query: dict[str, str]) -> None:
        self.reply(int(rest[0]), b"error page")

    def route_big(self, rest: list[str], query: dict[str, str]) -> None:
        size = int(query.get("size", "5000"))
        if query.get("nolength"):  # close-delimited body, no Content-Length
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for _ in range(size // 1000):
                self.wfile.write(b"x" * 1000)
            return
        self.reply(200, b"x" * size)

    def route_liar(self, rest: list[str], query: dict[str, str]) -> None:
        """Announces a huge body, sends a little, then stalls."""
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        self.wfile.write(b"x" * 100)
        self.wfile.flush()
        self.server.state.stop.wait(5)
        self.close_connection = True

    def route_trickle(self, rest: list[str], query: dict[str, str]) -> None:
        """Slow loris: a byte every 50 ms, far less than any read timeout, for up to 5 s."""
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        until = time.monotonic() + 5
        try:
            while time.monotonic() < until and not self.server.state.stop.wait(0.05):
                self.wfile.write(b"x")
                self.wfile.flush()
        except OSError:  # the client gave up: good
            pass
        self.close_connection = True

    def route_stall(self, rest: list[str], query: dict[str, str]) -> None:
        """Headers and a few bytes, then silence."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"<rss>")
        self.wfile.flush()
        self.server.state.stop.wait(5)
        self.close_connection = True

    def route_echo(self, rest: list[str], query: dict[str, str]) -> None:
        self.reply(200, b"ok", {"Content-Type": "text/plain"})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = SiteState()

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up, as the fetcher does on purpose in these tests
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


@pytest.fixture(scope="module")
def site() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.state.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


MakeFetcher = Callable[..., Fetcher]


@pytest.fixture
def make_fetcher() -> Iterator[MakeFetcher]:
    made: list[Fetcher] = []

    def make(**overrides: object) -> Fetcher:
        settings = FetchSettings.model_validate(
            {"timeout": 2.0, "max_bytes": 100_000, "user_agent": USER_AGENT, "max_redirects": 5}
            | overrides
        )
        fetcher = Fetcher(settings)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: MakeFetcher) -> Fetcher:
    return make_fetcher()


def fetch_error(fetcher: Fetcher, url: str, **kwargs: object) -> tuple[FetchError, float]:
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url, **kwargs)  # type: ignore[arg-type]
    return info.value, time.monotonic() - started


# --- conditional GET ---------------------------------------------------------------------------


def test_first_fetch_then_304(site: Server, fetcher: Fetcher) -> None:
    first = fetcher.fetch(f"{site.base}/feed/")
    assert first.status == 200
    assert not first.not_modified
    assert first.content == FEED
    assert first.etag == ETAG
    assert first.last_modified == LAST_MODIFIED
    assert first.content_type == "application/rss+xml; charset=UTF-8"
    assert first.final_url == first.url == f"{site.base}/feed/"
    assert first.redirects == ()
    assert first.elapsed > 0

    second = fetcher.fetch(first.url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304
    assert second.not_modified
    assert second.content == b""
    assert second.etag == ETAG
    assert second.last_modified == LAST_MODIFIED
    sent = site.state.headers_for("/feed/")
    assert sent["if-none-match"] == ETAG
    assert sent["if-modified-since"] == LAST_MODIFIED


def test_if_modified_since_alone(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"{site.base}/feed/", last_modified=LAST_MODIFIED)
    assert result.not_modified
    assert "if-none-match" not in site.state.headers_for("/feed/")


def test_304_without_validators_keeps_the_ones_sent(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(
        f"{site.base}/feed/?bare304=1", etag=ETAG, last_modified="Sat, 1 Jan 2000"
    )
    assert result.status == 304
    assert result.etag == ETAG
    assert result.last_modified == "Sat, 1 Jan 2000"


def test_stale_etag_gets_the_full_body(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"{site.base}/feed/", etag='"old"')
    assert result.status == 200
    assert result.content == FEED


# --- headers, encodings ------------------------------------------------------------------------


def test_user_agent_and_accept_headers(site: Server, fetcher: Fetcher) -> None:
    fetcher.fetch(f"{site.base}/echo/", accept="application/rss+xml, */*;q=0.5")
    sent = site.state.headers_for("/echo/")
    assert sent["user-agent"] == USER_AGENT
    assert sent["accept"] == "application/rss+xml, */*;q=0.5"
    assert sent["accept-encoding"] == "gzip, deflate"
    assert "authorization" not in sent
    assert "if-none-match" not in sent


@pytest.mark.parametrize("path", ["/gzip/", "/deflate/", "/deflate/?raw=1"])
def test_compressed_bodies_are_decoded(site: Server, fetcher: Fetcher, path: str) -> None:
    result = fetcher.fetch(f"{site.base}{path}")
    assert result.content == FEED


def test_connection_reuse(site: Server, fetcher: Fetcher) -> None:
    for _ in range(3):
        assert fetcher.fetch(f"{site.base}/feed/").content == FEED
        assert fetcher.fetch(f"{site.base}/gzip/").content == FEED


# --- redirects ---------------------------------------------------------------------------------


def test_redirect_chain_is_recorded(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"{site.base}/r1")
    assert result.status == 200
    assert result.content == FEED
    assert result.url == f"{site.base}/r1"
    assert result.redirects == (f"{site.base}/r2", f"{site.base}/feed/")
    assert result.final_url == f"{site.base}/feed/"


def test_redirects_within_allowed_hosts(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"{site.base}/r1", allowed_hosts={"127.0.0.1"})
    assert result.final_url == f"{site.base}/feed/"
    result = fetcher.fetch(f"{site.base}/r1", allowed_hosts=[f"127.0.0.1:{site.server_port}"])
    assert result.final_url == f"{site.base}/feed/"


def test_redirect_loop(site: Server, fetcher: Fetcher) -> None:
    error, _ = fetch_error(fetcher, f"{site.base}/loop/a")
    assert "redirect loop" in str(error)
    assert error.url == f"{site.base}/loop/a"


def test_too_many_redirects(site: Server, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(max_redirects=3)
    assert fetcher.fetch(f"{site.base}/chain/3").redirects[-1] == f"{site.base}/chain/0"
    error, _ = fetch_error(fetcher, f"{site.base}/chain/4")
    assert "too many redirects" in str(error)


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:{port}/feed/",
        "http://127.0.0.1:1/admin",
    ],
)
def test_redirect_to_a_host_not_allowed(site: Server, fetcher: Fetcher, target: str) -> None:
    to = target.format(port=site.server_port)
    error, elapsed = fetch_error(
        fetcher, f"{site.base}/away/?to={to}", allowed_hosts={f"127.0.0.1:{site.server_port}"}
    )
    assert "not allowed" in str(error)
    assert elapsed < 1  # refused before connecting anywhere


def test_first_url_not_allowed(site: Server, fetcher: Fetcher) -> None:
    before = len(site.state.requests)
    error, _ = fetch_error(fetcher, f"{site.base}/feed/", allowed_hosts={"ctninfo.com"})
    assert "not allowed" in str(error)
    assert len(site.state.requests) == before  # nothing was sent


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/feed", "file:///etc/passwd", "/relative/feed"])
def test_only_http_urls(fetcher: Fetcher, url: str) -> None:
    error, _ = fetch_error(fetcher, url)
    assert "http" in str(error)


def test_redirect_to_another_scheme(site: Server, fetcher: Fetcher) -> None:
    error, _ = fetch_error(fetcher, f"{site.base}/away/?to=file:///etc/passwd")
    assert "only http and https" in str(error)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"), [(404, "Not Found"), (410, "Gone"), (500, "Internal Server Error")]
)
def test_http_errors(site: Server, fetcher: Fetcher, status: int, reason: str) -> None:
    error, _ = fetch_error(fetcher, f"{site.base}/status/{status}")
    assert error.status == status
    assert str(error) == f"HTTP {status} {reason} from {site.base}/status/{status}"


def test_connection_refused(fetcher: Fetcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    error, elapsed = fetch_error(fetcher, f"http://127.0.0.1:{port}/feed/")
    assert str(error) == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert error.status is None
    assert elapsed < 1


@pytest.mark.parametrize("query", ["size=5000", "size=5000&nolength=1"])
def test_body_over_max_bytes(site: Server, make_fetcher: MakeFetcher, query: str) -> None:
    fetcher = make_fetcher(max_bytes=4000)
    error, _ = fetch_error(fetcher, f"{site.base}/big/?{query}")
    assert str(error) == f"{site.base}/big/?{query} is larger than 4000 bytes"
    assert fetcher.fetch(f"{site.base}/big/?size=4000").content == b"x" * 4000


def test_declared_length_over_max_bytes_is_refused_before_reading(
    site: Server, fetcher: Fetcher
) -> None:
    error, elapsed = fetch_error(fetcher, f"{site.base}/liar/")
    assert "larger than 100000 bytes" in str(error)
    assert elapsed < 0.5  # no waiting for a body that never comes


def test_gzip_bomb_is_stopped(site: Server, fetcher: Fetcher) -> None:
    error, _ = fetch_error(fetcher, f"{site.base}/bomb/")
    assert "larger than 100000 bytes" in str(error)


def test_slow_loris_hits_the_deadline(site: Server, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(timeout=1.0)
    error, elapsed = fetch_error(fetcher, f"{site.base}/trickle/")
    assert "timed out" in str(error)
    assert 0.9 < elapsed < 2.0


def test_stalled_body_hits_the_deadline(site: Server, make_fetcher: MakeFetcher) -> None:
    fetcher = make_fetcher(timeout=1.0)
    error, elapsed = fetch_error(fetcher, f"{site.base}/stall/")
    assert "timed out" in str(error)
    assert elapsed < 2.0


def test_result_is_frozen(site: Server, fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"{site.base}/echo/")
    assert isinstance(result, FetchResult)
    with pytest.raises(AttributeError):
        result.status = 500  # type: ignore[misc]


def test_context_manager_closes_the_session(site: Server) -> None:
    settings = FetchSettings(user_agent=USER_AGENT)
    with Fetcher(settings) as fetcher:
        assert fetcher.fetch(f"{site.base}/echo/").content == b"ok"


def test_basic_auth_goes_only_to_the_origin_it_was_meant_for(make_fetcher: MakeFetcher) -> None:
    seen: dict[str, str | None] = {}

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            port = self.server.server_address[1]
            seen[f"{port}{self.path}"] = self.headers.get("Authorization")
            if self.path == "/start":
                self.send_response(302)
                self.send_header(
                    "Location", f"http://127.0.0.1:{other.server_address[1]}/elsewhere"
                )
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    first, other = (
        ThreadingHTTPServer(("127.0.0.1", 0), Echo),
        ThreadingHTTPServer(("127.0.0.1", 0), Echo),
    )
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (first, other)]
    for t in threads:
        t.start()
    try:
        fetcher = make_fetcher()
        result = fetcher.fetch(
            f"http://127.0.0.1:{first.server_address[1]}/start", auth=("editor", "abcd efgh ijkl")
        )
        assert result.content == b"ok"
        sent = seen[f"{first.server_address[1]}/start"]
        assert sent is not None and sent.startswith("Basic ")
        assert seen[f"{other.server_address[1]}/elsewhere"] is None  # not leaked to another origin
    finally:
        for s in (first, other):
            s.shutdown()
            s.server_close()


def test_304s_reuse_one_keep_alive_connection(fetcher: Fetcher) -> None:
    """Polling over keep-alive: a 304 (even one repeating the representation's Content-Length,
    as HTTP allows) leaves its connection open for the next request."""
    ports: list[int] = []

    class NotModified(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            ports.append(self.client_address[1])
            self.send_response(304)
            self.send_header("ETag", ETAG)
            self.send_header("Content-Length", "5000")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotModified)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed/"
        results = [fetcher.fetch(url, etag=ETAG) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert [r.status for r in results] == [304, 304, 304]
    assert len(ports) == 3 and len(set(ports)) == 1
