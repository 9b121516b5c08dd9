"""Shared pieces of the fault tests: three fake platforms, a config posting to all of them,
counting on the platforms' side, and the replayable random seed."""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo.site import SampleSite
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_x import FakeX
from tests.support import fake_x_credentials, post_urls, write_config

ACCOUNTS = ("x-main", "masto", "bsky")


@dataclass
class Platforms:
    """A fake X, Mastodon and Bluesky, each with one account the daemon posts to."""

    x: FakeX
    mastodon: FakeMastodon
    bluesky: FakeBluesky

    @property
    def fakes(self) -> dict[str, Any]:
        """Account → its fake (each has ``requests``, ``faults``, ``delay``)."""
        return {"x-main": self.x, "masto": self.mastodon, "bsky": self.bluesky}

    def accounts(self, **per_account: Any) -> list[dict[str, Any]]:
        """The Mastodon and Bluesky accounts (X is ``write_config``'s own ``x-main``)."""
        common = {"template": "{title} {url}", "hashtags": {"max": 0}, **per_account}
        return [
            {
                "id": "masto",
                "platform": "mastodon",
                "api_base": self.mastodon.url,
                "credentials": self.mastodon.credentials(),
                **common,
            },
            {
                "id": "bsky",
                "platform": "bluesky",
                "api_base": self.bluesky.url,
                "credentials": self.bluesky.credentials(),
                **common,
            },
        ]

    def delivered(self) -> Counter[tuple[str, str]]:
        """(account, article URL) → how many posts the platforms hold."""
        counts: Counter[tuple[str, str]] = Counter()
        for url, n in post_urls(p["text"] for p in self.x.posts).items():
            counts["x-main", url] += n
        for url, n in post_urls(s["text"] for s in self.mastodon.statuses).items():
            counts["masto", url] += n
        for post in self.bluesky.posts:
            links = [f.value for f in post.facets if f.kind == "link"]
            counts["bsky", links[-1] if links else "?"] += 1
        return counts

    def posted_urls(self, account: str) -> list[str]:
        """The article URLs an account posted, in the order the platform accepted them."""
        if account == "x-main":
            return [next(iter(post_urls([p["text"]]))) for p in self.x.posts]
        if account == "masto":
            return [next(iter(post_urls([s["text"]]))) for s in self.mastodon.statuses]
        return [[f.value for f in p.facets if f.kind == "link"][-1] for p in self.bluesky.posts]

    def total(self) -> int:
        return len(self.x.posts) + len(self.mastodon.statuses) + len(self.bluesky.posts)

    def requests_between(self, account: str, start: float, end: float) -> int:
        """API requests the account's platform received in [start, end): those it answered
        (its own log) and those a fault answered or dropped (its fault log; a "slow" fault
        only delays a request the fake then logs)."""
        fake = self.fakes[account]
        answered = [r for r in fake.requests if start <= r.time < end]
        faulted = [h for h in fake.faults.hits if start <= h.time < end and h.kind != "slow"]
        # Mastodon's instance document is read once per publisher, not per post.
        return sum(1 for r in answered if not getattr(r, "path", "").endswith("/instance")) + len(
            faulted
        )


@pytest.fixture
def site() -> Iterator[SampleSite]:
    """The bundled sample site (five articles), on a free port of 127.0.0.1."""
    with SampleSite.bundled() as s:
        yield s


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    # Rate windows large enough for a few hundred posts: the tests script their own limits.
    with (
        FakeX(**fake_x_credentials(), limit_15min=10_000) as x,
        FakeMastodon(rate_limit=10_000) as mastodon,
        FakeBluesky() as bluesky,
    ):
        yield Platforms(x, mastodon, bluesky)


def write_all_config(
    path: Path, *, site: SampleSite, platforms: Platforms, store: Path, **kw: Any
) -> Path:
    """``write_config`` posting every article of ``site`` to all three accounts."""
    per_account = kw.pop("per_account", {})
    return write_config(
        path,
        site=site,
        x_url=platforms.x.url,
        store=store,
        template="{title} {url}",
        extra_accounts=platforms.accounts(**per_account),
        account={"hashtags": {"max": 0}, **per_account},
        routes=[{"from": ["ctn"], "to": list(ACCOUNTS)}],
        state_dir=str(path.parent / "state"),
        **kw,
    )


@pytest.fixture
def fault_seed(request: pytest.FixtureRequest) -> random.Random:
    """A random generator whose seed is printed (shown with a failure) and can be replayed
    with ``SYNDBOT_FAULT_SEED=<seed> pytest tests/faults/...``."""
    raw = os.environ.get("SYNDBOT_FAULT_SEED")
    seed = int(raw) if raw else random.SystemRandom().randrange(2**32)
    print(f"{request.node.nodeid}: SYNDBOT_FAULT_SEED={seed}")
    request.node.user_properties.append(("SYNDBOT_FAULT_SEED", seed))
    return random.Random(seed)


def now_utc() -> datetime:
    return datetime.now(UTC)
