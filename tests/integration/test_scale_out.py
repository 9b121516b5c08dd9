"""Scale-out: three `syndbot run` daemons share one PostgreSQL ledger; one is killed with SIGKILL
mid-run. A site publishing 200 articles routed to 3 accounts (X, Mastodon, Bluesky) gets exactly
600 posts: none twice, none missing."""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.demo.site import SampleSite
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, Daemon, fake_x_credentials, story, wait_until, write_config

ARTICLES = int(os.environ.get("SCALE_ARTICLES", "200"))
ACCOUNTS = ("x-main", "mastodon-main", "bluesky-main")

pytestmark = pytest.mark.slow


class Platforms:
    def __init__(self, stack: ExitStack) -> None:
        # Rate windows wide enough for 200 posts: this test is about sharing work, not limits.
        self.x = stack.enter_context(FakeX(**fake_x_credentials(), limit_15min=10_000))
        self.mastodon = stack.enter_context(FakeMastodon(rate_limit=10_000))
        self.bluesky = stack.enter_context(FakeBluesky())

    def links(self) -> dict[str, Counter[str]]:
        """Per account, how many times each article link was posted."""

        def last_url(text: str) -> str:
            return re.findall(r"https?://\S+", text)[-1]

        return {
            "x-main": Counter(last_url(p["text"]) for p in self.x.posts),
            "mastodon-main": Counter(last_url(s["text"]) for s in self.mastodon.statuses),
            "bluesky-main": Counter(last_url(p.text) for p in self.bluesky.posts),
        }

    def total(self) -> int:
        return len(self.x.posts) + len(self.mastodon.statuses) + len(self.bluesky.posts)


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    with ExitStack() as stack:
        yield Platforms(stack)


def _configs(tmp_path: Path, store: str, site: SampleSite, p: Platforms, n: int) -> list[Path]:
    base = write_config(
        tmp_path / "base.yaml",
        site=site,
        x_url=p.x.url,
        store=store,
        every="1s",
        template="{title} {url}",
        extra_accounts=[
            {
                "id": "mastodon-main",
                "platform": "mastodon",
                "api_base": p.mastodon.url,
                "credentials": p.mastodon.credentials(),
                "template": "{title} {url}",
            },
            {
                "id": "bluesky-main",
                "platform": "bluesky",
                "api_base": p.bluesky.url,
                "credentials": p.bluesky.credentials(),
                "template": "{title} {url}",
            },
        ],
        routes=[{"from": ["ctn"], "to": list(ACCOUNTS)}],
        lease="4s",
    )
    data = yaml.safe_load(base.read_text(encoding="utf-8"))
    paths = []
    for i in range(n):  # one machine each: its own state folder (the Bluesky session)
        data["state_dir"] = str(tmp_path / f"state-{i}")
        path = tmp_path / f"daemon-{i}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths


def _states(store: str) -> Counter[str]:
    engine = sa.create_engine(store)
    try:
        with engine.connect() as conn:
            return Counter(s for (s,) in conn.execute(sa.text("SELECT state FROM deliveries")))
    finally:
        engine.dispose()


def test_three_daemons_on_postgresql_one_killed_post_each_article_once_per_account(
    tmp_path: Path, postgres_url: str, site: SampleSite, platforms: Platforms
) -> None:
    rng = random.Random(5)
    p = platforms
    configs = _configs(tmp_path, postgres_url, site, p, 3)
    daemons = [
        Daemon(config=c, log=tmp_path / f"daemon-{i}.log", env=X_ENV).start()
        for i, c in enumerate(configs)
    ]
    try:
        wait_until(lambda: site.hits("/feed/"), what="the first poll")
        time.sleep(1.5)  # every daemon has started; the first run has been recorded
        now = datetime.now(UTC)
        added = []
        for n in range(ARTICLES):
            added.append(
                site.add(
                    story(
                        site,
                        f"Scale-out story number {n + 1}",
                        published=now - timedelta(seconds=ARTICLES - n),
                    )
                )
            )
            if n % 20 == 19:
                time.sleep(rng.uniform(0.2, 0.6))  # the newsroom publishes in bursts

        # Kill one daemon in the middle of the run, with posts in flight.
        victim = daemons[rng.randrange(3)]
        wait_until(
            lambda: p.total() >= ARTICLES * 3 // 4, timeout=120, what="150 posts before the kill"
        )
        victim.kill()

        expected = ARTICLES * len(ACCOUNTS)
        wait_until(
            lambda: p.total() >= expected,
            timeout=240,
            what=lambda: f"{expected} posts (have {p.total()}): {_states(postgres_url)}",
        )
        # A few more lease periods and polls: nothing may be posted late a second time.
        wait_until(
            lambda: _states(postgres_url) == Counter({"sent": expected}),
            timeout=60,
            what=lambda: f"every delivery sent: {_states(postgres_url)}",
        )
        time.sleep(5)
    finally:
        for d in daemons:
            d.stop()

    permalinks = {site.permalink(a.post_id) for a in added}
    links = p.links()
    for account in ACCOUNTS:
        assert set(links[account]) == permalinks, f"{account}: missing or extra posts"
        assert max(links[account].values()) == 1, f"{account}: an article was posted twice"
    assert p.total() == expected
    # The survivors shared the work: more than one daemon posted.
    posting = [d for d in daemons if "posted " in d.output()]
    assert len(posting) >= 2
