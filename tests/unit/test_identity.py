"""Article identity: normalised URLs, WordPress post ids, alias keys."""

from __future__ import annotations

import pytest

from bot.identity import (
    article_keys,
    is_http_url,
    item_keys,
    normalize_url,
    site_host,
    url_key,
    wp_key,
    wp_post_id,
)
from bot.models import FeedItem


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # scheme, host case, www, default ports
        ("http://ctninfo.com/a", "https://ctninfo.com/a"),
        ("HTTPS://WWW.CTNinfo.COM/a", "https://ctninfo.com/a"),
        ("https://ctninfo.com:443/a", "https://ctninfo.com/a"),
        ("http://ctninfo.com:80/a", "https://ctninfo.com/a"),
        ("http://127.0.0.1:8080/a/", "https://127.0.0.1:8080/a"),
        ("https://[::1]:8443/a", "https://[::1]:8443/a"),
        ("https://user:secret@ctninfo.com/a", "https://ctninfo.com/a"),
        ("https://ctninfo.com./a", "https://ctninfo.com/a"),
        ("https://www.com/", "https://www.com/"),
        # trailing slash: stripped, except the root
        ("https://ctninfo.com/2026/11/29/slug/", "https://ctninfo.com/2026/11/29/slug"),
        ("https://ctninfo.com/2026/11/29/slug//", "https://ctninfo.com/2026/11/29/slug"),
        ("https://ctninfo.com", "https://ctninfo.com/"),
        ("https://ctninfo.com/", "https://ctninfo.com/"),
        # fragment and tracking parameters
        ("https://ctninfo.com/a#respond", "https://ctninfo.com/a"),
        (
            "https://ctninfo.com/a?utm_source=x&utm_medium=social&UTM_Campaign=y",
            "https://ctninfo.com/a",
        ),
        ("https://ctninfo.com/a?fbclid=IwAR0&gclid=1&msclkid=2&igshid=3", "https://ctninfo.com/a"),
        ("https://ctninfo.com/a?mc_cid=1&mc_eid=2&_ga=3&dclid=4", "https://ctninfo.com/a"),
        ("https://ctninfo.com/a?amp;utm_source=feed", "https://ctninfo.com/a"),
        ("https://ctninfo.com/?p=37070&preview=true", "https://ctninfo.com/?p=37070"),
        ("https://ctninfo.com/a?", "https://ctninfo.com/a"),
        # kept: parameters that may select content, sorted
        ("https://ctninfo.com/a?ref=home&share=1", "https://ctninfo.com/a?ref=home&share=1"),
        ("https://ctninfo.com/?s=haiti&p=2&utm_source=x", "https://ctninfo.com/?p=2&s=haiti"),
        ("https://ctninfo.com/?b=2&a=1&a=0", "https://ctninfo.com/?a=0&a=1&b=2"),
        ("https://ctninfo.com/?q=a+b", "https://ctninfo.com/?q=a%20b"),
        # percent-encoding
        ("https://ctninfo.com/nouv%c3%a8l", "https://ctninfo.com/nouv%C3%A8l"),
        ("https://ctninfo.com/nouvèl", "https://ctninfo.com/nouv%C3%A8l"),
        ("https://ctninfo.com/%7Euser/%41b", "https://ctninfo.com/~user/Ab"),
        ("https://ctninfo.com/a%2fb", "https://ctninfo.com/a%2Fb"),
        ("https://ctninfo.com/100%", "https://ctninfo.com/100%25"),
        ("https://ctninfo.com/a b", "https://ctninfo.com/a%20b"),
        ("https://ctninfo.com/a/./b/../c", "https://ctninfo.com/a/c"),
        # IDN hosts
        ("https://Bücher.example/a", "https://xn--bcher-kva.example/a"),
        ("https://xn--bcher-kva.example/a", "https://xn--bcher-kva.example/a"),
        ("https://www.bücher.example/", "https://xn--bcher-kva.example/"),
        # schemeless
        ("//ctninfo.com/a/", "https://ctninfo.com/a"),
        ("ctninfo.com/?p=5", "https://ctninfo.com/?p=5"),
        ("  https://ctninfo.com/a  ", "https://ctninfo.com/a"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://ctninfo.com/story/", "https://www.ctninfo.com/story"),
        ("https://ctninfo.com/story?utm_source=x#top", "https://ctninfo.com/story"),
        ("https://ctninfo.com/story?fbclid=1", "https://CTNINFO.com:443/story/"),
    ],
)
def test_variants_share_a_url_key(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://ctninfo.com/a", "https://ctninfo.com/b"),
        ("https://ctninfo.com/A", "https://ctninfo.com/a"),  # paths are case-sensitive
        ("https://ctninfo.com:8080/a", "https://ctninfo.com/a"),  # non-default port kept
        ("https://ctninfo.com/?p=1", "https://ctninfo.com/?p=2"),
        ("https://ctninfo.com/a?ref=x", "https://ctninfo.com/a?ref=y"),
        ("https://news.ctninfo.com/a", "https://ctninfo.com/a"),
    ],
)
def test_different_articles_keep_different_keys(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


@pytest.mark.parametrize(
    "bad",
    ["", "tag:example.com,2026:123", "mailto:x@example.com", "ftp://example.com/a", "https://",
     "https://example.com:99999/", "just words", "urn:uuid:1234"],
)  # fmt: skip
def test_normalize_url_rejects_non_http(bad: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        normalize_url(bad)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ctninfo.com/?p=37070", 37070),
        ("https://ctninfo.com/?p=37070&preview=true", 37070),
        ("https://ctninfo.com/?preview=true&p=37070", 37070),
        ("http://127.0.0.1:8080/?p=1", 1),
        ("https://ctninfo.com?p=12", 12),
        ("https://ctninfo.com/?page_id=9", 9),
        ("https://ctninfo.com/blog/?p=44", 44),
        ("https://ctninfo.com/index.php?p=45", 45),
        ("https://ctninfo.com/?p=37070#respond", 37070),
        ("https://ctninfo.com/?p=5&p=6", 5),
        ("https://ctninfo.com/2026/11/29/slug/", None),
        ("https://ctninfo.com/?p=abc", None),
        ("https://ctninfo.com/?p=0", None),
        ("https://ctninfo.com/?p=-3", None),
        ("https://ctninfo.com/?p=", None),
        ("https://ctninfo.com/search?p=2", None),  # another CMS's pagination, not a post id
        ("https://ctninfo.com/?cat=4", None),
        ("tag:example.com,2026:123", None),
        ("", None),
        (None, None),
    ],
)
def test_wp_post_id(url: str | None, expected: int | None) -> None:
    assert wp_post_id(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.CTNinfo.com/a", "ctninfo.com"),
        ("http://127.0.0.1:8080/", "127.0.0.1:8080"),
        ("https://ctninfo.com:443/", "ctninfo.com"),
        ("https://bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_site_host(url: str, expected: str) -> None:
    assert site_host(url) == expected


def test_wp_key_and_url_key() -> None:
    assert wp_key("ctninfo.com", 37070) == "wp:ctninfo.com:37070"
    assert wp_key("WWW.ctninfo.com:443", 5) == "wp:ctninfo.com:5"
    assert wp_key("127.0.0.1:8080", 1) == "wp:127.0.0.1:8080:1"
    assert url_key("http://www.ctninfo.com/a/") == "url:https://ctninfo.com/a"
    with pytest.raises(ValueError, match="positive"):
        wp_key("ctninfo.com", 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://x.org/a", True),
        ("http://x.org", True),
        ("tag:x.org,2026:1", False),
        ("/relative/path", False),
        ("", False),
        (None, False),
    ],
)
def test_is_http_url(value: str | None, expected: bool) -> None:
    assert is_http_url(value) is expected


def _item(guid: str | None, link: str | None, wp: int | None = None) -> FeedItem:
    return FeedItem(source_id="ctn-en", guid=guid, link=link, title="t", wp_post_id=wp)


PRETTY = "https://ctninfo.com/2026/11/29/ruto-haiti/"


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            _item("https://ctninfo.com/?p=37070", PRETTY),
            ("wp:ctninfo.com:37070", "url:https://ctninfo.com/?p=37070",
             "url:https://ctninfo.com/2026/11/29/ruto-haiti"),
            id="wp-guid",
        ),
        pytest.param(
            _item(PRETTY, PRETTY),
            ("url:https://ctninfo.com/2026/11/29/ruto-haiti",),
            id="pretty-guid-same-as-link",
        ),
        pytest.param(
            _item(PRETTY, "https://ctninfo.com/2026/11/29/ruto-haiti/?utm_source=rss#comments"),
            ("url:https://ctninfo.com/2026/11/29/ruto-haiti",),
            id="tracking-and-fragment",
        ),
        pytest.param(
            _item("http://old-domain.example/?p=37070", "https://www.ctninfo.com/story/"),
            ("wp:ctninfo.com:37070", "url:https://old-domain.example/?p=37070",
             "url:https://ctninfo.com/story"),
            id="moved-domain-wp-host-from-link",
        ),
        pytest.param(
            _item(PRETTY, PRETTY, wp=37070),
            ("wp:ctninfo.com:37070", "url:https://ctninfo.com/2026/11/29/ruto-haiti"),
            id="known-wp-id",
        ),
        pytest.param(
            _item("https://ctninfo.com/?p=37070&preview=true", None),
            ("wp:ctninfo.com:37070", "url:https://ctninfo.com/?p=37070"),
            id="guid-only",
        ),
        pytest.param(
            _item(None, "https://ctninfo.com/?p=12"),
            ("wp:ctninfo.com:12", "url:https://ctninfo.com/?p=12"),
            id="wp-link-no-guid",
        ),
        pytest.param(
            _item("tag:example.com,2026:123", "https://example.com/posts/123/"),
            ("url:https://example.com/posts/123",),
            id="non-url-guid",
        ),
        pytest.param(
            _item("tag:example.com,2026:123", None),
            ("guid:ctn-en:tag:example.com,2026:123",),
            id="non-url-guid-only",
        ),
        pytest.param(_item(None, None), (), id="nothing"),
    ],
)  # fmt: skip
def test_item_keys(item: FeedItem, expected: tuple[str, ...]) -> None:
    assert item_keys(item) == expected


def test_guid_form_change_keeps_an_alias() -> None:
    """The same post seen with a ?p=ID GUID, then with a pretty GUID on https and a new slug."""
    first = set(item_keys(_item("http://ctninfo.com/?p=37070", "http://ctninfo.com/ruto/")))
    later = set(
        item_keys(_item("https://www.ctninfo.com/ruto-haiti/", "https://ctninfo.com/?p=37070"))
    )
    assert first & later


def test_scheme_www_slash_changes_keep_an_alias() -> None:
    first = set(item_keys(_item("http://www.ctninfo.com/ruto/", "http://www.ctninfo.com/ruto/")))
    later = set(item_keys(_item("https://ctninfo.com/ruto", "https://ctninfo.com/ruto?fbclid=x")))
    assert first & later


@pytest.mark.parametrize(
    ("url", "post_id", "expected"),
    [
        (
            "https://ctninfo.com/ruto/",
            37070,
            ("wp:ctninfo.com:37070", "url:https://ctninfo.com/ruto"),
        ),
        ("https://ctninfo.com/ruto/", None, ("url:https://ctninfo.com/ruto",)),
        (
            "https://ctninfo.com/?p=37070",
            None,
            ("wp:ctninfo.com:37070", "url:https://ctninfo.com/?p=37070"),
        ),
    ],
)
def test_article_keys(url: str, post_id: int | None, expected: tuple[str, ...]) -> None:
    assert article_keys(url, post_id) == expected


def test_article_and_item_keys_meet() -> None:
    """A scraped page (canonical URL + shortlink id) matches the feed item it came from."""
    item = _item("https://ctninfo.com/?p=37070", "https://ctninfo.com/ruto/")
    assert set(article_keys("https://www.ctninfo.com/ruto", 37070)) <= set(item_keys(item))
