"""One local server that plays a Discord webhook, a Slack incoming webhook and a JSON receiver.

In a test::

    with FakeWebhooks() as fake:                 # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="discord-news", platform="webhook",
                                credentials={"url": fake.discord_url},
                                options={"kind": "discord"})
        ...
        fake.rate_limit_next("discord")          # scripted answers, per kind, used in order
        assert [m.body["content"] for m in fake.messages] == [...]

Discord (``POST /api/webhooks/{id}/{token}``), modelled on Discord's "Execute Webhook" docs:

- an unknown id gets 404 ``{"message": "Unknown Webhook", "code": 10015}`` (also after
  ``delete_discord_webhook()``); a wrong token 401 ``{"message": "Invalid Webhook Token",
  "code": 50027}``;
- the body must be JSON (else 400 code 50109); no content and no embeds is 400 "Cannot send an
  empty message" (50006); ``content`` over 2,000 characters, an embed title over 256 or
  description over 4,096, more than 10 embeds or over 6,000 embed characters in all, an embed
  or image URL that is not http(s), a ``username`` over 80 characters or containing "discord"
  or "clyde", or unknown ``allowed_mentions.parse`` values are 400 "Invalid Form Body" (50035)
  with Discord's nested ``errors`` object;
- ``?wait=true`` answers 200 with the message object (``id``, ``channel_id``, ``webhook_id``,
  ``content``, ``embeds``, ``author``…), without it 204;
- ``rate_limit_next("discord")`` answers 429 ``{"message": "You are being rate limited.",
  "retry_after": 1.5, "global": false}`` with ``Retry-After`` and ``X-RateLimit-*`` headers.
- ``DELETE /api/webhooks/{id}/{token}/messages/{message_id}`` ("Delete Webhook Message"), with
  the same id and token checks: a message this webhook sent leaves ``messages`` for
  ``deleted`` and is answered 204; any other id (never sent, deleted already) is 404
  ``{"message": "Unknown Message", "code": 10008}``. ``fail_next_delete`` scripts its answers.
  Slack and JSON paths answer a DELETE with 405.

Slack (``POST /services/{team}/{bot}/{token}``), modelled on Slack's incoming-webhook error
table: answers are ``text/plain``: ``ok``; 400 ``invalid_payload`` (not JSON), ``no_text`` (no
text and no blocks), ``invalid_blocks`` (a block without a type or a section over 3,000
characters); 403 ``invalid_token``; 404 ``no_service`` (unknown team/bot);
``rate_limit_next("slack")`` gives 429 ``rate_limited`` with ``Retry-After``.

JSON (``POST /hooks/...``): any JSON body is recorded and answered ``json_status`` with
``json_answer`` (default 200 ``{"id": "evt-N", "ok": true}``); ``required_headers`` must all
be present with their values, else 401; a body that is not JSON gets 400.

``messages`` lists what each kind accepted (``FakeMessage``: kind, path, query, headers, body);
``requests`` lists every request with its answer (paths include the secret tokens: test data).
"""

from __future__ import annotations

import contextlib
import http
import json
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.server import FakeHandler, LocalServer

Kind = Literal["discord", "slack", "json"]

DISCORD_WEBHOOK_ID = "1300000000000000001"
DISCORD_TOKEN = "fakeDiscordWebhookToken_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
DISCORD_CHANNEL_ID = "1200000000000000002"
SLACK_TEAM = "T0FAKE0001"
SLACK_BOT = "B0FAKE0001"
SLACK_TOKEN = "fakeSlackToken0123456789"
JSON_PATH = "/hooks/newsroom"

DISCORD_EPOCH_MS = 1420070400000
DISCORD_CONTENT_MAX = 2000
DISCORD_RATE_LIMITED = {
    "message": "You are being rate limited.",
    "retry_after": 1.5,
    "global": False,
}


def discord_form_error(errors: dict[str, Any]) -> dict[str, Any]:
    """Discord's 400 for a body it cannot accept (``errors`` is its nested field tree)."""
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def _field_error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


@dataclass(frozen=True, slots=True)
class FakeMessage:
    """A message a webhook accepted."""

    kind: Kind
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FakeRequest:
    kind: Kind | None
    method: str
    path: str
    status: int | None
    note: str = ""


@dataclass(slots=True)
class _Script:
    status: int | None = None  # None: handle as usual (with ``slow``: accept, then answer late)
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    slow: float = 0.0
    note: str = ""


class FakeWebhooks(LocalServer):
    """Discord, Slack and JSON webhooks on ``host``:``port`` (0: any free port), in a thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        json_status: int = 200,
        json_answer: Any = None,
        required_headers: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.json_status = json_status
        self.json_answer = json_answer
        self.required_headers = dict(required_headers or {})
        self.discord_deleted = False
        self._lock = threading.Lock()
        self._scripts: dict[Kind, deque[_Script]] = {
            "discord": deque(),
            "slack": deque(),
            "json": deque(),
        }
        self._messages: list[FakeMessage] = []
        self._deleted: list[FakeMessage] = []
        self._delete_scripts: deque[_Script] = deque()
        self._requests: list[FakeRequest] = []
        self._last_id = 0
        self._init_server()

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    # --- addresses ------------------------------------------------------------------------

    @property
    def discord_url(self) -> str:
        """The webhook URL Discord shows (a secret: it holds the token)."""
        return f"{self.url}/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_TOKEN}"

    @property
    def slack_url(self) -> str:
        """The incoming-webhook URL Slack shows (a secret)."""
        return f"{self.url}/services/{SLACK_TEAM}/{SLACK_BOT}/{SLACK_TOKEN}"

    @property
    def json_url(self) -> str:
        return f"{self.url}{JSON_PATH}"

    # --- faults ---------------------------------------------------------------------------

    def fail_next(
        self,
        kind: Kind,
        n: int = 1,
        *,
        status: int = 503,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` requests to ``kind`` get ``status``; ``body`` is JSON (a dict or
        list) or text (a str, sent ``text/plain``); by default the kind's usual error body."""
        if body is None:
            body = _default_error(kind, status)
        if isinstance(body, str):
            data, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(body).encode(), "application/json"
        script = _Script(status, data, content_type, dict(headers or {}), note="fail")
        with self._lock:
            self._scripts[kind].extend([script] * n)

    def rate_limit_next(
        self,
        kind: Kind,
        n: int = 1,
        *,
        retry_after: float = 1.5,
        in_body: bool = True,
    ) -> None:
        """The next ``n`` requests to ``kind`` get 429 as that platform sends it.

        Discord: ``retry_after`` in the JSON body (unless ``in_body=False``) and the
        ``Retry-After`` header (whole seconds, rounded up); Slack and JSON: the header.
        """
        header = str(max(int(-(-retry_after // 1)), 1))
        headers = {"Retry-After": header}
        if kind == "discord":
            headers |= {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Bucket": "fakebucket",
                "X-RateLimit-Scope": "user",
            }
            body: Any = (
                dict(DISCORD_RATE_LIMITED, retry_after=retry_after)
                if in_body
                else {"message": "You are being rate limited.", "global": False}
            )
        elif kind == "slack":
            body = "rate_limited"
        else:
            body = {"error": "rate limited"}
        self.fail_next(kind, n, status=429, body=body, headers=headers)

    def fail_next_delete(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` Discord message deletions get ``status`` (JSON ``body``, by default
        Discord's usual error body)."""
        data = json.dumps(body if body is not None else _default_error("discord", status))
        script = _Script(
            status, data.encode(), "application/json", dict(headers or {}), note="fail"
        )
        with self._lock:
            self._delete_scripts.extend([script] * n)

    def slow_next(self, kind: Kind, seconds: float) -> None:
        """The next request to ``kind`` is accepted (recorded), then answered ``seconds`` late."""
        with self._lock:
            self._scripts[kind].append(_Script(slow=seconds, note="slow"))

    def delete_discord_webhook(self) -> None:
        """Someone deleted the webhook in Discord: every request gets 404 Unknown Webhook."""
        self.discord_deleted = True

    # --- records --------------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def deleted(self) -> list[FakeMessage]:
        """Deleted messages, in the order of deletion."""
        with self._lock:
            return list(self._deleted)

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    def _next_id(self) -> str:
        with self._lock:
            snowflake = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last_id = max(snowflake, self._last_id + 1)
            return str(self._last_id)

    def _take_script(self, kind: Kind) -> _Script | None:
        with self._lock:
            return self._scripts[kind].popleft() if self._scripts[kind] else None

    def _accept(self, message: FakeMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _default_error(kind: Kind, status: int) -> Any:
    phrase = http.HTTPStatus(status).phrase
    if kind == "discord":
        return {"message": phrase, "code": 0}
    if kind == "slack":
        return phrase.lower().replace(" ", "_")
    return {"error": phrase}


class _Handler(FakeHandler[FakeWebhooks]):
    server_version = "fake-webhooks"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        self.kind: Kind | None = _kind_of(parts.path)
        self.query = dict(urllib.parse.parse_qsl(parts.query))
        if self.kind is None:
            self._answer(404, b"not found", "text/plain", note="unknown path")
            return
        if "/messages/" in parts.path:  # a message of a webhook takes DELETE (and PATCH) only
            self._answer(405, b"method not allowed", "text/plain", note="POST to a message")
            return
        script = self.fake._take_script(self.kind)
        if script is not None and script.status is not None:
            self._answer(
                script.status, script.body, script.content_type, script.headers, note=script.note
            )
            return
        self.slow = script.slow if script is not None else 0.0
        handle = {"discord": self._discord, "slack": self._slack, "json": self._json}
        handle[self.kind](parts.path, raw)

    def do_GET(self) -> None:
        self._answer(405, b"method not allowed", "text/plain", note="GET")

    def do_DELETE(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        parts = urllib.parse.urlsplit(self.path)
        self.kind = _kind_of(parts.path)
        segments = parts.path.strip("/").split("/")
        if self.kind != "discord" or len(segments) != 6:
            self._answer(405, b"method not allowed", "text/plain", note="DELETE")
            return
        fake = self.fake
        _, _, webhook_id, token, _, message_id = segments
        if webhook_id != DISCORD_WEBHOOK_ID or fake.discord_deleted:
            self._json_answer(404, {"message": "Unknown Webhook", "code": 10015}, note="unknown")
            return
        if token != DISCORD_TOKEN:
            body = {"message": "Invalid Webhook Token", "code": 50027}
            self._json_answer(401, body, note="bad token")
            return
        with fake._lock:
            script = fake._delete_scripts.popleft() if fake._delete_scripts else None
        if script is not None and script.status is not None:
            self._answer(
                script.status, script.body, script.content_type, script.headers, note=script.note
            )
            return
        with fake._lock:
            found = next(
                (m for m in fake._messages if m.kind == "discord" and m.id == message_id), None
            )
            if found is not None:
                fake._messages.remove(found)
                fake._deleted.append(found)
        if found is None:
            body = {"message": "Unknown Message", "code": 10008}
            self._json_answer(404, body, note="unknown message")
            return
        self._answer(204, b"", "", note="deleted")

    # --- answers --------------------------------------------------------------------------

    def _answer(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        note: str = "",
    ) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.fake._record(FakeRequest(self.kind, self.command, path, status, note))
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if status != 204:
            with contextlib.suppress(OSError):
                self.wfile.write(body)
                self.wfile.flush()

    def _json_answer(
        self, status: int, body: Any, headers: dict[str, str] | None = None, note: str = ""
    ) -> None:
        self._answer(status, json.dumps(body).encode(), "application/json", headers, note)

    def _accepted(self, message: FakeMessage) -> bool:
        """Record ``message``; then wait if scripted to; False when the fake stopped."""
        self.fake._accept(message)
        if self.slow and self.fake._stopping.wait(self.slow):
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return False
        return True

    def _message(self, path: str, body: Any, raw: bytes, message_id: str | None) -> FakeMessage:
        assert self.kind is not None
        headers = {k: v for k, v in self.headers.items()}
        return FakeMessage(self.kind, path, self.query, headers, body, raw, message_id)

    # --- Discord --------------------------------------------------------------------------

    def _discord(self, path: str, raw: bytes) -> None:
        _, _, webhook_id, token = path.strip("/").split("/", 3)
        if webhook_id != DISCORD_WEBHOOK_ID or self.fake.discord_deleted:
            self._json_answer(404, {"message": "Unknown Webhook", "code": 10015}, note="unknown")
            return
        if token != DISCORD_TOKEN:
            body = {"message": "Invalid Webhook Token", "code": 50027}
            self._json_answer(401, body, note="bad token")
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            body = {"message": "Cannot send an empty message", "code": 50006}
            self._json_answer(400, body, note="not json")
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            body = {"message": "The request body contains invalid JSON.", "code": 50109}
            self._json_answer(400, body, note="invalid json")
            return
        if not isinstance(payload, dict):
            self._json_answer(400, discord_form_error({}), note="not an object")
            return
        errors = _discord_errors(payload)
        if errors:
            self._json_answer(400, discord_form_error(errors), note=", ".join(errors))
            return
        if not payload.get("content") and not payload.get("embeds"):
            body = {"message": "Cannot send an empty message", "code": 50006}
            self._json_answer(400, body, note="empty")
            return
        message_id = self.fake._next_id()
        if not self._accepted(self._message(path, payload, raw, message_id)):
            return
        if self.query.get("wait", "").lower() != "true":
            self._answer(204, b"", "", note="no wait")
            return
        self._json_answer(200, _discord_message(message_id, payload))

    # --- Slack ----------------------------------------------------------------------------

    def _slack(self, path: str, raw: bytes) -> None:
        _, team, bot, token = path.strip("/").split("/", 3)

        def text_answer(status: int, text: str, note: str = "") -> None:
            self._answer(status, text.encode(), "text/plain; charset=utf-8", note=note or text)

        if (team, bot) != (SLACK_TEAM, SLACK_BOT):
            text_answer(404, "no_service")
            return
        if token != SLACK_TOKEN:
            text_answer(403, "invalid_token")
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            text_answer(400, "invalid_payload")
            return
        if not isinstance(payload, dict):
            text_answer(400, "invalid_payload")
            return
        blocks = payload.get("blocks")
        if not payload.get("text") and not blocks:
            text_answer(400, "no_text")
            return
        if blocks is not None and not _slack_blocks_ok(blocks):
            text_answer(400, "invalid_blocks")
            return
        if not self._accepted(self._message(path, payload, raw, None)):
            return
        text_answer(200, "ok")

    # --- JSON -----------------------------------------------------------------------------

    def _json(self, path: str, raw: bytes) -> None:
        fake = self.fake
        for name, value in fake.required_headers.items():
            if self.headers.get(name) != value:
                self._json_answer(401, {"error": "unauthorized"}, note=f"header {name}")
                return
        try:
            payload = json.loads(raw)
        except ValueError:
            self._json_answer(400, {"error": "invalid json"}, note="invalid json")
            return
        message_id = f"evt-{len(fake.messages) + 1}"
        if not self._accepted(self._message(path, payload, raw, message_id)):
            return
        answer = (
            fake.json_answer if fake.json_answer is not None else {"id": message_id, "ok": True}
        )
        self._json_answer(fake.json_status, answer)


def _kind_of(path: str) -> Kind | None:
    segments = path.strip("/").split("/")
    if len(segments) == 4 and segments[:2] == ["api", "webhooks"]:
        return "discord"
    if len(segments) == 6 and segments[:2] == ["api", "webhooks"] and segments[4] == "messages":
        return "discord"
    if len(segments) == 4 and segments[0] == "services":
        return "slack"
    if path == JSON_PATH or path.startswith("/hooks/"):
        return "json"
    return None


def _discord_errors(payload: dict[str, Any]) -> dict[str, Any]:
    """Discord's nested field errors for ``payload`` (empty when it is acceptable)."""
    errors: dict[str, Any] = {}
    content = payload.get("content")
    if content is not None and not isinstance(content, str):
        errors["content"] = _field_error("STRING_TYPE_CONVERT", "Could not interpret as string.")
    elif isinstance(content, str) and len(content) > DISCORD_CONTENT_MAX:
        errors["content"] = _field_error(
            "BASE_TYPE_MAX_LENGTH", f"Must be {DISCORD_CONTENT_MAX} or fewer in length."
        )
    username = payload.get("username")
    if username is not None:
        if not isinstance(username, str) or not 1 <= len(username) <= 80:
            errors["username"] = _field_error(
                "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length."
            )
        elif any(word in username.lower() for word in ("discord", "clyde")):
            errors["username"] = _field_error(
                "USERNAME_INVALID_CONTAINS", 'Username cannot contain "discord"'
            )
    mentions = payload.get("allowed_mentions")
    if mentions is not None:
        parse = mentions.get("parse", []) if isinstance(mentions, dict) else None
        if not isinstance(parse, list) or not set(parse) <= {"roles", "users", "everyone"}:
            errors["allowed_mentions"] = _field_error("ENUM_TYPE_COERCE", "Not a valid value.")
    embeds = payload.get("embeds")
    if embeds is not None:
        if not isinstance(embeds, list) or len(embeds) > 10:
            errors["embeds"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
            return errors
        total = 0
        for i, embed in enumerate(embeds):
            problems = _embed_errors(embed)
            if problems:
                errors.setdefault("embeds", {})[str(i)] = problems
            if isinstance(embed, dict):
                total += sum(len(str(embed.get(k) or "")) for k in ("title", "description"))
        if total > 6000:
            errors.setdefault("embeds", {}).update(
                _field_error("BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000")
            )
    return errors


def _embed_errors(embed: Any) -> dict[str, Any]:
    if not isinstance(embed, dict):
        return _field_error("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    problems: dict[str, Any] = {}
    for name, limit in (("title", 256), ("description", 4096)):
        value = embed.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            problems[name] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
            )
    if "url" in embed and not _http_url(embed["url"]):
        problems["url"] = _field_error("URL_TYPE_INVALID_URL", "Not a well formed URL.")
    image = embed.get("image")
    if image is not None and not (isinstance(image, dict) and _http_url(image.get("url"))):
        problems["image"] = {"url": _field_error("URL_TYPE_INVALID_URL", "Not a well formed URL.")}
    return problems


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _discord_message(message_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": 0,
        "content": payload.get("content", ""),
        "channel_id": DISCORD_CHANNEL_ID,
        "author": {
            "id": DISCORD_WEBHOOK_ID,
            "username": payload.get("username", "Newsroom"),
            "avatar": None,
            "discriminator": "0000",
            "bot": True,
        },
        "attachments": [],
        "embeds": [dict(e, type="rich") for e in payload.get("embeds", [])],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime()),
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
        "webhook_id": DISCORD_WEBHOOK_ID,
    }


def _slack_blocks_ok(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return False
        text = block.get("text")
        if block["type"] == "section":
            if not isinstance(text, dict) or not isinstance(text.get("text"), str):
                return False
            if len(text["text"]) > 3000 or text.get("type") not in ("mrkdwn", "plain_text"):
                return False
            accessory = block.get("accessory")
            if accessory is not None and not (
                isinstance(accessory, dict)
                and _http_url(accessory.get("image_url"))
                and isinstance(accessory.get("alt_text"), str)
            ):
                return False
    return True
