"""Webhooks: a Discord channel, a Slack channel, or any endpoint that takes JSON.

One publisher, ``options.kind`` chooses the payload and how answers are read::

    kind      request                                   success            remote_id
    discord   POST {url}?wait=true  {"content", "embeds"}  200 message object  the message id
    slack     POST {url}            {"text"[, "blocks"]}   200 "ok"            None
    json      POST {url}            options.template       any 2xx            options.id_field

The webhook URL (``credentials.url``) is a secret: whoever has a Discord or Slack webhook URL
can post to the channel. It never appears in a log line or an error: messages are built here
and never quote a ``requests`` exception (their text holds the URL); errors are raised with no
exception chained to them; and urllib3's own debug lines, which show the request path with the
token, pass through a filter that blanks every registered secret (the URL, its path, its long
path segments, header values). ``header_*`` options (``header_Authorization: Bearer …``) are
secrets too.

Answers. 2xx is a post. 429 is retryable after the platform's wait (Discord: ``retry_after`` in
the JSON body, in seconds; otherwise the ``Retry-After`` header, seconds or an HTTP date). 5xx
is retryable. Any other answer is permanent, with the platform's own message (Discord's
``message`` and field errors, Slack's error code such as ``invalid_payload`` or
``no_service``). Redirects are not followed (a POST must not be replayed elsewhere with its
headers); they are permanent errors too.

No webhook deduplicates, so ``in_doubt`` is HOLD, and a request that may have reached the
platform without an answer coming back (read timeout, connection dropped after sending) is a
permanent error telling the editor to look at the channel before ``syndbot retry``. A request
that provably never left (connection refused, connect timeout, DNS, TLS) is retryable.

Lengths depend on the kind (Discord 2,000, Slack 40,000, JSON 100,000 code points), and so
does deleting (below), so the class ``spec`` is the strictest kind's (Discord's length, no
deletion) and ``live_spec()`` (no I/O) returns the kind's.

Deleting (``on_unpublish: delete``). Discord: ``DELETE {url}/messages/{message id}`` (the
webhook's own token authorises it; a ``thread_id`` in the URL is kept), answered 204; a message
that is already gone is 404 ``Unknown Message`` (code 10008), which counts as deleted, while
404 ``Unknown Webhook`` (10015) means the webhook itself is gone (permanent). A deletion whose
answer was lost is retried: deleting twice is harmless. Slack incoming webhooks return no
message id and offer no way to delete (that needs a bot token and ``chat.delete``), and a JSON
endpoint has no agreed deletion: ``live_spec().can_delete`` is false for both, and ``delete``
refuses with a permanent error.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import requests

from bot import __version__
from bot.errors import ConfigError, PublishError
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import (
    bool_option,
    checked_id,
    clamp_wait,
    http_date,
    never_sent,
    number,
    redact_error,
    scrub,
)

if TYPE_CHECKING:
    from bot.config import AccountConfig

__all__ = [
    "DISCORD_SPEC",
    "JSON_SPEC",
    "KINDS",
    "PLACEHOLDERS",
    "SLACK_SPEC",
    "STRICTEST_SPEC",
    "WebhookPublisher",
    "discord_payload",
    "parse_template",
    "render_template",
    "slack_payload",
]

log = logging.getLogger(__name__)

Kind = Literal["discord", "slack", "json"]
KINDS: tuple[Kind, ...] = ("discord", "slack", "json")
_NAMES: Mapping[Kind, str] = {"discord": "Discord", "slack": "Slack", "json": "JSON"}

DISCORD_SPEC = PlatformSpec(
    name="webhook",
    max_length=2000,
    counting="codepoints",
    url_length=None,
    in_doubt=InDoubt.HOLD,
    supports_images=True,
    can_delete=True,
)
SLACK_SPEC = dataclasses.replace(DISCORD_SPEC, max_length=40_000, can_delete=False)
JSON_SPEC = dataclasses.replace(DISCORD_SPEC, max_length=100_000, can_delete=False)
# The class spec, for callers without an account's kind: the strictest kind's in every respect.
STRICTEST_SPEC = dataclasses.replace(DISCORD_SPEC, can_delete=False)
_SPECS: Mapping[Kind, PlatformSpec] = {
    "discord": DISCORD_SPEC,
    "slack": SLACK_SPEC,
    "json": JSON_SPEC,
}

PLACEHOLDERS = ("text", "url", "title", "description", "language", "image")
DEFAULT_TEMPLATE = (
    '{"text": "{text}", "url": "{url}", "title": "{title}", "description": "{description}", '
    '"language": "{language}", "image": "{image}"}'
)
_OPTIONS: Mapping[Kind, frozenset[str]] = {
    "discord": frozenset({"kind", "embed", "username", "avatar_url"}),
    "slack": frozenset({"kind", "blocks"}),
    "json": frozenset({"kind", "template", "id_field"}),  # and header_<Name>
}
_HEADER_PREFIX = "header_"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\w*)\}")

# Discord's documented limits for a webhook message's parts.
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_USERNAME_MAX = 80
SLACK_SECTION_MAX = 3000  # a section block's text
SLACK_ALT_MAX = 2000  # an image element's alt_text

USER_AGENT = f"syndbot/{__version__} (+https://github.com/syndbot/syndbot)"
MAX_RETRY_AFTER = 24 * 3600.0
MAX_ANSWER_BYTES = 1_000_000  # of an answer's body that is read
_SHOWN_ANSWER = 200  # characters of an unexpected answer quoted in an error
_MAX_CONNECT_TIMEOUT = 10.0
_DISCORD_ID = re.compile(r"[0-9]{1,20}")  # a snowflake
DISCORD_UNKNOWN_MESSAGE = 10008


# --- secrets in third-party logs ---------------------------------------------------------------


class _SecretFilter(logging.Filter):
    """Blanks registered secrets in the records of the loggers it is attached to.

    urllib3 logs each request's path at DEBUG (``"POST /api/webhooks/ID/TOKEN?wait=true"``):
    for a webhook that path is the secret. Publishers register their secrets while open.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: collections.Counter[str] = collections.Counter()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(secrets)

    def discard(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.subtract(secrets)
            self._secrets = +self._secrets  # drop the ones no publisher holds any more

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args}"
        scrubbed = scrub(message, secrets, min_length=1)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_LOG_FILTER = _SecretFilter()
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


# --- options -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    """An account's webhook options, validated."""

    kind: Kind
    embed: bool = True
    username: str | None = None
    avatar_url: str | None = None
    blocks: bool = False
    template: Any = None  # the parsed JSON template (kind json)
    id_field: tuple[str, ...] = ()
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)  # secrets


def _settings(account: AccountConfig) -> _Settings:
    where = f"accounts.{account.id}.options"
    options = account.options
    kind = options.get("kind")
    if kind is None:
        raise ConfigError(f"{where}.kind is required for webhook: one of {', '.join(KINDS)}")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(KINDS)}, not {kind!r}")
    kind = _as_kind(str(kind))
    allowed = _OPTIONS[kind]
    unknown = sorted(
        name
        for name in options
        if name not in allowed and not (kind == "json" and name.startswith(_HEADER_PREFIX))
    )
    if unknown:
        extra = ", header_<Name>" if kind == "json" else ""
        raise ConfigError(
            f"{where}.{unknown[0]} is not an option of {kind} webhooks "
            f"(options: {', '.join(sorted(allowed))}{extra})"
        )

    def text(name: str) -> str | None:
        value = options.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{name} must be a non-empty string")
        return value.strip()

    embed = bool_option(account, "embed", default=True)
    blocks = bool_option(account, "blocks", default=False)

    username = text("username")
    if username is not None and len(username) > DISCORD_USERNAME_MAX:
        raise ConfigError(f"{where}.username must be at most {DISCORD_USERNAME_MAX} characters")
    avatar_url = text("avatar_url")
    if avatar_url is not None and not _is_http_url(avatar_url):
        raise ConfigError(f"{where}.avatar_url must be an http:// or https:// URL")

    template = None
    if kind == "json":
        template = parse_template(text("template") or DEFAULT_TEMPLATE, where=f"{where}.template")
    raw_id_field = text("id_field")
    id_field = tuple(raw_id_field.split(".")) if raw_id_field else ()
    if any(not part.strip() for part in id_field):
        raise ConfigError(f"{where}.id_field must be a field name or a dotted path like data.id")

    headers: dict[str, str] = {}
    for name, value in options.items():
        if not name.startswith(_HEADER_PREFIX):
            continue
        header = name.removeprefix(_HEADER_PREFIX)
        if not _HEADER_NAME.match(header):
            raise ConfigError(f"{where}.{name}: {header!r} is not a valid HTTP header name")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ConfigError(f"{where}.{name} must be a one-line string")
        headers[header] = value
    return _Settings(
        kind=kind,
        embed=embed,
        username=username,
        avatar_url=avatar_url,
        blocks=blocks,
        template=template,
        id_field=id_field,
        headers=headers,
    )


def _as_kind(value: str) -> Kind:
    for kind in KINDS:
        if kind == value:
            return kind
    raise ValueError(value)


def _webhook_url(account: AccountConfig) -> str:
    url = account.credential("url").strip()
    if not _is_http_url(url):
        # The value is a secret: the message says what is wrong, never what it is.
        raise ConfigError(
            f"accounts.{account.id}.credentials.url must be an http:// or https:// URL"
        )
    return url


def _is_http_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _secrets_of(url: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every string that would give the webhook away, longest first."""
    parts = urllib.parse.urlsplit(url)
    found = {url, url.rstrip("/")}
    if parts.path not in ("", "/"):
        found.add(parts.path)
        if parts.query:
            found.add(f"{parts.path}?{parts.query}")
    found.update(s for s in parts.path.split("/") if len(s) >= 16)  # tokens, ids
    found.update(v for _, v in urllib.parse.parse_qsl(parts.query) if len(v) >= 8)
    if parts.password:
        found.add(parts.password)
    found.update(v for v in headers.values() if len(v) >= 4)
    found.update(
        v.split(" ", 1)[1] for v in headers.values() if " " in v and len(v.split(" ", 1)[1]) >= 4
    )
    return tuple(sorted(found, key=len, reverse=True))


# --- payloads (pure) ---------------------------------------------------------------------------


def discord_payload(
    post: Post, *, embed: bool = True, username: str | None = None, avatar_url: str | None = None
) -> dict[str, Any]:
    """The JSON body of a Discord webhook message for ``post``.

    Mentions in the text never ping anyone (``allowed_mentions.parse`` is empty): an article
    title with ``@everyone`` stays text.
    """
    payload: dict[str, Any] = {"content": post.text, "allowed_mentions": {"parse": []}}
    if username:
        payload["username"] = username
    if avatar_url:
        payload["avatar_url"] = avatar_url
    image = post.image.url if post.image and _is_http_url(post.image.url) else None
    if embed and (post.title or post.description or image):
        card: dict[str, Any] = {"url": post.url}
        if post.title:
            card["title"] = _cut(post.title, DISCORD_TITLE_MAX)
        if post.description:
            card["description"] = _cut(post.description, DISCORD_DESCRIPTION_MAX)
        if image:
            card["image"] = {"url": image}
        payload["embeds"] = [card]
    return payload


def slack_payload(post: Post, *, blocks: bool = False) -> dict[str, Any]:
    """The JSON body of a Slack incoming-webhook message for ``post``.

    ``&``, ``<`` and ``>`` are escaped as Slack asks, so a title cannot form a link or a
    ``<!channel>`` mention. With ``blocks``, the text is a section and the article a second
    one (linked title, description, picture); ``text`` stays as the notification fallback.
    """
    text = _slack_escape(post.text)
    payload: dict[str, Any] = {"text": text}
    if not blocks:
        return payload
    sections: list[dict[str, Any]] = [_section(_cut(text, SLACK_SECTION_MAX))]
    if post.title:
        link = f"*<{_slack_link(post.url)}|{_slack_escape(_cut(post.title, 300))}>*"
        if post.description:
            room = SLACK_SECTION_MAX - len(link) - 1
            link += "\n" + _cut(_slack_escape(post.description), room)
        card = _section(link)
        if post.image and _is_http_url(post.image.url):
            card["accessory"] = {
                "type": "image",
                "image_url": post.image.url,
                "alt_text": _cut(post.image.alt or post.title, SLACK_ALT_MAX),
            }
        sections.append(card)
    payload["blocks"] = sections
    return payload


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str) -> str:
    """A URL inside ``<url|label>``: the two characters that would end it, percent-encoded."""
    return url.replace("|", "%7C").replace(">", "%3E")


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def parse_template(template: str, *, where: str = "template") -> Any:
    """A JSON template, parsed and checked: raises ``ConfigError`` naming ``where``.

    Placeholders (``{text} {url} {title} {description} {language} {image}``) go inside JSON
    strings; ``{{`` and ``}}`` are literal braces.
    """
    try:
        parsed = json.loads(template)
    except ValueError as exc:
        detail = (
            f"{exc.msg} at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else str(exc)
        )
        raise ConfigError(
            f"{where} is not valid JSON ({detail}); write it as JSON with the placeholders "
            'inside strings, like {"content": "{text}"}'
        ) from None
    for string in _strings(parsed):
        for match in _PLACEHOLDER.finditer(string):
            name = match.group(1)
            if name is not None and name not in PLACEHOLDERS:
                raise ConfigError(
                    f"{where}: unknown placeholder {{{name}}} "
                    f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}; "
                    "write {{ and }} for literal braces)"
                )
    return parsed


def render_template(template: Any, post: Post) -> Any:
    """``template`` (as ``parse_template`` returns it) with ``post``'s values filled in.

    The values are inserted into the parsed structure, so ``json.dumps`` escapes them (quotes,
    newlines, backslashes, any script). A string that is exactly one placeholder whose value
    is missing (``"{image}"`` without a picture, ``"{language}"`` unknown) becomes ``null``.
    """
    values: dict[str, str | None] = {
        "text": post.text,
        "url": post.url,
        "title": post.title,
        "description": post.description,
        "language": post.language,
        "image": post.image.url if post.image else None,
    }

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            whole = re.fullmatch(r"\{(\w+)\}", node)
            if whole and values.get(whole.group(1)) is None:
                return None
            return _PLACEHOLDER.sub(lambda m: _value(m, values), node)
        if isinstance(node, list):
            return [fill(item) for item in node]
        if isinstance(node, dict):
            return {fill(key) or "": fill(value) for key, value in node.items()}
        return node

    return fill(template)


def _value(match: re.Match[str], values: Mapping[str, str | None]) -> str:
    if match.group(0) == "{{":
        return "{"
    if match.group(0) == "}}":
        return "}"
    return values.get(match.group(1) or "") or ""


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)


# --- the publisher -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class WebhookPublisher:
    """Posts to one Discord, Slack or JSON webhook (``options.kind``)."""

    spec: ClassVar[PlatformSpec] = STRICTEST_SPEC

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
        self.settings = _settings(account)
        self.kind = self.settings.kind
        self._url = _webhook_url(account)
        self._secrets = _secrets_of(self._url, self.settings.headers)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        _LOG_FILTER.add(self._secrets)
        self._closed = False

    def __repr__(self) -> str:
        return f"WebhookPublisher(account={self.account_id!r}, kind={self.kind!r})"

    def live_spec(self) -> PlatformSpec:
        """The limits of this account's kind, and whether it can delete (no I/O)."""
        return _SPECS[self.kind]

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Send the message. Webhooks take no idempotency key: it is only logged."""
        url, body, headers = self._request(post)
        answer, error = self._send(url, body, headers)
        if error is not None:
            raise error  # raised here, outside any except block: nothing chained to it
        assert answer is not None
        read = {"discord": _discord_result, "slack": _slack_result, "json": self._json_result}
        outcome = read[self.kind](answer)
        if isinstance(outcome, PublishError):
            raise self._redact(outcome)
        log.info(
            "webhook: account %s (%s) posted %s for %s [%s]",
            self.account_id,
            self.kind,
            outcome.remote_id or "a message",
            post.url,
            idempotency_key,
        )
        return outcome

    def delete(self, remote_id: str) -> None:
        """Delete a Discord webhook message; one that is already gone counts as deleted.
        Slack and JSON webhooks cannot delete (``live_spec().can_delete`` is false)."""
        name = _NAMES[self.kind]
        if self.kind != "discord":
            raise PublishError(
                f"{name} webhooks cannot delete a message"
                + (
                    " (an incoming webhook returns no message id and has no delete call)"
                    if self.kind == "slack"
                    else " (a JSON endpoint has no agreed way to delete)"
                ),
                platform="webhook",
                retryable=False,
            )
        message_id = checked_id(
            remote_id, _DISCORD_ID, platform="webhook", what="a Discord message id"
        )
        answer, error = self._send(
            _message_url(self._url, message_id), b"", {}, method="DELETE", deleting=True
        )
        if error is not None:
            raise error  # raised here, outside any except block: nothing chained to it
        assert answer is not None
        if 200 <= answer.status < 300:
            log.info(
                "webhook: account %s (discord) deleted message %s", self.account_id, message_id
            )
            return
        body = answer.json()
        if (
            answer.status == 404
            and isinstance(body, dict)
            and body.get("code") == DISCORD_UNKNOWN_MESSAGE
        ):
            log.info(
                "webhook: account %s (discord): message %s was already gone",
                self.account_id,
                message_id,
            )
            return
        outcome = _discord_result(answer, action="the deletion")
        assert isinstance(outcome, PublishError)  # not a 2xx
        raise self._redact(outcome)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._session.close()
            _LOG_FILTER.discard(self._secrets)

    # --- requests -----------------------------------------------------------------------------

    def _request(self, post: Post) -> tuple[str, bytes, dict[str, str]]:
        s = self.settings
        headers = {"Content-Type": "application/json; charset=utf-8"}
        url = self._url
        if s.kind == "discord":
            payload = discord_payload(
                post, embed=s.embed, username=s.username, avatar_url=s.avatar_url
            )
            url = _with_query(url, wait="true")
        elif s.kind == "slack":
            payload = slack_payload(post, blocks=s.blocks)
        else:
            payload = render_template(s.template, post)
            headers.update(s.headers)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return url, body, headers

    def _send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        method: str = "POST",
        deleting: bool = False,
    ) -> tuple[_Answer | None, PublishError | None]:
        timeout = (min(self.timeout, _MAX_CONNECT_TIMEOUT), self.timeout)
        try:
            with self._session.request(
                method,
                url,
                data=body or None,
                headers=dict(headers),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                data = _read_capped(response, MAX_ANSWER_BYTES)
                return _Answer(response.status_code, dict(response.headers), data), None
        except requests.RequestException as exc:
            return None, self._redact(self._transport_error(exc, deleting=deleting))

    def _transport_error(
        self, exc: requests.RequestException, *, deleting: bool = False
    ) -> PublishError:
        """What a failed request means; never quotes ``exc`` (its text holds the URL)."""
        name = f"{_NAMES[self.kind]} webhook"
        what = type(exc).__name__
        if deleting:  # deleting twice is harmless: whatever happened, try again
            return PublishError(
                f"the {name} did not answer the deletion ({what})",
                platform="webhook",
                retryable=True,
            )
        if never_sent(exc, tls=True):
            return PublishError(
                f"cannot reach the {name} ({what}); nothing was sent",
                platform="webhook",
                retryable=True,
            )
        if isinstance(exc, requests.ConnectionError | requests.Timeout | requests.HTTPError):
            return PublishError(
                f"the {name} did not answer ({what}) after the message was sent: it may have "
                "been posted. Check the channel; if it is not there, `syndbot retry` sends it "
                "again",
                platform="webhook",
                retryable=False,
            )
        return PublishError(
            f"the request to the {name} could not be made ({what})",
            platform="webhook",
            retryable=False,
        )

    def _redact(self, error: PublishError) -> PublishError:
        return redact_error(error, self._secrets, min_length=1)

    # --- answers ------------------------------------------------------------------------------

    def _json_result(self, answer: _Answer) -> PublishResult | PublishError:
        if not 200 <= answer.status < 300:
            return _http_error("JSON", answer, _snippet(answer.text()))
        remote_id = None
        if self.settings.id_field:
            value = _field(answer.json(), self.settings.id_field)
            if isinstance(value, str | int) and not isinstance(value, bool):
                remote_id = str(value)
            else:
                log.warning(
                    "webhook: account %s: the answer has no %s; recorded without an id",
                    self.account_id,
                    ".".join(self.settings.id_field),
                )
        return PublishResult(remote_id=remote_id, url=None)


def _discord_result(
    answer: _Answer, *, action: str = "the message"
) -> PublishResult | PublishError:
    body = answer.json()
    if 200 <= answer.status < 300:
        message_id = body.get("id") if isinstance(body, dict) else None
        # A message has no public URL without its server's id, which a webhook is not told.
        return PublishResult(remote_id=str(message_id) if message_id else None, url=None)
    said = _snippet(answer.text())
    if isinstance(body, dict) and body.get("message"):
        said = str(body["message"])
        if body.get("code"):
            said += f" (code {body['code']})"
        if details := _discord_errors(body.get("errors")):
            said += f": {details}"
        if answer.status == 429 and body.get("global"):
            said += "; global limit"
    retry_after = None
    if answer.status == 429 and isinstance(body, dict):
        retry_after = _seconds(body.get("retry_after"))
    hint = ""
    if answer.status in (401, 404):
        hint = (
            "; the webhook was deleted or its URL is wrong: create one in the channel's "
            "Integrations settings and update credentials.url"
        )
    return _http_error("Discord", answer, said + hint, retry_after=retry_after, action=action)


def _discord_errors(errors: Any, path: str = "") -> str:
    """Discord's nested field errors, flattened: ``content: Must be 2000 or fewer in length.``"""
    if not isinstance(errors, dict):
        return ""
    found: list[str] = []
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            found += [f"{path or 'body'}: {e.get('message')}" for e in value if isinstance(e, dict)]
        elif isinstance(value, dict) and (
            nested := _discord_errors(value, f"{path}.{key}" if path else str(key))
        ):
            found.append(nested)
    return "; ".join(found)


_SLACK_HINTS = {
    "no_service": "the webhook was removed; create a new one and update credentials.url",
    "invalid_token": "the webhook was revoked; create a new one and update credentials.url",
    "channel_not_found": "its channel no longer exists",
    "channel_is_archived": "its channel is archived",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
}


def _slack_result(answer: _Answer) -> PublishResult | PublishError:
    if 200 <= answer.status < 300:
        return PublishResult(remote_id=None, url=None)  # Slack answers "ok", with no id
    code = _snippet(answer.text())
    hint = _SLACK_HINTS.get(code)
    return _http_error("Slack", answer, f"{code}; {hint}" if hint else code)


def _http_error(
    name: str,
    answer: _Answer,
    said: str,
    *,
    retry_after: float | None = None,
    action: str = "the message",
) -> PublishError:
    status = answer.status
    said = said or "no message"
    if status == 429:
        wait = retry_after if retry_after is not None else _retry_after_header(answer.headers)
        when = f"; retry in {wait:.1f} s" if wait is not None else ""
        return PublishError(
            f"{name} webhook rate limit reached ({said}){when}",
            platform="webhook",
            retryable=True,
            retry_after=clamp_wait(wait, high=MAX_RETRY_AFTER) if wait is not None else None,
            status=status,
        )
    if status >= 500:
        return PublishError(
            f"{name} webhook server error ({status}: {said})",
            platform="webhook",
            retryable=True,
            status=status,
        )
    if 300 <= status < 400:
        return PublishError(
            f"the {name} webhook answered with a redirect ({status}); not followed: put the "
            "current webhook URL in credentials.url",
            platform="webhook",
            retryable=False,
            status=status,
        )
    return PublishError(
        f"{name} webhook refused {action} ({status}: {said})",
        platform="webhook",
        retryable=False,
        status=status,
    )


# --- helpers -----------------------------------------------------------------------------------


def _read_capped(response: requests.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _message_url(url: str, message_id: str) -> str:
    """A Discord webhook URL's message URL: ``…/messages/{id}``, its ``thread_id`` kept."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k == "thread_id"]
    path = f"{parts.path.rstrip('/')}/messages/{message_id}"
    return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(query)))


def _with_query(url: str, **params: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k not in params]
    query += list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _field(body: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_ANSWER else text[: _SHOWN_ANSWER - 1] + "…"


def _seconds(value: object) -> float | None:
    """A wait in seconds: a finite number, not negative (``Retry-After``'s delay-seconds)."""
    seconds = number(value)
    return seconds if seconds is not None and seconds >= 0 else None


def _retry_after_header(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110 §10.2.3)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    when = http_date(value)
    return None if when is None else max(when - now(), 0.0)
