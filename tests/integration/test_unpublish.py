"""An article removed from the site: pending posts are cancelled, and with `on_unpublish: delete`
its copies are deleted — but only after the page is confirmed gone twice, never on an error."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.store import Store
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, story, write_config


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def make(
    tmp_path: Path,
    site: SampleSite,
    x: FakeX,
    monkeypatch: pytest.MonkeyPatch,
    *,
    on_unpublish: str,
) -> tuple[Pipeline, Clock]:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "l.db",
        recheck={"every": "30m"},
        account={"on_unpublish": on_unpublish},
    )
    config = load_config(path)
    assert config.account("x-main").on_unpublish == on_unpublish
    store = Store(config.store)
    store.migrate()
    clock = Clock()
    return Pipeline(config, store, owner="t", clock=clock, rng=random.Random(3)), clock


def cycle(p: Pipeline) -> None:
    p.poll(p.config.sources[0], force=True)
    p.process_new()
    p.deliver_due()


def test_unpublished_article_is_deleted_after_confirmation(
    tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, clock = make(tmp_path, site, x, monkeypatch, on_unpublish="delete")
    cycle(p)
    article = site.add(story(site, "A story the newsroom will retract"))
    cycle(p)
    [posted] = x.posts
    clock.advance(minutes=31)
    assert p.recheck_unpublished() == 0  # still online: nothing happens
    site.delete(article.post_id)  # now 404
    clock.advance(minutes=31)
    assert p.recheck_unpublished() == 0  # first sighting: not deleted yet
    assert x.deleted == []
    clock.advance(minutes=31)
    assert p.recheck_unpublished() == 1  # still gone 31 minutes later: deleted
    assert [d["id"] for d in x.deleted] == [posted["id"]]
    [d] = p.store.list_deliveries(article_id=None, states=[DeliveryState.DELETED])
    assert "unpublished" in (d.error or "")
    assert "deleted" in [e.action for e in p.store.list_events(delivery_id=d.id)]
    clock.advance(minutes=31)
    assert p.recheck_unpublished() == 0  # done once
    p.close()


def test_errors_and_a_page_that_comes_back_never_delete(
    tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, clock = make(tmp_path, site, x, monkeypatch, on_unpublish="delete")
    cycle(p)
    article = site.add(story(site, "A story with a flaky server"))
    cycle(p)
    path = site.permalink(article.post_id).removeprefix(site.url)
    for status in (500, 503, 0):  # 0: the connection is dropped
        site.fail_next(path, status, 1)
        clock.advance(minutes=31)
        p.recheck_unpublished()
    site.fail_next(path, 404, 1)  # one 404, then the page is back
    clock.advance(minutes=31)
    p.recheck_unpublished()
    clock.advance(minutes=31)
    p.recheck_unpublished()
    clock.advance(minutes=31)
    p.recheck_unpublished()
    assert x.deleted == []
    assert len(p.store.list_deliveries(states=[DeliveryState.SENT])) == 1
    p.close()


def test_keep_leaves_copies_but_cancels_what_was_not_posted_yet(
    tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, clock = make(tmp_path, site, x, monkeypatch, on_unpublish="keep")
    cycle(p)
    first = site.add(story(site, "Posted, then retracted"))
    cycle(p)
    url = site.permalink(37070)
    [(queued_id, _)] = p.repost(url, ["x-main"], at=clock.now + timedelta(days=1), actor="cli:ana")
    site.delete(first.post_id, gone=True)  # 410
    site.delete(37070)  # the reposted one, still queued
    clock.advance(minutes=31)
    p.recheck_unpublished()
    clock.advance(minutes=31)
    p.recheck_unpublished()
    assert x.deleted == []  # keep: the copy stays
    queued = p.store.get_delivery(queued_id)
    assert queued is not None and queued.state is DeliveryState.CANCELLED
    assert "no longer on the site" in (queued.error or "")
    assert len(x.posts) == 1
    p.close()
