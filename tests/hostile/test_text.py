"""Hostile text through ``compose`` for every platform: scripts, bidi marks, emoji sequences,
combining accents, zero-width characters, 2,000-character words and links.

For each platform's own counting: the post fits, the article's link is in it exactly (never cut,
recognised whole where the platform counts links), no markup or entity from the source is left,
and a cut never splits a grapheme cluster or leaves a lone surrogate or a dangling joiner.
"""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twitter_text import extract_urls_with_indices

from bot.config import AccountConfig
from bot.models import Article
from bot.publishers import publisher_class
from bot.publishers.base import PlatformSpec
from bot.summarizer import ELLIPSIS, TextTooLong, compose
from bot.textlen import extract_urls, graphemes, length

# Every platform's declared spec, plus the Discord/Slack webhook limit and Telegram's caption.
SPECS: list[PlatformSpec] = [
    publisher_class(name).spec
    for name in ("x", "mastodon", "bluesky", "threads", "linkedin", "telegram", "facebook")
]
SPECS += [
    dataclasses.replace(publisher_class("webhook").spec, name="discord", max_length=2000),
    dataclasses.replace(publisher_class("telegram").spec, name="telegram-caption", max_length=1024),
]
EXPECTED_LIMITS = {
    "x": 280,
    "mastodon": 500,
    "bluesky": 300,
    "threads": 500,
    "linkedin": 3000,
    "telegram": 4096,
    "facebook": 63206,
    "discord": 2000,
    "telegram-caption": 1024,
}
TEMPLATES = [
    "{title} {url}",
    "{title}\n\n{summary}\n\n{url}",
    "{title} — {summary} {lead} {author} {url}",
    "{url} {title}",
]
MARKUP_RE = re.compile(r"<[A-Za-z/!?]")
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_the_specs_are_the_platforms_limits() -> None:
    assert {s.name: s.max_length for s in SPECS} == EXPECTED_LIMITS


_PIECES = st.sampled_from(
    [
        # scripts
        "日本語のニュース", "故人西辞黄鹤楼", "한국어 기사", "مرحبا بالعالم", "שָׁלוֹם עוֹלָם",
        # bidi marks and embeddings
        "\u200f", "\u200e", "\u202b", "\u202c", "\u202e", "\u2067", "\u2069", "\u2066",
        # emoji: skin tones, ZWJ sequences, flags, keycaps, variation selectors
        "👍🏽", "👩🏿‍🚀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇭🇹", "🇰🇪", "1️⃣", "❤️",
        # combining accents (NFD), stacked marks
        "Hai\u0308ti", "e\u0301te\u0301", "Z\u0351\u0352\u0353\u0354",
        # zero-width characters
        "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060",
        # markup and entities from feeds
        "<b>bold</b>", "&amp;", "&lt;b&gt;", "&amp;lt;i&amp;gt;", "<script>alert(1)</script>",
        "&#8217;", "<![CDATA[x]]>", "<!-- c -->",
        # words and punctuation
        "Port-au-Prince", "Kenya", "—", "…", ".", "!", "?", ",", " ", "\n", "\t",
        # a 2,000-character word
        "x" * 2000, "語" * 700,
    ]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=15)), max_size=30).map(" ".join)
_TEXT_GLUED = st.lists(_PIECES, max_size=30).map("".join)
_ANY_TEXT = st.one_of(_TEXT, _TEXT_GLUED, st.just(""))

_HOSTS = st.sampled_from(
    [
        "ctninfo.com", "www.ctninfo.com", "bücher.de", "xn--bcher-kva.de",
        "пример.рф", "例え.jp", "news.example.org:8443", "sub.domain.co.uk",
    ]
)  # fmt: skip
_SEGMENT = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_"), min_size=1, max_size=40
) | st.sampled_from(["%E2%80%99", "%C3%A9t%C3%A9", "caf%C3%A9", "a%20b", "%F0%9F%91%8D"])
_PARAM = st.tuples(
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"), min_size=1, max_size=12),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789%-_"), max_size=60),
).map("=".join)


@st.composite
def _urls(draw: st.DrawFn) -> str:
    host = draw(_HOSTS)
    path = "/".join(draw(st.lists(_SEGMENT, min_size=1, max_size=6)))
    params = draw(st.lists(_PARAM, max_size=60))
    url = f"{draw(st.sampled_from(['https', 'http']))}://{host}/{path}/"
    if params:
        url += "?" + "&".join(params)
    if draw(st.booleans()):  # very long links: 2,000+ characters of query string
        url += ("&" if "?" in url else "?") + "q=" + "a1b2%2F" * 300
    return url


def _in_clusters(text: str, allowed: set[str]) -> list[str]:
    """The clusters of ``text`` that do not occur whole in ``allowed`` (cut clusters)."""
    return [g for g in graphemes(text) if g not in allowed and g not in (ELLIPSIS, " ", "\n")]


def _check(article: Article, template: str, spec: PlatformSpec) -> None:
    account = AccountConfig(id="acc", platform="console", template=template)
    url = article.url
    try:
        post = compose(article, account, spec)
    except TextTooLong:
        # Only a link that does not fit on its own may refuse the post: it is never cut.
        assert length(url, spec.counting) > spec.max_length
        return
    text = post.text
    assert post.length == length(text, spec.counting) <= spec.max_length
    # The link, exactly, followed by nothing that could extend it.
    assert post.url == url
    at = text.find(url)
    assert at != -1
    assert at + len(url) == len(text) or text[at + len(url)] in " \n"
    if spec.url_length is not None:  # the platform counts the link as one unit: whole
        assert url in [u.url for u in extract_urls(text, spec.counting)]
    if spec.counting == "x":
        assert url in [u["url"] for u in extract_urls_with_indices(text)]
    # No markup or entities from the source.
    words = text.replace(url, " ")
    assert not MARKUP_RE.search(words)
    assert html.unescape(words) == words
    assert "alert(1)" not in words
    # Cuts are between clusters: every cluster was in the uncut post; no lone surrogates,
    # no joiner left hanging before the ellipsis or at the end.
    full = compose(article, account, dataclasses.replace(spec, max_length=10**7)).text
    assert not _in_clusters(text, set(graphemes(full)))
    assert not any("\ud800" <= ch <= "\udfff" for ch in text)
    # The link is not inside a bidi override or an open isolate: it reads left to right.
    assert not re.search("[\u202a-\u202e]", text)
    before = text[:at]
    opened = sum(before.count(c) for c in "\u2066\u2067\u2068")
    assert opened == before.count("\u2069")
    dangling = "\u200d" + ELLIPSIS
    assert text.count(dangling) <= full.count(dangling) and not text.endswith("\u200d")


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@SETTINGS
@given(
    title=_ANY_TEXT,
    summary=_ANY_TEXT,
    lead=_ANY_TEXT,
    author=_ANY_TEXT,
    template=st.sampled_from(TEMPLATES),
)
def test_hostile_text_composes_a_fitting_post_with_the_link_intact(
    spec: PlatformSpec, title: str, summary: str, lead: str, author: str, template: str
) -> None:
    article = Article(
        url="https://www.ctninfo.com/2026/11/story/?p=1",
        title=title,
        description=summary,
        lead=lead,
        authors=(author,),
    )
    _check(article, template, spec)


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@SETTINGS
@given(url=_urls(), title=_ANY_TEXT, template=st.sampled_from(TEMPLATES))
def test_long_and_international_links_are_never_cut(
    spec: PlatformSpec, url: str, title: str, template: str
) -> None:
    _check(Article(url=url, title=title), template, spec)


@pytest.mark.parametrize(
    ("title", "kept"),
    [
        ("👨‍👩‍👧‍👦" * 400, "👨‍👩‍👧‍👦"),
        ("🇭🇹" * 400, "🇭🇹"),
        ("e\u0301" * 400, "é"),
        ("👩🏿‍🚀" * 400, "👩🏿‍🚀"),
    ],
)
def test_a_long_word_of_sequences_is_cut_between_whole_clusters(title: str, kept: str) -> None:
    spec = publisher_class("bluesky").spec
    account = AccountConfig(id="acc", platform="console", template="{title} {url}")
    post = compose(Article(url="https://news.example/a", title=title), account, spec)
    head, sep, tail = post.text.partition(ELLIPSIS)
    assert sep and tail == " https://news.example/a"
    assert head and set(graphemes(head)) == {kept}
    assert post.length <= 300


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("Breaking \u202egnp.exe news", "Breaking gnp.exe news"),  # right-to-left override
        ("\u2067مرحبا بالعالم", "\u2067مرحبا بالعالم\u2069"),  # isolate left open: closed
        ("Stray close\u2069 here", "Stray close here"),
        ("\u202bשָׁלוֹם\u202c עוֹלָם", "שָׁלוֹם עוֹלָם"),
        ("עִבְרִית \u200fmark\u200f", "עִבְרִית \u200fmark\u200f"),  # marks are kept
    ],
)
def test_bidi_controls_cannot_reverse_the_link(title: str, shown: str) -> None:
    account = AccountConfig(id="acc", platform="console", template="{title} {url}")
    post = compose(Article(url="https://ctninfo.com/a", title=title), account, SPECS[0])
    assert post.text == f"{shown} https://ctninfo.com/a"
