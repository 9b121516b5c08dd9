"""X (Twitter): posts through tweepy's API v2 client, OAuth 1.0a user context.

Everything tweepy- and requests-specific stays in this module: the rest of the program sees
``PublishResult`` and ``PublishError`` only.

Where requests go. tweepy 4.17 hard-codes ``https://api.twitter.com`` and hands the full URL
to ``Client.session.request(..., auth=OAuth1(...))``. ``_ApiSession`` replaces that session
and rewrites the URL onto ``account.api_base`` (default ``https://api.x.com``, the host X
documents) inside ``request()``, *before* requests prepares the request, so the OAuth 1.0a
signature is computed over the URL the server actually receives. It also gives every request
a timeout (tweepy sets none).

X has no idempotency key. A post whose outcome is unknown is simply sent again: X answers an
exact duplicate with 403 "duplicate content", which ``_translate`` turns into
``PublishResult(duplicate=True)`` so the ledger records it as sent.
"""

from __future__ import annotations

import logging
import math
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

import requests
import tweepy

from bot.errors import PublishError
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.x.com"
CREDENTIAL_NAMES = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
POST_URL = "https://x.com/i/web/status/{id}"

MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 25 * 3600.0
# (remaining, reset) header pairs of the windows a 429 may come from, in the order they are
# reported. The 24-hour caps are not in X's docs but are sent (see platform-apis.md §1.3).
_LIMIT_HEADERS = (
    ("x-user-limit-24hour-remaining", "x-user-limit-24hour-reset", "daily user cap"),
    ("x-app-limit-24hour-remaining", "x-app-limit-24hour-reset", "daily app cap"),
    ("x-rate-limit-remaining", "x-rate-limit-reset", "15-minute limit"),
)
_CREDENTIALS_HINT = (
    "check the account's consumer_key, consumer_secret, access_token and access_token_secret "
    "(tokens stop working when they are revoked or regenerated, and the app needs "
    "read and write permission)"
)


class _ApiSession(requests.Session):
    """tweepy's HTTP session, pointed at ``base`` and with a default timeout.

    Every URL this session is asked for keeps its path and query and gets ``base``'s scheme,
    host and path prefix, whatever host tweepy wrote, and redirects are not followed, so no
    request can leave ``base``.
    """

    def __init__(self, base: str, timeout: float) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        self.timeout = timeout

    def rebase(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        return f"{self.base}{path}" + (f"?{parts.query}" if parts.query else "")

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, bytes):
            url = url.decode()
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        kwargs["allow_redirects"] = False  # a redirect would leave api_base unsigned
        return super().request(method, self.rebase(url), *args, **kwargs)


class XPublisher:
    """Posts to one X account with OAuth 1.0a user-context credentials."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="x",
        max_length=280,
        counting="x",
        url_length=23,
        in_doubt=InDoubt.RETRY,
        supports_images=False,
    )

    def __init__(
        self,
        account: AccountConfig,
        context: PublisherContext | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        self.context = context or PublisherContext()
        timeout = timeout if timeout is not None else self.context.timeout
        creds = {name: account.credential(name) for name in CREDENTIAL_NAMES}
        self.account_id = account.id
        self.api_base = account.api_base or DEFAULT_API_BASE
        self._secrets = tuple(v for v in creds.values() if len(v) >= 4)
        self._client = tweepy.Client(**creds)
        self._client.session.close()  # tweepy's own session: unused, never opened
        self._session = _ApiSession(self.api_base, timeout)
        self._client.session = self._session

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Create the post. X has no idempotency key: ``idempotency_key`` is only logged."""
        try:
            response = self._client.create_tweet(text=post.text, user_auth=True)
            remote_id = str(response.data["id"])
        except (tweepy.TweepyException, requests.RequestException) as exc:
            outcome = _translate(exc)
            if isinstance(outcome, PublishResult):
                log.info(
                    "x: account %s already has this post (duplicate content) for %s [%s]",
                    self.account_id,
                    post.url,
                    idempotency_key,
                )
                return outcome
            raise _redact(outcome, self._secrets) from exc
        except (KeyError, TypeError) as exc:
            # A 2xx answer without a post id: X most likely created it. Retrying is safe
            # (a duplicate answer is recorded as sent).
            raise PublishError(
                "X answered without a post id", platform="x", retryable=True
            ) from exc
        log.info(
            "x: account %s posted %s for %s [%s]",
            self.account_id,
            remote_id,
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=remote_id, url=POST_URL.format(id=remote_id))

    def close(self) -> None:
        self._session.close()


def _translate(exc: BaseException, *, now: float | None = None) -> PublishError | PublishResult:
    """Map a tweepy or requests exception to what the ledger needs.

    Returns ``PublishResult(duplicate=True)`` for X's "duplicate content" answer (the post
    exists already) and a ``PublishError`` for everything else. ``now`` is the Unix time used
    to turn reset times into waits (default: the system clock).
    """
    if isinstance(exc, tweepy.HTTPException):
        return _translate_http(exc, time.time() if now is None else now)
    if isinstance(exc, requests.Timeout):
        return PublishError("X did not answer in time", platform="x", retryable=True)
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return PublishError(f"cannot reach X: {type(exc).__name__}", platform="x", retryable=True)
    if isinstance(exc, requests.JSONDecodeError):
        # A success status with an unreadable body: the post probably exists; see above.
        return PublishError("X's answer could not be read", platform="x", retryable=True)
    return PublishError(
        f"X request failed: {type(exc).__name__}: {exc}", platform="x", retryable=False
    )


def _translate_http(exc: tweepy.HTTPException, now: float) -> PublishError | PublishResult:
    response = exc.response
    status: int = response.status_code
    said = "; ".join(str(m) for m in exc.api_messages) or str(response.reason or "no message")
    what = f"{status} {response.reason}: {said}" if response.reason else f"{status}: {said}"

    if isinstance(exc, tweepy.TooManyRequests) or status == 429:
        retry_after, window = _retry_after(response.headers, now)
        when = f"; retry in {retry_after:.0f} s" if retry_after is not None else ""
        return PublishError(
            f"X rate limit reached ({window}): {said}{when}",
            platform="x",
            retryable=True,
            retry_after=retry_after,
            status=status,
        )
    if isinstance(exc, tweepy.TwitterServerError) or status >= 500:
        return PublishError(f"X server error ({what})", platform="x", retryable=True, status=status)
    if status == 401:
        return PublishError(
            f"X rejected the credentials ({what}); {_CREDENTIALS_HINT}",
            platform="x",
            retryable=False,
            status=status,
        )
    if status == 403 and _is_duplicate(exc):
        return PublishResult(remote_id=None, url=None, duplicate=True)
    return PublishError(
        f"X refused the post ({what})", platform="x", retryable=False, status=status
    )


def _is_duplicate(exc: tweepy.HTTPException) -> bool:
    if 187 in exc.api_codes:  # v1.1's "Status is a duplicate."
        return True
    return any("duplicate content" in str(m).lower() for m in exc.api_messages)


def _retry_after(headers: Mapping[str, str], now: float) -> tuple[float | None, str]:
    """Seconds until the exhausted window resets, and which window it is.

    A daily cap outlasts the 15-minute window, so an exhausted 24-hour window wins; with no
    window reported exhausted, ``x-rate-limit-reset`` is used. Missing or garbled headers give
    ``None`` (the caller's own backoff applies).
    """
    exhausted: list[tuple[float, str]] = []
    for remaining_name, reset_name, window in _LIMIT_HEADERS:
        reset = _number(headers.get(reset_name))
        if reset is not None and _number(headers.get(remaining_name)) == 0:
            exhausted.append((reset, window))
    if exhausted:
        reset, window = max(exhausted)
    else:
        fallback = _number(headers.get("x-rate-limit-reset"))
        if fallback is None:
            return None, "no reset time given"
        reset, window = fallback, "15-minute limit"
    return min(max(reset - now, MIN_RETRY_AFTER), MAX_RETRY_AFTER), window


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _redact(error: PublishError, secrets: Collection[str]) -> PublishError:
    """``error`` with any credential value blanked out of its message (belt and braces)."""
    message = str(error)
    if not any(s in message for s in secrets):
        return error
    for secret in secrets:
        message = message.replace(secret, "***")
    return PublishError(
        message,
        platform=error.platform,
        retryable=error.retryable,
        retry_after=error.retry_after,
        status=error.status,
    )
