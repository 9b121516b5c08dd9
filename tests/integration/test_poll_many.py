"""``Pipeline.poll_many`` (the batch poll of ``syndbot once`` and of the polling benchmark) gives
every source the outcome ``Pipeline.poll`` gives it: conditional GET and 304, first-run policy,
new items, failures with backoff (skipped until it ends, unless forced), in the given order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.demo.site import SampleSite
from bot.pipeline import Pipeline
from bot.store import Store
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, story, write_config


@pytest.fixture(autouse=True)
def x_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX) -> Config:
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "l.db",
        extra_sources=[
            {"id": "down", "feed": "http://127.0.0.1:9/feed/", "every": "60s", "jitter": "0s"},
            {"id": "haiti", "feed": f"{site.url}/category/haiti/feed/", "every": "60s"},
        ],
    )
    return load_config(path)


def test_poll_many_polls_each_source_like_poll_does(config: Config, site: SampleSite) -> None:
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="test", rng=random.Random(1))
    sources = list(config.sources)
    try:
        first = p.poll_many(sources)
        assert [r.source_id for r in first] == ["ctn", "down", "haiti"]
        assert [r.status for r in first] == ["200", "error", "200"]
        # first_run: skip records the feeds' articles without posting any.
        assert (first[0].new, first[0].items) == (0, len(site.articles()))
        assert first[2].new == 0 and first[2].items >= 1
        assert store.articles_in_state("new") == []
        assert "cannot connect" in (first[1].error or "")

        again = p.poll_many(sources)
        assert [r.status for r in again] == ["304", "skipped", "304"]
        state = store.source_state("ctn")
        assert (state.last_status, state.failures) == ("304", 0)
        assert state.etag  # the validators stay for the next conditional GET
        assert store.source_state("down").failures == 1  # backing off, not polled again

        site.add(story(site, "A story for the batch poll", categories=("English",)))
        third = p.poll_many(sources)
        assert [(r.status, r.new) for r in third] == [("200", 1), ("skipped", 0), ("304", 0)]
        new = store.articles_in_state("new")
        assert [a.title for a in new if a.source_id == "ctn"] == ["A story for the batch poll"]

        forced = p.poll_many(sources, force=True)
        assert [r.status for r in forced] == ["304", "error", "304"]
        assert store.source_state("down").failures == 2
    finally:
        p.close()
        store.close()


def test_poll_many_leaves_a_source_another_daemon_is_polling(config: Config) -> None:
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="this-daemon", rng=random.Random(1))
    try:
        assert store.claim_poll("haiti", owner="other-daemon", now=p.clock(), lease=60)
        reports = p.poll_many(list(config.sources))
        assert [(r.source_id, r.status) for r in reports] == [
            ("ctn", "200"),
            ("down", "error"),
            ("haiti", "skipped"),
        ]
        assert reports[2].error == "polled by another daemon"
        assert store.source_state("haiti").poll_owner == "other-daemon"  # its lease is untouched
        assert store.source_state("ctn").poll_owner is None  # ours are released
    finally:
        p.close()
        store.close()


def test_a_ledger_failure_in_poll_many_leaves_no_fetch_thread_stuck(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger fails while recording the first changed feed: poll_many raises, its fetch
    threads end (none blocked on the full hand-over queue), and the next poll works."""
    import threading

    from bot.errors import StoreError

    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="test", rng=random.Random(1))
    real = store.record_items

    def locked(*args: object, **kw: object) -> list[int]:
        raise StoreError("store unavailable: database is locked")

    monkeypatch.setattr(store, "record_items", locked)
    outcome: list[object] = []

    def poll() -> None:
        try:
            p.poll_many(list(config.sources), workers=1)
        except StoreError as e:
            outcome.append(e)

    t = threading.Thread(target=poll)
    t.start()
    t.join(30)
    assert not t.is_alive(), "poll_many hung"
    assert outcome and "locked" in str(outcome[0])
    monkeypatch.setattr(store, "record_items", real)
    again = p.poll_many(list(config.sources), workers=1)
    statuses = [r.status for r in again]
    assert statuses[0] == statuses[2] == "200"
    assert statuses[1] in {"error", "skipped"}  # 'down' fails, or already backs off
    closer = threading.Thread(target=p.close)
    closer.start()
    closer.join(30)
    assert not closer.is_alive(), "closing the pipeline hung on a fetch thread"
    store.close()
