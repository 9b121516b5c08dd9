"""Kill the daemon with SIGKILL while it posts; restart it; every article reaches X exactly once."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import (
    X_ENV,
    Daemon,
    fake_x_credentials,
    ledger_states,
    post_urls,
    story,
    wait_until,
    write_config,
)

ARTICLES = 25
RANDOM_KILLS = 8


def test_sigkill_at_the_worst_moment_and_at_random_moments(
    tmp_path: Path, site: SampleSite
) -> None:
    rng = random.Random(20261129)
    db = tmp_path / "ledger.db"
    with FakeX(**fake_x_credentials(), delay=0.05) as x:
        config = write_config(tmp_path / "syndbot.yaml", site=site, x_url=x.url, store=db)

        def daemon() -> Daemon:
            return Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()

        d = daemon()
        wait_until(lambda: site.hits("/feed/"), what="the first poll")

        # 1. The worst moment: X has accepted the post but the daemon has not heard back.
        x.accept_then_delay(1, seconds=30)
        first = site.add(story(site, "Exactly-once: the in-doubt article"))
        wait_until(lambda: len(x.posts) == 1, what="X to accept the first post")
        d.kill()
        d = daemon()

        # 2. Many articles, and the daemon killed at random moments while it works through them.
        now = datetime.now(UTC)
        added = [first] + [
            site.add(
                story(
                    site, f"Crash test story {n}", published=now - timedelta(seconds=ARTICLES - n)
                )
            )
            for n in range(1, ARTICLES)
        ]
        kills = 0
        while kills < RANDOM_KILLS and len(x.posts) < ARTICLES:
            # A random moment to kill at (not a wait for an outcome).
            time.sleep(rng.uniform(0.1, 1.2))
            d.kill()
            kills += 1
            d = daemon()

        posts = x.wait_for_posts(ARTICLES, timeout=90)
        # Let a few more lease periods and polls pass: nothing may be posted twice late.
        wait_until(
            lambda: ledger_states(db) == Counter({"sent": ARTICLES}),
            timeout=60,
            what=lambda: (
                f"every delivery recorded as sent: {ledger_states(db)}\n{d.output()[-4000:]}"
            ),
        )
        polls = sum(site.hits("/feed/").values())
        wait_until(lambda: sum(site.hits("/feed/").values()) >= polls + 4, what="four more polls")
        d.stop()

    counts = post_urls(p["text"] for p in x.posts)
    assert len(posts) == ARTICLES
    assert len(x.posts) == ARTICLES, "an article was posted twice"
    assert set(counts) == {site.permalink(a.post_id) for a in added}
    assert max(counts.values()) == 1
    # The in-doubt post was retried after the crash and X's duplicate answer recorded it as sent.
    assert any(r.status == 403 for r in x.requests)
    assert "recovered" in d.output() or "in doubt" in d.output() or kills > 0
