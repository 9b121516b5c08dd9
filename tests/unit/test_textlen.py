"""Text length as platforms count it: twitter-text v3 conformance, our own table, graphemes."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from bot import textlen
from bot.textlen import UrlSpan, extract_urls, fits, graphemes, length

FIXTURES = Path(__file__).parent.parent / "fixtures" / "twitter-text"
V3_GROUP = "WeightedTweetsWithDiscountedEmojiCounterTest"


def _v3_cases() -> list[dict[str, object]]:
    data = yaml.safe_load((FIXTURES / "validate-v3.yml").read_text(encoding="utf-8"))
    cases: list[dict[str, object]] = data["tests"][V3_GROUP]
    return cases


V3_CASES = _v3_cases()


def test_the_whole_v3_group_is_there() -> None:
    assert len(V3_CASES) == 22


@pytest.mark.parametrize("case", V3_CASES, ids=[str(c["description"]) for c in V3_CASES])
def test_x_conformance_v3(case: dict[str, object]) -> None:
    text, expected = str(case["text"]), case["expected"]
    assert isinstance(expected, dict)
    assert length(text, "x") == expected["weightedLength"]
    assert fits(text, "x") is expected["valid"]
    # The package we build on passes the whole vector, ranges and permillage included.
    assert parse_tweet(text).asdict() == expected


# --- our own table -----------------------------------------------------------------------------

NFD_HAITI = unicodedata.normalize("NFD", "Haïti")
LONG_URL = "https://ctninfo.com/2026/11/30/" + "william-ruto-kenya-haiti-" * 20 + "?p=37070"


@pytest.mark.parametrize(
    ("text", "x", "clusters"),
    [
        ("Haïti", 5, 5),
        (NFD_HAITI, 5, 5),  # X counts after NFC; a reader sees 5 characters either way
        ("Port-au-Prince", 14, 14),
        ("Pòtoprens, Okap, Jakmèl ak Gonayiv", 34, 34),  # Haitian Creole
        ("L’été à Port-au-Prince\u00a0: « Bonjour »", 36, 36),  # French, no-break space
        ("Ayiti: lapolis arete 3 sispèk nan Pòtoprens", 43, 43),
        ("故人西辞黄鹤楼", 14, 7),  # CJK weighs 2
        ("日本語のテキスト", 16, 8),
        ("한국어", 6, 3),
        ("مرحبا بالعالم", 13, 13),  # Arabic is in the light range
        ("שָׁלוֹם", 7, 4),  # Hebrew with points: 7 code points, 4 clusters
        ("👍", 2, 1),
        ("👍🏽", 2, 1),  # skin tone: one emoji
        ("🙋🏽‍♀️", 2, 1),
        ("👨‍👩‍👧‍👦", 2, 1),  # ZWJ family
        ("🇭🇹", 2, 1),  # flag
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2, 1),  # tag sequence
        ("1⃣", 2, 1),
        ("Kenya 🇰🇪 ❤️ Haïti 🇭🇹", 20, 17),
        ("a\r\nb", 3, 3),  # CRLF counts as one line break on X
        ("https://ctninfo.com/?p=37070", 23, 28),
        (LONG_URL, 23, len(LONG_URL)),  # any URL: 23 on X, real length in graphemes
        (f"Lire: {LONG_URL} #Haïti", 36, len(LONG_URL) + 13),
        ("ctninfo.com", 23, 11),  # no scheme, known TLD: still a URL on X
        ("https://foo.nonexistenttld/x", 28, 28),  # unknown TLD: plain text
        ("", 0, 0),
    ],
)
def test_length_table(text: str, x: int, clusters: int) -> None:
    assert length(text, "x") == x
    assert length(text, "graphemes") == clusters


def test_fits_default_and_explicit_limits() -> None:
    assert fits("a" * 280, "x")
    assert not fits("a" * 281, "x")
    assert fits("日" * 140, "x")
    assert not fits("日" * 141, "x")
    assert fits("a" * 300, "x", limit=300)
    assert fits("🇭🇹" * 300, "graphemes", limit=300)
    assert not fits("🇭🇹" * 301, "graphemes", limit=300)
    with pytest.raises(ValueError, match="no default limit"):
        fits("text", "graphemes")


def test_unknown_rule_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"no text-length rule 'tiktok'; known: bluesky, codepoints, graphemes, mastodon, threads, utf16, x",
    ):
        length("text", "tiktok")


def test_registry_entries_are_consistent() -> None:
    assert {"x", "graphemes"} <= set(textlen.RULES)
    for name, rule in textlen.RULES.items():
        assert rule.name == name
    assert textlen.RULES["x"].limit == 280


@pytest.mark.parametrize(
    ("platform", "text", "expected"),
    [
        (
            "x",
            "Lire https://ctninfo.com/?p=1, et ctninfo.com.",
            [UrlSpan("https://ctninfo.com/?p=1", 5, 29), UrlSpan("ctninfo.com", 34, 45)],
        ),
        ("x", "pas de lien ici", []),
        (
            "graphemes",
            "See https://en.wikipedia.org/wiki/Foo_(bar)). And (https://a.example/x).",
            [
                UrlSpan("https://en.wikipedia.org/wiki/Foo_(bar)", 4, 43),
                UrlSpan("https://a.example/x", 51, 70),
            ],
        ),
        ("graphemes", "« https://ctninfo.com/?p=1 »", [UrlSpan("https://ctninfo.com/?p=1", 2, 26)]),
    ],
)
def test_extract_urls(platform: str, text: str, expected: list[UrlSpan]) -> None:
    found = extract_urls(text, platform)
    assert found == expected
    for span in found:
        assert text[span.start : span.end] == span.url


# --- x: our fast counter equals parse_tweet --------------------------------------------------

PIECES = [
    *"abcXYZ 019#*.,:;!?-/'\"()\n\r\t@$&",
    *"éèïòÀÇ",
    "e\u0301",
    "\u0308",
    *"日本語故人한국",
    *"مرحباשלום",
    *"кириллица",
    "\u200d",
    "\ufe0f",
    "\u20e3",
    "\u00a0",
    "\u2009",
    "\u2066",
    "\u202a",
    *["👍", "🏽", "👨", "👩", "👧", "🇭", "🇹", "❤", "☺", "©", "🏴", "\U000e0067", "\U000e007f"],
    "https://",
    "http://",
    "www.",
    "ctninfo.com",
    "example.news",
    ".com",
    "/?p=37070",
    "&utm_source=x",
    "#Haïti",
]
TEXTS = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_x_length_equals_parse_tweet(text: str) -> None:
    assert length(text, "x") == parse_tweet(text).weightedLength


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_x_length_equals_parse_tweet_on_any_text(text: str) -> None:
    assert length(text, "x") == parse_tweet(text).weightedLength


# --- graphemes -----------------------------------------------------------------------------------


def test_grapheme_engine_is_the_regex_module_when_installed() -> None:
    try:
        import regex  # noqa: F401
    except ImportError:
        assert textlen.GRAPHEME_ENGINE == "fallback"
    else:
        assert textlen.GRAPHEME_ENGINE == "regex"


GRAPHEME_TABLE = [
    ("Haïti", ["H", "a", "ï", "t", "i"]),
    (NFD_HAITI, ["H", "a", "i\u0308", "t", "i"]),
    ("a\r\nb", ["a", "\r\n", "b"]),
    ("\n\r", ["\n", "\r"]),
    ("👨‍👩‍👧‍👦!", ["👨‍👩‍👧‍👦", "!"]),
    ("👍🏽👍", ["👍🏽", "👍"]),
    ("🇭🇹🇰🇪🇺", ["🇭🇹", "🇰🇪", "🇺"]),
    ("🏴󠁧󠁢󠁥󠁮󠁧󠁿x", ["🏴󠁧󠁢󠁥󠁮󠁧󠁿", "x"]),
    ("❤️‍🔥", ["❤️‍🔥"]),
    ("1⃣#️⃣", ["1⃣", "#️⃣"]),
    ("한국", ["한", "국"]),
    ("\u1100\u1161\u11a8\u1100", ["\u1100\u1161\u11a8", "\u1100"]),  # conjoining jamo
    ("क्षत्रिय", ["क्ष", "त्रि", "य"]),  # Devanagari conjuncts
    ("ที่นี่", ["ที่", "นี่"]),
    ("\u0600\u0661", ["\u0600\u0661"]),  # Arabic prepended concatenation mark
    ("a\u200db", ["a\u200d", "b"]),  # ZWJ joins only emoji
    ("", []),
]


@pytest.mark.parametrize(("text", "clusters"), GRAPHEME_TABLE)
def test_graphemes_table(text: str, clusters: list[str]) -> None:
    assert graphemes(text) == clusters
    assert textlen._fallback_graphemes(text) == clusters


REALISTIC = [
    *"abcdeéèêëïôùçÇÉ HaïtiPort-au-Prince\r\n\t.,;:!?'\"()",
    "e\u0301",
    "\u0301",
    "\u20e3",
    "\ufe0f",
    "\u200d",
    "\u200c",
    *"故人西辞。日本語のテキストｶﾞ",
    "\uff9e",
    *"한국어텍스트",
    "\u1100",
    "\u1161",
    "\u11a8",
    *"مرحبا بالعالم",
    "\u064b",
    "\u0600",
    "\u200f",
    *["हि", "न्", "दी", "क्ष", "त्र", "क", "ष", "क्\u200dष"],
    *"ไทย",
    "\u0e33",
    *["👨", "👩", "👧", "🏽", "🏻", "🇭", "🇹", "🏴", "\U000e0067", "\U000e007f", "❤", "🔥"],
    *["☺", "©", "#", "1", "👍", "🧑", "🤝", "\u00a0", "\u0000", "\u2028", "\ufeff"],
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(REALISTIC), max_size=16).map("".join))
def test_fallback_graphemes_agree_with_the_regex_module(text: str) -> None:
    regex = pytest.importorskip("regex")
    assert textlen._fallback_graphemes(text) == regex.findall(r"\X", text, flags=regex.DOTALL)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_graphemes_partition_the_text(text: str) -> None:
    for split in (graphemes(text), textlen._fallback_graphemes(text)):
        assert "".join(split) == text
        assert all(split)


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        # Mastodon: every URL is 23, a remote mention counts its local part only.
        ("mastodon", "Read https://ctninfo.com/" + "a" * 100, 5 + 23),
        ("mastodon", "@editor@mastodon.social bonjou", len("@editor bonjou")),
        ("mastodon", "Haïti 🇭🇹 👍🏽", 9),
        # Bluesky: graphemes, URLs at their full length.
        (
            "bluesky",
            "Haïti 🇭🇹 https://ctninfo.com/?p=37070",
            8 + len("https://ctninfo.com/?p=37070"),
        ),
        # Threads: an emoji counts as its UTF-8 bytes (the documented rule).
        ("threads", "ok 👍🏽", 3 + len("👍🏽".encode())),
        ("threads", "Haïti", 5),
        # UTF-16 code units (Telegram, LinkedIn): astral characters count 2.
        ("utf16", "Haïti 🇭🇹", 6 + 4),
        ("codepoints", "Haïti 🇭🇹", 8),
    ],
)
def test_other_platform_rules(rule: str, text: str, expected: int) -> None:
    assert length(text, rule) == expected
