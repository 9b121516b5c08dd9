"""Hostile URLs in feeds: whatever ``is_http_url`` accepts, identity keys can be made of it
(never an exception that would stop a poll), and normalising is stable."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.identity import is_http_url, item_keys, normalize_url, site_host
from bot.models import FeedItem

_PARTS = st.sampled_from(
    [
        "http://", "https://", "HTTP://", "//", "ftp://", "javascript:", "news.example",
        "www.news.example", "bücher.de", "xn--bcher-kva.de", "[::1]", "[::ffff:127.0.0.1]", "[",
        "]", "127.0.0.1", ":", ":8080", ":99999", ":abc", ":0", "@", "user:pass@", "/", "/a/b",
        "/../", "/./", "?", "?p=12", "&", "=", "#frag", "%", "%2", "%2F", "%C3%A9", "%zz", "é",
        "日本", " ", "\t", "\\", ";", ".", "..", "~", "+", "utm_source=x", "&amp;", "?&",
    ]
)  # fmt: skip
_URLS = st.lists(_PARTS | st.text(max_size=5), min_size=1, max_size=12).map("".join)


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(guid=_URLS, link=_URLS)
def test_any_url_a_feed_gives_has_keys_and_a_stable_normal_form(guid: str, link: str) -> None:
    item = FeedItem(source_id="s", guid=guid, link=link if is_http_url(link) else None, title="t")
    keys = item_keys(item)  # never raises
    assert bool(keys) == bool(guid.strip() or item.link)  # an identity whenever there is one
    for value in (guid, link):
        if is_http_url(value):
            once = normalize_url(value)
            assert normalize_url(once) == once
            assert site_host(once) == site_host(value)
