"""Telegram channels: posts through the Bot API (``sendMessage``, ``sendPhoto``) with requests.

The bot token is part of every URL (``{api_base}/bot<token>/<method>``). It is never put in a
log line or an error message: no message here quotes a URL, a requests exception, or a
response other than Telegram's own ``description``, and every ``PublishError`` is scrubbed of
the token before it is raised (chained requests exceptions are dropped with ``from None``).

Text is sent with ``parse_mode="HTML"``. The post is plain text, so ``& < >`` are escaped and
each URL becomes ``<a href="…">…</a>`` around itself: what the channel shows is exactly
``post.text`` (Telegram's parser, and so its 4,096 / 1,024 limits, see the text after
entities are parsed, counted in UTF-16 code units).

With ``options.photo`` the article image is sent with ``sendPhoto`` and the text as its
caption (1,024: ``live_spec``). An image that cannot be loaded is passed to Telegram by URL;
one Telegram cannot use (or a text over 1,024) falls back to ``sendMessage`` with a link
preview, so the post still goes.

Telegram has no idempotency key and no duplicate check. An answer lost *after* the request
was sent (read timeout, connection dropped) may hide a posted message, so it is not retried:
the error says so and an editor checks the channel (``syndbot retry ID`` sends it again).
A request that never reached Telegram (connection refused, DNS, connect timeout), 5xx and
429 are retryable.

Deleting (``on_unpublish: delete``): ``deleteMessage`` with ``options.chat_id`` and the message
id. Telegram answers a message that is not there with 400 "message to delete not found": it
counts as deleted. Bots may delete their messages for 48 hours only (in a channel, an admin
bot with the right to delete messages may also delete older ones, but that is not promised):
the refusal ("message can't be deleted") is permanent and says so. A deletion whose answer was
lost is retried (deleting twice is harmless).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import math
import re
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from bot.errors import BotError, ConfigError, PublishError
from bot.media import prepare_image
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import bool_option, checked_id, clamp_wait, never_sent, redact_error
from bot.textlen import extract_urls, length

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.telegram.org"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_SIDE = 5000  # width + height must not exceed 10,000
PHOTO_TYPES = ("image/jpeg", "image/png")

_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_MESSAGE_ID = re.compile(r"[1-9][0-9]{0,18}")
_CHANNEL = re.compile(r"@[A-Za-z][A-Za-z0-9_]{3,}")
_NUMERIC_CHAT = re.compile(r"-?\d+")
_RETRY_IN_TEXT = re.compile(r"retry after (\d+)", re.IGNORECASE)
# 400 answers of sendPhoto that are about the picture, not the text or the chat.
_PHOTO_PROBLEM = re.compile(
    r"photo|file|http url|web ?page|image|dimensions|wrong type", re.IGNORECASE
)
_ADMIN_HINT = (
    "add the bot to the channel as an administrator with the right to post messages "
    "(channel → Administrators → Add admin)"
)
_CREDENTIAL_HINT = (
    "check the account's credentials.bot_token (from @BotFather; /revoke replaces it) "
    "and its api_base"
)


class TelegramPublisher:
    """Posts to one Telegram channel (or group) as a bot."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="telegram",
        max_length=MESSAGE_LIMIT,
        counting="utf16",
        url_length=None,
        in_doubt=InDoubt.HOLD,
        supports_images=True,
        can_delete=True,  # within 48 hours of posting
    )
    photo_spec: ClassVar[PlatformSpec] = dataclasses.replace(spec, max_length=CAPTION_LIMIT)

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
        self._token = account.credential("bot_token")
        if _TOKEN.fullmatch(self._token) is None:
            raise ConfigError(
                f"accounts.{account.id}.credentials.bot_token does not look like a bot token "
                "from @BotFather (digits, a colon, then letters, digits, - and _)"
            )
        self.chat_id = _chat_id(account)
        self.photo = bool_option(account, "photo", default=False, words=True)
        self.link_preview = bool_option(account, "link_preview", default=True, words=True)
        self.disable_notification = bool_option(
            account, "disable_notification", default=False, words=True
        )
        self._session = requests.Session()

    def live_spec(self) -> PlatformSpec:
        """The account's limits: a photo caption holds 1,024 characters, a message 4,096."""
        return self.photo_spec if self.photo else self.spec

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Send ``post`` to the channel. ``idempotency_key`` is only logged (Telegram has none)."""
        message: dict[str, Any] | None = None
        if self.photo and post.image is not None:
            if length(post.text, "utf16") > CAPTION_LIMIT:
                log.warning(
                    "telegram: account %s sends %s as a message: its text is over the %d "
                    "characters of a caption [%s]",
                    self.account_id,
                    post.url,
                    CAPTION_LIMIT,
                    idempotency_key,
                )
            else:
                message = self._send_photo(post, idempotency_key)
        if message is None:
            message = self._call("sendMessage", json=self._message_params(post))
        message_id = message.get("message_id")
        if not isinstance(message_id, int):
            raise PublishError(
                "Telegram answered without a message_id; the message may have been posted "
                "(check the channel before retrying it)",
                platform="telegram",
                retryable=False,
            )
        url = self._message_url(message, message_id)
        log.info(
            "telegram: account %s posted message %d for %s [%s]",
            self.account_id,
            message_id,
            post.url,
            idempotency_key,
        )
        return PublishResult(remote_id=str(message_id), url=url)

    def delete(self, remote_id: str) -> None:
        """``deleteMessage``; a message that is already gone counts as deleted."""
        message_id = checked_id(
            remote_id, _MESSAGE_ID, platform="telegram", what="a Telegram message id"
        )
        params = {"chat_id": self.chat_id, "message_id": int(message_id)}
        try:
            response = self._session.post(
                f"{self.api_base}/bot{self._token}/deleteMessage",
                json=params,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            what = type(exc).__name__
            raise self._redact(
                PublishError(
                    f"Telegram did not answer the deletion ({what})",
                    platform="telegram",
                    retryable=True,
                )
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code == 200 and answer.get("ok") is True:
            log.info("telegram: account %s deleted message %s", self.account_id, message_id)
            return
        said = str(answer.get("description") or "").lower()
        if "message to delete not found" in said:
            log.info(
                "telegram: account %s: message %s was already gone", self.account_id, message_id
            )
            return
        if "can't be deleted" in said:
            raise self._redact(
                PublishError(
                    f"Telegram refused to delete message {message_id} "
                    f"({answer.get('description')}): bots may delete their messages only "
                    "within 48 hours of posting them; delete it by hand in the channel",
                    platform="telegram",
                    retryable=False,
                    status=response.status_code,
                )
            )
        raise self._redact(_translate(response.status_code, answer, action="the deletion"))

    def close(self) -> None:
        self._session.close()

    # --- requests ---------------------------------------------------------------------------

    def _message_params(self, post: Post) -> dict[str, Any]:
        preview: dict[str, Any]
        if not self.link_preview:
            preview = {"is_disabled": True}
        elif post.url:
            preview = {"url": post.url, "prefer_large_media": True}
        else:
            preview = {"prefer_large_media": True}
        return {
            "chat_id": self.chat_id,
            "text": to_html(post.text),
            "parse_mode": "HTML",
            "link_preview_options": preview,
            "disable_notification": self.disable_notification,
        }

    def _send_photo(self, post: Post, idempotency_key: str) -> dict[str, Any] | None:
        """``sendPhoto`` with the article image; None when the message should go without it."""
        assert post.image is not None
        fields: dict[str, str] = {
            "chat_id": str(self.chat_id),
            "caption": to_html(post.text),
            "parse_mode": "HTML",
            "disable_notification": "true" if self.disable_notification else "false",
        }
        try:
            prepared = prepare_image(
                self.context.load_image(post.image.url),
                max_bytes=PHOTO_MAX_BYTES,
                max_side=PHOTO_MAX_SIDE,
                allowed=PHOTO_TYPES,
            )
        except BotError as exc:
            log.warning(
                "telegram: account %s: image %s of %s not usable here (%s); Telegram will "
                "fetch it [%s]",
                self.account_id,
                post.image.url,
                post.url,
                exc,
                idempotency_key,
            )
            kwargs: dict[str, Any] = {"data": fields | {"photo": post.image.url}}
        else:
            name = "image.png" if prepared.mime == "image/png" else "image.jpg"
            kwargs = {"data": fields, "files": {"photo": (name, prepared.data, prepared.mime)}}
        try:
            return self._call("sendPhoto", **kwargs)
        except PublishError as exc:
            said = str(exc)
            if exc.status != 400 or "parse entities" in said or not _PHOTO_PROBLEM.search(said):
                raise
            log.warning(
                "telegram: account %s sends %s without its image: %s [%s]",
                self.account_id,
                post.url,
                exc,
                idempotency_key,
            )
            return None

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """The ``result`` of Bot API ``method``; raises a scrubbed ``PublishError``."""
        try:
            response = self._session.post(
                f"{self.api_base}/bot{self._token}/{method}",
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise self._redact(_translate_network(exc)) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        result = answer.get("result")
        if response.status_code == 200 and answer.get("ok") is True:
            if isinstance(result, dict):
                return result
            raise PublishError(
                f"Telegram accepted {method} but its answer could not be read; the message may "
                "have been posted (check the channel before retrying it)",
                platform="telegram",
                retryable=False,
                status=200,
            )
        raise self._redact(_translate(response.status_code, answer))

    def _message_url(self, message: dict[str, Any], message_id: int) -> str | None:
        chat = message.get("chat")
        username = chat.get("username") if isinstance(chat, dict) else None
        if not isinstance(username, str) or not username:
            if isinstance(self.chat_id, str):
                username = self.chat_id.removeprefix("@")
            else:
                return None  # a private channel has no public link
        return f"https://t.me/{username}/{message_id}"

    def _redact(self, error: PublishError) -> PublishError:
        """``error`` without the token in its message (belt and braces: none is put there)."""
        return redact_error(error, (self._token,), min_length=1)


# --- text --------------------------------------------------------------------------------------


def to_html(text: str) -> str:
    """Plain ``text`` as Telegram HTML that shows exactly ``text``; URLs become links."""
    out: list[str] = []
    pos = 0
    for span in extract_urls(text, "utf16"):
        out.append(_escape(text[pos : span.start]))
        url = text[span.start : span.end]
        out.append(f'<a href="{html.escape(url, quote=True)}">{_escape(url)}</a>')
        pos = span.end
    out.append(_escape(text[pos:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- configuration -----------------------------------------------------------------------------


def _chat_id(account: AccountConfig) -> int | str:
    raw = account.options.get("chat_id")
    where = f"accounts.{account.id}.options.chat_id"
    if raw is None or raw == "":
        raise ConfigError(
            f"{where} is required for telegram (@channelname, or -100… for a private one)"
        )
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    value = str(raw).strip()
    if _NUMERIC_CHAT.fullmatch(value):
        return int(value)
    if _CHANNEL.fullmatch(value):
        return value
    if _CHANNEL.fullmatch("@" + value):
        return "@" + value
    raise ConfigError(f"{where} must be @channelname or a numeric chat id, not {raw!r}")


# --- Telegram's answers ------------------------------------------------------------------------


def _translate(status: int, answer: dict[str, Any], *, action: str = "the message") -> PublishError:
    """Map a Bot API error answer (``{"ok": false, "error_code", "description", ...}``);
    ``action`` names what a refusal refused."""
    code = answer.get("error_code")
    if isinstance(code, int) and not isinstance(code, bool):
        status = code  # the HTTP status, except when a proxy answered for Telegram
    said = str(answer.get("description") or f"HTTP {status}")
    parameters = answer.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}

    if status == 429:
        wait = parameters.get("retry_after")
        if not isinstance(wait, int | float) or isinstance(wait, bool):
            m = _RETRY_IN_TEXT.search(said)
            wait = float(m.group(1)) if m else None
        return PublishError(
            f"Telegram flood limit ({said})",
            platform="telegram",
            retryable=True,
            # Telegram's own wait, not capped: a flood wait is as long as Telegram says.
            retry_after=clamp_wait(float(wait), high=math.inf) if wait is not None else None,
            status=status,
        )
    if status >= 500:
        return PublishError(
            f"Telegram server error ({status}: {said})",
            platform="telegram",
            retryable=True,
            status=status,
        )
    if status in (401, 404):
        return PublishError(
            f"Telegram refused the bot token ({status}: {said}); {_CREDENTIAL_HINT}",
            platform="telegram",
            retryable=False,
            status=status,
        )
    if status == 403 or "rights" in said.lower() or "not a member" in said.lower():
        return PublishError(
            f"Telegram refused the bot in this chat ({status}: {said}); {_ADMIN_HINT}",
            platform="telegram",
            retryable=False,
            status=status,
        )
    migrate = parameters.get("migrate_to_chat_id")
    if isinstance(migrate, int):
        said = f"{said}; set options.chat_id to {migrate}"
    return PublishError(
        f"Telegram refused {action} ({status}: {said})",
        platform="telegram",
        retryable=False,
        status=status,
    )


def _translate_network(exc: requests.RequestException) -> PublishError:
    """No usable answer. Never quotes ``exc``: requests' messages contain the URL (the token)."""
    what = type(exc).__name__
    if never_sent(exc):
        return PublishError(f"cannot reach Telegram ({what})", platform="telegram", retryable=True)
    if isinstance(
        exc, requests.Timeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        return PublishError(
            f"Telegram did not answer ({what}) after the message was sent: it may have been "
            "posted, and Telegram has no duplicate check, so it is not retried automatically; "
            "check the channel, then `syndbot retry ID` if it is missing",
            platform="telegram",
            retryable=False,
        )
    return PublishError(f"Telegram request failed ({what})", platform="telegram", retryable=False)
