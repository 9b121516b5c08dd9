"""A fake Bluesky PDS: the XRPC methods syndbot's publisher calls, validated like the real ones.

In a test::

    with FakeBluesky() as fake:                 # 127.0.0.1, a free port, in a thread
        account = AccountConfig(id="bsky-main", platform="bluesky",
                                credentials=fake.credentials(), api_base=fake.url)
        ...
        fake.fail_next(2, status=503)           # scripted answers for createRecord, in order
        fake.rate_limit_next(reset_in=600)
        fake.expire_access_tokens()             # the next call with a current token: ExpiredToken
        assert [p.text for p in fake.posts] == [...]
        assert fake.logins == 1

Served methods (anything else under ``/xrpc/`` answers 501 ``MethodNotImplemented``):

- ``com.atproto.server.createSession``: identifier (handle, with or without ``@``, the DID or
  the e-mail) and password → ``accessJwt``/``refreshJwt``/``did``/``handle``/``didDoc`` (its
  PDS endpoint is this fake, so the SDK keeps talking to it). A wrong pair gets the PDS's 401
  ``AuthenticationRequired`` "Invalid identifier or password". ``logins`` counts successes.
- ``com.atproto.server.refreshSession`` (refresh token): new tokens; the old refresh token is
  revoked (rotation, without the real PDS's short grace period). ``refreshes`` counts them.
- ``com.atproto.server.getSession``.
- ``com.atproto.repo.uploadBlob``: over ``max_blob_bytes`` (1,000,000, the limit of
  ``app.bsky.embed.external``'s thumb, enforced here at upload to keep the fake simple) → 400
  ``BlobTooLarge``; else a blob ref whose link is the real CIDv1 (raw, sha-256) of the bytes.
- ``com.atproto.repo.createRecord`` for ``app.bsky.feed.post``, validated like the lexicon:
  ``text`` ≤ 300 graphemes and ≤ 3,000 UTF-8 bytes; ``createdAt`` a datetime with a zone;
  ``langs`` ≤ 3 language tags; every facet's ``byteStart``/``byteEnd`` inside the text's UTF-8
  bytes and on character boundaries, and — stricter than the PDS, to catch offset bugs — the
  bytes a link covers must be its ``uri`` and the bytes a tag covers ``#``/``＃`` + its ``tag``;
  ``app.bsky.embed.external`` with string ``uri``/``title``/``description`` and a ``thumb``
  that references a blob uploaded here, with the same mime type and size. ``rkey`` must be a
  TID (syntax, and — our own check — a timestamp not in the future). A second create at the
  same rkey gets what bsky.social answers today: **500 InternalServerError** (bluesky-social/
  atproto#3718, indigo#873; an explicit error is proposed in atproto#4728). Pass
  ``duplicate_answer=(status, body)`` to model a PDS that answers otherwise.
- ``com.atproto.repo.getRecord``: the record, or 400 ``RecordNotFound``.
- ``com.atproto.repo.deleteRecord`` (access token; ``repo`` must be this account, else 401
  ``AuthRequired``): a post is removed from ``posts`` (and listed in ``deleted``), answered
  with its commit; a record that is not there gets what the reference PDS answers, **200 with
  no commit** ("delete a record, or ensure it doesn't exist"). Pass
  ``missing_delete_answer=(status, body)`` to model a PDS that answers otherwise.

Tokens are HS256 JWTs with real ``exp`` claims (the SDK refreshes 15 minutes before ``exp``;
``access_ttl`` makes that happen). An expired or revoked token gets 400 ``ExpiredToken``, an
unknown one 400 ``InvalidToken``, none 401 ``AuthMissing``.

Faults: ``fail_next`` (scripted status/body, per method), ``rate_limit_next`` (429
``RateLimitExceeded`` with ``ratelimit-limit/remaining/reset/policy``), ``accept_then_drop``
(the record is created, then the connection closes unanswered), ``accept_then_delay``,
``expire_access_tokens``/``expire_refresh_tokens``, ``down``/``up``, ``delay``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import regex  # type: ignore[import-untyped, unused-ignore]

from tests.fakes.server import LocalServer, TrackedHandler

HANDLE = "newsroom.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:fakenewsroom2bsky4syndbot"
EMAIL = "desk@newsroom.example"

POST_COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
MAX_BLOB_BYTES = 1_000_000
ACCESS_TTL = 2 * 3600
REFRESH_TTL = 90 * 24 * 3600

TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_GRAPHEME = regex.compile(r"\X", regex.DOTALL)

SERVER_ERROR_BODY = {"error": "InternalServerError", "message": "Internal Server Error"}
RATE_LIMITED_BODY = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
BAD_LOGIN_BODY = {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}


def tid_timestamp(tid: str) -> int:
    """Microseconds since the epoch encoded in a TID."""
    value = 0
    for ch in tid:
        value = (value << 5) | TID_ALPHABET.index(ch)
    return value >> 10


def cid_for(data: bytes, *, codec: int) -> str:
    """The CIDv1 (sha-256, base32) of ``data``: codec 0x55 raw for blobs, 0x71 for records."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def new_tid(now: float) -> str:
    value = (int(now * 1_000_000) << 10) | 0x155
    return "".join(TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


@dataclass(frozen=True, slots=True)
class FakeRequest:
    """One XRPC request answered (or dropped) by the fake."""

    method: str  # HTTP method
    nsid: str  # e.g. "com.atproto.repo.createRecord"
    status: int | None  # None: the connection was dropped without an answer
    time: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class Facet:
    """A facet as the fake decoded it: what its bytes cover and what it points to."""

    kind: str  # "link" | "tag" | "mention"
    value: str  # the link's uri, the tag (no '#'), the mention's did
    covered: str  # the text between byteStart and byteEnd
    byte_start: int
    byte_end: int


@dataclass(frozen=True, slots=True)
class StoredPost:
    """An accepted ``app.bsky.feed.post`` record."""

    uri: str
    cid: str
    rkey: str
    text: str
    created_at: str
    langs: tuple[str, ...]
    facets: tuple[Facet, ...]
    embed: dict[str, Any] | None
    record: dict[str, Any]
    time: float

    @property
    def card(self) -> dict[str, Any] | None:
        """The ``external`` object of an ``app.bsky.embed.external`` embed."""
        if self.embed and self.embed.get("$type") == "app.bsky.embed.external":
            external: dict[str, Any] = self.embed["external"]
            return external
        return None


@dataclass(frozen=True, slots=True)
class Blob:
    cid: str
    mime_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True)
class _Token:
    kind: str  # "access" | "refresh"
    exp: float
    expired: bool = False  # expired or revoked server-side


@dataclass(slots=True)
class _Script:
    nsid: str
    status: int | None = None  # None: handle normally
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_accept: str | None = None  # "drop" | "delay"
    seconds: float = 0.0
    note: str = ""


class XrpcError(Exception):
    """An error answer: status, ``{"error", "message"}``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": error, "message": message}


def _invalid(message: str) -> XrpcError:
    return XrpcError(400, "InvalidRequest", f"Invalid app.bsky.feed.post record: {message}")


class FakeBluesky(LocalServer):
    """A fake PDS with one account on ``host``:``port`` (0: any free port), run in a thread."""

    def __init__(
        self,
        *,
        handle: str = HANDLE,
        password: str = APP_PASSWORD,
        did: str = DID,
        email: str = EMAIL,
        host: str = "127.0.0.1",
        port: int = 0,
        access_ttl: float = ACCESS_TTL,
        refresh_ttl: float = REFRESH_TTL,
        max_blob_bytes: int = MAX_BLOB_BYTES,
        duplicate_answer: tuple[int, dict[str, Any]] = (500, SERVER_ERROR_BODY),
        missing_delete_answer: tuple[int, dict[str, Any]] = (200, {}),
        delay: float = 0.0,
    ) -> None:
        self.handle = handle
        self.password = password
        self.did = did
        self.email = email
        self.host = host
        self.port = port
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.max_blob_bytes = max_blob_bytes
        self.duplicate_answer = duplicate_answer
        self.missing_delete_answer = missing_delete_answer
        self.delay = delay
        self.logins = 0
        self.refreshes = 0
        self._secret = hashlib.sha256(f"fake-bluesky:{did}".encode()).digest()
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._scripts: deque[_Script] = deque()
        self._down = False
        self._posts: dict[str, StoredPost] = {}  # rkey → post, in creation order
        self._deleted: list[StoredPost] = []
        self._blobs: dict[str, Blob] = {}
        self._requests: list[FakeRequest] = []
        self._jti = 0
        self._init_server()

    # --- lifecycle ------------------------------------------------------------------------

    def _handler(self) -> type[_Handler]:
        return _Handler

    def credentials(self) -> dict[str, str]:
        """The account's credentials as a syndbot account's config wants them."""
        return {"handle": self.handle, "app_password": self.password}

    # --- faults ---------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        body: dict[str, Any] | None = None,
        nsid: str = "com.atproto.repo.createRecord",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` calls of ``nsid`` answer ``status`` with ``body``."""
        body = body or {"error": "InternalServerError", "message": f"scripted {status}"}
        for _ in range(n):
            self._push(_Script(nsid, status, body, dict(headers or {}), note="fail"))

    def rate_limit_next(
        self,
        n: int = 1,
        *,
        reset_in: float = 3600,
        limit: int = 5000,
        window: int = 3600,
        nsid: str = "com.atproto.repo.createRecord",
    ) -> None:
        """The next ``n`` calls of ``nsid`` get 429 with an exhausted window resetting in
        ``reset_in`` seconds (default: the 5,000-points-per-hour write limit)."""
        reset = str(int(time.time() + reset_in))
        headers = {
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": "0",
            "ratelimit-reset": reset,
            "ratelimit-policy": f"{limit};w={window}",
        }
        for _ in range(n):
            self._push(_Script(nsid, 429, RATE_LIMITED_BODY, headers, note="rate_limit"))

    def accept_then_drop(self, n: int = 1) -> None:
        """The next ``n`` valid creates are stored, then the connection closes unanswered."""
        for _ in range(n):
            self._push(
                _Script("com.atproto.repo.createRecord", after_accept="drop", note="accept_drop")
            )

    def accept_then_delay(self, n: int = 1, *, seconds: float = 5.0) -> None:
        """The next ``n`` valid creates are stored, then answered only after ``seconds``."""
        for _ in range(n):
            self._push(
                _Script(
                    "com.atproto.repo.createRecord",
                    after_accept="delay",
                    seconds=seconds,
                    note="accept_delay",
                )
            )

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired: its next use gets 400 ExpiredToken
        (the SDK still believes it valid, as after a server-side revocation or clock skew)."""
        self._expire("access")

    def expire_refresh_tokens(self) -> None:
        """Every refresh token issued so far is expired (as after 90 days, or revoked)."""
        self._expire("refresh")

    def down(self) -> None:
        """The PDS is down: every XRPC request gets 503 until ``up()``."""
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def _expire(self, kind: str) -> None:
        with self._lock:
            for token in self._tokens.values():
                if token.kind == kind:
                    token.expired = True

    def _push(self, script: _Script) -> None:
        with self._lock:
            self._scripts.append(script)

    def _script_for(self, nsid: str) -> _Script | None:
        with self._lock:
            for script in self._scripts:
                if script.nsid == nsid:
                    self._scripts.remove(script)
                    return script
        return None

    # --- records --------------------------------------------------------------------------

    @property
    def posts(self) -> list[StoredPost]:
        """Accepted posts, oldest first."""
        with self._lock:
            return list(self._posts.values())

    @property
    def deleted(self) -> list[StoredPost]:
        """Deleted posts, in the order of deletion."""
        with self._lock:
            return list(self._deleted)

    @property
    def blobs(self) -> dict[str, Blob]:
        """Uploaded blobs by CID."""
        with self._lock:
            return dict(self._blobs)

    @property
    def requests(self) -> list[FakeRequest]:
        """Every XRPC request answered (or dropped), oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, nsid: str) -> list[FakeRequest]:
        return [r for r in self.requests if r.nsid == nsid]

    # --- tokens ---------------------------------------------------------------------------

    def _jwt(self, kind: str, now: float) -> str:
        ttl = self.access_ttl if kind == "access" else self.refresh_ttl
        header = {"typ": "at+jwt" if kind == "access" else "refresh+jwt", "alg": "HS256"}
        self._jti += 1
        payload = {
            "scope": "com.atproto.appPass" if kind == "access" else "com.atproto.refresh",
            "sub": self.did,
            "aud": f"did:web:{self.host}",
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": f"{kind}-{self._jti}",
        }
        signing_input = b".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        signature = _b64(hmac.new(self._secret, signing_input, hashlib.sha256).digest())
        token = (signing_input + b"." + signature).decode()
        self._tokens[token] = _Token(kind, now + ttl)
        return token

    def _new_session(self) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            access, refresh = self._jwt("access", now), self._jwt("refresh", now)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "email": self.email,
            "emailConfirmed": True,
            "active": True,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": self.did,
                "alsoKnownAs": [f"at://{self.handle}"],
                "verificationMethod": [],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.url,
                    }
                ],
            },
        }

    def _check_token(self, authorization: str, kind: str) -> None:
        if not authorization.startswith("Bearer "):
            raise XrpcError(401, "AuthMissing", "Authentication Required")
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            raise XrpcError(400, "InvalidToken", "Token could not be verified")
        if found.kind != kind:
            raise XrpcError(400, "InvalidToken", "Invalid token type")
        if found.expired or found.exp <= time.time():
            raise XrpcError(400, "ExpiredToken", "Token has expired")

    # --- methods --------------------------------------------------------------------------

    def create_session(self, body: dict[str, Any]) -> dict[str, Any]:
        identifier = str(body.get("identifier") or "").strip().lower().removeprefix("@")
        password = str(body.get("password") or "")
        known = {self.handle.lower(), self.did, self.email.lower()}
        if identifier not in known or not hmac.compare_digest(password, self.password):
            raise XrpcError(401, **BAD_LOGIN_BODY)
        session = self._new_session()
        with self._lock:
            self.logins += 1
        return session

    def refresh_session(self, authorization: str) -> dict[str, Any]:
        self._check_token(authorization, "refresh")
        old = authorization.removeprefix("Bearer ").strip()
        session = self._new_session()
        with self._lock:
            self._tokens[old].expired = True  # rotated
            self.refreshes += 1
        del session["email"], session["emailConfirmed"]
        return session

    def get_session(self) -> dict[str, Any]:
        return {"handle": self.handle, "did": self.did, "email": self.email, "active": True}

    def upload_blob(self, data: bytes, content_type: str) -> dict[str, Any]:
        if len(data) > self.max_blob_bytes:
            raise XrpcError(
                400,
                "BlobTooLarge",
                f"This file is too large. It is {len(data) / 1e6:.2f}MB but the maximum size "
                f"is {self.max_blob_bytes / 1e6:.2f}MB.",
            )
        mime = _sniff(data) or content_type.split(";")[0].strip() or "application/octet-stream"
        blob = Blob(cid_for(data, codec=0x55), mime, data)
        with self._lock:
            self._blobs[blob.cid] = blob
        return {
            "blob": {
                "$type": "blob",
                "ref": {"$link": blob.cid},
                "mimeType": blob.mime_type,
                "size": blob.size,
            }
        }

    def create_record(self, body: dict[str, Any]) -> tuple[StoredPost, dict[str, Any]]:
        """Validate and store; the post and the answer body. Raises ``XrpcError``."""
        repo = body.get("repo")
        if repo not in (self.did, self.handle):
            raise XrpcError(400, "InvalidRequest", f"Could not find repo: {repo}")
        if body.get("collection") != POST_COLLECTION:
            raise XrpcError(
                400, "InvalidRequest", f"Unsupported collection: {body.get('collection')}"
            )
        record = body.get("record")
        if not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", "Input/record must be an object")
        if record.get("$type") != POST_COLLECTION:
            raise XrpcError(400, "InvalidRequest", "Invalid $type: must match collection")
        now = time.time()
        rkey = body.get("rkey")
        if rkey is None:
            rkey = new_tid(now)
        if not isinstance(rkey, str) or not TID_RE.match(rkey):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key (must be a TID): {rkey}")
        if tid_timestamp(rkey) > (now + 300) * 1_000_000:
            raise XrpcError(400, "InvalidRequest", f"Record key is a TID in the future: {rkey}")
        post = self._validate_post(record, rkey, now)
        with self._lock:
            if rkey in self._posts:
                status, answer = self.duplicate_answer
                raise XrpcError(status, answer["error"], answer.get("message", ""))
            self._posts[rkey] = post
        answer = {
            "uri": post.uri,
            "cid": post.cid,
            "commit": {"cid": cid_for(post.cid.encode(), codec=0x71), "rev": new_tid(now)},
            "validationStatus": "valid",
        }
        return post, answer

    def get_record(self, params: dict[str, str]) -> dict[str, Any]:
        repo, collection, rkey = params.get("repo"), params.get("collection"), params.get("rkey")
        with self._lock:
            post = self._posts.get(rkey or "")
        if post is None or repo not in (self.did, self.handle) or collection != POST_COLLECTION:
            raise XrpcError(
                400, "RecordNotFound", f"Could not locate record: at://{repo}/{collection}/{rkey}"
            )
        return {"uri": post.uri, "cid": post.cid, "value": post.record}

    def delete_record(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Delete a post, or ensure it does not exist: the status and answer body."""
        repo, collection, rkey = body.get("repo"), body.get("collection"), body.get("rkey")
        if repo not in (self.did, self.handle):
            raise XrpcError(401, "AuthRequired", "Input/repo must be the authenticated account")
        if not isinstance(collection, str) or not isinstance(rkey, str) or not rkey:
            raise XrpcError(
                400, "InvalidRequest", "Input must have the properties collection, rkey"
            )
        with self._lock:
            post = self._posts.pop(rkey, None) if collection == POST_COLLECTION else None
            if post is not None:
                self._deleted.append(post)
        if post is None:
            status, answer = self.missing_delete_answer
            if status >= 400:
                raise XrpcError(status, answer["error"], answer.get("message", ""))
            return status, dict(answer)
        now = time.time()
        commit = {"cid": cid_for(f"delete:{post.cid}".encode(), codec=0x71), "rev": new_tid(now)}
        return 200, {"commit": commit}

    # --- validation -----------------------------------------------------------------------

    def _validate_post(self, record: dict[str, Any], rkey: str, now: float) -> StoredPost:
        text = record.get("text", "")
        if not isinstance(text, str):
            raise _invalid("Record/text must be a string")
        data = text.encode("utf-8")
        if len(data) > MAX_TEXT_BYTES:
            raise _invalid(f"Record/text must not be longer than {MAX_TEXT_BYTES} characters")
        if len(_GRAPHEME.findall(text)) > MAX_GRAPHEMES:
            raise _invalid(f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes")
        created_at = record.get("createdAt")
        if not isinstance(created_at, str) or not _is_datetime(created_at):
            raise _invalid(
                "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
            )
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            raise _invalid("Record/langs must not have more than 3 elements")
        for lang in langs:
            if not isinstance(lang, str) or not LANG_RE.match(lang):
                raise _invalid(f"Record/langs must be well-formed BCP-47 language tags: {lang!r}")
        facets = tuple(_facet(data, f, i) for i, f in enumerate(record.get("facets") or []))
        embed = record.get("embed")
        if embed is not None:
            self._validate_embed(embed)
        encoded = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        return StoredPost(
            uri=f"at://{self.did}/{POST_COLLECTION}/{rkey}",
            cid=cid_for(encoded, codec=0x71),
            rkey=rkey,
            text=text,
            created_at=created_at,
            langs=tuple(langs),
            facets=facets,
            embed=embed,
            record=record,
            time=now,
        )

    def _validate_embed(self, embed: Any) -> None:
        if not isinstance(embed, dict) or embed.get("$type") != "app.bsky.embed.external":
            raise _invalid("Record/embed: only app.bsky.embed.external is served by this fake")
        external = embed.get("external")
        if not isinstance(external, dict):
            raise _invalid("Record/embed/external must be an object")
        for name in ("uri", "title", "description"):
            if not isinstance(external.get(name), str):
                raise _invalid(f"Record/embed/external must have the property {name!r}")
        if not external["uri"].startswith(("https://", "http://")):
            raise _invalid("Record/embed/external/uri must be a uri")
        thumb = external.get("thumb")
        if thumb is None:
            return
        link = (thumb.get("ref") or {}).get("$link") if isinstance(thumb, dict) else None
        with self._lock:
            blob = self._blobs.get(link or "")
        if not isinstance(thumb, dict) or thumb.get("$type") != "blob" or blob is None:
            raise XrpcError(400, "InvalidRequest", f"Could not find blob: {link}")
        if not str(thumb.get("mimeType", "")).startswith("image/"):
            raise _invalid("Record/embed/external/thumb mimeType must be image/*")
        if thumb.get("mimeType") != blob.mime_type or thumb.get("size") != blob.size:
            raise XrpcError(400, "InvalidRequest", f"Blob metadata does not match: {link}")
        if blob.size > MAX_BLOB_BYTES:
            raise _invalid(f"Record/embed/external/thumb is larger than {MAX_BLOB_BYTES} bytes")

    def _record(self, method: str, nsid: str, status: int | None, note: str = "") -> None:
        with self._lock:
            self._requests.append(FakeRequest(method, nsid, status, time.time(), note))


def _facet(text: bytes, facet: Any, i: int) -> Facet:
    where = f"Record/facets/{i}"
    if not isinstance(facet, dict):
        raise _invalid(f"{where} must be an object")
    index = facet.get("index") or {}
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int):
        raise _invalid(f"{where}/index must have byteStart and byteEnd integers")
    if not 0 <= start < end <= len(text):
        raise _invalid(f"{where}/index [{start}, {end}) is outside the text ({len(text)} bytes)")
    try:
        covered = text[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{where}/index [{start}, {end}) cuts a character in two") from None
    features = facet.get("features")
    if not isinstance(features, list) or len(features) != 1 or not isinstance(features[0], dict):
        raise _invalid(f"{where}/features must hold one feature")
    feature = features[0]
    kind = str(feature.get("$type", "")).removeprefix("app.bsky.richtext.facet#")
    if kind == "link":
        uri = feature.get("uri")
        if not isinstance(uri, str) or covered != uri:
            raise _invalid(f"{where}: link covers {covered!r}, not its uri {uri!r}")
        return Facet("link", uri, covered, start, end)
    if kind == "tag":
        tag = feature.get("tag")
        if not isinstance(tag, str) or not tag or len(tag) > 640:
            raise _invalid(f"{where}/features/0/tag must be 1 to 640 characters")
        if covered not in (f"#{tag}", f"＃{tag}"):
            raise _invalid(f"{where}: tag covers {covered!r}, not '#{tag}'")
        return Facet("tag", tag, covered, start, end)
    if kind == "mention":
        did = feature.get("did")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise _invalid(f"{where}/features/0/did must be a did")
        return Facet("mention", did, covered, start, end)
    raise _invalid(f"{where}/features/0 has an unknown $type {feature.get('$type')!r}")


def _is_datetime(value: str) -> bool:
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class _Handler(TrackedHandler[FakeBluesky]):
    server_version = "fake-bluesky-pds"

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # --- plumbing -------------------------------------------------------------------------

    def _nsid(self) -> str:
        return urllib.parse.urlsplit(self.path).path.removeprefix("/xrpc/")

    def _send(
        self,
        status: int,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
        note: str = "",
    ) -> None:
        self.fake._record(self.command, self._nsid(), status, note)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self, note: str) -> None:
        self.fake._record(self.command, self._nsid(), None, note)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the fake stops; False when it stopped."""
        return not self.fake._stopping.wait(seconds) if seconds > 0 else True

    def _json(self, raw: bytes) -> dict[str, Any]:
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            raise XrpcError(400, "InvalidRequest", "Wrong request encoding (Content-Type)")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise XrpcError(400, "InvalidRequest", "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise XrpcError(400, "InvalidRequest", "Input must be an object")
        return body

    # --- routes ---------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path)
        nsid = self._nsid()
        if not path.path.startswith("/xrpc/"):
            self._send(404, {"error": "NotFound", "message": "Not Found"})
            return
        with fake._lock:
            down = fake._down
        if down:
            self._send(503, {"error": "ServiceUnavailable", "message": "Service Unavailable"})
            return
        if not self._wait(fake.delay):
            self._drop("stopped")
            return
        script = fake._script_for(nsid)
        if script is not None and script.status is not None:
            self._send(script.status, script.body, script.headers, note=script.note)
            return
        authorization = self.headers.get("Authorization", "")
        params = dict(urllib.parse.parse_qsl(path.query))
        try:
            if (method, nsid) == ("POST", "com.atproto.server.createSession"):
                self._send(200, fake.create_session(self._json(raw)))
            elif (method, nsid) == ("POST", "com.atproto.server.refreshSession"):
                self._send(200, fake.refresh_session(authorization))
            elif (method, nsid) == ("GET", "com.atproto.server.getSession"):
                fake._check_token(authorization, "access")
                self._send(200, fake.get_session())
            elif (method, nsid) == ("POST", "com.atproto.repo.uploadBlob"):
                fake._check_token(authorization, "access")
                self._send(200, fake.upload_blob(raw, self.headers.get("Content-Type", "")))
            elif (method, nsid) == ("POST", "com.atproto.repo.createRecord"):
                fake._check_token(authorization, "access")
                self._create(self._json(raw), script)
            elif (method, nsid) == ("GET", "com.atproto.repo.getRecord"):
                self._send(200, fake.get_record(params))
            elif (method, nsid) == ("POST", "com.atproto.repo.deleteRecord"):
                fake._check_token(authorization, "access")
                self._send(*fake.delete_record(self._json(raw)))
            else:
                self._send(
                    501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}
                )
        except XrpcError as e:
            self._send(e.status, e.body, note=e.body["error"])

    def _create(self, body: dict[str, Any], script: _Script | None) -> None:
        _, answer = self.fake.create_record(body)
        if script is not None and script.after_accept == "drop":
            self._drop(script.note)
            return
        if script is not None and script.after_accept == "delay" and not self._wait(script.seconds):
            self._drop("stopped")
            return
        self._send(200, answer, note=script.note if script else "")
