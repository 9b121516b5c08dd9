"""After a retryable failure the whole account pauses: articles queued during the pause wait for
it too, and the pause grows with the account's failures in a row, whichever post meets them.
(In-process, with the pipeline's clock moved by the test; the storm test shows the same through
the daemon.)"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.store import Store
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, fake_x_credentials, story, write_config


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def x() -> Iterator[FakeX]:
    with FakeX(**fake_x_credentials()) as fake:
        yield fake


def test_a_paused_account_holds_new_posts_and_its_wait_grows(
    tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "l.db",
        retry={"first": "30s", "max_wait": "30m", "give_up_after": "1d"},
        account={"priority": [{"where": {"keywords_any": ["URGENT"]}, "priority": 10}]},
    )
    config = load_config(path)
    store = Store(config.store)
    store.migrate()
    clock = Clock()
    p = Pipeline(config, store, owner="t", rng=random.Random(7), clock=clock)

    def cycle() -> None:
        for s in config.sources:
            p.poll(s, force=True)
        p.process_new()
        p.deliver_due()

    def posts_tried() -> int:
        return sum(1 for r in x.requests if r.path == "/2/tweets")

    try:
        cycle()  # the first poll: the bundled articles are old news
        site.add(story(site, "Normal story"))
        x.fail_next(2, status=503)
        cycle()
        assert posts_tried() == 1  # 503: the account pauses ~30 s

        clock.now += timedelta(seconds=1)
        site.add(story(site, "URGENT story"))
        cycle()
        assert posts_tried() == 1, "a post queued during the pause was sent into the outage"
        urgent = next(d for d in store.list_deliveries() if "URGENT" in d.text)
        assert urgent.state == DeliveryState.QUEUED and "paused" in (urgent.error or "")

        clock.now += timedelta(seconds=40)
        cycle()  # the urgent post goes first, meets the outage: the second failure in a row
        assert posts_tried() == 2
        urgent = store.get_delivery(urgent.id)
        assert urgent is not None and urgent.attempts == 1
        pause = (urgent.not_before - clock.now).total_seconds()
        assert pause >= 60 * 0.8, f"the account's wait did not grow: {pause:.0f} s"

        clock.now += timedelta(seconds=45)
        cycle()
        assert posts_tried() == 2
        clock.now += timedelta(seconds=60)
        cycle()
        assert [t["text"].split(" #")[0] for t in x.posts] == ["URGENT story", "Normal story"]
        # Success ends the pause: the next failure starts again from retry.first.
        site.add(story(site, "After recovery"))
        x.fail_next(1, status=503)
        cycle()
        last = store.list_deliveries()[0]
        wait = (last.not_before - clock.now).total_seconds()
        assert last.state == DeliveryState.QUEUED and wait <= 30 * 1.2 + 1
    finally:
        p.close()
        store.close()
