"""A fake LinkedIn REST API (``/rest/images?action=initializeUpload``, upload ``PUT``,
``/rest/posts``, ``DELETE /rest/posts/{urn}``) that behaves like the real one for an
organization page.

In a test::

    with FakeLinkedIn() as fake:                 # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="li", platform="linkedin", api_base=fake.url,
                                credentials=fake.credentials())
        ...
        fake.rate_limit_next(retry_after=120)    # scripted answers, used in order
        post = fake.posts[0]
        assert post["text"] == "…"               # the commentary as LinkedIn shows it

What it checks, like LinkedIn does:

- ``Authorization: Bearer``: an unknown token gets ``{"serviceErrorCode":65600,"message":
  "Invalid access token","status":401}``; ``expire_token`` makes it 401 "expired".
- ``LinkedIn-Version``: missing → 400 ``VERSION_MISSING``; outside ``oldest_version`` ..
  ``newest_version`` → 426 ``NONEXISTENT_VERSION``. ``X-Restli-Protocol-Version: 2.0.0``
  is required (400 otherwise: the fake's own strictness).
- The token may act only for its pages (``w_organization_social`` + an admin role): another
  ``author`` or image ``owner`` → 403 "Not enough permissions to access: …".
- The post body: the fields of an article share (author, commentary, visibility PUBLIC,
  distribution MAIN_FEED, lifecycleState PUBLISHED, content.article with an http(s) ``source``
  and a ``title``); a ``thumbnail`` must be an image URN of the same owner that was initialized
  *and* whose bytes were uploaded (a decodable JPEG/PNG/GIF). Missing or wrong fields get 422
  ``ERROR :: /path :: …`` messages.
- ``commentary`` is parsed as little text: a backslash escapes a reserved character,
  ``{hashtag|\\#|word}`` and ``#word`` are hashtags, ``@[name](urn)`` a mention. An unescaped
  reserved character anywhere else **silently cuts the text there**, as LinkedIn does; the
  post is kept with ``truncated=True`` and the visible ``text``.
- The same author, commentary and article source as an earlier post → 422 with LinkedIn's
  duplicate body (as seen in Arisamiga/Linkedin-RSS#5, ``code`` in
  ``errorDetails.inputErrors``). Over 3,000 UTF-16 units of visible text → 422.

Accepted posts answer 201 with an empty body and the URN in ``x-restli-id``.

``DELETE /rest/posts/{url-encoded urn}`` (same token, version and Rest.li checks): a post of one
of the token's pages leaves ``posts`` for ``deleted`` and is answered 204; a post of another
page is 403; deleting is idempotent as LinkedIn documents it (a post deleted already: 204
again); a URN the fake never issued is 404. ``fail_next_delete`` scripts its answers.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import threading
import time
import unicodedata
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image as PILImage

from tests.fakes.server import LocalServer, TrackedHandler

ACCESS_TOKEN = "AQVfake-linkedin-access-token-0123456789"
ORGANIZATION_ID = "2414183"
ORGANIZATION_URN = f"urn:li:organization:{ORGANIZATION_ID}"
FIRST_SHARE_ID = 7400000000000000001
COMMENTARY_LIMIT = 3000
RESERVED = frozenset("\\|{}@[]()<>#*_~")

INVALID_TOKEN_BODY = {"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401}
EXPIRED_TOKEN_BODY = {
    "serviceErrorCode": 65601,
    "message": "The token used in the request has expired",
    "status": 401,
}
VERSION_MISSING_BODY = {
    "status": 400,
    "code": "VERSION_MISSING",
    "message": "A version must be present. Please specify a version by adding the "
    "LinkedIn-Version header.",
}


def duplicate_body(urn: str) -> dict[str, Any]:
    """LinkedIn's 422 for a repeated post (shape from a real answer, Linkedin-RSS#5)."""
    return {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
        f"Content is a duplicate of {urn}",
        "errorDetails": {
            "inputErrors": [
                {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
            ]
        },
        "status": 422,
    }


def forbidden_body(what: str) -> dict[str, Any]:
    return {
        "status": 403,
        "serviceErrorCode": 100,
        "code": "ACCESS_DENIED",
        "message": f"Not enough permissions to access: {what}",
    }


def status_body(status: int, message: str | None = None) -> dict[str, Any]:
    default = {
        429: "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")
    return {"message": message or default, "status": status}


def invalid_body(path: str, problem: str) -> dict[str, Any]:
    return {"message": f"ERROR :: {path} :: {problem}", "status": 422}


# --- little text -------------------------------------------------------------------------------

_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\#\|((?:\\.|[^\\{}|])+)\}")
_MENTION = re.compile(r"@\[((?:\\.|[^\\\]])+)\]\((urn:li:[a-zA-Z]+:[\w-]+)\)")


@dataclass(frozen=True, slots=True)
class LittleText:
    """Little text as LinkedIn shows it: the text, hashtags, mentions, and whether it was cut."""

    text: str
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    truncated_at: int | None = None  # index in the raw commentary of the unescaped character


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _word_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch == "_" or category[0] in "LM" or category == "Nd"


def parse_little_text(raw: str) -> LittleText:
    """What LinkedIn shows for commentary ``raw`` (little text)."""
    out: list[str] = []
    hashtags: list[str] = []
    mentions: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\" and i + 1 < n and raw[i + 1] in RESERVED:
            out.append(raw[i + 1])
            i += 2
            continue
        if ch == "{" and (m := _HASHTAG_TEMPLATE.match(raw, i)):
            word = _unescape(m.group(1))
            hashtags.append(word)
            out.append("#" + word)
            i = m.end()
            continue
        if ch == "@" and (m := _MENTION.match(raw, i)):
            name = _unescape(m.group(1))
            mentions.append(m.group(2))
            out.append(name)
            i = m.end()
            continue
        if ch == "#" and i + 1 < n and _word_char(raw[i + 1]) and raw[i + 1] != "_":
            end = i + 1
            while end < n and _word_char(raw[end]) and raw[end] != "_":
                end += 1
            hashtags.append(raw[i + 1 : end])
            out.append(raw[i:end])
            i = end
            continue
        if ch in RESERVED:
            return LittleText("".join(out), tuple(hashtags), tuple(mentions), truncated_at=i)
        out.append(ch)
        i += 1
    return LittleText("".join(out), tuple(hashtags), tuple(mentions))


# --- the server --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake answered (``path`` without the query)."""

    method: str
    path: str
    status: int | None  # None: dropped without an answer
    time: float
    note: str = ""


@dataclass(slots=True)
class _Image:
    urn: str
    owner: str
    upload_id: str
    data: bytes | None = None
    format: str | None = None


@dataclass(slots=True)
class _Script:
    status: int | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_accept: str | None = None  # "drop": accept the post, then close without answering
    note: str = ""


class FakeLinkedIn(LocalServer):
    """A fake LinkedIn REST API on 127.0.0.1 (any free port), run in a thread."""

    def __init__(
        self,
        *,
        access_token: str = ACCESS_TOKEN,
        organization_id: str = ORGANIZATION_ID,
        oldest_version: str = "202511",
        newest_version: str = "202611",
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.delay = delay
        self.oldest_version = oldest_version
        self.newest_version = newest_version
        self.tokens: dict[str, set[str]] = {
            access_token: {f"urn:li:organization:{organization_id}"}
        }
        self.expired: set[str] = set()
        self.access_token = access_token
        self.organization_id = organization_id
        self._lock = threading.Lock()
        self._scripts: deque[_Script] = deque()
        self._image_scripts: deque[tuple[str, int]] = deque()
        self._images: dict[str, _Image] = {}
        self._uploads: dict[str, str] = {}  # upload id -> image URN
        self._posts: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._delete_scripts: deque[_Script] = deque()
        self._requests: list[FakeRequest] = []
        self._next = FIRST_SHARE_ID
        self._init_server()

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    def credentials(self) -> dict[str, str]:
        """What an account's ``credentials`` need for this fake's page."""
        return {"access_token": self.access_token, "organization_id": self.organization_id}

    # --- faults ---------------------------------------------------------------------------

    def expire_token(self, token: str | None = None) -> None:
        """The token passes its 60 days: every call answers 401."""
        self.expired.add(token or self.access_token)

    def revoke_page(self, token: str | None = None) -> None:
        """The member lost their admin role (or the scope): posts and uploads answer 403."""
        self.tokens[token or self.access_token] = set()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` posts get ``status`` with LinkedIn's plain error body."""
        for _ in range(n):
            self._push(
                _Script(status, body or status_body(status), dict(headers or {}), note="fail")
            )

    def rate_limit_next(self, n: int = 1, *, retry_after: float | None = None) -> None:
        """The next ``n`` posts get 429 (with ``Retry-After`` when given)."""
        headers = {} if retry_after is None else {"Retry-After": str(int(retry_after))}
        for _ in range(n):
            self._push(_Script(429, status_body(429), headers, note="rate_limit"))

    def fail_next_delete(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` deletions get ``status`` with LinkedIn's plain error body."""
        script = _Script(status, body or status_body(status), dict(headers or {}), note="fail")
        with self._lock:
            self._delete_scripts.extend([script] * n)

    def accept_then_drop(self, n: int = 1) -> None:
        """The next ``n`` valid posts are created, then the connection closes unanswered."""
        for _ in range(n):
            self._push(_Script(after_accept="drop", note="accept_then_drop"))

    def fail_image_next(self, stage: str = "initialize", *, status: int = 500) -> None:
        """The next ``initialize`` (initializeUpload) or ``upload`` (PUT) answers ``status``."""
        if stage not in ("initialize", "upload"):
            raise ValueError(f"unknown image stage {stage!r}")
        with self._lock:
            self._image_scripts.append((stage, status))

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def _image_fault(self, stage: str) -> int | None:
        with self._lock:
            if self._image_scripts and self._image_scripts[0][0] == stage:
                return self._image_scripts.popleft()[1]
        return None

    # --- records --------------------------------------------------------------------------

    @property
    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._posts)

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Deleted posts, in the order of deletion, with ``deleted_at``."""
        with self._lock:
            return list(self._deleted)

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    def image(self, urn: str) -> bytes | None:
        """The uploaded bytes of image ``urn`` (None: initialized, never uploaded)."""
        with self._lock:
            found = self._images.get(urn)
            return found.data if found else None

    def _record(self, method: str, path: str, status: int | None, note: str = "") -> None:
        with self._lock:
            self._requests.append(FakeRequest(method, path, status, time.time(), note))


class _Handler(TrackedHandler[FakeLinkedIn]):
    server_version = "fake-linkedin"

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _send(
        self,
        status: int,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
        note: str = "",
    ) -> None:
        self.fake._record(self.command, urllib.parse.urlsplit(self.path).path, status, note)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, note: str) -> None:
        self.fake._record(self.command, urllib.parse.urlsplit(self.path).path, None, note)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # --- routing --------------------------------------------------------------------------

    def _route(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake = self.fake
        if fake.delay and fake._stopping.wait(fake.delay):
            self._drop("stopped")
            return
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        token = self._token()
        if token is None:
            self._send(401, INVALID_TOKEN_BODY, note="no or unknown token")
            return
        if token in fake.expired:
            self._send(401, EXPIRED_TOKEN_BODY, note="expired token")
            return
        if self.command == "PUT" and parts.path.startswith("/dms-uploads/"):
            self._upload(parts.path.removeprefix("/dms-uploads/"), raw)
            return
        if not parts.path.startswith("/rest/"):
            self._send(404, status_body(404, "Not Found"), note="path")
            return
        if (problem := self._version_problem()) is not None:
            self._send(*problem)
            return
        if self.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            body = status_body(400, "X-Restli-Protocol-Version 2.0.0 is required (fake)")
            self._send(400, body, note="restli")
            return
        if (self.command, parts.path) == ("POST", "/rest/images") and query.get(
            "action"
        ) == "initializeUpload":
            self._initialize_upload(token, raw)
        elif (self.command, parts.path) == ("POST", "/rest/posts"):
            self._create_post(token, raw)
        elif self.command == "DELETE" and parts.path.startswith("/rest/posts/"):
            self._delete_post(token, urllib.parse.unquote(parts.path.removeprefix("/rest/posts/")))
        else:
            self._send(404, status_body(404, "Not Found"), note="path")

    def _token(self) -> str | None:
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or token not in self.fake.tokens:
            return None
        return token

    def _version_problem(self) -> tuple[int, dict[str, Any], None, str] | None:
        version = self.headers.get("LinkedIn-Version")
        if not version:
            return 400, VERSION_MISSING_BODY, None, "version missing"
        month = version.split(".")[0]
        fake = self.fake
        if not (
            re.fullmatch(r"\d{6}", month) and fake.oldest_version <= month <= fake.newest_version
        ):
            body = {
                "status": 426,
                "code": "NONEXISTENT_VERSION",
                "message": f"Requested version {version} is not active",
            }
            return 426, body, None, "version inactive"
        return None

    # --- images ---------------------------------------------------------------------------

    def _initialize_upload(self, token: str, raw: bytes) -> None:
        fake = self.fake
        if (status := fake._image_fault("initialize")) is not None:
            self._send(status, status_body(status), note="image fault")
            return
        body = _json_object(raw)
        request = body.get("initializeUploadRequest") if body else None
        owner = request.get("owner") if isinstance(request, dict) else None
        if not isinstance(owner, str):
            self._send(
                422,
                invalid_body("/initializeUploadRequest/owner", "field is required"),
                note="owner",
            )
            return
        if owner not in fake.tokens[token]:
            self._send(403, forbidden_body("images.INITIALIZE_UPLOAD"), note="owner not allowed")
            return
        with fake._lock:
            number = len(fake._images) + 1
            urn = f"urn:li:image:C4D10AQFake{number:06d}"
            upload_id = f"upload-{number:06d}"
            fake._images[urn] = _Image(urn, owner, upload_id)
            fake._uploads[upload_id] = urn
        host = self.headers.get("Host", f"{fake.host}:{fake.port}")
        value = {
            "uploadUrlExpiresAt": int((time.time() + 86400) * 1000),
            "uploadUrl": f"http://{host}/dms-uploads/{upload_id}",
            "image": urn,
        }
        self._send(200, {"value": value})

    def _upload(self, upload_id: str, raw: bytes) -> None:
        fake = self.fake
        if (status := fake._image_fault("upload")) is not None:
            self._send(status, status_body(status), note="image fault")
            return
        with fake._lock:
            urn = fake._uploads.get(upload_id)
        if urn is None:
            self._send(404, status_body(404, "Not Found"), note="unknown upload")
            return
        try:
            with PILImage.open(io.BytesIO(raw)) as image:
                kind = image.format
        except (OSError, ValueError):
            kind = None
        if kind not in ("JPEG", "PNG", "GIF"):
            self._send(400, status_body(400, "Invalid image"), note="not an image")
            return
        with fake._lock:
            fake._images[urn].data = raw
            fake._images[urn].format = kind
        self._send(201, None)

    # --- posts ----------------------------------------------------------------------------

    def _create_post(self, token: str, raw: bytes) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._scripts.popleft() if fake._scripts else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._send(415, status_body(415, "Unsupported Media Type"), note="content type")
            return
        body = _json_object(raw)
        if body is None:
            self._send(400, status_body(400, "Invalid JSON"), note="json")
            return
        author = body.get("author")
        if not isinstance(author, str):
            self._send(
                422, invalid_body("/author", "field is required but not found"), note="author"
            )
            return
        if author not in fake.tokens[token]:
            what = f"partnerApiPostsExternal.CREATE.{self.headers.get('LinkedIn-Version')}01"
            self._send(403, forbidden_body(what), note="author not allowed")
            return
        problem = _check_post(body, author, fake)
        if problem is not None:
            self._send(422, invalid_body(*problem), note=f"invalid {problem[0]}")
            return
        commentary = body.get("commentary", "")
        shown = parse_little_text(commentary)
        if len(shown.text.encode("utf-16-le")) // 2 > COMMENTARY_LIMIT:
            self._send(422, invalid_body("/commentary", "text is too long"), note="too long")
            return
        article = body["content"]["article"]
        with fake._lock:
            earlier = next(
                (
                    p
                    for p in fake._posts
                    if (p["author"], p["commentary"], p["article"]["source"])
                    == (author, commentary, article["source"])
                ),
                None,
            )
            if earlier is None:
                urn = f"urn:li:share:{fake._next}"
                fake._next += 1
                fake._posts.append(
                    {
                        "id": urn,
                        "author": author,
                        "commentary": commentary,
                        "text": shown.text,
                        "hashtags": list(shown.hashtags),
                        "truncated": shown.truncated_at is not None,
                        "article": dict(article),
                        "visibility": body["visibility"],
                        "distribution": body["distribution"],
                        "lifecycleState": body["lifecycleState"],
                        "version": self.headers.get("LinkedIn-Version"),
                        "time": time.time(),
                    }
                )
        if earlier is not None:
            self._send(422, duplicate_body(earlier["id"]), note="duplicate")
            return
        if script is not None and script.after_accept == "drop":
            self._drop(script.note)
            return
        headers = {"x-restli-id": urn, "x-linkedin-id": urn}
        self._send(201, None, headers, note=script.note if script else "")

    def _delete_post(self, token: str, urn: str) -> None:
        fake = self.fake
        with fake._lock:
            script = fake._delete_scripts.popleft() if fake._delete_scripts else None
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        with fake._lock:
            post = next((p for p in fake._posts if p["id"] == urn), None)
            earlier = next((p for p in fake._deleted if p["id"] == urn), None)
            allowed = post is not None and post["author"] in fake.tokens[token]
            if allowed:
                assert post is not None
                fake._posts.remove(post)
                fake._deleted.append(post | {"deleted_at": time.time()})
        if post is not None and not allowed:
            what = f"partnerApiPostsExternal.DELETE.{self.headers.get('LinkedIn-Version')}01"
            self._send(403, forbidden_body(what), note="author not allowed")
            return
        if post is None and earlier is None:
            self._send(404, status_body(404, f"Not Found: {urn}"), note="unknown post")
            return
        self._send(204, None, note="deleted" if post is not None else "deleted already")


def _check_post(body: dict[str, Any], author: str, fake: FakeLinkedIn) -> tuple[str, str] | None:
    """The first problem with an article share's body, as (field path, message)."""
    if not isinstance(body.get("commentary", ""), str):
        return "/commentary", "must be a string"
    if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER"):
        return "/visibility", "field is required but not found or invalid"
    distribution = body.get("distribution")
    if not isinstance(distribution, dict) or distribution.get("feedDistribution") not in (
        "MAIN_FEED",
        "NONE",
    ):
        return "/distribution/feedDistribution", "field is required but not found"
    if body.get("lifecycleState") not in ("PUBLISHED", "DRAFT"):
        return "/lifecycleState", "field is required but not found"
    content = body.get("content")
    article = content.get("article") if isinstance(content, dict) else None
    if not isinstance(article, dict):
        return "/content/article", "an article share needs content.article"
    source = article.get("source")
    if not isinstance(source, str) or urllib.parse.urlsplit(source).scheme not in ("http", "https"):
        return "/content/article/source", "must be an http(s) URL"
    if not isinstance(article.get("title"), str) or not article["title"].strip():
        return "/content/article/title", "field is required but not found"
    description = article.get("description")
    if description is not None and not isinstance(description, str):
        return "/content/article/description", "must be a string"
    thumbnail = article.get("thumbnail")
    if thumbnail is not None:
        with fake._lock:
            image = fake._images.get(thumbnail) if isinstance(thumbnail, str) else None
        if image is None or image.owner != author:
            return "/content/article/thumbnail", f"unknown image {thumbnail}"
        if image.data is None:
            return "/content/article/thumbnail", f"image {thumbnail} was never uploaded"
    return None


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
