"""Bluesky: ``app.bsky.feed.post`` records through the atproto SDK, logged in with an app password.

Everything atproto-specific stays in this module: the rest of the program sees
``PublishResult`` and ``PublishError`` only.

Sessions. A password login (``createSession``) is rate-limited per account (30 per 5 minutes,
300 per day), so the session is kept in ``state_dir/bluesky-<account id>.session`` (mode 0600,
written atomically) and reused on start. The SDK refreshes the access token 15 minutes before it
expires; every new or refreshed session is written back through ``on_session_change``. When the
PDS rejects the session anyway (``ExpiredToken``, ``InvalidToken``: revoked, clock skew), it is
refreshed once, or replaced by a password login when the refresh token is dead too, and the call
is repeated once. That renewal calls the SDK's own ``Client._refresh_and_set_session`` (0.0.73
has no public refresh); it fires the same callback, so the refreshed session is saved. A saved
file that is unreadable, belongs to another account or holds an expired refresh token is
ignored (and replaced after the login). Neither the session nor the password is ever logged.

Record keys, and why a retry cannot post twice. Each delivery's ``idempotency_key`` becomes the
record key (rkey) of its post, a valid TID (atproto.com/specs/tid: 13 base32-sortable
characters for a 64-bit integer whose top bit is 0, then 53 bits of microseconds since the
epoch, then a 10-bit clock id). ``record_key`` takes the first 64 bits of
SHA-256("syndbot/bluesky/rkey/v1" NUL key): 10 bits become the clock id and the rest picks a
microsecond between 2023-01-01 and 2025-01-01 UTC — after Bluesky opened, before syndbot posted
there, so never in the future however the clock runs, and the same for every retry. (About 2^55
keys per account: collisions are negligible. Bluesky orders feeds by ``createdAt``, which is the
real time, not by rkey.) A retry after a crash therefore writes to the same rkey, and the PDS
refuses the second create — today with **500 InternalServerError** (bluesky-social/atproto#3718,
indigo#873; an explicit error is proposed in atproto#4728). After a create fails in a way that
may mean "it exists" (a 5xx, 409, a lost connection, a message saying so), the publisher reads
the record back (``getRecord``): if it is there, the post is out.

That answer is ``duplicate=True`` when an *earlier* attempt wrote the record (its ``createdAt``
is not this call's): the ledger records it as sent with the "platform already had it" note, and
``remote_id``/``url`` point at the real post. It is ``duplicate=False`` when this very call wrote
it and only the answer was lost, so a first attempt is never taken for a duplicate (the pipeline
refuses a repost whose first attempt meets a duplicate). An rkey is per delivery, so a duplicate
is always this delivery's own post.

The post. ``text`` as composed (300 graphemes and 3,000 bytes at most, URLs at full length);
``langs`` from the article; a facet for every http(s) URL (the whole URL, as
``bot.textlen``'s ``bluesky`` rule finds it) and every hashtag (the SDK's port of the official
``detectFacets``), with UTF-8 byte offsets; and an ``app.bsky.embed.external`` card built here
(Bluesky does not fetch pages): the article's URL, title and description, and its image as the
thumbnail — loaded through ``context.load_image``, re-encoded under 1,000,000 bytes and 2,000
pixels by ``bot.media.prepare_image``, uploaded with ``uploadBlob``. An image that cannot be
loaded, prepared or uploaded leaves a card without a thumbnail; a rate limit or a credentials
error on the upload stops the post (the create would meet it too).

Deleting (``on_unpublish: delete``): ``com.atproto.repo.deleteRecord`` for collection
``app.bsky.feed.post`` and the rkey of the post's at-uri (the ``remote_id``), in this account's
repo (an at-uri of another repo is refused before any request). The reference PDS answers a
record that does not exist with 200 and no commit ("delete, or ensure it doesn't exist"), so
deleting twice is no error; a PDS that answers ``RecordNotFound`` instead is taken at its word
too. A delete costs 1 point of the 5,000-per-hour write budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
from atproto import (  # type: ignore[import-untyped, unused-ignore]
    Client,
    Session,
    SessionEvent,
    models,
)
from atproto_client.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    ModelError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError  # type: ignore[import-untyped, unused-ignore]
from atproto_client.models.utils import (  # type: ignore[import-untyped, unused-ignore]
    get_response_model,
)
from atproto_client.request import Request  # type: ignore[import-untyped, unused-ignore]
from atproto_client.utils import facet_detection  # type: ignore[import-untyped, unused-ignore]
from atproto_core.exceptions import AtProtocolError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from bot.errors import BotError, PublishError
from bot.media import prepare_image
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import MAX_WAIT, checked_id, clamp_wait, number, redact_error
from bot.textlen import extract_urls

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_BASE = "https://bsky.social"
POST_URL = "https://bsky.app/profile/{actor}/post/{rkey}"
POST_COLLECTION = "app.bsky.feed.post"
# at://<did or handle>/app.bsky.feed.post/<rkey>: what createRecord answers as ``uri``.
_POST_URI = re.compile(
    r"at://(?P<repo>did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}|[A-Za-z0-9.-]{1,253})"
    r"/app\.bsky\.feed\.post/(?P<rkey>[A-Za-z0-9._:~-]{1,512})"
)
THUMB_MAX_BYTES = 1_000_000
THUMB_MAX_SIDE = 2000

MAX_RETRY_AFTER = MAX_WAIT  # the cap on a rate limit's wait (clamp_wait's default)

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_RKEY_NAMESPACE = b"syndbot/bluesky/rkey/v1\x00"
_RKEY_FROM_US = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_RKEY_SPAN_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000 - _RKEY_FROM_US

# Errors meaning "this session is no good", as opposed to "these credentials are no good".
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_CREDENTIALS_HINT = (
    "check the account's credentials.handle and credentials.app_password (an App Password is "
    "created under Settings → Privacy and security → App passwords; deleting it stops it working)"
)
_SDK_ERRORS = (AtProtocolError, httpx.TransportError)


class BlueskyPublisher:
    """Posts to one Bluesky account with its handle and an app password."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="bluesky",
        max_length=300,
        counting="bluesky",
        url_length=None,
        in_doubt=InDoubt.RETRY,
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
        self.identifier = _identifier(account)
        self._password = account.credential("app_password")
        self.api_base = str(account.api_base).rstrip("/") if account.api_base else DEFAULT_API_BASE
        self.session_path = Path(self.context.state_dir) / f"bluesky-{account.id}.session"
        self._client: Any = None  # atproto.Client, made on first use
        self._did: str | None = None  # set once a session is loaded or created
        self._handle: str | None = None
        self._tokens: tuple[str, ...] = ()

    # --- publishing -----------------------------------------------------------------------

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Create the post at the rkey derived from ``idempotency_key`` (see the module doc)."""
        rkey = record_key(idempotency_key)
        created_at = _now_iso()
        try:
            self._start_session()
            thumb = self._thumbnail(post)
            record = build_record(post, created_at=created_at, thumb=thumb)
            try:
                response = self._call(
                    lambda: self.client.app.bsky.feed.post.create(
                        repo=self._did, record=record, rkey=rkey
                    )
                )
            except _SDK_ERRORS as exc:
                if not _may_have_created(exc) or (found := self._find(rkey)) is None:
                    raise
                return self._recovered(found, post, created_at, rkey, idempotency_key)
            remote_id = str(response.uri)
        except _SDK_ERRORS as exc:
            raise self._redact(_translate(exc)) from exc
        except ValidationError as exc:
            raise PublishError(
                f"cannot build the Bluesky post: {exc.error_count()} invalid field(s): "
                + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()),
                platform="bluesky",
                retryable=False,
            ) from exc
        log.info(
            "bluesky: account %s posted %s for %s [%s]",
            self.account_id,
            remote_id,
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=remote_id, url=self._post_url(rkey))

    def delete(self, remote_id: str) -> None:
        """``deleteRecord`` of the post at ``remote_id`` (its at-uri); a record that is not
        there counts as deleted."""
        uri = checked_id(remote_id, _POST_URI, platform="bluesky", what="a Bluesky post's at-uri")
        match = _POST_URI.fullmatch(uri)
        assert match is not None
        repo, rkey = match["repo"], match["rkey"]
        try:
            self._start_session()
            if repo not in (self._did, self._handle):
                raise PublishError(
                    f"{uri} is not in this account's repo ({self._did}): it cannot be deleted "
                    f"by account {self.account_id}",
                    platform="bluesky",
                    retryable=False,
                )
            self._call(lambda: self.client.app.bsky.feed.post.delete(repo=self._did, rkey=rkey))
        except _SDK_ERRORS as exc:
            if _error_code(exc) == "RecordNotFound":
                log.info("bluesky: account %s: post %s was already gone", self.account_id, uri)
                return
            raise self._redact(_translate(exc, action="the deletion")) from exc
        log.info("bluesky: account %s deleted post %s", self.account_id, uri)

    def close(self) -> None:
        if self._client is not None:
            self._client.request.close()

    # --- the SDK client and its session ---------------------------------------------------

    @property
    def client(self) -> Any:
        """The atproto ``Client`` (created on first use: constructing a publisher does no I/O)."""
        if self._client is None:
            self._client = Client(base_url=self.api_base, request=Request(timeout=self.timeout))
            self._client.on_session_change(self._session_changed)
        return self._client

    def _start_session(self) -> None:
        """Load the saved session, or log in with the app password."""
        if self._did is not None:
            return
        saved = self._saved_session()
        if saved is None:
            self._password_login()
            return
        self.client.login(session_string=saved, fetch_bsky_profile=False)
        log.info(
            "bluesky: account %s reuses its saved session (%s)", self.account_id, self.session_path
        )

    def _password_login(self) -> None:
        log.info(
            "bluesky: account %s logs in to %s as %s",
            self.account_id,
            self.api_base,
            self.identifier,
        )
        self.client.update_base_url(self.api_base)  # a saved session may have pointed elsewhere
        self.client.login(self.identifier, self._password, fetch_bsky_profile=False)

    def _renew_session(self) -> None:
        """After the PDS rejected the session: refresh it, or log in again if that fails."""
        try:
            self.client._refresh_and_set_session()  # the SDK's refresh; see the module doc
            log.info("bluesky: account %s refreshed its session", self.account_id)
            return
        except (BadRequestError, UnauthorizedError, LoginRequiredError) as exc:
            log.info(
                "bluesky: account %s cannot refresh its session (%s); logging in again",
                self.account_id,
                _error_code(exc) or type(exc).__name__,
            )
        self._password_login()

    def _call(self, request: Callable[[], T]) -> T:
        """``request()``, renewing a session the PDS rejects and trying once more."""
        try:
            return request()
        except (BadRequestError, UnauthorizedError) as exc:
            if not _session_rejected(exc):
                raise
            log.info(
                "bluesky: the PDS rejected the session of account %s (%s); renewing it",
                self.account_id,
                _error_code(exc),
            )
        self._renew_session()
        return request()

    def _session_changed(self, event: Any, session: Any) -> None:
        """The SDK's ``on_session_change`` callback: remember who we are, save new sessions."""
        self._did = str(session.did)
        self._handle = str(session.handle)
        self._tokens = (str(session.access_jwt), str(session.refresh_jwt))
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._save_session(str(session.encode()))

    def _saved_session(self) -> str | None:
        """The saved session string, if there is one worth trying."""
        try:
            text = self.session_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning(
                "bluesky: cannot read the saved session of account %s (%s); logging in",
                self.account_id,
                exc.strerror or type(exc).__name__,
            )
            return None
        try:
            session = Session.decode(text)
            refresh_exp = session.refresh_jwt_payload.exp
            session.access_jwt_payload  # noqa: B018 - must decode too
        except (ValueError, AtProtocolError):
            log.warning(
                "bluesky: the saved session of account %s (%s) is unreadable; logging in",
                self.account_id,
                self.session_path,
            )
            return None
        who = self.identifier.lower()
        if "@" not in who and who not in (session.handle.lower(), session.did):
            log.info(
                "bluesky: the saved session of account %s is for %s, not %s; logging in",
                self.account_id,
                session.handle,
                self.identifier,
            )
            return None
        if refresh_exp is not None and refresh_exp <= time.time():
            log.info("bluesky: the saved session of account %s has expired", self.account_id)
            return None
        return text

    def _save_session(self, text: str) -> None:
        """Write the session string atomically, readable by this user only."""
        path = self.session_path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), 0o600)  # also when tmp existed, whatever the umask
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            log.warning(
                "bluesky: cannot save the session of account %s to %s (%s); the next start "
                "logs in again",
                self.account_id,
                path,
                exc.strerror or type(exc).__name__,
            )

    # --- the card's thumbnail -------------------------------------------------------------

    def _thumbnail(self, post: Post) -> Any:
        """The uploaded blob of the article's image, or None (the card goes without)."""
        if post.image is None:
            return None
        try:
            data = self.context.load_image(post.image.url)
            image = prepare_image(data, max_bytes=THUMB_MAX_BYTES, max_side=THUMB_MAX_SIDE)
        except BotError as exc:
            log.warning(
                "bluesky: account %s posts %s without a thumbnail: image %s: %s",
                self.account_id,
                post.url,
                post.image.url,
                exc,
            )
            return None
        try:
            uploaded = self._call(lambda: self._upload_blob(image.data, image.mime))
        except (RateLimitExceededError, UnauthorizedError):
            raise  # the post would meet it too
        except _SDK_ERRORS as exc:
            log.warning(
                "bluesky: account %s posts %s without a thumbnail: upload failed: %s",
                self.account_id,
                post.url,
                _translate(exc),
            )
            return None
        return uploaded.blob

    def _upload_blob(self, data: bytes, mime: str) -> Any:
        """``com.atproto.repo.uploadBlob`` with the bytes as the raw body. (The SDK's own
        ``upload_blob`` hands them to httpx as ``data=``, deprecated, and labels them ``*/*``.)"""
        response = self.client.invoke_procedure(
            "com.atproto.repo.uploadBlob",
            content=data,
            headers={"Content-Type": mime},
            output_encoding="application/json",
        )
        return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response)

    # --- in doubt -------------------------------------------------------------------------

    def _find(self, rkey: str) -> Any:
        """The post at ``rkey`` in our repo, or None (absent, or the PDS cannot say)."""
        try:
            return self._call(lambda: self.client.app.bsky.feed.post.get(self._did, rkey))
        except _SDK_ERRORS as exc:
            if _error_code(exc) != "RecordNotFound":
                log.info(
                    "bluesky: account %s cannot check for record %s: %s",
                    self.account_id,
                    rkey,
                    _translate(exc),
                )
            return None

    def _recovered(
        self, found: Any, post: Post, created_at: str, rkey: str, idempotency_key: str
    ) -> PublishResult:
        value = found.value
        earlier = getattr(value, "created_at", None) != created_at
        if getattr(value, "text", None) != post.text:
            log.warning(
                "bluesky: account %s already has record %s for %s with another text "
                "(edited after the first attempt?); keeping the post that is out",
                self.account_id,
                rkey,
                post.url,
            )
        log.info(
            "bluesky: account %s %s %s for %s [%s]",
            self.account_id,
            "already had post" if earlier else "posted (answer lost, record found)",
            found.uri,
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=str(found.uri), url=self._post_url(rkey), duplicate=earlier)

    # --- helpers --------------------------------------------------------------------------

    def _post_url(self, rkey: str) -> str:
        handle = self._handle
        actor = handle if handle and handle != "handle.invalid" else self._did
        return POST_URL.format(actor=actor, rkey=rkey)

    def _redact(self, error: PublishError) -> PublishError:
        """``error`` with any secret blanked out of its message (belt and braces)."""
        return redact_error(error, [self._password, *self._tokens])


# --- the record ----------------------------------------------------------------------------


def record_key(idempotency_key: str) -> str:
    """The TID record key for a delivery: stable, valid, in the past (see the module doc)."""
    digest = hashlib.sha256(_RKEY_NAMESPACE + idempotency_key.encode("utf-8")).digest()
    bits = int.from_bytes(digest[:8], "big")
    micros = _RKEY_FROM_US + (bits >> 10) % _RKEY_SPAN_US
    value = (micros << 10) | (bits & 0x3FF)  # < 2**63: the top bit is 0
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def build_facets(text: str) -> list[Any]:
    """Link facets for every http(s) URL and tag facets for every hashtag, in UTF-8 bytes."""
    encoded = text.encode("utf-8")
    facets: list[Any] = []
    links: list[tuple[int, int]] = []
    for span in extract_urls(text, "bluesky"):
        start = len(text[: span.start].encode("utf-8"))
        end = start + len(span.url.encode("utf-8"))
        links.append((start, end))
        facets.append(
            models.AppBskyRichtextFacet.Main(
                features=[models.AppBskyRichtextFacet.Link(uri=span.url)],
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=start, byte_end=end),
            )
        )
    for found in facet_detection.detect_facets(text):
        start, end = found.index.byte_start, found.index.byte_end
        if not isinstance(found.features[0], models.AppBskyRichtextFacet.Tag):
            continue
        if not encoded[start:end].decode("utf-8").startswith(("#", "＃")):
            continue  # a $cashtag
        if any(start < link_end and link_start < end for link_start, link_end in links):
            continue
        facets.append(found)
    return sorted(facets, key=lambda facet: facet.index.byte_start)


def build_record(post: Post, *, created_at: str, thumb: Any = None) -> Any:
    """The ``app.bsky.feed.post`` record for ``post``, with its link card."""
    card = models.AppBskyEmbedExternal.External(
        uri=post.url, title=post.title, description=post.description, thumb=thumb
    )
    return models.AppBskyFeedPost.Record(
        text=post.text,
        created_at=created_at,
        langs=[post.language] if post.language else None,
        facets=build_facets(post.text) or None,
        embed=models.AppBskyEmbedExternal.Main(external=card),
    )


# --- errors --------------------------------------------------------------------------------


def _translate(
    exc: BaseException, *, now: float | None = None, action: str = "the post"
) -> PublishError:
    """Map an atproto or httpx exception to what the ledger needs. ``now`` is the Unix time
    used to turn a rate limit's reset time into a wait (default: the system clock); ``action``
    names what a refusal refused."""
    if isinstance(exc, InvokeTimeoutError | httpx.TimeoutException):
        return PublishError("Bluesky did not answer in time", platform="bluesky", retryable=True)
    response = exc.response if isinstance(exc, RequestErrorBase) else None
    if response is not None:
        return _translate_response(exc, response, time.time() if now is None else now, action)
    if isinstance(exc, NetworkError | httpx.TransportError):
        cause = exc.__cause__ if isinstance(exc, NetworkError) and exc.__cause__ else exc
        return PublishError(
            f"cannot reach Bluesky: {type(cause).__name__}", platform="bluesky", retryable=True
        )
    if isinstance(exc, ModelError):
        # A success status with an answer we cannot read: the post probably exists, and a
        # retry writes the same rkey, so retrying is safe.
        return PublishError(
            "Bluesky's answer could not be read", platform="bluesky", retryable=True
        )
    return PublishError(
        f"Bluesky request failed: {type(exc).__name__}: {exc}", platform="bluesky", retryable=False
    )


def _translate_response(
    exc: BaseException, response: Any, now: float, action: str = "the post"
) -> PublishError:
    status: int = response.status_code
    code = _error_code(exc)
    said = _error_text(exc) or "no message"
    if status == 429:
        retry_after = _retry_after(response.headers, now)
        policy = response.headers.get("ratelimit-policy")
        window = f" (policy {policy})" if policy else ""
        when = f"; retry in {retry_after:.0f} s" if retry_after is not None else ""
        return PublishError(
            f"Bluesky rate limit reached{window}: {said}{when}",
            platform="bluesky",
            retryable=True,
            retry_after=retry_after,
            status=status,
        )
    if status >= 500:
        return PublishError(
            f"Bluesky server error ({status} {said})",
            platform="bluesky",
            retryable=True,
            status=status,
        )
    if code in _SESSION_ERRORS:
        return PublishError(
            f"Bluesky rejected the session even after renewing it ({status} {said})",
            platform="bluesky",
            retryable=True,
            status=status,
        )
    if status in (401, 403):
        hint = _CREDENTIALS_HINT
        if code == "AuthFactorTokenRequired":
            hint = (
                "the account asks for a sign-in code sent by e-mail, which means this is the "
                "account's own password: use an App Password (Settings → Privacy and security "
                "→ App passwords)"
            )
        return PublishError(
            f"Bluesky refused the credentials ({status} {said}); {hint}",
            platform="bluesky",
            retryable=False,
            status=status,
        )
    return PublishError(
        f"Bluesky refused {action} ({status} {said})",
        platform="bluesky",
        retryable=False,
        status=status,
    )


def _xrpc_error(exc: BaseException) -> tuple[str | None, str | None]:
    response = exc.response if isinstance(exc, RequestErrorBase) else None
    content = response.content if response is not None else None
    if isinstance(content, XrpcError):
        return content.error, content.message
    return None, None


def _error_code(exc: BaseException) -> str | None:
    """The XRPC error name (``ExpiredToken``, ``RateLimitExceeded``…) of an error answer."""
    return _xrpc_error(exc)[0]


def _error_text(exc: BaseException) -> str:
    code, message = _xrpc_error(exc)
    if code and message:
        return f"{code}: {message}"
    return code or message or ""


def _session_rejected(exc: BaseException) -> bool:
    code = _error_code(exc)
    if code in _SESSION_ERRORS:
        return True
    status = exc.response.status_code if isinstance(exc, RequestErrorBase) and exc.response else 0
    return status == 401 and code in ("AuthenticationRequired", "AuthMissing")


def _may_have_created(exc: BaseException) -> bool:
    """Whether a failed create may mean the record exists: the PDS answers a duplicate rkey
    with a 500 today, or the answer to a create that went through was lost."""
    if isinstance(exc, InvokeTimeoutError | httpx.TimeoutException):
        return False  # a slow PDS: the next attempt will find out, without doubling the wait
    response = exc.response if isinstance(exc, RequestErrorBase) else None
    if response is None:
        return isinstance(exc, NetworkError | httpx.TransportError)
    status: int = response.status_code
    return status >= 500 or status == 409 or "exist" in _error_text(exc).lower()


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until ``ratelimit-reset`` (Unix time), else ``retry-after``; None if neither."""
    reset = number(headers.get("ratelimit-reset"))
    if reset is not None:
        wait = reset - now
    else:
        wait_header = number(headers.get("retry-after"))
        if wait_header is None:
            return None
        wait = wait_header
    return clamp_wait(wait)


def _identifier(account: AccountConfig) -> str:
    """The login name: ``credentials.handle`` (or ``identifier``: a handle, DID or e-mail)."""
    for name in ("handle", "identifier"):
        secret = account.credentials.get(name)
        value = secret.get_secret_value().strip() if secret is not None else ""
        if value:
            return value.removeprefix("@")
    return account.credential("handle")  # raises ConfigError naming credentials.handle


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
