"""A fake Mastodon 4.x server (the parts syndbot uses) that behaves like the real one.

In a test::

    with FakeMastodon(max_characters=1000) as fake:   # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="m", platform="mastodon",
                                credentials=fake.credentials(), api_base=fake.url)
        ...
        fake.fail_next(2, status=503)                   # scripted answers, used in order
        fake.rate_limit_next(reset_in=300)
        assert [s["text"] for s in fake.statuses] == [...]

As its own process (for daemon and crash tests)::

    python -m tests.fakes.fake_mastodon --port 0

prints one JSON line ``{"url": "http://127.0.0.1:PORT", "pid": N}`` once it listens, and runs
until SIGTERM/SIGINT. ``control(url, action, **params)`` drives its faults through
``POST /_fake/<action>``; ``GET /_fake/statuses``, ``/_fake/deleted``, ``/_fake/media`` and
``/_fake/requests`` return the records.

Endpoints, as Mastodon answers them:

- ``GET /api/v1/instance``, ``GET /api/v2/instance`` (a trailing slash is accepted, as Rails
  does): ``configuration.statuses.max_characters`` and ``characters_reserved_per_url``, the
  media limits; no token needed.
- ``POST /api/v1/statuses``, form-encoded (what Mastodon.py sends) or JSON. ``Authorization:
  Bearer <token>`` is required (401 ``{"error": "The access token is invalid"}``) with the
  ``write:statuses`` scope (403). The ``Idempotency-Key`` *header* is honoured like
  ``PostStatusService``: checked before anything else, per account, kept an hour, and a repeat
  returns the status it created. Length is Mastodon's rule (``bot.textlen`` ``"mastodon"``: URLs
  23, graphemes) plus the content warning's graphemes; over the limit is 422 ``Validation
  failed: Text character limit of N exceeded``. Media must belong to the account, be unattached
  and processed (422 otherwise, with Mastodon's messages). Answers 200 with a ``Status``.
- ``POST /api/v2/media``, multipart (``file``, ``description``, ``focus``), scope
  ``write:media``: checks the type and size against the instance limits and decodes the image
  with Pillow. 200 with a URL when processed at once, 202 with ``url: null`` when
  ``media_processing`` polls are configured. ``GET /api/v1/media/:id`` answers 206 while it is
  processing, then 200.
- ``DELETE /api/v1/statuses/:id``, scope ``write:statuses``: a status of the token's account
  is removed from ``statuses`` (listed in ``deleted``) and answered 200 with the status and its
  source ``text``, as Mastodon does; any other id (never posted, deleted already, or another
  account's: Mastodon looks the status up among the caller's own) is 404 ``{"error": "Record
  not found"}``. Deletions also count against 30 per 30 minutes.

Every API answer carries ``X-RateLimit-Limit/-Remaining/-Reset`` (Reset an ISO 8601 time) for a
window of ``rate_limit`` requests per ``rate_period`` seconds per token (Mastodon: 300 per 5
minutes), and media uploads also count against 30 per 30 minutes; an exhausted window is 429
``{"error": "Too many requests"}``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
import html
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from PIL import Image as PILImage

from bot.textlen import graphemes, length
from tests.fakes.server import LocalServer, TrackedHandler

ACCESS_TOKEN = "fake-mastodon-access-token-0001"
DEFAULT_SCOPES = ("write:statuses", "write:media")
IDEMPOTENCY_TTL = 3600.0
MEDIA_LIMIT, MEDIA_PERIOD = 30, 1800  # uploads per 30 minutes
DELETE_LIMIT, DELETE_PERIOD = 30, 1800  # status deletions per 30 minutes
MAX_DESCRIPTION = 1500
VISIBILITIES = ("public", "unlisted", "private", "direct")
SUPPORTED_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "audio/mpeg",
    "audio/ogg",
)

INVALID_TOKEN = {"error": "The access token is invalid"}
OUT_OF_SCOPE = {"error": "This action is outside the authorized scopes"}
TOO_MANY_REQUESTS = {"error": "Too many requests"}
NOT_FOUND = {"error": "Record not found"}
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"
DOWN_PAGE = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

SCRIPT_TARGETS = ("statuses", "media", "instance", "delete")


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake answered (control requests under ``/_fake/`` are not recorded)."""

    method: str
    path: str
    status: int | None  # None: the connection was dropped without an answer
    time: float
    note: str = ""  # why it was refused, or which script answered
    authorization: str | None = None
    idempotency_key: str | None = None  # the Idempotency-Key header
    content_type: str = ""
    fields: tuple[str, ...] = ()  # names of the form/JSON fields sent


@dataclass(slots=True)
class _Account:
    token: str
    scopes: frozenset[str]
    id: str
    username: str


@dataclass(slots=True)
class _Script:
    """A scripted answer for the next request to one endpoint."""

    target: str
    status: int | None = None  # None: handle the request as usual
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after_accept: str | None = None  # "drop": create the status, then close the connection
    note: str = ""


@dataclass(slots=True)
class _Window:
    length: float
    limit: int
    start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start, self.used = now, 0

    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def reset_at(self) -> float:
        return self.start + self.length


class FakeMastodon(LocalServer):
    """A fake Mastodon instance on ``host``:``port`` (0: any free port), run in a thread."""

    def __init__(
        self,
        *,
        access_token: str = ACCESS_TOKEN,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        username: str = "newsroom",
        domain: str = "mastodon.example",
        version: str = "4.3.0",
        max_characters: int = 500,
        characters_reserved_per_url: int = 23,
        max_media_attachments: int = 4,
        image_size_limit: int = 16 * 1024 * 1024,
        image_matrix_limit: int = 33_177_600,
        media_processing: int = 0,
        rate_limit: int = 300,
        rate_period: float = 300.0,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.domain = domain
        self.version = version
        self.max_characters = max_characters
        self.characters_reserved_per_url = characters_reserved_per_url
        self.max_media_attachments = max_media_attachments
        self.image_size_limit = image_size_limit
        self.image_matrix_limit = image_matrix_limit
        self.media_processing = media_processing  # GET polls before an upload is processed
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.delay = delay  # seconds every API request waits before it is handled
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()
        self._scripts: deque[_Script] = deque()
        self._down = False
        self._statuses: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._media: dict[str, dict[str, Any]] = {}
        self._requests: list[FakeRequest] = []
        self._idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}
        self._last_id = 0
        self._init_server()
        self.add_account(access_token, scopes=scopes, username=username)

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    # --- accounts -------------------------------------------------------------------------

    def credentials(self, access_token: str | None = None) -> dict[str, str]:
        """An account's credentials (default: the first), as its config wants them."""
        token = access_token or next(iter(self._accounts))
        return {"access_token": token}

    def add_account(
        self,
        access_token: str,
        *,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        username: str | None = None,
    ) -> None:
        """Another account on this instance (idempotency keys and rate limits are per token)."""
        number = len(self._accounts) + 1
        self._accounts[access_token] = _Account(
            access_token,
            frozenset(scopes),
            str(109_000_000_000_000_000 + number),
            username or f"user{number}",
        )

    # --- faults ---------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, status: int = 503, body: Any = None, on: str = "statuses"
    ) -> None:
        """The next ``n`` requests to ``on`` (statuses, media, instance or delete) get ``status``, with
        ``body`` or Mastodon's ``{"error": …}`` for it."""
        phrase = _phrase(status)
        for _ in range(n):
            self._push(
                _Script(_target(on), status=status, body=body or {"error": phrase}, note="fail")
            )

    def rate_limit_next(self, n: int = 1, *, reset_in: float = 300.0, on: str = "statuses") -> None:
        """The next ``n`` requests to ``on`` get 429, their window resetting in ``reset_in`` s."""
        for _ in range(n):
            reset = _iso(time.time() + reset_in)
            headers = {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            }
            self._push(
                _Script(
                    _target(on),
                    status=429,
                    body=TOO_MANY_REQUESTS,
                    headers=headers,
                    note="rate_limit",
                )
            )

    def accept_then_drop(self, n: int = 1) -> None:
        """The next ``n`` valid statuses are created, then the connection closes unanswered."""
        for _ in range(n):
            self._push(_Script("statuses", after_accept="drop", note="accept_then_drop"))

    def down(self) -> None:
        """The instance is down: every API request gets nginx's 503 page until ``up()``."""
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def set_delay(self, seconds: float) -> None:
        self.delay = seconds

    def forget_idempotency_keys(self) -> None:
        """What an hour does: Mastodon no longer remembers the keys it has seen."""
        with self._lock:
            self._idempotency.clear()

    def reset(self) -> None:
        """Forget scripted answers, downtime, delay and rate windows (not the records)."""
        with self._lock:
            self._scripts.clear()
            self._down = False
            self.delay = 0.0
            self._windows.clear()

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    # --- records --------------------------------------------------------------------------

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """Created statuses, oldest first: ``{"id", "text", "visibility", "language",
        "spoiler_text", "sensitive", "media_ids", "idempotency_key", "account_id", "url"}``."""
        with self._lock:
            return [dict(s) for s in self._statuses]

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Deleted statuses, in the order of deletion (their records plus ``deleted_at``)."""
        with self._lock:
            return [dict(s) for s in self._deleted]

    @property
    def media(self) -> list[dict[str, Any]]:
        """Uploaded media, oldest first: ``{"id", "description", "mime", "size", "width",
        "height", "status_id", "account_id", "data"}``."""
        with self._lock:
            return [dict(m) for m in self._media.values()]

    @property
    def requests(self) -> list[FakeRequest]:
        """Every API request answered (or dropped), oldest first."""
        with self._lock:
            return list(self._requests)

    # --- the server's side ----------------------------------------------------------------

    def _script_for(self, target: str) -> _Script | None:
        with self._lock:
            for script in self._scripts:
                if script.target == target:
                    self._scripts.remove(script)
                    return script
        return None

    def _take_rate_limit(
        self, key: str, media: bool, *, delete: bool = False
    ) -> tuple[dict[str, str], bool]:
        """Count one request of ``key`` (a token or an address): the headers, and whether it
        is over a limit. When several limits apply, the headers describe the closest one."""
        now = time.time()
        with self._lock:
            windows = [self._window(key, "all", self.rate_period, self.rate_limit, now)]
            if media:
                windows.append(self._window(key, "media", MEDIA_PERIOD, MEDIA_LIMIT, now))
            if delete:
                windows.append(self._window(key, "delete", DELETE_PERIOD, DELETE_LIMIT, now))
            limited = any(w.remaining() == 0 for w in windows)
            if not limited:
                for w in windows:
                    w.used += 1
            closest = min(windows, key=lambda w: (w.remaining(), w.reset_at()))
            headers = {
                "X-RateLimit-Limit": str(closest.limit),
                "X-RateLimit-Remaining": str(closest.remaining()),
                "X-RateLimit-Reset": _iso(closest.reset_at()),
            }
        return headers, limited

    def _window(self, key: str, kind: str, period: float, limit: int, now: float) -> _Window:
        window = self._windows.setdefault((key, kind), _Window(period, limit, start=now))
        window.roll(now)
        return window

    def _remembered(self, account: _Account, key: str | None) -> dict[str, Any] | None:
        if not key:
            return None
        with self._lock:
            found = self._idempotency.get((account.token, key))
            if found is None or found[1] <= time.time():
                return None
            return next(s for s in self._statuses if s["id"] == found[0])

    def _create_status(
        self, account: _Account, fields: dict[str, Any], key: str | None
    ) -> dict[str, Any] | tuple[int, str]:
        """The new status, or (HTTP status, Mastodon's error message)."""
        text = str(fields.get("status") or "")
        spoiler = str(fields.get("spoiler_text") or "")
        visibility = str(fields.get("visibility") or "public")
        language = fields.get("language")
        sensitive = _truthy(fields.get("sensitive")) or bool(spoiler)
        media_ids = [str(m) for m in fields.get("media_ids") or []]
        if visibility not in VISIBILITIES:
            return 422, f"'{visibility}' is not a valid visibility"
        with self._lock:
            if len(media_ids) > self.max_media_attachments:
                return 422, f"Cannot attach more than {self.max_media_attachments} files."
            mine = [
                self._media[m]
                for m in media_ids
                if m in self._media
                and self._media[m]["account_id"] == account.id
                and self._media[m]["status_id"] is None
            ]
            missing = [m for m in media_ids if m not in {x["id"] for x in mine}]
            if missing:
                return (
                    422,
                    f"Media {', '.join(missing)} not found or already attached to another post",
                )
            if any(m["processing"] > 0 for m in mine):
                return 422, NOT_READY
            if not text.strip() and not mine:
                return 422, "Validation failed: Text can't be blank"
            counted = len(graphemes(spoiler)) + length(text, "mastodon")
            if counted > self.max_characters:
                return (
                    422,
                    f"Validation failed: Text character limit of {self.max_characters} exceeded",
                )
            status_id = self._next_id()
            status = {
                "id": status_id,
                "text": text,
                "visibility": visibility,
                "language": str(language) if language else None,
                "spoiler_text": spoiler,
                "sensitive": sensitive,
                "media_ids": media_ids,
                "idempotency_key": key,
                "account_id": account.id,
                "username": account.username,
                "url": f"{self.url}/@{account.username}/{status_id}",
                "created_at": _iso(time.time()),
            }
            for m in mine:
                m["status_id"] = status_id
            self._statuses.append(status)
            if key:
                self._idempotency[(account.token, key)] = (status_id, time.time() + IDEMPOTENCY_TTL)
            return status

    def _delete_status(self, account: _Account, status_id: str) -> dict[str, Any] | None:
        """Remove the account's status ``status_id``: its record, or None (Record not found)."""
        with self._lock:
            status = next(
                (
                    s
                    for s in self._statuses
                    if s["id"] == status_id and s["account_id"] == account.id
                ),
                None,
            )
            if status is None:
                return None
            self._statuses.remove(status)
            self._deleted.append(status | {"deleted_at": time.time()})
            return status

    def _create_media(
        self, account: _Account, parts: dict[str, tuple[bytes, str]]
    ) -> dict[str, Any] | tuple[int, str]:
        if "file" not in parts:
            return 422, "Validation failed: File can't be blank"
        data, mime = parts["file"]
        description = parts.get("description", (b"", ""))[0].decode("utf-8")
        if len(description) > MAX_DESCRIPTION:
            return 422, (
                "Validation failed: Description is too long "
                f"(maximum is {MAX_DESCRIPTION} characters)"
            )
        if mime not in SUPPORTED_MIME_TYPES:
            return 422, "Validation failed: File content type is invalid"
        if len(data) > self.image_size_limit:
            megabytes = self.image_size_limit // (1024 * 1024)
            return 422, f"Validation failed: File file size must be less than {megabytes} MB"
        try:
            with PILImage.open(io.BytesIO(data)) as image:
                width, height = image.size
                image.verify()
        except Exception:
            return 422, "Validation failed: File could not be processed"
        if width * height > self.image_matrix_limit:
            return (
                422,
                f"Validation failed: Images larger than {self.image_matrix_limit} pixels are not supported",
            )
        with self._lock:
            media_id = self._next_id()
            media = {
                "id": media_id,
                "description": description or None,
                "mime": mime,
                "size": len(data),
                "width": width,
                "height": height,
                "status_id": None,
                "account_id": account.id,
                "processing": self.media_processing,
                "data": data,
            }
            self._media[media_id] = media
            return media

    def _poll_media(self, account: _Account, media_id: str) -> dict[str, Any] | None:
        with self._lock:
            media = self._media.get(media_id)
            if media is None or media["account_id"] != account.id:
                return None
            snapshot = dict(media)
            if media["processing"] > 0:
                media["processing"] -= 1  # this poll still sees it processing
            return snapshot

    def _next_id(self) -> str:
        # Mastodon's ids: milliseconds since the epoch << 16, plus a sequence.
        self._last_id = max(int(time.time() * 1000) << 16, self._last_id + 1)
        return str(self._last_id)

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # --- JSON the way Mastodon renders it ---------------------------------------------------

    def instance_v2(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "title": "Fake Mastodon",
            "version": self.version,
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A fake instance for syndbot's tests",
            "usage": {"users": {"active_month": 1}},
            "thumbnail": {"url": f"{self.url}/packs/media/images/preview.png"},
            "languages": ["en"],
            "configuration": {
                "urls": {"streaming": f"ws://{self.host}:{self.port}"},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": self.max_media_attachments,
                    "characters_reserved_per_url": self.characters_reserved_per_url,
                },
                "media_attachments": self._media_configuration(),
                "polls": {
                    "max_options": 4,
                    "max_characters_per_option": 50,
                    "min_expiration": 300,
                    "max_expiration": 2629746,
                },
                "translation": {"enabled": False},
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "contact": {"email": f"admin@{self.domain}", "account": None},
            "rules": [],
            "api_versions": {"mastodon": 2},
        }

    def instance_v1(self) -> dict[str, Any]:
        return {
            "uri": self.domain,
            "title": "Fake Mastodon",
            "short_description": "A fake instance for syndbot's tests",
            "description": "",
            "email": f"admin@{self.domain}",
            "version": self.version,
            "urls": {"streaming_api": f"ws://{self.host}:{self.port}"},
            "stats": {"user_count": 1, "status_count": len(self._statuses), "domain_count": 1},
            "thumbnail": None,
            "languages": ["en"],
            "registrations": False,
            "approval_required": False,
            "invites_enabled": False,
            "configuration": {
                "accounts": {"max_featured_tags": 10},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": self.max_media_attachments,
                    "characters_reserved_per_url": self.characters_reserved_per_url,
                },
                "media_attachments": self._media_configuration(),
                "polls": {
                    "max_options": 4,
                    "max_characters_per_option": 50,
                    "min_expiration": 300,
                    "max_expiration": 2629746,
                },
            },
            "contact_account": None,
            "rules": [],
        }

    def _media_configuration(self) -> dict[str, Any]:
        return {
            "supported_mime_types": list(SUPPORTED_MIME_TYPES),
            "image_size_limit": self.image_size_limit,
            "image_matrix_limit": self.image_matrix_limit,
            "video_size_limit": 103_809_024,
            "video_frame_rate_limit": 120,
            "video_matrix_limit": 8_294_400,
        }

    def render_account(self, account: _Account) -> dict[str, Any]:
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.username,
            "display_name": account.username.title(),
            "locked": False,
            "bot": True,
            "discoverable": True,
            "group": False,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{self.url}/@{account.username}",
            "uri": f"{self.url}/users/{account.username}",
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": sum(1 for s in self._statuses if s["account_id"] == account.id),
            "last_status_at": None,
            "emojis": [],
            "fields": [],
        }

    def render_media(self, media: dict[str, Any]) -> dict[str, Any]:
        done = media["processing"] == 0
        ext = {"image/png": "png", "image/gif": "gif", "image/webp": "webp"}.get(
            media["mime"], "jpg"
        )
        base = f"{self.url}/system/media_attachments/files/{media['id']}"
        width, height = media["width"], media["height"]
        return {
            "id": media["id"],
            "type": "image",
            "url": f"{base}/original/image.{ext}" if done else None,
            "preview_url": f"{base}/small/image.{ext}",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {
                "original": {
                    "width": width,
                    "height": height,
                    "size": f"{width}x{height}",
                    "aspect": width / height if height else 1.0,
                }
            },
            "description": media["description"],
            "blurhash": None,
        }

    def render_status(self, status: dict[str, Any], account: _Account) -> dict[str, Any]:
        paragraphs = "".join(
            f"<p>{html.escape(p).replace(chr(10), '<br />')}</p>"
            for p in status["text"].split("\n\n")
        )
        with self._lock:
            media = [self.render_media(self._media[m]) for m in status["media_ids"]]
        return {
            "id": status["id"],
            "created_at": status["created_at"],
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": status["sensitive"],
            "spoiler_text": status["spoiler_text"],
            "visibility": status["visibility"],
            "language": status["language"],
            "uri": f"{self.url}/users/{account.username}/statuses/{status['id']}",
            "url": status["url"],
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": paragraphs,
            "filtered": [],
            "reblog": None,
            "application": {"name": "syndbot", "website": None},
            "account": self.render_account(account),
            "media_attachments": media,
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }


class _Handler(TrackedHandler[FakeMastodon]):
    server_version = "fake-mastodon"

    # --- plumbing -------------------------------------------------------------------------

    def _body(self) -> bytes:
        size = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(size) if size else b""

    def _request(self, status: int | None, note: str) -> FakeRequest:
        return FakeRequest(
            method=self.command,
            path=urllib.parse.urlsplit(self.path).path,
            status=status,
            time=time.time(),
            note=note,
            authorization=self.headers.get("Authorization"),
            idempotency_key=self.headers.get("Idempotency-Key"),
            content_type=self.headers.get("Content-Type", ""),
            fields=getattr(self, "_fields", ()),
        )

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        note: str = "",
        *,
        record: bool = True,
    ) -> None:
        if record:
            self.fake._record(self._request(status, note))
        if isinstance(body, str):
            data, content_type = body.encode(), "text/html"
        else:
            data, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _error(self, status: int, message: str, headers: dict[str, str], note: str = "") -> None:
        self._send(status, {"error": message}, headers, note=note or message)

    def _drop(self, note: str) -> None:
        self.fake._record(self._request(None, note))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # --- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        self._fields: tuple[str, ...] = ()  # one handler serves every request of a connection
        raw = self._body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            self._control(method, path.removeprefix("/_fake/"), raw)
            return
        path = path.rstrip("/") or "/"
        fake = self.fake
        with fake._lock:
            down = fake._down
        if down:
            self._send(503, DOWN_PAGE, note="down")
            return
        if fake.delay > 0 and fake._stopping.wait(fake.delay):
            self._drop("stopped")
            return
        if method == "GET" and path in {"/api/v1/instance", "/api/v2/instance"}:
            self._instance(path)
            return
        routes = {
            ("POST", "/api/v1/statuses"): ("statuses", "write:statuses"),
            ("POST", "/api/v2/media"): ("media", "write:media"),
        }
        target, scope = routes.get((method, path), ("", ""))
        media_id = ""
        if method == "GET" and path.startswith("/api/v1/media/"):
            target, scope, media_id = "poll", "write:media", path.rsplit("/", 1)[1]
        if method == "DELETE" and path.startswith("/api/v1/statuses/"):
            target, scope, media_id = "delete", "write:statuses", path.rsplit("/", 1)[1]
        if not target:
            self._send(404, NOT_FOUND, self._address_limit(), note="no such route")
            return
        account = self._authenticate()
        if account is None:
            self._send(401, INVALID_TOKEN, self._address_limit(), note="invalid token")
            return
        if not (scope in account.scopes or "write" in account.scopes):
            self._send(403, OUT_OF_SCOPE, note=f"needs {scope}")
            return
        script = fake._script_for(target) if target in SCRIPT_TARGETS else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        headers, limited = fake._take_rate_limit(
            account.token, media=target == "media", delete=target == "delete"
        )
        if limited:
            self._send(429, TOO_MANY_REQUESTS, headers, note="rate limited")
            return
        if target == "statuses":
            self._post_status(account, raw, headers, script)
        elif target == "media":
            self._post_media(account, raw, headers)
        elif target == "delete":
            self._delete_status(account, media_id, headers)
        else:
            self._get_media(account, media_id, headers)

    def _address_limit(self) -> dict[str, str]:
        """Count a request against its address (no account known): the headers to send."""
        headers, _ = self.fake._take_rate_limit(f"ip:{self.client_address[0]}", media=False)
        return headers

    def _authenticate(self) -> _Account | None:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self.fake._accounts.get(token.strip())

    def _instance(self, path: str) -> None:
        fake = self.fake
        script = fake._script_for("instance")
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        headers, limited = fake._take_rate_limit(f"ip:{self.client_address[0]}", media=False)
        if limited:
            self._send(429, TOO_MANY_REQUESTS, headers, note="rate limited")
            return
        body = fake.instance_v2() if path == "/api/v2/instance" else fake.instance_v1()
        self._send(200, body, headers)

    def _post_status(
        self, account: _Account, raw: bytes, headers: dict[str, str], script: _Script | None
    ) -> None:
        fake = self.fake
        key = self.headers.get("Idempotency-Key")
        fields = self._form(raw)
        if fields is None:
            self._error(400, "Unexpected token in JSON body", headers, note="bad JSON")
            return
        self._fields = tuple(sorted(fields))
        earlier = fake._remembered(account, key)
        if earlier is not None:
            body = fake.render_status(earlier, account)
            self._send(200, body, headers, note="idempotent repeat")
            return
        created = fake._create_status(account, fields, key)
        if isinstance(created, tuple):
            self._error(*created, headers)
            return
        if script is not None and script.after_accept == "drop":
            self._drop(script.note)
            return
        self._send(
            200, fake.render_status(created, account), headers, note=script.note if script else ""
        )

    def _post_media(self, account: _Account, raw: bytes, headers: dict[str, str]) -> None:
        fake = self.fake
        parts = self._multipart(raw)
        if parts is None:
            self._error(
                422, "Validation failed: File can't be blank", headers, note="not multipart"
            )
            return
        self._fields = tuple(sorted(parts))
        created = fake._create_media(account, parts)
        if isinstance(created, tuple):
            self._error(*created, headers)
            return
        status = 200 if created["processing"] == 0 else 202
        self._send(status, fake.render_media(created), headers)

    def _delete_status(self, account: _Account, status_id: str, headers: dict[str, str]) -> None:
        fake = self.fake
        status = fake._delete_status(account, status_id)
        if status is None:
            self._send(404, NOT_FOUND, headers, note="no such status")
            return
        body = fake.render_status(status, account) | {"text": status["text"]}
        self._send(200, body, headers, note="deleted")

    def _get_media(self, account: _Account, media_id: str, headers: dict[str, str]) -> None:
        media = self.fake._poll_media(account, media_id)
        if media is None:
            self._send(404, NOT_FOUND, headers, note="no such media")
            return
        status = 206 if media["processing"] > 0 else 200
        self._send(status, self.fake.render_media(media), headers)

    # --- request bodies -------------------------------------------------------------------

    def _form(self, raw: bytes) -> dict[str, Any] | None:
        """Form or JSON fields; ``name[]`` fields become lists named ``name``."""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
        if content_type.startswith("multipart/form-data"):
            parts = self._multipart(raw) or {}
            pairs = [(k, v.decode("utf-8")) for k, (v, _) in parts.items()]
        else:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        fields: dict[str, Any] = {}
        for name, value in pairs:
            if name.endswith("[]"):
                fields.setdefault(name[:-2], []).append(value)
            else:
                fields[name] = value
        return fields

    def _multipart(self, raw: bytes) -> dict[str, tuple[bytes, str]] | None:
        """``name -> (bytes, content type)`` of a multipart/form-data body."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            return None
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        parts: dict[str, tuple[bytes, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                parts[name] = (
                    payload if isinstance(payload, bytes) else b"",
                    part.get_content_type(),
                )
        return parts

    # --- control (for a fake in another process) ------------------------------------------

    _ACTIONS = frozenset(
        {
            "fail_next",
            "rate_limit_next",
            "accept_then_drop",
            "down",
            "up",
            "set_delay",
            "forget_idempotency_keys",
            "reset",
        }
    )

    def _control(self, method: str, action: str, raw: bytes) -> None:
        fake = self.fake
        if method == "GET" and action == "statuses":
            self._send(200, fake.statuses, record=False)
        elif method == "GET" and action == "deleted":
            self._send(200, fake.deleted, record=False)
        elif method == "GET" and action == "media":
            media = [{k: v for k, v in m.items() if k != "data"} for m in fake.media]
            self._send(200, media, record=False)
        elif method == "GET" and action == "requests":
            self._send(200, [asdict(r) for r in fake.requests], record=False)
        elif method == "POST" and action in self._ACTIONS:
            try:
                params = json.loads(raw) if raw else {}
                getattr(fake, action)(**params)
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": str(exc)}, record=False)
                return
            self._send(200, {"ok": True}, record=False)
        else:
            self._send(404, {"error": f"no control action {method} {action}"}, record=False)


def _target(on: str) -> str:
    if on not in SCRIPT_TARGETS:
        raise ValueError(f"on must be one of {', '.join(SCRIPT_TARGETS)}, not {on!r}")
    return on


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _iso(timestamp: float) -> str:
    """Mastodon's time format (``2026-07-01T12:05:00.000000Z``)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "t", "on", "yes"}


def control(url: str, action: str, **params: Any) -> Any:
    """Drive a fake running in another process: ``control(url, "fail_next", n=2)``.

    ``action`` ``"statuses"``, ``"deleted"``, ``"media"`` or ``"requests"`` reads the records;
    the others are ``FakeMastodon`` methods called with ``params``.
    """
    read = action in {"statuses", "deleted", "media", "requests"}
    data = None if read else json.dumps(params).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/_fake/{action}",
        data=data,
        method="GET" if read else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    """Run a fake Mastodon instance in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.fake_mastodon", description=main.__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--access-token", default=ACCESS_TOKEN)
    parser.add_argument("--max-characters", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    fake = FakeMastodon(
        access_token=args.access_token,
        max_characters=args.max_characters,
        host=args.host,
        port=args.port,
        delay=args.delay,
    )
    with fake:
        print(json.dumps({"url": fake.url, "pid": os.getpid()}), flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
