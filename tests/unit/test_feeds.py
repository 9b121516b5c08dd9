"""Feed parsing: real WordPress 6.1 output, JSON Feed, and the ways feeds go wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.feeds import ParsedFeed, parse_feed, plain_text
from bot.models import Image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wordpress-6.1"
SITE = "http://127.0.0.1:8080"
RUTO = f"{SITE}/2026/11/29/william-ruto-announces-the-end-of-the-kenyan-troops-mission-in-haiti/"
RUTO_TITLE = "William Ruto Announces the End of the Kenyan Troops\u2019 Mission in Haiti"
RSS_CT = "application/rss+xml; charset=UTF-8"


def _fixture(name: str, url: str = f"{SITE}/feed/") -> ParsedFeed:
    return parse_feed(
        (FIXTURES / name).read_bytes(), source_id="ctn-en", url=url, content_type=RSS_CT
    )


def _rss(items: str, *, channel: str = "", ct: str | None = "application/rss+xml") -> ParsedFeed:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>Site</title><link>https://ex.com/</link>{channel}{items}</channel></rss>"
    )
    return parse_feed(body.encode(), source_id="s", url="https://ex.com/feed/", content_type=ct)


# --- the WordPress fixtures -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["feed-rss2.xml", "feed-atom.xml"])
def test_wordpress_main_feed(name: str) -> None:
    feed = _fixture(name)
    assert feed.title == "Peer Test News"
    assert feed.link == SITE
    assert feed.language == "en"
    assert feed.skipped == 0
    assert [i.title for i in feed.items] == [
        RUTO_TITLE,
        "Another English story",
        "Both categories: English and Haiti",
        "Nouvèl Ayiti: premye atik",
        "Hello from the English desk",
        "Hello world!",
    ]
    ruto = feed.items[0]
    assert ruto.source_id == "ctn-en"
    assert ruto.guid == RUTO
    assert ruto.link == RUTO
    assert ruto.categories == ("English", "Haiti")
    assert ruto.authors == ("admin",)
    assert ruto.published == datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)
    assert ruto.language == "en"
    assert ruto.wp_post_id is None
    assert ruto.summary.startswith("The mandate of this force")
    assert ruto.summary.endswith("From the UN podium,…")
    assert "Continue reading" not in ruto.summary
    assert ruto.content_html is not None
    assert "<p>For several months" in ruto.content_html

    hello = feed.items[-1]
    assert hello.guid == f"{SITE}/?p=1"
    assert hello.link == f"{SITE}/2026/11/29/hello-world/"
    assert hello.wp_post_id == 1
    assert hello.categories == ("Uncategorized",)
    assert hello.published == datetime(2026, 11, 29, 12, 51, 18, tzinfo=UTC)

    # the only <img> in the Haitian post is a WordPress emoji: not an article image
    assert all(i.image is None for i in feed.items)


def test_wordpress_rss2_has_no_modified_date() -> None:
    feed = _fixture("feed-rss2.xml")
    assert all(i.updated is None for i in feed.items)
    assert feed.self_url == "http://127.0.0.1/feed/"  # WordPress drops the port: reported as is


def test_wordpress_atom_keeps_updated_and_published_apart() -> None:
    feed = _fixture("feed-atom.xml", url=f"{SITE}/feed/atom/")
    hello = feed.items[-1]
    assert hello.published == datetime(2026, 11, 29, 12, 51, 18, tzinfo=UTC)
    assert hello.updated == datetime(2026, 11, 29, 12, 51, 18, tzinfo=UTC)
    assert all(i.updated is not None and i.published is not None for i in feed.items)
    assert feed.items[0].content_html is not None


def test_wordpress_category_feed() -> None:
    feed = _fixture("category-haiti-feed.xml", url=f"{SITE}/category/haiti/feed/")
    assert feed.title == "Haiti – Peer Test News"
    assert [i.guid for i in feed.items] == [
        f"{SITE}/2026/11/29/nouvel-ayiti-premye-atik/",
        f"{SITE}/2026/11/29/both-categories-english-and-haiti/",
        RUTO,
    ]
    assert feed.items[1].categories == ("English", "Haiti")
    assert feed.items[2].title == RUTO_TITLE


# --- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<b>Bold</b> news", "Bold news"),
        ("Hi <script>alert(1)</script>there", "Hi there"),
        ("A <style>p{}</style> b", "A b"),
        ("Caf&eacute; &amp; Co &#8217; &#x2014;", "Café & Co ’ —"),
        ("  many \n\t spaces\u00a0here ", "many spaces here"),
        ("x < y and y > z", "x < y and y > z"),
        ("AT&T results", "AT&T results"),
        ("<p>One</p><p>Two</p>", "One Two"),
        ("", ""),
        (None, ""),
    ],
)
def test_plain_text(raw: str | None, expected: str) -> None:
    assert plain_text(raw) == expected


@pytest.mark.parametrize(
    ("title_xml", "expected"),
    [
        ("&lt;b&gt;Bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;news", "Bold news"),
        ("<![CDATA[Hi <em>there</em> <script>evil()</script>]]>", "Hi there"),
        ("Ruto&#8217;s &amp;amp; Haiti", "Ruto’s & Haiti"),  # entity escaped twice
        ("Fish &amp; Chips", "Fish & Chips"),
        ("Nouvèl   Ayiti\n  premye", "Nouvèl Ayiti premye"),
    ],
)
def test_titles_are_plain_text(title_xml: str, expected: str) -> None:
    feed = _rss(f"<item><title>{title_xml}</title><link>https://ex.com/a</link></item>")
    assert feed.items[0].title == expected


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            '<![CDATA[Short text&#8230; <a class="more-link" href="https://ex.com/a">Continue '
            'reading <span class="screen-reader-text">Title</span></a>]]>',
            "Short text…",
        ),
        (
            '<![CDATA[<p>Lead paragraph.</p><p>The post <a href="https://ex.com/a">Title</a> '
            'appeared first on <a href="https://ex.com">Site</a>.</p>]]>',
            "Lead paragraph.",
        ),
        ("Plain lead [&#8230;]", "Plain lead…"),
        ("Plain lead... Read more", "Plain lead…"),
        ("We read more books now.", "We read more books now."),
    ],
)
def test_summary_boilerplate_removed(description: str, expected: str) -> None:
    feed = _rss(
        f"<item><link>https://ex.com/a</link><description>{description}</description></item>"
    )
    assert feed.items[0].summary == expected


# --- entries, identity, dedup ----------------------------------------------------------------


def test_entry_without_guid_link_or_date() -> None:
    feed = _rss(
        "<item><title>Only a link</title><link>/2026/only-link/</link></item>"
        '<item><title>Only a guid</title><guid isPermaLink="false">abc-123</guid></item>'
        "<item><title>Neither</title><description>x</description></item>"
        "<item><guid>tag:ex.com,2026:9</guid><title>Tag guid, no link</title></item>"
    )
    assert feed.skipped == 1
    only_link, only_guid, tag = feed.items
    assert only_link.guid is None
    assert only_link.link == "https://ex.com/2026/only-link/"  # resolved against the feed URL
    assert only_link.published is None
    assert only_link.updated is None
    assert only_guid.guid == "abc-123"
    assert only_guid.link is None
    assert tag.guid == "tag:ex.com,2026:9"
    assert tag.link is None  # a permalink GUID that is no http(s) URL is not a link


def test_permalink_guid_used_as_link() -> None:
    feed = _rss('<item><guid isPermaLink="true">https://ex.com/perm/</guid><title>x</title></item>')
    assert feed.items[0].link == "https://ex.com/perm/"


def test_duplicate_guids_keep_the_first() -> None:
    feed = _rss(
        "<item><title>First</title><guid>https://ex.com/?p=5</guid><link>https://ex.com/a</link></item>"
        "<item><title>Second</title><guid>https://ex.com/?p=5</guid><link>https://ex.com/b</link></item>"
        "<item><title>Other</title><guid>https://ex.com/?p=6</guid></item>"
    )
    assert [i.title for i in feed.items] == ["First", "Other"]
    assert [i.wp_post_id for i in feed.items] == [5, 6]
    assert feed.skipped == 1


def test_wp_post_id_from_link() -> None:
    feed = _rss(
        "<item><title>x</title><link>https://ex.com/?p=37070&amp;preview=true</link></item>"
    )
    assert feed.items[0].wp_post_id == 37070


def test_categories_and_authors() -> None:
    feed = _rss(
        "<item><link>https://ex.com/a</link>"
        "<category><![CDATA[News &amp; Politics]]></category><category>Haiti</category>"
        "<category>haiti</category><category>  </category><category>Caribbean</category>"
        "<dc:creator><![CDATA[Jean Dupont]]></dc:creator><dc:creator>Marie</dc:creator></item>"
    )
    item = feed.items[0]
    assert item.categories == ("News & Politics", "Haiti", "Caribbean")
    assert item.authors == ("Jean Dupont", "Marie")


@pytest.mark.parametrize(
    ("pub", "expected"),
    [
        ("Sun, 29 Nov 2026 08:51:19 -0400", datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)),
        ("Sun, 29 Nov 2026 12:51:19 GMT", datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)),
        ("2026-11-29T14:51:19+02:00", datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
    ],
)
def test_dates_become_aware_utc(pub: str, expected: datetime | None) -> None:
    feed = _rss(f"<item><link>https://ex.com/a</link><pubDate>{pub}</pubDate></item>")
    assert feed.items[0].published == expected


# --- images, language, hub ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '<media:content url="/img/big.jpg" medium="image" width="1200" height="630"/>',
            Image("https://ex.com/img/big.jpg", "", 1200, 630),
        ),
        (
            '<media:content url="https://ex.com/v.mp4" type="video/mp4"/>'
            '<media:thumbnail url="https://ex.com/thumb.jpg" width="300"/>',
            Image("https://ex.com/thumb.jpg", "", 300, None),
        ),
        (
            '<enclosure url="https://ex.com/e.png" type="image/png" length="10"/>',
            Image("https://ex.com/e.png"),
        ),
        (
            '<enclosure url="https://ex.com/a.mp3" type="audio/mpeg" length="10"/>'
            '<content:encoded><![CDATA[<p><img src="https://s.w.org/images/core/emoji/14.0.0/72x72/'
            '1f1ed.png" alt="x" class="wp-smiley"/><img src="https://ex.com/pixel.gif" width="1" '
            'height="1"/><img src="/up/photo.jpg" alt="Port-au-Prince &amp; the bay" width="800"/>'
            "</p>]]></content:encoded>",
            Image("https://ex.com/up/photo.jpg", "Port-au-Prince & the bay", 800, None),
        ),
    ],
)
def test_item_image(extra: str, expected: Image) -> None:
    feed = _rss(f"<item><link>https://ex.com/a</link>{extra}</item>")
    assert feed.items[0].image == expected


def test_language_and_hub() -> None:
    feed = _rss(
        "<item><link>https://ex.com/a</link></item>"
        "<item><link>https://ex.com/b</link><dc:language>ht-HT</dc:language></item>",
        channel='<language>fr-FR</language><atom:link rel="hub" href="https://hub.example/"/>'
        '<atom:link rel="self" href="https://ex.com/feed/"/>',
    )
    assert feed.language == "fr"
    assert [i.language for i in feed.items] == ["fr", "ht"]
    assert feed.hub == "https://hub.example/"
    assert feed.self_url == "https://ex.com/feed/"


def test_default_language_when_the_feed_names_none() -> None:
    body = b'<rss version="2.0"><channel><title>t</title><item><link>https://ex.com/a</link></item></channel></rss>'
    feed = parse_feed(body, source_id="s", url="https://ex.com/feed", default_language="en-GB")
    assert feed.language is None
    assert feed.items[0].language == "en"


# --- JSON Feed ----------------------------------------------------------------------------------

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "CTN &amp; friends",
    "home_page_url": "https://ctninfo.com/",
    "feed_url": "https://ctninfo.com/feed.json",
    "language": "en-US",
    "hubs": [{"type": "WebSub", "url": "https://pubsubhubbub.appspot.com/"}],
    "items": [
        {
            "id": "https://ctninfo.com/?p=37070",
            "url": "https://ctninfo.com/2026/11/29/ruto/",
            "title": "Ruto <em>ends</em> mission",
            "summary": "The mandate&#8230; Continue reading",
            "content_html": '<p>Body <img src="/wp-content/u.jpg" alt="Ruto at the UN"></p>',
            "date_published": "2026-11-29T07:51:19-05:00",
            "date_modified": "2026-11-30T10:00:00Z",
            "authors": [{"name": "Jean Dupont"}],
            "tags": ["English", "Haiti", "English"],
        },
        {
            "id": 42,
            "content_text": "A note without title or URL.\n\nSecond paragraph.",
            "language": "ht",
            "image": "https://ctninfo.com/cover.jpg",
            "author": {"name": "Old 1.0 author"},
        },
        {"title": "neither id nor url"},
        {"id": "https://ctninfo.com/?p=37070", "title": "duplicate id"},
    ],
}


def test_json_feed() -> None:
    feed = parse_feed(
        json.dumps(JSON_FEED).encode(),
        source_id="ctn-json",
        url="https://ctninfo.com/feed.json",
        content_type="application/feed+json",
    )
    assert feed.title == "CTN & friends"
    assert feed.link == "https://ctninfo.com/"
    assert feed.self_url == "https://ctninfo.com/feed.json"
    assert feed.hub == "https://pubsubhubbub.appspot.com/"
    assert feed.language == "en"
    assert feed.skipped == 2
    ruto, note = feed.items
    assert ruto.guid == "https://ctninfo.com/?p=37070"
    assert ruto.link == "https://ctninfo.com/2026/11/29/ruto/"
    assert ruto.wp_post_id == 37070
    assert ruto.title == "Ruto ends mission"
    assert ruto.summary == "The mandate…"
    assert ruto.published == datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)
    assert ruto.updated == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert ruto.authors == ("Jean Dupont",)
    assert ruto.categories == ("English", "Haiti")
    assert ruto.language == "en"
    assert ruto.image == Image("https://ctninfo.com/wp-content/u.jpg", "Ruto at the UN")
    assert note.guid == "42"
    assert note.link is None
    assert note.title == ""
    assert note.content_html == "<p>A note without title or URL.</p><p>Second paragraph.</p>"
    assert note.language == "ht"
    assert note.authors == ("Old 1.0 author",)
    assert note.image == Image("https://ctninfo.com/cover.jpg")


def test_json_feed_detected_without_content_type() -> None:
    body = b'\xef\xbb\xbf  {"version": "https://jsonfeed.org/version/1", "items": [{"id": "1"}]}'
    feed = parse_feed(body, source_id="s", url="https://ex.com/feed.json")
    assert [i.guid for i in feed.items] == ["1"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', "without an items list"),
    ],
)
def test_bad_json_feeds(body: bytes, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_feed(
            body, source_id="s", url="https://ex.com/feed.json", content_type="application/json"
        )


# --- not feeds, broken feeds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ct", "match"),
    [
        (
            b"<!DOCTYPE html>\n<html lang='en'><head><title>CTN</title></head>"
            b"<body><p>Hi</p></body></html>",
            "text/html; charset=UTF-8",
            "not a feed: .* returned an HTML page",
        ),
        (b"<html><body>Login required</body></html>", "application/rss+xml", "HTML page"),
        (b"", "application/rss+xml", "empty body"),
        (b"   \n", None, "empty body"),
        (b"Service unavailable, try later", "text/plain", "not valid RSS or Atom"),
        (b"<?xml version='1.0'?><sitemap><url/></sitemap>", "application/xml", "no RSS or Atom"),
    ],
)
def test_not_a_feed(body: bytes, ct: str | None, match: str) -> None:
    with pytest.raises(ParseError, match=match):
        parse_feed(body, source_id="s", url="https://ex.com/feed/", content_type=ct)


def test_broken_xml_that_still_has_entries() -> None:
    body = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>Broken &nbsp; feed</title>"
        b"<item><title>One &nbsp; &amp; two</title><link>https://ex.com/one</link></item>"
        b"<item><title>Two</title><link>https://ex.com/two</link>"
        # no closing tags: truncated download or a plugin printing PHP warnings
    )
    feed = parse_feed(
        body, source_id="s", url="https://ex.com/feed/", content_type="application/rss+xml"
    )
    assert [i.title for i in feed.items] == ["One & two", "Two"]


def test_empty_but_valid_feed() -> None:
    feed = _rss("")
    assert feed.items == ()
    assert feed.title == "Site"


def test_feedparser_never_reads_a_path_or_url() -> None:
    """Bytes that look like a file name or URL are parsed as content, never opened or fetched."""
    for body in (b"/etc/passwd", b"https://example.com/feed/"):
        with pytest.raises(ParseError, match=r"not valid RSS or Atom|no RSS or Atom"):
            parse_feed(body, source_id="s", url="https://ex.com/feed/")
