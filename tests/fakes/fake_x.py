"""A fake X API v2 (``POST /2/tweets``, ``DELETE /2/tweets/:id``, ``GET /2/users/me``,
``POST /2/media/upload``, ``POST /2/media/metadata``) that behaves like the real one.

In a test::

    with FakeX() as fake:                      # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="x-main", platform="x",
                                credentials=fake.credentials(), api_base=fake.url)
        ...
        fake.fail_next(2, status=503)          # scripted answers, used in order
        fake.rate_limit_next(reset_in=3600, daily=True)
        assert [p["text"] for p in fake.posts] == [...]
        fake.fail_next_upload(status=503)     # the same for POST /2/media/upload
        assert fake.posts[0]["media_ids"] == [fake.media[0]["id"]]
        fake.fail_next_delete(status=503)     # the same for DELETE /2/tweets/:id
        assert [d["id"] for d in fake.deleted] == [...]

As its own process (for daemon and crash tests)::

    python -m tests.fakes.fake_x --port 0 --state /tmp/x-posts.jsonl

prints one JSON line ``{"url": "http://127.0.0.1:PORT", "pid": N}`` once it listens, and runs
until SIGTERM/SIGINT. Every accepted post is appended to the state file as one JSON line
(flushed before the answer is sent), and the file is read back at start, so post counts and
duplicate detection survive restarts of the fake (a deletion is appended as a
``{"deleted": id}`` line). ``read_posts(path)`` reads it;
``control(url, action, **params)`` drives the faults of a fake in another process through
``POST /_fake/<action>`` (``fail_next``, ``rate_limit_next``, ``accept_then_drop``,
``accept_then_delay``, ``fail_next_upload``, ``fail_next_delete``, ``down``, ``up``,
``set_delay``, ``reset``); ``GET /_fake/posts``, ``GET /_fake/requests``, ``GET /_fake/media``
and ``GET /_fake/deleted`` return the records.

What it checks, like X does:

- OAuth 1.0a HMAC-SHA1: the signature is recomputed (oauthlib's base-string helpers) over the
  URL the client sent to (``Host`` header + path), with the configured consumer and token
  secrets; a missing/unknown key, bad signature, stale timestamp or replayed nonce gets X's
  401 body. ``FakeRequest.note`` says which.
- ``Content-Type: application/json`` and a JSON body, else 400 ``invalid-request``.
- The text: empty, or over 280 weighted characters (twitter-text v3, ``parse_tweet``) → 400.
- The same text as an earlier post of the same user → X's 403 "duplicate content" body.
- Rate limits: a fixed 15-minute window per user (``limit_15min``) and a 24-hour window per
  app (``app_limit_24h``), optionally per user (``user_limit_24h``); each answer carries the
  ``x-rate-limit-*`` and ``x-*-limit-24hour-*`` headers and an exhausted window gives 429.
- Media. ``POST /2/media/upload`` takes ``multipart/form-data`` with ``media`` (raw bytes) and
  ``media_category`` (one-shot upload: images and subtitles only), signed like any request (a
  multipart body is not part of the OAuth 1.0a signature); the bytes must be a JPEG, PNG, GIF
  or WebP that Pillow decodes, of at most ``max_image_bytes`` (5,000,000: X documents "5 MB").
  The answer is ``{"data": {"id", "media_key", "size", "expires_after_secs", "image"}}``.
  ``POST /2/media/metadata`` takes ``{"id", "metadata": {"alt_text": {"text"}}}`` (at most
  1,000 characters) for media of the same user. ``POST /2/tweets`` accepts
  ``{"media": {"media_ids": [...]}}`` with 1 to 4 ids the same user uploaded in the last 24
  hours, else 400 "Your media IDs are invalid."; text may then be empty. The duplicate check
  stays on the text alone (X refuses the same text with another picture as a duplicate).
  ``media`` lists the uploads (with their alt text), ``media_bytes(id)`` returns one's bytes.
- ``DELETE /2/tweets/:id``, signed like any request: a post of the signing user is removed
  from ``posts`` (and listed in ``deleted``) with ``{"data": {"deleted": true}}``; another
  user's post is 403; an id the fake does not hold (never posted, or deleted already) is 404
  with the ``resource-not-found`` problem X uses for a missing post. 50 deletions per user per
  15 minutes (X's documented limit), then 429.

Bodies of the 400 for empty text and of the 429s are modelled on X's documented problem
types; their exact wording is not documented. So are the bodies of the media endpoints' 400s
(only the tweet's "Your media IDs are invalid." is X's own wording).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import http
import io
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from PIL import Image as PILImage
from twitter_text import parse_tweet

from tests.fakes.server import LocalServer, TrackedHandler

CONSUMER_KEY = "fake-consumer-key-0001"
CONSUMER_SECRET = "fake-consumer-secret-0001"
ACCESS_TOKEN = "1000000000000000001-fakeaccesstoken0001"
ACCESS_TOKEN_SECRET = "fake-access-token-secret-0001"
DEFAULT_CREDENTIALS = {
    "consumer_key": CONSUMER_KEY,
    "consumer_secret": CONSUMER_SECRET,
    "access_token": ACCESS_TOKEN,
    "access_token_secret": ACCESS_TOKEN_SECRET,
}

TWITTER_EPOCH_MS = 1288834974657
WINDOW_15MIN = 15 * 60
WINDOW_24H = 24 * 3600
MAX_IMAGE_BYTES = 5_000_000
MAX_ALT_TEXT = 1000
MEDIA_EXPIRES_AFTER = 24 * 3600
UPLOAD_LIMIT_15MIN = 500  # POST /2/media/upload, per user
ONE_SHOT_CATEGORIES = frozenset({"tweet_image", "dm_image", "subtitles"})
INVALID_MEDIA_MESSAGE = "Your media IDs are invalid."
_IMAGE_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}

UNAUTHORIZED_BODY = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
DUPLICATE_BODY = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_LONG_MESSAGE = (
    "Your Tweet text is too long. For more information on how Twitter determines text length "
    "see https://github.com/twitter/twitter-text."
)
RATE_LIMITED_BODY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "https://api.x.com/2/problems/rate-limit-exceeded",
    "status": 429,
}
USAGE_CAPPED_BODY = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Daily user cap",
    "type": "https://api.x.com/2/problems/usage-capped",
    "period": "Daily",
    "scope": "User",
    "status": 429,
}
DELETE_LIMIT_15MIN = 50  # DELETE /2/tweets/:id, per user
NOT_YOURS_BODY = {
    "detail": "You are not allowed to delete a Tweet that you did not create.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
_DELETE_PATH = re.compile(r"/2/tweets/([0-9]+)")


def not_found_body(post_id: str) -> dict[str, Any]:
    """X's problem body for a post it does not have (the shape of its v2 lookup errors; the
    answer to a DELETE of a missing post is not documented)."""
    detail = f"Could not find tweet with id: [{post_id}]."
    problem = "https://api.twitter.com/2/problems/resource-not-found"
    return {
        "errors": [
            {
                "value": post_id,
                "detail": detail,
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": post_id,
                "type": problem,
            }
        ],
        "title": "Not Found Error",
        "detail": detail,
        "type": problem,
    }


def invalid_request_body(message: str, parameters: dict[str, list[str]]) -> dict[str, Any]:
    """X's 400 problem body for a request it cannot accept."""
    return {
        "errors": [{"parameters": parameters, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def status_body(status: int) -> dict[str, Any]:
    """The plain problem body X sends for bare statuses (5xx and the like)."""
    phrase = http.HTTPStatus(status).phrase
    return {"title": phrase, "detail": phrase, "type": "about:blank", "status": status}


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake answered (control requests under ``/_fake/`` are not recorded)."""

    method: str
    path: str
    status: int | None  # None: the connection was dropped without an answer
    time: float
    note: str = ""  # why it was refused, or which script answered


@dataclass(slots=True)
class _User:
    access_token: str
    access_token_secret: str
    user_id: str
    username: str


@dataclass(slots=True)
class _Script:
    """A scripted answer for the next ``POST /2/tweets``."""

    status: int | None = None  # None: validate and accept the post as usual
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_accept: str | None = None  # "drop" or "delay": accept the post, then misbehave
    seconds: float = 0.0
    note: str = ""


@dataclass(slots=True)
class _Window:
    length: int
    limit: int
    start: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length:
            self.start, self.used = now, 0

    def reset_at(self) -> int:
        return int(self.start + self.length)

    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class FakeX(LocalServer):
    """A fake X API v2 server on ``host``:``port`` (0: any free port), run in a thread."""

    def __init__(
        self,
        *,
        consumer_key: str = CONSUMER_KEY,
        consumer_secret: str = CONSUMER_SECRET,
        access_token: str = ACCESS_TOKEN,
        access_token_secret: str = ACCESS_TOKEN_SECRET,
        username: str = "newsroom",
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: str | os.PathLike[str] | None = None,
        delay: float = 0.0,
        limit_15min: int = 100,
        app_limit_24h: int = 10_000,
        user_limit_24h: int | None = None,
        timestamp_window: float = 300.0,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.host = host
        self.port = port
        self.delay = delay  # seconds every /2/ request waits before it is handled
        self.timestamp_window = timestamp_window
        self.state_file = Path(state_file) if state_file is not None else None
        self.limit_15min = limit_15min
        self.user_limit_24h = user_limit_24h
        self.max_image_bytes = max_image_bytes
        self._users: dict[str, _User] = {}
        self._lock = threading.Lock()
        self._posted = threading.Condition(self._lock)
        self._scripts: deque[_Script] = deque()
        self._upload_scripts: deque[_Script] = deque()
        self._delete_scripts: deque[_Script] = deque()
        self._deleted: list[dict[str, Any]] = []
        self._media: dict[str, dict[str, Any]] = {}
        self._media_bytes: dict[str, bytes] = {}
        self._down = False
        self._posts: list[dict[str, Any]] = []
        self._requests: list[FakeRequest] = []
        self._nonces: dict[tuple[str, str], float] = {}
        self._windows: dict[str, _Window] = {}
        self._app_window = _Window(WINDOW_24H, app_limit_24h)
        self._last_id = 0
        self._init_server()
        self.add_user(access_token, access_token_secret, username=username)
        if self.state_file is not None and self.state_file.exists():
            _end_torn_line(self.state_file)
            self._posts = read_posts(self.state_file)
            self._last_id = max((int(p["id"]) for p in self._posts), default=0)

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    # --- accounts -------------------------------------------------------------------------

    def credentials(self, access_token: str | None = None) -> dict[str, str]:
        """The four credentials of a user (default: the first), as an account's config wants."""
        user = self._users[access_token] if access_token else next(iter(self._users.values()))
        return {
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret,
            "access_token": user.access_token,
            "access_token_secret": user.access_token_secret,
        }

    def add_user(
        self, access_token: str, access_token_secret: str, *, username: str | None = None
    ) -> None:
        """Another X account authorised for the same app (duplicates are per user)."""
        user_id = access_token.split("-", 1)[0]
        if not user_id.isdigit():
            user_id = str(1000000000000000000 + len(self._users) + 1)
        self._users[access_token] = _User(
            access_token, access_token_secret, user_id, username or f"user{len(self._users) + 1}"
        )

    # --- faults ---------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, status: int = 503, body: dict[str, Any] | None = None
    ) -> None:
        """The next ``n`` posts get ``status`` (default 503) with X's plain problem body."""
        for _ in range(n):
            self._push(_Script(status=status, body=body or status_body(status), note="fail"))

    def rate_limit_next(
        self, n: int = 1, *, reset_in: float = WINDOW_15MIN, daily: bool = False
    ) -> None:
        """The next ``n`` posts get 429.

        ``daily=False``: the 15-minute window is exhausted and resets in ``reset_in`` s
        (``rate-limit-exceeded``). ``daily=True``: the user's 24-hour cap is exhausted and
        resets in ``reset_in`` s (``usage-capped``) while the 15-minute window still has
        room and resets at the end of the current window.
        """
        for _ in range(n):
            now = time.time()
            reset = str(int(now + reset_in))
            headers = {
                "x-rate-limit-limit": str(self.limit_15min),
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": reset,
                "x-app-limit-24hour-limit": str(self._app_window.limit),
                "x-app-limit-24hour-remaining": str(self._app_window.remaining() or 1),
                "x-app-limit-24hour-reset": str(int(now + WINDOW_24H)),
            }
            body = RATE_LIMITED_BODY
            if daily:
                headers |= {
                    "x-rate-limit-remaining": str(max(self.limit_15min - 1, 1)),
                    "x-rate-limit-reset": str(int(now + min(WINDOW_15MIN, reset_in))),
                    "x-user-limit-24hour-limit": str(self.user_limit_24h or 17),
                    "x-user-limit-24hour-remaining": "0",
                    "x-user-limit-24hour-reset": reset,
                }
                body = USAGE_CAPPED_BODY
            self._push(_Script(status=429, body=body, headers=headers, note="rate_limit"))

    def fail_next_upload(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        reset_in: float = WINDOW_15MIN,
        daily: bool = False,
    ) -> None:
        """The next ``n`` media uploads get ``status`` (default 503).

        A 429 carries the upload endpoint's ``x-rate-limit-*`` headers, reset in ``reset_in``
        s; ``daily=True`` reports the 24-hour app cap exhausted instead (``usage-capped``).
        """
        headers: dict[str, str] = {}
        if status == 429:
            now = time.time()
            window_reset = now + (min(reset_in, WINDOW_15MIN) if daily else reset_in)
            headers = {
                "x-rate-limit-limit": str(UPLOAD_LIMIT_15MIN),
                "x-rate-limit-remaining": str(UPLOAD_LIMIT_15MIN - 1) if daily else "0",
                "x-rate-limit-reset": str(int(window_reset)),
            }
            if daily:
                headers |= {
                    "x-app-limit-24hour-limit": "50000",
                    "x-app-limit-24hour-remaining": "0",
                    "x-app-limit-24hour-reset": str(int(now + reset_in)),
                }
            body = body or (USAGE_CAPPED_BODY if daily else RATE_LIMITED_BODY)
        script = _Script(
            status=status, body=body or status_body(status), headers=headers, note="fail"
        )
        with self._lock:
            self._upload_scripts.extend([script] * n)

    def fail_next_delete(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` deletions get ``status`` (default 503) with ``body`` (default X's
        plain problem body) and ``headers``; a 200 ``body`` scripts an unusual success."""
        script = _Script(
            status=status,
            body=body or status_body(status),
            headers=dict(headers or {}),
            note="fail",
        )
        with self._lock:
            self._delete_scripts.extend([script] * n)

    def accept_then_drop(self, n: int = 1) -> None:
        """The next ``n`` valid posts are accepted, then the connection closes unanswered."""
        for _ in range(n):
            self._push(_Script(after_accept="drop", note="accept_then_drop"))

    def accept_then_delay(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """The next ``n`` valid posts are accepted, then answered only after ``seconds``."""
        for _ in range(n):
            self._push(_Script(after_accept="delay", seconds=seconds, note="accept_then_delay"))

    def down(self) -> None:
        """X is down: every /2/ request gets 503 until ``up()``."""
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def set_delay(self, seconds: float) -> None:
        self.delay = seconds

    def reset(self) -> None:
        """Forget scripted answers, downtime, delay and rate windows (not the posts)."""
        with self._lock:
            self._scripts.clear()
            self._upload_scripts.clear()
            self._delete_scripts.clear()
            self._down = False
            self.delay = 0.0
            self._windows.clear()
            self._app_window.used = 0

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    # --- records --------------------------------------------------------------------------

    @property
    def posts(self) -> list[dict[str, Any]]:
        """Accepted posts, oldest first: ``{"id", "text", "time", "user_id", "username",
        "media_ids"}`` (posts kept in an older state file may lack ``media_ids``)."""
        with self._lock:
            return [dict(p) for p in self._posts]

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Deleted posts, in the order of deletion: the post's record plus ``deleted_at``."""
        with self._lock:
            return [dict(p) for p in self._deleted]

    @property
    def media(self) -> list[dict[str, Any]]:
        """Uploaded media, oldest first: ``{"id", "media_key", "user_id", "category", "mime",
        "size", "width", "height", "alt_text", "time"}`` (``alt_text`` None until set)."""
        with self._lock:
            return [dict(m) for m in self._media.values()]

    def media_bytes(self, media_id: str) -> bytes:
        """The bytes an upload carried."""
        with self._lock:
            return self._media_bytes[media_id]

    @property
    def requests(self) -> list[FakeRequest]:
        """Every /2/ request answered (or dropped), oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_posts(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` posts exist (for tests driving another process)."""
        with self._posted:
            if not self._posted.wait_for(lambda: len(self._posts) >= count, timeout):
                raise TimeoutError(f"{len(self._posts)} posts after {timeout} s, wanted {count}")
            return [dict(p) for p in self._posts]

    # --- the API --------------------------------------------------------------------------

    def _authenticate(self, method: str, uri: str, authorization: str) -> _User | str:
        """The signing user, or why the request is refused."""
        try:
            pairs = oauth_utils.parse_authorization_header(authorization)
            oauth = {name: oauth_utils.unescape(value) for name, value in pairs}
        except (ValueError, TypeError):
            return "no OAuth header"
        required = (
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature_method",
            "oauth_signature",
            "oauth_nonce",
            "oauth_timestamp",
        )
        if missing := [name for name in required if not oauth.get(name)]:
            return f"missing {', '.join(missing)}"
        if oauth["oauth_signature_method"] != "HMAC-SHA1":
            return f"unsupported signature method {oauth['oauth_signature_method']}"
        if oauth.get("oauth_version", "1.0") != "1.0":
            return "bad oauth_version"
        if oauth["oauth_consumer_key"] != self.consumer_key:
            return "unknown consumer key"
        user = self._users.get(oauth["oauth_token"])
        if user is None:
            return "unknown access token"
        try:
            timestamp = int(oauth["oauth_timestamp"])
        except ValueError:
            return "bad timestamp"
        now = time.time()
        if abs(now - timestamp) > self.timestamp_window:
            return "stale timestamp"
        query = urllib.parse.urlsplit(uri).query
        params = oauth_signature.collect_parameters(
            uri_query=query, headers={"Authorization": authorization}
        )
        base_string = oauth_signature.signature_base_string(
            method,
            oauth_signature.base_string_uri(uri),
            oauth_signature.normalize_parameters(params),
        )
        keys = SimpleNamespace(
            client_secret=self.consumer_secret, resource_owner_secret=user.access_token_secret
        )
        expected = oauth_signature.sign_hmac_sha1_with_client(base_string, keys)
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            return "bad signature"
        nonce = (oauth["oauth_consumer_key"], oauth["oauth_nonce"])
        with self._lock:
            for key, seen in list(self._nonces.items()):
                if now - seen > 2 * self.timestamp_window:
                    del self._nonces[key]
            if nonce in self._nonces:
                return "replayed nonce"
            self._nonces[nonce] = now
        return user

    def _limit_headers(self, user: _User, now: float) -> dict[str, str]:
        window = self._window(user, "15min", now)
        headers = {
            "x-rate-limit-limit": str(window.limit),
            "x-rate-limit-remaining": str(window.remaining()),
            "x-rate-limit-reset": str(window.reset_at()),
            "x-app-limit-24hour-limit": str(self._app_window.limit),
            "x-app-limit-24hour-remaining": str(self._app_window.remaining()),
            "x-app-limit-24hour-reset": str(self._app_window.reset_at()),
        }
        if self.user_limit_24h is not None:
            daily = self._window(user, "24h", now)
            headers |= {
                "x-user-limit-24hour-limit": str(daily.limit),
                "x-user-limit-24hour-remaining": str(daily.remaining()),
                "x-user-limit-24hour-reset": str(daily.reset_at()),
            }
        return headers

    def _window(self, user: _User, kind: str, now: float) -> _Window:
        key = f"{user.access_token}:{kind}"
        if key not in self._windows:
            if kind == "15min":
                self._windows[key] = _Window(WINDOW_15MIN, self.limit_15min, start=now)
            else:
                self._windows[key] = _Window(WINDOW_24H, self.user_limit_24h or 0, start=now)
        window = self._windows[key]
        window.roll(now)
        return window

    def _take_rate_limit(self, user: _User) -> tuple[dict[str, str], dict[str, Any] | None]:
        """Count one request; the headers to send, and a 429 body if a window is exhausted."""
        now = time.time()
        with self._lock:
            self._app_window.roll(now)
            windows = [self._window(user, "15min", now), self._app_window]
            if self.user_limit_24h is not None:
                windows.append(self._window(user, "24h", now))
            exhausted = [w for w in windows if w.remaining() == 0]
            if not exhausted:
                for w in windows:
                    w.used += 1
            headers = self._limit_headers(user, now)
        if not exhausted:
            return headers, None
        daily = any(w.length == WINDOW_24H for w in exhausted)
        return headers, USAGE_CAPPED_BODY if daily else RATE_LIMITED_BODY

    def _accept(
        self, user: _User, text: str, media_ids: list[str] | None = None
    ) -> dict[str, Any] | None:
        """Record a post; None when the user already posted this exact text (with or without
        media: X's duplicate check is on the text)."""
        with self._lock:
            if text.strip() and any(
                p["text"] == text and p["user_id"] == user.user_id for p in self._posts
            ):
                return None
            now = time.time()
            post = {
                "id": self._next_id(now),
                "text": text,
                "time": now,
                "user_id": user.user_id,
                "username": user.username,
                "media_ids": list(media_ids or []),
            }
            if self.state_file is not None:
                with self.state_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(post, ensure_ascii=False) + "\n")
                    f.flush()
            self._posts.append(post)
            self._posted.notify_all()
            return post

    def _delete(self, user: _User, post_id: str) -> tuple[int, dict[str, Any]]:
        """Remove the user's post ``post_id``: X's status and body for the answer."""
        with self._lock:
            post = next((p for p in self._posts if p["id"] == post_id), None)
            if post is None:
                return 404, not_found_body(post_id)
            if post["user_id"] != user.user_id:
                return 403, NOT_YOURS_BODY
            self._posts.remove(post)
            self._deleted.append(post | {"deleted_at": time.time()})
            if self.state_file is not None:
                with self.state_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"deleted": post_id}) + "\n")
                    f.flush()
        return 200, {"data": {"deleted": True}}

    def _take_delete_limit(self, user: _User) -> tuple[dict[str, str], bool]:
        """Count one deletion: the headers of the user's deletion window, and whether it is
        exhausted."""
        now = time.time()
        with self._lock:
            key = f"{user.access_token}:delete"
            window = self._windows.setdefault(
                key, _Window(WINDOW_15MIN, DELETE_LIMIT_15MIN, start=now)
            )
            window.roll(now)
            limited = window.remaining() == 0
            if not limited:
                window.used += 1
            headers = {
                "x-rate-limit-limit": str(window.limit),
                "x-rate-limit-remaining": str(window.remaining()),
                "x-rate-limit-reset": str(window.reset_at()),
            }
        return headers, limited

    def _next_id(self, now: float) -> str:
        """A snowflake-like id, unique among posts and media (call with the lock held)."""
        new_id = max(int(now * 1000 - TWITTER_EPOCH_MS) << 22, self._last_id + 1)
        self._last_id = new_id
        return str(new_id)

    def _store_media(
        self, user: _User, data: bytes, category: str, mime: str, size: tuple[int, int]
    ) -> dict[str, Any]:
        with self._lock:
            now = time.time()
            media_id = self._next_id(now)
            record = {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "user_id": user.user_id,
                "category": category,
                "mime": mime,
                "size": len(data),
                "width": size[0],
                "height": size[1],
                "alt_text": None,
                "time": now,
            }
            self._media[media_id] = record
            self._media_bytes[media_id] = data
            return dict(record)

    def _usable_media(self, user: _User, media_id: object) -> dict[str, Any] | None:
        """The user's own, unexpired upload with this id (call with the lock held)."""
        record = self._media.get(media_id) if isinstance(media_id, str) else None
        if record is None or record["user_id"] != user.user_id:
            return None
        if time.time() - record["time"] > MEDIA_EXPIRES_AFTER:
            return None
        return record

    def _record(self, method: str, path: str, status: int | None, note: str = "") -> None:
        with self._lock:
            self._requests.append(FakeRequest(method, path, status, time.time(), note))


class _Handler(TrackedHandler[FakeX]):
    server_version = "fake-x"

    # --- plumbing -------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: dict[str, Any] | list[Any] | None,
        headers: dict[str, str] | None = None,
        note: str = "",
    ) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/_fake/"):
            self.fake._record(self.command, path, status, note)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, note: str) -> None:
        self.fake._record(self.command, urllib.parse.urlsplit(self.path).path, None, note)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the fake stops; False when it stopped."""
        return not self.fake._stopping.wait(seconds) if seconds > 0 else True

    # --- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        body = self._body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            self._control(method, path.removeprefix("/_fake/"), body)
            return
        fake = self.fake
        with fake._lock:
            down = fake._down
        if down:
            self._send(503, status_body(503), note="down")
            return
        if not self._wait(fake.delay):
            self._drop("stopped")
            return
        uri = f"http://{self.headers.get('Host', f'{fake.host}:{fake.port}')}{self.path}"
        deleting = _DELETE_PATH.fullmatch(path) if method == "DELETE" else None
        if (method, path) not in _ENDPOINTS and deleting is None:
            self._send(
                404,
                {
                    "errors": [{"message": "The requested resource could not be found."}],
                    "title": "Not Found Error",
                    "detail": "The requested resource could not be found.",
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                },
            )
            return
        user = fake._authenticate(method, uri, self.headers.get("Authorization", ""))
        if isinstance(user, str):
            self._send(401, UNAUTHORIZED_BODY, note=user)
            return
        if path == "/2/users/me":
            data = {"id": user.user_id, "name": user.username, "username": user.username}
            self._send(200, {"data": data})
            return
        if path == "/2/media/upload":
            self._upload_media(user, body)
            return
        if path == "/2/media/metadata":
            self._media_metadata(user, body)
            return
        if deleting is not None:
            self._delete_tweet(user, deleting.group(1))
            return
        self._create_tweet(user, body)

    def _delete_tweet(self, user: _User, post_id: str) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._delete_scripts.popleft() if fake._delete_scripts else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        headers, limited = fake._take_delete_limit(user)
        if limited:
            self._send(429, RATE_LIMITED_BODY, headers, note="rate limited")
            return
        status, answer = fake._delete(user, post_id)
        self._send(status, answer, headers, note="" if status == 200 else f"delete {status}")

    def _json_payload(self, raw: bytes) -> Any:
        """The JSON body, or None after answering X's 400 for a body it cannot read."""
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            message = "Requests with bodies must have content-type of application/json."
            self._send(400, invalid_request_body(message, {}), note="content type")
            return None
        try:
            return json.loads(raw or b"null")
        except ValueError:
            body = invalid_request_body("Request body is not valid JSON.", {})
            self._send(400, body, note="json")
            return None

    def _upload_media(self, user: _User, raw: bytes) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._upload_scripts.popleft() if fake._upload_scripts else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        try:
            fields = parse_multipart(self.headers.get("Content-Type", ""), raw)
        except ValueError as exc:
            body = invalid_request_body(f"The request body is not multipart: {exc}", {})
            self._send(400, body, note="not multipart")
            return
        media = fields.get("media")
        category = fields.get("media_category", b"").decode(errors="replace")
        if not media:
            self._send(400, invalid_request_body("media is required.", {}), note="no media")
            return
        if category not in ONE_SHOT_CATEGORIES:
            message = f"media_category must be one of {', '.join(sorted(ONE_SHOT_CATEGORIES))}."
            body = invalid_request_body(message, {"media_category": [category]})
            self._send(400, body, note=f"category {category!r}")
            return
        if len(media) > fake.max_image_bytes:
            message = f"File size exceeds {fake.max_image_bytes} bytes."
            body = invalid_request_body(message, {"media": [f"{len(media)} bytes"]})
            self._send(400, body, note=f"too large: {len(media)}")
            return
        try:
            with PILImage.open(io.BytesIO(media)) as image:
                image.load()
                mime, size = _IMAGE_FORMATS.get(image.format or "", ""), image.size
        except (OSError, SyntaxError, ValueError):
            mime, size = "", (0, 0)
        if not mime:
            body = invalid_request_body("Unsupported or invalid media.", {"media": ["?"]})
            self._send(400, body, note="not an image")
            return
        record = fake._store_media(user, media, category, mime, size)
        data = {
            "id": record["id"],
            "media_key": record["media_key"],
            "size": record["size"],
            "expires_after_secs": MEDIA_EXPIRES_AFTER,
            "image": {"image_type": mime, "w": size[0], "h": size[1]},
        }
        self._send(200, {"data": data}, note=f"{mime} {len(media)} bytes")

    def _media_metadata(self, user: _User, raw: bytes) -> None:
        fake = self.fake
        payload = self._json_payload(raw)
        if payload is None:
            return
        media_id = payload.get("id") if isinstance(payload, dict) else None
        metadata = payload.get("metadata") if isinstance(payload, dict) else None
        alt = metadata.get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(text, str):
            body = invalid_request_body("metadata.alt_text.text is required.", {})
            self._send(400, body, note="no alt text")
            return
        if len(text) > MAX_ALT_TEXT:
            message = f"alt_text.text must be at most {MAX_ALT_TEXT} characters."
            self._send(400, invalid_request_body(message, {}), note="alt text too long")
            return
        with fake._lock:
            record = fake._usable_media(user, media_id)
            if record is not None:
                record["alt_text"] = text
        if record is None:
            body = invalid_request_body("Invalid media id.", {"id": [str(media_id)]})
            self._send(400, body, note="unknown media")
            return
        data = {"id": media_id, "associated_metadata": {"alt_text": {"text": text}}}
        self._send(200, {"data": data})

    def _create_tweet(self, user: _User, raw: bytes) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._scripts.popleft() if fake._scripts else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        headers, limited = fake._take_rate_limit(user)
        if limited is not None:
            self._send(429, limited, headers, note="rate limited")
            return
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("application/json"):
            message = "Requests with bodies must have content-type of application/json."
            self._send(400, invalid_request_body(message, {}), headers, note="content type")
            return
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            self._send(
                400,
                invalid_request_body("Request body is not valid JSON.", {}),
                headers,
                note="json",
            )
            return
        media = payload.get("media") if isinstance(payload, dict) else None
        media_ids = media.get("media_ids") if isinstance(media, dict) else None
        if media is not None:
            with fake._lock:
                usable = (
                    isinstance(media_ids, list)
                    and 1 <= len(media_ids) <= 4
                    and all(fake._usable_media(user, m) for m in media_ids)
                )
            if not usable:
                shown = [str(m) for m in media_ids] if isinstance(media_ids, list) else []
                body = invalid_request_body(INVALID_MEDIA_MESSAGE, {"media.media_ids": shown})
                self._send(400, body, headers, note="invalid media")
                return
        text = payload.get("text") if isinstance(payload, dict) else None
        if media_ids and text is None:
            text = ""
        if not isinstance(text, str) or (not text.strip() and not media_ids):
            message = "Post text must not be empty when no media is attached."
            body = invalid_request_body(message, {"text": [text if isinstance(text, str) else ""]})
            self._send(400, body, headers, note="empty")
            return
        parsed = parse_tweet(text)
        if text.strip() and (parsed.weightedLength > 280 or not parsed.valid):
            body = invalid_request_body(TOO_LONG_MESSAGE, {"text": [text]})
            self._send(400, body, headers, note=f"too long: {parsed.weightedLength}")
            return
        post = fake._accept(user, text, media_ids)
        if post is None:
            self._send(403, DUPLICATE_BODY, headers, note="duplicate")
            return
        data = {"id": post["id"], "text": text, "edit_history_tweet_ids": [post["id"]]}
        if script is not None and script.after_accept == "drop":
            self._drop(script.note)
            return
        if script is not None and script.after_accept == "delay" and not self._wait(script.seconds):
            self._drop("stopped")
            return
        self._send(201, {"data": data}, headers, note=script.note if script else "")

    # --- control (for a fake in another process) ------------------------------------------

    _ACTIONS = frozenset(
        {
            "fail_next",
            "rate_limit_next",
            "accept_then_drop",
            "accept_then_delay",
            "fail_next_upload",
            "fail_next_delete",
            "down",
            "up",
            "set_delay",
            "reset",
        }
    )

    def _control(self, method: str, action: str, raw: bytes) -> None:
        fake = self.fake
        if method == "GET" and action == "posts":
            self._send(200, fake.posts)
        elif method == "GET" and action == "requests":
            self._send(200, [asdict(r) for r in fake.requests])
        elif method == "GET" and action == "media":
            self._send(200, fake.media)
        elif method == "GET" and action == "deleted":
            self._send(200, fake.deleted)
        elif method == "POST" and action in self._ACTIONS:
            try:
                params = json.loads(raw) if raw else {}
                getattr(fake, action)(**params)
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": f"no control action {method} {action}"})


_ENDPOINTS = frozenset(
    {
        ("POST", "/2/tweets"),
        ("GET", "/2/users/me"),
        ("POST", "/2/media/upload"),
        ("POST", "/2/media/metadata"),
    }
)


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body, by name (raises ValueError)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise ValueError(f"content type {kind.strip() or 'missing'}")
    match = re.search(r'boundary="?([^";]+)"?', params)
    if match is None:
        raise ValueError("no boundary")
    delimiter = b"--" + match.group(1).encode()
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("no closing boundary")
    fields: dict[str, bytes] = {}
    for chunk in chunks[1:-1]:
        head, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep or not content.endswith(b"\r\n"):
            raise ValueError("a part without headers")
        name = re.search(rb'(?im)^content-disposition:.*?\bname="([^"]*)"', head)
        if name is None:
            raise ValueError("a part without a name")
        fields[name.group(1).decode()] = content[:-2]
    return fields


def read_posts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The posts a fake (in any process, across restarts) accepted and did not delete, from
    its state file."""
    posts = []
    deleted: set[str] = set()
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            # A line torn by a kill is a post whose write never finished: X never answered it.
            with contextlib.suppress(ValueError):
                if line.endswith("\n"):
                    record = json.loads(line)
                    if "deleted" in record:
                        deleted.add(str(record["deleted"]))
                    else:
                        posts.append(record)
    return [p for p in posts if p["id"] not in deleted]


def _end_torn_line(path: Path) -> None:
    """End a last line left without its newline by a kill, so new posts start a line."""
    with path.open("rb+") as f:
        if f.seek(0, os.SEEK_END) == 0:
            return
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")


def control(url: str, action: str, **params: Any) -> Any:
    """Drive a fake running in another process: ``control(url, "fail_next", n=2)``.

    ``action`` ``"posts"``, ``"requests"``, ``"media"`` or ``"deleted"`` reads the records; the
    others are ``FakeX`` methods called with ``params``.
    """
    read = action in {"posts", "requests", "media", "deleted"}
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
    """Run a fake X API in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.fake_x", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--state", help="JSON-lines file of accepted posts (kept on restart)")
    parser.add_argument("--consumer-key", default=CONSUMER_KEY)
    parser.add_argument("--consumer-secret", default=CONSUMER_SECRET)
    parser.add_argument("--access-token", default=ACCESS_TOKEN)
    parser.add_argument("--access-token-secret", default=ACCESS_TOKEN_SECRET)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--limit-15min", type=int, default=100)
    parser.add_argument("--user-limit-24h", type=int, default=None)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    fake = FakeX(
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        access_token=args.access_token,
        access_token_secret=args.access_token_secret,
        host=args.host,
        port=args.port,
        state_file=args.state,
        delay=args.delay,
        limit_15min=args.limit_15min,
        user_limit_24h=args.user_limit_24h,
    )
    with fake:
        print(json.dumps({"url": fake.url, "pid": os.getpid()}), flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
