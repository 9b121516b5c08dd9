"""Feed bytes -> ``ParsedFeed`` of ``FeedItem``: RSS 0.9x/1.0/2.0 and Atom via feedparser, JSON
Feed 1.0/1.1 with ``json`` (feedparser 6.0.x has no JSON Feed parser).

Pure: bytes in, values out. feedparser is always handed a ``BytesIO`` (given a ``str`` or
``bytes`` it would fetch URLs and open files) and no base URL: it keeps relative GUIDs as the
feed wrote them, and this module resolves links, images and content URLs against the feed URL
itself. Embedded HTML is sanitised by feedparser (scripts, styles, event handlers removed).

What we take from each entry, and how:

- ``guid``: RSS ``<guid>`` / Atom ``<id>`` / JSON ``id``, as written.
- ``link``: the alternate link, absolute; a permalink GUID when there is no link; only http(s).
- ``title``, ``summary``: plain text (tags and scripts removed, entities decoded, whitespace
  collapsed); WordPress "… Continue reading" links and "The post X appeared first on Y." removed.
- ``published`` / ``updated``: aware UTC, kept apart (Atom ``updated`` is WordPress's modified
  time; RSS 2.0 from WordPress has none); None when missing or unparseable.
- ``categories``: every category term (Atom ``label`` when present), entities decoded,
  deduplicated case-insensitively, in feed order.
- ``image``: media:content / media:thumbnail / image enclosure, else the first real ``<img>`` of
  the content (emoji and tracking pixels skipped) with its alt text.
- ``wp_post_id``: from a ``?p=ID`` GUID or link.

Entries with neither a GUID nor a link, and repeats of a GUID already seen in the same feed, are
dropped and counted in ``ParsedFeed.skipped``.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import feedparser
from feedparser.urls import resolve_relative_uris

from bot.errors import ParseError
from bot.identity import is_http_url, wp_post_id
from bot.language import normalize_language
from bot.models import FeedItem, Image

__all__ = ["ParsedFeed", "parse_feed", "plain_text"]


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed as this program needs it. ``items`` are in feed order."""

    title: str
    link: str | None
    language: str | None
    items: tuple[FeedItem, ...]
    hub: str | None = None  # WebSub hub (<atom:link rel="hub">, JSON Feed "hubs")
    self_url: str | None = None  # as the feed says; WordPress 6.1 drops the port from it
    skipped: int = 0  # entries dropped: no GUID and no link, or a GUID seen earlier in the feed


def parse_feed(
    content: bytes,
    *,
    source_id: str,
    url: str,
    content_type: str | None = None,
    default_language: str | None = None,
) -> ParsedFeed:
    """Parse feed bytes fetched from ``url``. Raises ``ParseError`` when they are not a feed.

    ``content_type`` is the response's Content-Type (it may carry the charset);
    ``default_language`` is used for items when neither the entry nor the feed names one.
    """
    default_language = normalize_language(default_language)
    if _looks_like_json(content, content_type):
        return _parse_json_feed(content, source_id, url, default_language)
    return _parse_xml_feed(content, source_id, url, content_type, default_language)


# --- text ---------------------------------------------------------------------------------------

_TAG_OR_ENTITY_RE = re.compile(
    r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<!--|<!\[CDATA\[|&#?[A-Za-z0-9]+;"
)
_CDATA_MARK_RE = re.compile(r"<!\[CDATA\[|\]\]>")  # left in text by a feed that escaped it
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_MAX_DECODING_ROUNDS = 3
# C0/C1 controls other than whitespace, lone surrogates, BOM and non-characters: never text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg"})
_APPEARED_FIRST_RE = re.compile(r"\s*The post\s.+?\sappeared first on\s.+?\.?\s*$", re.DOTALL)
_MORE_WORDS = (
    r"(?:Continue reading|Read more|Read the full (?:story|article)|Lire la suite|Leer más)"
)
_ELLIPSIS_MORE_RE = re.compile(
    r"\s*(?:…|\.\.\.|\[…\]|\[\.\.\.\])\s*" + _MORE_WORDS + r"\b.{0,300}$", re.DOTALL | re.IGNORECASE
)
_TRAILING_MORE_RE = re.compile(r"\s*" + _MORE_WORDS + r"\s*(?:→|»|›|\.\.\.|…)?\s*$", re.IGNORECASE)
_BRACKET_ELLIPSIS_RE = re.compile(r"\s*\[(?:…|\.\.\.)\]\s*$")


class _TextExtractor(HTMLParser):
    """Visible text of an HTML fragment, minus scripts and WordPress "more" links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        classes = (dict(attrs).get("class") or "").split()
        if tag in _SKIP_TAGS or "more-link" in classes or "screen-reader-text" in classes:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is None and tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if self._skip_tag is None:
            self.parts.append(data)


def plain_text(value: str | None) -> str:
    """Text of a possibly-HTML string: tags, scripts and styles removed, entities decoded (again
    when decoding revealed more markup: double-escaped feeds), control characters dropped,
    whitespace collapsed. A string without tags or entities is only cleaned, so "x < y"
    survives."""
    if not value:
        return ""
    for _ in range(_MAX_DECODING_ROUNDS):  # "&amp;lt;b&amp;gt;": feeds escape twice
        if not _TAG_OR_ENTITY_RE.search(value):
            break
        parser = _TextExtractor()
        parser.feed(_CDATA_MARK_RE.sub("", value))
        parser.close()
        value = "".join(parser.parts)
    return " ".join(_CONTROL_RE.sub("", value).split())


def _summary_text(value: str | None) -> str:
    text = plain_text(value)
    text = _APPEARED_FIRST_RE.sub("", text)
    text = _ELLIPSIS_MORE_RE.sub("…", text)
    text = _TRAILING_MORE_RE.sub("", text)
    text = _BRACKET_ELLIPSIS_RE.sub("…", text)
    return text.strip()


# --- images -------------------------------------------------------------------------------------


class _ImageFinder(HTMLParser):
    """The first ``<img>`` that is a picture (not a WordPress emoji or a tracking pixel)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag != "img":
            return
        a = {k: v or "" for k, v in attrs}
        src = (a.get("src") or a.get("data-src") or "").strip()
        if not src or src.startswith("data:"):
            return
        if "wp-smiley" in a.get("class", "").split() or "emoji" in a.get("class", ""):
            return
        if "/images/core/emoji/" in src:
            return
        if a.get("width", "").strip() in ("0", "1") or a.get("height", "").strip() in ("0", "1"):
            return
        self.found = {**a, "src": src}

    handle_startendtag = handle_starttag


def _to_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if isinstance(value, str):
        text = value.strip().removesuffix("px")
        if text.isascii() and text.isdigit() and int(text) > 0:
            return int(text)
    return None


def _image(
    url: object, base: str, alt: str = "", width: object = None, height: object = None
) -> Image | None:
    absolute = _absolute(base, url)
    if absolute is None:
        return None
    return Image(url=absolute, alt=plain_text(alt), width=_to_int(width), height=_to_int(height))


def _image_in_html(fragment: str | None, base: str) -> Image | None:
    if not fragment or "<img" not in fragment.lower():
        return None
    finder = _ImageFinder()
    finder.feed(fragment)
    finder.close()
    found = finder.found
    if found is None:
        return None
    return _image(found["src"], base, found.get("alt", ""), found.get("width"), found.get("height"))


def _keep_unique(candidates: Iterable[FeedItem | None]) -> tuple[tuple[FeedItem, ...], int]:
    """Items in feed order without unusable entries (None) and repeated GUIDs (or links, for
    items without a GUID); the second value counts what was dropped."""
    items: list[FeedItem] = []
    seen: set[str] = set()
    skipped = 0
    for item in candidates:
        key = item and (item.guid or item.link)
        if item is None or not key or key in seen:
            skipped += 1
            continue
        seen.add(key)
        items.append(item)
    return tuple(items), skipped


# --- XML feeds (feedparser) ---------------------------------------------------------------------


def _parse_xml_feed(
    content: bytes, source_id: str, url: str, content_type: str | None, default_language: str | None
) -> ParsedFeed:
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(
        io.BytesIO(content),
        response_headers=headers,
        resolve_relative_uris=True,  # only against xml:base here: no base URL is given
        sanitize_html=True,
    )
    entries: list[Any] = list(parsed.get("entries") or [])
    version = parsed.get("version") or ""
    if not entries and (parsed.get("bozo") or not version):
        raise ParseError(_not_a_feed_reason(content, parsed.get("bozo_exception"), url))

    feed: Mapping[str, Any] = parsed.get("feed") or {}
    feed_language = normalize_language(feed.get("language"))
    feed_link = _alternate_link(feed, url)

    language = feed_language or default_language
    items, skipped = _keep_unique(_xml_item(e, source_id, url, language) for e in entries)

    return ParsedFeed(
        title=plain_text(_str(feed.get("title"))),
        link=feed_link,
        language=feed_language,
        items=items,
        hub=_rel_link(feed, "hub", url),
        self_url=_rel_link(feed, "self", url),
        skipped=skipped,
    )


def _xml_item(
    entry: Mapping[str, Any], source_id: str, url: str, language: str | None
) -> FeedItem | None:
    guid = _str(entry.get("id"))
    link = _alternate_link(entry, url)
    if link is None and guid and entry.get("guidislink") and is_http_url(guid):
        link = guid
    if not guid and not link:
        return None
    base = link or url

    content_html = _content_html(entry, base)
    summary_html = _str(entry.get("summary"))
    media_image = _media_image(entry, base)
    image = media_image or _image_in_html(content_html, base) or _image_in_html(summary_html, base)

    return FeedItem(
        source_id=source_id,
        guid=guid,
        link=link,
        title=plain_text(_str(entry.get("title"))),
        summary=_summary_text(summary_html),
        content_html=content_html,
        published=_struct_time(_own(entry, "published_parsed")),
        updated=_struct_time(_own(entry, "updated_parsed")),
        authors=_authors(entry),
        categories=_categories(entry),
        language=_entry_language(entry) or language,
        image=image,
        wp_post_id=wp_post_id(guid) or wp_post_id(link),
    )


def _own(entry: Mapping[str, Any], key: str) -> object:
    """``entry[key]`` without feedparser's fallbacks (it maps a missing ``updated_parsed`` to
    ``published_parsed``, with a DeprecationWarning)."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _absolute(base: str, value: object) -> str | None:
    """``value`` resolved against ``base`` when it is a string giving an http(s) URL."""
    text = _str(value)
    if text is None:
        return None
    absolute = urljoin(base, text)
    return absolute if is_http_url(absolute) else None


def _str(value: object) -> str | None:
    """A stripped non-empty string, or None (feedparser and JSON values are untyped)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _links(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    links = obj.get("links")
    return [x for x in links if isinstance(x, Mapping)] if isinstance(links, list) else []


def _alternate_link(obj: Mapping[str, Any], base: str) -> str | None:
    candidates = [x for x in _links(obj) if (x.get("rel") or "alternate") == "alternate"]
    candidates.sort(key=lambda x: x.get("type") not in (None, "text/html", "application/xhtml+xml"))
    return next((a for c in candidates if (a := _absolute(base, c.get("href")))), None)


def _rel_link(obj: Mapping[str, Any], rel: str, base: str) -> str | None:
    return next(
        (a for x in _links(obj) if x.get("rel") == rel and (a := _absolute(base, x.get("href")))),
        None,
    )


def _content_html(entry: Mapping[str, Any], base: str) -> str | None:
    contents = [c for c in entry.get("content") or [] if isinstance(c, Mapping)]
    contents.sort(key=lambda c: c.get("type") not in ("text/html", "application/xhtml+xml"))
    for c in contents:
        value = _str(c.get("value"))
        if value:
            if c.get("type") == "text/plain":
                return "".join(
                    f"<p>{html.escape(p.strip())}</p>" for p in value.split("\n\n") if p.strip()
                )
            resolved: str = resolve_relative_uris(value, base, "utf-8", "text/html")
            return resolved
    return None


def _struct_time(value: object) -> datetime | None:
    """feedparser's ``*_parsed`` (a UTC ``time.struct_time``) -> aware UTC datetime."""
    if not isinstance(value, tuple) or len(value) < 6:
        return None
    try:
        year, month, day, hour, minute, second = (int(v) for v in value[:6])
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            names.append(plain_text(_str(author.get("name"))))
    if not names:
        names.append(plain_text(_str(entry.get("author"))))
    return _unique(names)


def _categories(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for tag in entry.get("tags") or []:
        if isinstance(tag, Mapping):
            names.append(_category_name(_str(tag.get("label")) or _str(tag.get("term"))))
    return _unique(names)


def _category_name(value: str | None) -> str:
    # WordPress stores "&" in term names as "&amp;" and CDATA keeps it: decode, then collapse.
    return " ".join(html.unescape(value or "").split())


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for v in values:
        if v and v.casefold() not in out:
            out[v.casefold()] = v
    return tuple(out.values())


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    language = normalize_language(entry.get("language"))  # dc:language
    if language:
        return language
    for key in ("title_detail", "summary_detail"):  # xml:lang on the entry (or inherited)
        detail = entry.get(key)
        if isinstance(detail, Mapping) and (language := normalize_language(detail.get("language"))):
            return language
    return None


def _media_image(entry: Mapping[str, Any], base: str) -> Image | None:
    for media in entry.get("media_content") or []:
        if not isinstance(media, Mapping):
            continue
        kind = str(media.get("medium") or media.get("type") or "")
        if kind == "image" or kind.startswith("image/"):
            found = _image(
                _str(media.get("url")), base, "", media.get("width"), media.get("height")
            )
            if found:
                return found
    for thumb in entry.get("media_thumbnail") or []:
        if isinstance(thumb, Mapping):
            found = _image(
                _str(thumb.get("url")), base, "", thumb.get("width"), thumb.get("height")
            )
            if found:
                return found
    for link in _links(entry):
        if link.get("rel") == "enclosure" and str(link.get("type") or "").startswith("image/"):
            found = _image(link.get("href"), base)
            if found:
                return found
    return None


def _not_a_feed_reason(content: bytes, exc: object, url: str) -> str:
    head = content[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        return f"not a feed: {url} returned an empty body"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]:
        return f"not a feed: {url} returned an HTML page"
    if isinstance(exc, Exception):
        detail = str(exc) or type(exc).__name__
        return f"not a feed: {url} is not valid RSS or Atom ({detail})"
    return f"not a feed: {url} has no RSS or Atom elements"


# --- JSON Feed ----------------------------------------------------------------------------------

_JSON_FEED_PREFIX = "https://jsonfeed.org/version/"


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    head = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return True
    if head.startswith(b"<"):
        return False
    return bool(content_type and "json" in content_type.split(";", 1)[0].lower())


def _parse_json_feed(
    content: bytes, source_id: str, url: str, default_language: str | None
) -> ParsedFeed:
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ParseError(f"not a feed: {url} is not valid JSON ({e})") from None
    except RecursionError:
        raise ParseError(f"not a feed: {url} is JSON nested too deeply") from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(_JSON_FEED_PREFIX):
        raise ParseError(f"not a feed: {url} is JSON but not a JSON Feed (no jsonfeed.org version)")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raise ParseError(f"not a feed: {url} is a JSON Feed without an items list")

    feed_language = normalize_language(data.get("language"))
    language = feed_language or default_language
    items, skipped = _keep_unique(
        _json_item(raw, source_id, url, language) if isinstance(raw, dict) else None
        for raw in raw_items
    )

    hubs = data.get("hubs")
    hub_urls = (h.get("url") for h in hubs if isinstance(h, dict)) if isinstance(hubs, list) else ()
    return ParsedFeed(
        title=plain_text(_str(data.get("title"))),
        link=_absolute(url, data.get("home_page_url")),
        language=feed_language,
        items=items,
        hub=next((a for h in hub_urls if (a := _absolute(url, h))), None),
        self_url=_absolute(url, data.get("feed_url")),
        skipped=skipped,
    )


def _json_item(
    raw: dict[str, Any], source_id: str, url: str, language: str | None
) -> FeedItem | None:
    guid = _str(raw.get("id"))
    link = _absolute(url, raw.get("url"))
    if not guid and not link:
        return None
    base = link or url

    content_html = _str(raw.get("content_html"))
    if content_html:
        content_html = resolve_relative_uris(content_html, base, "utf-8", "text/html")
    elif text := _str(raw.get("content_text")):
        content_html = "".join(
            f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip()
        )

    image = _image(raw.get("image"), base) or _image(raw.get("banner_image"), base)
    if image is None:
        for att in raw.get("attachments") or []:
            if isinstance(att, dict) and str(att.get("mime_type") or "").startswith("image/"):
                image = _image(att.get("url"), base, _str(att.get("title")) or "")
                if image:
                    break
    image = image or _image_in_html(content_html, base)

    authors_raw = raw.get("authors")
    if not isinstance(authors_raw, list):  # JSON Feed 1.0: a single "author"
        authors_raw = [raw.get("author")]
    authors = _unique(plain_text(_str(a.get("name"))) for a in authors_raw if isinstance(a, dict))
    tags = raw.get("tags")
    categories = _unique(_category_name(_str(t)) for t in tags) if isinstance(tags, list) else ()

    return FeedItem(
        source_id=source_id,
        guid=guid,
        link=link,
        title=plain_text(_str(raw.get("title"))),
        summary=_summary_text(_str(raw.get("summary"))),
        content_html=content_html,
        published=_iso_datetime(raw.get("date_published")),
        updated=_iso_datetime(raw.get("date_modified")),
        authors=authors,
        categories=categories,
        language=normalize_language(raw.get("language")) or language,
        image=image,
        wp_post_id=wp_post_id(guid) or wp_post_id(link),
    )


def _iso_datetime(value: object) -> datetime | None:
    """RFC 3339 -> aware UTC; a missing offset is read as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
