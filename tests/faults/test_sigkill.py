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

    seen = {"syndbot running": 0, "bot.pipeline: posted": 0}
    read = 0

    def count(what: str) -> int:
        """How often the daemons logged ``what`` (reading only what the log gained)."""
        nonlocal read
        if log.exists():
            with log.open("rb") as f:
                f.seek(read)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            read += end
            for key in seen:
                seen[key] += chunk[:end].count(key.encode())
        return seen[what]

    d = started()
    wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
    t0 = now_utc()
    added = []
    in_doubt = 0  # kills that left a post in flight ("sending" in the ledger)
    during_start = 0  # kills before the process sent anything
    for cycle in range(KILLS):
        if cycle % (BURST // 2) == 0:
            for _ in range(min(BURST, ARTICLES - len(added))):
                n = len(added)
                published = t0 + timedelta(seconds=n)
                added.append(site.add(story(site, f"Fault story {n}", published=published)))
        before, starts = count("bot.pipeline: posted"), count("syndbot running")
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 2.0))  # while it starts: imports, migration, recovery
        else:
            # At a random moment of its work: a process spends 3-4 s starting (imports, the
            # platforms' SDKs, the scraper's first page) before its first send.
            wait_until(
                lambda b=before, n=starts: (
                    count("bot.pipeline: posted") > b
                    or (count("syndbot running") > n and platforms.total() >= 3 * len(added))
                ),
                timeout=30,
                interval=0.1,
                what="the daemon at work",
            )
            time.sleep(rng.uniform(0.0, 1.0))
        during_start += count("bot.pipeline: posted") == before
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
