"""Push (W3C WebSub, formerly PubSubHubbub): a feed's hub calls us when the feed changes.

What a source with ``websub: auto`` gets when the top-level ``websub:`` section is set:

* **Discovery** (WebSub §4): one GET of the feed; ``Link: <…>; rel="hub"`` / ``rel="self"``
  headers first, else the feed's own links (``<atom:link rel="hub">`` in RSS, ``<link
  rel="hub">`` in Atom, ``hubs`` and ``feed_url`` in JSON Feed). The topic is the ``self`` URL,
  else the URL the feed was fetched from. A feed without a hub is looked at again daily.
* **Subscription** (§5.1): a form POST to the hub (``hub.mode=subscribe``, ``hub.topic``,
  ``hub.callback`` = ``<callback_url>/<token>`` with a random token per subscription,
  ``hub.lease_seconds``, ``hub.secret``). Before the POST the ledger records which mode is
  pending, so a hub that verifies before it answers is understood.
* **Verification** (§5.3): the hub's GET on the callback is answered with ``hub.challenge`` only
  when the token is known, the mode is the one pending and the topic is ours; otherwise 404.
  The granted ``hub.lease_seconds`` is kept; renewal is due at 80 % of it. ``hub.mode=denied``
  (§5.2) ends the subscription: polling goes on, no automatic retry until the next start.
* **Content distribution** (§7): a POST on the callback must carry a valid ``X-Hub-Signature``
  (``sha1=``/``sha256=``/``sha384=``/``sha512=`` HMAC of the raw body with the subscription's
  secret). A missing or wrong signature is ignored and logged, but still answered 202 (§7.1.2
  allows it; it gives a prober nothing). A valid one makes the daemon poll that source now:
  the pushed body is not ingested, so conditional GET, identity and deduplication stay in one
  place (``Pipeline.poll``), and a forged push can at worst cause one extra poll.
* **Failures**: a hub that refuses or cannot be reached is asked again after ``retry_first``,
  doubling up to ``retry_max`` (jittered). A renewal that fails keeps the subscription until
  its lease ends. Polling never stops: a push only comes earlier.
* **Removal**: a source no longer configured (or ``websub: off``, or disabled) is unsubscribed,
  best effort; the row is forgotten once the hub confirms or a while later.

The ledger (``websub_subscriptions``) keeps all of it, so a restart inside a valid lease sends
nothing to the hub. ``WebSub.tick()`` (the daemon runs it every second) does the scheduled
work; ``WebSubListener`` is the small HTTP server for the hub's requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import requests
from lxml import etree  # type: ignore[import-untyped]

from bot.config import Config, SourceConfig, WebSubConfig
from bot.errors import BotError, FetchError
from bot.fetcher import Fetcher, FetchResult
from bot.store import Store, WebSubRow

log = logging.getLogger(__name__)

ATOM_NS = "http://www.w3.org/2005/Atom"
ALGORITHMS: Mapping[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
RENEW_AT = 0.8  # of the granted lease
VERIFY_WAIT = 300.0  # a hub that accepted but never verified is asked again after this
NO_HUB_RECHECK = 86400.0  # a feed without a hub: look again a day later
UNSUBSCRIBE_WAIT = 3600.0  # forget an unsubscription the hub never confirmed after this
MAX_HUB_REDIRECTS = 3

# States of a subscription row.
REQUESTED = "requested"  # asked, not verified yet
ACTIVE = "active"  # verified; pushes accepted (a renewal may be pending)
RETRYING = "retrying"  # the hub failed; asked again at next_action_at
DENIED = "denied"  # the hub said no (hub.mode=denied)
NO_HUB = "nohub"  # the feed advertises no hub
UNSUBSCRIBING = "unsubscribing"

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# The ledger keeps a random per-subscription secret itself; a secret from the config is not
# copied there: the row holds this marker and a fingerprint, and the key is read from the config.
_CONFIGURED_MARK = "config:"


# --- signatures ----------------------------------------------------------------------------


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The ``X-Hub-Signature`` value a hub sends for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, ALGORITHMS[algorithm]).hexdigest()
    return f"{algorithm}={digest}"


def signature_problem(header: str | None, body: bytes, secret: str) -> str | None:
    """Why ``header`` does not authenticate ``body`` under ``secret``; None when it does."""
    if not header:
        return "no X-Hub-Signature header"
    method, sep, signature = header.strip().partition("=")
    method = method.strip().lower()
    if not sep or method not in ALGORITHMS:
        return f"unknown signature method {method[:20]!r}"
    expected = hmac.new(secret.encode("utf-8"), body, ALGORITHMS[method]).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return f"{method} signature does not match"
    return None


# --- discovery -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a feed advertises: its hubs (in order) and its topic (``rel=self``) URL."""

    hubs: tuple[str, ...]
    topic: str


def parse_link_header(value: str | None, base: str) -> list[tuple[str, frozenset[str]]]:
    """``Link`` header value(s) (joined with commas) -> [(absolute URL, rels)]."""
    if not value:
        return []
    out: list[tuple[str, frozenset[str]]] = []
    for link in requests.utils.parse_header_links(value):
        url = link.get("url", "").strip()
        rels = frozenset(link.get("rel", "").lower().split())
        if url and rels:
            out.append((urljoin(base, url), rels))
    return out


def discover(result: FetchResult) -> Discovery:
    """Hubs and topic of a fetched feed: Link headers first, else the document's links."""
    base = result.final_url
    links = parse_link_header(result.link, base)
    hubs = [url for url, rels in links if "hub" in rels]
    selves = [url for url, rels in links if "self" in rels]
    if not hubs:
        doc_hubs, doc_selves = _document_links(result.content, result.content_type, base)
        hubs = doc_hubs
        selves = selves or doc_selves
    return Discovery(tuple(dict.fromkeys(hubs)), _pick_self(selves, base))


def _pick_self(selves: list[str], fetched: str) -> str:
    """The topic: the self link equal to the URL fetched if there is one (WordPress with the
    WebSub plugin shows two: core's drops the port, the plugin's keeps it), else the first."""
    if not selves:
        return fetched
    for url in selves:
        if url.rstrip("/") == fetched.rstrip("/"):
            return url
    return selves[0]


def _document_links(
    content: bytes, content_type: str | None, base: str
) -> tuple[list[str], list[str]]:
    if content.lstrip()[:1] in {b"{", b"["} or "json" in (content_type or "").lower():
        return _json_feed_links(content, base)
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
        root = etree.fromstring(content, parser=parser)
    except (etree.XMLSyntaxError, ValueError):
        return [], []
    if root is None:
        return [], []
    # Atom: <feed><link/>; RSS: <rss><channel><atom:link/> (or a bare <link rel=…>).
    parents = [root, *[c for c in root if isinstance(c.tag, str) and _local(c.tag) == "channel"]]
    hubs: list[str] = []
    selves: list[str] = []
    for parent in parents:
        for el in parent:
            if not isinstance(el.tag, str) or _local(el.tag) != "link":
                continue
            href = (el.get("href") or "").strip()
            rels = (el.get("rel") or "").lower().split()
            if href and "hub" in rels:
                hubs.append(urljoin(base, href))
            if href and "self" in rels:
                selves.append(urljoin(base, href))
    return hubs, selves


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _json_feed_links(content: bytes, base: str) -> tuple[list[str], list[str]]:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return [], []
    if not isinstance(data, dict):
        return [], []
    hubs = [
        urljoin(base, str(h["url"]))
        for h in data.get("hubs") or []
        if isinstance(h, dict)
        and h.get("url")
        and str(h.get("type", "WebSub")).lower() in {"websub", "pubsubhubbub"}
    ]
    feed_url = data.get("feed_url")
    return hubs, [urljoin(base, feed_url)] if isinstance(feed_url, str) and feed_url else []


# --- the subscriber ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the listener sends back to the hub."""

    status: int
    body: bytes = b""


class WebSub:
    """The subscriber side of WebSub for every source of ``config`` (see the module doc).

    ``on_push(source_id)`` is called (from the listener's thread) for each authentic push.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime],
        on_push: Callable[[str], None],
        rng: random.Random | None = None,
    ) -> None:
        if config.websub is None:
            raise ValueError("websub is not configured")
        self.config = config
        self.settings: WebSubConfig = config.websub
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.on_push = on_push
        self.rng = rng or random.Random()
        self._session = requests.Session()
        self._session.headers["User-Agent"] = config.fetch.user_agent
        self._lock = threading.Lock()  # one tick at a time

    def close(self) -> None:
        self._session.close()

    def reconfigure(self, config: Config) -> None:
        """Use a reloaded config (sources added, removed or switched off are handled at the
        next tick; a new ``callback_url``, ``host`` or ``port`` needs a restart)."""
        if config.websub is None:
            raise ValueError("websub is not configured")
        with self._lock:
            self.config, self.settings = config, config.websub

    # -- what to do, when ---------------------------------------------------------------------

    def wanted(self) -> dict[str, SourceConfig]:
        """Sources that should be subscribed: enabled RSS/Atom/JSON feeds with websub auto."""
        return {s.id: s for s in self.config.sources if s.wants_push}

    def tick(self) -> None:
        """Do what is due: subscribe new sources, renew, retry, unsubscribe removed ones."""
        with self._lock:
            now = self.clock()
            wanted = self.wanted()
            rows = {r.source_id: r for r in self.store.websub_rows()}
            for source_id, source in wanted.items():
                row = rows.get(source_id)
                if row is not None and row.state == REQUESTED and _due(row, now):
                    self._failed(source_id, row, "the hub accepted but never verified")
                elif (
                    row is None
                    or row.state == UNSUBSCRIBING
                    or _due(row, now)
                    or (row.state == ACTIVE and not self._secret_current(row))
                ):
                    self._subscribe(source, row)
            for source_id, row in rows.items():
                if source_id not in wanted:
                    self._drop(row, now)

    def _drop(self, row: WebSubRow, now: datetime) -> None:
        if row.state == UNSUBSCRIBING:
            if _due(row, now):
                self.store.websub_delete(row.source_id)
            return
        if row.state in {ACTIVE, REQUESTED}:
            self._unsubscribe(row)
        else:
            self.store.websub_delete(row.source_id)

    # -- subscribing ----------------------------------------------------------------------------

    def _subscribe(self, source: SourceConfig, row: WebSubRow | None) -> None:
        now = self.clock()
        if row is not None and row.state == DENIED:
            return  # the hub said no: not again until the next start (see start())
        try:
            found: Discovery | None = discover(self.fetcher.fetch(source.feed))
        except FetchError as e:
            if row is None or not row.hub:
                self._failed(source.id, row, f"discovery: {e}")
                return
            found = None  # renewal: keep the hub and topic we know
            log.info("websub: source %s: feed unreachable (%s); renewing as before", source.id, e)
        if found is not None and not found.hubs:
            if row is None or row.state != NO_HUB:
                log.info("websub: source %s: the feed advertises no hub; polling only", source.id)
            self.store.websub_save(
                WebSubRow(
                    source_id=source.id,
                    token=row.token if row else _new_token(),
                    hub="",
                    topic="",
                    state=NO_HUB,
                    next_action_at=now + timedelta(seconds=NO_HUB_RECHECK),
                ),
                now=now,
            )
            return
        hub = found.hubs[0] if found else row.hub if row else ""
        topic = found.topic if found else row.topic if row else ""
        renewing = (
            row is not None
            and row.state == ACTIVE
            and (row.hub, row.topic) == (hub, topic)
            and self._secret_current(row)
        )
        if renewing and row is not None:
            target = row
        else:
            target = WebSubRow(
                source_id=source.id,
                token=_new_token(),
                hub=hub,
                topic=topic,
                state=REQUESTED,
                secret=self._secret(),
                failures=row.failures if row else 0,
            )
        self._request(target, "subscribe", renewing=renewing)

    def _secret(self) -> str:
        """What a new row stores: a random secret, or the configured secret's marker."""
        if self.settings.secret is not None:
            return _CONFIGURED_MARK + self._fingerprint()
        return secrets.token_hex(32)

    def _fingerprint(self) -> str:
        key = self.settings.secret.get_secret_value() if self.settings.secret else ""
        return hashlib.sha256(b"syndbot-websub:" + key.encode()).hexdigest()[:16]

    def _secret_current(self, row: WebSubRow) -> bool:
        """Whether the row's secret is still the one the config asks for (a configured secret
        that was set, changed or removed means subscribing again with the new one)."""
        marked = (row.secret or "").startswith(_CONFIGURED_MARK)
        if self.settings.secret is None:
            return not marked
        return row.secret == _CONFIGURED_MARK + self._fingerprint()

    def key(self, row: WebSubRow) -> str | None:
        """The HMAC key of ``row``'s subscription."""
        if row.secret and row.secret.startswith(_CONFIGURED_MARK):
            if self.settings.secret is None or not self._secret_current(row):
                return None
            return self.settings.secret.get_secret_value()
        return row.secret

    def callback(self, token: str) -> str:
        return f"{self.settings.callback_url.rstrip('/')}/{token}"

    def _request(self, row: WebSubRow, mode: str, *, renewing: bool = False) -> None:
        """Record ``mode`` as pending, then ask the hub."""
        now = self.clock()
        wait = VERIFY_WAIT
        if renewing and row.expires_at is not None:
            wait = min(wait, max(1.0, (row.expires_at - now).total_seconds() / 2))
        if mode == "unsubscribe":
            wait = UNSUBSCRIBE_WAIT
        state = UNSUBSCRIBING if mode == "unsubscribe" else row.state
        pending = replace(
            row, state=state, pending=mode, next_action_at=now + timedelta(seconds=wait)
        )
        self.store.websub_save(pending, now=now)
        form = {
            "hub.mode": mode,
            "hub.topic": row.topic,
            "hub.callback": self.callback(row.token),
        }
        if mode == "subscribe":
            form["hub.lease_seconds"] = str(round(self.settings.lease_seconds))
            key = self.key(row)
            if key:
                form["hub.secret"] = key
            hub_url = urlsplit(row.hub)
            if not renewing and hub_url.scheme == "http" and hub_url.hostname not in _LOOPBACK:
                log.warning(
                    "websub: source %s: hub %s is plain HTTP: its secret travels unencrypted",
                    row.source_id,
                    row.hub,
                )
        try:
            hub = self._post(row.hub, form)
        except _HubError as e:
            if mode == "unsubscribe":
                log.info("websub: source %s: unsubscribe failed (%s); forgotten", row.source_id, e)
                self.store.websub_delete(row.source_id)
            else:
                self._failed(row.source_id, pending, str(e))
            return
        if hub != row.hub:
            self.store.websub_update(row.source_id, now=now, hub=hub)
        what = "renewal" if renewing else mode
        log.info(
            "websub: source %s: %s requested at hub %s (topic %s)",
            row.source_id,
            what,
            hub,
            row.topic,
        )

    def _post(self, hub: str, form: dict[str, str]) -> str:
        """POST ``form`` to ``hub`` (following 307/308 to another hub); returns the hub that
        accepted it. Raises ``_HubError``."""
        for _ in range(MAX_HUB_REDIRECTS + 1):
            try:
                response = self._session.post(
                    hub, data=form, timeout=self.config.fetch.timeout, allow_redirects=False
                )
            except requests.RequestException as e:
                raise _HubError(f"hub {hub} unreachable: {type(e).__name__}") from e
            with response:
                if 200 <= response.status_code < 300:
                    return hub
                location = response.headers.get("Location")
                if response.status_code in {307, 308} and location:
                    hub = urljoin(hub, location)
                    if urlsplit(hub).scheme not in {"http", "https"}:
                        raise _HubError(f"hub redirected to a non-HTTP URL {hub!r}")
                    continue
                text = " ".join(response.text[:200].split())
                raise _HubError(f"hub {hub} answered {response.status_code} {text}".rstrip())
        raise _HubError(f"hub {hub}: too many redirects")

    def _failed(self, source_id: str, row: WebSubRow | None, error: str) -> None:
        now = self.clock()
        failures = (row.failures if row else 0) + 1
        first, most = self.settings.retry_first, self.settings.retry_max
        wait = min(first * 2 ** min(failures - 1, 20), most) * self.rng.uniform(0.9, 1.1)
        until = now + timedelta(seconds=wait)
        base = row or WebSubRow(source_id, _new_token(), "", "", RETRYING)
        # A renewal that fails leaves the subscription running until its lease ends.
        live = base.state == ACTIVE and base.expires_at is not None and base.expires_at > now
        state = ACTIVE if live else RETRYING
        self.store.websub_save(
            replace(base, state=state, failures=failures, last_error=error, next_action_at=until),
            now=now,
        )
        log.warning(
            "websub: source %s: subscription failed (%s); next try in %.0fs (failure %d); "
            "polling goes on",
            source_id,
            error,
            wait,
            failures,
        )

    def _unsubscribe(self, row: WebSubRow) -> None:
        log.info("websub: source %s: no longer wanted; unsubscribing at %s", row.source_id, row.hub)
        self._request(row, "unsubscribe")

    def start(self) -> None:
        """At daemon start: a denied subscription may be asked for again."""
        for row in self.store.websub_rows():
            if row.state == DENIED:
                self.store.websub_delete(row.source_id)
            elif row.state == ACTIVE and row.expires_at is not None:
                log.info(
                    "websub: source %s: subscribed at %s until %s; renewal at %s",
                    row.source_id,
                    row.hub,
                    f"{row.expires_at:%Y-%m-%d %H:%M:%S}",
                    f"{row.next_action_at:%Y-%m-%d %H:%M:%S}" if row.next_action_at else "-",
                )

    # -- the hub calling us ---------------------------------------------------------------------

    def verify(self, token: str, query: Mapping[str, list[str]]) -> Answer:
        """The hub's GET: intent verification (subscribe/unsubscribe) or a denial."""
        row = self._row(token)
        mode, topic = _first(query, "hub.mode"), _first(query, "hub.topic")
        if row is None or not topic or not _same_topic(topic, row.topic):
            return Answer(404)
        now = self.clock()
        if mode == "denied":
            reason = _printable(_first(query, "hub.reason")) or "no reason given"
            self.store.websub_update(
                row.source_id,
                now=now,
                state=DENIED,
                pending=None,
                next_action_at=None,
                last_error=f"denied: {reason}",
            )
            log.warning(
                "websub: source %s: hub %s denied the subscription (%s); polling only",
                row.source_id,
                row.hub,
                reason,
            )
            return Answer(200)
        challenge = _first(query, "hub.challenge")
        if mode not in {"subscribe", "unsubscribe"} or not challenge or row.pending != mode:
            log.info(
                "websub: source %s: refused a %s verification we did not ask for",
                row.source_id,
                _printable(mode)[:20] or "?",
            )
            return Answer(404)
        if mode == "unsubscribe":
            self.store.websub_delete(row.source_id)
            log.info("websub: source %s: unsubscribed from %s", row.source_id, row.hub)
            return Answer(200, challenge.encode("utf-8"))
        lease = _positive_int(_first(query, "hub.lease_seconds")) or round(
            self.settings.lease_seconds
        )
        done = self.store.websub_update(
            row.source_id,
            now=now,
            where_pending="subscribe",
            state=ACTIVE,
            pending=None,
            lease_seconds=lease,
            expires_at=now + timedelta(seconds=lease),
            next_action_at=now + timedelta(seconds=lease * RENEW_AT),
            failures=0,
            last_error=None,
        )
        if not done:
            return Answer(404)
        log.info(
            "websub: source %s: subscribed at %s for %ds (renewal in %.0fs)",
            row.source_id,
            row.hub,
            lease,
            lease * RENEW_AT,
        )
        return Answer(200, challenge.encode("utf-8"))

    def push(self, token: str, body: bytes, signature: str | None) -> Answer:
        """The hub's POST: content distribution. Authentic → poll the source now."""
        row = self._row(token)
        if row is None:
            return Answer(404)
        if row.state != ACTIVE:
            return Answer(410)  # §7: tells the hub this subscription is gone
        key = self.key(row)
        problem = (
            signature_problem(signature, body, key) if key else "the subscription's secret changed"
        )
        if problem is not None:
            log.warning(
                "websub: source %s: ignored a push (%d bytes): %s",
                row.source_id,
                len(body),
                problem,
            )
            return Answer(202)
        log.info(
            "websub: source %s: push received (%d bytes); polling now", row.source_id, len(body)
        )
        self.on_push(row.source_id)
        return Answer(202)

    def _row(self, token: str) -> WebSubRow | None:
        if not _TOKEN_RE.match(token):
            return None
        return self.store.websub_row(token=token)


class _HubError(BotError):
    """The hub refused or could not be reached."""


def _due(row: WebSubRow, now: datetime) -> bool:
    return row.next_action_at is not None and row.next_action_at <= now


def _same_topic(a: str, b: str) -> bool:
    """Hubs decode non-reserved percent-escapes in the topic (WebSub §5.1.1)."""
    return a == b or unquote(a) == unquote(b)


def _new_token() -> str:
    return secrets.token_urlsafe(24)


def _first(query: Mapping[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _positive_int(value: str) -> int | None:
    return int(value) if value.strip().isdigit() and int(value) > 0 else None


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:200].strip()


# --- the listener --------------------------------------------------------------------------

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]


def make_app(
    websub: WebSub, *, max_bytes: int
) -> Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]:
    """The callback endpoint as a WSGI app: ``<prefix>/<token>``, GET and POST only."""
    prefix = urlsplit(websub.settings.callback_url).path.rstrip("/")
    path_re = re.compile(rf"^(?:{re.escape(prefix)})?/([^/]+)/?$")

    def app(environ: WSGIEnviron, start_response: StartResponse) -> Iterator[bytes]:
        answer = _answer(environ)
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(answer.body))),
        ]
        if answer.status == 405:
            headers.append(("Allow", "GET, POST"))
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        yield answer.body

    def _answer(environ: WSGIEnviron) -> Answer:
        match = path_re.match(environ.get("PATH_INFO") or "")
        if match is None:
            return Answer(404)
        token, method = match.group(1), environ.get("REQUEST_METHOD", "GET")
        try:
            if method == "GET":
                query = parse_qs(environ.get("QUERY_STRING") or "", keep_blank_values=True)
                return websub.verify(token, query)
            if method == "POST":
                length = _positive_int(str(environ.get("CONTENT_LENGTH") or "0")) or 0
                if length > max_bytes:
                    return Answer(413)
                body = environ["wsgi.input"].read(length) if length else b""
                return websub.push(token, body, environ.get("HTTP_X_HUB_SIGNATURE"))
            return Answer(405)
        except Exception:  # a bad request or a store hiccup must not kill the listener
            log.exception("websub: callback request failed")
            return Answer(500)

    return app


class WebSubListener:
    """The callback listener: waitress on ``host:port`` in a daemon thread (port 0: any)."""

    def __init__(self, websub: WebSub, *, max_bytes: int) -> None:
        from waitress.server import create_server

        settings = websub.settings
        self._map: dict[int, Any] = {}
        try:
            self._server: Any = cast(Any, create_server)(
                make_app(websub, max_bytes=max_bytes),
                map=self._map,
                host=settings.host,
                port=settings.port,
                threads=4,
                ident="syndbot",
                max_request_body_size=max_bytes,
                channel_timeout=30,
            )
        except OSError as e:
            raise BotError(
                f"websub: cannot listen on {settings.host}:{settings.port}: {e}"
            ) from None
        listening = getattr(self._server, "effective_listen", None)
        self.port = int(listening[0][1] if listening else self._server.effective_port)
        self._thread: threading.Thread | None = None

    def start(self) -> WebSubListener:
        self._thread = threading.Thread(target=self._run, name="syndbot-websub", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self._server.run()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the requests in progress, then close every socket from inside waitress's
        loop. (Closing first would let a worker still answering write to a closed, perhaps
        already reused, descriptor.)"""
        from waitress import wasyncore
        from waitress.trigger import trigger

        if self._thread is None:
            return
        self._server.task_dispatcher.shutdown(timeout=timeout)
        pull = next((t for t in list(self._map.values()) if isinstance(t, trigger)), None)
        if pull is not None:
            try:
                cast(Any, pull).pull_trigger(lambda: wasyncore.close_all(self._map))
            except OSError:  # the loop has already closed its sockets and ended
                log.debug("server loop already closed", exc_info=True)
        self._thread.join(timeout)
        self._thread = None
