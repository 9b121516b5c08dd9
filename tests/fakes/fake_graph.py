"""A fake Graph API serving the Threads and Facebook Page calls syndbot makes.

In a test::

    with FakeGraph(clock=clock) as fake:        # 127.0.0.1, a free port, in a thread
        threads = AccountConfig(id="threads-main", platform="threads",
                                credentials=fake.threads_credentials(), api_base=fake.threads_url)
        page = AccountConfig(id="fb-page", platform="facebook",
                             credentials=fake.facebook_credentials(), api_base=fake.facebook_url)
        fake.fail_next(status=503, endpoint="threads_publish")   # scripted answers, in order
        fake.throttle_next(code=32, regain_minutes=15, endpoint="feed")
        assert [p["text"] for p in fake.threads_posts] == [...]

Routes (an optional ``/vNN.N`` version prefix is accepted on every path):

======================================  ===============================  ==================
``POST /{user_id}/threads``             create a Threads container       ``threads``
``POST /{user_id}/threads_publish``     publish one (``creation_id``)    ``threads_publish``
``GET /{user_id}/threads_publishing_limit``  ``quota_usage`` + ``config``  ``threads_publishing_limit``
``GET /refresh_access_token``           refresh a long-lived token       ``refresh_access_token``
``GET /{id}``                           a container (``status``) or a    ``object``
                                        post (``permalink``)
``POST /{page_id}/feed``                a Facebook Page post             ``feed``
``DELETE /{id}``                        delete a Threads post or a       ``delete``
                                        Page post (by the token's kind)
======================================  ===============================  ==================

The last column names the endpoint for scripted faults (``endpoint=None``: the next request
to any of them).

What it checks, like Meta does:

- The access token (``access_token`` parameter in the query or the form body, or
  ``Authorization: Bearer``): unknown → 400 code 190 "Invalid OAuth access token - Cannot
  parse access token"; expired by the fake's ``clock`` → 190/463; revoked → 190/460; none
  → 400 code 104. A token of another profile or Page, or a Page token without
  ``pages_manage_posts``/``pages_read_engagement`` → 403 code 200.
- Threads: a container must exist before it is published, belong to the user and not be
  published already or expired (24 h) → else 400 code 100; the text is at most 500 by the
  ``threads`` rule of ``bot.textlen`` and has at most 5 unique links (with
  ``link_attachment``) → else ``THREADS_API__LINK_LIMIT_EXCEEDED``; 250 posts per 24 h
  (``quota_total``, plus ``extra_quota_usage`` posts made elsewhere) → 400 code 9/2207042.
- Token refresh: only ``grant_type=th_refresh_token`` with a valid Threads token at least
  24 h old; the answer is a new token and ``expires_in`` (60 days); the old token keeps
  working until its own expiry.
- Facebook: ``message`` or ``link`` required; the same message and link as an earlier post
  of the Page → 400 code 506 "(#506) Duplicate status message".
- Deleting: a Threads token deletes its user's posts (``{"success": true, "deleted_id"}``) when
  it carries ``threads_delete`` (``threads_delete=False``: 403 code 10, "Application does not
  have permission for this action"); a Page token deletes its Page's posts (``{"success":
  true}``) with ``pages_manage_posts``. Any other id — never posted, deleted already, someone
  else's — is Meta's 400 code 100, subcode 33 "Unsupported delete request. Object with ID '…'
  does not exist, cannot be loaded due to missing permissions, or does not support this
  operation". Deleted posts leave ``threads_posts``/``facebook_posts`` for ``deleted``.

Exact messages for too-long text, bad container ids, early refresh and the post cap are not
documented; the fake's are modelled on Meta's usual wording. Every answer carries an
``fbtrace_id``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot.textlen import extract_urls, length
from tests.fakes.server import LocalServer, TrackedHandler

DAY = 86400.0
TOKEN_LIFETIME = 60 * DAY
CONTAINER_LIFETIME = DAY
THREADS_VERSION = "v1.0"
FACEBOOK_VERSION = "v25.0"

THREADS_USER_ID = "26000000000000001"
THREADS_TOKEN = "THAAfake-threads-long-lived-token-0001"
PAGE_ID = "100000000000001"
PAGE_TOKEN = "EAAfake-page-access-token-0001"
PAGE_PERMISSIONS = ("pages_manage_posts", "pages_read_engagement", "pages_show_list")

_VERSION_PREFIX = re.compile(r"^/v\d+(?:\.\d+)?(?=/)")

THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
}


def graph_error(
    message: str,
    code: int,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    transient: bool | None = None,
) -> dict[str, Any]:
    """A Graph API error body (a fresh ``fbtrace_id`` each time)."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    return {"error": error}


def server_error_body() -> dict[str, Any]:
    """What Graph sends with a 5xx: code 2, transient."""
    return graph_error(
        "An unexpected error has occurred. Please retry your request later.", 2, transient=True
    )


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One request the fake answered (or dropped)."""

    method: str
    path: str
    endpoint: str
    status: int | None  # None: the connection was dropped without an answer
    time: float
    params: dict[str, str]  # query and form parameters, without access_token
    token: str | None  # the access token the request carried
    note: str = ""


@dataclass(slots=True)
class _Token:
    value: str
    kind: str  # "threads" or "page"
    subject: str  # the Threads user id or the Page id
    issued_at: float
    expires_at: float | None
    permissions: tuple[str, ...] = ()
    revoked: bool = False


@dataclass(slots=True)
class _Script:
    endpoint: str | None
    status: int | None = None  # None: handle as usual (then maybe drop or delay)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_accept: str | None = None  # "drop" or "delay"
    seconds: float = 0.0
    note: str = ""


class FakeGraph(LocalServer):
    """A fake graph.threads.net + graph.facebook.com on ``host``:``port``, run in a thread."""

    def __init__(
        self,
        *,
        threads_user_id: str = THREADS_USER_ID,
        threads_token: str = THREADS_TOKEN,
        threads_username: str = "newsroom",
        page_id: str = PAGE_ID,
        page_token: str = PAGE_TOKEN,
        page_permissions: tuple[str, ...] = PAGE_PERMISSIONS,
        clock: Callable[[], float] = time.time,
        quota_total: int = 250,
        threads_delete: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.threads_user_id = threads_user_id
        self.threads_delete = threads_delete  # whether Threads tokens carry threads_delete
        self.threads_username = threads_username
        self.page_id = page_id
        self.clock = clock
        self.quota_total = quota_total
        self.extra_quota_usage = 0  # posts this profile published elsewhere in the window
        self.delay = 0.0  # seconds every API request waits (real time) before it is handled
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._scripts: deque[_Script] = deque()
        self._down = False
        self._ids = itertools.count(18000000000000001)
        self._containers: dict[str, dict[str, Any]] = {}
        self._threads_posts: list[dict[str, Any]] = []
        self._facebook_posts: list[dict[str, Any]] = []
        self._deleted: list[dict[str, Any]] = []
        self._requests: list[FakeRequest] = []
        self._init_server()
        now = clock()
        self.threads_token = self.issue_threads_token(threads_token, issued_at=now)
        self.page_token = page_token
        self._tokens[page_token] = _Token(
            page_token, "page", page_id, now, None, permissions=tuple(page_permissions)
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    @property
    def threads_url(self) -> str:
        """The ``api_base`` of a Threads account, like ``https://graph.threads.net/v1.0``."""
        return f"{self.url}/{THREADS_VERSION}"

    @property
    def facebook_url(self) -> str:
        """The ``api_base`` of a Facebook account, like ``https://graph.facebook.com/v25.0``."""
        return f"{self.url}/{FACEBOOK_VERSION}"

    # --- accounts and tokens ------------------------------------------------------------------

    def threads_credentials(self, access_token: str | None = None) -> dict[str, str]:
        return {
            "user_id": self.threads_user_id,
            "access_token": access_token or self.threads_token,
        }

    def facebook_credentials(self) -> dict[str, str]:
        return {"page_id": self.page_id, "page_access_token": self.page_token}

    def issue_threads_token(
        self,
        value: str | None = None,
        *,
        issued_at: float | None = None,
        lifetime: float = TOKEN_LIFETIME,
    ) -> str:
        """A long-lived token for the Threads user, issued at ``issued_at`` (default now)."""
        value = value or f"THAAfake-{secrets.token_urlsafe(24)}"
        issued = self.clock() if issued_at is None else issued_at
        with self._lock:
            self._tokens[value] = _Token(
                value, "threads", self.threads_user_id, issued, issued + lifetime
            )
        return value

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens[token].revoked = True

    def token_expires_at(self, token: str) -> float | None:
        with self._lock:
            return self._tokens[token].expires_at

    # --- faults -------------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        endpoint: str | None = None,
    ) -> None:
        """The next ``n`` requests (to ``endpoint``) get ``status`` with Graph's code-2 body."""
        for _ in range(n):
            self._push(
                _Script(
                    endpoint,
                    status=status,
                    body=body or server_error_body(),
                    headers=dict(headers or {}),
                    note=f"fail {status}",
                )
            )

    def error_next(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        subcode: int | None = None,
        endpoint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next request (to ``endpoint``) gets this Graph error."""
        body = graph_error(message, code, subcode=subcode)
        self._push(
            _Script(
                endpoint, status=status, body=body, headers=dict(headers or {}), note=f"#{code}"
            )
        )

    def throttle_next(
        self,
        n: int = 1,
        *,
        code: int = 4,
        regain_minutes: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        """The next ``n`` requests are throttled with ``code`` (4, 17, 32, 613, 80001).

        ``X-App-Usage`` says 100 %; with ``regain_minutes``, ``X-Business-Use-Case-Usage``
        says 100 % for the Page and ``estimated_time_to_regain_access`` (minutes).
        """
        headers = {
            "X-App-Usage": json.dumps({"call_count": 100, "total_time": 40, "total_cputime": 30})
        }
        if regain_minutes is not None:
            usage = {
                self.page_id: [
                    {
                        "type": "pages",
                        "call_count": 100,
                        "total_cputime": 20,
                        "total_time": 30,
                        "estimated_time_to_regain_access": regain_minutes,
                    }
                ]
            }
            headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        message = THROTTLE_MESSAGES.get(code, f"(#{code}) Rate limited")
        for _ in range(n):
            body = graph_error(message, code, transient=True)
            self._push(_Script(endpoint, status=400, body=body, headers=headers, note="throttled"))

    def accept_then_drop(self, endpoint: str, n: int = 1) -> None:
        """The next ``n`` valid requests to ``endpoint`` take effect, then the connection
        closes unanswered."""
        for _ in range(n):
            self._push(_Script(endpoint, after_accept="drop", note="accept_then_drop"))

    def accept_then_delay(self, endpoint: str, *, seconds: float = 5.0) -> None:
        """The next valid request to ``endpoint`` takes effect, answered after ``seconds``."""
        self._push(
            _Script(endpoint, after_accept="delay", seconds=seconds, note="accept_then_delay")
        )

    def down(self) -> None:
        """Every API request gets 503 until ``up()``."""
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def _script_for(self, endpoint: str) -> _Script | None:
        with self._lock:
            for script in self._scripts:
                if script.endpoint in (None, endpoint):
                    self._scripts.remove(script)
                    return script
        return None

    # --- records ------------------------------------------------------------------------------

    @property
    def threads_posts(self) -> list[dict[str, Any]]:
        """Published Threads posts: ``{"id", "text", "link_attachment", "permalink", "time",
        "user_id", "container_id"}``."""
        with self._lock:
            return [dict(p) for p in self._threads_posts]

    @property
    def facebook_posts(self) -> list[dict[str, Any]]:
        """Facebook Page posts: ``{"id", "message", "link", "time", "page_id"}``."""
        with self._lock:
            return [dict(p) for p in self._facebook_posts]

    @property
    def deleted(self) -> list[dict[str, Any]]:
        """Deleted posts of either kind, in the order of deletion, with ``deleted_at``."""
        with self._lock:
            return [dict(p) for p in self._deleted]

    @property
    def containers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._containers.values()]

    @property
    def requests(self) -> list[FakeRequest]:
        with self._lock:
            return list(self._requests)

    def endpoints(self) -> list[str]:
        """The endpoint of every request so far, oldest first."""
        return [r.endpoint for r in self.requests]

    def quota_usage(self) -> int:
        now = self.clock()
        with self._lock:
            recent = [p for p in self._threads_posts if p["time"] > now - DAY]
            return self.extra_quota_usage + len(recent)

    # --- the API ------------------------------------------------------------------------------

    def _check_token(
        self, token: str | None, kind: str, subject: str | None
    ) -> tuple[int, dict[str, Any]] | _Token:
        """The token's record, or the (status, body) refusing it."""
        if not token:
            return 400, graph_error("An access token is required to request this resource.", 104)
        with self._lock:
            record = self._tokens.get(token)
        if record is None:
            return 400, graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        if record.revoked:
            return 400, graph_error(
                "Error validating access token: The session has been invalidated because the "
                "user changed their password or Facebook has changed the session for security "
                "reasons.",
                190,
                subcode=460,
            )
        if record.expires_at is not None and self.clock() >= record.expires_at:
            return 400, graph_error(
                "Error validating access token: Session has expired.", 190, subcode=463
            )
        if record.kind != kind or (subject is not None and record.subject != subject):
            return 403, graph_error("(#200) Permissions error", 200)
        return record

    def _accept_container(self, user_id: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        media_type = params.get("media_type", "")
        if media_type != "TEXT":
            return 400, graph_error(
                f"(#100) The fake supports media_type=TEXT only, not {media_type!r}", 100
            )
        text = params.get("text", "")
        link = params.get("link_attachment")
        if not text.strip():
            return 400, graph_error("(#100) Param text is required for TEXT posts", 100)
        if length(text, "threads") > 500:
            return 400, graph_error(
                "(#100) Param text must be at most 500 characters long.", 100, subcode=2207025
            )
        if link is not None and not re.match(r"^https?://\S+$", link):
            return 400, graph_error("(#100) Param link_attachment must be a valid URL", 100)
        links = {u.url for u in extract_urls(text, "threads")} | ({link} if link else set())
        if len(links) > 5:
            return 400, graph_error(
                "THREADS_API__LINK_LIMIT_EXCEEDED: a post can contain at most 5 unique links",
                100,
                error_type="THApiException",
            )
        with self._lock:
            container_id = str(next(self._ids))
            self._containers[container_id] = {
                "id": container_id,
                "user_id": user_id,
                "text": text,
                "link_attachment": link,
                "created_at": self.clock(),
                "status": "FINISHED",
                "media_id": None,
            }
        return 200, {"id": container_id}

    def _publish_container(
        self, user_id: str, params: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        creation_id = params.get("creation_id", "")
        now = self.clock()
        with self._lock:
            container = self._containers.get(creation_id)
            if container is None or container["user_id"] != user_id:
                return 400, graph_error(
                    f"(#100) Param creation_id must be a media container of this user; "
                    f"{creation_id!r} is not",
                    100,
                )
            _expire(container, now)
            if container["status"] != "FINISHED":
                return 400, graph_error(
                    f"(#100) The media container {creation_id} cannot be published: it is "
                    f"{container['status']}",
                    100,
                )
            recent = [p for p in self._threads_posts if p["time"] > now - DAY]
            if self.extra_quota_usage + len(recent) >= self.quota_total:
                return 400, graph_error(
                    "The maximum number of posts that were published in 24 hours has been reached.",
                    9,
                    subcode=2207042,
                )
            media_id = str(next(self._ids))
            shortcode = secrets.token_urlsafe(8).replace("-", "A").replace("_", "B")
            post = {
                "id": media_id,
                "text": container["text"],
                "link_attachment": container["link_attachment"],
                "permalink": f"https://www.threads.net/@{self.threads_username}/post/{shortcode}",
                "time": now,
                "user_id": user_id,
                "container_id": creation_id,
            }
            container["status"] = "PUBLISHED"
            container["media_id"] = media_id
            self._threads_posts.append(post)
        return 200, {"id": media_id}

    def _publishing_limit(self) -> dict[str, Any]:
        entry = {
            "quota_usage": self.quota_usage(),
            "config": {"quota_total": self.quota_total, "quota_duration": int(DAY)},
        }
        return {"data": [entry]}

    def _refresh(self, record: _Token, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if params.get("grant_type") != "th_refresh_token":
            return 400, graph_error("(#100) Param grant_type must be th_refresh_token", 100)
        if self.clock() - record.issued_at < DAY:
            return 400, graph_error(
                "(#100) The access token must be at least 24 hours old to be refreshed", 100
            )
        new = self.issue_threads_token()
        return 200, {"access_token": new, "token_type": "bearer", "expires_in": int(TOKEN_LIFETIME)}

    def _read_object(
        self, object_id: str, record: _Token, fields: str
    ) -> tuple[int, dict[str, Any]]:
        wanted = [f for f in fields.split(",") if f] or ["id"]
        with self._lock:
            container = self._containers.get(object_id)
            post = next((p for p in self._threads_posts if p["id"] == object_id), None)
            if container is not None:
                _expire(container, self.clock())
            found = container if container is not None else post
            if found is None or record.kind != "threads" or found["user_id"] != record.subject:
                return 400, graph_error(
                    f"Unsupported get request. Object with ID '{object_id}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this "
                    "operation.",
                    100,
                    subcode=33,
                )
            answer: dict[str, Any] = {"id": object_id}
            for name in wanted:
                if name == "status" and container is not None:
                    answer["status"] = container["status"]
                elif name in found and name not in ("user_id", "created_at"):
                    answer[name] = found[name]
        return 200, answer

    def _accept_feed_post(
        self, record: _Token, params: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        missing = {"pages_manage_posts", "pages_read_engagement"} - set(record.permissions)
        if missing:
            return 403, graph_error(
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
                200,
            )
        message, link = params.get("message", ""), params.get("link", "")
        if not message and not link:
            return 400, graph_error("(#100) Missing message or attachment", 100)
        with self._lock:
            if any(
                p["message"] == message and p["link"] == link and p["page_id"] == record.subject
                for p in self._facebook_posts
            ):
                return 400, graph_error("(#506) Duplicate status message", 506)
            post_id = f"{record.subject}_{next(self._ids)}"
            self._facebook_posts.append(
                {
                    "id": post_id,
                    "message": message,
                    "link": link,
                    "time": self.clock(),
                    "page_id": record.subject,
                }
            )
        return 200, {"id": post_id}

    def _delete_object(self, object_id: str, record: _Token) -> tuple[int, dict[str, Any]]:
        if record.kind == "threads" and not self.threads_delete:
            return 403, graph_error(
                "(#10) Application does not have permission for this action", 10
            )
        if record.kind == "page" and "pages_manage_posts" not in record.permissions:
            return 403, graph_error(
                "(#200) Deleting a Page post requires pages_manage_posts as an admin with "
                "sufficient administrative permission",
                200,
            )
        posts, owner = (
            (self._threads_posts, "user_id")
            if record.kind == "threads"
            else (self._facebook_posts, "page_id")
        )
        with self._lock:
            post = next(
                (p for p in posts if p["id"] == object_id and p[owner] == record.subject), None
            )
            if post is not None:
                posts.remove(post)
                self._deleted.append(post | {"deleted_at": self.clock()})
        if post is None:
            return 400, graph_error(
                f"Unsupported delete request. Object with ID '{object_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this "
                "operation. Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api",
                100,
                subcode=33,
                error_type="GraphMethodException",
            )
        if record.kind == "threads":
            return 200, {"success": True, "deleted_id": object_id}
        return 200, {"success": True}

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _endpoint(method: str, path: str) -> tuple[str, str | None]:
    """(endpoint name, the id in the path) for a path without its version prefix."""
    parts = [p for p in path.split("/") if p]
    if method == "GET" and parts == ["refresh_access_token"]:
        return "refresh_access_token", None
    if len(parts) == 2:
        owner, edge = parts
        if method == "POST" and edge in ("threads", "threads_publish", "feed"):
            return edge, owner
        if method == "GET" and edge == "threads_publishing_limit":
            return edge, owner
    if method == "GET" and len(parts) == 1:
        return "object", parts[0]
    if method == "DELETE" and len(parts) == 1:
        return "delete", parts[0]
    return "unknown", None


def _expire(container: dict[str, Any], now: float) -> None:
    """An unpublished container expires after 24 h."""
    if container["status"] == "FINISHED" and now - container["created_at"] > CONTAINER_LIFETIME:
        container["status"] = "EXPIRED"


class _Handler(TrackedHandler[FakeGraph]):
    server_version = "fake-graph"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK cost 40 ms per answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # --- plumbing -----------------------------------------------------------------------------

    def _params(self) -> tuple[dict[str, str], str | None]:
        """Query and body parameters merged (body wins), and the access token."""
        split = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size) if size else b""
        content_type = self.headers.get("Content-Type", "")
        if raw and content_type.startswith("application/x-www-form-urlencoded"):
            params |= dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
        elif raw and content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
                if isinstance(body, dict):
                    params |= {
                        k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()
                    }
        token = params.pop("access_token", None)
        authorization = self.headers.get("Authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if token is None and scheme.lower() in ("bearer", "oauth") and credentials:
            token = credentials.strip()
        return params, token

    def _send(
        self,
        status: int,
        body: dict[str, Any],
        request: FakeRequest,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.fake._record(replace(request, status=status))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-fb-trace-id", secrets.token_urlsafe(8))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, request: FakeRequest) -> None:
        self.fake._record(replace(request, status=None))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # --- routes -------------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        fake = self.fake
        params, token = self._params()
        path = urllib.parse.urlsplit(self.path).path
        bare = _VERSION_PREFIX.sub("", path)
        endpoint, owner = _endpoint(method, bare)
        request = FakeRequest(method, path, endpoint, None, fake.clock(), params, token)
        with fake._lock:
            down = fake._down
        if down:
            self._send(503, server_error_body(), replace(request, note="down"))
            return
        if fake.delay > 0 and fake._stopping.wait(fake.delay):
            self._drop(replace(request, note="stopped"))
            return
        script = fake._script_for(endpoint)
        if script is not None and script.status is not None:
            self._send(
                script.status, script.body or {}, replace(request, note=script.note), script.headers
            )
            return
        status, body = self._answer(endpoint, owner, params, token)
        if script is not None and 200 <= status < 300:
            request = replace(request, note=script.note)
            if script.after_accept == "drop":
                self._drop(request)
                return
            if script.after_accept == "delay" and fake._stopping.wait(script.seconds):
                self._drop(request)
                return
        self._send(status, body, request)

    def _answer(
        self, endpoint: str, owner: str | None, params: dict[str, str], token: str | None
    ) -> tuple[int, dict[str, Any]]:
        fake = self.fake
        if endpoint == "unknown":
            return 400, graph_error(
                "Unknown path components: the fake serves only the Threads and Page calls",
                2500,
            )
        kind = "page" if endpoint == "feed" else "threads"
        if endpoint == "delete":  # the same path for both: the token says which
            with fake._lock:
                found = fake._tokens.get(token or "")
            kind = found.kind if found is not None else kind
        subject = owner if endpoint not in ("object", "refresh_access_token", "delete") else None
        checked = fake._check_token(token, kind, subject)
        if not isinstance(checked, _Token):
            return checked
        assert owner is not None or endpoint == "refresh_access_token"
        if endpoint == "threads":
            return fake._accept_container(str(owner), params)
        if endpoint == "threads_publish":
            return fake._publish_container(str(owner), params)
        if endpoint == "threads_publishing_limit":
            return 200, fake._publishing_limit()
        if endpoint == "refresh_access_token":
            return fake._refresh(checked, params)
        if endpoint == "object":
            return fake._read_object(str(owner), checked, params.get("fields", ""))
        if endpoint == "delete":
            return fake._delete_object(str(owner), checked)
        return fake._accept_feed_post(checked, params)
