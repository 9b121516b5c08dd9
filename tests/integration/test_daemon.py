"""The real daemon (`syndbot run` in a subprocess) against a fake WordPress site and a fake X API.

Each test waits for an observable outcome (a post on the fake X, a request on the site), never
for a fixed time.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, Daemon, story, wait_until, write_config


@pytest.fixture
def run_daemon(tmp_path: Path, site: SampleSite, x: FakeX) -> Iterator[Daemon]:
    config = write_config(
        tmp_path / "syndbot.yaml", site=site, x_url=x.url, store=tmp_path / "ledger.db"
    )
    daemon = Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()
    try:
        yield daemon
    finally:
        daemon.stop()


def feed_polls(site: SampleSite) -> int:
    return sum(site.hits("/feed/").values())


def wait_for_polls(site: SampleSite, more: int, daemon: Daemon) -> None:
    target = feed_polls(site) + more
    wait_until(
        lambda: feed_polls(site) >= target,
        what=lambda: f"{more} more feed polls; daemon log:\n{daemon.output()[-3000:]}",
    )


def history(config: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "bot", "history", "--json", "--config", str(config)],
        cwd=ROOT,
        env={**X_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_new_article_is_posted_exactly_once_with_the_right_text(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    # First run: the existing articles are recorded, not posted.
    wait_for_polls(site, 2, run_daemon)
    assert x.posts == []
    article = site.add(story(site, "Port-au-Prince schools reopen after months of closure"))
    posts = x.wait_for_posts(1, timeout=20)
    assert posts[0]["text"] == (
        f"Port-au-Prince schools reopen after months of closure #Haiti {site.permalink(article.post_id)}"
    )
    # Unchanged feed: the next polls are answered 304 and post nothing.
    wait_for_polls(site, 3, run_daemon)
    assert site.hits("/feed/").get(304, 0) >= 2
    assert len(x.posts) == 1
    rows = history(run_daemon.config)
    assert [(r["state"], r["account"], r["remote_id"]) for r in rows] == [
        ("sent", "x-main", posts[0]["id"])
    ]
    assert rows[0]["remote_url"] == f"https://x.com/i/web/status/{posts[0]['id']}"


def test_edited_redated_and_reformed_articles_are_never_posted_again(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    wait_for_polls(site, 1, run_daemon)
    article = site.add(story(site, "CARICOM ministers meet in Georgetown"))
    x.wait_for_posts(1)
    site.edit(article.post_id, title="CARICOM ministers meet in Georgetown (updated)")
    wait_for_polls(site, 2, run_daemon)
    site.redate(article.post_id, datetime.now(UTC) - timedelta(hours=3))
    wait_for_polls(site, 2, run_daemon)
    site.set_guid_form(article.post_id, "plain")
    wait_for_polls(site, 2, run_daemon)
    site.edit(article.post_id, slug="caricom-ministers-georgetown-summit")
    wait_for_polls(site, 3, run_daemon)
    assert [p["text"].split(" #")[0] for p in x.posts] == ["CARICOM ministers meet in Georgetown"]


def test_a_burst_of_30_articles_gives_30_posts(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    # The feed shows only the 10 newest (WordPress default): the daemon must read older pages.
    wait_for_polls(site, 1, run_daemon)
    now = datetime.now(UTC)
    added = [
        site.add(story(site, f"Burst story number {n}", published=now - timedelta(seconds=30 - n)))
        for n in range(30)
    ]
    posts = x.wait_for_posts(30, timeout=60)
    wait_for_polls(site, 2, run_daemon)
    assert len(x.posts) == 30
    urls = sorted(re.findall(r"https?://\S+", p["text"])[-1] for p in posts)
    assert urls == sorted(site.permalink(a.post_id) for a in added)
    # Posted oldest first, so the timeline reads in order.
    assert [p["text"].split(" #")[0] for p in posts[:3]] == [
        f"Burst story number {n}" for n in range(3)
    ]


def test_posts_go_out_after_x_recovers_from_an_outage(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    wait_for_polls(site, 1, run_daemon)
    x.down()
    site.add(story(site, "Hurricane watch issued for the southern peninsula"))
    site.add(story(site, "Airport reopens in Cap-Haïtien"))
    wait_until(
        lambda: sum(r.status == 503 for r in x.requests) >= 3, what="X to be tried while down"
    )
    assert x.posts == []
    failures = sum(r.status == 503 for r in x.requests)
    x.up()
    posts = x.wait_for_posts(2, timeout=20)
    assert {p["text"].split(" #")[0] for p in posts} == {
        "Hurricane watch issued for the southern peninsula",
        "Airport reopens in Cap-Haïtien",
    }
    # Backoff, not hammering: while X was down the daemon spaced its tries out.
    assert failures < 15


def test_a_failing_site_is_retried_and_the_daemon_keeps_running(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    wait_for_polls(site, 1, run_daemon)
    site.fail_next("/feed/", 500, 2)
    wait_until(lambda: site.hits("/feed/").get(500, 0) >= 2, what="two failing polls")
    site.add(story(site, "Power restored across Jacmel"))
    x.wait_for_posts(1, timeout=30)
    assert "poll failed" in run_daemon.output()


def test_sigterm_finishes_the_post_in_flight_then_exits(
    site: SampleSite, x: FakeX, run_daemon: Daemon
) -> None:
    wait_for_polls(site, 1, run_daemon)
    x.accept_then_delay(1, seconds=2)  # X takes the post, then answers slowly
    site.add(story(site, "Parliament adjourns until January"))
    wait_until(lambda: len(x.posts) == 1, what="X to accept the post")
    assert run_daemon.kill(signal.SIGTERM) == 0  # sent while the answer is still on its way
    log = run_daemon.output()
    assert "stopping: finishing the post in flight" in log
    assert "syndbot stopped" in log
    rows = history(run_daemon.config)
    assert [(r["state"], r["remote_id"]) for r in rows] == [("sent", x.posts[0]["id"])]


def test_secrets_never_reach_the_log(site: SampleSite, x: FakeX, run_daemon: Daemon) -> None:
    wait_for_polls(site, 1, run_daemon)
    site.add(story(site, "Budget vote delayed in parliament"))
    x.wait_for_posts(1)
    run_daemon.stop()
    log = run_daemon.output()
    assert "posted" in log
    for secret in X_ENV.values():
        assert secret not in log
