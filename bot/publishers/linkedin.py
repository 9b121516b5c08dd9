"""LinkedIn organization pages: article posts through the versioned REST API, with requests.

One post is three calls (platform-apis.md §6)::

    POST {api_base}/rest/images?action=initializeUpload   owner = the page  → uploadUrl, image URN
    PUT  {uploadUrl}                                       the thumbnail bytes
    POST {api_base}/rest/posts                             201, the post URN in ``x-restli-id``

LinkedIn does not read the article page: the card's title, description and thumbnail are what
this module sends. A thumbnail that cannot be loaded, prepared or uploaded is left out (with a
warning); the post still goes. (A 401 there ends the publish: the post would meet the same
token.) The bearer token is only ever sent to ``api_base`` and to HTTPS upload URLs on
``linkedin.com``.

``commentary`` is LinkedIn "little text": ``\\ | { } @ [ ] ( ) < > # * _ ~`` are reserved, and an
unescaped one silently cuts the post short where it stands (``little_text``). The card's
``title`` and ``description`` are plain strings and are sent as they are.

LinkedIn has no idempotency key but refuses an exact repeat (same commentary and article) with
422 ``DUPLICATE_POST``, naming the existing post. A post whose answer was lost (timeout, 5xx) is
therefore retried, and the repeat becomes ``PublishResult(duplicate=True)`` with that post's URN.
After a crash mid-call the spec says HOLD: an editor decides (the duplicate check is observed
behaviour, not a documented guarantee).

Deleting (``on_unpublish: delete``): ``DELETE {api_base}/rest/posts/{urn}`` with the URN
URL-encoded, the same headers as posting, and ``X-RestLi-Method: DELETE``; LinkedIn answers
204. LinkedIn documents deletion as idempotent (204 again for a post already deleted); a 404
for a post it does not know is taken as gone too. Deleting needs the same permission as
posting (``w_organization_social``, an admin role on the page). LinkedIn may then refuse the
same article again as a duplicate of the deleted post for a day or two (platform-apis.md §6).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from bot.errors import BotError, ConfigError, PublishError
from bot.media import prepare_image
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import checked_id, clamp_wait, http_date, number, redact_error, scrub
from bot.textlen import extract_urls

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.linkedin.com"
DEFAULT_VERSION = "202610"  # LinkedIn-Version, YYYYMM; each version is retired after ~1 year
POST_URL = "https://www.linkedin.com/feed/update/{urn}/"
RESTLI_PROTOCOL_VERSION = "2.0.0"

IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_MAX_SIDE = 6000  # LinkedIn refuses images over 36,152,320 pixels
IMAGE_TYPES = ("image/jpeg", "image/png")

DEFAULT_RETRY_AFTER = 3600.0  # a 429 without Retry-After: daily limits, reset at midnight UTC

RESERVED = frozenset("\\|{}@[]()<>#*_~")
_VERSION = re.compile(r"\d{6}(\.\d{2})?")
_ORGANIZATION = re.compile(r"(?:urn:li:organization:)?(\d+)")
_AUTHOR = re.compile(r"urn:li:(?:organization|person):[\w-]+")
_POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")
_REAUTHORIZE_HINT = (
    "LinkedIn access tokens last 60 days: an admin of the page must authorize the app again "
    "and put the new token in the account's credentials.access_token "
    "(see docs/platforms/linkedin.md)"
)
_PERMISSION_HINT = (
    "the token needs the w_organization_social scope (Community Management API product) and "
    "its member must be an ADMINISTRATOR or CONTENT_ADMIN of the page"
)


class LinkedInPublisher:
    """Posts article shares to one LinkedIn organization page."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="linkedin",
        max_length=3000,
        counting="utf16",
        url_length=None,
        in_doubt=InDoubt.HOLD,
        supports_images=True,
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
        self.timeout = timeout if timeout is not None else self.context.timeout
        self.account_id = account.id
        self.api_base = str(account.api_base).rstrip("/") if account.api_base else DEFAULT_API_BASE
        self.author = _author(account)
        self.version = _version(account)
        self._token = account.credential("access_token")
        self._secrets = (self._token,)
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {self._token}",
                "LinkedIn-Version": self.version,
                "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
            }
        )

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Share ``post.url`` as an article with ``post.text`` as commentary.

        LinkedIn has no idempotency key: ``idempotency_key`` is only logged.
        """
        thumbnail = self._thumbnail(post, idempotency_key)
        body = article_post(self.author, post, thumbnail)
        try:
            response = self._session.post(
                f"{self.api_base}/rest/posts",
                json=body,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise redact_error(_translate_network(exc), self._secrets) from None
        if response.status_code == 201:
            urn = urllib.parse.unquote(response.headers.get("x-restli-id", "")).strip()
            if not urn:
                # Created, most likely, but unnamed: a retry meets DUPLICATE_POST and learns it.
                raise PublishError(
                    "LinkedIn answered 201 without the post's id (x-restli-id)",
                    platform="linkedin",
                    retryable=True,
                    status=201,
                )
            log.info(
                "linkedin: account %s posted %s for %s [%s]",
                self.account_id,
                urn,
                post.url,
                idempotency_key,
            )
            return PublishResult(remote_id=urn, url=POST_URL.format(urn=urn))
        outcome = _translate(response)
        if isinstance(outcome, PublishResult):
            log.info(
                "linkedin: account %s already has this post (%s) for %s [%s]",
                self.account_id,
                outcome.remote_id or "DUPLICATE_POST",
                post.url,
                idempotency_key,
            )
            return outcome
        raise redact_error(outcome, self._secrets)

    def delete(self, remote_id: str) -> None:
        """``DELETE /rest/posts/{urn}``; a post that is already gone counts as deleted."""
        urn = checked_id(remote_id, _POST_URN, platform="linkedin", what="a LinkedIn post URN")
        try:
            response = self._session.delete(
                f"{self.api_base}/rest/posts/{urllib.parse.quote(urn, safe='')}",
                headers={"X-RestLi-Method": "DELETE"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise redact_error(_translate_network(exc), self._secrets) from None
        with response:
            status = response.status_code
            if status in (200, 204):
                log.info("linkedin: account %s deleted post %s", self.account_id, urn)
                return
            if status in (404, 410):
                log.info("linkedin: account %s: post %s was already gone", self.account_id, urn)
                return
            outcome = _translate(response, action="the deletion")
        assert isinstance(outcome, PublishError)  # no duplicate when deleting
        raise redact_error(outcome, self._secrets)

    def close(self) -> None:
        self._session.close()

    # --- the thumbnail ----------------------------------------------------------------------

    def _thumbnail(self, post: Post, idempotency_key: str) -> str | None:
        """The ``urn:li:image`` of the uploaded article image, or None (a warning says why)."""
        if post.image is None:
            return None
        try:
            prepared = prepare_image(
                self.context.load_image(post.image.url),
                max_bytes=IMAGE_MAX_BYTES,
                max_side=IMAGE_MAX_SIDE,
                allowed=IMAGE_TYPES,
            )
            return self._upload(prepared.data, prepared.mime)
        except PublishError:
            raise
        except (BotError, requests.RequestException, ValueError) as exc:
            reason = scrub(_describe(exc), self._secrets)
            log.warning(
                "linkedin: account %s posts %s without a thumbnail (%s: %s) [%s]",
                self.account_id,
                post.url,
                post.image.url,
                reason,
                idempotency_key,
            )
            return None

    def _upload(self, data: bytes, mime: str) -> str:
        response = self._session.post(
            f"{self.api_base}/rest/images",
            params={"action": "initializeUpload"},
            json={"initializeUploadRequest": {"owner": self.author}},
            timeout=self.timeout,
            allow_redirects=False,
        )
        if response.status_code == 401:  # the post would meet the same token: stop here
            outcome = _translate(response)
            assert isinstance(outcome, PublishError)
            raise redact_error(outcome, self._secrets)
        if response.status_code != 200:
            raise ValueError(f"initializeUpload answered {_what(response)}")
        value = _json(response).get("value")
        upload_url = value.get("uploadUrl") if isinstance(value, dict) else None
        image = value.get("image") if isinstance(value, dict) else None
        if not isinstance(upload_url, str) or not isinstance(image, str):
            raise ValueError("initializeUpload answered without uploadUrl and image")
        if not self._trusted(upload_url):
            host = urllib.parse.urlsplit(upload_url).hostname
            raise ValueError(f"refusing to send the token to the upload host {host!r}")
        put = self._session.put(
            upload_url,
            data=data,
            headers={"Content-Type": mime},
            timeout=self.timeout,
            allow_redirects=False,
        )
        if put.status_code not in (200, 201):
            raise ValueError(f"the image upload answered {_what(put)}")
        return image

    def _trusted(self, url: str) -> bool:
        """Whether the bearer token may go to ``url``: ``api_base``'s own origin, or HTTPS on
        ``linkedin.com`` (where LinkedIn's upload URLs point)."""
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlsplit(self.api_base)
        if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
            return True
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and (
            host == "linkedin.com" or host.endswith(".linkedin.com")
        )


# --- the request body --------------------------------------------------------------------------


def article_post(author: str, post: Post, thumbnail: str | None) -> dict[str, Any]:
    """The ``/rest/posts`` body sharing ``post.url`` as an article card."""
    article: dict[str, Any] = {"source": post.url, "title": post.title.strip() or post.url}
    if post.description.strip():
        article["description"] = post.description.strip()
    if thumbnail is not None:
        article["thumbnail"] = thumbnail
    return {
        "author": author,
        "commentary": little_text(post.text),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "content": {"article": article},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }


def little_text(text: str) -> str:
    """``text`` as LinkedIn little text that shows exactly ``text``, hashtags kept clickable.

    Every reserved character gets a backslash, except that a hashtag becomes the documented
    template ``{hashtag|\\#|word}``. A hashtag here is what ``summarizer`` makes: ``#``, not
    after a letter, digit or ``_``, followed by letters, marks, digits and ``_`` with at least
    one letter (``#Haïti``, ``#PortAuPrince``). ``#1``, ``C#`` and ``#`` inside URLs stay
    plain text; URLs are escaped like any text (LinkedIn links the text it shows).
    """
    out: list[str] = []
    pos = 0
    for span in extract_urls(text, "utf16"):
        out.append(_little_words(text[pos : span.start]))
        out.append(_escape(text[span.start : span.end]))
        pos = span.end
    out.append(_little_words(text[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in RESERVED else ch for ch in text)


def _little_words(text: str) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "#" and (i == 0 or not _word_char(text[i - 1])):
            end = i + 1
            while end < n and _word_char(text[end]):
                end += 1
            word = text[i + 1 : end]
            if any(unicodedata.category(c)[0] == "L" for c in word):
                out.append("{hashtag|\\#|" + _escape(word) + "}")
                i = end
                continue
        out.append("\\" + ch if ch in RESERVED else ch)
        i += 1
    return "".join(out)


def _word_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] in "LM" or unicodedata.category(ch) == "Nd"


# --- configuration -----------------------------------------------------------------------------


def _author(account: AccountConfig) -> str:
    """``urn:li:organization:{id}`` from ``credentials.organization_id``, or ``credentials.author``."""
    for name in ("organization_id", "author"):
        secret = account.credentials.get(name)
        value = secret.get_secret_value().strip() if secret is not None else ""
        if not value:
            continue
        if name == "organization_id":
            m = _ORGANIZATION.fullmatch(value)
            if m is None:
                raise ConfigError(
                    f"accounts.{account.id}.credentials.organization_id must be the page's "
                    "numeric id (as in urn:li:organization:12345)"
                )
            return f"urn:li:organization:{m.group(1)}"
        if _AUTHOR.fullmatch(value) is None:
            raise ConfigError(
                f"accounts.{account.id}.credentials.author must be a URN like "
                "urn:li:organization:12345"
            )
        return value
    raise ConfigError(
        f"accounts.{account.id}.credentials.organization_id (or credentials.author) "
        "is required for linkedin"
    )


def _version(account: AccountConfig) -> str:
    raw = account.options.get("version", DEFAULT_VERSION)
    value = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if _VERSION.fullmatch(value) is None:
        raise ConfigError(
            f"accounts.{account.id}.options.version must be a LinkedIn-Version like "
            f"{DEFAULT_VERSION!r} (YYYYMM), not {raw!r}"
        )
    return value


# --- LinkedIn's answers ------------------------------------------------------------------------


def _translate(
    response: requests.Response, *, now: float | None = None, action: str = "the post"
) -> PublishError | PublishResult:
    """Map a non-201 answer of ``/rest/posts``: a duplicate is a result, the rest errors
    (only errors when ``action`` is not "the post")."""
    status = response.status_code
    body = _json(response)
    said = _message(body) or response.reason or "no message"
    if status == 422 and action == "the post" and _is_duplicate(body):
        m = _POST_URN.search(said)
        urn = m.group(0) if m else None
        return PublishResult(
            remote_id=urn, url=POST_URL.format(urn=urn) if urn else None, duplicate=True
        )
    if status == 429:
        wait = _retry_after(
            response.headers.get("Retry-After"), time.time() if now is None else now
        )
        return PublishError(
            f"LinkedIn rate limit reached ({said}); retry in {wait:.0f} s",
            platform="linkedin",
            retryable=True,
            retry_after=wait,
            status=status,
        )
    if status >= 500:
        return PublishError(
            f"LinkedIn server error ({status}: {said})",
            platform="linkedin",
            retryable=True,
            status=status,
        )
    if status == 401:
        return PublishError(
            f"LinkedIn refused the access token ({status}: {said}); {_REAUTHORIZE_HINT}",
            platform="linkedin",
            retryable=False,
            status=status,
        )
    if status == 403:
        return PublishError(
            f"LinkedIn refused {action} for lack of permission ({status}: {said}); "
            f"{_PERMISSION_HINT}",
            platform="linkedin",
            retryable=False,
            status=status,
        )
    if status == 426 or (isinstance(body, dict) and body.get("code") == "NONEXISTENT_VERSION"):
        return PublishError(
            f"LinkedIn no longer serves this API version ({status}: {said}); set the "
            "account's options.version to a recent YYYYMM",
            platform="linkedin",
            retryable=False,
            status=status,
        )
    return PublishError(
        f"LinkedIn refused {action} ({status}: {said})",
        platform="linkedin",
        retryable=False,
        status=status,
    )


def _translate_network(exc: requests.RequestException) -> PublishError:
    """A request that got no usable answer. Retrying is safe: an exact repeat of a post that
    went through is answered with DUPLICATE_POST. The message never quotes the exception
    (requests puts the URL and headers in it)."""
    if isinstance(exc, requests.Timeout):
        return PublishError(
            f"LinkedIn did not answer in time ({type(exc).__name__})",
            platform="linkedin",
            retryable=True,
        )
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return PublishError(
            f"cannot reach LinkedIn ({type(exc).__name__})", platform="linkedin", retryable=True
        )
    return PublishError(
        f"LinkedIn request failed ({type(exc).__name__})", platform="linkedin", retryable=False
    )


def _is_duplicate(body: Any) -> bool:
    """LinkedIn's 422 for a repeated post. Seen as ``errorDetails.inputErrors[].code`` (and a
    "Content is a duplicate of urn:li:share:…" message); a top-level ``code`` is accepted too."""
    if not isinstance(body, dict):
        return False
    if body.get("code") == "DUPLICATE_POST":
        return True
    details = body.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, dict) else None
    if isinstance(inputs, list) and any(
        isinstance(e, dict) and e.get("code") == "DUPLICATE_POST" for e in inputs
    ):
        return True
    return "is a duplicate of" in str(body.get("message", ""))


def _message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    message = str(body.get("message") or "").strip()
    prefix = "com.linkedin.content.common.exception.BadRequestResponseException: "
    message = message.removeprefix(prefix)
    details = body.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, dict) else None
    if isinstance(inputs, list):
        extra = [
            str(e.get("description") or e.get("code"))
            for e in inputs
            if isinstance(e, dict) and (e.get("description") or e.get("code"))
        ]
        if extra:
            message = "; ".join([message, *extra]) if message else "; ".join(extra)
    return message


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _what(response: requests.Response) -> str:
    said = _message(_json(response)) or response.reason or ""
    return f"{response.status_code} {said}".strip()


def _retry_after(header: str | None, now: float) -> float:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), else one hour."""
    if header:
        seconds = number(header)
        if seconds is None:
            when = http_date(header.strip(), naive_as_local=True)
            seconds = None if when is None else when - now
        if seconds is not None:
            return clamp_wait(seconds)
    return DEFAULT_RETRY_AFTER


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.RequestException):
        return type(exc).__name__  # requests' messages quote URLs and headers
    return str(exc) or type(exc).__name__
