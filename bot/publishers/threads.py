"""Threads: text posts with a link card, through the Threads API (``graph.threads.net``).

No SDK is maintained for this API; requests go through ``bot.publishers.graph``.

Publishing is two calls: ``POST /{user_id}/threads`` (``media_type=TEXT``, ``text``,
``link_attachment`` = the article URL, so the card shows the article whatever the text holds)
creates a container, and ``POST /{user_id}/threads_publish?creation_id=…`` publishes it. The
post's URL comes from ``GET /{media_id}?fields=permalink`` (best effort: ``url=None`` if not).

Before that, on each ``publish``:

- **The token.** The configured ``access_token`` is a long-lived (60-day) token; Threads lets
  it be refreshed once it is at least 24 h old. ``threads-{account}.json`` in the context's
  ``state_dir`` (mode 0600) holds the token in use, when it was obtained (refreshed, or first
  seen in the config), its expiry when known, and a SHA-256 of the configured token. A token
  at least 24 h old that expires within 7 days, or of unknown expiry and not refreshed for 7
  days, is refreshed (``GET /refresh_access_token?grant_type=th_refresh_token``) and saved. A
  changed configured token (ops pasted a new one) replaces the stored one. A failed refresh
  is logged and retried an hour later; the current token goes on working until it expires.
- **The quota.** Threads accepts 250 API posts per rolling 24 h. ``threads_publishing_limit``
  is read (cached 5 minutes, counted up locally after each post); when it is used up, a
  retryable ``PublishError`` is raised before anything is created. Its ``retry_after`` is when
  the oldest post leaves the window, if every post in the window is one this account's state
  file recorded, else an hour.

Threads has no idempotency key and no duplicate check, so a post in doubt must not simply
be sent again (``InDoubt.HOLD``). When ``threads_publish`` gets no clear answer (a lost or
late answer, a 5xx), the container's status tells: ``PUBLISHED`` → recorded as sent (the
media id is then unknown); ``FINISHED``, ``ERROR`` or ``EXPIRED`` → not published, the error
stands (retryable or not as usual); status unreadable or ``IN_PROGRESS`` → a permanent error
saying the post may exist, for an editor to check before ``syndbot retry``.

Deleting (``on_unpublish: delete``): ``DELETE /{threads-media-id}`` (the Threads Delete API,
developers.facebook.com/docs/threads/posts/delete-posts). It needs the ``threads_delete``
permission besides ``threads_basic``, so a token authorised before ``on_unpublish: delete``
was turned on must be authorised again with it; without it Meta answers a permission error
(permanent, with that hint). The answer is ``{"success": true, "deleted_id": …}``. A post that
is already gone gets Graph's code 100, subcode 33 ("Object with ID … does not exist"), which
counts as deleted. Threads allows 100 deletions per account per 24 h. A post whose media id was
lost when it was published (``remote_id`` is ``None``) cannot be deleted by syndbot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from bot.errors import PublishError
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import checked_id, clamp_wait, redact_error
from bot.publishers.graph import (
    GraphAPIError,
    GraphSession,
    Service,
    may_have_taken_effect,
    object_missing,
    translate,
)

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://graph.threads.net/v1.0"
CREDENTIAL_NAMES = ("user_id", "access_token")

DAY = 86400.0
REFRESH_MIN_AGE = DAY  # Threads refuses to refresh a younger token
REFRESH_BEFORE_EXPIRY = 7 * DAY
REFRESH_UNKNOWN_EVERY = 7 * DAY
REFRESH_RETRY_AFTER_FAILURE = 3600.0
QUOTA_CACHE_SECONDS = 300.0
QUOTA_WAIT_UNKNOWN = 3600.0
STATE_VERSION = 1

SERVICE = Service(
    platform="threads",
    name="Threads",
    auth_hint=(
        "create a new long-lived token (docs/platforms/threads.md) and put it in the "
        "account's credentials.access_token; a token not refreshed within 60 days cannot be "
        "refreshed any more"
    ),
    permission_hint=(
        "the token must carry threads_basic and threads_content_publish (re-authorise the app "
        "with both scopes)"
    ),
)

DELETE_SERVICE = dataclasses.replace(
    SERVICE,
    permission_hint=(
        "deleting needs the threads_delete permission besides threads_basic: authorise the "
        "app again with it and put the new token in credentials.access_token"
    ),
)

_VERSION_SUFFIX = re.compile(r"/v\d+(?:\.\d+)?$")
_MEDIA_ID = re.compile(r"[0-9]{1,32}")


@dataclass(frozen=True, slots=True)
class TokenState:
    """What ``threads-{account}.json`` holds. Times are Unix seconds."""

    access_token: str
    config_sha256: str  # of the configured token this one descends from
    obtained_at: float  # refreshed at, or first seen in the config
    expires_at: float | None = None
    refreshed_at: float | None = None
    recent_posts: tuple[float, ...] = ()  # this account's posts in the last 24 h

    def to_json(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: Any) -> TokenState:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) for anything unexpected."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("unknown state format")
        token = data["access_token"]
        if not isinstance(token, str) or not token:
            raise ValueError("no access token")
        return cls(
            access_token=token,
            config_sha256=str(data["config_sha256"]),
            obtained_at=float(data["obtained_at"]),
            expires_at=_optional_float(data.get("expires_at")),
            refreshed_at=_optional_float(data.get("refreshed_at")),
            recent_posts=tuple(float(t) for t in data.get("recent_posts", ())),
        )


def needs_refresh(state: TokenState, now: float) -> bool:
    """Whether to refresh ``state``'s token at ``now`` (see the module docstring)."""
    if now - state.obtained_at < REFRESH_MIN_AGE:
        return False
    if state.expires_at is not None:
        return state.expires_at - now <= REFRESH_BEFORE_EXPIRY
    return state.refreshed_at is None or now - state.refreshed_at > REFRESH_UNKNOWN_EVERY


@dataclass(slots=True)
class _Quota:
    usage: int
    total: int
    duration: float
    checked_at: float


class ThreadsPublisher:
    """Posts to one Threads profile with a long-lived user access token."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="threads",
        max_length=500,
        counting="threads",
        url_length=None,
        in_doubt=InDoubt.HOLD,
        can_delete=True,
    )

    def __init__(
        self,
        account: AccountConfig,
        context: PublisherContext | None = None,
        *,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.context = context or PublisherContext()
        self.account_id = account.id
        self.user_id = account.credential("user_id")
        self._config_token = account.credential("access_token")
        self.api_base = (account.api_base or DEFAULT_API_BASE).rstrip("/")
        self.state_path = self.context.state_dir / f"threads-{account.id}.json"
        self._clock = clock
        self._graph = GraphSession(
            self.api_base, timeout if timeout is not None else self.context.timeout
        )
        # The refresh endpoint is documented at the host's root, without a version.
        self._root = _VERSION_SUFFIX.sub("", self.api_base)
        self._lock = threading.Lock()
        self._state: TokenState | None = None  # read on first use: construction does no I/O
        self._quota: _Quota | None = None
        self._refresh_not_before = 0.0

    # --- publishing ---------------------------------------------------------------------------

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Create and publish a TEXT post with the article as its link card.

        Threads has no idempotency key: ``idempotency_key`` is only logged.
        """
        where = f"account {self.account_id}, {post.url} [{idempotency_key}]"
        try:
            with self._lock:
                token = self._token()
                self._check_quota(token)
            body = self._graph.call(
                "POST",
                f"{self.user_id}/threads",
                data={
                    "media_type": "TEXT",
                    "text": post.text,
                    "link_attachment": post.url,
                    "access_token": token,
                },
            )
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            raise self._error(_translate(exc)) from exc
        container_id = _object_id(body)
        if container_id is None:  # nothing was published: safe to try again
            raise PublishError(
                "Threads answered without a container id", platform="threads", retryable=True
            )
        media_id = self._publish_container(container_id, token, where)
        self._count_post()
        url = self._permalink(media_id, token, where) if media_id else None
        log.info("threads: %s: published %s (%s)", where, media_id or "(id unknown)", url)
        return PublishResult(remote_id=media_id, url=url)

    def _publish_container(self, container_id: str, token: str, where: str) -> str | None:
        """The media id, or ``None`` when the post is published but its id was lost."""
        try:
            body = self._graph.call(
                "POST",
                f"{self.user_id}/threads_publish",
                params={"creation_id": container_id},
                data={"access_token": token},
            )
            media_id = _object_id(body)
            if media_id is not None:
                return media_id
            failure: BaseException = ValueError("the answer has no media id")
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            if not may_have_taken_effect(exc):
                raise self._error(_translate(exc)) from exc
            failure = exc
        return self._settle(container_id, token, failure, where)

    def _settle(
        self, container_id: str, token: str, failure: BaseException, where: str
    ) -> str | None:
        """Decide a publish call that got no clear answer, from the container's status."""
        error = self._error(_translate(failure))
        try:
            body = self._graph.call(
                "GET", container_id, params={"fields": "status", "access_token": token}
            )
            status = str(body.get("status") or "unknown")
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            status = f"unreadable: {self._error(_translate(exc))}"
        if status == "PUBLISHED":
            log.warning(
                "threads: %s: no clear answer to publishing (%s), but container %s is "
                "published; recorded as sent",
                where,
                error,
                container_id,
            )
            return None
        if status in ("FINISHED", "ERROR", "EXPIRED"):
            raise error from failure  # not published: the error stands
        raise PublishError(
            f"Threads gave no clear answer to publishing ({error}) and the container's status "
            f"is {status}: the post may have been published. Check the profile before "
            "retrying (syndbot retry) to avoid a double post",
            platform="threads",
            retryable=False,
            status=error.status,
        ) from failure

    def _permalink(self, media_id: str, token: str, where: str) -> str | None:
        try:
            body = self._graph.call(
                "GET", media_id, params={"fields": "permalink", "access_token": token}
            )
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            reason = self._error(_translate(exc))
            log.info("threads: %s: no permalink for %s: %s", where, media_id, reason)
            return None
        permalink = body.get("permalink")
        return permalink if isinstance(permalink, str) and permalink else None

    def delete(self, remote_id: str) -> None:
        """``DELETE /{media_id}``; a post that is already gone counts as deleted."""
        media_id = checked_id(remote_id, _MEDIA_ID, platform="threads", what="a Threads media id")
        try:
            with self._lock:
                token = self._token()
            body = self._graph.call("DELETE", media_id, params={"access_token": token})
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            if object_missing(exc):
                log.info("threads: account %s: post %s was already gone", self.account_id, media_id)
                return
            raise self._error(translate(exc, DELETE_SERVICE, action="the deletion")) from exc
        if body.get("success") is not True:
            # Nothing says it is gone: deleting again is safe.
            raise PublishError(
                f"Threads did not confirm the deletion of post {media_id}",
                platform="threads",
                retryable=True,
            )
        log.info("threads: account %s deleted post %s", self.account_id, media_id)

    # --- the publishing quota -----------------------------------------------------------------

    def _check_quota(self, token: str) -> None:
        """Raise a retryable ``PublishError`` when the 24-hour post quota is used up."""
        now = self._clock()
        quota = self._quota
        if (
            quota is None
            or quota.usage >= quota.total  # asked again each time until there is room
            or now - quota.checked_at >= QUOTA_CACHE_SECONDS
        ):
            body = self._graph.call(
                "GET",
                f"{self.user_id}/threads_publishing_limit",
                params={"fields": "quota_usage,config", "access_token": token},
            )
            quota = self._quota = _parse_quota(body, now)
            if quota is None:
                log.info(
                    "threads: account %s: unreadable publishing limit; publishing anyway",
                    self.account_id,
                )
                return
        if quota.usage < quota.total:
            return
        wait = self._quota_wait(quota, now)
        raise PublishError(
            f"Threads' limit of {quota.total} posts per {quota.duration / 3600:.0f} h is used "
            f"up ({quota.usage} published); retry in {wait:.0f} s",
            platform="threads",
            retryable=True,
            retry_after=wait,
        )

    def _quota_wait(self, quota: _Quota, now: float) -> float:
        """Seconds until the oldest post in the window leaves it, when the state file knows
        every post in the window; else ``QUOTA_WAIT_UNKNOWN``."""
        state = self._state
        ours = sorted(t for t in (state.recent_posts if state else ()) if t > now - quota.duration)
        if quota.usage <= 0 or len(ours) < quota.usage:
            return QUOTA_WAIT_UNKNOWN
        oldest = ours[-quota.usage]
        return clamp_wait(oldest + quota.duration - now, high=quota.duration)

    def _count_post(self) -> None:
        now = self._clock()
        with self._lock:
            if self._quota is not None:
                self._quota.usage += 1
            state = self._state
            if state is None:
                return
            window = self._quota.duration if self._quota else DAY
            recent = (*(t for t in state.recent_posts if t > now - window), now)
            self._state = dataclasses.replace(state, recent_posts=recent[-1000:])
            self._save(self._state)

    # --- the token ----------------------------------------------------------------------------

    def _token(self) -> str:
        """The access token to use now, refreshed first when it is due. Holds ``_lock``."""
        now = self._clock()
        if self._state is None:
            self._state = self._load(now)
        if needs_refresh(self._state, now) and now >= self._refresh_not_before:
            self._state = self._refresh(self._state, now)
        return self._state.access_token

    def _load(self, now: float) -> TokenState:
        config_sha = hashlib.sha256(self._config_token.encode()).hexdigest()
        stored: TokenState | None = None
        try:
            stored = TokenState.from_json(json.loads(self.state_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "threads: account %s: ignoring unreadable %s (%s); starting from the "
                "configured token",
                self.account_id,
                self.state_path,
                type(exc).__name__,
            )
        if stored is not None and stored.config_sha256 == config_sha:
            return stored
        if stored is not None:
            log.info(
                "threads: account %s: the configured access token changed; using it",
                self.account_id,
            )
        state = TokenState(
            access_token=self._config_token,
            config_sha256=config_sha,
            obtained_at=now,
            recent_posts=stored.recent_posts if stored else (),
        )
        self._save(state)
        return state

    def _refresh(self, state: TokenState, now: float) -> TokenState:
        try:
            body = self._graph.call(
                "GET",
                "refresh_access_token",
                params={"grant_type": "th_refresh_token", "access_token": state.access_token},
                base=self._root,
            )
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise ValueError("the answer has no access_token")
            expires_in = _optional_float(body.get("expires_in"))
        except (GraphAPIError, requests.RequestException, ValueError, TypeError) as exc:
            self._refresh_not_before = now + REFRESH_RETRY_AFTER_FAILURE
            log.warning(
                "threads: account %s: could not refresh the access token (%s); using the "
                "current one, next attempt in an hour",
                self.account_id,
                self._error(_translate(exc)),
            )
            return state
        refreshed = dataclasses.replace(
            state,
            access_token=token,
            obtained_at=now,
            refreshed_at=now,
            expires_at=now + expires_in if expires_in else None,
        )
        self._save(refreshed)
        expiry = (
            datetime.fromtimestamp(refreshed.expires_at, UTC).isoformat(timespec="minutes")
            if refreshed.expires_at
            else "at an unknown time"
        )
        log.info(
            "threads: account %s: access token refreshed; it expires %s", self.account_id, expiry
        )
        return refreshed

    def _save(self, state: TokenState) -> None:
        """Write the state file atomically, readable by its owner only."""
        path = self.state_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
                    json.dump(state.to_json(), f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning(
                "threads: account %s: cannot write %s: %s", self.account_id, path, exc.strerror
            )

    # --- helpers ------------------------------------------------------------------------------

    def _error(self, error: PublishError) -> PublishError:
        secrets = [self._config_token]
        if self._state is not None:
            secrets.append(self._state.access_token)
        return redact_error(error, secrets)

    def close(self) -> None:
        self._graph.close()


def _translate(exc: BaseException) -> PublishError:
    """Threads has no answer of its own to special-case: the shared Graph map decides."""
    return translate(exc, SERVICE)


def _parse_quota(body: dict[str, Any], now: float) -> _Quota | None:
    """``{"data": [{"quota_usage": 4, "config": {"quota_total": 250, "quota_duration":
    86400}}]}`` → ``_Quota``; ``None`` when the answer does not say."""
    data = body.get("data")
    entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if entry is None or not isinstance(entry.get("quota_usage"), int):
        return None
    config = entry.get("config")
    if not isinstance(config, dict):
        config = {}
    total = config.get("quota_total", 250)
    duration = config.get("quota_duration", DAY)
    if not isinstance(total, int) or not isinstance(duration, int | float) or duration <= 0:
        return None
    return _Quota(int(entry["quota_usage"]), total, float(duration), now)


def _object_id(body: dict[str, Any]) -> str | None:
    value = body.get("id")
    return str(value) if isinstance(value, str | int) and str(value) else None


def _optional_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, not {type(value).__name__}")
    return float(value)
