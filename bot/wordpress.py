"""A WordPress site read through its REST API (``/wp/v2/posts``), for ``type: wordpress`` sources.

``posts_endpoint(url)`` finds the endpoint of a site; ``item_from_post(post)`` turns one post
object into a :class:`~bot.models.FeedItem` (pure); ``poll_wordpress(...)`` reads what changed
since the last poll and hands back a new cursor. The article identity is the numeric post id
(``FeedItem.wp_post_id``), so reading a post twice is harmless: the pipeline knows it.

What one poll asks::

    first poll    posts?orderby=modified&order=desc&_embed=…&per_page=N&page=1…max_pages
    later polls   posts?orderby=date&after=<cursor - 1 h>&_fields=id,date_gmt,modified_gmt
                  posts?orderby=modified&order=asc&modified_after=<cursor - 1 s>&_embed=…&page=…
                  posts?include=<ids>&_embed=…     only when the scheduler published something

Every request carries ``_envelope``: WordPress then puts the status and the ``X-WP-Total`` /
``X-WP-TotalPages`` headers in the JSON body (``FetchResult`` carries no headers). A server that
ignores it (a proxy, a cache) answers a bare list, which is read the same way.

Why a later poll is more than one ``modified_after`` request:

- **Scheduled posts.** WP-cron publishes a scheduled post with ``wp_publish_post``, which sets
  ``post_status`` and nothing else: ``modified_gmt`` stays at the time the post was scheduled,
  usually before the cursor, and ``modified_after`` never returns it. Only such posts have a
  ``date_gmt`` later than their ``modified_gmt``; the cheap listing by date finds those dated
  less than :data:`SCHEDULER_GRACE` before the cursor (how late cron may run), and they are read
  in full. The cursor then moves to their ``date_gmt``.
- **Whole seconds.** WordPress keeps seconds and ``modified_after`` is exclusive, so a post saved
  in the same second as the newest one of the previous poll, but after it, would never come
  back. ``modified_after`` is sent :data:`REREAD` before the cursor: the posts of the cursor's own
  second are returned again, and the pipeline recognises them by ``wp_post_id``.
- **Catching up.** Later polls read the oldest change first: a backlog larger than
  ``max_pages * per_page`` (after downtime, a bulk edit) is read over several polls instead of
  being skipped. ``items`` are returned newest first all the same.
- **WordPress before 5.7** ignores ``modified_after``. Recognised by an answer holding posts
  older than the cursor, the poll then reads newest first and stops at the cursor.

Password-protected posts are left out (their title reads "Protected: …" and their content is
empty). Errors are ``FetchError`` (with ``.status``) and ``ParseError``; messages never contain
the application password.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bot.errors import FetchError, ParseError
from bot.feeds import plain_text
from bot.fetcher import Fetcher
from bot.identity import is_http_url, site_host
from bot.language import normalize_language
from bot.models import FeedItem, Image

__all__ = [
    "EMBED",
    "MAX_IMAGE_SIDE",
    "MAX_PER_PAGE",
    "REREAD",
    "SCHEDULER_GRACE",
    "WordPressPoll",
    "item_from_post",
    "poll_wordpress",
    "posts_endpoint",
]

log = logging.getLogger(__name__)

#: What each post embeds: featured image, categories and tags, author.
EMBED = "wp:featuredmedia,wp:term,author"
#: WordPress refuses a larger ``per_page`` (``rest_invalid_param``).
MAX_PER_PAGE = 100
#: The largest side of the featured-image size we pick from ``media_details.sizes``.
MAX_IMAGE_SIDE = 2048
#: ``modified_after`` is sent this long before the cursor (WordPress stores whole seconds).
REREAD = timedelta(seconds=1)
#: How late WP-cron may publish a scheduled post and still be found by the listing by date.
SCHEDULER_GRACE = timedelta(hours=1)

_FUTURE_SLACK = timedelta(days=1)  # a date further ahead of our clock never moves the cursor
_EPOCH = datetime.min.replace(tzinfo=UTC)
_TAXONOMIES = ("category", "post_tag")
_OUR_PARAMS = frozenset(
    {"_embed", "_envelope", "_fields", "after", "include", "modified_after", "offset", "order"}
    | {"orderby", "page", "per_page"}
)
_AUTH_HINTS = {
    "incorrect_password": "the application password is wrong or was revoked",
    "invalid_username": "WordPress knows no such user",
    "invalid_email": "WordPress knows no such user",
    "application_passwords_disabled": "application passwords are turned off on this site",
    "application_passwords_disabled_for_user": "application passwords are turned off for this user",
    "rest_not_logged_in": (
        "WordPress ignored them (it accepts application passwords over HTTPS only, or a plugin"
        " turned them off)"
    ),
    "rest_forbidden": "this user may not read these posts",
}
_MORE_WORDS = (
    r"(?:Continue reading|Read more|Read the full (?:story|article)|Lire la suite|Leer más)"
)
_ELLIPSIS_MORE_RE = re.compile(
    r"\s*(?:…|\.\.\.|\[…\]|\[\.\.\.\])\s*" + _MORE_WORDS + r"\b.{0,300}$", re.DOTALL | re.IGNORECASE
)
_TRAILING_MORE_RE = re.compile(r"\s*" + _MORE_WORDS + r"\s*(?:→|»|›|\.\.\.|…)?\s*$", re.IGNORECASE)
_TRAILING_ELLIPSIS_RE = re.compile(r"\s*(?:\[…\]|\[\.\.\.\]|…|\.\.\.)\s*$")
_PHP_MESSAGES_RE = re.compile(
    r"\A(?:\s*(?:<br\s*/?>)?\s*<b>(?:Warning|Notice|Deprecated|Strict Standards)</b>:.*?<br\s*/?>"
    r"|\s*(?:PHP )?(?:Warning|Notice|Deprecated): [^\n]*\n)+",
    re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class WordPressPoll:
    """What one poll of a WordPress site found.

    ``cursor`` is what to pass back next time: the newest ``modified_gmt`` seen (ISO 8601, UTC),
    or the ``date_gmt`` of a post the scheduler published if that is newer; the old cursor when
    nothing is newer. ``pages`` counts the pages of changes read; ``total`` is their
    ``X-WP-Total`` (None when the site did not say, or ignored ``modified_after``).
    """

    items: tuple[FeedItem, ...]  # newest first, as the API returns them
    cursor: str | None
    pages: int
    total: int | None


# --- the endpoint -------------------------------------------------------------------------------


def posts_endpoint(site_or_endpoint: str) -> str:
    """The posts endpoint of a site: ``https://site/`` → ``https://site/wp-json/wp/v2/posts``.

    An endpoint is kept (``…/wp-json/wp/v2/posts``, a custom post type's ``…/wp/v2/articles``,
    the plain-permalink form ``/?rest_route=/wp/v2/posts``); ``/wp-json/`` and ``/wp-json/wp/v2``
    are completed; ``…/index.php`` (plain permalinks) gets ``?rest_route=/wp/v2/posts``. The
    site URL's query (``?lang=fr``, ``?categories=3``) is kept: WordPress reads it as filters.
    Raises ``ValueError`` for anything but an http(s) URL.
    """
    text = site_or_endpoint.strip()
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError:
        raise ValueError(f"not a valid URL: {site_or_endpoint!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not hostname:
        raise ValueError(f"not an http(s) URL of a WordPress site: {site_or_endpoint!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    path = parts.path

    routes = [value for key, value in query if key == "rest_route"]
    if routes or path.endswith("/index.php") or path == "index.php":
        route = _complete_route(routes[0] if routes else "")
        query = [(k, v) for k, v in query if k != "rest_route"]
        new_query = urlencode([("rest_route", route), *query], safe="/,:")
        return urlunsplit((scheme, parts.netloc, path or "/", new_query, ""))

    segments = path.split("/")
    if "wp-json" in segments:
        at = segments.index("wp-json")
        base = "/".join(segments[:at])
        path = f"{base}/wp-json{_complete_route('/' + '/'.join(segments[at + 1 :]))}"
    else:
        path = path.rstrip("/") + "/wp-json/wp/v2/posts"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _complete_route(route: str) -> str:
    route = "/" + route.strip().strip("/")
    if route == "/":
        return "/wp/v2/posts"
    if route == "/wp/v2":
        return "/wp/v2/posts"
    return route


# --- polling ------------------------------------------------------------------------------------


def poll_wordpress(
    fetcher: Fetcher,
    *,
    source_id: str,
    url: str,
    cursor: str | None,
    auth: tuple[str, str] | None = None,
    default_language: str | None = None,
    max_pages: int = 10,
    per_page: int = 50,
) -> WordPressPoll:
    """Read the posts of ``url`` (a site or its posts endpoint) changed since ``cursor``.

    Without a cursor: the ``max_pages * per_page`` most recently modified posts. With one: every
    post modified since (the cursor's own second again), plus posts the scheduler published
    since; see the module docstring. ``auth`` is (user, application password), sent as HTTP
    Basic to the site's host only, and never over plain http except to a loopback address.

    Raises ``FetchError`` (401/403: an application password is needed or was refused; 404: no
    REST API there; the site's other errors with ``.status``) and ``ParseError`` (not JSON, not
    a list of posts).
    """
    try:
        endpoint = posts_endpoint(url)
    except ValueError as e:
        raise FetchError(str(e), url=url) from None
    api = _Api(fetcher, endpoint, auth)
    since = _parse_cursor(cursor, source_id)
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    max_pages = max(max_pages, 1)

    # The listing by date goes first: whatever the scheduler published before it is also
    # visible to the listing of changes after it, so the cursor can move past both.
    scheduled = api.scheduled_since(since - SCHEDULER_GRACE) if since is not None else ()
    changes = api.changes(since, per_page=per_page, max_pages=max_pages)
    posts = list(changes.posts)
    known = {_post_id(p) for p in posts}
    missing = [post_id for post_id in scheduled if post_id not in known]
    if missing:
        log.info("%s: %d post(s) published by the scheduler at %s", source_id, len(missing), api)
        posts += api.posts_by_id(missing)

    items: list[FeedItem] = []
    for post in posts:
        if _is_protected(post):
            log.info("%s: leaving out password-protected post %s", source_id, _post_id(post))
            continue
        try:
            items.append(
                item_from_post(post, source_id=source_id, default_language=default_language)
            )
        except ParseError as e:
            log.warning("%s: leaving out a post of %s: %s", source_id, api, e)
    items.sort(key=_newness, reverse=True)

    # After a truncated read of changes (oldest first) the cursor must stop at the last change
    # read; otherwise it may move to the time the scheduler published a post.
    marks = [_gmt(p.get("modified_gmt")) for p in changes.posts]
    if not changes.truncated:
        marks += [_visible_since(p) for p in posts]
    ceiling = _utcnow() + _FUTURE_SLACK
    newest = max((m for m in marks if m is not None and m <= ceiling), default=None)
    if newest is None or (since is not None and newest <= since):
        new_cursor = cursor if since is not None else None
    else:
        new_cursor = newest.isoformat()
    log.debug("%s: %d post(s) from %s, cursor %s", source_id, len(items), api, new_cursor)
    return WordPressPoll(
        items=tuple(items), cursor=new_cursor, pages=changes.pages, total=changes.total
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    """One REST answer: the status and headers WordPress meant (from the envelope) and the body."""

    status: int
    headers: Mapping[str, Any]
    body: Any

    @property
    def code(self) -> str:
        """WordPress's error code (``rest_no_route``, ``incorrect_password``…), or ""."""
        body = _mapping(self.body)
        return _str(body.get("code")) or ""

    @property
    def message(self) -> str:
        text = plain_text(_str(_mapping(self.body).get("message")))
        return text if len(text) <= 200 else text[:197] + "..."

    def count(self, header: str) -> int | None:
        """A counting header (``X-WP-Total``), 0 included."""
        for key, value in self.headers.items():
            if key.lower() == header.lower():
                if isinstance(value, str) and value.strip().isdigit():
                    return int(value.strip())
                return value if isinstance(value, int) and not isinstance(value, bool) else None
        return None


@dataclass(frozen=True, slots=True)
class _Changes:
    posts: tuple[Mapping[str, Any], ...]
    pages: int
    total: int | None
    truncated: bool  # more changes are waiting beyond max_pages


class _Api:
    """GETs on one posts endpoint; the site's errors become ours."""

    def __init__(self, fetcher: Fetcher, endpoint: str, auth: tuple[str, str] | None) -> None:
        self._fetcher = fetcher
        self._endpoint = endpoint
        self._auth = auth
        parts = urlsplit(endpoint)
        self._shown = urlunsplit(
            (parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, "")
        )
        if auth is not None and parts.scheme.lower() == "http" and not _is_loopback(parts.hostname):
            raise FetchError(
                f"refusing to send the application password for {parts.hostname} over plain"
                " http: use the site's https:// address",
                url=endpoint,
            )

    def __str__(self) -> str:
        return self._shown

    def changes(self, since: datetime | None, *, per_page: int, max_pages: int) -> _Changes:
        """Posts modified since ``since`` (all posts when None), over up to ``max_pages``."""
        floor = since - REREAD if since is not None else None
        ascending = floor is not None
        collected: list[Mapping[str, Any]] = []
        pages, page, total, truncated = 0, 1, None, False
        while True:
            params = {
                "orderby": "modified",
                "order": "asc" if ascending else "desc",
                "per_page": str(per_page),
                "page": str(page),
                "_embed": EMBED,
            }
            if floor is not None:
                params["modified_after"] = _iso(floor)
            answer = self.get(params)
            if page > 1 and answer.status == 400:
                break  # rest_post_invalid_page_number: posts left the list while we paged
            batch = self.posts(answer)
            pages += 1
            if floor is not None and ascending and any(_older(p, floor) for p in batch):
                log.info("%s ignores modified_after (WordPress < 5.7?): reading newest first", self)
                ascending, page, collected = False, 1, []
                continue
            if page == 1:
                total = answer.count("X-WP-Total") if ascending or floor is None else None
            kept = [p for p in batch if not _older(p, floor)]
            collected += kept
            if len(kept) < len(batch):
                break  # newest first and past the cursor: the rest is older
            total_pages = answer.count("X-WP-TotalPages")
            more = page < total_pages if total_pages is not None else len(batch) >= per_page
            if not more:
                break
            if pages >= max_pages:
                truncated = True
                break
            page += 1
        return _Changes(_latest_versions(collected), pages, total, truncated)

    def scheduled_since(self, after: datetime) -> tuple[int, ...]:
        """Ids of posts dated after ``after`` that the scheduler published (date > modified)."""
        params = {
            "orderby": "date",
            "order": "desc",
            "per_page": str(MAX_PER_PAGE),
            "after": _iso(after),
            "_fields": "id,date_gmt,modified_gmt",
        }
        found: list[int] = []
        for post in self.posts(self.get(params)):
            post_id = _post_id(post)
            date, modified = _gmt(post.get("date_gmt")), _gmt(post.get("modified_gmt"))
            if post_id is not None and date and modified and date > modified:
                found.append(post_id)
        return tuple(found)

    def posts_by_id(self, ids: Sequence[int]) -> list[Mapping[str, Any]]:
        wanted = set(ids)
        params = {
            "include": ",".join(str(i) for i in ids),
            "per_page": str(min(len(ids), MAX_PER_PAGE)),
            "orderby": "date",
            "order": "desc",
            "_embed": EMBED,
        }
        return [p for p in self.posts(self.get(params)) if _post_id(p) in wanted]

    # --- one request ----------------------------------------------------------------------

    def get(self, params: Mapping[str, str]) -> _Answer:
        url = _with_params(self._endpoint, {**params, "_envelope": "1"})
        try:
            result = self._fetcher.fetch(url, accept="application/json", auth=self._auth)
        except FetchError as e:
            if e.status is None or e.status == 429 or e.status >= 500:
                raise  # the fetcher's message says it all; .status tells the pipeline to wait
            return _Answer(e.status, {}, None)  # not enveloped: a proxy, or an old server
        data = _decode_json(result.content, self._shown)
        if (
            isinstance(data, Mapping)
            and {"body", "status", "headers"} <= data.keys()
            and isinstance(data["status"], int)
        ):
            headers = data["headers"] if isinstance(data["headers"], Mapping) else {}
            return _Answer(data["status"], headers, data["body"])
        return _Answer(result.status, {}, data)

    def posts(self, answer: _Answer) -> list[Mapping[str, Any]]:
        """The post objects of a successful answer; raises for an error answer."""
        if not 200 <= answer.status < 300:
            raise self._error(answer.status, answer.code, answer.message)
        if not isinstance(answer.body, list):
            kind = type(answer.body).__name__
            raise ParseError(f"not a list of posts: {self._shown} answered a JSON {kind}")
        return [p for p in answer.body if isinstance(p, Mapping)]

    def _error(self, status: int, code: str, message: str) -> FetchError:
        host = urlsplit(self._endpoint).netloc.rpartition("@")[2]
        said = f"HTTP {status}{' ' + code if code else ''}"
        if status in (401, 403):
            if self._auth is None:
                text = (
                    f"{host}: the REST API needs an application password (set username and"
                    f" app_password) ({said})"
                )
                if status == 403 and not code:
                    text += "; a firewall blocking bots answers the same"
            else:
                hint = _AUTH_HINTS.get(code)
                text = f"{host} refused these credentials (user {self._auth[0]!r}) ({said})"
                text += f": {hint}" if hint else ""
        elif status == 404:
            text = f"no WordPress REST API at {self._shown} ({said})"
            if code == "rest_no_route":
                text += ": WordPress answers, but not this route (turned off by a plugin?)"
            elif "/wp-json/" in urlsplit(self._endpoint).path:
                text += f"; a site with plain permalinks answers at {_plain_form(self._shown)}"
        else:
            text = f"WordPress REST API at {self._shown} answered {said}" + (
                f": {message}" if message else ""
            )
        return FetchError(text, url=self._endpoint, status=status)


# --- one post -----------------------------------------------------------------------------------


def item_from_post(
    post: Mapping[str, Any], *, source_id: str, default_language: str | None = None
) -> FeedItem:
    """A ``FeedItem`` from one post object of ``/wp/v2/posts`` (best with ``_embed``). Pure.

    The numeric ``id`` is the identity (``wp_post_id``). ``link`` is the REST ``link``, or Yoast's
    canonical URL when it is on the same site (a canonical pointing at another site must not
    scope the post id to that site). Title and summary are plain text; the summary is the
    excerpt, unless WordPress cut it and Yoast has a description. Categories then tags come from
    ``_embedded["wp:term"]`` (ids alone are left out); the image is the featured image (its
    largest size up to :data:`MAX_IMAGE_SIDE`), else Yoast's ``og_image``. The language comes
    from Polylang's ``lang``, WPML's ``wpml_current_locale``, Yoast's ``og_locale``, else
    ``default_language``. Raises ``ParseError`` for an object without a numeric id, or without
    both link and GUID.
    """
    post_id = _post_id(post)
    if post_id is None:
        raise ParseError(f"not a WordPress post (no numeric id): {_keys(post)}")
    yoast = _mapping(post.get("yoast_head_json"))
    embedded = _mapping(post.get("_embedded"))

    guid = _str(_rendered(post.get("guid")))
    link = _http_url(post.get("link"))
    canonical = _http_url(yoast.get("canonical"))
    if canonical is not None and (link is None or _same_site(canonical, link)):
        link = canonical
    if guid is None and link is None:
        raise ParseError(f"WordPress post {post_id} has neither a link nor a GUID")
    base = link or (guid if is_http_url(guid) else None)

    excerpt, cut = _excerpt(_rendered(post.get("excerpt")))
    described = plain_text(_str(yoast.get("description")) or _str(yoast.get("og_description")))
    summary = described if described and (cut or not excerpt) else excerpt

    published = _gmt(post.get("date_gmt")) or _gmt(yoast.get("article_published_time"))
    updated = _gmt(post.get("modified_gmt")) or _gmt(yoast.get("article_modified_time"))
    authors = _unique(plain_text(_str(a.get("name"))) for a in _objects(embedded.get("author")))

    return FeedItem(
        source_id=source_id,
        guid=guid,
        link=link,
        title=plain_text(_rendered(post.get("title")) or _str(yoast.get("og_title"))),
        summary=summary,
        content_html=_str(_rendered(post.get("content"))),
        published=published,
        updated=updated,
        authors=authors or _unique([plain_text(_str(yoast.get("author")))]),
        categories=_terms(embedded.get("wp:term")),
        language=(
            normalize_language(post.get("lang"))
            or normalize_language(post.get("wpml_current_locale"))
            or normalize_language(yoast.get("og_locale"))
            or normalize_language(default_language)
        ),
        image=_featured_image(embedded.get("wp:featuredmedia"), base) or _og_image(yoast, base),
        wp_post_id=post_id,
    )


def _excerpt(value: str | None) -> tuple[str, bool]:
    """Plain text of ``excerpt.rendered``, and whether WordPress cut it (auto excerpt)."""
    text = plain_text(value)
    cut = "more-link" in (value or "")
    for pattern, replacement in (
        (_ELLIPSIS_MORE_RE, "…"),
        (_TRAILING_MORE_RE, ""),
        (_TRAILING_ELLIPSIS_RE, "…"),
    ):
        text, n = pattern.subn(replacement, text)
        cut = cut or n > 0
    text = text.strip()
    return ("" if text == "…" else text), cut


def _terms(groups: object) -> tuple[str, ...]:
    """Category names, then tag names, from ``_embedded["wp:term"]`` (a list per taxonomy)."""
    by_taxonomy: dict[str, list[str]] = {t: [] for t in _TAXONOMIES}
    for group in groups if isinstance(groups, list) else ():
        for term in _objects(group):
            taxonomy = term.get("taxonomy")
            if isinstance(taxonomy, str) and taxonomy in by_taxonomy:
                # WordPress stores "&" in term names as "&amp;", and the API sends them so.
                by_taxonomy[taxonomy].append(
                    " ".join(html.unescape(_str(term.get("name")) or "").split())
                )
    return _unique(name for t in _TAXONOMIES for name in by_taxonomy[t])


def _featured_image(media: object, base: str | None) -> Image | None:
    for item in _objects(media):
        mime = _str(item.get("mime_type")) or ""
        if item.get("media_type", "image") != "image" and not mime.startswith("image/"):
            continue
        details = _mapping(item.get("media_details"))
        candidates = [(item.get("source_url"), details.get("width"), details.get("height"))]
        sizes = _mapping(details.get("sizes"))
        candidates += [
            (s.get("source_url"), s.get("width"), s.get("height")) for s in _objects(sizes.values())
        ]
        url, width, height = _largest_fitting(candidates) or candidates[0]
        image = _image(url, base, _str(item.get("alt_text")), width, height)
        if image is not None:
            return image
    return None


def _largest_fitting(
    candidates: Iterable[tuple[object, object, object]],
) -> tuple[object, int, int] | None:
    """The candidate with the largest area whose sides are at most MAX_IMAGE_SIDE."""
    fitting: list[tuple[object, int, int]] = []
    for url, width, height in candidates:
        w, h = _int(width), _int(height)
        if _str(url) and w and h and w <= MAX_IMAGE_SIDE and h <= MAX_IMAGE_SIDE:
            fitting.append((url, w, h))
    return max(fitting, key=lambda c: c[1] * c[2], default=None)


def _og_image(yoast: Mapping[str, Any], base: str | None) -> Image | None:
    for og in _objects(yoast.get("og_image")):
        image = _image(og.get("url"), base, None, og.get("width"), og.get("height"))
        if image is not None:
            return image
    return None


def _image(
    url: object, base: str | None, alt: str | None, width: object, height: object
) -> Image | None:
    text = _str(url)
    if text is None:
        return None
    absolute = urljoin(base, text) if base else text
    if not is_http_url(absolute):
        return None
    return Image(url=absolute, alt=plain_text(alt), width=_int(width), height=_int(height))


# --- small helpers ------------------------------------------------------------------------------


def _utcnow() -> datetime:
    """Only a sanity bound: a post dated far in the future never moves the cursor."""
    return datetime.now(UTC)


def _parse_cursor(cursor: str | None, source_id: str) -> datetime | None:
    if cursor is None or not cursor.strip():
        return None
    when = _gmt(cursor)
    if when is None:
        log.warning("%s: ignoring a cursor that is not an ISO date: %r", source_id, cursor)
    return when


def _gmt(value: object) -> datetime | None:
    """An ISO date as aware UTC; one without an offset (``date_gmt``) is read as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def _older(post: Mapping[str, Any], floor: datetime | None) -> bool:
    modified = _gmt(post.get("modified_gmt"))
    return floor is not None and modified is not None and modified < floor


def _visible_since(post: Mapping[str, Any]) -> datetime | None:
    """When the post last changed or became visible: the later of modified_gmt and date_gmt
    (date_gmt is later only for a post the scheduler published)."""
    times = [t for t in (_gmt(post.get("modified_gmt")), _gmt(post.get("date_gmt"))) if t]
    return max(times, default=None)


def _newness(item: FeedItem) -> datetime:
    times = [t for t in (item.updated, item.published) if t is not None]
    return max(times, default=_EPOCH)


def _latest_versions(posts: Iterable[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """One object per post id (the most recently modified), in first-seen order: a post edited
    while we paged shows up twice."""
    chosen: dict[object, Mapping[str, Any]] = {}
    for post in posts:
        key = _post_id(post) or id(post)
        previous = chosen.get(key)
        if previous is None or _modified(post) >= _modified(previous):
            chosen[key] = post
    return tuple(chosen.values())


def _modified(post: Mapping[str, Any]) -> datetime:
    return _gmt(post.get("modified_gmt")) or _EPOCH


def _is_protected(post: Mapping[str, Any]) -> bool:
    return any(_mapping(post.get(k)).get("protected") is True for k in ("content", "excerpt"))


def _post_id(post: Mapping[str, Any]) -> int | None:
    value = post.get("id")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _with_params(endpoint: str, params: Mapping[str, str]) -> str:
    """``endpoint`` with ``params``; the endpoint's own query is kept except what we control."""
    parts = urlsplit(endpoint)
    own = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in _OUR_PARAMS and k not in params
    ]
    query = urlencode([*own, *params.items()], safe="/,:")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _plain_form(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    base, _, route = parts.path.partition("/wp-json")
    query = urlencode([("rest_route", route or "/wp/v2/posts")], safe="/")
    return urlunsplit((parts.scheme, parts.netloc, (base or "") + "/", query, ""))


def _decode_json(content: bytes, shown: str) -> Any:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"not a WordPress REST answer: {shown} is not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        error = e
    # PHP warnings printed before the JSON (display_errors on) are a classic of WordPress hosts.
    if (notices := _PHP_MESSAGES_RE.match(text)) is not None:
        try:
            data = json.loads(text[notices.end() :])
        except json.JSONDecodeError:
            pass
        else:
            log.warning("%s: PHP printed warnings before the JSON; read past them", shown)
            return data
    head = text[:1024].lstrip().lower()
    if not head:
        what = "an empty body"
    elif head.startswith(("<!doctype html", "<html")) or "<html" in head[:512]:
        what = "an HTML page, not JSON (REST API turned off, or a page cache answering?)"
    else:
        what = f"invalid JSON ({error.msg} at line {error.lineno} column {error.colno})"
    raise ParseError(f"not a WordPress REST answer: {shown} returned {what}")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_site(a: str, b: str) -> bool:
    try:
        return site_host(a) == site_host(b)
    except ValueError:
        return False


def _http_url(value: object) -> str | None:
    text = _str(value)
    return text if text is not None and is_http_url(text) else None


def _rendered(value: object) -> str | None:
    """``{"rendered": "..."}`` (or a bare string, as some plugins send) → the string."""
    if isinstance(value, Mapping):
        value = value.get("rendered")
    return value if isinstance(value, str) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _objects(value: object) -> list[Mapping[str, Any]]:
    """The objects of a list, without WordPress error objects (``{"code": "rest_forbidden"}``)."""
    if not isinstance(value, list | tuple | ValuesView):
        return []
    return [v for v in value if isinstance(v, Mapping) and "code" not in v]


def _str(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()) or None
    return None


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in out:
            out[value.casefold()] = value
    return tuple(out.values())


def _keys(post: Mapping[str, Any]) -> str:
    names = sorted(str(k) for k in post)[:8]
    return "keys " + ", ".join(names) if names else "an empty object"
