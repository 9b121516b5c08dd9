"""The WebSub subscriber in process: a fake hub, the sample WordPress site advertising it, the
real callback listener (waitress) and a real ledger. Time is a hand-moved clock, so lease
renewal and retry backoff are checked without waiting for them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.config import Config, parse_config
from bot.demo.site import SampleSite
from bot.fetcher import Fetcher
from bot.store import Store
from bot.websub import ACTIVE, DENIED, NO_HUB, RETRYING, WebSub, WebSubListener, sign
from tests.fakes.fake_hub import FakeHub
from tests.support import story, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as h:
        yield h


@pytest.fixture
def site(hub: FakeHub) -> Iterator[SampleSite]:
    with SampleSite.bundled(hub=hub.url + "/") as s:
        yield s


def make_config(site: SampleSite, port: int, *, secret: str = "", **source: Any) -> Config:
    text = f"""\
websub:
  callback_url: http://127.0.0.1:{port}/websub
  port: {port}
  {f"secret: {secret}" if secret else ""}
  lease_seconds: 1000s
  retry_first: 10s
  retry_max: 60s
fetch: {{timeout: 5s, max_bytes: 100KB}}
sources:
  - id: ctn
    feed: {site.feed_url}
"""
    for key, value in source.items():
        text += f"    {key}: {value}\n"
    return parse_config(text, {})


@dataclass
class Subscriber:
    ws: WebSub
    store: Store
    clock: Clock
    pushes: list[str]
    listener: WebSubListener
    config: Config

    def row(self) -> Any:
        return self.store.websub_row(source_id="ctn")

    def restart(self, config: Config | None = None) -> Subscriber:
        """A new process on the same ledger (and port)."""
        self.close(keep_store=True)
        return start(config or self.config, self.store, self.clock, self.pushes)

    def close(self, *, keep_store: bool = False) -> None:
        self.listener.stop()
        self.ws.close()
        self.ws.fetcher.close()
        if not keep_store:
            self.store.close()


def start(config: Config, store: Store, clock: Clock, pushes: list[str]) -> Subscriber:
    ws = WebSub(config, store, Fetcher(config.fetch), clock=clock, on_push=pushes.append)
    ws.start()
    listener = WebSubListener(ws, max_bytes=config.fetch.max_bytes).start()
    return Subscriber(ws, store, clock, pushes, listener, config)


@pytest.fixture
def sub(tmp_path: Path, site: SampleSite) -> Iterator[Subscriber]:
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.migrate()
    s = start(make_config(site, free_port()), store, Clock(), [])
    yield s
    s.close()


def subscribed(sub: Subscriber, hub: FakeHub, site: SampleSite) -> None:
    sub.ws.tick()
    hub.wait_for_subscription(site.feed_url)
    wait_until(lambda: sub.row().state == ACTIVE, what="the ledger to record the subscription")


def test_subscribes_and_a_published_article_is_pushed(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    subscribed(sub, hub, site)
    [request] = hub.requests
    assert request["mode"] == "subscribe"
    assert request["topic"] == site.feed_url  # the plugin's self link, with the port
    assert request["callback"] == f"{sub.config.websub.callback_url}/{sub.row().token}"  # type: ignore[union-attr]
    assert request["lease_seconds"] == "1000"
    assert request["secret"] and request["secret"] == sub.row().secret
    assert len(request["secret"]) >= 32
    row = sub.row()
    assert row.expires_at == sub.clock.now + timedelta(seconds=1000)
    site.add(story(site, "Flooding in Les Cayes: roads cut"))
    wait_until(lambda: sub.pushes == ["ctn"], what="the push")
    assert hub.deliveries[-1]["status"] == 202


def test_renewal_at_80_percent_of_the_lease_keeps_the_callback(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    subscribed(sub, hub, site)
    token = sub.row().token
    sub.clock.advance(799)
    sub.ws.tick()
    assert len(hub.requests) == 1
    sub.clock.advance(1)
    sub.ws.tick()
    assert len(hub.requests) == 2
    assert hub.requests[1]["callback"] == hub.requests[0]["callback"]
    assert hub.requests[1]["secret"] == hub.requests[0]["secret"]
    assert sub.row().state == ACTIVE  # pushes keep working while the renewal is pending
    hub.wait_for(lambda: len(hub.verifications) == 2 and hub.verifications[1]["ok"])
    wait_until(lambda: sub.row().expires_at == sub.clock.now + timedelta(seconds=1000))
    assert sub.row().token == token
    # And pushes still work after the renewal.
    site.add(story(site, "Second story after renewal"))
    wait_until(lambda: sub.pushes == ["ctn"], what="the push")


def test_a_restart_within_the_lease_does_not_subscribe_again(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    subscribed(sub, hub, site)
    again = sub.restart()
    for _ in range(3):
        again.clock.advance(60)
        again.ws.tick()
    assert len(hub.requests) == 1
    site.add(story(site, "Pushed to the restarted subscriber"))
    wait_until(lambda: again.pushes == ["ctn"], what="the push after the restart")
    again.close()


def test_a_hub_that_is_down_is_retried_with_growing_waits(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    hub.stop()
    waits = []
    for n in (1, 2, 3):
        sub.ws.tick()
        row = sub.row()
        assert (row.state, row.failures) == (RETRYING, n)
        assert "unreachable" in row.last_error
        waits.append((row.next_action_at - sub.clock.now).total_seconds())
        sub.ws.tick()  # not due yet: nothing happens
        assert sub.row().failures == n
        sub.clock.advance(waits[-1])
    assert 9 <= waits[0] <= 11 and 18 <= waits[1] <= 22 and 36 <= waits[2] <= 44
    hub.start()  # back on the same port
    subscribed(sub, hub, site)
    assert sub.row().failures == 0


def test_a_hub_error_answer_is_retried_and_capped(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    hub.fail_next(5, status=503)
    for _ in range(5):
        sub.ws.tick()
        sub.clock.advance((sub.row().next_action_at - sub.clock.now).total_seconds())
    row = sub.row()
    assert row.failures == 5 and "answered 503" in row.last_error
    assert (row.next_action_at - sub.clock.now).total_seconds() == 0
    sub.ws.tick()
    hub.wait_for_subscription(site.feed_url)


def test_a_denied_subscription_is_not_asked_again_until_restart(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    hub.deny_next()
    sub.ws.tick()
    wait_until(lambda: sub.row().state == DENIED, what="the denial")
    assert "not on this hub" in sub.row().last_error
    sub.clock.advance(86400 * 30)
    sub.ws.tick()
    assert len(hub.requests) == 1
    again = sub.restart()
    again.ws.tick()
    hub.wait_for_subscription(site.feed_url)
    again.close()


def test_a_source_switched_off_is_unsubscribed(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    subscribed(sub, hub, site)
    off = sub.restart(make_config(site, sub.listener.port, websub="off"))
    off.ws.tick()
    hub.wait_for(lambda: not hub.live(), what="the unsubscription")
    assert [r["mode"] for r in hub.requests] == ["subscribe", "unsubscribe"]
    wait_until(lambda: off.row() is None, what="the ledger to forget it")
    off.close()


def test_a_feed_without_a_hub_is_polled_only(tmp_path: Path, hub: FakeHub) -> None:
    with SampleSite.bundled() as plain:
        store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
        store.migrate()
        s = start(make_config(plain, free_port()), store, Clock(), [])
        try:
            s.ws.tick()
            assert s.row().state == NO_HUB
            s.ws.tick()
            assert plain.hits("/feed/") == {200: 1}  # looked at once, not at every tick
            s.clock.advance(86400)
            s.ws.tick()
            assert plain.hits("/feed/") == {200: 2}
        finally:
            s.close()
    assert hub.requests == []


def test_the_listener_refuses_what_is_not_a_hub_request(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    subscribed(sub, hub, site)
    callback = hub.requests[0]["callback"]
    base = f"http://127.0.0.1:{sub.listener.port}"
    assert requests.get(base + "/websub/" + "x" * 32, timeout=5).status_code == 404
    assert requests.get(base + "/elsewhere/a/b", timeout=5).status_code == 404
    assert requests.get(callback, timeout=5).status_code == 404  # no hub.* parameters
    put = requests.put(callback, data=b"x", timeout=5)
    assert (put.status_code, put.headers["Allow"]) == (405, "GET, POST")
    big = b"x" * 200_000  # over fetch.max_bytes (100 KB)
    too_big = requests.post(callback, data=big, timeout=5)
    assert too_big.status_code == 413
    secret = sub.row().secret
    assert requests.post(callback, data=b"{}", timeout=5).status_code == 202  # unsigned
    assert sub.pushes == []
    signed = requests.post(
        callback, data=b"{}", headers={"X-Hub-Signature": sign(b"{}", secret)}, timeout=5
    )
    assert signed.status_code == 202
    assert sub.pushes == ["ctn"]


def test_a_configured_secret_is_used_but_not_copied_into_the_ledger(
    sub: Subscriber, hub: FakeHub, site: SampleSite
) -> None:
    port = sub.listener.port
    shared = sub.restart(make_config(site, port, secret="configured-secret-1"))
    subscribed(shared, hub, site)
    assert hub.requests[0]["secret"] == "configured-secret-1"
    first = shared.row()
    assert "configured-secret-1" not in repr(first)
    with shared.store.engine.begin() as conn:
        dump = "\n".join(str(r) for r in conn.exec_driver_sql("SELECT * FROM websub_subscriptions"))
    assert "configured-secret-1" not in dump
    callback = hub.requests[0]["callback"]
    body = b"<rss/>"
    assert (
        requests.post(
            callback,
            data=body,
            headers={"X-Hub-Signature": sign(body, "configured-secret-1")},
            timeout=5,
        ).status_code
        == 202
    )
    assert shared.pushes == ["ctn"]
    # The secret changes in the config: subscribe again (new callback) with the new one; the
    # old subscription's pushes are not trusted any more.
    changed = shared.restart(make_config(site, port, secret="configured-secret-2"))
    old_signed = {"X-Hub-Signature": sign(body, "configured-secret-1")}
    assert requests.post(callback, data=body, headers=old_signed, timeout=5).status_code == 202
    assert changed.pushes == ["ctn"]
    changed.ws.tick()
    hub.wait_for(lambda: len([v for v in hub.verifications if v["ok"]]) == 2, what="resubscription")
    assert hub.requests[1]["secret"] == "configured-secret-2"
    assert hub.requests[1]["callback"] != callback
    wait_until(lambda: changed.row().state == ACTIVE and changed.row().token != first.token)
    changed.close(keep_store=True)


def test_pushes_during_a_slow_poll_give_one_more_poll_not_one_each(tmp_path: Path) -> None:
    """The daemon's poll_now: a source is polled by one job at a time, and every push that
    arrives while it is polled is answered by one poll after it (none is lost, none doubles)."""
    import threading

    from bot.pipeline import Pipeline
    from bot.scheduler import Daemon

    with SampleSite.bundled() as plain:
        config = parse_config(
            f"store: sqlite:///{tmp_path / 'ledger.db'}\n"
            f"sources: [{{id: ctn, feed: '{plain.feed_url}', every: 1h}}]\n",
            {},
        )
        store = Store(config.store)
        store.migrate()
        daemon = Daemon(Pipeline(config, store))
        thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
        thread.start()
        try:
            assert plain.wait_for_requests("/feed/", 1)  # the poll at start
            lock = daemon._source_locks["ctn"]
            wait_until(lambda: not lock.locked())
            plain.set_delay(1.0, "/feed/")
            daemon.poll_now("ctn")
            wait_until(lock.locked, what="the pushed poll to start")
            for _ in range(10):  # while that poll waits for the slow site
                daemon.poll_now("ctn")

            def settled() -> bool:
                with daemon._push_lock:
                    idle = not daemon._push_queued and not daemon._pushed
                return idle and not lock.locked()

            wait_until(lambda: sum(plain.hits("/feed/").values()) >= 3, timeout=10)
            wait_until(settled, timeout=10)
            assert sum(plain.hits("/feed/").values()) == 3  # start, the push, one for the ten
        finally:
            daemon.stop()
            thread.join(30)
            store.close()
