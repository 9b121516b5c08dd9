"""A fake Telegram Bot API (``getMe``, ``sendMessage``, ``sendPhoto``, ``deleteMessage``) that
behaves like the real one.

In a test::

    with FakeTelegram() as fake:                 # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="tg", platform="telegram", api_base=fake.url,
                                credentials={"bot_token": fake.token},
                                options={"chat_id": "@ctninfo"})
        ...
        fake.flood_next(retry_after=35)          # scripted answers, used in order
        assert fake.messages[0]["text"] == "…"   # the text as a reader sees it

What it checks, like Telegram does:

- The token in ``/bot<token>/<method>``: another token gets 401 ``Unauthorized``; a path that
  is not a method gets 404 ``Not Found``.
- Parameters as JSON, as a form, or as ``multipart/form-data`` (a photo upload).
- ``chat_id``: ``@username`` or the numeric id of a known chat, else 400 ``chat not found``;
  a bot that is not an administrator of the channel gets 403.
- ``parse_mode="HTML"`` parsed like tdlib's ``parse_html``: only Telegram's tags, attributes
  with ``=``, matching end tags; ``&lt; &gt; &amp; &quot;`` and numeric references are decoded
  and any other ``&`` is kept as text (exactly as tdlib does). A ``<`` that does not open a
  supported tag is 400 ``can't parse entities: …`` with tdlib's wording and UTF-8 byte offset.
- The limits after parsing and trimming, in UTF-16 code units: 4,096 for a message, 1,024 for
  a caption; an empty text is refused.
- ``sendPhoto``: an uploaded file must be an image (Pillow opens it) of at most 10 MB with
  width + height ≤ 10,000; a URL must be one the fake can "fetch" (``web_images``).

- ``deleteMessage`` (``chat_id``, ``message_id``), with the same chat and admin checks: a
  message of that chat leaves ``messages`` for ``deleted`` (``{"ok": true, "result": true}``);
  one that is not there (never sent, deleted already) is 400 ``Bad Request: message to delete
  not found``; one sent 48 hours ago or more is 400 ``Bad Request: message can't be deleted``
  (the Bot API's limit for bots; ``age_messages`` makes messages older).
  ``fail_next_delete`` scripts its answers.

Every accepted message is kept in ``messages`` with the visible text, its entities (UTF-16
offsets, as the Bot API returns them), the HTML that was sent and the options.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import io
import json
import re
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage

from tests.fakes.server import LocalServer, TrackedHandler

TOKEN = "7000000001:AAFakeTokenForTests_0123456789abcdefXYZ"
BOT_ID = 7000000001
CHANNEL_ID = -1001234567890
CHANNEL_USERNAME = "ctninfo"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
DELETE_WINDOW = 48 * 3600  # a bot may delete its messages for 48 hours

UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}

_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
     "code", "pre", "blockquote", "tg-emoji"}
)  # fmt: skip
_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji", "a": "text_link",
}  # fmt: skip
_BARE_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?'\")\]]", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<![\w#])#\w*[^\W\d_]\w*")


def error(code: int, description: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Bot API error answer."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def flood_body(retry_after: int) -> dict[str, Any]:
    return error(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


# --- HTML parse mode ---------------------------------------------------------------------------


class EntityError(ValueError):
    """tdlib's reason for refusing the HTML (the text after "can't parse entities: ")."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """``source`` in Telegram's HTML parse mode -> (visible text, entities), like tdlib.

    Entities have UTF-16 ``offset``/``length``; ``text_link`` ones carry ``url``. The text is
    not trimmed here (``format_text`` does that, as Telegram does after parsing).
    """
    out: list[str] = []
    u16 = 0
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, str, int]] = []  # tag, argument, utf16 offset
    n = len(source)
    i = 0

    def at(k: int) -> str:
        return source[k] if k < n else ""

    def byte_offset(k: int) -> int:
        return len(source[:k].encode("utf-8"))

    while i < n:
        c = source[i]
        if c == "&":
            decoded, end = _decode_entity(source, i)
            if decoded is not None:
                out.append(decoded)
                u16 += utf16_len(decoded)
                i = end
                continue
        if c != "<":
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if at(i) != "/":
            while at(i) and not at(i).isspace() and at(i) != ">":
                i += 1
            if not at(i):
                raise EntityError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = source[begin + 1 : i].lower()
            if tag not in _TAGS:
                raise EntityError(
                    f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            attributes: dict[str, str] = {}
            while at(i) != ">":
                while at(i) and at(i).isspace():
                    i += 1
                if at(i) == ">":
                    break
                name_start = i
                while at(i) and not at(i).isspace() and at(i) not in "=>":
                    i += 1
                name = source[name_start:i].lower()
                if not name:
                    raise EntityError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                    )
                while at(i) and at(i).isspace():
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and name == "expandable":
                        attributes[name] = ""
                        continue
                    raise EntityError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte_offset(begin)}'
                    )
                i += 1
                while at(i) and at(i).isspace():
                    i += 1
                if not at(i):
                    raise EntityError(
                        f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                    )
                value: list[str] = []
                if at(i) in "'\"":
                    quote = at(i)
                    i += 1
                    while at(i) and at(i) != quote:
                        if at(i) == "&":
                            decoded, end = _decode_entity(source, i)
                            if decoded is not None:
                                value.append(decoded)
                                i = end
                                continue
                        value.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                else:
                    token_start = i
                    while at(i) and (at(i).isalnum() or at(i) in ".-"):
                        i += 1
                    value.append(source[token_start:i].lower())
                    if at(i) and not at(i).isspace() and at(i) != ">":
                        raise EntityError(
                            f"Unexpected end of name token at byte offset {byte_offset(token_start)}"
                        )
                if not at(i):
                    raise EntityError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                attributes[name] = "".join(value)
            i += 1  # ">"
            argument = ""
            if tag == "a":
                argument = attributes.get("href", "")
            elif tag == "span" and attributes.get("class") != "tg-spoiler":
                raise EntityError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
                )
            elif tag == "tg-emoji":
                argument = attributes.get("emoji-id", "")
                if not argument.isdigit():
                    raise EntityError(
                        f"Custom emoji identifier must be non-empty at byte offset {byte_offset(begin)}"
                    )
            stack.append((tag, argument, u16))
            continue
        # an end tag
        if not stack:
            raise EntityError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
        i += 1
        name_start = i
        while at(i) and not at(i).isspace() and at(i) != ">":
            i += 1
        end_name = source[name_start:i].lower()
        while at(i) and at(i).isspace():
            i += 1
        if at(i) != ">":
            raise EntityError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
        i += 1
        tag, argument, offset = stack.pop()
        if end_name and end_name != tag:
            raise EntityError(
                f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{tag}>", '
                f'found "</{end_name}>"'
            )
        if u16 > offset:
            entity: dict[str, Any] = {
                "type": _ENTITY_TYPES[tag],
                "offset": offset,
                "length": u16 - offset,
            }
            if tag == "a":
                url = argument or _utf16_slice("".join(out), offset, u16)
                if not _valid_url(url):
                    continue  # tdlib drops a link it cannot use, keeping the text
                entity["url"] = url
            elif tag == "tg-emoji":
                entity["custom_emoji_id"] = argument
            entities.append(entity)
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _decode_entity(text: str, pos: int) -> tuple[str | None, int]:
    """tdlib's ``decode_html_entity``: the character and the position after it, or None."""
    n = len(text)
    end = pos + 1
    if end < n and text[end] == "#":
        end += 1
        value = 0
        if end < n and text[end] == "x":
            end += 1
            while end < n and text[end] in "0123456789abcdefABCDEF":
                value = value * 16 + int(text[end], 16)
                end += 1
        else:
            while end < n and text[end].isdigit() and text[end].isascii():
                value = value * 10 + int(text[end])
                end += 1
        if value == 0 or value >= 0x10FFFF or end - pos >= 10 or 0xD800 <= value <= 0xDFFF:
            return None, pos
        char = chr(value)
    else:
        while end < n and text[end].isascii() and text[end].isalpha():
            end += 1
        named = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(text[pos + 1 : end])
        if named is None:
            return None, pos
        char = named
    if end < n and text[end] == ";":
        end += 1
    return char, end


def _utf16_slice(text: str, start: int, end: int) -> str:
    data = text.encode("utf-16-le")
    return data[start * 2 : end * 2].decode("utf-16-le")


def _valid_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https", "tg", "ton"):
        return bool(parts.netloc or parts.scheme in ("tg", "ton"))
    return False


def format_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim the text as Telegram does after parsing, and add the entities it detects itself
    (bare URLs, hashtags) where no link already is."""
    stripped = text.lstrip()
    lead = utf16_len(text) - utf16_len(stripped)
    stripped = stripped.rstrip()
    total = utf16_len(stripped)
    fixed = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            fixed.append(e | {"offset": start, "length": end - start})
    links = [(e["offset"], e["offset"] + e["length"]) for e in fixed if e["type"] == "text_link"]
    for pattern, kind in ((_BARE_URL, "url"), (_HASHTAG, "hashtag")):
        for m in pattern.finditer(stripped):
            start = utf16_len(stripped[: m.start()])
            end = start + utf16_len(m.group(0))
            if not any(s < end and start < e for s, e in links):
                fixed.append({"type": kind, "offset": start, "length": end - start})
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, fixed


def render(source: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """What Telegram shows for ``source``: HTML parsed when ``parse_mode`` is HTML, trimmed."""
    if parse_mode is None or parse_mode == "":
        return format_text(source, [])
    if parse_mode.lower() != "html":
        raise EntityError(f"unsupported parse_mode {parse_mode!r} in this fake")
    text, entities = parse_html(source)
    return format_text(text, entities)


# --- the server --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake answered: the Bot API method (never the token), the status."""

    method: str
    status: int | None  # None: dropped without an answer
    time: float
    note: str = ""


@dataclass(slots=True)
class Chat:
    id: int
    title: str
    username: str | None = None
    type: str = "channel"
    bot_status: str = "administrator"  # "member", "left", "kicked"

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title, "type": self.type}
        if self.username:
            data["username"] = self.username
        return data


@dataclass(slots=True)
class _Script:
    status: int | None = None  # None: handle normally
    body: dict[str, Any] | None = None
    after_accept: str | None = None  # "drop": accept, then close without answering
    note: str = ""


class FakeTelegram(LocalServer):
    """A fake Bot API server on 127.0.0.1 (any free port), run in a thread."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        bot_username: str = "ctn_syndbot",
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.host = host
        self.port = port
        self.delay = delay
        self.chats: dict[int, Chat] = {}
        self.web_images: dict[str, bytes] = {}  # URLs the fake "fetches" for sendPhoto
        self._lock = threading.Lock()
        self._scripts: deque[_Script] = deque()
        self._down = False
        self._messages: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._delete_scripts: deque[_Script] = deque()
        self._requests: list[FakeRequest] = []
        self._next_id: dict[int, int] = {}
        self._init_server()
        self.add_chat(Chat(CHANNEL_ID, "CTN Info", CHANNEL_USERNAME))

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    # --- chats and faults -----------------------------------------------------------------

    def add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        return chat

    def find_chat(self, chat_id: Any) -> Chat | None:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            name = chat_id[1:].lower()
            return next(
                (c for c in self.chats.values() if (c.username or "").lower() == name), None
            )
        try:
            return self.chats.get(int(chat_id))
        except (TypeError, ValueError):
            return None

    def fail_next(
        self, n: int = 1, *, status: int = 502, description: str | None = None, **parameters: Any
    ) -> None:
        """The next ``n`` send requests get ``status`` with a Bot API error body."""
        text = description or {
            500: "Internal Server Error",
            502: "Bad Gateway",
            400: "Bad Request",
        }.get(status, "Error")
        for _ in range(n):
            self._push(_Script(status, error(status, text, parameters or None), note="fail"))

    def flood_next(self, n: int = 1, *, retry_after: int = 35) -> None:
        """The next ``n`` send requests get Telegram's 429 flood answer."""
        for _ in range(n):
            self._push(_Script(429, flood_body(retry_after), note="flood"))

    def fail_next_delete(
        self, n: int = 1, *, status: int = 502, description: str | None = None, **parameters: Any
    ) -> None:
        """The next ``n`` ``deleteMessage`` requests get ``status`` with a Bot API error body."""
        text = description or {500: "Internal Server Error", 502: "Bad Gateway"}.get(
            status, "Error"
        )
        script = _Script(status, error(status, text, parameters or None), note="fail")
        with self._lock:
            self._delete_scripts.extend([script] * n)

    def age_messages(self, seconds: float) -> None:
        """Every message so far was sent ``seconds`` earlier than it was."""
        with self._lock:
            for message in self._messages:
                message["date"] -= int(seconds)

    def accept_then_drop(self, n: int = 1) -> None:
        """The next ``n`` valid messages are posted, then the connection closes unanswered."""
        for _ in range(n):
            self._push(_Script(after_accept="drop", note="accept_then_drop"))

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    # --- records --------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages)

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Deleted messages, in the order of deletion, with ``deleted_at``."""
        with self._lock:
            return list(self._deleted)

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    def _record(self, method: str, status: int | None, note: str = "") -> None:
        with self._lock:
            self._requests.append(FakeRequest(method, status, time.time(), note))

    def _post(self, chat: Chat, record: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_id.get(chat.id, 1)
            self._next_id[chat.id] = message_id + 1
            record = {
                "message_id": message_id,
                "chat_id": chat.id,
                "date": int(time.time()),
            } | record
            self._messages.append(record)
            return record


# --- the handler -------------------------------------------------------------------------------

_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)")


class _Handler(TrackedHandler[FakeTelegram]):
    server_version = "fake-telegram"

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _send(self, body: dict[str, Any], method: str, note: str = "") -> None:
        status = 200 if body.get("ok") else int(body.get("error_code", 500))
        self.fake._record(method, status, note)
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, method: str, note: str) -> None:
        self.fake._record(method, None, note)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _route(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.fake
        parts = urllib.parse.urlsplit(self.path)
        m = _PATH.fullmatch(parts.path)
        if m is None:
            self._send(NOT_FOUND, "?", note="bad path")
            return
        method = m.group("method")
        if m.group("token") != fake.token:
            self._send(UNAUTHORIZED, method, note="wrong token")
            return
        with fake._lock:
            down = fake._down
        if down:
            self._send(error(502, "Bad Gateway"), method, note="down")
            return
        if fake.delay and fake._stopping.wait(fake.delay):
            self._drop(method, "stopped")
            return
        try:
            params = _params(self.headers.get("Content-Type", ""), raw, parts.query)
        except ValueError as exc:
            self._send(error(400, f"Bad Request: {exc}"), method, note="params")
            return
        if method == "getMe":
            me = {"id": BOT_ID, "is_bot": True, "first_name": "CTN", "username": fake.bot_username}
            self._send({"ok": True, "result": me}, method)
        elif method in ("sendMessage", "sendPhoto"):
            self._send_something(method, params)
        elif method == "deleteMessage":
            self._delete_message(method, params)
        else:
            self._send(NOT_FOUND, method, note="unknown method")

    def _send_something(self, method: str, params: dict[str, Any]) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._scripts.popleft() if fake._scripts else None
        if script is not None and script.status is not None and script.body is not None:
            self._send(script.body, method, note=script.note)
            return
        chat = fake.find_chat(params.get("chat_id"))
        if chat is None:
            self._send(error(400, "Bad Request: chat not found"), method, note="chat")
            return
        if chat.type == "channel" and chat.bot_status != "administrator":
            description = {
                "kicked": "Forbidden: bot was kicked from the channel chat",
                "member": "Bad Request: need administrator rights in the channel chat",
            }.get(chat.bot_status, "Forbidden: bot is not a member of the channel chat")
            code = 400 if description.startswith("Bad Request") else 403
            self._send(error(code, description), method, note="not admin")
            return
        photo_field = method == "sendPhoto"
        source = params.get("caption" if photo_field else "text")
        source = "" if source is None else str(source)
        try:
            text, entities = render(source, params.get("parse_mode"))
        except EntityError as exc:
            self._send(error(400, f"Bad Request: can't parse entities: {exc}"), method, "parse")
            return
        limit = CAPTION_LIMIT if photo_field else MESSAGE_LIMIT
        if utf16_len(text) > limit:
            what = "message caption is too long" if photo_field else "message is too long"
            self._send(error(400, f"Bad Request: {what}"), method, note="too long")
            return
        if not photo_field and not text:
            self._send(error(400, "Bad Request: message text is empty"), method, note="empty")
            return
        record: dict[str, Any] = {
            "method": method,
            "html": source,
            "parse_mode": params.get("parse_mode"),
            "disable_notification": _bool(params.get("disable_notification")),
        }
        message: dict[str, Any] = {"sender_chat": chat.as_json(), "chat": chat.as_json()}
        if photo_field:
            photo = self._photo(params.get("photo"))
            if isinstance(photo, str):
                self._send(error(400, photo), method, note="photo")
                return
            record |= {"caption": text, "caption_entities": entities, "photo": photo}
            sizes = [
                {
                    "file_id": f"AgACAgFake{photo['size']}",
                    "file_unique_id": f"AQADFake{photo['size']}",
                    "file_size": photo["size"],
                    "width": photo["width"],
                    "height": photo["height"],
                }
            ]
            message |= {"photo": sizes}
            if text:
                message |= {"caption": text, "caption_entities": entities}
        else:
            preview = params.get("link_preview_options")
            if isinstance(preview, str):
                preview = json.loads(preview)
            record |= {"text": text, "entities": entities, "link_preview_options": preview}
            message |= {"text": text}
            if entities:
                message["entities"] = entities
            if isinstance(preview, dict) and preview:
                message["link_preview_options"] = preview
        posted = fake._post(chat, record)
        message = {"message_id": posted["message_id"]} | message | {"date": posted["date"]}
        if script is not None and script.after_accept == "drop":
            self._drop(method, script.note)
            return
        self._send({"ok": True, "result": message}, method, note=script.note if script else "")

    def _delete_message(self, method: str, params: dict[str, Any]) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._delete_scripts.popleft() if fake._delete_scripts else None
        if script is not None and script.body is not None:
            self._send(script.body, method, note=script.note)
            return
        chat = fake.find_chat(params.get("chat_id"))
        if chat is None:
            self._send(error(400, "Bad Request: chat not found"), method, note="chat")
            return
        if chat.type == "channel" and chat.bot_status != "administrator":
            description = {
                "kicked": "Forbidden: bot was kicked from the channel chat",
                "member": "Bad Request: need administrator rights in the channel chat",
            }.get(chat.bot_status, "Forbidden: bot is not a member of the channel chat")
            code = 400 if description.startswith("Bad Request") else 403
            self._send(error(code, description), method, note="not admin")
            return
        try:
            message_id = int(params.get("message_id", ""))
        except (TypeError, ValueError):
            self._send(error(400, "Bad Request: message identifier is not specified"), method)
            return
        with fake._lock:
            found = next(
                (
                    m
                    for m in fake._messages
                    if m["chat_id"] == chat.id and m["message_id"] == message_id
                ),
                None,
            )
            too_old = found is not None and time.time() - found["date"] >= DELETE_WINDOW
            if found is not None and not too_old:
                fake._messages.remove(found)
                fake._deleted.append(found | {"deleted_at": time.time()})
        if found is None:
            self._send(error(400, "Bad Request: message to delete not found"), method, "gone")
        elif too_old:
            self._send(error(400, "Bad Request: message can't be deleted"), method, "too old")
        else:
            self._send({"ok": True, "result": True}, method, note="deleted")

    def _photo(self, value: Any) -> dict[str, Any] | str:
        """The uploaded or fetched picture's facts, or Telegram's 400 description."""
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):
                data = self.fake.web_images.get(value)
                if data is None:
                    return "Bad Request: failed to get HTTP URL content"
                source = "url"
            else:
                return "Bad Request: wrong file identifier/HTTP URL specified"
        elif isinstance(value, bytes):
            data, source = value, "upload"
        else:
            return "Bad Request: there is no photo in the request"
        if len(data) > PHOTO_MAX_BYTES:
            return "Bad Request: file is too big"
        try:
            with PILImage.open(io.BytesIO(data)) as image:
                width, height = image.size
                kind = image.format or ""
        except (OSError, ValueError):
            return "Bad Request: IMAGE_PROCESS_FAILED"
        if width + height > 10_000:
            return "Bad Request: PHOTO_INVALID_DIMENSIONS"
        return {
            "source": source,
            "size": len(data),
            "width": width,
            "height": height,
            "format": kind,
        }


def _params(content_type: str, raw: bytes, query: str) -> dict[str, Any]:
    """The request's parameters, however they were sent (Bot API accepts all of these)."""
    params: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        body = json.loads(raw or b"{}")
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params |= body
    elif kind == "application/x-www-form-urlencoded":
        params |= dict(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if not isinstance(name, str) or not isinstance(payload, bytes):
                continue
            params[name] = payload if part.get_filename() else payload.decode("utf-8")
    elif raw:
        raise ValueError(f"unsupported Content-Type {content_type!r}")
    return params


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)
