"""SIGKILL at 50 random moments while 100 articles go to three accounts on three platforms
(X, Mastodon, Bluesky: each with its own way of making a retry safe). Counted on the platforms'
side: 300 posts, each (account, article) exactly once.

Replay a failure with the seed the test prints: ``SYNDBOT_FAULT_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bot.demo.site import SampleSite
from tests.faults.conftest import ACCOUNTS, Platforms, now_utc, write_all_config
from tests.support import X_ENV, Daemon, ledger_states, story, wait_until

ARTICLES = 100
KILLS = 50
BURST = 10  # articles published together, every BURST // 2 kills: a backlog to work through


def _sending(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (n,) = conn.execute("SELECT count(*) FROM deliveries WHERE state='sending'").fetchone()
    return int(n)


@pytest.mark.slow
def test_sigkill_at_50_random_moments_three_platforms(
    tmp_path: Path, site: SampleSite, platforms: Platforms, fault_seed: random.Random
) -> None:
    rng = fault_seed
    db = tmp_path / "ledger.db"
    log = tmp_path / "daemon.log"
    for fake in platforms.fakes.values():
        fake.delay = 0.1  # a request takes a while: kills land in it
    config = write_all_config(
        tmp_path / "syndbot.yaml", site=site, platforms=platforms, store=db, lease="2s"
    )

    def started() -> Daemon:
        return Daemon(config=config, log=log, env=X_ENV).start()

    def posted_count() -> int:
        return log.read_text(errors="replace").count("bot.pipeline: posted") if log.exists() else 0

    d = started()
    wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
    t0 = now_utc()
    added = []
    in_doubt = 0  # kills that left a post in flight ("sending" in the ledger)
    during_start = 0  # kills before the new process sent anything
    for cycle in range(KILLS):
        if cycle % (BURST // 2) == 0:
            for _ in range(min(BURST, ARTICLES - len(added))):
                n = len(added)
                published = t0 + timedelta(seconds=n)
                added.append(site.add(story(site, f"Fault story {n}", published=published)))
        before, born = posted_count(), time.monotonic()
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.0, 2.5))  # while starting: imports, migration, recovery
        else:
            # Once it works (a process spends ~3 s starting: imports, the Bluesky SDK, the
            # scraper), at a random moment of its work.
            wait_until(lambda b=before, t=born: posted_count() > b or time.monotonic() > t + 8)
            time.sleep(rng.uniform(0.0, 1.0))
        during_start += posted_count() == before
        d.kill()
        in_doubt += _sending(db) > 0
        d = started()

    expected = {(a, site.permalink(s.post_id)) for a in ACCOUNTS for s in added}
    try:
        wait_until(
            lambda: set(platforms.delivered()) >= expected,
            timeout=120,
            what=lambda: f"all {len(expected)} posts: {platforms.total()}",
        )
        wait_until(
            lambda: ledger_states(db) == Counter({"sent": len(expected)}),
            timeout=60,
            what=lambda: f"every delivery recorded as sent: {ledger_states(db)}",
        )
        # A few more polls and lease periods: nothing may be posted twice, late.
        polls = sum(site.hits("/feed/").values())
        wait_until(lambda: sum(site.hits("/feed/").values()) >= polls + 4, what="more polls")
        time.sleep(2.5)
    finally:
        d.stop()

    delivered = platforms.delivered()
    print(
        f"kills: {KILLS} ({in_doubt} with a post in flight, {during_start} during start-up); "
        f"posts: {platforms.total()}; X requests {len(platforms.x.requests)}, Mastodon "
        f"{len(platforms.mastodon.requests)}, Bluesky {len(platforms.bluesky.requests)}"
    )
    assert len(added) == ARTICLES
    assert set(delivered) == expected
    assert platforms.total() == ARTICLES * len(ACCOUNTS) == 300
    assert max(delivered.values()) == 1, [k for k, n in delivered.items() if n > 1]
    # The kills really hit work in progress, not only idle moments.
    assert in_doubt >= 3
