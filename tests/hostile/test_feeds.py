"""Hostile feeds: a corpus of broken, mis-encoded and malicious feeds (tests/fixtures/hostile/),
a generator of random feeds, and the whole way through: parse -> identity -> ledger -> compose.

What must hold whatever the feed: the poll never crashes (a feed that is not one is a clear
``ParseError``), each good entry is recorded exactly once (within a feed and across polls),
entries that cannot be posted are skipped with a logged reason, and titles are plain text.
"""

from __future__ import annotations

import html
import logging
import random
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import identity
from bot.config import AccountConfig, load_config
from bot.errors import ParseError
from bot.feeds import parse_feed
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.publishers import spec_for
from bot.scraper import article_from_item
from bot.store import Store
from bot.summarizer import compose
from bot.textlen import length

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"
FEED_URL = "https://news.example/feed/"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TAG_RE = re.compile(r"<[A-Za-z/!?]")  # anything that could open markup (in posts)
ELEMENT_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")  # a whole tag (in titles)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# file -> the titles that must come out, in feed order (None: not a feed, ParseError)
EXPECTED: dict[str, list[str] | None] = {
    "truncated.xml": ["First story"],
    "unclosed-tags.xml": ["Unclosed bold", "After it"],
    "invalid-chars.xml": ["Bell and NUL and escape inside", "Fine"],
    "bom.xml": ["After a BOM"],
    "latin1-declared-utf8.xml": ["Café crème brûlée"],
    "utf8-declared-latin1.xml": ["Café crème brûlée"],
    "cp1252-smart-quotes.xml": ["“Smart” quotes — it’s €5"],
    "cp1252-undeclared.xml": ["“Smart” quotes — it’s €5"],
    "no-guid-link-date.xml": ["Opaque GUID, no link", "", "Complete"],
    "duplicate-guids.xml": ["Twin one", "Same link A", "Other"],
    "future-dates.xml": ["Year 9999", "Next year", "No time zone", "Garbage date", "Year 99999"],
    "html-in-titles.xml": [
        "Script escaped once",
        "CDATA bold & more",
        "Double escaped & entity",
        "L’ONU & Haïti",
        "Image handler",
        "Styled",
    ],
    "atom-bad-ports.xml": ["Bad port", "Non-numeric port", "Javascript link", "Good entry"],
    "json-hostile.json": ["JSON & title", "Number id"],
    # DTD entities are never expanded: no file is read, no exponential blow-up.
    "xxe.xml": ["X &xxe; Y"],
    "billion-laughs.xml": ["Laughs &i;"],
    "json-deep.json": None,  # nested past Python's recursion limit
    "not-a-feed.html": None,
    "empty.xml": None,
    "garbage.bin": None,
}
# file -> how many entries of it can become posts (a title and an http(s) link)
POSTABLE = {
    "truncated.xml": 1,
    "unclosed-tags.xml": 2,
    "invalid-chars.xml": 2,
    "bom.xml": 1,
    "latin1-declared-utf8.xml": 1,
    "utf8-declared-latin1.xml": 1,
    "cp1252-smart-quotes.xml": 1,
    "cp1252-undeclared.xml": 1,
    "no-guid-link-date.xml": 1,
    "duplicate-guids.xml": 3,
    "future-dates.xml": 5,
    "html-in-titles.xml": 6,
    "atom-bad-ports.xml": 1,
    "json-hostile.json": 2,
    "xxe.xml": 1,
    "billion-laughs.xml": 1,
}
# The HTTP charset header may disagree with the XML declaration: the bytes must still win
# where they are unambiguous (a BOM, valid UTF-8).
CONTENT_TYPES = [None, "application/rss+xml; charset=UTF-8", "text/xml; charset=ISO-8859-1"]


def test_the_corpus_is_complete() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_feed_parses_to_plain_titles(name: str, content_type: str | None) -> None:
    data = (CORPUS / name).read_bytes()
    expected = EXPECTED[name]
    if expected is None:
        with pytest.raises(ParseError, match="not a feed"):
            parse_feed(data, source_id="s", url=FEED_URL, content_type=content_type)
        return
    feed = parse_feed(data, source_id="s", url=FEED_URL, content_type=content_type)
    assert [i.title for i in feed.items] == expected
    for item in feed.items:
        assert not TAG_RE.search(item.title) and "alert" not in item.title
        assert html.unescape(item.title) == item.title
        assert not CONTROL_RE.search(item.title + item.summary)
        assert item.link is None or identity.is_http_url(item.link)
        identity.item_keys(item)  # never raises: every kept URL is a valid one


def test_dates_far_in_the_future_or_without_zone_are_kept_or_dropped_never_fatal() -> None:
    feed = parse_feed((CORPUS / "future-dates.xml").read_bytes(), source_id="s", url=FEED_URL)
    published = {i.title: i.published for i in feed.items}
    assert published["Year 9999"] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert published["Next year"] == datetime(2027, 11, 29, 10, 0, tzinfo=UTC)
    assert published["Garbage date"] is None and published["Year 99999"] is None
    assert all(p is None or p.tzinfo is UTC for p in published.values())


# --- end to end: the real pipeline polling a local server ---------------------------------------


class _FeedServer:
    """Serves one body at /feed/ with the Content-Type given; counts requests."""

    def __init__(self) -> None:
        self.body = b""
        self.page: bytes | None = None  # served at every other path (article pages)
        self.content_type = "application/rss+xml"
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests += 1
                body, kind = fake.body, fake.content_type
                if self.path != "/feed/":
                    if fake.page is None:
                        self.send_error(404)
                        return
                    body, kind = fake.page, "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server() -> Iterator[_FeedServer]:
    with _FeedServer() as s:
        yield s


def _pipeline(tmp_path: Path, feed_url: str, *, scrape: bool = False) -> Pipeline:
    data = {
        "store": f"sqlite:///{tmp_path / 'ledger.db'}",
        "fetch": {"timeout": "5s"},
        "sources": [{"id": "s", "feed": feed_url, "first_run": "latest:10000", "scrape": scrape}],
        "accounts": [
            {"id": "c-x", "platform": "console"},
            {"id": "c-bsky", "platform": "console", "options": {"like": "bluesky"}},
        ],
        "routes": [{"from": ["s"], "to": ["c-x", "c-bsky"]}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    store = Store(config.store)
    store.migrate()
    return Pipeline(config, store, owner="test", rng=random.Random(1))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_feed_through_the_pipeline_posts_each_good_entry_once(
    name: str, tmp_path: Path, feed_server: _FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    feed_server.body = (CORPUS / name).read_bytes()
    feed_server.content_type = "text/xml; charset=ISO-8859-1"  # a lying header
    p = _pipeline(tmp_path, feed_server.url)
    source = p.config.sources[0]
    with caplog.at_level(logging.INFO, logger="bot"):
        first = p.poll(source)
        p.process_new()
        second = p.poll(source)  # the same feed again: nothing is new
        p.process_new()
    if EXPECTED[name] is None:
        assert first.status == "error" and second.status == "skipped"  # backing off
        assert "not a feed" in (first.error or "")
        p.close()
        return
    assert first.status == "200" and second.status == "200" and second.new == 0
    deliveries = p.store.list_deliveries(limit=1000)
    assert {d.state for d in deliveries} <= {DeliveryState.QUEUED}
    by_account: dict[str, list[str]] = {}
    for d in deliveries:
        by_account.setdefault(d.account_id, []).append(d.url)
    for urls in by_account.values():
        assert len(urls) == len(set(urls)) == POSTABLE[name]
    assert p.store.articles_in_state("new", limit=10) == []  # nothing stuck
    for d in deliveries:
        assert d.url in d.text and not TAG_RE.search(d.text)
    not_posted = len(EXPECTED[name] or []) - POSTABLE[name]
    assert caplog.text.count("not posted:") == not_posted
    p.close()


def test_skipped_entries_are_logged_with_the_reason(
    tmp_path: Path, feed_server: _FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    feed_server.body = (CORPUS / "no-guid-link-date.xml").read_bytes()
    p = _pipeline(tmp_path, feed_server.url)
    with caplog.at_level(logging.INFO, logger="bot"):
        p.poll(p.config.sources[0])
        p.process_new()
    assert "1 feed entries skipped (no GUID and no link" in caplog.text
    assert "not posted: the feed entry has no http(s) link to post" in caplog.text
    assert "not posted: feed item 'https://news.example/no-title' has no title" in caplog.text
    assert sorted(a.note or "" for a in p.store.recent_articles() if a.state == "seen") == [
        "not posted: feed item 'https://news.example/no-title' has no title",
        "not posted: the feed entry has no http(s) link to post",
    ]
    p.close()


def test_five_thousand_entries_are_parsed_and_recorded_once(
    tmp_path: Path, feed_server: _FeedServer
) -> None:
    items = "".join(
        f"<item><title>Story {n}</title><link>https://news.example/{n}/</link>"
        f"<guid>https://news.example/?p={n}</guid></item>"
        for n in range(5000)
    )
    feed_server.body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"{items}</channel></rss>"
    ).encode()
    p = _pipeline(tmp_path, feed_server.url)
    source = p.config.sources[0]
    assert p.poll(source).new == 5000
    again = p.poll(source)
    assert again.status == "200" and again.new == 0 and again.items == 5000
    p.close()


# --- generated feeds ----------------------------------------------------------------------------

# A wide alphabet: every plane's letters, marks, symbols, controls, surrogates, private use,
# plus the markup and escapes feeds get wrong.
_CHARS = st.characters(codec=None, exclude_categories=())
_PIECES = st.sampled_from(
    [
        "<script>alert(1)</script>", "&lt;b&gt;", "&amp;lt;i&amp;gt;", "&amp;", "&#8217;", "<b>",
        "]]>", "<![CDATA[", "\u200d", "\u200b", "\ufeff", "\u202e", "👨‍👩‍👧", "🇭🇹", "e\u0301",
        "日本語", "مرحبا", "שָׁלוֹם", "x" * 300, "\x00", "\x1b", "\r\n",
    ]
)  # fmt: skip
_TITLES = st.lists(st.one_of(_PIECES, st.text(_CHARS, max_size=20)), max_size=8).map("".join)


_DATES = [
    None,
    "Sun, 29 Nov 2026 10:00:00 +0000",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sat, 01 Jan 2000 00:00:00",
    "not a date",
]


@st.composite
def _entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 12))
    out: list[dict[str, Any]] = []
    for i in range(n):
        slug = draw(st.sampled_from([f"story-{i}", f"story-{max(i - 1, 0)}", "shared"]))
        out.append(
            {
                "title": draw(st.one_of(st.none(), _TITLES)),
                "link": draw(st.sampled_from([None, f"/{slug}/", f"https://HOST/{slug}/"])),
                "guid": draw(
                    st.sampled_from([None, f"https://HOST/?p={i % 5 + 1}", f"tag:HOST:{i % 7}"])
                ),
                "date": draw(st.sampled_from(_DATES)),
            }
        )
    return out


def _xml_text(text: str) -> str:
    """``text`` escaped for XML; characters XML 1.0 forbids are written as they are (the
    parser must survive them)."""
    return escape(text)


def _render(entries: list[dict[str, Any]], host: str, kind: str) -> bytes:
    def sub(v: str | None) -> str | None:
        return v.replace("HOST", host) if v else v

    if kind == "json":
        import json

        items = [
            {
                k: v
                for k, v in (
                    ("id", sub(e["guid"])),
                    ("url", sub(e["link"])),
                    ("title", e["title"]),
                    ("date_published", e["date"]),
                )
                if v is not None
            }
            for e in entries
        ]
        doc = {"version": "https://jsonfeed.org/version/1.1", "title": "G", "items": items}
        return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")
    parts = []
    for e in entries:
        fields = []
        if e["title"] is not None:
            fields.append(f"<title>{_xml_text(e['title'])}</title>")
        if kind == "rss":
            if e["link"]:
                fields.append(f"<link>{_xml_text(sub(e['link']) or '')}</link>")
            if e["guid"]:
                fields.append(f"<guid>{_xml_text(sub(e['guid']) or '')}</guid>")
            if e["date"]:
                fields.append(f"<pubDate>{e['date']}</pubDate>")
            parts.append("<item>" + "".join(fields) + "</item>")
        else:
            if e["link"]:
                fields.append(f'<link href="{_xml_text(sub(e["link"]) or "")}"/>')
            if e["guid"]:
                fields.append(f"<id>{_xml_text(sub(e['guid']) or '')}</id>")
            parts.append("<entry>" + "".join(fields) + "</entry>")
    body = "".join(parts)
    if kind == "rss":
        doc = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>G</title>{body}</channel></rss>'
    else:
        doc = f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>G</title>{body}</feed>'
    return doc.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'ledger.db'}")
    store.migrate()
    yield store
    store.close()


_ACCOUNTS = [
    AccountConfig(id="c-x", platform="console"),
    AccountConfig(id="c-bsky", platform="console", options={"like": "bluesky"}),
    AccountConfig(id="c-mastodon", platform="console", options={"like": "mastodon"}),
]
_counter = iter(range(10**9))


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(entries=_entries(), kind=st.sampled_from(["rss", "atom", "json"]))
def test_any_generated_feed_is_recorded_once_and_composes_clean_posts(
    shared_store: Store, entries: list[dict[str, Any]], kind: str
) -> None:
    n = next(_counter)
    host = f"s{n}.example"
    source = f"g{n}"
    data = _render(entries, host, kind)
    try:
        feed = parse_feed(data, source_id=source, url=f"https://{host}/feed/")
    except ParseError as e:
        refused = str(e)
    else:
        refused = ""
    if refused:
        assert refused.startswith("not a feed")  # a clear refusal, never a crash
        return
    # Within one feed no two items share an identity.
    keyed = [(item, keys) for item in feed.items if (keys := identity.item_keys(item))]
    assert len(keyed) == len(feed.items)
    assert len(feed.items) + feed.skipped == len(entries) or kind != "json"
    new = shared_store.record_items(source, keyed, now=T0)
    assert shared_store.record_items(source, keyed, now=T0) == []  # second poll: nothing new
    titles = [shared_store.get_article(i).title for i in new]  # type: ignore[union-attr]
    assert len(new) <= len(keyed)
    for item in feed.items:
        assert not ELEMENT_RE.search(item.title)
        assert "<script" not in item.title.lower() and "alert(1)" not in item.title
        assert not CONTROL_RE.search(item.title)
        assert all(not ("\ud800" <= ch <= "\udfff") for ch in item.title)
    assert all(isinstance(t, str) for t in titles)
    for item, _ in keyed:
        try:
            article = article_from_item(item)
        except ParseError:
            continue  # no visible title: skipped with a logged reason (see above)
            continue
        if not article.url:
            continue  # not postable: the pipeline skips it with a logged reason
        for account in _ACCOUNTS:
            spec = spec_for(account)
            post = compose(article, account, spec)
            assert length(post.text, spec.counting) <= spec.max_length
            assert article.url in post.text
            assert not TAG_RE.search(post.text)


def test_a_page_that_breaks_the_scraper_does_not_stall_the_queue(
    tmp_path: Path,
    feed_server: _FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A scraper bug on a page (simulated: the page parser raises) falls back to the feed's
    fields, and the articles after it are processed too."""
    import bot.pipeline

    base = feed_server.url.removesuffix("/feed/")
    feed_server.body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        + "".join(
            f"<item><title>Story {n}</title><link>{base}/story-{n}/</link></item>" for n in range(3)
        )
        + "</channel></rss>"
    ).encode()
    feed_server.page = b"<html><head><title>A page</title></head><body><p>x</p></body></html>"
    p = _pipeline(tmp_path, feed_server.url, scrape=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(bot.pipeline, "parse_article", broken)
    p.poll(p.config.sources[0])
    with caplog.at_level(logging.ERROR, logger="bot"):
        assert p.process_new() == 3
    assert caplog.text.count("reading the page failed; using the feed's fields") == 3
    texts = sorted(d.text for d in p.store.list_deliveries(account_id="c-x", limit=100))
    assert texts == [f"Story {n} {base}/story-{n}/" for n in range(3)]
    p.close()


_UNDECLARED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
    "<title>Café crème “quoted”</title><link>https://news.example/a</link>"
    "</item></channel></rss>"
)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/xml",  # RFC 3023 would say us-ascii
        "text/xml; charset=ISO-8859-1",
        "application/rss+xml; charset=UTF-8",
        "text/xml; charset=windows-1252",
        "application/xml; charset=us-ascii",
    ],
)
def test_the_bytes_win_over_a_wrong_or_missing_charset(
    encoding: str, content_type: str | None
) -> None:
    data = _UNDECLARED.encode(encoding)
    feed = parse_feed(data, source_id="s", url=FEED_URL, content_type=content_type)
    assert [i.title for i in feed.items] == ["Café crème “quoted”"]
