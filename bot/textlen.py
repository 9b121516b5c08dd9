"""Text length as each platform counts it. Pure: strings in, numbers out.

``length(text, rule)`` and ``fits(text, rule, limit=None)`` look the rule up in ``RULES``;
``PlatformSpec.counting`` names the rule. Rules today:

``x``
    twitter-text v3, the rule X enforces: text is NFC-normalised; code points in the v3
    "light" ranges (Latin, Cyrillic, general punctuation…) weigh 1 and all others (CJK…) 2;
    every emoji cluster weighs 2; every recognised URL weighs 23 whatever its length; the
    limit is 280. Built on the ``twitter-text-parser`` package (module ``twitter_text``): its
    v3 configuration, URL extractor and emoji table. ``parse_tweet`` itself runs its emoji
    regular expression at every position of the text (about 6 µs per character), too slow
    for the summarizer's fitting loop, so ``_XCounter`` runs the same expression only where
    an emoji can start. The unit tests hold it equal to ``parse_tweet(text).weightedLength``
    on the conformance vectors and on generated text.
``graphemes``
    Unicode extended grapheme clusters (what a reader sees as one character), URLs at their
    real length, no default limit. A building block for Mastodon, Bluesky and Threads.
    Segmentation uses the ``regex`` module's ``\\X`` when it is installed (it comes with
    trafilatura, through dateparser), else ``_fallback_graphemes`` (UAX #29 rules over
    ``unicodedata``); ``GRAPHEME_ENGINE`` says which.

``mastodon``
    Mastodon's rule: graphemes, every URL 23, ``@user@domain`` counted as ``@user``; 500 by
    default (the real limit is per instance and read from it by the publisher).
``bluesky``
    300 graphemes, URLs at their full length.
``threads``
    500 characters, an emoji counted as its UTF-8 bytes (the documented, pessimistic rule).
``utf16``
    UTF-16 code units (Telegram: 4,096 for a message, 1,024 for a caption; LinkedIn).
``codepoints``
    Python's ``len`` (Facebook, webhooks).

A new platform adds one ``Rule`` to ``RULES``.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = [
    "GRAPHEME_ENGINE",
    "RULES",
    "Rule",
    "UrlSpan",
    "extract_urls",
    "fits",
    "graphemes",
    "length",
]


class UrlSpan(NamedTuple):
    """A URL found in a text: the URL and its ``text[start:end]`` position (code points)."""

    url: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Rule:
    """How one platform counts: a counter, a URL finder, and its default limit (if any)."""

    name: str
    count: Callable[[str], int]
    find_urls: Callable[[str], list[UrlSpan]]
    limit: int | None = None


def length(text: str, platform: str) -> int:
    """The length of ``text`` as the rule named ``platform`` counts it (``"x"``, ...)."""
    return _rule(platform).count(text)


def fits(text: str, platform: str, limit: int | None = None) -> bool:
    """Whether ``text`` fits ``limit`` (default: the rule's own limit, e.g. 280 for ``x``)."""
    rule = _rule(platform)
    if limit is None:
        if rule.limit is None:
            raise ValueError(f"the {platform!r} rule has no default limit; pass limit=")
        limit = rule.limit
    return rule.count(text) <= limit


def extract_urls(text: str, platform: str) -> list[UrlSpan]:
    """The URLs the rule recognises in ``text``, in order, with positions in ``text``."""
    return _rule(platform).find_urls(text)


def graphemes(text: str) -> list[str]:
    """``text`` split into extended grapheme clusters (never splits an emoji or an accent)."""
    if _X_CLUSTER is not None:
        found: list[str] = _X_CLUSTER.findall(text)
        return found
    return _fallback_graphemes(text)


def _rule(platform: str) -> Rule:
    try:
        return RULES[platform]
    except KeyError:
        known = ", ".join(sorted(RULES))
        raise ValueError(f"no text-length rule {platform!r}; known: {known}") from None


# --- x: twitter-text v3 ------------------------------------------------------------------------

_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")


def _import_twitter_text(name: str) -> Any:
    # twitter-text-parser 3.0.0 imports pkg_resources, which newer setuptools deprecate.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return importlib.import_module(name)


class _XCounter:
    """``parse_tweet(text).weightedLength`` with the emoji expression run only where needed.

    The loop is ``twitter_text.parse_tweet``'s own: at each position a URL (weight
    ``transformed_url_length``), else an emoji (``default_weight``), else one code point
    (its range's weight). URL and emoji entities come from ``twitter_text``'s extractor and
    expression; emoji matches are looked for only at code points that begin some emoji of its
    table, which finds exactly the matches ``finditer`` would.
    """

    def __init__(self) -> None:
        tt = _import_twitter_text("twitter_text")
        emoji_mod = _import_twitter_text("twitter_text.regexp.emoji")
        options: dict[str, Any] = tt.config.config["version3"]
        self._extract_urls: Callable[[str], list[dict[str, Any]]] = tt.extract_urls_with_indices
        self._emoji: re.Pattern[str] = emoji_mod.emoji
        starts = sorted({int(e.codepoint.split()[0], 16) for e in emoji_mod.emoji_list})
        self._emoji_start = re.compile("[" + "".join(_class_ranges(starts)) + "]")
        self._scale: int = options["scale"]
        self._url_weight: int = options["transformed_url_length"] * self._scale
        self._default: int = options["default_weight"]
        self._emoji_on: bool = options["emoji_parsing_enabled"]
        self._ranges: tuple[tuple[int, int, int], ...] = tuple(
            (r["start"], r["end"], r["weight"]) for r in options["ranges"]
        )

    def __call__(self, text: str) -> int:
        text = _LINE_ENDINGS.sub("\n", unicodedata.normalize("NFC", text))
        urls = {u["indices"][0]: len(u["url"]) for u in self._extract_urls(text)}
        emojis = dict(self._emoji_spans(text)) if self._emoji_on else {}
        total = 0
        i = 0
        n = len(text)
        while i < n:
            if i in urls:
                total += self._url_weight
                i += urls[i]
            elif i in emojis:
                total += self._default
                i += emojis[i]
            else:
                total += self._weight(ord(text[i]))
                i += 1
        return total // self._scale

    def find_urls(self, text: str) -> list[UrlSpan]:
        found = self._extract_urls(text)
        return [UrlSpan(u["url"], u["indices"][0], u["indices"][1]) for u in found]

    def _weight(self, cp: int) -> int:
        for start, end, weight in self._ranges:
            if start <= cp <= end:
                return weight
        return self._default

    def _emoji_spans(self, text: str) -> Iterator[tuple[int, int]]:
        pos = 0
        while (m := self._emoji_start.search(text, pos)) is not None:
            start = m.start()
            e = self._emoji.match(text, start)
            if e is None:
                pos = start + 1
            else:
                yield start, e.end() - start
                pos = e.end()


def _class_ranges(cps: list[int]) -> Iterator[str]:
    """Code points -> character-class items (``a-z`` runs), escaped for ``re``."""
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = re.escape(chr(cps[i])), re.escape(chr(cps[j]))
        yield lo if i == j else f"{lo}-{hi}"
        i = j + 1


@lru_cache(maxsize=1)
def _x_counter() -> _XCounter:
    return _XCounter()


def _x_length(text: str) -> int:
    return _x_counter()(text)


def _x_urls(text: str) -> list[UrlSpan]:
    return _x_counter().find_urls(text)


# --- graphemes ---------------------------------------------------------------------------------

_URL = re.compile(r"\bhttps?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\"»”’)]}"


def _generic_urls(text: str) -> list[UrlSpan]:
    """http(s) URLs, without trailing punctuation (a closing bracket stays when balanced)."""
    spans = []
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in _URL_TRAILING:
            last = url[-1]
            opener = {")": "(", "]": "[", "}": "{"}.get(last)
            if opener and url.count(opener) >= url.count(last):
                break
            url = url[:-1]
        spans.append(UrlSpan(url, m.start(), m.start() + len(url)))
    return spans


def _grapheme_length(text: str) -> int:
    return len(graphemes(text))


def _load_x_cluster() -> re.Pattern[str] | None:
    try:
        module = importlib.import_module("regex")
    except ImportError:
        return None
    pattern: re.Pattern[str] = module.compile(r"\X", module.DOTALL)
    return pattern


_X_CLUSTER = _load_x_cluster()
GRAPHEME_ENGINE = "regex" if _X_CLUSTER is not None else "fallback"

# Grapheme_Cluster_Break values, derived from unicodedata where the property is not exposed.
_CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI, _PREPEND, _SPACING = range(8)
_L, _V, _T, _LV, _LVT, _OTHER = range(8, 14)

_PREPEND_CPS = frozenset(
    [*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x0D4E, 0x110BD, 0x110CD,
     0x111C2, 0x111C3, 0x1193F, 0x11941, 0x11A3A, *range(0x11A84, 0x11A8A), 0x11D46, 0x11F02]
)  # fmt: skip
# Spacing combining marks (Mc) that are Grapheme_Extend, hence Extend, not SpacingMark.
_MC_EXTEND = frozenset(
    [0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57,
     0x0DCF, 0x0DDF, 0x1B35, 0x302E, 0x302F, 0x1133E, 0x11357, 0x114B0, 0x114BD, 0x115AF,
     0x11930, 0x1D165, *range(0x1D16E, 0x1D173)]
)  # fmt: skip
_EXT_PICT = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x2388, 0x2388), (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2),
    (0x25AA, 0x25AB), (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2605),
    (0x2607, 0x2612), (0x2614, 0x2685), (0x2690, 0x2705), (0x2708, 0x2712), (0x2714, 0x2714),
    (0x2716, 0x2716), (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734),
    (0x2744, 0x2744), (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2763, 0x2767), (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0),
    (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)  # fmt: skip
# Indic conjuncts (GB9c): the virama-like linkers and the consonants they join.
_INCB_LINKERS = frozenset([0x094D, 0x09CD, 0x0ACD, 0x0B4D, 0x0C4D, 0x0D4D])
_INCB_CONSONANTS = (
    (0x0915, 0x0939), (0x0958, 0x095F), (0x0978, 0x097F), (0x0995, 0x09A8), (0x09AA, 0x09B0),
    (0x09B2, 0x09B2), (0x09B6, 0x09B9), (0x09DC, 0x09DD), (0x09DF, 0x09DF), (0x09F0, 0x09F1),
    (0x0A95, 0x0AA8), (0x0AAA, 0x0AB0), (0x0AB2, 0x0AB3), (0x0AB5, 0x0AB9), (0x0AF9, 0x0AF9),
    (0x0B15, 0x0B28), (0x0B2A, 0x0B30), (0x0B32, 0x0B33), (0x0B35, 0x0B39), (0x0B5C, 0x0B5D),
    (0x0B5F, 0x0B5F), (0x0B71, 0x0B71), (0x0C15, 0x0C28), (0x0C2A, 0x0C39), (0x0C58, 0x0C5A),
    (0x0D15, 0x0D3A),
)  # fmt: skip


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=4096)
def _pict(cp: int) -> bool:
    return _in(cp, _EXT_PICT)


@lru_cache(maxsize=4096)
def _consonant(cp: int) -> bool:
    return _in(cp, _INCB_CONSONANTS)


@lru_cache(maxsize=4096)
def _gcb(cp: int) -> int:
    if cp == 0x0D:
        return _CR
    if cp == 0x0A:
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if cp in _PREPEND_CPS:
        return _PREPEND
    if (
        cp == 0x200C
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
        or 0xFF9E <= cp <= 0xFF9F
    ):
        return _EXTEND
    cat = unicodedata.category(chr(cp))
    if cat in ("Mn", "Me") or cp in _MC_EXTEND:
        return _EXTEND
    if cat == "Mc" or cp in (0x0E33, 0x0EB3):
        return _SPACING
    if cat in ("Cc", "Zl", "Zp", "Cf"):
        return _CONTROL
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    return _OTHER


_HANGUL_NO_BREAK = {
    _L: (_L, _V, _LV, _LVT),
    _LV: (_V, _T),
    _V: (_V, _T),
    _LVT: (_T,),
    _T: (_T,),
}


def _breaks(prev: int, cur: int, cp: int, ri_run: int, pict: int, incb: int) -> bool:
    """Whether UAX #29 allows a break between ``prev`` and ``cur`` (GB3-GB999)."""
    if prev == _CR and cur == _LF:
        return False  # GB3
    if prev in (_CR, _LF, _CONTROL) or cur in (_CR, _LF, _CONTROL):
        return True  # GB4, GB5
    if cur in _HANGUL_NO_BREAK.get(prev, ()):
        return False  # GB6-GB8
    if cur in (_EXTEND, _ZWJ, _SPACING) or prev == _PREPEND:
        return False  # GB9, GB9a, GB9b
    if incb == 2 and _consonant(cp):
        return False  # GB9c
    if pict == 2 and _pict(cp):
        return False  # GB11
    if prev == _RI and cur == _RI:
        return ri_run % 2 == 0  # GB12, GB13
    return True  # GB999


def _fallback_graphemes(text: str) -> list[str]:
    """Extended grapheme clusters by the UAX #29 rules (GB3-GB13), without the ``regex`` module.

    Properties come from ``unicodedata`` where they can (Extend = Mn/Me, SpacingMark = Mc);
    Extended_Pictographic, Prepend, Hangul and Indic-conjunct data are tables above. Agrees
    with ``regex``'s ``\\X`` on everyday text (Latin with accents, CJK, Hangul, Arabic,
    Devanagari, emoji with skin tones, ZWJ sequences, flags, tags); rare scripts may differ.
    """
    clusters: list[str] = []
    start = 0
    prev = -1
    ri_run = 0  # regional indicators since the last break candidate
    pict = 0  # 0: none, 1: ExtPict seen (Extend* may follow), 2: ... then ZWJ
    incb = 0  # 0: none, 1: consonant seen, 2: consonant + linker seen
    for i, ch in enumerate(text):
        cp = ord(ch)
        cur = _gcb(cp)
        if i > 0 and _breaks(prev, cur, cp, ri_run, pict, incb):
            clusters.append(text[start:i])
            start = i
        # State for the rules that look further back than one code point.
        ri_run = ri_run + 1 if cur == _RI else 0
        if _pict(cp):
            pict = 1
        elif pict and cur == _EXTEND:
            pict = 1 if pict == 1 else 0
        elif pict == 1 and cur == _ZWJ:
            pict = 2
        else:
            pict = 0
        if _consonant(cp):
            incb = 1
        elif incb and cp in _INCB_LINKERS:
            incb = 2
        elif not (incb and cur in (_EXTEND, _ZWJ) and cp != 0x200C):
            incb = 0  # ZWNJ is Grapheme_Extend but not InCB=Extend: it ends a conjunct
        prev = cur
    if text:
        clusters.append(text[start:])
    return clusters


# --- the registry ------------------------------------------------------------------------------

_MASTODON_URL_WEIGHT = 23
_MASTODON_MENTION = re.compile(r"(?<![\w@])(@[\w.]+)@[\w.-]+\.[a-z]{2,}", re.IGNORECASE)


def _mastodon_length(text: str) -> int:
    """Mastodon's StatusLengthValidator: graphemes, every URL counts 23, a remote mention
    ``@user@domain`` counts as ``@user``."""
    urls = _generic_urls(text)
    out, last = [], 0
    for span in urls:
        out.append(text[last : span.start])
        out.append("x" * _MASTODON_URL_WEIGHT)
        last = span.end
    out.append(text[last:])
    return _grapheme_length(_MASTODON_MENTION.sub(r"\1", "".join(out)))


def _threads_length(text: str) -> int:
    """Threads counts characters, but its documentation says an emoji counts as the number of
    its UTF-8 bytes: count each non-ASCII grapheme that is an emoji at its byte length."""
    total = 0
    for g in graphemes(text):
        total += len(g.encode("utf-8")) if any(_pict(ord(c)) for c in g) else 1
    return total


def _utf16_length(text: str) -> int:
    """UTF-16 code units (Telegram's and LinkedIn's limits, JavaScript's ``length``)."""
    return len(text.encode("utf-16-le")) // 2


def _codepoint_length(text: str) -> int:
    return len(text)


RULES: Mapping[str, Rule] = {
    "x": Rule("x", _x_length, _x_urls, limit=280),
    "graphemes": Rule("graphemes", _grapheme_length, _generic_urls),
    "mastodon": Rule("mastodon", _mastodon_length, _generic_urls, limit=500),
    "bluesky": Rule("bluesky", _grapheme_length, _generic_urls, limit=300),
    "threads": Rule("threads", _threads_length, _generic_urls, limit=500),
    "utf16": Rule("utf16", _utf16_length, _generic_urls),
    "codepoints": Rule("codepoints", _codepoint_length, _generic_urls),
}
