"""Article -> post text for one account, fitted to its platform. Pure: values in, a ``Post`` out.

``compose(article, account, spec)`` renders ``account.template`` with these variables:

=============  ==================================================================================
``{title}``    the headline (shortened at a word boundary with "…" only as a last resort)
``{summary}``  ``article.description``, else the lead's first sentences
``{lead}``     ``article.lead``
``{url}``      ``article.url`` with the account's UTM parameters (never cut, never altered)
``{hashtags}`` from ``article.tags`` (see ``build_hashtags``)
``{author}``   the authors, "A, B & C"
``{section}``  ``article.section``
``{site}``     ``article.site_name``
=============  ==================================================================================

Fitting. The template is rendered from parts that can each be reduced on their own, and the
text is measured with ``bot.textlen`` under ``spec.counting`` after every reduction (never
``template.format(...)[:limit]``, which cuts links). When the text is too long, the optional
parts go in this order until it fits: hashtags (last first), summary sentences (last first),
lead sentences (last first), then the title is shortened at a word boundary with "…". A word
is never split, except a single word longer than the room left, which is cut between grapheme
clusters with "…". Should all that not be enough (absurd author, section or site names, or a
long literal text in the template) those are shortened the same way and, last, the post is
the link alone. ``Post.dropped`` names what was removed or shortened. Each stage
binary-searches how much it can keep, so composing measures the text O(log n) times.

Article fields are treated as plain text, defensively: HTML tags are stripped, entities decoded
(repeatedly: feeds double-encode), control and twitter-text-invalid characters removed, Unicode
normalised to NFC, whitespace collapsed.

An editor's own text (``compose(..., text=...)``) is used as written (whitespace tidied); the
link is appended when the text does not contain it, and a text that is still too long raises
``TextTooLong``: an editor's words are never cut.
"""

from __future__ import annotations

import html
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from bot import textlen
from bot.models import Article, Post

if TYPE_CHECKING:
    from bot.config import AccountConfig, HashtagSettings
    from bot.publishers.base import PlatformSpec

__all__ = [
    "VARIABLES",
    "TextTooLong",
    "add_utm",
    "build_hashtags",
    "check_template",
    "compose",
]

VARIABLES = frozenset({"title", "summary", "lead", "url", "hashtags", "author", "section", "site"})
ELLIPSIS = "…"
SUMMARY_SENTENCES_FROM_LEAD = 2  # {summary} falls back to this many sentences of the lead


class TextTooLong(ValueError):
    """A text that may not be shortened (an editor's, or a link alone) is over the limit."""

    def __init__(self, length: int, limit: int, counting: str, what: str = "the text") -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"{what} is {length} characters long as {counting!r} counts them; the limit is "
            f"{limit}. Shorten it by {length - limit}."
        )


# --- templates ---------------------------------------------------------------------------------


def check_template(template: str) -> None:
    """Raise ``ValueError`` naming the problem when ``template`` is not usable."""
    _parse_template(template)


def _parse_template(template: str) -> list[tuple[str, str | None]]:
    """The template as (literal text, variable or None) pairs, validated."""
    known = ", ".join("{" + v + "}" for v in sorted(VARIABLES))
    if not template.strip():
        raise ValueError(f"the template is empty; use some of {known}")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(
            f"malformed braces in template {template!r}: {e} "
            "(write {{ and }} for literal braces)"
        ) from None
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            out.append((literal, None))
            continue
        if name not in VARIABLES:
            shown = "{" + name + "}" if name else "{}"
            raise ValueError(f"unknown template variable {shown}; known: {known}")
        if spec or conversion:
            raise ValueError(
                f"template variable {{{name}}} takes no conversion or format spec "
                f"(found {'!' + conversion if conversion else ''}{':' + spec if spec else ''})"
            )
        out.append((literal, name))
    return out


# --- plain text --------------------------------------------------------------------------------

_DROP_BLOCKS = re.compile(r"<(script|style|template)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<!--.*?(?:-->|$)|<[!?][^>]*>|</?([A-Za-z][A-Za-z0-9-]*)[^>]*>", re.DOTALL)
_BLOCK_TAGS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
     "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
     "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
)  # fmt: skip
_UNCLOSED_TAG = re.compile(r"<[A-Za-z/!?][^<>]*$")  # cut-off markup at the end
_TAG_START = re.compile(r"<(?=[A-Za-z/!?]|$)")  # a "<" that could open a tag
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")
_SPACES = re.compile(r"[^\S\u00a0\u202f]+")  # any whitespace run but non-breaking spaces
_H_SPACES = re.compile(r"[^\S\n\u00a0\u202f]+")
_WP_MORE = re.compile(r"\s*\[(?:…|\.\.\.)\]\s*$")  # WordPress "read more" in excerpts
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060"  # ZWSP, ZWNJ, ZWJ, word joiner
# Zero-width characters join or separate what is around them; next to a space or an edge they
# join nothing and would be left dangling at a cut.
_LOOSE_ZERO_WIDTH = re.compile(rf"(?:^|(?<=\s))[{_ZERO_WIDTH}]+|[{_ZERO_WIDTH}]+(?=\s|$)")


def _tag_replacement(m: re.Match[str]) -> str:
    name = m.group(1)
    return " " if name and name.lower() in _BLOCK_TAGS else ""


def _plain(value: str | None) -> str:
    """Markup-free, entity-free, single-line NFC text."""
    if not value:
        return ""
    text = _DROP_BLOCKS.sub(" ", value)
    while True:  # each round strictly shortens a changed text, so this ends
        new = html.unescape(_TAG.sub(_tag_replacement, text))
        if new == text:
            break
        text = _DROP_BLOCKS.sub(" ", new)
    text = _TAG_START.sub("", _UNCLOSED_TAG.sub("", _INVISIBLE.sub("", text)))
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", _balanced_bidi(text))).strip()
    return _LOOSE_ZERO_WIDTH.sub("", text)


_BIDI_EMBEDDINGS = re.compile("[\u202a-\u202e]")  # LRE RLE PDF LRO RLO: deprecated, dropped
_ISOLATE_OPEN = "\u2066\u2067\u2068"  # LRI RLI FSI
_ISOLATE_CLOSE = "\u2069"  # PDI


def _balanced_bidi(text: str) -> str:
    """No bidi override or embedding, and every isolate closed within the field: an open
    RLO or RLI would reverse whatever follows in the post, the link included."""
    text = _BIDI_EMBEDDINGS.sub("", text)
    if not any(c in text for c in _ISOLATE_OPEN + _ISOLATE_CLOSE):
        return text
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch in _ISOLATE_OPEN:
            depth += 1
        elif ch == _ISOLATE_CLOSE:
            if depth == 0:
                continue  # closes nothing
            depth -= 1
        out.append(ch)
    return "".join(out) + _ISOLATE_CLOSE * depth


def _tidy(text: str) -> str:
    """No double spaces, no space at line ends or starts, at most one blank line, no edges."""
    text = _H_SPACES.sub(" ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


# --- sentences ---------------------------------------------------------------------------------

_GLUED = re.compile(r"(?<=[a-zà-ÿ]{2}[.!?])(?=[A-ZÀ-Þ][a-zà-ÿ])")  # "Ruto.For" (joined paragraphs)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|[。！？]+[」』”’）)]*\s*")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "sen", "rep", "gov", "lt", "col",
     "capt", "sgt", "mt", "no", "vs", "etc", "mme", "mgr", "me", "hon", "pres", "fig", "pp", "ca",
     "approx", "dept", "est", "inc", "ltd", "co", "corp", "av", "ave", "blvd"}
)  # fmt: skip
_INITIALS = re.compile(r"(?:\b\w\.)+$")


def _sentences(text: str) -> list[str]:
    """Split plain text into sentences (a bit careful about "Dr.", "U.S." and initials)."""
    text = _GLUED.sub(" ", text)
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start : m.end()].strip()
        if piece.endswith(".") and _is_abbreviation(piece):
            continue
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _is_abbreviation(sentence: str) -> bool:
    words = sentence.split()
    last = words[-1] if words else ""
    return last[:-1].lower() in _ABBREVIATIONS or bool(_INITIALS.search(last))


# --- hashtags ----------------------------------------------------------------------------------

_APOSTROPHES = "'’ʼ"


def build_hashtags(tags: Sequence[str], settings: HashtagSettings) -> list[str]:
    """Hashtags for ``tags`` (the article's categories and tags, in order).

    Each tag goes through ``settings.map`` (a ``None`` value means never), unless it is in
    ``settings.exclude``; with ``only_mapped`` unmapped tags are skipped. The result is X-valid
    syntax: letters (accents kept), marks, digits and "_", never digits only; several words
    are joined and capitalised ("Port-au-Prince" -> "#PortAuPrince"). Duplicates (ignoring
    case) are skipped; at most ``settings.max`` are returned.
    """
    mapping = {_key(k): v for k, v in settings.map.items()}
    excluded = {_key(t) for t in settings.exclude}
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        if len(out) >= settings.max:
            break
        key = _key(tag)
        if key in excluded:
            continue
        if tag in settings.map:
            name = settings.map[tag]
        elif key in mapping:
            name = mapping[key]
        elif settings.only_mapped:
            continue
        else:
            name = tag
        if name is None:
            continue
        hashtag = _hashtag(name)
        if hashtag and hashtag.casefold() not in seen:
            seen.add(hashtag.casefold())
            out.append(hashtag)
    return out


def _key(tag: str) -> str:
    return _plain(tag).casefold()


def _hashtag(name: str) -> str | None:
    """``"#Word"`` from a category name, or None when nothing valid is left."""
    text = _plain(name).lstrip("#＃")
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "LM" or cat == "Nd" or ch == "_":
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    if not words:
        return None
    if len(words) > 1:
        words = [_capitalise(w) for w in words]
    body = "".join(words)
    if not any(unicodedata.category(ch)[0] == "L" for ch in body):
        return None  # "#2026" is not a hashtag on X
    return "#" + body


def _capitalise(word: str) -> str:
    first = word[0].upper()
    return (first if len(first) == 1 else word[0]) + word[1:]


# --- links -------------------------------------------------------------------------------------


def add_utm(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query.

    Other query parameters stay exactly as written; any ``utm_*`` already there is replaced
    (mixed campaigns corrupt analytics); the fragment stays at the end. No ``params``: the
    URL is returned unchanged.
    """
    if not params:
        return url
    parts = urlsplit(url)
    kept = [
        p
        for p in parts.query.split("&")
        if p and not unquote(p.split("=", 1)[0]).lower().startswith("utm_")
    ]
    added = [f"{_encode(k)}={_encode(v)}" for k, v in params.items()]
    return urlunsplit(parts._replace(query="&".join(kept + added)))


def _encode(value: str) -> str:
    # Only letters, digits, "_" and "-" stay bare: twitter-text ends a link before a final "."
    # or "~", so those are encoded too and the whole link stays clickable.
    return quote(value, safe="").replace(".", "%2E").replace("~", "%7E")


def _contains_url(text: str, url: str) -> bool:
    at = text.find(url)
    while at != -1:
        end = at + len(url)
        if end == len(text) or text[end].isspace() or text[end] in ".,;:!?)»”\"'":
            return True
        at = text.find(url, at + 1)
    return False


# --- composing ---------------------------------------------------------------------------------


def compose(
    article: Article, account: AccountConfig, spec: PlatformSpec, *, text: str | None = None
) -> Post:
    """The post for ``account``: its template rendered and fitted, or an editor's ``text``."""
    limit = spec.max_length
    if account.max_length is not None:
        limit = min(limit, account.max_length)
    url = add_utm(article.url, account.utm.params()) if account.utm else article.url

    def measure(t: str) -> int:
        return textlen.length(t, spec.counting)

    if text is not None:
        body, url = _editor_text(text, url, article.url)
        n = measure(body)
        if n > limit:
            raise TextTooLong(n, limit, spec.counting)
        return _post(article, account, body, url, n, limit, ())

    draft = _Draft.build(_parse_template(account.template), article, account, url)
    body, dropped = _fit(draft, measure, limit, spec.counting)
    return _post(article, account, body, url, measure(body), limit, dropped)


def _post(
    article: Article,
    account: AccountConfig,
    text: str,
    url: str,
    n: int,
    limit: int,
    dropped: tuple[str, ...],
) -> Post:
    return Post(
        account_id=account.id,
        platform=account.platform,
        text=text,
        url=url,
        length=n,
        limit=limit,
        dropped=dropped,
        image=article.image,
        title=_plain(article.title),
        description=_plain(article.description or article.lead),
        language=article.language,
    )


def _editor_text(text: str, url: str, bare_url: str) -> tuple[str, str]:
    body = _tidy(_INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))
    if not body:
        raise ValueError("the text is empty")
    for candidate in (url, bare_url):
        if _contains_url(body, candidate):
            return body, candidate
    return f"{body} {url}", url


@dataclass(slots=True)
class _Draft:
    """The template's parts, each reducible on its own; ``render()`` puts them together."""

    segments: list[tuple[str, str | None]]
    title: str
    summary: list[str]
    lead: list[str]
    hashtags: list[str]
    fixed: dict[str, str]
    used: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        segments: list[tuple[str, str | None]],
        article: Article,
        account: AccountConfig,
        url: str,
    ) -> _Draft:
        used = frozenset(name for _, name in segments if name)
        lead = _sentences(_plain(article.lead))
        description = _plain(article.description)
        if _WP_MORE.search(description):  # an excerpt cut mid-sentence: "… [&hellip;]"
            description = _WP_MORE.sub("", description).rstrip(" ,;:") + ELLIPSIS
        summary = _sentences(description) if description else lead[:SUMMARY_SENTENCES_FROM_LEAD]
        if "lead" in used and summary == lead[: len(summary)]:
            summary = []  # the same words twice
        authors = [a for a in (_plain(a) for a in article.authors) if a]
        author = (
            ", ".join(authors[:-1]) + " & " + authors[-1] if len(authors) > 1 else "".join(authors)
        )
        return cls(
            segments=segments,
            title=_plain(article.title),
            summary=summary,
            lead=lead,
            hashtags=build_hashtags(article.tags, account.hashtags) if "hashtags" in used else [],
            fixed={
                "url": url,
                "author": author,
                "section": _plain(article.section),
                "site": _plain(article.site_name),
            },
            used=used,
        )

    def value(self, name: str) -> str:
        if name == "title":
            return self.title
        if name in ("summary", "lead", "hashtags"):
            parts: list[str] = getattr(self, name)
            return " ".join(parts)
        return self.fixed[name]

    def render(self) -> str:
        return _tidy(
            "".join(lit + (self.value(name) if name else "") for lit, name in self.segments)
        )


def _fit(
    draft: _Draft, measure: Callable[[str], int], limit: int, counting: str
) -> tuple[str, tuple[str, ...]]:
    cache: dict[str, bool] = {}

    def fits() -> bool:
        t = draft.render()
        if t not in cache:
            cache[t] = bool(t) and measure(t) <= limit
        return cache[t]

    dropped: list[str] = []
    if fits():
        return draft.render(), ()
    originals = {name: list(getattr(draft, name)) for name in _DROP_ORDER}

    for name in _DROP_ORDER:
        items: list[str] = getattr(draft, name)
        if name not in draft.used or not items:
            continue
        dropped.append(name)
        whole = list(items)

        def keep(k: int, name: str = name, whole: list[str] = whole) -> bool:
            setattr(draft, name, whole[:k])
            return fits()

        best = _largest(0, len(whole) - 1, keep)
        setattr(draft, name, whole[: best or 0])
        if best is not None:
            _restore(draft, originals, fits)
            return draft.render(), tuple(
                n for n in _DROP_ORDER if getattr(draft, n) != originals[n]
            )

    for name in ("title", "author", "section", "site"):
        if name not in draft.used or not draft.value(name):
            continue
        dropped.append(name)
        if _shorten(draft, name, fits):
            return draft.render(), tuple(dropped)

    # Only the literal text of the template is left to blame: the link alone, or the text cut.
    dropped.append("template")
    if "url" in draft.used:
        body = draft.fixed["url"]
    else:
        body = _cut_text(draft.render(), lambda t: bool(t) and measure(t) <= limit)
    n = measure(body)
    if not body or n > limit:
        raise TextTooLong(n, limit, counting, what="the link alone" if body else "the text")
    return body, tuple(dropped)


_DROP_ORDER = ("hashtags", "summary", "lead")  # least important first


def _restore(draft: _Draft, originals: dict[str, list[str]], fits: Callable[[], bool]) -> None:
    """Give back what an earlier drop took when a later one made room: once a long summary
    sentence is gone, the hashtags dropped before it may fit again. Most important first."""
    for name in reversed(_DROP_ORDER):
        whole = originals[name]
        have = len(getattr(draft, name))
        if have == len(whole):
            continue

        def keep(k: int, name: str = name, whole: list[str] = whole) -> bool:
            setattr(draft, name, whole[:k])
            return fits()

        best = _largest(have, len(whole), keep)
        setattr(draft, name, whole[: best if best is not None else have])


def _largest(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """The largest k in [lo, hi] with ok(k), by bisection (ok is monotone: true, then false)."""
    if hi < lo or not ok(lo):
        return None
    best = lo
    lo += 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if ok(mid):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def _shorten(draft: _Draft, name: str, fits: Callable[[], bool]) -> bool:
    """Shorten the single-text part ``name`` until the draft fits; False if even "" does not."""
    original = draft.value(name)

    def put(value: str) -> None:
        if name == "title":
            draft.title = value
        else:
            draft.fixed[name] = value

    def attempt(value: str) -> bool:
        put(value)
        return fits()

    cut = _cut_text(original, attempt)
    put(cut)
    return bool(cut) or attempt("")


def _cut_text(text: str, ok: Callable[[str], bool]) -> str:
    """The longest "words…" (or "graphem…" of a lone first word) with ok(result); else ""."""
    words = text.split(" ")

    def words_only(k: int) -> str:
        return _with_ellipsis(" ".join(words[:k]))

    k = _largest(1, len(words) - 1, lambda k: ok(words_only(k)))
    if k is not None:
        return words_only(k)
    clusters = textlen.graphemes(words[0])

    def clusters_only(g: int) -> str:
        return _balanced_bidi("".join(clusters[:g]).rstrip().rstrip(_ZERO_WIDTH)) + ELLIPSIS

    g = _largest(0, len(clusters) - 1, lambda g: ok(clusters_only(g)))
    return clusters_only(g) if g is not None else ""


_TRAILING_PUNCT = " ,;:-–—(/"


def _with_ellipsis(text: str) -> str:
    text = text.rstrip(_TRAILING_PUNCT + _ZERO_WIDTH).removesuffix(ELLIPSIS)
    return _balanced_bidi(text.rstrip(_TRAILING_PUNCT + _ZERO_WIDTH)) + ELLIPSIS
