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
``PublishResult(duplicate=True)`` so the ledger records it as sent. X's duplicate check looks at
the text only (the same text with another picture is refused too), so a retried post whose
picture was uploaded again still meets it.

Images (``options.images: true``). tweepy 4.17 has no v2 media upload, so the picture goes
through ``POST /2/media/upload`` (multipart: ``media`` + ``media_category=tweet_image``) on the
same session and OAuth 1.0a credentials; a multipart body is not part of the signature. Then
``POST /2/media/metadata`` sets the alt text, and the post carries ``media.media_ids``.

A picture never costs the post. An image that cannot be loaded or brought under 5 MB, an
upload X refuses (4xx), an answer without a media id, or a post refused because of its media id
(400 "Your media IDs are invalid."): the text goes out alone, with a warning. Alt text that
cannot be set leaves the picture without it. One exception, bounded: when the upload fails in
a way that passes (5xx, timeout, lost connection, a 429 whose window resets within 15 minutes),
nothing has been posted yet, so the whole post is retried later (retryable ``PublishError``)
to go out with its picture: at most ``IMAGE_RETRIES`` times per delivery (counted by
idempotency key in ``state_dir/x-image-retries-<account>.json``, so cron runs, each a new
process, share the count); after that it goes out without it. A 429 that would hold the account
longer (the media endpoint's 24-hour app cap) posts the text at once.

Deleting (``on_unpublish: delete``): ``DELETE /2/tweets/:id`` (tweepy's ``delete_tweet``) on
the same session and OAuth 1.0a credentials; X answers ``{"data": {"deleted": true}}``. A post
that is already gone is no error: X's answer for one is not documented, so a 404 whose problem
type is ``resource-not-found``, and a 2xx carrying only such an error, both count as gone. A
2xx saying ``deleted: false`` without a reason is a permanent error (an editor checks the
profile). X allows 50 deletions per 15 minutes per user: a 429 is retried at its reset.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import requests
import tweepy
from requests_oauthlib import OAuth1

from bot.errors import BotError, PublishError
from bot.media import PreparedImage, prepare_image
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import (
    MAX_WAIT,
    bool_option,
    checked_id,
    clamp_wait,
    number,
    redact_error,
    scrub,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.x.com"
CREDENTIAL_NAMES = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
POST_URL = "https://x.com/i/web/status/{id}"
_POST_ID = re.compile(r"[0-9]{1,20}")
NOT_FOUND_PROBLEM = "resource-not-found"  # the end of X's problem type for a missing post

IMAGE_MAX_BYTES = 5_000_000  # X: "Image: 5 MB"; the stricter reading of it
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
ALT_TEXT_MAX = 1000  # characters X keeps of an image's alt text
IMAGE_RETRIES = 2  # transient upload failures a post waits out before going without its picture
IMAGE_MAX_WAIT = 15 * 60.0  # a rate-limited upload is waited for when it resets within this
_RETRIES_KEPT = 1000  # idempotency keys remembered for IMAGE_RETRIES

MAX_RETRY_AFTER = MAX_WAIT  # the cap on a rate limit's wait (clamp_wait's default)
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
        supports_images=True,  # when the account sets options.images
        can_delete=True,
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
        self.images = bool_option(account, "images", default=False)
        self._secrets = tuple(creds.values())
        self._client = tweepy.Client(**creds)
        self._client.session.close()  # tweepy's own session: unused, never opened
        self._session = _ApiSession(self.api_base, timeout)
        self._client.session = self._session
        self._auth = OAuth1(
            creds["consumer_key"],
            client_secret=creds["consumer_secret"],
            resource_owner_key=creds["access_token"],
            resource_owner_secret=creds["access_token_secret"],
        )
        self._image_retries = _ImageRetries(
            self.context.state_dir / f"x-image-retries-{account.id}.json"
        )

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Create the post, with its picture when ``options.images`` is set and the article has
        one. X has no idempotency key: ``idempotency_key`` only names the delivery in logs and
        counts its image retries."""
        media_ids = None
        if self.images and post.image is not None:
            media_ids = self._media_for(post, idempotency_key)
        try:
            try:
                response = self._client.create_tweet(
                    text=post.text, media_ids=media_ids, user_auth=True
                )
            except tweepy.BadRequest as exc:
                if not media_ids or not _refuses_media(exc):
                    raise
                self._without_image(post, f"X refused its media id ({_said(exc)})")
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
            raise redact_error(outcome, self._secrets) from exc
        except (KeyError, TypeError) as exc:
            # A 2xx answer without a post id: X most likely created it. Retrying is safe
            # (a duplicate answer is recorded as sent).
            raise PublishError(
                "X answered without a post id", platform="x", retryable=True
            ) from exc
        log.info(
            "x: account %s posted %s%s for %s [%s]",
            self.account_id,
            remote_id,
            " with its image" if media_ids else "",
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=remote_id, url=POST_URL.format(id=remote_id))

    def delete(self, remote_id: str) -> None:
        """``DELETE /2/tweets/:id``; a post that is already gone counts as deleted."""
        post_id = checked_id(remote_id, _POST_ID, platform="x", what="an X post id")
        try:
            response = self._client.delete_tweet(post_id, user_auth=True)
        except (tweepy.TweepyException, requests.RequestException) as exc:
            if isinstance(exc, tweepy.HTTPException) and _gone(exc.response):
                log.info("x: account %s: post %s was already gone", self.account_id, post_id)
                return
            outcome = _translate(exc, deleting=True)
            assert isinstance(outcome, PublishError)  # no "duplicate" when deleting
            raise redact_error(outcome, self._secrets) from exc
        data = getattr(response, "data", None)
        if isinstance(data, dict) and data.get("deleted") is True:
            log.info("x: account %s deleted post %s", self.account_id, post_id)
            return
        errors = getattr(response, "errors", None) or []
        if any(_is_not_found(error) for error in errors):
            log.info("x: account %s: post %s was already gone", self.account_id, post_id)
            return
        said = "; ".join(str(e.get("detail") or e) for e in errors if isinstance(e, dict))
        raise PublishError(
            f"X did not delete post {post_id} (it answered deleted: false"
            + (f"; {said[:300]}" if said else "")
            + "); check whether it is still on the profile",
            platform="x",
            retryable=False,
        )

    def close(self) -> None:
        self._session.close()

    # --- images ---------------------------------------------------------------------------

    def _media_for(self, post: Post, idempotency_key: str) -> list[str] | None:
        """The uploaded picture's media id, or None to post the text alone.

        Raises a retryable ``PublishError`` when the upload failed in a way that passes and
        the delivery still has image retries left (see the module docstring).
        """
        assert post.image is not None
        try:
            data = self.context.load_image(post.image.url)
            prepared = prepare_image(data, max_bytes=IMAGE_MAX_BYTES, allowed=IMAGE_TYPES)
        except Exception as exc:  # whatever the loader raises, the post goes out without it
            reason = str(exc) if isinstance(exc, BotError) else f"{type(exc).__name__}: {exc}"
            self._without_image(post, f"the image could not be used: {reason}")
            return None
        media_id = self._upload(post, prepared, idempotency_key)
        if media_id is None:
            return None
        self._image_retries.forget(idempotency_key)
        alt = " ".join(post.image.alt.split())
        if alt:
            self._set_alt_text(post, media_id, alt[:ALT_TEXT_MAX])
        return [media_id]

    def _upload(self, post: Post, image: PreparedImage, idempotency_key: str) -> str | None:
        """``POST /2/media/upload``: the media id, or None (text alone); may raise, see above."""
        try:
            response = self._session.post(
                f"{self._session.base}/2/media/upload",
                data={"media_category": "tweet_image"},
                files={"media": ("image", image.data, image.mime)},
                auth=self._auth,
            )
        except requests.RequestException as exc:
            reason = f"cannot reach X's media upload: {type(exc).__name__}"
            self._upload_failed(post, idempotency_key, reason, transient=True)
            return None
        status = response.status_code
        if 200 <= status < 300:
            try:
                media_id = str(response.json()["data"]["id"])
            except (ValueError, KeyError, TypeError):
                reason = "X answered the upload without a media id"
                self._upload_failed(post, idempotency_key, reason, transient=False)
                return None
            log.debug(
                "x: account %s uploaded %s (%d bytes, %s) for %s",
                self.account_id,
                media_id,
                len(image.data),
                image.mime,
                post.url,
            )
            return media_id
        said = _problem(response)
        if status == 429:
            retry_after, window = _retry_after(response.headers, time.time())
            short = retry_after is None or retry_after <= IMAGE_MAX_WAIT
            reason = f"X rate-limited the media upload ({window}): {said}"
            self._upload_failed(
                post,
                idempotency_key,
                reason,
                transient=short,
                retry_after=retry_after,
                status=status,
            )
            return None
        reason = f"X refused the media upload ({status}: {said})"
        self._upload_failed(post, idempotency_key, reason, transient=status >= 500, status=status)
        return None

    def _upload_failed(
        self,
        post: Post,
        idempotency_key: str,
        reason: str,
        *,
        transient: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        """Post without the picture (returns None), or retry the whole post for it (raises)."""
        retries = self._image_retries.get(idempotency_key)
        if transient and retries < IMAGE_RETRIES:
            self._image_retries.set(idempotency_key, retries + 1)
            error = PublishError(
                f"{reason}; nothing posted, retrying to post it with its image "
                f"({retries + 1} of {IMAGE_RETRIES})",
                platform="x",
                retryable=True,
                retry_after=retry_after,
                status=status,
            )
            raise redact_error(error, self._secrets)
        self._image_retries.forget(idempotency_key)
        self._without_image(post, reason)
        return None

    def _set_alt_text(self, post: Post, media_id: str, alt: str) -> None:
        """``POST /2/media/metadata``; a failure leaves the picture without alt text."""
        body = {"id": media_id, "metadata": {"alt_text": {"text": alt}}}
        try:
            response = self._session.post(
                f"{self._session.base}/2/media/metadata", json=body, auth=self._auth
            )
        except requests.RequestException as exc:
            problem = f"cannot reach X: {type(exc).__name__}"
        else:
            if 200 <= response.status_code < 300:
                return
            problem = f"{response.status_code}: {_problem(response)}"
        log.warning(
            "x: account %s: the image of %s goes without alt text (%s)",
            self.account_id,
            post.url,
            scrub(problem, self._secrets),
        )

    def _without_image(self, post: Post, reason: str) -> None:
        log.warning(
            "x: account %s: posting %s without its image: %s",
            self.account_id,
            post.url,
            scrub(reason, self._secrets),
        )


def _translate(
    exc: BaseException, *, now: float | None = None, deleting: bool = False
) -> PublishError | PublishResult:
    """Map a tweepy or requests exception to what the ledger needs.

    Returns ``PublishResult(duplicate=True)`` for X's "duplicate content" answer (the post
    exists already) and a ``PublishError`` for everything else (only errors when
    ``deleting``). ``now`` is the Unix time used to turn reset times into waits (default: the
    system clock).
    """
    if isinstance(exc, tweepy.HTTPException):
        return _translate_http(exc, time.time() if now is None else now, deleting=deleting)
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


def _translate_http(
    exc: tweepy.HTTPException, now: float, *, deleting: bool = False
) -> PublishError | PublishResult:
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
    if status == 403 and not deleting and _is_duplicate(exc):
        return PublishResult(remote_id=None, url=None, duplicate=True)
    action = "the deletion" if deleting else "the post"
    return PublishError(
        f"X refused {action} ({what})", platform="x", retryable=False, status=status
    )


def _gone(response: requests.Response) -> bool:
    """Whether an error answer says the post does not exist: a 404 with X's
    ``resource-not-found`` problem (a 404 without it is a wrong ``api_base``, not a post)."""
    if response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    errors = body.get("errors")
    return _is_not_found(body) or (
        isinstance(errors, list) and any(_is_not_found(e) for e in errors)
    )


def _is_not_found(problem: object) -> bool:
    return isinstance(problem, dict) and str(problem.get("type", "")).endswith(NOT_FOUND_PROBLEM)


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
        reset = number(headers.get(reset_name))
        if reset is not None and number(headers.get(remaining_name)) == 0:
            exhausted.append((reset, window))
    if exhausted:
        reset, window = max(exhausted)
    else:
        fallback = number(headers.get("x-rate-limit-reset"))
        if fallback is None:
            return None, "no reset time given"
        reset, window = fallback, "15-minute limit"
    return clamp_wait(reset - now), window


class _ImageRetries:
    """How often each delivery (by idempotency key) was retried for its picture.

    Kept in a small JSON file, read once and rewritten (atomically) when a count changes; when
    the file cannot be written the counts live in memory only, which still bounds retries
    within one process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counts: dict[str, int] | None = None

    def get(self, key: str) -> int:
        return self._load().get(key, 0)

    def set(self, key: str, count: int) -> None:
        counts = self._load()
        counts.pop(key, None)
        counts[key] = count  # newest last: the oldest are dropped first
        while len(counts) > _RETRIES_KEPT:
            del counts[next(iter(counts))]
        self._save()

    def forget(self, key: str) -> None:
        if self._load().pop(key, None) is not None:
            self._save()

    def _load(self) -> dict[str, int]:
        if self._counts is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            self._counts = {
                str(k): v
                for k, v in (data.items() if isinstance(data, dict) else ())
                if isinstance(v, int)
            }
        return self._counts

    def _save(self) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._counts), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.debug("x: cannot keep image retry counts in %s: %s", self.path, exc)


def _refuses_media(exc: tweepy.HTTPException) -> bool:
    """X's 400 for a post whose ``media.media_ids`` it does not accept (unknown or expired)."""
    messages = [str(m).lower() for m in exc.api_messages]
    params = [e.get("parameters", {}) for e in exc.api_errors if isinstance(e, dict)]
    return any("media" in m for m in messages) or any(
        isinstance(p, dict) and any("media" in str(k) for k in p) for p in params
    )


def _said(exc: tweepy.HTTPException) -> str:
    return "; ".join(str(m) for m in exc.api_messages) or "no message"


def _problem(response: requests.Response) -> str:
    """X's message in an error answer: ``errors[].message``, else ``detail``, else the reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    messages: list[str] = []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            messages = [str(e["message"]) for e in errors if isinstance(e, dict) and "message" in e]
        if not messages and body.get("detail"):
            messages = [str(body["detail"])]
    said = "; ".join(messages) or str(response.reason or "no message")
    return said[:300]
