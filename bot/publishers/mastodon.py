"""Mastodon: posts through Mastodon.py to the instance named by ``account.api_base``.

Everything Mastodon.py- and requests-specific stays in this module: the rest of the program
sees ``PublishResult`` and ``PublishError`` only.

Construction does no I/O. Mastodon.py 2.x only asks the server for its version when told to
(``version_check_mode``), but ``media_post`` asks anyway the first time, to choose between
``/api/v1/media`` and ``/api/v2/media``. The client is therefore built with a declared
version (``ASSUMED_VERSION``, 4.0.0, the first with ``/api/v2/instance``), which it believes
without asking. The access token is set on the client after construction: given to the
constructor, Mastodon.py would read it as a file name when a file of that name exists.

Requests go through ``_Session``: no redirects (a redirect would turn a POST into a GET), a
timeout from ``PublisherContext.timeout``, and the last answer kept, because Mastodon.py's
exceptions carry the status and message but not the headers (``X-RateLimit-Reset``).

Exactly once: ``publish`` sends the delivery's ``idempotency_key`` as the ``Idempotency-Key``
HTTP header (Mastodon.py 2.3.3 ``statuses.py`` puts it in the headers, not the form). Mastodon
keeps the key for one hour per account and answers a repeat with the status it created the
first time, so a retry after a crash or a lost answer cannot post twice. After that hour it
would post again; the pipeline's retries of one delivery normally fall inside it.

Limits: ``spec`` is the Mastodon default (500 graphemes, links count 23). ``live_spec`` reads
``/api/v2/instance`` (``/api/v1/instance`` on servers older than 4.0), caches it for an hour,
and returns the instance's ``max_characters`` minus the account's content warning, which
Mastodon counts with the text.

Images (``options.images: true``): the article image is loaded through the context, brought
under the instance's size and pixel limits by ``bot.media.prepare_image``, and uploaded with
its alt text. Mastodon refuses to attach media that is still processing (422), so an upload
answered without a URL is polled for a few seconds; an image that cannot be loaded, prepared,
uploaded or processed in time is logged and the post goes out without it.

Deleting (``on_unpublish: delete``): ``DELETE /api/v1/statuses/:id`` (Mastodon.py's
``status_delete``, scope ``write:statuses``). Mastodon looks the status up among the token's
own and answers 404 ``{"error": "Record not found"}`` when it is not there: the status is
already gone, which is no error. A 404 that is not Mastodon's JSON (a wrong ``api_base``) is.
Deletions are limited to 30 per 30 minutes per account: a 429 is retried at its reset. The
other servers deleting federated copies is Mastodon's job (it sends a ``Delete`` activity).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from bot import __version__
from bot.errors import ConfigError, FetchError, MediaError, PublishError
from bot.media import prepare_image
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import checked_id, clamp_wait, http_date, redact_error, scrub
from bot.textlen import graphemes

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

ASSUMED_VERSION = "4.0.0"
USER_AGENT = f"syndbot/{__version__} (Mastodon.py)"
VISIBILITIES = ("public", "unlisted", "private", "direct")
OPTION_NAMES = ("visibility", "images", "sensitive", "spoiler_text")
MAX_SPOILER = 200  # graphemes; Mastodon counts the content warning with the text
MAX_DESCRIPTION = 1500  # Mastodon's limit on an attachment's description (alt text)

INSTANCE_TTL = 3600.0  # how long the instance's limits are kept
FAILURE_TTL = 60.0  # how long a failure to read them is kept before asking again
MEDIA_WAITS = (0.5, 1.0, 1.5, 2.0)  # pauses while an upload is processing: 5 s in all
MAX_RETRY_AFTER = 24 * 3600.0
_RETRYABLE_4XX = frozenset({408, 409, 425})
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
# Mastodon's ids are digits; other servers of the same API use letters too (ULIDs, flake ids).
_STATUS_ID = re.compile(r"[0-9A-Za-z]{1,64}")

_CREDENTIALS_HINT = (
    "the access token may have been revoked or mistyped: create a new one on the instance "
    "under Preferences → Development (scopes write:statuses write:media) and put it in "
    "credentials.access_token"
)
_FORBIDDEN_HINT = (
    "check that the token has the write:statuses scope (and write:media for images) and that "
    "the account is not suspended or limited"
)


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    """What an instance allows, from ``/api/v2/instance`` (or v1); defaults are Mastodon's."""

    max_characters: int = 500
    characters_reserved_per_url: int = 23
    max_media_attachments: int = 4
    image_size_limit: int = 16 * 1024 * 1024
    image_matrix_limit: int = 33_177_600  # pixels (7680×4320)
    image_types: tuple[str, ...] = _IMAGE_TYPES


DEFAULT_LIMITS = InstanceLimits()


@dataclass(frozen=True, slots=True)
class MastodonOptions:
    """``accounts[].options`` of a Mastodon account, validated."""

    visibility: str = "public"
    images: bool = False
    sensitive: bool | None = None  # None: the account's own default on the instance
    spoiler_text: str = ""


class _Session(requests.Session):
    """Mastodon.py's HTTP session: no redirects, and each thread's last answer kept for its
    headers (``live_spec`` may run beside ``publish``)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self._local = threading.local()

    @property
    def last(self) -> requests.Response | None:
        """The answer to this thread's last request (``None``: it got none)."""
        response: requests.Response | None = getattr(self._local, "response", None)
        return response

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        self._local.response = None
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        kwargs["allow_redirects"] = False  # a redirected POST would become a GET
        response = super().request(method, url, *args, **kwargs)
        self._local.response = response
        return response


class MastodonPublisher:
    """Posts to one Mastodon account with an access token from the account's preferences."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="mastodon",
        max_length=500,
        counting="mastodon",
        url_length=23,
        in_doubt=InDoubt.RETRY,
        supports_images=True,
        can_delete=True,
    )

    def __init__(
        self,
        account: AccountConfig,
        context: PublisherContext | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.context = context or PublisherContext()
        self.account_id = account.id
        if account.api_base is None:
            raise ConfigError(
                f"accounts.{account.id}.api_base is required for mastodon: the address of "
                "the account's instance, e.g. https://mastodon.social"
            )
        self.api_base = str(account.api_base).rstrip("/")
        token = account.credential("access_token")
        self.options = parse_options(account.id, account.options)
        self._secrets = (token,)
        self._clock = clock
        self._sleep = sleep
        self._limits: InstanceLimits | None = None
        self._limits_until = -math.inf
        self._session = _Session(self.context.timeout)
        self._client = Mastodon(
            api_base_url=self.api_base,
            ratelimit_method="throw",
            request_timeout=self.context.timeout,
            mastodon_version=ASSUMED_VERSION,
            version_check_mode="created",
            session=self._session,
            user_agent=USER_AGENT,
        )
        self._client.access_token = token

    # --- limits -----------------------------------------------------------------------------

    def live_spec(self) -> PlatformSpec:
        """``spec`` with the instance's length limit (less the content warning), cached for an
        hour. When the instance cannot be asked: Mastodon's default of 500."""
        return self._spec_for(self.instance_limits() or DEFAULT_LIMITS)

    def instance_limits(self) -> InstanceLimits | None:
        """The instance's limits (cached), or ``None`` when they cannot be read now."""
        now = self._clock()
        if now < self._limits_until:
            return self._limits
        try:
            try:
                info = self._client.instance_v2()
            except MastodonNotFoundError:  # Mastodon < 4.0: v1 has the same configuration
                info = self._client.instance_v1()
            limits: InstanceLimits | None = limits_from(info)
            self._limits_until = now + INSTANCE_TTL
        except Exception as exc:  # any failure: the defaults are a safe answer
            log.warning(
                "mastodon: account %s: cannot read the limits of %s (%s); using Mastodon's "
                "defaults",
                self.account_id,
                self.api_base,
                scrub(_describe(exc, self._session.last), self._secrets),
            )
            limits = None
            self._limits_until = now + FAILURE_TTL
        self._limits = limits
        return limits

    def _spec_for(self, limits: InstanceLimits) -> PlatformSpec:
        # The content warning is counted with the text (as graphemes, its links in full), and
        # the "mastodon" counting rule charges 23 per link: charge any extra an instance
        # reserves once (a post carries one link).
        extra_per_url = max(limits.characters_reserved_per_url - 23, 0)
        spoiler = len(graphemes(self.options.spoiler_text))
        max_length = max(limits.max_characters - spoiler - extra_per_url, 1)
        return dataclasses.replace(
            self.spec, max_length=max_length, url_length=limits.characters_reserved_per_url
        )

    # --- posting ----------------------------------------------------------------------------

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Create the status. A repeat of ``idempotency_key`` within an hour returns the status
        created the first time instead of a new one."""
        media_ids: list[str] = []
        if self.options.images and post.image is not None:
            media_id = self._upload_image(post)
            if media_id is not None:
                media_ids.append(media_id)
        try:
            status = self._client.status_post(
                post.text,
                visibility=self.options.visibility,
                language=_language(post.language),
                idempotency_key=idempotency_key,
                media_ids=media_ids or None,
                sensitive=self.options.sensitive,
                spoiler_text=self.options.spoiler_text or None,
            )
            last = self._session.last
            if last is not None and last.is_redirect:  # Mastodon.py took it for an answer
                raise _redirected(last)
            remote_id = str(status["id"])
            url = status.get("url") or status.get("uri")
        except MastodonError as exc:
            raise self._translated(exc) from exc
        except (KeyError, TypeError, AttributeError) as exc:
            # A 2xx answer without a status id: Mastodon most likely created it. Retrying is
            # safe: the idempotency key returns that status.
            raise PublishError(
                "Mastodon answered without a status id", platform="mastodon", retryable=True
            ) from exc
        log.info(
            "mastodon: account %s posted %s for %s [%s]",
            self.account_id,
            remote_id,
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=remote_id, url=str(url) if url else None)

    def delete(self, remote_id: str) -> None:
        """Delete the status; one that is already gone counts as deleted."""
        status_id = checked_id(
            remote_id, _STATUS_ID, platform="mastodon", what="a Mastodon status id"
        )
        try:
            self._client.status_delete(status_id)
            last = self._session.last
            if last is not None and last.is_redirect:  # Mastodon.py took it for an answer
                raise _redirected(last)
        except MastodonNotFoundError as exc:
            if not _record_not_found(self._session.last):
                raise self._translated(exc) from exc
            log.info("mastodon: account %s: status %s was already gone", self.account_id, status_id)
            return
        except MastodonError as exc:
            raise self._translated(exc) from exc
        log.info("mastodon: account %s deleted status %s", self.account_id, status_id)

    def close(self) -> None:
        self._session.close()

    # --- images -----------------------------------------------------------------------------

    def _upload_image(self, post: Post) -> str | None:
        """The id of the uploaded, processed article image, or ``None`` to post without it.

        Raises ``PublishError`` only for what would stop the status too: a rejected token
        (401), a server error or an unreachable instance (retryable).
        """
        assert post.image is not None
        image = post.image
        try:
            data = self.context.load_image(image.url)
            limits = self.instance_limits() or DEFAULT_LIMITS
            prepared = prepare_image(
                data,
                max_bytes=limits.image_size_limit,
                max_side=math.isqrt(limits.image_matrix_limit),
                allowed=limits.image_types,
            )
        except (FetchError, MediaError) as exc:
            self._without_image(post, str(exc))
            return None
        description = "".join(graphemes(image.alt)[:MAX_DESCRIPTION]) or None
        try:
            media = self._client.media_post(
                prepared.data, mime_type=prepared.mime, description=description
            )
        except MastodonError as exc:
            error = self._translated(exc)
            if error.status == 401 or (error.retryable and error.status != 429):
                raise error from exc
            self._without_image(post, str(error))  # 403 scope, 413, 422, media rate limit
            return None
        return self._processed(post, media)

    def _processed(self, post: Post, media: Any) -> str | None:
        """The media's id once Mastodon has processed it (it has a URL), else ``None``."""
        for pause in (*MEDIA_WAITS, None):
            try:
                media_id = str(media["id"])
                if media.get("url"):
                    return media_id
            except (KeyError, TypeError, AttributeError):
                self._without_image(post, "Mastodon answered the upload without a media id")
                return None
            if pause is None:
                break
            self._sleep(pause)
            try:
                media = self._client.media(media_id)
            except MastodonError as exc:
                self._without_image(post, str(self._translated(exc)))
                return None
        self._without_image(post, f"still processing after {sum(MEDIA_WAITS):g} s")
        return None

    def _without_image(self, post: Post, why: str) -> None:
        log.warning(
            "mastodon: account %s: posting %s without its image %s: %s",
            self.account_id,
            post.url,
            post.image.url if post.image else "",
            scrub(why, self._secrets),
        )

    # --- errors -----------------------------------------------------------------------------

    def _translated(self, exc: BaseException) -> PublishError:
        return redact_error(_translate(exc, self._session.last), self._secrets)


# --- pure helpers ----------------------------------------------------------------------------


def parse_options(account_id: str, options: Mapping[str, object]) -> MastodonOptions:
    """``options`` checked; ``ConfigError`` names the bad key and what it may be."""
    where = f"accounts.{account_id}.options"
    for name in options:
        if name not in OPTION_NAMES:
            raise ConfigError(
                f"{where}.{name}: unknown option for mastodon (known: {', '.join(OPTION_NAMES)})"
            )
    visibility = options.get("visibility", "public")
    if visibility not in VISIBILITIES:
        raise ConfigError(
            f"{where}.visibility must be one of {', '.join(VISIBILITIES)} (got {visibility!r})"
        )
    flags: dict[str, bool | None] = {}
    for name in ("images", "sensitive"):
        value = options.get(name)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{where}.{name} must be true or false (got {value!r})")
        flags[name] = value
    spoiler = options.get("spoiler_text", "")
    if not isinstance(spoiler, str):
        raise ConfigError(f"{where}.spoiler_text must be text (got {spoiler!r})")
    if len(graphemes(spoiler)) > MAX_SPOILER:
        raise ConfigError(
            f"{where}.spoiler_text is too long: a content warning counts against the post's "
            f"length; keep it under {MAX_SPOILER} characters"
        )
    return MastodonOptions(
        visibility=str(visibility),
        images=bool(flags["images"]),
        sensitive=flags["sensitive"],
        spoiler_text=spoiler.strip(),
    )


def limits_from(info: Mapping[str, Any]) -> InstanceLimits:
    """An instance's limits from its ``/api/v2/instance`` (or v1) answer; a value that is
    missing or not a positive number keeps Mastodon's default."""
    configuration = _mapping(info.get("configuration"))
    statuses = _mapping(configuration.get("statuses"))
    media = _mapping(configuration.get("media_attachments"))
    d = DEFAULT_LIMITS
    types = media.get("supported_mime_types")
    image_types = d.image_types
    if isinstance(types, list):
        image_types = tuple(t for t in _IMAGE_TYPES if t in types) or ("image/jpeg",)
    return InstanceLimits(
        max_characters=_positive(statuses.get("max_characters"), d.max_characters),
        characters_reserved_per_url=_positive(
            statuses.get("characters_reserved_per_url"), d.characters_reserved_per_url
        ),
        max_media_attachments=_positive(
            statuses.get("max_media_attachments"), d.max_media_attachments
        ),
        image_size_limit=_positive(media.get("image_size_limit"), d.image_size_limit),
        image_matrix_limit=_positive(media.get("image_matrix_limit"), d.image_matrix_limit),
        image_types=image_types,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _positive(value: object, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return default


def _language(language: str | None) -> str | None:
    """The ISO 639 code Mastodon wants: the primary subtag (``"pt-BR"`` → ``"pt"``)."""
    if not language:
        return None
    primary = language.replace("_", "-").split("-", 1)[0].strip().lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def _translate(
    exc: BaseException, response: requests.Response | None = None, *, now: float | None = None
) -> PublishError:
    """Map a Mastodon.py exception to what the ledger needs.

    ``response`` is the answer the exception came from, when there was one (for the headers
    Mastodon.py does not keep); ``now`` is the Unix time reset times are measured from when
    the answer has no ``Date`` (default: the system clock).
    """
    now = time.time() if now is None else now
    if isinstance(exc, MastodonRatelimitError):
        headers: Mapping[str, str] = response.headers if response is not None else {}
        retry_after = _retry_after(headers, now)
        when = f"; retry in {retry_after:.0f} s" if retry_after is not None else ""
        if response is not None and response.status_code != 429:
            # Mastodon.py raises this for an unreadable X-RateLimit-Reset, even on success.
            return PublishError(
                f"Mastodon sent an unreadable rate-limit header ({response.status_code})",
                platform="mastodon",
                retryable=True,
                status=response.status_code,
            )
        return PublishError(
            f"Mastodon rate limit reached (429: Too many requests){when}",
            platform="mastodon",
            retryable=True,
            retry_after=retry_after,
            status=429,
        )
    if isinstance(exc, MastodonNetworkError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.Timeout):
            return PublishError(
                "Mastodon did not answer in time", platform="mastodon", retryable=True
            )
        reason = type(cause).__name__ if cause is not None else "network error"
        return PublishError(f"cannot reach Mastodon: {reason}", platform="mastodon", retryable=True)
    if isinstance(exc, MastodonAPIError):
        return _translate_api(exc, response)
    return PublishError(
        f"Mastodon request failed: {type(exc).__name__}: {exc}",
        platform="mastodon",
        retryable=False,
    )


def _translate_api(exc: MastodonAPIError, response: requests.Response | None) -> PublishError:
    # Mastodon.py raises ("Mastodon API returned error", status, reason, error message).
    args = exc.args
    status: int | None = args[1] if len(args) > 1 and isinstance(args[1], int) else None
    said = str(args[3]) if len(args) > 3 and args[3] else ""
    if status is None and response is not None:
        status = response.status_code
    if status is None or 200 <= status < 300:
        # A success with an unreadable body: the status probably exists; the idempotency key
        # makes a retry return it.
        return PublishError(
            "Mastodon's answer could not be read",
            platform="mastodon",
            retryable=True,
            status=status,
        )
    reason = str(args[2]) if len(args) > 2 and args[2] else ""
    said = said or reason or "no message"
    what = f"{status}: {said}"
    if 300 <= status < 400:
        return _redirected(response, status)
    if isinstance(exc, MastodonServerError) or status >= 500:
        return PublishError(
            f"Mastodon server error ({what})", platform="mastodon", retryable=True, status=status
        )
    if isinstance(exc, MastodonUnauthorizedError) or status == 401:
        return PublishError(
            f"Mastodon rejected the access token ({what}); {_CREDENTIALS_HINT}",
            platform="mastodon",
            retryable=False,
            status=status,
        )
    if status == 403:
        return PublishError(
            f"Mastodon refused the request ({what}); {_FORBIDDEN_HINT}",
            platform="mastodon",
            retryable=False,
            status=status,
        )
    if status == 404:
        return PublishError(
            f"Mastodon answered 404 ({said}); check api_base: it must be the instance's "
            "address, e.g. https://mastodon.social",
            platform="mastodon",
            retryable=False,
            status=status,
        )
    if status in _RETRYABLE_4XX:
        return PublishError(
            f"Mastodon asked to try again ({what})",
            platform="mastodon",
            retryable=True,
            status=status,
        )
    return PublishError(
        f"Mastodon refused the post ({what})", platform="mastodon", retryable=False, status=status
    )


def _record_not_found(response: requests.Response | None) -> bool:
    """Whether an answer is Mastodon's 404 for a record it does not have (a JSON ``error``),
    as opposed to a 404 page from something that is not the instance's API."""
    if response is None or response.status_code != 404:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "error" in body


def _redirected(response: requests.Response | None, status: int | None = None) -> PublishError:
    status = status or (response.status_code if response is not None else None)
    location = response.headers.get("Location", "?") if response is not None else "?"
    return PublishError(
        f"the Mastodon address redirects ({status} to {location}); set api_base to the "
        "instance's own address",
        platform="mastodon",
        retryable=False,
        status=status,
    )


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (an ISO 8601 time; GoToSocial sends Unix seconds),
    measured from the answer's ``Date`` when it has one (the server's clock on both sides),
    else from ``now``. ``None`` when missing or unreadable."""
    raw = headers.get("X-RateLimit-Reset")
    if not raw:
        return None
    reset = _timestamp(raw.strip())
    if reset is None:
        return None
    date = headers.get("Date")
    server_now = http_date(date, naive_as_local=True) if date else None
    base = now if server_now is None else server_now
    return clamp_wait(reset - base, high=MAX_RETRY_AFTER)


def _timestamp(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def _describe(exc: BaseException, response: requests.Response | None) -> str:
    if isinstance(exc, MastodonError):
        return str(_translate(exc, response))
    return f"{type(exc).__name__}: {exc}"
