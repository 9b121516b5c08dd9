"""Article pages → :class:`~bot.models.Article`. Pure: no network, no clock, no state.

``parse_article(html, url, item=…)`` reads one fetched page; ``article_from_item(item)`` builds
the best article from a feed entry alone when the page cannot be had. Where each field comes
from, best source first (the feed item only fills what the page leaves empty)::

    url          <link rel=canonical>, og:url, the fetch URL (relative ones resolved)
    title        JSON-LD headline, og:title, twitter:title, <title> minus " – Site", entry h1
    description  og:description, meta description, twitter:description, JSON-LD description,
                 the feed summary, the lead's first sentence
    lead         first substantive paragraph of the body (no bylines, dates, captions, teasers)
    body         trafilatura's main text, else the paragraphs of .entry-content / <article>;
                 lines matching BOILERPLATE_LINES removed
    image        og:image (+alt/width/height), twitter:image, JSON-LD image, img.wp-post-image
    authors      JSON-LD author, meta author, article:author, the rel=author / .author byline
    published    article:published_time, JSON-LD datePublished, <time datetime> (aware UTC)
    section      article:section, JSON-LD articleSection, the first category
    tags         article:section + article:tag + JSON-LD keywords/articleSection
                 + WordPress rel="category tag" / rel="tag" links + the feed's categories
    language     JSON-LD inLanguage, og:locale, <html lang>, the feed, default_language
    site_name    og:site_name, JSON-LD publisher, the suffix stripped from <title>
    wp_post_id   shortlink ?p=ID, body class postid-ID, REST link, JSON-LD, canonical ?p=ID

Every text field is plain text: tags stripped, entities decoded (twice-encoded ones too),
whitespace collapsed, invisible characters removed. Odd pages never raise; only a page and
item that give no title at all raise :class:`~bot.errors.ParseError`.
"""

from __future__ import annotations

import codecs
import html as htmllib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import trafilatura
from bs4 import BeautifulSoup, Tag
from lxml import etree  # type: ignore[import-untyped]
from lxml import html as lxml_html

from bot.errors import ParseError
from bot.language import normalize_language
from bot.models import Article, FeedItem, Image

__all__ = ["BOILERPLATE_LINES", "article_from_item", "normalize_language", "parse_article"]

log = logging.getLogger(__name__)

#: Whole-line patterns (regular expressions, matched case-insensitively against a whole
#: paragraph, whitespace collapsed, trailing ":", "…", "→" and the like ignored) that never
#: belong to an article's text: sharing widgets, feed footers, comment forms, cookie notices.
BOILERPLATE_LINES: tuple[str, ...] = (
    r"share (this|the) (article|post|story|page)",
    r"share( this| on| via)?",
    r"share (on|via) (facebook|x|twitter|whatsapp|linkedin|telegram|reddit|e-?mail)",
    r"click to (share|email|print)\b.*",
    r"(like|love) this",
    r"like loading",
    r"loading",
    r"continue reading\b.*",
    r"read (more|the full (article|story))",
    r"the post .+ appeared first on .+",
    r"related( posts| articles| stories| news)?",
    r"you (may|might) also like",
    r"(more|recent|latest) (posts|stories|news)",
    r"leave a (reply|comment)( cancel reply)?",
    r"cancel reply",
    r"\d+ (comments?|responses?|replies)",
    r"(no|one) (comments?|responses?)( yet)?",
    r"(posted in|tagged (with|as)|categorized as|filed under)\b[^.!?]{0,160}",
    r"(tags?|categories|category)\s*:[^.!?]{0,160}",
    r"your email address will not be published\.?( required fields are marked \*)?",
    r"required fields are marked \*",
    r"save my name, email, and website in this browser for the next time i comment",
    r"(this (web)?site|we) uses? cookies\b.*",
    r"(accept|allow|reject|decline|manage)( all)? cookies",
    r"cookie (policy|settings|preferences|consent)",
    r"skip to (main )?content",
    r"(previous|next) (post|article|story)",
    r"post navigation",
    r"advertisements?",
    r"(subscribe|sign up) (to|for) (our|the) newsletter[^.!?]{0,80}",
    r"(print|email)( this)?( article| page| story)?",
    r"https?://\S+",  # a bare URL on its own line is an embed placeholder, not prose
)

_BOILERPLATE_RE = re.compile(
    "(?:" + "|".join(f"(?:{p})" for p in BOILERPLATE_LINES) + r")(?:[\s:…!|»›>*→-]|\.{2,})*",
    re.IGNORECASE,
)

# ---------------------------------------------------------------------------------------------
# Text helpers

_INVISIBLE_RE = re.compile("[\u00ad\u180e\u200b\u2060\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_TAG_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)\b[^<>]*>|<!--.*?-->", re.DOTALL)
_INLINE_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "i",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
        "wbr",
    }
)
_SPACE_RE = re.compile(r"\s+")
_TERMINAL_RE = re.compile(r"[.!?…][\"'”’»)\]]*$")
_GLUED_RE = re.compile(r"(?<=[a-zà-öø-ÿ\d][.!?…])([\"”’»)]*)(?=[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ])")
_SENTENCE_END_RE = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s+[\"“‘«(\[]?[A-ZÀ-ÖØ-Þ\d]|\s*$)")
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "sr",
        "jr",
        "gen",
        "gov",
        "sen",
        "rep",
        "rev",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "maj",
        "hon",
        "pres",
        "no",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.n",
        "u.k",
        "e.g",
        "i.e",
        "mme",
        "mlle",
        "me",
        "m",
    }
)
_TEASER_TAIL_RE = re.compile(
    r"\s*(?:\b(?:Continue [Rr]eading|Read [Mm]ore|Lire la suite|Leer más)\b.{0,300}"
    r"|\bThe post .{1,300}? appeared first on .{1,200})$",
    re.DOTALL,
)
_BRACKET_ELLIPSIS_RE = re.compile(r"\s*\[\s*(?:…|\.\.\.|&hellip;)\s*\]\s*$")


def _unescape(text: str) -> str:
    """Decode HTML entities, including twice-encoded ones (``&amp;#8217;``)."""
    for _ in range(3):
        if not _ENTITY_RE.search(text):
            break
        text = htmllib.unescape(text)
    return text


def _strip_tags(text: str) -> str:
    if "<" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = (match.group(1) or "").lower()
        return "" if name in _INLINE_TAGS else " "

    return _TAG_RE.sub(replace, text)


def _clean(text: str | None) -> str:
    """Plain one-line text: entities decoded, tags stripped, whitespace collapsed, NFC."""
    if not text:
        return ""
    text = _strip_tags(_unescape(text))
    text = _INVISIBLE_RE.sub("", text)
    text = _SPACE_RE.sub(" ", text).strip()
    return unicodedata.normalize("NFC", text)


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    """Drop empties and case-insensitive repeats, keeping the first spelling and the order."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def _sentence_ends(text: str) -> Iterator[int]:
    """Offsets just after each sentence end, skipping abbreviations and initials."""
    for match in _SENTENCE_END_RE.finditer(text):
        if match.group().startswith("."):
            before = re.search(r"([\w.]+)$", text[: match.start()])
            word = before.group(1).lower() if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        yield match.end()


def _first_sentence(text: str) -> str:
    for end in _sentence_ends(text):
        return text[:end].strip()
    return text.strip()


def _tidy_description(text: str) -> str:
    """Fix glued sentences and drop teaser artefacts ("…", "[…]", "Continue reading …").

    A description cut mid-sentence is shortened to its last complete sentence when that keeps
    at least a third of it; otherwise it keeps a single trailing "…".
    """
    text = _GLUED_RE.sub(r"\1 ", text)
    text = _TEASER_TAIL_RE.sub("", text).strip()
    text = _BRACKET_ELLIPSIS_RE.sub("…", text).strip()
    if text.endswith(("…", "...")):
        body = re.sub(r"\s*(?:…|\.\.\.)$", "", text)
        if _TERMINAL_RE.search(body):  # "Summary. […]": the cut fell between sentences
            return body
        ends = [end for end in _sentence_ends(body) if end < len(body)]
        if ends and ends[-1] >= len(body) / 3:
            return body[: ends[-1]].strip()
        return f"{body}…" if body else ""
    return text


# ---------------------------------------------------------------------------------------------
# Languages


# ---------------------------------------------------------------------------------------------
# Bytes, URLs, dates, numbers

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHARSET_RE = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
_WINDOWS_1252_ALIASES = frozenset({"ascii", "latin_1", "iso8859-1", "cp1252"})


def _decode(data: bytes) -> str:
    """Bytes to text: BOM, then UTF-8 if the bytes are valid UTF-8, then the declared charset."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared: str | None = None
    match = _CHARSET_RE.search(data[:8192])
    if match:
        name = (match.group(1) or match.group(2)).decode("ascii")
        try:
            declared = codecs.lookup(name).name
        except LookupError:
            declared = None
    if declared in _WINDOWS_1252_ALIASES:
        declared = "cp1252"  # as browsers do (WHATWG encoding standard)
    for candidate in (declared, "cp1252"):
        if candidate:
            try:
                return data.decode(candidate)
            except UnicodeDecodeError:
                continue
    return data.decode(declared or "cp1252", errors="replace")


def _absolute(base: str, href: str | None) -> str | None:
    """``href`` resolved against ``base``; None unless the result is http(s)."""
    href = (href or "").strip()
    if not href or href.startswith(("data:", "javascript:", "mailto:", "#")):
        return None
    try:
        resolved = urljoin(base, href)
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:
        return None
    return resolved if scheme in ("http", "https") else None


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # a page that names no zone: read it as UTC
    return value.astimezone(UTC)


def _parse_datetime(value: str | None) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        pass
    try:
        return _as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


def _int(value: object) -> int | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
    elif isinstance(value, str) and (match := re.match(r"\s*(\d{1,6})", value)):
        number = int(match.group(1))
    else:
        return None
    return number if 0 < number <= 100_000 else None


_POST_ID_QUERY_RE = re.compile(r"[?&](?:p|page_id)=(\d{1,12})(?:&|#|$)")


def _post_id_from_url(url: str | None) -> int | None:
    if not url:
        return None
    match = _POST_ID_QUERY_RE.search(url)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------------
# HTML helpers

_LEADING_PI_RE = re.compile(r"^\s*(?:<\?[^>]*\?>\s*)+")
_PARAGRAPH_SPLIT_RE = re.compile(r"\n\s*\n")
_BLOCK_TAGS = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "figure",
    "table",
    "tr",
    "td",
    "th",
    "address",
    "hr",
]
_JUNK_SELECTOR = ", ".join(
    (
        "script, style, noscript, template, svg, form, button, input, select, textarea, iframe",
        "object, embed, nav, aside, header, footer, table, figcaption, .wp-caption-text",
        ".screen-reader-text, .sharedaddy, .sd-sharing-enabled, .jp-relatedposts, .sharing",
        ".share-buttons, .social-share, .related-posts, .yarpp-related, #comments",
        ".comments-area, .comment-respond, .post-navigation, .entry-meta, .post-meta, .byline",
        ".author-box, .wp-block-buttons",
    )
)
_ARTICLE_SELECTORS = (
    "article.hentry",
    "article[id^='post-']",
    ".hentry",
    "[itemtype*='NewsArticle']",
    "[itemtype*='schema.org/Article']",
    "[itemtype*='BlogPosting']",
    "article",
    "main",
    "[role='main']",
)
_CONTENT_SELECTORS = (
    ".entry-content",
    "[itemprop='articleBody']",
    ".post-content",
    ".article-content",
    ".article-body",
    ".td-post-content",
    ".post-body",
    ".story-body",
)


def _prepare(markup: str) -> str:
    """Markup without NULs and leading XML declarations (which make parsers warn or fail)."""
    return _LEADING_PI_RE.sub("", markup.replace("\x00", ""))


_MAX_DEPTH = 256  # libxml2's own HTML nesting limit; real pages stay far below it


def _shallow(markup: str, url: str) -> str:
    """``markup``, or when its elements nest ``_MAX_DEPTH`` deep, what lxml (libxml2) keeps
    of it: everything up to that depth. BeautifulSoup builds a deep tree in quadratic time
    (20,000 nested elements took 30 s), so a hostile page could stall the pipeline."""
    if "<" not in markup:
        return markup
    try:
        root = lxml_html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return markup
    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth >= _MAX_DEPTH:
            log.warning("%s: markup nested %d+ levels deep; read only down to that", url, depth)
            shallow: str = lxml_html.tostring(root, encoding="unicode")
            return shallow
    return markup


def _soup(markup: str) -> BeautifulSoup:
    """Parse with lxml; never warns (XML declarations dropped, plain text wrapped)."""
    markup = _prepare(markup)
    if "<" not in markup:
        markup = "".join(
            f"<p>{htmllib.escape(chunk)}</p>" for chunk in _PARAGRAPH_SPLIT_RE.split(markup)
        )
    return BeautifulSoup(markup, "lxml")


def _attr(tag: Tag | None, name: str) -> str:
    if tag is None:
        return ""
    value = tag.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(value)


def _rels(tag: Tag) -> set[str]:
    return {rel.lower() for rel in _attr(tag, "rel").split()}


def _classes(tag: Tag | None) -> set[str]:
    return set(_attr(tag, "class").split())


def _tags(elements: Iterable[object]) -> Iterator[Tag]:
    for element in elements:
        if isinstance(element, Tag):
            yield element


def _select_first(roots: Sequence[Tag | None], selectors: Sequence[str]) -> Tag | None:
    for root in roots:
        if root is None:
            continue
        for selector in selectors:
            found = root.select_one(selector)
            if found is not None:
                return found
    return None


def _block_texts(root: Tag) -> list[str]:
    """The paragraphs of ``root`` as plain text (mutates ``root``)."""
    for junk in root.select(_JUNK_SELECTOR):
        junk.decompose()
    for br in list(_tags(root.find_all("br"))):
        br.replace_with("\n")
    for block in list(_tags(root.find_all(_BLOCK_TAGS))):
        block.insert_before("\n\n")
        block.append("\n\n")
    return [p for chunk in _PARAGRAPH_SPLIT_RE.split(root.get_text()) if (p := _clean(chunk))]


def _html_paragraphs(markup: str | None) -> list[str]:
    if not markup or not markup.strip():
        return []
    soup = _soup(markup)
    return _block_texts(soup.body or soup)


def _is_boilerplate(line: str) -> bool:
    return _BOILERPLATE_RE.fullmatch(line) is not None


def _body_paragraphs(paragraphs: Iterable[str], title: str) -> list[str]:
    """Boilerplate, a repeated title and consecutive duplicates removed."""
    out: list[str] = []
    for paragraph in paragraphs:
        if _is_boilerplate(paragraph):
            continue
        if not out and title and paragraph.casefold() == title.casefold():
            continue
        if out and out[-1] == paragraph:
            continue
        out.append(paragraph)
    return out


# ---------------------------------------------------------------------------------------------
# Lead

_BYLINE_RE = re.compile(
    r"(?:by|par|por|von|written by|posted by|reported by|story by|text by)\s+\S.*", re.I
)
_LABEL_RE = re.compile(
    r"(?:categor(?:y|ies)|tags?|filed under|posted (?:in|on)|published|updated|photo|credit|"
    r"source|image|caption|crédit|foto|video|vidéo|audio|listen|écouter)\b\s*:.*",
    re.I,
)
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|janvier|février|mars|avril|"
    "mai|juin|juillet|août|septembre|octobre|novembre|décembre|janvye|fevriye|avril|jiyè|"
    "dawout|septanm|oktòb|novanm|desanm|enero|febrero|marzo|abril|mayo|junio|julio|agosto|"
    "septiembre|octubre|noviembre|diciembre"
)
_DATE_RE = re.compile(
    rf"\b(?:{_MONTHS})\b|\b\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{1,4}}\b|\b\d{{1,2}}:\d{{2}}\b|\bago\b",
    re.I,
)


def _is_noise(paragraph: str, *, title: str, authors: Sequence[str]) -> bool:
    """Lines a reader would not call the article's first paragraph."""
    words = paragraph.split()
    terminal = _TERMINAL_RE.search(paragraph) is not None and not paragraph.endswith(("…", "..."))
    if len(words) <= 3 or paragraph.endswith(("…", "...")):  # fragments, teasers, cut bios
        return True
    if paragraph.casefold() == title.casefold():
        return True
    if not terminal and len(words) <= 8 and _BYLINE_RE.fullmatch(paragraph):
        return True
    dated = any(c.isdigit() for c in paragraph) and _DATE_RE.search(paragraph) is not None
    if not terminal and len(words) <= 12 and dated:
        return True
    if len(words) <= 25 and _LABEL_RE.fullmatch(paragraph):
        return True
    lowered = paragraph.casefold()
    return any(
        lowered.startswith(f"{author.casefold()} {verb} ")
        for author in authors
        for verb in ("is", "est", "se", "es")
    )


def _choose_lead(paragraphs: Sequence[str], *, title: str = "", authors: Sequence[str] = ()) -> str:
    """First substantive paragraph; else the first that is not noise; else ""."""
    candidates = [p for p in paragraphs if not _is_noise(p, title=title, authors=authors)]
    for paragraph in candidates:
        substantive = len(paragraph.split()) >= 8 and (
            _TERMINAL_RE.search(paragraph) is not None or len(paragraph) >= 120
        )
        if substantive:
            return paragraph
    return candidates[0] if candidates else ""


# ---------------------------------------------------------------------------------------------
# JSON-LD

_NEWS_TYPES = frozenset(
    {
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "ReviewNewsArticle",
        "BackgroundNewsArticle",
        "AskPublicNewsArticle",
        "SatiricalArticle",
        "LiveBlogPosting",
    }
)
_ARTICLE_TYPES = frozenset(
    {"Article", "BlogPosting", "Report", "TechArticle", "ScholarlyArticle", "SocialMediaPosting"}
)
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")
_JSON_WRAPPER_RE = re.compile(r"^\s*(?://\s*)?(?:<!--|<!\[CDATA\[)|(?://\s*)?(?:-->|\]\]>)\s*$")


def _load_json(raw: str) -> object:
    raw = _JSON_WRAPPER_RE.sub("", raw.strip()).strip()
    if not raw:
        return None
    for candidate in (raw, _TRAILING_COMMA_RE.sub(r"\1", raw)):
        try:
            return json.loads(candidate, strict=False)
        except (ValueError, RecursionError):
            continue
    log.debug("ignoring unreadable JSON-LD block (%d chars)", len(raw))
    return None


def _types(node: dict[str, object]) -> set[str]:
    value = node.get("@type")
    names = value if isinstance(value, list) else [value]
    return {name.rsplit("/", 1)[-1] for name in names if isinstance(name, str)}


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(slots=True)
class _LinkedData:
    """What the page's JSON-LD blocks say, reduced to the fields we use."""

    nodes: list[dict[str, object]] = field(default_factory=list)
    by_id: dict[str, dict[str, object]] = field(default_factory=dict)
    article: dict[str, object] | None = None

    @classmethod
    def from_soup(cls, soup: BeautifulSoup) -> _LinkedData:
        data = cls()
        scripts = soup.find_all("script", attrs={"type": re.compile(r"ld\+json", re.I)})
        for script in _tags(scripts):
            stack: list[object] = [_load_json(script.string or "")]
            while stack and len(data.nodes) < 500:
                value = stack.pop(0)
                if isinstance(value, list):
                    stack.extend(value)
                elif isinstance(value, dict):
                    data.nodes.append(value)
                    node_id = value.get("@id")
                    if isinstance(node_id, str):
                        data.by_id.setdefault(node_id, value)
                    stack.extend(_as_list(value.get("@graph")))
        for wanted in (_NEWS_TYPES, _ARTICLE_TYPES):
            data.article = next((n for n in data.nodes if _types(n) & wanted), None)
            if data.article is not None:
                break
        return data

    def resolve(self, value: object) -> object:
        """A ``{"@id": …}`` reference replaced by the node it names, when the page has it."""
        if isinstance(value, dict) and isinstance(ref := value.get("@id"), str):
            return self.by_id.get(ref, value)
        return value

    def get(self, key: str) -> object:
        return self.article.get(key) if self.article is not None else None

    def text(self, key: str) -> str:
        for value in _as_list(self.get(key)):
            if isinstance(value, str) and (cleaned := _clean(value)):
                return cleaned
        return ""

    def texts(self, key: str) -> list[str]:
        out: list[str] = []
        for value in _as_list(self.get(key)):
            if isinstance(value, str):
                out.extend(_clean(part) for part in value.split(","))
        return [value for value in out if value]

    def names(self, key: str) -> list[str]:
        out: list[str] = []
        for value in _as_list(self.get(key)):
            resolved = self.resolve(value)
            if isinstance(resolved, dict):
                resolved = resolved.get("name")
            for name in _as_list(resolved):
                if isinstance(name, str) and not _looks_like_url(name):
                    out.append(_clean(name))
        return [name for name in out if name]

    def language(self) -> str | None:
        candidates = [self.get("inLanguage")] + [n.get("inLanguage") for n in self.nodes]
        for value in candidates:
            value = self.resolve(value)
            if isinstance(value, dict):
                value = value.get("alternateName") or value.get("name")
            if isinstance(value, str) and (language := normalize_language(value)):
                return language
        return None

    def site_name(self) -> str:
        publisher = self.names("publisher")
        if publisher:
            return publisher[0]
        for node in self.nodes:
            if "WebSite" in _types(node) and isinstance(node.get("name"), str):
                return _clean(str(node["name"]))
        return ""

    def image(self, base: str) -> Image | None:
        for value in _as_list(self.get("image")) + _as_list(self.get("thumbnailUrl")):
            resolved = self.resolve(value)
            if isinstance(resolved, str):
                url = _absolute(base, resolved)
                if url:
                    return Image(url)
            elif isinstance(resolved, dict):
                href = resolved.get("url") or resolved.get("contentUrl")
                url = _absolute(base, href) if isinstance(href, str) else None
                if url:
                    alt = resolved.get("caption") or resolved.get("description") or ""
                    return Image(
                        url,
                        _clean(alt) if isinstance(alt, str) else "",
                        _int(resolved.get("width")),
                        _int(resolved.get("height")),
                    )
        return None

    def post_id(self) -> int | None:
        if self.article is None:
            return None
        identifier = self.article.get("identifier")
        if isinstance(identifier, int) and not isinstance(identifier, bool) and identifier > 0:
            return identifier
        if isinstance(identifier, str) and identifier.isdigit():
            return int(identifier)
        for key in ("@id", "url", "mainEntityOfPage"):
            value = self.resolve(self.article.get(key))
            if isinstance(value, dict):
                value = value.get("@id") or value.get("url")
            if isinstance(value, str) and (post_id := _post_id_from_url(value)):
                return post_id
        return None


def _looks_like_url(value: str) -> bool:
    return value.strip().lower().startswith(("http://", "https://", "//", "www."))


# ---------------------------------------------------------------------------------------------
# <meta> tags


@dataclass(frozen=True, slots=True)
class _Meta:
    """(key, content) pairs of the page's <meta> tags, in document order; keys lower-case."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def from_soup(cls, soup: BeautifulSoup) -> _Meta:
        pairs: list[tuple[str, str]] = []
        for tag in _tags(soup.find_all("meta")):
            content = _attr(tag, "content").strip()
            if not content:
                continue
            keys = {_attr(tag, a).strip().lower() for a in ("property", "name", "itemprop")}
            pairs.extend((key, content) for key in sorted(keys) if key)
        return cls(tuple(pairs))

    def all(self, key: str) -> list[str]:
        return [value for k, value in self.pairs if k == key]

    def first(self, *keys: str) -> str:
        """The first non-empty cleaned value of the first key that has one."""
        for key in keys:
            for value in self.all(key):
                if cleaned := _clean(value):
                    return cleaned
        return ""

    def og_image(self, base: str) -> Image | None:
        """The first og:image with the og:image:* properties that follow it."""
        url: str | None = None
        props: dict[str, str] = {}
        for key, value in self.pairs:
            if key in ("og:image", "og:image:url", "og:image:secure_url"):
                resolved = _absolute(base, value)
                if url is None:
                    url = resolved
                elif key == "og:image" and resolved != url:
                    break  # the next image begins
            elif url is not None and key.startswith("og:image:"):
                props.setdefault(key.removeprefix("og:image:"), value)
        if url is None:
            return None
        return Image(
            url, _clean(props.get("alt")), _int(props.get("width")), _int(props.get("height"))
        )

    def twitter_image(self, base: str) -> Image | None:
        url = _absolute(base, self.first("twitter:image", "twitter:image:src"))
        if url is None:
            return None
        return Image(url, self.first("twitter:image:alt"))


# ---------------------------------------------------------------------------------------------
# Page fields

_SEPARATORS = (" | ", " – ", " — ", " - ", " · ", " • ", " :: ", " » ", " « ", " ~ ")
_STRONG_SEPARATORS = (" | ", " – ", " — ", " · ", " • ", " :: ", " » ")
_NOT_ARTICLE_CLASSES = ({"error404"}, {"home", "blog"}, {"search-results"}, {"search-no-results"})


def _strip_site_name(
    title: str, names: Sequence[str], headline: str, *, guess: bool
) -> tuple[str, str]:
    """``title`` without a site-name prefix or suffix, and what was removed ("" if nothing)."""
    folded = title.casefold()
    for name in names:
        for sep in _SEPARATORS:
            affix = (sep + name).casefold()
            if folded.endswith(affix) and len(title) > len(affix):
                return title[: -len(affix)].strip(), title[-len(name) :]
            affix = (name + sep).casefold()
            if folded.startswith(affix) and len(title) > len(affix):
                return title[len(affix) :].strip(), title[: len(name)]
    if not guess:
        return title, ""
    if headline and headline != title:
        for sep in _SEPARATORS:
            if title.startswith(headline + sep):
                return headline, title[len(headline) + len(sep) :].strip()
            if title.endswith(sep + headline):
                return headline, title[: -len(headline) - len(sep)].strip()
    for sep in _STRONG_SEPARATORS:
        head, found, tail = title.rpartition(sep)
        head, tail = head.strip(), tail.strip()
        if found and head and tail and len(tail.split()) <= 4 and len(tail) < len(head):
            return head, tail
    return title, ""


def _site_name_candidates(soup: BeautifulSoup, meta: _Meta, ld: _LinkedData) -> list[str]:
    names = [meta.first("og:site_name"), ld.site_name(), meta.first("application-name")]
    for link in _tags(soup.find_all("link", attrs={"type": "application/rss+xml"})):
        feed_title = _clean(_attr(link, "title"))
        if " » " in feed_title:  # WordPress: "Site » Feed", "Site » Comments Feed"
            names.append(feed_title.split(" » ", 1)[0].strip())
            break
    site_title = soup.select_one(".site-title, .site-name")
    if site_title is not None:
        names.append(_clean(site_title.get_text(" ")))
    return list(_dedupe(name for name in names if name))


def _page_title(
    soup: BeautifulSoup, meta: _Meta, ld: _LinkedData, article_el: Tag | None
) -> tuple[str, str]:
    """The headline and the site name stripped from it ("" when none was)."""
    names = _site_name_candidates(soup, meta, ld)
    heading = _select_first(
        [article_el, soup], ("h1.entry-title", ".entry-title", "h1[itemprop='headline']")
    )
    if heading is None and article_el is not None:
        heading = next(_tags(article_el.find_all("h1", limit=1)), None)
    headline = _clean(heading.get_text(" ")) if heading is not None else ""
    title_tag = next(
        (t for t in _tags(soup.find_all("title")) if t.find_parent("svg") is None), None
    )
    candidates: list[tuple[str, bool]] = [
        (ld.text("headline") or ld.text("name"), False),
        (meta.first("og:title"), False),
        (meta.first("twitter:title"), False),
        (_clean(title_tag.get_text()) if title_tag is not None else "", True),
        (headline, False),
    ]
    chosen, stripped = "", ""
    for raw, guess in candidates:
        if not raw:
            continue
        title, affix = _strip_site_name(raw, names, headline, guess=guess)
        if not chosen:
            chosen, stripped = title, affix
        elif chosen.endswith(("…", "...")) and title.startswith(chosen.rstrip(".… ")):
            chosen, stripped = title, affix  # the first source was cut short ("Headline…")
    return chosen, stripped


def _canonical_url(soup: BeautifulSoup, meta: _Meta, base: str, fetch_url: str) -> str:
    fetch_path = urlsplit(fetch_url).path
    links = [
        link
        for link in _tags(soup.find_all("link"))
        if "canonical" in _rels(link) and _attr(link, "href")
    ]
    for href in [_attr(links[0], "href") if links else "", meta.first("og:url")]:
        url = _absolute(base, href)
        if url is None:
            continue
        if urlsplit(url).path in ("", "/") and fetch_path not in ("", "/"):
            continue  # a canonical pointing at the home page is a plugin misconfiguration
        return url
    return fetch_url


def _wp_post_id(
    soup: BeautifulSoup, ld: _LinkedData, article_el: Tag | None, url: str
) -> int | None:
    for link in _tags(soup.find_all("link")):
        rels, href = _rels(link), _attr(link, "href")
        if "shortlink" in rels and (post_id := _post_id_from_url(href)):
            return post_id
    for css_class in _classes(soup.body):
        if match := re.fullmatch(r"postid-(\d{1,12})", css_class):
            return int(match.group(1))
    for link in _tags(soup.find_all("link", attrs={"type": "application/json"})):
        if match := re.search(r"/wp/v2/posts/(\d{1,12})\b", _attr(link, "href")):
            return int(match.group(1))
    article_id = _attr(article_el, "id") if article_el is not None else ""
    if (
        article_el is not None
        and article_el.name == "article"
        and (match := re.fullmatch(r"post-(\d{1,12})", article_id))
    ):
        return int(match.group(1))
    return ld.post_id() or _post_id_from_url(url)


def _clean_author(value: str) -> str:
    name = _clean(value)
    name = re.sub(r"^(?:written by|posted by|reported by|by|par|por|von)\s+", "", name, flags=re.I)
    if not name or len(name) > 80 or _looks_like_url(name):
        return ""
    return name


def _page_authors(meta: _Meta, ld: _LinkedData, article_el: Tag | None) -> tuple[str, ...]:
    sources: list[list[str]] = [
        ld.names("author"),
        [meta.first("author")],
        [value for value in meta.all("article:author") if not _looks_like_url(value)],
    ]
    if article_el is not None:
        bylines = article_el.select(
            "a[rel~='author'], .author a, .byline a, .author-name, .vcard .fn,"
            " [itemprop='author'] [itemprop='name']"
        )
        sources.append(
            [
                element.get_text(" ")
                for element in bylines
                if element.find_parent(class_=re.compile(r"comment")) is None
            ]
        )
    for source in sources:
        names = _dedupe(_clean_author(value) for value in source)
        if names:
            return names
    return ()


def _page_published(meta: _Meta, ld: _LinkedData, article_el: Tag | None) -> datetime | None:
    values = [
        meta.first("article:published_time"),
        ld.text("datePublished"),
        meta.first("datepublished", "og:published_time", "date", "dc.date", "dcterms.created"),
    ]
    time_tag = _select_first(
        [article_el], ("time.published[datetime]", "time.entry-date[datetime]", "time[datetime]")
    )
    values.append(_attr(time_tag, "datetime"))
    for value in values:
        if published := _parse_datetime(value):
            return published
    return None


def _page_categories(root: Tag) -> list[str]:
    links = (
        link
        for link in _tags(root.find_all("a"))
        if _rels(link) & {"tag", "category"} and link.find_parent(class_="comment") is None
    )
    return [name for link in links if (name := _clean(link.get_text(" "))) and len(name) <= 100]


def _page_image(
    soup: BeautifulSoup, meta: _Meta, ld: _LinkedData, article_el: Tag | None, base: str
) -> Image | None:
    featured_tag = _select_first([article_el, soup], ("img.wp-post-image",))
    featured: Image | None = None
    if featured_tag is not None:
        src = _attr(featured_tag, "src")
        if not src or src.startswith("data:"):
            src = _attr(featured_tag, "data-src") or _attr(featured_tag, "data-lazy-src")
        if url := _absolute(base, src):
            featured = Image(
                url,
                _clean(_attr(featured_tag, "alt")),
                _int(_attr(featured_tag, "width")),
                _int(_attr(featured_tag, "height")),
            )
    found = [
        image
        for image in (meta.og_image(base), meta.twitter_image(base), ld.image(base), featured)
        if image is not None
    ]
    if not found:
        return None
    chosen = found[0]
    same = [image for image in found if image.url == chosen.url]
    return Image(
        chosen.url,
        next((image.alt for image in same if image.alt), ""),
        next((image.width for image in same if image.width), None),
        next((image.height for image in same if image.height), None),
    )


def _is_article_page(soup: BeautifulSoup) -> bool:
    classes = _classes(soup.body)
    return not any(marker <= classes for marker in _NOT_ARTICLE_CLASSES)


def _extract_main_text(text: str) -> list[str]:
    try:
        extracted = trafilatura.extract(
            text,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            favor_precision=True,
            with_metadata=False,
        )
    except Exception as exc:  # trafilatura may fail on odd markup; the DOM fallback remains
        log.debug("trafilatura failed: %r", exc)
        return []
    if not isinstance(extracted, str):
        return []
    return [line for raw in extracted.splitlines() if (line := _clean(raw))]


# ---------------------------------------------------------------------------------------------
# Feed items


@dataclass(frozen=True, slots=True)
class _ItemParts:
    """A feed item's fields, cleaned; what ``parse_article`` falls back on."""

    title: str
    url: str
    summary: str
    paragraphs: tuple[str, ...]
    lead: str
    image: Image | None
    authors: tuple[str, ...]
    published: datetime | None
    categories: tuple[str, ...]
    language: str | None
    wp_post_id: int | None
    source_id: str


def _content_image(markup: str | None, base: str) -> Image | None:
    if not markup or "<img" not in markup:
        return None
    for img in _tags(_soup(markup).find_all("img")):
        classes = _classes(img)
        width, height = _int(_attr(img, "width")), _int(_attr(img, "height"))
        if classes & {"wp-smiley", "emoji"} or (width is not None and width <= 2):
            continue
        if url := _absolute(base, _attr(img, "src") or _attr(img, "data-src")):
            return Image(url, _clean(_attr(img, "alt")), width, height)
    return None


def _item_parts(item: FeedItem) -> _ItemParts:
    title = _clean(item.title)
    url = next(
        (u for u in (item.link, item.guid) if u and urlsplit(u).scheme in ("http", "https")), ""
    )
    authors = _dedupe(_clean_author(author) for author in item.authors)
    paragraphs = tuple(_body_paragraphs(_html_paragraphs(item.content_html), title))
    summary = _tidy_description(_clean(item.summary))
    if _is_boilerplate(summary):
        summary = ""
    lead = _choose_lead(paragraphs, title=title, authors=authors) or summary
    image = item.image
    if image is not None and url:
        image = Image(_absolute(url, image.url) or image.url, image.alt, image.width, image.height)
    return _ItemParts(
        title=title,
        url=url,
        summary=summary,
        paragraphs=paragraphs,
        lead=lead,
        image=image or _content_image(item.content_html, url),
        authors=authors,
        published=_as_utc(item.published),
        categories=_dedupe(_clean(category) for category in item.categories),
        language=normalize_language(item.language),
        wp_post_id=item.wp_post_id or _post_id_from_url(item.guid) or _post_id_from_url(item.link),
        source_id=item.source_id,
    )


def article_from_item(item: FeedItem, *, default_language: str | None = None) -> Article:
    """The best Article a feed entry alone can give (when its page cannot be fetched).

    Raises :class:`ParseError` when the entry has no title.
    """
    parts = _item_parts(item)
    if not parts.title:
        raise ParseError(f"feed item {item.guid or item.link!r} has no title")
    body = "\n\n".join(parts.paragraphs) or parts.summary
    return Article(
        url=parts.url,
        title=parts.title,
        description=parts.summary or _first_sentence(parts.lead),
        lead=parts.lead,
        body=body,
        image=parts.image,
        authors=parts.authors,
        published=parts.published,
        section=parts.categories[0] if parts.categories else None,
        tags=parts.categories,
        language=parts.language or normalize_language(default_language),
        site_name=None,
        wp_post_id=parts.wp_post_id,
        source_id=parts.source_id,
    )


# ---------------------------------------------------------------------------------------------
# Pages


def parse_article(
    html: str | bytes,
    url: str,
    *,
    item: FeedItem | None = None,
    default_language: str | None = None,
) -> Article:
    """Read an article page (``url``: where it was fetched from, after redirects).

    ``item``, the feed entry, fills what the page lacks, and stands in for the whole page when
    that is no article (no title at all, a WordPress 404, the home page after a redirect).
    Raises :class:`ParseError` only when neither the page nor the item gives a title.
    """
    text = _prepare(_decode(html) if isinstance(html, bytes) else html)
    text = _shallow(text, url)
    soup = _soup(text)
    parts = _item_parts(item) if item is not None else None

    meta = _Meta.from_soup(soup)
    ld = _LinkedData.from_soup(soup)
    article_el = _select_first([soup], _ARTICLE_SELECTORS)
    title, stripped_site = _page_title(soup, meta, ld, article_el)

    # An error page, the home page after a redirect, an empty or binary answer: nothing on it
    # describes the article, so only the feed item can.
    if not title or not _is_article_page(soup):
        log.info("%s: not an article page (body class %r)", url, _attr(soup.body, "class"))
        if item is None:
            raise ParseError(f"{url}: not an article page, and no feed item describes it")
        article = article_from_item(item, default_language=default_language)
        return article if article.url else replace(article, url=url)

    base_tag = soup.find("base", href=True)
    base = _absolute(url, _attr(base_tag, "href")) if isinstance(base_tag, Tag) else None
    base = base or url

    canonical = _canonical_url(soup, meta, base, url)
    authors = _page_authors(meta, ld, article_el) or (parts.authors if parts else ())
    categories = _page_categories(article_el or soup)
    sections = meta.all("article:section")
    tags = _dedupe(
        [
            *(_clean(value) for value in sections),
            *(_clean(value) for value in meta.all("article:tag")),
            *ld.texts("keywords"),
            *ld.texts("articleSection"),
            *categories,
            *(parts.categories if parts else ()),
        ]
    )
    section = next(
        (
            value
            for value in [
                *(_clean(value) for value in sections),
                *ld.texts("articleSection"),
                *categories,
                *(parts.categories if parts else ()),
            ]
            if value
        ),
        None,
    )
    language = next(
        (
            language
            for language in (
                ld.language(),
                normalize_language(meta.first("og:locale")),
                normalize_language(_attr(soup.html, "lang") or _attr(soup.html, "xml:lang")),
                parts.language if parts else None,
                normalize_language(default_language),
            )
            if language
        ),
        None,
    )
    image = _page_image(soup, meta, ld, article_el, base) or (parts.image if parts else None)
    published = _page_published(meta, ld, article_el) or (parts.published if parts else None)
    wp_post_id = _wp_post_id(soup, ld, article_el, canonical) or (
        parts.wp_post_id if parts else None
    )
    site_name = meta.first("og:site_name") or ld.site_name() or stripped_site or None
    meta_description = meta.first("og:description", "description", "twitter:description")
    meta_description = meta_description or ld.text("description")

    # The body last: reading the DOM paragraphs takes the tree apart.
    paragraphs = _page_paragraphs(text, soup, article_el)
    paragraphs = _body_paragraphs(paragraphs, title)
    if not paragraphs and parts is not None:
        paragraphs = list(parts.paragraphs)
    lead = _choose_lead(paragraphs, title=title, authors=authors)
    if not lead and parts is not None:
        lead = parts.lead
    description = (
        _tidy_description(meta_description)
        or (parts.summary if parts else "")
        or _first_sentence(lead)
    )

    return Article(
        url=canonical,
        title=title,
        description=description,
        lead=lead,
        body="\n\n".join(paragraphs) or (parts.summary if parts else ""),
        image=image,
        authors=authors,
        published=published,
        section=section,
        tags=tags,
        language=language,
        site_name=site_name,
        wp_post_id=wp_post_id,
        source_id=parts.source_id if parts else None,
    )


def _page_paragraphs(text: str, soup: BeautifulSoup, article_el: Tag | None) -> list[str]:
    """trafilatura's main text; the content element's paragraphs when that lost too much."""
    content = _select_first([article_el, soup], _CONTENT_SELECTORS)
    # trafilatura logs errors about tiny documents: leave those to the DOM reading.
    big_enough = soup.body is not None and len(soup.body.get_text(strip=True)) >= 100
    extracted = _extract_main_text(text) if big_enough else []
    root = content or article_el
    if root is None:
        if extracted or soup.body is None:
            return extracted
        root = soup.body
    if extracted and content is None:
        return extracted
    from_dom = _block_texts(root)
    if extracted and sum(map(len, extracted)) >= 0.5 * sum(map(len, from_dom)):
        return extracted
    return from_dom or extracted
