"""Editors' URLs (``preview``, ``repost``, the web form and JSON API) fetch only the configured
sites, after redirects too. An "internal" server on another port of 127.0.0.1 stands for
everything else on the machine or its network: it must never receive a request.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.config import load_config
from bot.errors import BotError
from bot.pipeline import Pipeline
from bot.store import Store
from bot.web.app import create_app
from bot.web.users import Users
from tests.web.conftest import PASSWORD, sign_in

PAGE = (
    b"<html><head><title>A real story</title><meta property='og:title' content='A real story'>"
    b"</head><body><article><h1>A real story</h1><p>Text of the story.</p></article></body></html>"
)
INTERNAL_PAGE = b"<html><head><title>INTERNAL SECRET PAGE</title></head></html>"


@dataclass
class _Server:
    """A tiny HTTP server: ``redirects`` maps a path to a Location, everything else is PAGE."""

    body: bytes
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def internal() -> Iterator[_Server]:
    s = _Server(INTERNAL_PAGE)
    yield s
    s.close()


@pytest.fixture(scope="module")
def site(internal: _Server) -> Iterator[_Server]:
    s = _Server(PAGE)
    ip = internal.port
    s.redirects = {
        "/to-internal/": f"http://127.0.0.1:{ip}/admin",
        "/to-localhost/": f"http://localhost:{ip}/",
        "/to-metadata/": "http://169.254.169.254/latest/meta-data/",
        "/to-userinfo/": f"http://{s.host}@127.0.0.1:{ip}/",
        "/to-backslash/": f"http://127.0.0.1:{ip}\\@{s.host}/",
        "/to-decimal/": f"http://2130706433:{ip}/",
        "/to-file/": "file:///etc/passwd",
        "/to-gopher/": f"gopher://127.0.0.1:{ip}/_GET",
        "/to-relative/": "/story/",  # a redirect within the site is fine
    }
    yield s
    s.close()


@pytest.fixture
def config_path(tmp_path: Path, site: _Server) -> Path:
    data = {
        "store": f"sqlite:///{tmp_path / 'ledger.db'}",
        "state_dir": str(tmp_path / "state"),
        "fetch": {"timeout": "3s"},
        "sources": [{"id": "site", "feed": f"http://{site.host}/feed/"}],
        "accounts": [{"id": "dry-run", "platform": "console"}],
        "routes": [{"from": ["site"], "to": ["dry-run"]}],
    }
    path = tmp_path / "syndbot.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def pipeline(config_path: Path) -> Iterator[Pipeline]:
    config = load_config(config_path)
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="test", rng=random.Random(1))
    yield p
    p.close()
    store.close()


def hostile_urls(site: _Server, internal: _Server) -> list[tuple[str, str]]:
    ip, s = internal.port, site.host
    return [
        ("other port", f"http://127.0.0.1:{ip}/"),
        ("localhost", f"http://localhost:{ip}/"),
        ("cloud metadata", "http://169.254.169.254/latest/meta-data/"),
        ("ipv6 loopback", f"http://[::1]:{ip}/"),
        ("0.0.0.0", f"http://0.0.0.0:{ip}/"),
        ("decimal ip", f"http://2130706433:{ip}/"),
        ("octal ip", f"http://0177.0.0.1:{ip}/"),
        ("hex ip", f"http://0x7f000001:{ip}/"),
        ("ipv6-mapped ipv4", f"http://[::ffff:127.0.0.1]:{ip}/"),
        ("userinfo", f"http://{s}@127.0.0.1:{ip}/"),
        ("backslash authority", f"http://127.0.0.1:{ip}\\@{s}/"),
        ("double backslash", f"http://127.0.0.1:{ip}\\\\@{s}/"),
        ("backslash userinfo", f"http://evil.invalid\\@{s}/story/"),
        ("fragment trick", f"http://127.0.0.1:{ip}#@{s}/"),
        ("query trick", f"http://127.0.0.1:{ip}?@{s}/"),
        ("tab in host", f"http://127.0.0.1:{ip}\t/"),
        ("unknown name", f"http://internal.invalid:{ip}/"),
        ("file", "file:///etc/passwd"),
        ("gopher", f"gopher://127.0.0.1:{ip}/_GET"),
        ("ftp", f"ftp://127.0.0.1:{ip}/"),
        ("redirect to internal", f"http://{s}/to-internal/"),
        ("redirect to localhost", f"http://{s}/to-localhost/"),
        ("redirect to metadata", f"http://{s}/to-metadata/"),
        ("redirect with userinfo", f"http://{s}/to-userinfo/"),
        ("redirect with backslash", f"http://{s}/to-backslash/"),
        ("redirect to decimal ip", f"http://{s}/to-decimal/"),
        ("redirect to file", f"http://{s}/to-file/"),
        ("redirect to gopher", f"http://{s}/to-gopher/"),
    ]


_NAMES = [
    "other port", "localhost", "cloud metadata", "ipv6 loopback", "0.0.0.0", "decimal ip",
    "octal ip", "hex ip", "ipv6-mapped ipv4", "userinfo", "backslash authority",
    "double backslash", "backslash userinfo", "fragment trick", "query trick", "tab in host",
    "unknown name", "file", "gopher", "ftp", "redirect to internal", "redirect to localhost",
    "redirect to metadata", "redirect with userinfo", "redirect with backslash",
    "redirect to decimal ip", "redirect to file", "redirect to gopher",
]  # fmt: skip
REFUSALS = (
    "is not on a configured site",
    "not a web address",
    "is not allowed",
    "its host is ambiguous",
    "only http and https URLs can be fetched",
)


def test_every_hostile_url_is_tried(site: _Server, internal: _Server) -> None:
    assert [name for name, _ in hostile_urls(site, internal)] == _NAMES


@pytest.mark.parametrize("name", _NAMES)
def test_preview_and_repost_refuse_urls_outside_the_configured_sites(
    name: str, pipeline: Pipeline, site: _Server, internal: _Server
) -> None:
    url = dict(hostile_urls(site, internal))[name]
    before = len(internal.requests)
    with pytest.raises(BotError) as refused:
        pipeline.preview(url)
    assert any(r in str(refused.value) for r in REFUSALS), str(refused.value)
    with pytest.raises(BotError):
        pipeline.repost(url, ["dry-run"])
    assert internal.requests[before:] == []
    assert pipeline.store.list_deliveries(limit=10) == []


def test_the_configured_site_still_works_and_may_redirect_within_itself(
    pipeline: Pipeline, site: _Server, internal: _Server
) -> None:
    assert pipeline.preview(f"http://{site.host}/story/").article.title == "A real story"
    assert pipeline.preview(f"http://{site.host}/to-relative/").article.title == "A real story"
    assert internal.requests == []


def test_the_cli_refuses_with_a_clear_message(
    config_path: Path, site: _Server, internal: _Server
) -> None:
    runner = CliRunner()
    before = len(internal.requests)
    for url in (
        f"http://127.0.0.1:{internal.port}\\@{site.host}/",
        f"http://{site.host}/to-metadata/",
    ):
        for command in (["preview", url], ["repost", url, "--to", "dry-run", "--yes"]):
            result = runner.invoke(cli, [*command, "--config", str(config_path)])
            assert result.exit_code != 0
            assert "INTERNAL SECRET" not in result.output
            assert any(r in result.output for r in REFUSALS), result.output
    assert internal.requests[before:] == []


def test_the_web_api_and_form_refuse_too(
    pipeline: Pipeline, site: _Server, internal: _Server
) -> None:
    users = Users(pipeline.store)
    users.add("maria", PASSWORD, "editor", actor="test")
    token = users.new_token("maria", label="button", actor="test")[1]
    client = create_app(pipeline).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    before = len(internal.requests)
    for url in (
        f"http://127.0.0.1:{internal.port}\\@{site.host}/",
        f"http://{site.host}/to-internal/",
        f"http://[::ffff:127.0.0.1]:{internal.port}/",
    ):
        answer = client.get("/api/v1/preview", query_string={"url": url}, headers=auth)
        assert answer.status_code in (400, 422, 502), answer.text
        assert "INTERNAL SECRET" not in answer.text
        answer = client.post(
            "/api/v1/repost", json={"url": url, "accounts": ["dry-run"]}, headers=auth
        )
        assert answer.status_code in (400, 422, 502), answer.text
        assert any(r in answer.text for r in REFUSALS), answer.text
    # The editors' repost form: its preview step fetches the URL.
    sign_in(client)
    for url in (f"http://{site.host}/to-metadata/", f"http://127.0.0.1:{internal.port}/"):
        page = client.get("/repost", query_string={"url": url})
        assert page.status_code in (200, 400, 422), page.text
        assert "INTERNAL SECRET" not in page.text
        assert "not allowed" in page.text or "not on a configured site" in page.text
    assert internal.requests[before:] == []
    assert pipeline.store.list_deliveries(limit=10) == []


# --- URLs from pages and feeds: images ----------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "http://127.0.0.1:{ip}/image.jpg",
        "http://localhost:{ip}/image.jpg",
        "http://[::1]:{ip}/image.jpg",
        "http://2130706433:{ip}/image.jpg",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.1/image.jpg",
        "http://{site}/to-internal/",
    ],
)
def test_an_image_named_by_a_page_cannot_reach_internal_addresses(
    where: str, pipeline: Pipeline, site: _Server, internal: _Server
) -> None:
    url = where.format(ip=internal.port, site=site.host)
    before = len(internal.requests)
    with pytest.raises(BotError, match=r"non-public address|is not allowed"):
        pipeline.context.load_image(url)
    assert internal.requests[before:] == []


def test_images_on_the_configured_site_still_load(pipeline: Pipeline, site: _Server) -> None:
    assert pipeline.context.load_image(f"http://{site.host}/uploads/photo.jpg") == PAGE


def test_a_feed_linking_to_an_internal_address_does_not_make_syndbot_fetch_it(
    tmp_path: Path, internal: _Server, caplog: pytest.LogCaptureFixture
) -> None:
    ip = internal.port
    links = [f"http://127.0.0.1:{ip}/admin", "http://169.254.169.254/latest/", "http://[::1]/x"]
    feed = _Server(
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
            + "".join(
                f"<item><title>Story {n}</title><link>{link}</link></item>"
                for n, link in enumerate(links)
            )
            + "</channel></rss>"
        ).encode()
    )
    data = {
        "store": f"sqlite:///{tmp_path / 'ledger.db'}",
        "fetch": {"timeout": "3s"},
        "sources": [{"id": "feed", "feed": f"http://{feed.host}/feed/", "first_run": "latest:9"}],
        "accounts": [{"id": "dry-run", "platform": "console"}],
        "routes": [{"from": ["feed"], "to": ["dry-run"]}],
    }
    path = tmp_path / "syndbot.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="test", rng=random.Random(1))
    before = len(internal.requests)
    try:
        with caplog.at_level(logging.WARNING, logger="bot"):
            p.poll(config.sources[0])
            assert p.process_new() == 3
            p.recheck_unpublished()
    finally:
        p.close()
        store.close()
        feed.close()
    assert internal.requests[before:] == []
    assert caplog.text.count("non-public address") == 3  # the page was not read: feed fields


def test_the_guard_of_these_tests_keeps_traffic_on_loopback(internal: _Server) -> None:
    """tests/hostile/conftest.py: a regression cannot send a packet off the machine."""
    import socket

    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="test guard"):
        s.connect(("169.254.169.254", 80))
    with socket.create_connection(("127.0.0.1", internal.port), timeout=3):
        pass  # loopback still works
