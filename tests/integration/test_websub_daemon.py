"""Push end to end: the real daemon (`syndbot run` in a subprocess), the sample WordPress site with
the WebSub plugin (it advertises the hub and pings it on publishing), a fake hub and a fake X.

Sources poll hourly here, so a post that appears within seconds came by push."""

from __future__ import annotations

import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.demo.site import SampleSite
from tests.fakes.fake_hub import FakeHub, post, signature
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, Daemon, story, wait_until, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as h:
        yield h


@pytest.fixture
def push_site(hub: FakeHub) -> Iterator[SampleSite]:
    with SampleSite.bundled(hub=hub.url + "/") as s:
        yield s


def websub_config(port: int, **kw: Any) -> dict[str, Any]:
    return {
        "callback_url": f"http://127.0.0.1:{port}/websub",
        "port": port,
        "retry_first": "0.5s",
        "retry_max": "4s",
        **kw,
    }


def start_daemon(
    tmp_path: Path, site: SampleSite, x: FakeX, every: str = "1h", **websub: Any
) -> Daemon:
    config = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        every=every,
        websub=websub_config(free_port(), **websub),
    )
    return Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()


def first_poll_done(tmp_path: Path) -> bool:
    db = tmp_path / "ledger.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT initialized FROM sources WHERE id = 'ctn'").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def ready(tmp_path: Path, daemon: Daemon, hub: FakeHub, site: SampleSite) -> None:
    """Subscribed, and the first poll (first_run: skip) recorded the existing articles."""
    try:
        hub.wait_for_subscription(site.feed_url, timeout=20)
        wait_until(lambda: first_poll_done(tmp_path), what="the first poll")
    except AssertionError as e:
        raise AssertionError(f"{e}\ndaemon log:\n{daemon.output()[-3000:]}") from None


def feed_hits(site: SampleSite) -> int:
    return sum(site.hits("/feed/").values())


def test_a_published_article_is_posted_within_seconds_while_polling_hourly(
    tmp_path: Path, push_site: SampleSite, hub: FakeHub, x: FakeX
) -> None:
    daemon = start_daemon(tmp_path, push_site, x)
    try:
        ready(tmp_path, daemon, hub, push_site)
        started = time.monotonic()
        article = push_site.add(story(push_site, "Jacmel carnival returns after five years"))
        posts = x.wait_for_posts(1, timeout=10)
        latency = time.monotonic() - started
        assert posts[0]["text"] == (
            f"Jacmel carnival returns after five years #Haiti {push_site.permalink(article.post_id)}"
        )
        assert push_site.pings == [204]
        assert hub.deliveries[0]["status"] == 202
        assert "source ctn: push received" in daemon.output()
        assert latency < 10  # the next scheduled poll is an hour away
    finally:
        daemon.stop()
    assert len(x.posts) == 1


def test_a_push_with_a_bad_signature_is_acknowledged_and_ignored(
    tmp_path: Path, push_site: SampleSite, hub: FakeHub, x: FakeX
) -> None:
    push_site.ping_hub = False  # only the pushes this test sends
    daemon = start_daemon(tmp_path, push_site, x)
    try:
        ready(tmp_path, daemon, hub, push_site)
        [sub] = hub.live()
        push_site.add(story(push_site, "Cap-Haïtien port reopens to cargo ships"))
        body = requests.get(push_site.feed_url, timeout=5).content
        hits = feed_hits(push_site)
        forged = {"Content-Type": "application/rss+xml", "X-Hub-Signature": "sha256=" + "0" * 64}
        assert post(sub.callback, body, forged) == 202
        assert post(sub.callback, body, {"Content-Type": "application/rss+xml"}) == 202
        wrong_key = {"X-Hub-Signature": signature(body, "not-the-secret")}
        assert post(sub.callback, body, wrong_key) == 202
        assert daemon.output().count("source ctn: ignored a push") == 3
        # An unknown callback token is 404.
        unknown = re.sub(r"/[^/]+$", "/" + "Z" * 32, sub.callback)
        assert post(unknown, body, {"X-Hub-Signature": signature(body, sub.secret or "")}) == 404
        time.sleep(1.0)  # room for a poll that must not happen
        assert feed_hits(push_site) == hits
        assert x.posts == []
        # The same body signed with the subscription's secret does make it poll and post.
        assert (
            post(sub.callback, body, {"X-Hub-Signature": signature(body, sub.secret or "")}) == 202
        )
        x.wait_for_posts(1, timeout=10)
    finally:
        daemon.stop()
    assert "not-the-secret" not in daemon.output()


def test_the_subscription_is_renewed_before_its_lease_ends(
    tmp_path: Path, push_site: SampleSite, hub: FakeHub, x: FakeX
) -> None:
    daemon = start_daemon(tmp_path, push_site, x, lease_seconds="8s")
    try:
        ready(tmp_path, daemon, hub, push_site)

        def renewed() -> list[dict[str, Any]]:
            ok = [v for v in hub.verifications if v["ok"] and v["mode"] == "subscribe"]
            return ok if len(ok) >= 2 else []

        first, second = hub.wait_for(renewed, timeout=20, what="a renewal")[:2]
        assert first["callback"] == second["callback"] and first["lease"] == 8
        # Due at 80 % (6.4 s; the websub job runs every second), verified before the lease ends.
        assert 6 < second["at"] - first["at"] < 8
        assert len(hub.live(push_site.feed_url)) == 1
    finally:
        daemon.stop()


def test_with_the_hub_down_polling_posts_and_the_subscription_is_retried(
    tmp_path: Path, push_site: SampleSite, hub: FakeHub, x: FakeX
) -> None:
    hub.stop()  # down (same port later)
    daemon = start_daemon(tmp_path, push_site, x, every="0.5s")
    try:
        wait_until(
            lambda: daemon.output().count("subscription failed") >= 3,
            what=lambda: f"three failed attempts; log:\n{daemon.output()[-2000:]}",
        )
        failures = [int(n) for n in re.findall(r"\(failure (\d+)\); polling", daemon.output())]
        assert failures[:3] == [1, 2, 3]
        waits = [float(w) for w in re.findall(r"next try in (\d+)s \(failure", daemon.output())]
        assert waits[2] > waits[0]
        wait_until(lambda: first_poll_done(tmp_path), what="the first poll")
        push_site.add(story(push_site, "Polling still works without the hub"))
        x.wait_for_posts(1, timeout=15)
        hub.start()
        hub.wait_for_subscription(push_site.feed_url, timeout=20)
    finally:
        daemon.stop()


def test_a_restart_keeps_the_subscription(
    tmp_path: Path, push_site: SampleSite, hub: FakeHub, x: FakeX
) -> None:
    daemon = start_daemon(tmp_path, push_site, x)
    try:
        ready(tmp_path, daemon, hub, push_site)
    finally:
        assert daemon.stop() == 0
    again = Daemon(config=daemon.config, log=tmp_path / "daemon-2.log", env=X_ENV).start()
    try:
        wait_until(
            lambda: "source ctn: subscribed at" in again.output(),
            what=lambda: f"the restarted daemon; log:\n{again.output()[-2000:]}",
        )
        push_site.add(story(push_site, "Pushed to the restarted daemon"))
        x.wait_for_posts(1, timeout=10)
        time.sleep(2.0)  # several runs of the websub job: none may subscribe again
        assert [r["mode"] for r in hub.requests] == ["subscribe"]
    finally:
        again.stop()
