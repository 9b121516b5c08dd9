"""Article identity: which feed items and pages are the same article.

An article is never identified by its title or date. It is known under several **alias keys**,
strongest first:

``wp:<host>:<id>``
    The WordPress post id (from a ``?p=ID`` GUID or link, or the REST ``id``), scoped by the
    site's host. It survives slug edits, permalink-structure changes and GUID form changes.
``url:<normalised url>``
    A normalised URL (GUID when it is a URL, then the link, or a scraped canonical URL). The
    normalisation makes http/https, ``www.``, default ports, tracking parameters, fragments,
    percent-encoding case and trailing slashes irrelevant.
``guid:<source id>:<guid>``
    Only when an item has neither a wp id nor any URL: its opaque GUID, scoped by its source.

The store treats an item as already seen when *any* of its keys is known, and records all of
them, so a change of one form never makes an article "new" again. Everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bot.models import FeedItem

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "article_keys",
    "is_http_url",
    "item_keys",
    "normalize_url",
    "site_host",
    "url_key",
    "wp_key",
    "wp_post_id",
]

#: Query parameters that never select content: click ids, mail-campaign ids, analytics
#: cookies passed in links, and WordPress preview switches. Compared case-insensitively.
#: ``ref``, ``share`` and ``source`` are deliberately *not* here: some sites use them to select
#: content, and merging two different articles (one never posted) is worse than missing an
#: alias (the GUID and wp keys catch those cases anyway).
TRACKING_PARAMS = frozenset(
    {
        # ad / social click ids
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "epik",
        # e-mail and marketing automation
        "mc_cid", "mc_eid", "mkt_tok", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp",
        "hsctatracking", "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid",
        "s_cid", "wt_mc",
        # Google Analytics linker
        "_ga", "_gl",
        # WordPress previews
        "preview", "preview_id", "preview_nonce",
    }
)  # fmt: skip
#: Parameter-name prefixes that are always tracking (Google/Matomo campaign parameters).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = "/:@!$'()*,"
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_LONE_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOSTISH_RE = re.compile(r"^[^/?#\s:@]+\.[^/?#\s:@]+(?::\d+)?(?:[/?#]|$)")
_WP_ID_PARAMS = ("p", "page_id")


def is_http_url(value: str | None) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    if not value:
        return False
    try:
        parts = urlsplit(value.strip())
        _ = parts.port  # raises ValueError for a bad port ("host:99999", "host:abc")
    except ValueError:
        return False
    return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)


def normalize_url(url: str) -> str:
    """The comparable form of an article URL (see the module docstring).

    ``https`` always; host lower-cased, IDNA-encoded, without ``www.``; default ports dropped;
    percent-encoding normalised (unreserved characters decoded, hex upper-cased, non-ASCII
    encoded); dot segments resolved; no trailing slash except for the root ``/``; no fragment;
    tracking parameters removed and the remaining ones sorted. Schemeless input
    (``//host/path``, ``host.tld/path``) is read as https. Raises ``ValueError`` for anything
    that is not an http(s) URL with a host.
    """
    parts = _split(url)
    path = _normalize_path(parts.path)
    query = _normalize_query(parts.query)
    return urlunsplit(("https", _netloc(parts), path, query, ""))


def site_host(url: str) -> str:
    """Normalised ``host[:port]`` of ``url`` (the scope of WordPress post ids)."""
    return _netloc(_split(url))


def wp_post_id(url: str | None) -> int | None:
    """The WordPress post id in a ``?p=ID`` (or ``?page_id=ID``) URL, else None.

    Other parameters are ignored (``/?p=37070&preview=true`` -> 37070). Only URLs whose path is
    a directory or ``index.php`` count, so ``/search?p=2`` on some other CMS is not mistaken for
    a post id.
    """
    return _post_id_in(url)


def _post_id_in(url: str | None) -> int | None:
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    path = parts.path
    if not (path in ("", "/") or path.endswith(("/", "/index.php"))):
        return None
    params = dict(reversed(parse_qsl(parts.query, keep_blank_values=True)))  # first value wins
    for name in _WP_ID_PARAMS:
        value = params.get(name, "").strip()
        if value.isascii() and value.isdigit() and int(value) > 0:
            return int(value)
    return None


def wp_key(host: str, post_id: int) -> str:
    """``"wp:<host>:<id>"``. ``host`` is normalised like ``site_host`` (``www.``, ports, case)."""
    if isinstance(post_id, bool) or not isinstance(post_id, int) or post_id <= 0:
        raise ValueError(f"a WordPress post id is a positive integer, not {post_id!r}")
    return f"wp:{site_host('//' + host.strip())}:{post_id}"


def url_key(url: str) -> str:
    """``"url:<normalize_url(url)>"``."""
    return f"url:{normalize_url(url)}"


def item_keys(item: FeedItem) -> tuple[str, ...]:
    """Every alias key of a feed item, strongest first, without duplicates.

    1. the wp key: ``item.wp_post_id``, else a ``?p=ID`` GUID or link; the host is taken from the
       link (the GUID may still carry a host the site has moved away from), else the GUID;
    2. the url key of the GUID, when the GUID is an http(s) URL;
    3. the url key of the link;
    4. only when none of the above exists: ``guid:<source_id>:<guid>``.
    """
    guid = (item.guid or "").strip() or None
    link = (item.link or "").strip() or None
    guid_is_url = is_http_url(guid)
    link_is_url = is_http_url(link)
    keys: list[str] = []

    post_id = item.wp_post_id or wp_post_id(guid if guid_is_url else None) or wp_post_id(link)
    host_url = link if link_is_url else (guid if guid_is_url else None)
    if post_id and host_url:
        keys.append(wp_key(site_host(host_url), post_id))
    if guid and guid_is_url:
        keys.append(url_key(guid))
    if link and link_is_url:
        keys.append(url_key(link))
    if not keys and guid:
        keys.append(f"guid:{item.source_id}:{guid}")
    return tuple(dict.fromkeys(keys))


def article_keys(url: str, wp_post_id: int | None) -> tuple[str, ...]:
    """Alias keys of a scraped article: the wp key (shortlink id, or a ``?p=ID`` canonical URL)
    on the canonical URL's host, then the canonical URL's key."""
    post_id = wp_post_id or _post_id_in(url)
    keys = [wp_key(site_host(url), post_id)] if post_id else []
    keys.append(url_key(url))
    return tuple(dict.fromkeys(keys))


# --- helpers ------------------------------------------------------------------------------------


def _split(url: str) -> _Parts:
    text = url.strip()
    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text and _HOSTISH_RE.match(text):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as e:
        raise ValueError(f"not a valid URL: {url!r} ({e})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL without a host: {url!r}")
    return _Parts(scheme, parts.hostname, port, parts.path, parts.query)


@dataclass(frozen=True, slots=True)
class _Parts:
    scheme: str
    host: str  # lower-case, IPv6 without brackets
    port: int | None
    path: str
    query: str


def _netloc(parts: _Parts) -> str:
    host = _normalize_host(parts.host)
    port = parts.port
    if port is not None and port not in _DEFAULT_PORTS.values():
        return f"{host}:{port}"
    return host


def _normalize_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if ":" in host:  # IPv6 literal (urlsplit removed the brackets)
        return f"[{host}]"
    if not host.isascii():
        host = _idna(host)
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    return host


def _idna(host: str) -> str:
    try:
        import idna  # installed with requests; UTS #46, as browsers do

        return idna.encode(host, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError):
        pass
    try:
        return host.encode("idna").decode("ascii")  # IDNA 2003, the stdlib's codec
    except UnicodeError:
        return host


def _normalize_path(path: str) -> str:
    path = _requote(path, _PATH_SAFE)
    path = _remove_dot_segments(path) if "." in path else path
    path = path.rstrip("/")
    return path or "/"


def _requote(text: str, safe: str) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape what must be."""
    text = _LONE_PCT_RE.sub("%25", text)

    def fix(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return quote(_PCT_RE.sub(fix, text), safe=safe)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on whole segments."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _is_tracking(name: str) -> bool:
    name = name.strip().lower()
    name = name.removeprefix("amp;")  # "&amp;utm_source=" escaped twice by a feed
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _normalize_query(query: str) -> str:
    if not query:
        return ""
    pairs = [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k and not _is_tracking(k)
    ]
    pairs.sort()
    return urlencode(pairs, quote_via=quote, safe=_QUERY_SAFE)
