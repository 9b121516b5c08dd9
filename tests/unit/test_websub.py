"""WebSub (bot.websub): signatures, hub discovery, and how the callback answers the hub."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.errors import ConfigError
from bot.fetcher import Fetcher, FetchResult
from bot.store import SCHEMA_VERSION, Store, WebSubRow
from bot.websub import (
    ACTIVE,
    DENIED,
    REQUESTED,
    Discovery,
    WebSub,
    discover,
    sign,
    signature_problem,
)

SECRET = "a-shared-secret-0123456789"
BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'

# --- signatures --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512"])
def test_every_registered_algorithm_is_checked(algorithm: str) -> None:
    digest = hmac.new(SECRET.encode(), BODY, getattr(hashlib, algorithm)).hexdigest()
    assert signature_problem(f"{algorithm}={digest}", BODY, SECRET) is None
    assert signature_problem(f"{algorithm}={digest.upper()}", BODY, SECRET) is None
    assert sign(BODY, SECRET, algorithm) == f"{algorithm}={digest}"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "no X-Hub-Signature header"),
        ("", "no X-Hub-Signature header"),
        ("md5=0123", "unknown signature method 'md5'"),
        ("sha256", "unknown signature method 'sha256'"),
        ("sha256=" + "0" * 64, "sha256 signature does not match"),
    ],
)
def test_a_missing_unknown_or_wrong_signature_is_refused_with_the_reason(
    header: str | None, why: str
) -> None:
    assert signature_problem(header, BODY, SECRET) == why


def test_a_signature_of_another_body_or_with_another_secret_does_not_match() -> None:
    good = sign(BODY, SECRET)
    assert signature_problem(good, BODY + b" ", SECRET) == "sha256 signature does not match"
    assert signature_problem(good, BODY, SECRET + "x") == "sha256 signature does not match"


# --- discovery ---------------------------------------------------------------------------


def fetched(
    content: bytes,
    *,
    link: str | None = None,
    url: str = "https://news.example/feed/",
    content_type: str = "application/rss+xml; charset=UTF-8",
) -> FetchResult:
    return FetchResult(url, url, 200, content, None, None, content_type, link=link)


RSS_WITH_HUB = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>News</title>
<atom:link href="https://news.example/feed/" rel="self" type="application/rss+xml" />
<atom:link rel="hub" href="https://hub.example/" />
<item><title>t</title><atom:link rel="hub" href="https://evil.example/" /></item>
</channel></rss>"""


def test_rss_with_atom_links_gives_hub_and_self_but_not_links_inside_items() -> None:
    assert discover(fetched(RSS_WITH_HUB)) == Discovery(
        ("https://hub.example/",), "https://news.example/feed/"
    )


def test_atom_feed_links_relative_urls_resolved() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">
    <link rel="hub" href="/hub"/><link rel="self" href="/feed/atom/"/>
    <link rel="alternate" href="/"/></feed>"""
    result = fetched(atom, url="https://news.example/feed/atom/")
    assert discover(result) == Discovery(
        ("https://news.example/hub",), "https://news.example/feed/atom/"
    )


def test_link_headers_come_first() -> None:
    link = '<https://hub.one/>; rel="hub", <https://hub.two/>; rel="hub", <https://news.example/feed/?x=1>; rel="self"'
    assert discover(fetched(RSS_WITH_HUB, link=link)) == Discovery(
        ("https://hub.one/", "https://hub.two/"), "https://news.example/feed/?x=1"
    )


def test_a_link_header_without_hub_leaves_the_hub_to_the_document() -> None:
    link = '<https://news.example/wp-json/>; rel="https://api.w.org/"'
    assert discover(fetched(RSS_WITH_HUB, link=link)).hubs == ("https://hub.example/",)


def test_json_feed_hubs_and_feed_url() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "feed_url": "https://news.example/feed/json/",
        "hubs": [
            {"type": "rssCloud", "url": "https://cloud.example/"},
            {"type": "WebSub", "url": "https://hub.example/"},
        ],
        "items": [],
    }
    result = fetched(json.dumps(feed).encode(), content_type="application/feed+json")
    assert discover(result) == Discovery(
        ("https://hub.example/",), "https://news.example/feed/json/"
    )


def test_no_hub_and_no_self_topic_is_the_url_fetched() -> None:
    plain = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    assert discover(fetched(plain)) == Discovery((), "https://news.example/feed/")
    assert discover(fetched(b"not xml at all <")) == Discovery((), "https://news.example/feed/")


def test_the_sample_wordpress_site_with_the_websub_plugin_is_discovered() -> None:
    """WordPress core's rel=self drops the port; the plugin's Link header keeps it."""
    from bot.demo.site import SampleSite

    with SampleSite.bundled(hub="http://127.0.0.1:9/hub") as site:
        site.ping_hub = False
        with Fetcher(parse_config("sources: []", {}).fetch) as fetcher:
            result = fetcher.fetch(site.feed_url)
            category = fetcher.fetch(site.url + "/category/haiti/feed/")
    assert discover(result) == Discovery(("http://127.0.0.1:9/hub",), site.feed_url)
    # Without the headers, the body alone still gives the right topic (the self link equal to
    # the URL fetched), not core's port-less one.
    body_only = FetchResult(site.feed_url, site.feed_url, 200, result.content, None, None, None)
    assert discover(body_only) == Discovery(("http://127.0.0.1:9/hub",), site.feed_url)
    # Archive feeds carry no discovery (the plugin shows it on the main feeds only).
    assert discover(category).hubs == ()


# --- config ------------------------------------------------------------------------------


def config_text(extra: str = "", source: str = "") -> str:
    return f"""\
websub:
  callback_url: https://bot.example.org/websub
  lease_seconds: 5d
{extra}
sources:
  - id: ctn
    feed: https://news.example/feed/
{source}
"""


def test_websub_config_defaults_and_source_switch() -> None:
    config = parse_config(config_text(), {})
    assert config.websub is not None
    assert (config.websub.host, config.websub.port) == ("127.0.0.1", 9301)
    assert config.websub.lease_seconds == 5 * 86400
    assert config.source("ctn").websub == "auto"
    for value, mode in (("off", "off"), ("false", "off"), ("true", "auto"), ("auto", "auto")):
        cfg = parse_config(config_text(source=f"    websub: {value}"), {})
        assert cfg.source("ctn").websub == mode
    assert parse_config("sources: []", {}).websub is None


def test_websub_config_mistakes_are_named() -> None:
    with pytest.raises(ConfigError, match=r"websub\.calback_url: unknown key"):
        parse_config(config_text("  calback_url: x"), {})
    with pytest.raises(ConfigError, match=r"sources\[0\]\.websub"):
        parse_config(config_text(source="    websub: sometimes"), {})
    with pytest.raises(ConfigError, match=r"websub\.secret: must be 8 to 199 bytes"):
        parse_config(config_text("  secret: short"), {})


def test_the_websub_secret_is_redacted_like_other_secrets() -> None:
    config = parse_config(config_text("  secret: ${WS_SECRET}"), {"WS_SECRET": "s3cret-value-42"})
    assert "s3cret-value-42" in config.secret_values()


# --- the callback: verification and pushes -------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def config() -> Config:
    return parse_config(config_text(), {})


def subscriber(config: Config, store: Store, clock: Clock, pushes: list[str]) -> WebSub:
    return WebSub(config, store, Fetcher(config.fetch), clock=clock, on_push=pushes.append)


TOKEN = "tok_" + "A" * 28
TOPIC = "https://news.example/feed/"


def pending_row(store: Store, clock: Clock, **kw: Any) -> WebSubRow:
    row = WebSubRow(
        source_id="ctn",
        token=TOKEN,
        hub="https://hub.example/",
        topic=TOPIC,
        state=kw.pop("state", REQUESTED),
        secret=SECRET,
        pending=kw.pop("pending", "subscribe"),
        **kw,
    )
    store.websub_save(row, now=clock())
    return row


def q(**params: str) -> dict[str, list[str]]:
    return {k.replace("_", ".", 1): [v] for k, v in params.items()}


def test_the_challenge_is_echoed_for_the_pending_subscription_and_the_lease_kept(
    config: Config, store: Store
) -> None:
    clock = Clock()
    pending_row(store, clock)
    ws = subscriber(config, store, clock, [])
    answer = ws.verify(
        TOKEN,
        q(hub_mode="subscribe", hub_topic=TOPIC, hub_challenge="c-123", hub_lease_seconds="1000"),
    )
    assert (answer.status, answer.body) == (200, b"c-123")
    row = store.websub_row(source_id="ctn")
    assert row is not None
    assert (row.state, row.pending, row.lease_seconds) == (ACTIVE, None, 1000)
    assert row.expires_at == clock.now + timedelta(seconds=1000)
    assert row.next_action_at == clock.now + timedelta(seconds=800)  # renewal at 80 %
    # The same challenge again: nothing is pending any more.
    again = ws.verify(TOKEN, q(hub_mode="subscribe", hub_topic=TOPIC, hub_challenge="c-124"))
    assert again.status == 404


@pytest.mark.parametrize(
    ("token", "params"),
    [
        ("tok_" + "B" * 28, {"hub_mode": "subscribe", "hub_topic": TOPIC, "hub_challenge": "c"}),
        ("../etc", {"hub_mode": "subscribe", "hub_topic": TOPIC, "hub_challenge": "c"}),
        (TOKEN, {"hub_mode": "subscribe", "hub_topic": TOPIC + "x", "hub_challenge": "c"}),
        (TOKEN, {"hub_mode": "unsubscribe", "hub_topic": TOPIC, "hub_challenge": "c"}),
        (TOKEN, {"hub_mode": "subscribe", "hub_topic": TOPIC}),
        (TOKEN, {"hub_mode": "publish", "hub_topic": TOPIC, "hub_challenge": "c"}),
    ],
    ids=["unknown-token", "bad-token", "other-topic", "mode-not-asked", "no-challenge", "bad-mode"],
)
def test_a_verification_we_did_not_ask_for_gets_404_and_changes_nothing(
    config: Config, store: Store, token: str, params: dict[str, str]
) -> None:
    clock = Clock()
    before = pending_row(store, clock)
    ws = subscriber(config, store, clock, [])
    assert ws.verify(token, q(**params)).status == 404
    after = store.websub_row(source_id="ctn")
    assert after is not None
    assert (after.state, after.pending) == (before.state, before.pending)


def test_a_denial_stops_the_subscription(config: Config, store: Store) -> None:
    clock = Clock()
    pending_row(store, clock)
    ws = subscriber(config, store, clock, [])
    answer = ws.verify(TOKEN, q(hub_mode="denied", hub_topic=TOPIC, hub_reason="quota\nexceeded"))
    assert answer.status == 200
    row = store.websub_row(source_id="ctn")
    assert row is not None
    assert (row.state, row.next_action_at, row.last_error) == (
        DENIED,
        None,
        "denied: quota exceeded",
    )
    # A push on a denied subscription is refused with 410 (the hub may drop it).
    assert ws.push(TOKEN, BODY, sign(BODY, SECRET)).status == 410


def test_only_an_authentic_push_polls_the_source(config: Config, store: Store) -> None:
    clock = Clock()
    pending_row(store, clock, state=ACTIVE, pending=None)
    pushes: list[str] = []
    ws = subscriber(config, store, clock, pushes)
    assert ws.push(TOKEN, BODY, None).status == 202
    assert ws.push(TOKEN, BODY, "sha256=" + "0" * 64).status == 202
    assert ws.push(TOKEN, BODY, sign(BODY, "another-secret-123")).status == 202
    assert pushes == []  # acknowledged (WebSub §7.1.2) but ignored
    assert ws.push(TOKEN, BODY, sign(BODY, SECRET, "sha1")).status == 202
    assert pushes == ["ctn"]
    assert ws.push("tok_" + "C" * 28, BODY, sign(BODY, SECRET)).status == 404
    assert pushes == ["ctn"]


def test_a_version_7_ledger_gets_the_subscription_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v7.db'}"
    s = Store(url)
    s.migrate()
    with s.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE websub_subscriptions")
        conn.exec_driver_sql("DELETE FROM schema_version")
        conn.exec_driver_sql(
            "INSERT INTO schema_version (version, applied_at) VALUES (7, '2026-01-01 00:00:00')"
        )
    s.close()
    upgraded = Store(url)
    assert upgraded.migrate() == SCHEMA_VERSION == 8
    clock = Clock()
    pending_row(upgraded, clock)
    row = upgraded.websub_row(token=TOKEN)
    assert row is not None and (row.source_id, row.secret) == ("ctn", SECRET)
    upgraded.close()


def test_check_config_says_which_sources_may_be_pushed(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    text = config_text() + (
        "  - id: quiet\n    feed: https://news.example/quiet/feed/\n    websub: off\n"
    )
    path = tmp_path / "syndbot.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "websub: callback https://bot.example.org/websub (listener 127.0.0.1:9301)" in result.output
    )
    assert "  push for: ctn (where the feed advertises a hub)" in result.output
