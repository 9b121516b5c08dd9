"""Hostile article pages: markup nested thousands of levels deep is read only down to
libxml2's own depth limit (BeautifulSoup would take quadratic time over it), keeping what the
page says above that depth."""

from __future__ import annotations

import logging

import pytest

from bot.models import FeedItem
from bot.scraper import parse_article

URL = "https://news.example/2026/11/deep/"


def deep_page(levels: int) -> bytes:
    return (
        b"<html><head><title>Deep | News</title>"
        b"<meta property='og:title' content='A headline above the abyss'>"
        b"<meta property='og:description' content='What the story says.'></head><body>"
        b"<article><h1>A headline above the abyss</h1><p>The lead, before the nesting.</p>"
        + b"<div>" * levels
        + b"<p>far below</p>"
        + b"</div>" * levels
        + b"</article></body></html>"
    )


@pytest.mark.parametrize("levels", [300, 20_000, 200_000])
def test_deeply_nested_page_is_read_down_to_the_depth_limit(
    levels: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot"):
        article = parse_article(deep_page(levels), URL)
    assert article.title == "A headline above the abyss"
    assert article.description == "What the story says."
    assert "far below" not in (article.body or "")
    assert "nested 256+ levels deep" in caplog.text


def test_a_normal_page_is_not_touched(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot"):
        article = parse_article(deep_page(40), URL)
    assert "far below" in (article.body or "") or "far below" in (article.lead or "")
    assert "nested" not in caplog.text


def test_deep_page_with_a_feed_item_keeps_the_item_fields() -> None:
    item = FeedItem(source_id="s", guid=None, link=URL, title="Feed title", summary="Feed summary")
    article = parse_article(deep_page(20_000), URL, item=item)
    assert article.title == "A headline above the abyss"
    assert article.url == URL
