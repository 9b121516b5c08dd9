"""The web UI's defences, each small enough to read in one sitting.

* **Session secret**: ``web.secret_key`` from the config, else a random key created once in
  ``state_dir/web-secret`` (mode 0600) so sessions survive restarts and every process that
  shares the state directory (``syndbot run`` and ``syndbot web``) signs alike.
* **CSRF**: one random token per session, put in every form (and in a ``<meta>`` tag for the
  counter's ``fetch``), checked with a constant-time comparison on every cookie-authenticated
  POST. Written here rather than taken from Flask-WTF: we use no WTForms forms, and the whole
  mechanism is the twenty lines below. ``SameSite=Lax`` cookies are the second layer.
* **Login throttling**: failed sign-ins are counted per user name and per client address in a
  sliding window; past the limit, sign-in is refused without checking the password.
* **Headers**: a strict Content-Security-Policy (scripts and styles from our own origin only;
  no inline script), no framing, no sniffing, no referrer to other sites, no caching.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from flask import Flask, Response, request, session
from flask.sessions import SecureCookieSessionInterface

from bot.config import Config
from bot.errors import BotError

log = logging.getLogger(__name__)

SECRET_FILE = "web-secret"  # noqa: S105 (a file name)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "csrf"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def secret_key(config: Config) -> str:
    """The key that signs session cookies (see the module docstring)."""
    if config.web.secret_key is not None:
        value = config.web.secret_key.get_secret_value()
        if len(value) < 16:
            raise BotError("web.secret_key must have at least 16 characters")
        return value
    path = Path(config.state_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written to a private temporary file, then linked into place: another process starting
        # at the same moment either wins the link or reads a complete key, never a partial one.
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)
            log.info("web: created a new session key in %s", path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        log.warning("web: %s is readable by other users; chmod 600 it", path)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise BotError(f"{path} holds no usable key; delete it and a new one is made")
    return value


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def csrf_ok() -> bool:
    """Whether the request carries this session's CSRF token (form field or header)."""
    expected = session.get(_CSRF_KEY)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


def new_session() -> None:
    """Forget everything about the previous session (against session fixation)."""
    session.clear()
    session[_CSRF_KEY] = secrets.token_urlsafe(32)


# --- sessions ------------------------------------------------------------------------------------


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the ``Secure`` flag whenever the request came over
    HTTPS (as well as when ``SESSION_COOKIE_SECURE`` is set)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- login throttling ----------------------------------------------------------------------------


class LoginThrottle:
    """Counts failed sign-ins per key (``user:NAME``, ``ip:ADDR``) over ``window`` seconds.

    A key with ``limit`` failures in the window is blocked until the oldest of them leaves the
    window. Memory is bounded: old failures are dropped, and at most ``max_keys`` keys are kept.
    """

    def __init__(
        self,
        *,
        limits: dict[str, int] | None = None,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limits = limits or {"user": 5, "ip": 30}
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.limits.get(key.split(":", 1)[0], 5)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def blocked_for(self, keys: Iterable[str]) -> float:
        """Seconds until every key may try again (0: not blocked)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                if len(q) >= self._limit(key):
                    wait = max(wait, q[-self._limit(key)] + self.window - now)
        return wait

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for key in list(self._failures):
                    self._recent(key, now)
                while len(self._failures) >= self.max_keys:
                    del self._failures[next(iter(self._failures))]
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
