"""A fake WebSub hub (W3C WebSub, as pubsubhubbub.appspot.com / websub.rocks behave).

In a test::

    with FakeHub(max_lease=6) as hub:              # 127.0.0.1, a free port, in a thread
        site = SampleSite(..., hub=hub.url + "/")    # the site advertises and pings it
        hub.wait_for_subscription(topic)             # verified intent, lease recorded
        hub.deny_next()                              # the next subscription is denied
        hub.fail_next(2, status=503)                 # the next two requests get 503
        hub.stop(); hub.start()                      # down and back up, same port

What it does, like a real hub:

- ``POST`` with ``hub.mode=subscribe|unsubscribe`` (form-encoded): ``hub.callback`` and
  ``hub.topic`` must be http(s) URLs, ``hub.secret`` under 200 bytes, else 400 with a plain
  text reason. Otherwise 202 Accepted, then, from another thread, intent verification: a GET
  on the callback with ``hub.mode``, ``hub.topic``, ``hub.challenge`` (random, single use) and,
  for a subscription, ``hub.lease_seconds`` (the one asked for, at most ``max_lease``, default
  ``default_lease``). Only a 2xx whose body is exactly the challenge verifies; then the
  subscription (topic, callback) is recorded or replaced (a renewal), or removed.
  A denial is a GET with ``hub.mode=denied``, ``hub.topic`` and ``hub.reason``.
- ``POST`` with ``hub.mode=publish`` and ``hub.url`` (one or more; ``hub.topic`` also taken):
  204, then for each topic with live subscriptions the hub GETs the topic and POSTs the body to
  each callback with the topic's ``Content-Type``, ``Link: <hub>; rel="hub", <topic>;
  rel="self"`` and, when the subscription has a secret, ``X-Hub-Signature: sha256=…``.
- Expired leases get nothing; a callback answering 410 loses its subscription.

Records: ``requests`` (subscription requests as dicts), ``verifications`` (mode, topic,
callback, ok, lease, at), ``deliveries`` (callback, topic, status, at), ``publishes``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.server import FakeHandler, LocalServer


@dataclass
class Subscription:
    topic: str
    callback: str
    secret: str | None
    lease: int
    expires: float  # time.monotonic()
    verified_at: float


class FakeHub(LocalServer):
    """A WebSub hub on ``host``:``port`` (0: a free port)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default_lease: int = 864000,
        max_lease: int | None = None,
        algorithm: str = "sha256",
    ) -> None:
        self.host = host
        self.port = port
        self.default_lease = default_lease
        self.max_lease = max_lease
        self.algorithm = algorithm
        self._lock = threading.RLock()  # predicates of wait_for may read under it
        self._changed = threading.Condition(self._lock)
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.requests: list[dict[str, Any]] = []
        self.verifications: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.publishes: list[list[str]] = []
        self._deny = 0
        self._fail: list[int] = []
        self._init_server()

    def _handler(self) -> type[FakeHandler[FakeHub]]:
        return _Handler

    # -- scripting ------------------------------------------------------------------------------

    def deny_next(self, n: int = 1) -> None:
        with self._lock:
            self._deny += n

    def fail_next(self, n: int = 1, *, status: int = 503) -> None:
        with self._lock:
            self._fail += [status] * n

    # -- reading --------------------------------------------------------------------------------

    def live(self, topic: str | None = None) -> list[Subscription]:
        now = time.monotonic()
        with self._lock:
            return [
                s
                for s in self.subscriptions.values()
                if s.expires > now and (topic is None or s.topic == topic)
            ]

    def wait_for(self, predicate: Any, timeout: float = 20.0, what: str = "the hub") -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                self._changed.wait(min(left, 0.1))

    def wait_for_subscription(self, topic: str, timeout: float = 20.0) -> Subscription:
        def found() -> Subscription | None:
            now = time.monotonic()
            live = [s for s in self.subscriptions.values() if s.topic == topic and s.expires > now]
            return live[0] if live else None

        sub: Subscription = self.wait_for(found, timeout, f"a subscription to {topic}")
        return sub

    def _note(self, records: list[Any], item: Any) -> None:
        with self._changed:
            records.append(item)
            self._changed.notify_all()

    # -- the hub's work ---------------------------------------------------------------------------

    def _subscription_request(self, form: dict[str, list[str]]) -> tuple[int, str]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        mode, topic, callback = one("hub.mode"), one("hub.topic"), one("hub.callback")
        secret = one("hub.secret") or None
        for name, url in (("hub.topic", topic), ("hub.callback", callback)):
            if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).netloc:
                return 400, f"{name} must be an http(s) URL"
        if secret is not None and len(secret.encode()) >= 200:
            return 400, "hub.secret must be less than 200 bytes"
        asked = one("hub.lease_seconds")
        lease = int(asked) if asked.isdigit() and int(asked) > 0 else self.default_lease
        if self.max_lease is not None:
            lease = min(lease, self.max_lease)
        record = {
            "mode": mode,
            "topic": topic,
            "callback": callback,
            "secret": secret,
            "lease_seconds": asked,
            "at": time.monotonic(),
        }
        with self._lock:
            deny = self._deny > 0
            self._deny -= 1 if deny else 0
        self._note(self.requests, record)
        args = (mode, topic, callback, secret, lease, deny)
        threading.Thread(target=self._verify, args=args, daemon=True).start()
        return 202, ""

    def _verify(
        self, mode: str, topic: str, callback: str, secret: str | None, lease: int, deny: bool
    ) -> None:
        time.sleep(0.05)  # asynchronous, as a real hub: after the 202
        sep = "&" if urlsplit(callback).query else "?"
        if deny:
            query = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": "not on this hub"}
            status, _ = _get(callback + sep + urlencode(query))
            record = {"mode": "denied", "topic": topic, "callback": callback, "ok": False}
            self._note(self.verifications, record | {"status": status, "at": time.monotonic()})
            return
        challenge = secrets.token_urlsafe(16)
        query = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge}
        if mode == "subscribe":
            query["hub.lease_seconds"] = str(lease)
        status, body = _get(callback + sep + urlencode(query))
        ok = 200 <= status < 300 and body == challenge.encode()
        now = time.monotonic()
        with self._changed:
            if ok and mode == "subscribe":
                self.subscriptions[(topic, callback)] = Subscription(
                    topic, callback, secret, lease, now + lease, now
                )
            elif ok and mode == "unsubscribe":
                self.subscriptions.pop((topic, callback), None)
            record = {"mode": mode, "topic": topic, "callback": callback, "ok": ok}
            self.verifications.append(record | {"status": status, "lease": lease, "at": now})
            self._changed.notify_all()

    def publish(self, topics: list[str]) -> None:
        """Distribute ``topics`` now (what a publisher's ping makes the hub do)."""
        self._note(self.publishes, list(topics))
        for topic in topics:
            subs = self.live(topic)
            if not subs:
                continue
            status, body, content_type = _fetch(topic)
            if status != 200:
                continue
            for sub in subs:
                self.deliver(sub, body, content_type)

    def deliver(
        self, sub: Subscription, body: bytes, content_type: str = "application/rss+xml"
    ) -> int:
        headers = {
            "Content-Type": content_type,
            "Link": f'<{self.url}/>; rel="hub", <{sub.topic}>; rel="self"',
        }
        if sub.secret:
            digest = hmac.new(sub.secret.encode(), body, self.algorithm).hexdigest()
            headers["X-Hub-Signature"] = f"{self.algorithm}={digest}"
        status = post(sub.callback, body, headers)
        if status == 410:
            with self._lock:
                self.subscriptions.pop((sub.topic, sub.callback), None)
        record = {"callback": sub.callback, "topic": sub.topic, "status": status}
        self._note(self.deliveries, record | {"at": time.monotonic()})
        return status


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url``; the status (0 when unreachable)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def signature(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    return f"{algorithm}={hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()}"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError:
        return 0, b""


def _fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = answer.read()
            return int(answer.status), body, answer.headers.get("Content-Type") or ""
    except urllib.error.HTTPError as e:
        return e.code, b"", ""
    except OSError:
        return 0, b"", ""


class _Handler(FakeHandler[FakeHub]):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
        hub = self.fake
        with hub._lock:
            failure = hub._fail.pop(0) if hub._fail else None
        mode = (form.get("hub.mode") or [""])[0]
        if failure is not None:
            status, text = failure, "the hub is having trouble"
        elif mode in {"subscribe", "unsubscribe"}:
            status, text = hub._subscription_request(form)
        elif mode == "publish":
            topics = form.get("hub.url", []) + form.get("hub.topic", [])
            if not topics:
                status, text = 400, "hub.url is required"
            else:
                threading.Thread(target=hub.publish, args=(topics,), daemon=True).start()
                status, text = 204, ""
        else:
            status, text = 400, f"unknown hub.mode {mode!r}"
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
