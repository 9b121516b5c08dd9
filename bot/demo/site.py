"""A fake WordPress 6.1 news site on localhost: the offline demo's source and the tests' target.

``SampleSite`` serves a list of :class:`~bot.demo.articles.SampleArticle` the way a real
WordPress 6.1 site (Twenty Twenty-One theme, an SEO plugin, pretty permalinks) does, from a
``ThreadingHTTPServer`` in a daemon thread. Standard library only. ::

    with SampleSite(load_sample_articles()) as site:      # binds 127.0.0.1 on a free port
        requests.get(site.url + "/feed/")
        site.add(SampleArticle(...)); site.edit(37070, title="...")
        assert site.hits("/feed/") == {200: 1}

Routes (``site.url`` + ...)
    ``/feed/``, ``/feed/rss2/``     RSS 2.0, ``posts_per_rss`` newest (10), ``?paged=N`` pages
    ``/feed/atom/``                 Atom (published + updated)
    ``/feed/json/``                 JSON Feed 1.1 (as the WordPress "JSON Feed" plugin)
    ``/category/<slug>/feed/``      the same three per category (and ``/tag/<slug>/feed/``)
    ``/YYYY/MM/DD/<slug>/``         the article page; a wrong date or an old slug -> 301
    ``/?p=ID``                      301 to the permalink (WordPress canonical redirect)
    ``/?feed=rss2|atom|json``       301 to the pretty feed URL
    ``/``, ``/category/<slug>/``, ``/tag/<slug>/``, ``/author/<slug>/``  archive pages
    ``/wp-json/wp/v2/posts[/<id>]`` REST API (``per_page``, ``page``, ``_embed``,
                                    ``categories``, ``tags``, ``after``, ``modified_after``,
                                    ``orderby``, ``order``, ``include``, ``_fields``,
                                    ``_envelope``); also as ``?rest_route=/wp/v2/posts``
    ``/wp-content/uploads/...``     generated JPEG/PNG for the articles' images (and the
                                    ``-WxH`` sizes of their ``srcset``)
    anything else                   the theme's 404 page; a deleted article 404 (410 if gone)

Feeds send ``ETag`` and ``Last-Modified`` (the newest modification among the feed's posts)
and answer 304 with an empty body using WordPress's rule: when the client sends both
``If-None-Match`` and ``If-Modified-Since`` both must match, otherwise either one suffices.
``etag="body"`` (default) hashes the body; ``etag="wordpress"`` hashes the Last-Modified string
as WordPress does, so an edit within the same second keeps the old ETag. Every response is
gzip-encoded when the client accepts it, and carries ``Connection: close``.

Scheduled posts (``published`` after the site's clock) are invisible until their time. Give a
scheduled article ``modified`` = the time it was scheduled to reproduce what WP-cron does: it
publishes without touching ``modified_gmt``.

REST plugins and protection (constructor flags, off by default): ``yoast=True`` adds Yoast
SEO's ``yoast_head_json`` to posts whose article has ``og=True``; ``polylang=True`` adds
Polylang's ``lang`` (``"en"``, ``"fr"``, ``"ht"``); ``app_passwords={"user": "abcd EFGH ..."}``
makes the REST API answer 401 ``rest_not_logged_in`` without HTTP Basic credentials, and 401
``invalid_username`` / ``incorrect_password`` for wrong ones (application passwords compare
without their spaces, as WordPress does). Basic credentials sent to a site without
``app_passwords`` are refused the same way, as WordPress refuses unknown users.

GUIDs: "plain" is ``<url>/?p=ID``; "pretty" is the permalink at creation time and does not
follow later re-dating or slug changes, exactly like WordPress's ``guid`` column.

WebSub (``hub="http://hub.example/"``, as the WebSub/PubSubHubbub plugin): the main feeds
(``/feed/``, ``/feed/atom/``, not archive feeds) carry ``<atom:link rel="hub">`` and a second
``rel="self"`` (with the port), and ``Link: <hub>; rel="hub"`` / ``<self>; rel="self"``
headers; ``add`` and ``edit`` ping the hub (``hub.mode=publish``, ``hub.url`` = the main and
category feeds) from a background thread, unless ``ping_hub`` is False; ``pings`` lists the
hub's answers.

Fault injection and the request log: ``fail_next(prefix, status, n)`` (status 0 drops the
connection without an answer), ``set_delay(seconds)``, ``hits(path)``, ``requests``,
``wait_for_requests(path, count)``.

Control endpoint (loopback clients only; JSON in, JSON out), so that another process can drive
a site started with ``python -m bot.demo.site``::

    POST /_control/add      an article object (SampleArticle fields; dates ISO 8601 or
                            "age_minutes"); post_id and published default to next id / now
    POST /_control/edit     {"post_id": N, ...fields to change}  (bumps modified)
    POST /_control/delete   {"post_id": N, "gone": false}        (404; 410 when gone)
    POST /_control/redate   {"post_id": N, "published": "2026-01-01T12:00:00+00:00"}
    POST /_control/guid     {"post_id": N, "form": "plain" | "pretty"}
    POST /_control/fail     {"path_prefix": "/feed/", "status": 503, "n": 1, "headers": {}}
    POST /_control/delay    {"seconds": 2.5, "path_prefix": ""}
    POST /_control/reset    forget the request log, faults and delay
    GET  /_control/hits?path=/feed/   {"200": 2, "304": 1}
    GET  /_control/requests           the request log
    GET  /_control/articles           every article with its permalink, guid and state

Control requests are not recorded in the request log. :class:`SampleSiteProcess` wraps the
child process and these endpoints for tests.

Command line: ``python -m bot.demo.site [--port N] [--host H] [--articles FILE] [--empty]
[--posts-per-rss N] [--etag body|wordpress] [--yoast] [--polylang] [--app-password USER:PASS]
[--hub URL]``
prints the site URL as its first line of stdout, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import hashlib
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Literal, Self
from urllib.parse import parse_qs, quote, urlsplit

from bot.demo.articles import (
    GUID_FORMS,
    SampleArticle,
    article_from_dict,
    article_to_dict,
    coerce_changes,
    load_sample_articles,
    sanitize_title,
)
from bot.demo.images import render_image
from bot.demo.wordpress import (
    Chrome,
    PostView,
    SiteInfo,
    Term,
    content_html,
    esc_title,
    feed_build_date,
    http_date,
    image_mime,
    iso8601,
    og_description,
    og_locale,
    render_archive,
    render_article,
    render_atom,
    render_json_feed,
    render_not_found,
    render_rss,
    rest_post,
    strip_tags,
)

__all__ = [
    "DEFAULT_SITE_NAME",
    "RequestRecord",
    "SampleArticle",
    "SampleSite",
    "SampleSiteProcess",
    "load_sample_articles",
    "main",
]

DEFAULT_SITE_NAME = "CTN Sample News"
DEFAULT_TAGLINE = "News from Haiti, the Caribbean and the diaspora (a syndbot sample site)"
EtagMode = Literal["body", "wordpress"]
PostState = Literal["publish", "trash", "gone"]

_CONTROL = "/_control/"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
_HTML = "text/html; charset=UTF-8"
_FEED_TYPES = {
    "rss2": "application/rss+xml; charset=UTF-8",
    "atom": "application/atom+xml; charset=UTF-8",
    "json": "application/feed+json; charset=UTF-8",
}
_FEED_PATH = re.compile(r"^/(?:(category|tag)/([^/]+)/)?feed/(?:(rss2|atom|json)/)?$")
_ARTICLE_PATH = re.compile(r"^/(\d{4})/(\d{2})/(\d{2})/([^/]+)/$")
_ARCHIVE_PATH = re.compile(r"^/(category|tag|author)/([^/]+)/$")
_UPLOAD_PATH = re.compile(r"^/wp-content/uploads/(.+?)(?:-(\d+)x(\d+))?\.(jpe?g|png)$")
_REST_POSTS = re.compile(r"^/wp-json/wp/v2/posts(?:/(\d+))?/?$")
_REST_ORDERBY: dict[str, Callable[[PostView], Any]] = {
    "date": lambda v: (v.article.published, v.post_id),
    "modified": lambda v: (v.article.last_modified, v.post_id),
    "id": lambda v: v.post_id,
    "title": lambda v: (v.article.title.casefold(), v.post_id),
    "slug": lambda v: (v.article.slug, v.post_id),
}
_REST_HEADERS = ("X-WP-Total", "X-WP-TotalPages")
_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the site answered. ``status`` 0: the connection was dropped unanswered."""

    method: str
    path: str  # without the query string
    target: str  # as requested: path and query
    status: int
    headers: Mapping[str, str]
    at: datetime


@dataclass(slots=True)
class _Entry:
    article: SampleArticle
    guid_path: str  # the permalink path when the GUID was minted (pretty form)
    old_paths: set[str] = field(default_factory=set)  # earlier permalinks: 301 to the current one
    state: PostState = "publish"


@dataclass(slots=True)
class _Fault:
    prefix: str
    status: int
    remaining: int
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    target: str
    path: str
    query: Mapping[str, list[str]]
    headers: Message
    body: bytes
    client: str

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    compressible: bool = True


def permalink_path(article: SampleArticle) -> str:
    """``/YYYY/MM/DD/slug/`` from the publication date (the site's time zone is UTC)."""
    return f"/{article.published:%Y/%m/%d}/{article.slug}/"


def _json_response(
    status: int, data: object, headers: tuple[tuple[str, str], ...] = ()
) -> _Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return _Response(status, body, "application/json; charset=UTF-8", headers)


def _accepts_gzip(header: str | None) -> bool:
    for part in (header or "").split(","):
        token, _, params = part.strip().partition(";")
        if token.strip().lower() in {"gzip", "x-gzip", "*"}:
            q = params.strip().lower()
            return not re.fullmatch(r"q\s*=\s*0(?:\.0*)?", q)
    return False


def _etag_matches(header: str, etag: str, *, exact: bool) -> bool:
    if exact:  # WordPress compares the raw header with its ETag
        return header == etag
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)


def _parse_http_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _squash(password: str) -> str:
    """An application password as WordPress compares it: letters and digits only."""
    return re.sub(r"[^A-Za-z0-9]", "", password)


def _only_fields(data: dict[str, Any], fields: str) -> dict[str, Any]:
    """``_fields=a,b,c`` (top-level names; ``_links`` and ``_embedded`` only when named)."""
    if not fields.strip():
        return data
    wanted = {f.strip().split(".", 1)[0] for f in fields.split(",") if f.strip()}
    return {key: value for key, value in data.items() if key in wanted}


def _yoast_head_json(site: SiteInfo, view: PostView) -> dict[str, Any]:
    """Yoast SEO's ``yoast_head_json``, with the values the article page's meta tags carry."""
    art = view.article
    description = og_description(view)
    words = len(strip_tags(content_html(art)).split())
    minutes = max(1, round(words / 200))
    head: dict[str, Any] = {
        "title": f"{art.title} - {site.name}",
        "description": description,
        "robots": {"index": "index", "follow": "follow"},
        "canonical": view.permalink,
        "og_locale": og_locale(art.language),
        "og_type": "article",
        "og_title": art.title,
        "og_description": description,
        "og_url": view.permalink,
        "og_site_name": site.name,
        "article_published_time": iso8601(art.published),
        "article_modified_time": iso8601(art.last_modified),
        "author": art.author,
        "twitter_card": "summary_large_image" if view.image_url else "summary",
        "twitter_misc": {
            "Written by": art.author,
            "Est. reading time": f"{minutes} minute{'s' if minutes > 1 else ''}",
        },
    }
    if view.image_url:
        image: dict[str, Any] = {"url": view.image_url, "type": image_mime(view.image_url)}
        if art.image_width and art.image_height:
            image.update(width=art.image_width, height=art.image_height)
        head["og_image"] = [image]
    return head


class SampleSite:
    """A fake WordPress 6.1 site serving *articles* on ``host``:``port`` (0 = a free port).

    Nothing is bound until :meth:`start` (or ``with``). After :meth:`stop`, :meth:`start`
    binds the same port again, so tests can take the site down and bring it back. All
    methods are thread-safe. *clock* (aware datetimes) decides which posts are already
    published and what ``edit`` writes as ``modified``. *public_host* is the name the site
    uses in its links (default: *host*); a client maps it to *host* (``fetch.resolve``), the
    way a real site has a public name with a top-level domain.
    """

    def __init__(
        self,
        articles: Iterable[SampleArticle] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_host: str | None = None,
        name: str = DEFAULT_SITE_NAME,
        tagline: str = DEFAULT_TAGLINE,
        language: str = "en-US",
        posts_per_rss: int = 10,
        etag: EtagMode = "body",
        clock: Callable[[], datetime] | None = None,
        control: bool = True,
        yoast: bool = False,
        polylang: bool = False,
        app_passwords: Mapping[str, str] | None = None,
        hub: str | None = None,
    ) -> None:
        self.host = host
        self.public_host = public_host or host  # the name in links (a resolver maps it to host)
        self.name = name
        self.tagline = tagline
        self.language = language
        self.posts_per_rss = posts_per_rss
        self.etag_mode: EtagMode = etag
        self.control_enabled = control
        self.yoast = yoast  # posts carry yoast_head_json (Yoast SEO)
        self.polylang = polylang  # posts carry "lang" (Polylang)
        # user -> application password; when set, the REST API requires one (HTTP Basic)
        self.app_passwords = dict(app_passwords) if app_passwords is not None else None
        # The WebSub plugin: feeds advertise this hub; publishing or updating a post pings it.
        self.hub = hub
        self.ping_hub = True  # False: advertise the hub but never ping it
        self.pings: list[int] = []  # the hub's answer to each ping (0: unreachable)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._port = port
        self._lock = threading.RLock()
        self._logged = threading.Condition(self._lock)
        self._entries: dict[int, _Entry] = {}
        self._terms: dict[tuple[str, str], Term] = {}
        self._terms_by_slug: dict[tuple[str, str], Term] = {}
        self._next_term_id = 1
        self._authors: dict[str, tuple[int, str]] = {}
        self._log: list[RequestRecord] = []
        self._faults: list[_Fault] = []
        self._delay: tuple[float, str] = (0.0, "")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._created = self._now()
        self.errors: list[str] = []  # tracebacks of requests answered with 500
        self._term("category", "Uncategorized")
        # Oldest first, as they were written: the first "Haiti" owns the slug "haiti".
        for article in sorted(articles, key=lambda a: (a.published, a.post_id)):
            self._insert(article)

    @classmethod
    def bundled(cls, now: datetime | None = None, **kwargs: Any) -> SampleSite:
        """A site with the bundled sample articles, dated relative to *now*."""
        return cls(load_sample_articles(now), **kwargs)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the sample site is already running")
            self._stop_event = threading.Event()
            server = _Server((self.host, self._port), self)
            self._port = server.server_address[1]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"sample-site-{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests waiting in a delay are dropped. Idempotent."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._stop_event.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the sample site has no port until start()")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.public_host}:{self.port}"

    @property
    def feed_url(self) -> str:
        return self.url + "/feed/"

    # --- content -------------------------------------------------------------------------

    def add(self, article: SampleArticle) -> SampleArticle:
        """Publish *article* (a post id that was deleted may be used again). Returns it as
        stored: slug made unique like WordPress does ("-2"), dates in UTC seconds.

        Like WordPress, which writes ``post_modified`` when a post is inserted, a back-dated
        article whose ``modified`` equals ``published`` gets the clock's now as ``modified``,
        so the feed's Last-Modified moves forward. (Constructor articles are taken as given.)
        """
        now = self._now()
        if article.modified == article.published and article.published < now:
            article = replace(article, modified=now)
        stored = self._insert(article)
        self._notify_hub(stored)
        return stored

    def _insert(self, article: SampleArticle) -> SampleArticle:
        with self._lock:
            existing = self._entries.get(article.post_id)
            if existing is not None and existing.state == "publish":
                raise ValueError(f"post {article.post_id} already exists; use edit()")
            slug = self._unique_slug(article.slug, article.post_id)
            if slug != article.slug:
                article = replace(article, slug=slug)
            self._register_terms(article)
            guid_path = existing.guid_path if existing else permalink_path(article)
            old_paths = existing.old_paths if existing else set()
            self._entries[article.post_id] = _Entry(article, guid_path, old_paths)
            return article

    def edit(self, post_id: int, **changes: Any) -> SampleArticle:
        """Change fields of a published post; ``modified`` becomes the clock's now unless
        given. The GUID stays; an old permalink (new slug or date) redirects with 301."""
        if "post_id" in changes:
            raise ValueError("post_id cannot be changed")
        with self._lock:
            entry = self._live(post_id)
            old = entry.article
            changes.setdefault("modified", self._now())
            new = replace(old, **changes)
            if new.slug != old.slug:
                new = replace(new, slug=self._unique_slug(new.slug, post_id))
            if permalink_path(new) != permalink_path(old):
                entry.old_paths.add(permalink_path(old))
            entry.old_paths.discard(permalink_path(new))
            self._register_terms(new)
            entry.article = new
        self._notify_hub(new)
        return new

    def redate(self, post_id: int, new_published: datetime) -> SampleArticle:
        """Change the publication date (and so the permalink; the GUID stays)."""
        return self.edit(post_id, published=new_published)

    def set_guid_form(self, post_id: int, form: Literal["pretty", "plain"]) -> str:
        """Rewrite the post's GUID (as a migration or plugin would); returns the new GUID.
        "pretty" takes the current permalink. ``modified`` does not change."""
        if form not in GUID_FORMS:
            raise ValueError(f"form must be one of {GUID_FORMS}")
        with self._lock:
            entry = self._live(post_id)
            entry.article = replace(entry.article, guid_form=form)
            if form == "pretty":
                entry.guid_path = permalink_path(entry.article)
            return self._guid(entry)

    def delete(self, post_id: int, *, gone: bool = False) -> None:
        """Unpublish: the post leaves the feeds, its pages answer 404 (410 when *gone*)."""
        with self._lock:
            if post_id not in self._entries:
                raise KeyError(post_id)
            self._entries[post_id].state = "gone" if gone else "trash"

    def get(self, post_id: int) -> SampleArticle:
        with self._lock:
            return self._entries[post_id].article

    def articles(self) -> list[SampleArticle]:
        """The visible posts, newest first (what the feed lists, without the 10 limit)."""
        with self._lock:
            return [e.article for e in self._visible()]

    def permalink(self, post_id: int) -> str:
        with self._lock:
            return self.url + permalink_path(self._entries[post_id].article)

    def guid(self, post_id: int) -> str:
        with self._lock:
            return self._guid(self._entries[post_id])

    def next_post_id(self) -> int:
        with self._lock:
            return max(self._entries, default=0) + 1

    # --- faults and the request log ------------------------------------------------------

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        n: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next *n* requests whose path (with query) starts with *path_prefix*
        with *status* (plus *headers*, e.g. ``Retry-After``); status 0 drops the connection."""
        with self._lock:
            self._faults.append(_Fault(path_prefix, status, n, tuple((headers or {}).items())))

    def set_delay(self, seconds: float, path_prefix: str = "") -> None:
        """Wait *seconds* before answering requests under *path_prefix* (0 turns it off)."""
        with self._lock:
            self._delay = (max(0.0, seconds), path_prefix)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log, oldest first (control requests are not logged)."""
        with self._lock:
            return list(self._log)

    def hits(self, path: str) -> dict[int, int]:
        """Status -> count for *path* (``/feed/``); a *path* with ``?`` matches the full
        target (``/?p=37070``) instead of the path alone."""
        key = "target" if "?" in path else "path"
        counts: dict[int, int] = {}
        with self._lock:
            for record in self._log:
                if getattr(record, key) == path:
                    counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def wait_for_requests(
        self, path: str, count: int = 1, *, status: int | None = None, timeout: float = 5.0
    ) -> bool:
        """Block until *path* was answered *count* times (with *status*, if given)."""

        def enough() -> bool:
            hits = self.hits(path)
            return (sum(hits.values()) if status is None else hits.get(status, 0)) >= count

        with self._logged:
            return self._logged.wait_for(enough, timeout)

    def reset_log(self) -> None:
        """Forget the request log, pending faults and the delay."""
        with self._lock:
            self._log.clear()
            self._faults.clear()
            self._delay = (0.0, "")

    # --- internals: content ----------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _live(self, post_id: int) -> _Entry:
        entry = self._entries.get(post_id)
        if entry is None or entry.state != "publish":
            raise KeyError(post_id)
        return entry

    def _unique_slug(self, slug: str, post_id: int) -> str:
        taken = {
            e.article.slug
            for pid, e in self._entries.items()
            if pid != post_id and e.state == "publish"
        }
        candidate, n = slug, 2
        while candidate in taken:
            candidate = f"{slug}-{n}"
            n += 1
        return candidate

    def _term(self, taxonomy: Literal["category", "post_tag"], name: str) -> Term:
        term = self._terms.get((taxonomy, name))
        if term is None:
            base = sanitize_title(name) or str(self._next_term_id)
            slug, n = base, 2
            while (taxonomy, slug) in self._terms_by_slug:
                slug = f"{base}-{n}"
                n += 1
            term = Term(self._next_term_id, name, slug, taxonomy)
            self._next_term_id += 1
            self._terms[(taxonomy, name)] = term
            self._terms_by_slug[(taxonomy, slug)] = term
        return term

    def _author(self, name: str) -> tuple[int, str]:
        if name not in self._authors:
            slugs = {slug for _, slug in self._authors.values()}
            base = sanitize_title(name) or "author"
            slug, n = base, 2
            while slug in slugs:
                slug = f"{base}-{n}"
                n += 1
            self._authors[name] = (len(self._authors) + 1, slug)
        return self._authors[name]

    def _register_terms(self, article: SampleArticle) -> None:
        for name in article.categories:
            self._term("category", name)
        for name in article.tags:
            self._term("post_tag", name)
        self._author(article.author)

    def _guid(self, entry: _Entry) -> str:
        if entry.article.guid_form == "plain":
            return f"{self.url}/?p={entry.article.post_id}"
        return self.url + entry.guid_path

    def _is_visible(self, entry: _Entry, now: datetime | None = None) -> bool:
        """Published, and not scheduled for later than the clock's now."""
        when = self._now() if now is None else now
        return entry.state == "publish" and entry.article.published <= when

    def _visible(self) -> list[_Entry]:
        now = self._now()
        live = [e for e in self._entries.values() if self._is_visible(e, now)]
        return sorted(live, key=lambda e: (e.article.published, e.article.post_id), reverse=True)

    def _view(self, entry: _Entry) -> PostView:
        art = entry.article
        categories = art.categories or ("Uncategorized",)
        image = art.image_url
        if image is not None and image.startswith("/"):
            image = self.url + image
        author_id, author_slug = self._author(art.author)
        return PostView(
            article=art,
            permalink=self.url + permalink_path(art),
            guid=self._guid(entry),
            categories=tuple(self._term("category", c) for c in categories),
            tags=tuple(self._term("post_tag", t) for t in art.tags),
            author_id=author_id,
            author_slug=author_slug,
            image_url=image,
            media_id=(900_000_000 + art.post_id) if image else None,
        )

    def _site_info(self) -> SiteInfo:
        return SiteInfo(self.url, self.name, self.tagline, self.language)

    def _chrome(self, views: Sequence[PostView]) -> Chrome:
        used = {t.term_id for v in views for t in v.categories}
        menu = tuple(
            t for t in self._terms.values() if t.taxonomy == "category" and t.term_id in used
        )
        return Chrome(self._site_info(), menu, tuple(views[:5]))

    # --- internals: HTTP ---------------------------------------------------------------------

    def _handle(self, req: _Request) -> _Response | None:
        """Answer one request; None means: drop the connection without answering."""
        if req.path.startswith(_CONTROL):
            return self._control(req)
        stop_event = self._stop_event
        with self._lock:
            delay, delay_prefix = self._delay
            fault = self._take_fault(req.target)
        if delay and req.target.startswith(delay_prefix) and stop_event.wait(delay):
            self._record(req, 0)
            return None
        if fault is not None:
            self._record(req, fault.status)
            if fault.status == 0:
                return None
            text = _STATUS_TEXT.get(fault.status, "Error")
            body = f"<html><body><h1>{fault.status} {text}</h1></body></html>\n".encode()
            return _Response(fault.status, body, _HTML, fault.headers)
        try:
            response = self._route(req)
        except Exception:
            tb = traceback.format_exc()
            with self._lock:
                self.errors.append(tb)
            response = _Response(500, tb.encode("utf-8"), "text/plain; charset=UTF-8")
        self._record(req, response.status)
        return response

    def _take_fault(self, target: str) -> _Fault | None:
        for fault in self._faults:
            if target.startswith(fault.prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _record(self, req: _Request, status: int) -> None:
        record = RequestRecord(
            method=req.method,
            path=req.path,
            target=req.target,
            status=status,
            headers=dict(req.headers.items()),
            at=self._now(),
        )
        with self._logged:
            self._log.append(record)
            self._logged.notify_all()

    def _wp_headers(self, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        return (
            ("X-Powered-By", "PHP/8.2.36"),
            ("Link", f'<{self.url}/wp-json/>; rel="https://api.w.org/"'),
            *extra,
        )

    def _html(self, status: int, body: str, *extra: tuple[str, str]) -> _Response:
        return _Response(status, body.encode("utf-8"), _HTML, self._wp_headers(*extra))

    def _redirect(self, location: str) -> _Response:
        headers = self._wp_headers(("Location", location), ("X-Redirect-By", "WordPress"))
        return _Response(301, b"", _HTML, headers)

    def _not_found(self, status: int = 404) -> _Response:
        with self._lock:
            views = [self._view(e) for e in self._visible()]
            chrome = self._chrome(views)
        return self._html(status, render_not_found(chrome))

    def _route(self, req: _Request) -> _Response:
        path = req.path
        if rest_route := req.arg("rest_route"):  # a query var: WordPress reads it on any path
            return self._rest(replace(req, path="/wp-json" + rest_route))
        if path == "/wp-json" or path.startswith("/wp-json/"):
            return self._rest(req)
        if path == "/" and req.query:
            return self._route_query(req)
        if path == "/":
            return self._archive(None)
        if match := _FEED_PATH.match(path):
            taxonomy, slug, kind = match.groups()
            return self._feed(req, kind or "rss2", taxonomy, slug)
        if match := _ARTICLE_PATH.match(path):
            return self._article(path, match.group(4))
        if match := _ARCHIVE_PATH.match(path):
            return self._archive((match.group(1), match.group(2)))
        if match := _UPLOAD_PATH.match(path):
            return self._upload(req, match)
        if not path.endswith("/") and "." not in path.rsplit("/", 1)[-1]:
            slashed = replace(req, path=path + "/")
            if self._route(slashed).status in {200, 301}:
                query = urlsplit(req.target).query
                return self._redirect(self.url + path + "/" + (f"?{query}" if query else ""))
        return self._not_found()

    def _route_query(self, req: _Request) -> _Response:
        if feed := req.arg("feed"):
            suffix = {"rss2": "", "rss": "", "atom": "atom/", "json": "json/"}.get(feed)
            if suffix is None:
                return self._not_found()
            return self._redirect(f"{self.url}/feed/{suffix}")
        if (post_id := req.arg("p")).isdigit():
            with self._lock:
                entry = self._entries.get(int(post_id))
                visible = entry is not None and self._is_visible(entry)
                state = entry.state if entry else "trash"
                target = self.url + permalink_path(entry.article) if entry else ""
            if visible:
                return self._redirect(target)
            return self._not_found(410 if state == "gone" else 404)
        return self._archive(None)

    def _article(self, path: str, slug: str) -> _Response:
        with self._lock:
            visible = self._visible()
            match = next((e for e in visible if e.article.slug == slug), None)
            if match is None:
                match = next((e for e in visible if path in e.old_paths), None)
            if match is None:
                match = next(
                    (e for e in visible if any(p.endswith(f"/{slug}/") for p in e.old_paths)),
                    None,
                )
            if match is None:
                dead = [
                    e
                    for e in self._entries.values()
                    if e.state != "publish" and (e.article.slug == slug or path in e.old_paths)
                ]
                gone = any(e.state == "gone" for e in dead)
                return self._not_found(410 if gone else 404)
            if permalink_path(match.article) != path:
                return self._redirect(self.url + permalink_path(match.article))
            views = [self._view(e) for e in visible]
            index = visible.index(match)
            chrome = self._chrome(views)
            post = views[index]
            newer = views[index - 1] if index > 0 else None
            older = views[index + 1] if index + 1 < len(views) else None
        body = render_article(chrome, post, prev=older, nxt=newer)
        rest = f"{self.url}/wp-json/wp/v2/posts/{post.post_id}"
        return self._html(
            200,
            body,
            ("Link", f'<{rest}>; rel="alternate"; type="application/json"'),
            ("Link", f"<{self.url}/?p={post.post_id}>; rel=shortlink"),
        )

    def _archive(self, which: tuple[str, str] | None) -> _Response:
        with self._lock:
            views = [self._view(e) for e in self._visible()]
            chrome = self._chrome(views)
            heading: str | None = None
            feed: tuple[str, str] | None = None
            body_class = "home blog"
            if which is not None:
                kind, slug = which
                if kind == "author":
                    names = [n for n, (_, s) in self._authors.items() if s == slug]
                    if not names:
                        return self._not_found()
                    views = [v for v in views if v.author_slug == slug]
                    label = f'Author: <span class="page-description">{esc_title(names[0])}</span>'
                    heading, body_class = label, f"archive author author-{slug}"
                else:
                    taxonomy = "category" if kind == "category" else "post_tag"
                    term = self._terms_by_slug.get((taxonomy, slug))
                    if term is None:
                        return self._not_found()
                    views = [v for v in views if term in v.categories + v.tags]
                    title = "Category" if kind == "category" else "Tag"
                    heading = (
                        f'{title}: <span class="page-description">{esc_title(term.name)}</span>'
                    )
                    body_class = f"archive {kind} {kind}-{slug}"
                    feed_title = f"{self.name} &raquo; {term.name} {title} Feed"
                    feed = (feed_title, f"{self.url}{term.path}feed/")
        path = "/" if which is None else f"/{which[0]}/{which[1]}/"
        body = render_archive(
            chrome,
            views[: self.posts_per_rss],
            heading=heading,
            body_class=body_class,
            canonical=self.url + path,
            feed=feed,
        )
        return self._html(200, body)

    def _feed(self, req: _Request, kind: str, taxonomy: str | None, slug: str | None) -> _Response:
        paged_arg = req.arg("paged", "1")
        paged = int(paged_arg) if paged_arg.isdigit() and int(paged_arg) > 0 else 1
        per_page = max(1, self.posts_per_rss)
        with self._lock:
            views = [self._view(e) for e in self._visible()]
            term: Term | None = None
            if taxonomy is not None and slug is not None:
                tax = "category" if taxonomy == "category" else "post_tag"
                term = self._terms_by_slug.get((tax, slug))
                if term is None:
                    return self._not_found()
                views = [v for v in views if term in v.categories + v.tags]
            page = views[(paged - 1) * per_page : paged * per_page]
            site_modified = feed_build_date(views) or self._created
        if paged > 1 and not page:
            return self._not_found()
        build = feed_build_date(page) or site_modified
        site = self._site_info()
        self_path = (term.path if term else "/") + "feed/" + ("" if kind == "rss2" else f"{kind}/")
        if kind == "rss2":
            text = render_rss(site, page, self_path=self_path, term=term, build_date=build)
        elif kind == "atom":
            text = render_atom(site, page, self_path=self_path, term=term, build_date=build)
        else:
            text = render_json_feed(site, page, feed_path=self_path, term=term)
        extra: tuple[tuple[str, str], ...] = ()
        if self.hub and term is None and kind != "json":
            text, extra = self._websub_discovery(req, text, kind)
        return self._conditional(req, text.encode("utf-8"), _FEED_TYPES[kind], build, extra)

    # --- the WebSub plugin ---------------------------------------------------------------

    def _websub_discovery(
        self, req: _Request, text: str, kind: str
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What the WebSub plugin adds to the site's main feeds (not archive feeds): hub and
        self links in the feed head and as Link headers. Its self link keeps the port
        (``home_url`` + the request, with a trailing slash), unlike core's."""
        hub = self.hub or ""
        self_url = self.url + req.target
        self_url = self_url if self_url.endswith("/") else self_url + "/"
        tag = "atom:link" if kind == "rss2" else "link"
        links = f'<{tag} rel="hub" href="{hub}"/>\n<{tag} rel="self" href="{self_url}"/>\n'
        text = text.replace("</generator>\n", "</generator>\n" + links, 1)
        headers = (("Link", f'<{hub}>; rel="hub"'), ("Link", f'<{self_url}>; rel="self"'))
        return text, headers

    def _notify_hub(self, article: SampleArticle) -> None:
        """Ping the hub (``hub.mode=publish``, one ``hub.url`` per feed) in the background,
        as the plugin does when a post is published or updated."""
        hub = self.hub
        if not hub or not self.ping_hub or article.published > self._now():
            return
        urls = [f"{self.url}/feed/", f"{self.url}/feed/atom/"]
        with self._lock:
            urls += [f"{self.url}{self._term('category', c).path}feed/" for c in article.categories]
        body = "&".join(["hub.mode=publish", *(f"hub.url={quote(u, safe='')}" for u in urls)])

        def ping() -> None:
            request = urllib.request.Request(  # noqa: S310 - the configured hub, http(s)
                hub,
                data=body.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    status = int(answer.status)
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                status = 0
            with self._lock:
                self.pings.append(status)

        threading.Thread(target=ping, name="websub-ping", daemon=True).start()

    def _conditional(
        self,
        req: _Request,
        body: bytes,
        content_type: str,
        last_modified: datetime,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> _Response:
        """WordPress's ``WP::send_headers`` conditional GET for feeds."""
        stamp = http_date(last_modified)
        source = stamp.encode() if self.etag_mode == "wordpress" else body
        etag = '"' + hashlib.md5(source, usedforsecurity=False).hexdigest() + '"'
        headers = self._wp_headers(("Last-Modified", stamp), ("ETag", etag), *extra)
        client_etag = (req.headers.get("If-None-Match") or "").strip()
        client_since = (req.headers.get("If-Modified-Since") or "").strip()
        since = _parse_http_date(client_since) if client_since else None
        since_ok = since is not None and since >= last_modified
        exact = self.etag_mode == "wordpress"
        etag_ok = bool(client_etag) and _etag_matches(client_etag, etag, exact=exact)
        both_sent = bool(client_etag and client_since)
        if (since_ok and etag_ok) if both_sent else (since_ok or etag_ok):
            return _Response(304, b"", None, headers)
        return _Response(200, body, content_type, headers)

    def _upload(self, req: _Request, match: re.Match[str]) -> _Response:
        """An article's image, or one of its ``-WxH`` sizes; other uploads are 404."""
        stem, width, height, ext = match.groups()
        kind = "png" if ext == "png" else "jpeg"
        candidates = [(stem, (int(width), int(height)) if width and height else None)]
        if width and height:  # the file itself may be named "...-1200x675.jpg"
            candidates.append((f"{stem}-{width}x{height}", None))
        found: tuple[str, tuple[int, int]] | None = None
        with self._lock:
            images = {
                urlsplit(e.article.image_url).path.rsplit(".", 1)[0]: (
                    e.article.image_width or 1200,
                    e.article.image_height or 630,
                )
                for e in self._entries.values()
                if e.article.image_url
            }
        for name, size in candidates:
            full = images.get("/wp-content/uploads/" + name)
            if full is not None:
                found = (name, size or full)
                break
        if found is None:
            return self._not_found()
        name, (w, h) = found
        body = render_image(kind, w, h, "/wp-content/uploads/" + name)
        etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
        headers = (
            ("Last-Modified", http_date(self._created)),
            ("ETag", etag),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "max-age=31536000"),
        )
        client_etag = req.headers.get("If-None-Match")
        if client_etag and _etag_matches(client_etag, etag, exact=False):
            return _Response(304, b"", None, headers)
        return _Response(200, body, f"image/{kind}", headers, compressible=False)

    def _rest(self, req: _Request) -> _Response:
        """A REST request: authentication, the route, then ``_envelope`` (status and headers
        moved into a 200 body, as ``rest_envelope_response`` does)."""
        response = self._rest_authenticate(req)
        if response is None:
            if match := _REST_POSTS.match(req.path):
                response = self._rest_posts(req, match.group(1))
            elif req.path in {"/wp-json", "/wp-json/"}:
                response = self._rest_index()
            else:
                response = self._rest_error(
                    404, "rest_no_route", "No route was found matching the URL and request method."
                )
        if "_envelope" not in req.query:
            return response
        headers = {
            name: int(value) if name in _REST_HEADERS else value
            for name, value in response.headers
            if name.startswith("X-WP-") or name == "Link"
        }
        body = json.loads(response.body) if response.body else None
        return _json_response(200, {"body": body, "status": response.status, "headers": headers})

    def _rest_authenticate(self, req: _Request) -> _Response | None:
        """WordPress's application-password check (``wp_authenticate_application_password``)."""
        scheme, _, token = (req.headers.get("Authorization") or "").strip().partition(" ")
        user: str | None = None
        if scheme.lower() == "basic" and token.strip():
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            name, sep, password = decoded.partition(":")
            if sep:  # PHP sets PHP_AUTH_USER only for a well-formed header
                expected = (self.app_passwords or {}).get(name)
                if expected is None:
                    return self._rest_error(
                        401,
                        "invalid_username",
                        "<strong>Error:</strong> Unknown username. Check again or try your"
                        " email address.",
                    )
                if _squash(password) != _squash(expected):
                    return self._rest_error(
                        401,
                        "incorrect_password",
                        "The provided password is an invalid application password.",
                    )
                user = name
        if self.app_passwords is not None and user is None:
            return self._rest_error(401, "rest_not_logged_in", "You are not currently logged in.")
        return None

    def _rest_error(self, status: int, code: str, message: str) -> _Response:
        return _json_response(
            status, {"code": code, "message": message, "data": {"status": status}}
        )

    def _rest_index(self) -> _Response:
        return _json_response(
            200,
            {
                "name": self.name,
                "description": self.tagline,
                "url": self.url,
                "home": self.url,
                "namespaces": ["oembed/1.0", "wp/v2"],
                "routes": {"/wp/v2/posts": {}, "/wp/v2/posts/(?P<id>[\\d]+)": {}},
            },
        )

    def _rest_posts(self, req: _Request, post_id: str | None) -> _Response:
        embed = "_embed" in req.query
        site = self._site_info()
        with self._lock:
            if post_id is not None:
                entry = self._entries.get(int(post_id))
                if entry is None or not self._is_visible(entry):
                    return self._rest_error(404, "rest_post_invalid_id", "Invalid post ID.")
                data = self._rest_post(site, self._view(entry), embed=embed)
                return _json_response(200, _only_fields(data, req.arg("_fields")))
            views = [self._view(e) for e in self._visible()]
        try:
            per_page = int(req.arg("per_page", "10"))
            page = int(req.arg("page", "1"))
        except ValueError:
            return self._rest_error(400, "rest_invalid_param", "Invalid parameter(s): page")
        if not 1 <= per_page <= 100 or page < 1:
            return self._rest_error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        orderby, order = req.arg("orderby", "date"), req.arg("order", "desc")
        if orderby not in _REST_ORDERBY and orderby != "include":
            return self._rest_error(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        if order not in {"asc", "desc"}:
            return self._rest_error(400, "rest_invalid_param", "Invalid parameter(s): order")
        for name, taxonomy in (("categories", "categories"), ("tags", "tags")):
            if wanted := req.arg(name):
                ids = {int(i) for i in wanted.split(",") if i.strip().isdigit()}
                views = [
                    v
                    for v in views
                    if ids
                    & {t.term_id for t in (v.categories if taxonomy == "categories" else v.tags)}
                ]
        include = [
            int(i)
            for value in req.query.get("include", []) + req.query.get("include[]", [])
            for i in value.split(",")
            if i.strip().isdigit()
        ]
        if include:
            views = [v for v in views if v.post_id in include]
        for name in ("after", "modified_after"):  # format: date-time, or 400 as in WordPress
            if req.arg(name) and _parse_iso(req.arg(name)) is None:
                return self._rest_error(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
        if (after := _parse_iso(req.arg("after"))) is not None:
            views = [v for v in views if v.article.published > after]
        if (modified_after := _parse_iso(req.arg("modified_after"))) is not None:
            views = [v for v in views if v.article.last_modified > modified_after]
        if orderby == "include":
            views.sort(key=lambda v: include.index(v.post_id) if v.post_id in include else 0)
        else:
            views.sort(key=_REST_ORDERBY[orderby], reverse=order == "desc")
        total = len(views)
        pages = (total + per_page - 1) // per_page
        if page > max(pages, 1):
            return self._rest_error(
                400,
                "rest_post_invalid_page_number",
                "The page number requested is larger than the number of pages available.",
            )
        chunk = views[(page - 1) * per_page : page * per_page]
        fields = req.arg("_fields")
        posts = [_only_fields(self._rest_post(site, v, embed=embed), fields) for v in chunk]
        headers = (("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages)))
        return _json_response(200, posts, headers)

    def _rest_post(self, site: SiteInfo, view: PostView, *, embed: bool) -> dict[str, Any]:
        """``rest_post`` plus what the enabled plugins add."""
        data = rest_post(site, view, embed=embed)
        art = view.article
        if self.polylang:
            lang = art.language.replace("_", "-").split("-")[0].lower()
            data["lang"] = lang
            data["translations"] = {lang: art.post_id}
        if self.yoast and art.og:
            data["yoast_head_json"] = _yoast_head_json(site, view)
        return data

    # --- internals: control endpoint -------------------------------------------------------

    def _control(self, req: _Request) -> _Response:
        if req.client not in _LOOPBACK:
            return _json_response(403, {"error": "the control endpoint answers loopback only"})
        if not self.control_enabled:
            return _json_response(404, {"error": "the control endpoint is disabled"})
        action = req.path[len(_CONTROL) :].strip("/")
        try:
            if req.method == "GET":
                return self._control_get(action, req)
            payload = json.loads(req.body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            return self._control_post(action, payload)
        except KeyError as exc:
            return _json_response(404, {"error": f"no such post or field: {exc}"})
        except (ValueError, TypeError) as exc:
            return _json_response(400, {"error": str(exc)})

    def _describe(self, post_id: int) -> dict[str, Any]:
        with self._lock:
            entry = self._entries[post_id]
            return {
                "article": article_to_dict(entry.article),
                "permalink": self.url + permalink_path(entry.article),
                "guid": self._guid(entry),
                "state": entry.state,
            }

    def _control_get(self, action: str, req: _Request) -> _Response:
        if action == "hits":
            return _json_response(200, {str(k): v for k, v in self.hits(req.arg("path")).items()})
        if action == "requests":
            records = [
                {
                    "method": r.method,
                    "path": r.path,
                    "target": r.target,
                    "status": r.status,
                    "headers": dict(r.headers),
                    "at": r.at.isoformat(),
                }
                for r in self.requests
            ]
            return _json_response(200, records)
        if action == "articles":
            with self._lock:
                ids = sorted(self._entries)
            return _json_response(200, [self._describe(i) for i in ids])
        if action == "ping":
            return _json_response(200, {"url": self.url})
        return _json_response(404, {"error": f"unknown control action {action!r}"})

    def _control_post(self, action: str, payload: dict[str, Any]) -> _Response:
        now = self._now()
        if action == "add":
            with self._lock:
                payload.setdefault("post_id", self.next_post_id())
                if "age_minutes" not in payload:
                    payload.setdefault("published", now.isoformat())
                article = self.add(article_from_dict(payload, now=now))
            return _json_response(201, self._describe(article.post_id))
        if action in {"edit", "redate", "guid", "delete"}:
            post_id = int(payload.pop("post_id"))
            if action == "edit":
                self.edit(post_id, **coerce_changes(payload, now=now))
            elif action == "redate":
                self.redate(post_id, coerce_changes(payload, now=now)["published"])
            elif action == "guid":
                self.set_guid_form(post_id, payload["form"])
            else:
                self.delete(post_id, gone=bool(payload.get("gone", False)))
            return _json_response(200, self._describe(post_id))
        if action == "fail":
            headers = {str(k): str(v) for k, v in dict(payload.get("headers") or {}).items()}
            prefix, status = str(payload["path_prefix"]), int(payload["status"])
            self.fail_next(prefix, status, int(payload.get("n", 1)), headers=headers)
            return _json_response(200, {"ok": True})
        if action == "delay":
            self.set_delay(float(payload["seconds"]), str(payload.get("path_prefix", "")))
            return _json_response(200, {"ok": True})
        if action == "reset":
            self.reset_log()
            return _json_response(200, {"ok": True})
        return _json_response(404, {"error": f"unknown control action {action!r}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: SampleSite) -> None:
        self.site = site
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client that hung up is not news (handler bugs answer 500 themselves)."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "Apache/2.4.62 (Debian)"
    sys_version = ""
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the site keeps its own request log."""

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_POST(self) -> None:
        self._serve(send_body=True)

    def _serve(self, *, send_body: bool) -> None:
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        req = _Request(
            method=self.command,
            target=self.path,
            path=split.path or "/",
            query=parse_qs(split.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client=self.client_address[0],
        )
        response = self.server.site._handle(req)
        if response is None:
            return  # drop the connection unanswered
        payload = response.body
        headers = list(response.headers)
        if response.content_type and response.status != 304:
            headers.append(("Content-Type", response.content_type))
        if response.compressible and payload:
            headers.append(("Vary", "Accept-Encoding"))
            if _accepts_gzip(self.headers.get("Accept-Encoding")):
                payload = gzip.compress(payload, mtime=0)
                headers.append(("Content-Encoding", "gzip"))
        try:
            self.send_response(response.status)
            for name, value in headers:
                self.send_header(name, value)
            if response.status != 304:
                self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if send_body and payload and response.status != 304:
                self.wfile.write(payload)
        except OSError:
            pass  # the client went away


# --- a site in another process ------------------------------------------------------------


class SampleSiteProcess:
    """``python -m bot.demo.site`` as a child process, driven through ``/_control/``.

    For tests that need the site outside their own process (a daemon under test that is
    killed and restarted, or a site that must survive the test process's threads)::

        with SampleSiteProcess() as site:
            site.add({"title": "Breaking", "paragraphs": ["..."]})
            assert site.hits("/feed/") == {200: 1}

    Pass *port* to keep the same URLs (GUIDs and permalinks contain the port) across restarts.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        articles_file: str | Path | None = None,
        empty: bool = False,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        self._port = port
        self._args = ["--port", str(port), "--stop-on-eof"]
        if articles_file is not None:
            self._args += ["--articles", str(articles_file)]
        if empty:
            self._args.append("--empty")
        self._args += list(extra_args)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError("already started")
        if self._url is not None:  # a restart keeps the port, so URLs stay the same
            self._args[1] = str(urlsplit(self._url).port)
        src = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = src + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        command = [sys.executable, "-m", "bot.demo.site", *self._args]
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            stdin=subprocess.PIPE,  # closing it (or our death) stops the child: --stop-on-eof
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self._process = process
        lines: queue.Queue[str] = queue.Queue()
        stdout = process.stdout
        assert stdout is not None
        threading.Thread(target=_read_first_line, args=(stdout, lines), daemon=True).start()
        try:
            line = lines.get(timeout=self._startup_timeout)
        except queue.Empty:
            line = ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the sample site process did not start (said {line!r})")
        self._url = line.strip()
        return self

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sample site process has not started")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, *, kill: bool = False) -> None:
        """Terminate (or SIGKILL) the child and reap it. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            if kill:
                process.kill()
            else:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Self:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, method: str, action: str, payload: object = None, query: str = "") -> Any:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            body = None if payload is None else json.dumps(payload).encode("utf-8")
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, _CONTROL + action + query, body=body, headers=headers)
            response = conn.getresponse()
            data = json.loads(response.read() or b"null")
        finally:
            conn.close()
        if response.status >= 400:
            error = data.get("error") if isinstance(data, dict) else data
            raise RuntimeError(f"/_control/{action} answered {response.status}: {error}")
        return data

    def add(self, article: SampleArticle | Mapping[str, Any]) -> dict[str, Any]:
        """Publish an article; returns ``{"article", "permalink", "guid", "state"}``."""
        data = article_to_dict(article) if isinstance(article, SampleArticle) else dict(article)
        result: dict[str, Any] = self._call("POST", "add", data)
        return result

    def edit(self, post_id: int, **changes: Any) -> dict[str, Any]:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()}
        result: dict[str, Any] = self._call("POST", "edit", {"post_id": post_id, **data})
        return result

    def redate(self, post_id: int, new_published: datetime) -> dict[str, Any]:
        payload = {"post_id": post_id, "published": new_published.isoformat()}
        result: dict[str, Any] = self._call("POST", "redate", payload)
        return result

    def set_guid_form(self, post_id: int, form: Literal["pretty", "plain"]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "guid", {"post_id": post_id, "form": form})
        return result

    def delete(self, post_id: int, *, gone: bool = False) -> None:
        self._call("POST", "delete", {"post_id": post_id, "gone": gone})

    def fail_next(
        self, path_prefix: str, status: int, n: int = 1, *, headers: Mapping[str, str] | None = None
    ) -> None:
        payload = {"path_prefix": path_prefix, "status": status, "n": n, "headers": headers or {}}
        self._call("POST", "fail", payload)

    def set_delay(self, seconds: float, path_prefix: str = "") -> None:
        self._call("POST", "delay", {"seconds": seconds, "path_prefix": path_prefix})

    def reset_log(self) -> None:
        self._call("POST", "reset", {})

    def hits(self, path: str) -> dict[int, int]:
        data: dict[str, int] = self._call("GET", "hits", query="?path=" + quote(path, safe=""))
        return {int(k): v for k, v in data.items()}

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def articles(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "articles")
        return result


def _read_first_line(stream: IO[str], out: queue.Queue[str]) -> None:
    try:
        out.put(stream.readline())
    except (OSError, ValueError):
        out.put("")


# --- command line ------------------------------------------------------------------------


def _stop_on_eof(stop: threading.Event) -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()


def _user_password(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise SystemExit(f"--app-password wants USER:PASSWORD, not {value!r}")
    return user, password


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.demo.site``: serve until SIGTERM/SIGINT; the URL is stdout's first line."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.demo.site",
        description="Serve the syndbot sample WordPress site on localhost.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--articles", metavar="FILE", help="articles JSON instead of the bundled")
    parser.add_argument("--empty", action="store_true", help="start with no articles")
    parser.add_argument("--posts-per-rss", type=int, default=10, help="items per feed page (10)")
    parser.add_argument("--etag", choices=["body", "wordpress"], default="body")
    parser.add_argument("--name", default=DEFAULT_SITE_NAME, help="site title")
    parser.add_argument("--yoast", action="store_true", help="posts carry yoast_head_json")
    parser.add_argument("--polylang", action="store_true", help='posts carry Polylang\'s "lang"')
    parser.add_argument(
        "--app-password",
        action="append",
        default=[],
        metavar="USER:PASSWORD",
        help="require this application password for the REST API (repeatable)",
    )
    parser.add_argument("--hub", metavar="URL", help="advertise and ping this WebSub hub")
    parser.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="also stop when stdin closes (so a site whose parent died does not linger)",
    )
    args = parser.parse_args(argv)
    articles = [] if args.empty else load_sample_articles(None, args.articles)
    site = SampleSite(
        articles,
        host=args.host,
        port=args.port,
        name=args.name,
        posts_per_rss=args.posts_per_rss,
        etag=args.etag,
        yoast=args.yoast,
        polylang=args.polylang,
        app_passwords=dict(_user_password(v) for v in args.app_password) or None,
        hub=args.hub,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.stop_on_eof:
        threading.Thread(target=_stop_on_eof, args=(stop,), daemon=True).start()
    site.start()
    print(site.url, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
