"""The ledger on a real SQLite file and a real PostgreSQL server: dedup by alias keys, first-run
policies, leases, recovery, migrations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.errors import StoreError
from bot.models import Article, DeliveryState, FeedItem, PublishResult
from bot.publishers.base import InDoubt
from bot.store import SCHEMA_VERSION, NewDelivery, Store

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(ledger_url: str) -> Iterator[Store]:
    s = Store(ledger_url)
    s.migrate()
    yield s
    s.close()


def item(n: int, *, title: str | None = None, published: datetime | None = None) -> FeedItem:
    return FeedItem(
        source_id="site",
        guid=f"https://site.example/?p={n}",
        link=f"https://site.example/2026/11/story-{n}/",
        title=title or f"Story {n}",
        published=published or T0 + timedelta(minutes=n),
    )


def keys(n: int, *, slug: str | None = None) -> list[str]:
    return [f"wp:site.example:{n}", f"url:https://site.example/2026/11/{slug or f'story-{n}'}"]


def test_new_items_are_new_once(store: Store) -> None:
    batch = [(item(n), keys(n)) for n in (3, 2, 1)]
    new = store.record_items("site", batch, now=T0)
    assert len(new) == 3
    # Oldest first, whatever the feed order.
    assert [store.get_article(i).title for i in new] == ["Story 1", "Story 2", "Story 3"]  # type: ignore[union-attr]
    assert store.record_items("site", batch, now=T0) == []


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param((item(1, title="Story 1 (updated)"), keys(1)), id="edited title"),
        pytest.param((item(1, published=T0 + timedelta(days=2)), keys(1)), id="re-dated"),
        pytest.param(
            (item(1), ["url:https://site.example/2026/11/story-1"]),
            id="guid form changed to pretty",
        ),
        pytest.param(
            (item(1), ["wp:site.example:1", "url:https://site.example/2026/11/new-slug"]),
            id="new slug",
        ),
    ],
)
def test_changed_article_is_not_new_again(
    store: Store, changed: tuple[FeedItem, list[str]]
) -> None:
    assert len(store.record_items("site", [(item(1), keys(1))], now=T0)) == 1
    assert store.record_items("site", [changed], now=T0) == []


def test_aliases_are_learned_across_changes(store: Store) -> None:
    store.record_items(
        "site", [(item(1), ["wp:site.example:1", "url:https://site.example/a"])], now=T0
    )
    # The slug changes (old URL key unknown to the new item) ...
    store.record_items(
        "site", [(item(1), ["wp:site.example:1", "url:https://site.example/b"])], now=T0
    )
    # ... then the GUID form changes to a pretty permalink with the new slug only: still known.
    assert store.record_items("site", [(item(1), ["url:https://site.example/b"])], now=T0) == []


def test_same_article_twice_in_one_feed_is_recorded_once(store: Store) -> None:
    new = store.record_items("site", [(item(1), keys(1)), (item(1), [keys(1)[1]])], now=T0)
    assert len(new) == 1


def test_first_run_skip_records_but_posts_nothing(store: Store) -> None:
    new = store.record_items(
        "site", [(item(n), keys(n)) for n in (1, 2)], now=T0, select_new=lambda items: set()
    )
    assert new == []
    assert {a.state for a in store.recent_articles()} == {"seen"}
    # The policy applies to the first poll only: later items are new.
    assert (
        len(
            store.record_items("site", [(item(3), keys(3))], now=T0, select_new=lambda items: set())
        )
        == 1
    )


def test_first_run_selection_by_index(store: Store) -> None:
    batch = [(item(n), keys(n)) for n in (1, 2, 3)]
    new = store.record_items(
        "site",
        batch,
        now=T0,
        select_new=lambda items: {i for i, it in enumerate(items) if it.title != "Story 2"},
    )
    assert sorted(store.get_article(i).title for i in new) == ["Story 1", "Story 3"]  # type: ignore[union-attr]


def _routed(store: Store, n: int = 1, accounts: tuple[str, ...] = ("x-main",)) -> list[int]:
    (article_id,) = store.record_items("site", [(item(n), keys(n))], now=T0)
    art = Article(url=f"https://site.example/2026/11/story-{n}/", title=f"Story {n}")
    return store.route_article(
        article_id,
        art,
        [NewDelivery(account_id=a, text=f"Story {n} {art.url}", url=art.url) for a in accounts],
        now=T0,
    )


def test_route_article_creates_deliveries_once(store: Store) -> None:
    ids = _routed(store, accounts=("x-main", "x-fr"))
    assert len(ids) == 2
    article_id = store.get_delivery(ids[0]).article_id  # type: ignore[union-attr]
    again = store.route_article(
        article_id,
        Article(url="u", title="t"),
        [NewDelivery(account_id="x-main", text="t u", url="u")],
        now=T0,
    )
    assert again == []
    assert len(store.list_deliveries()) == 2


def test_claim_sets_a_lease_and_is_exclusive(store: Store) -> None:
    (d_id,) = _routed(store)
    first = store.claim_due(now=T0, owner="a", lease=60)
    assert [d.id for d in first] == [d_id]
    assert first[0].state is DeliveryState.SENDING
    assert first[0].attempts == 1
    assert store.claim_due(now=T0, owner="b", lease=60) == []


def test_not_due_is_not_claimed(store: Store) -> None:
    (article_id,) = store.record_items("site", [(item(1), keys(1))], now=T0)
    store.route_article(
        article_id,
        Article(url="u", title="t"),
        [NewDelivery(account_id="x", text="t u", url="u", not_before=T0 + timedelta(hours=1))],
        now=T0,
    )
    assert store.claim_due(now=T0, owner="a", lease=60) == []
    assert len(store.claim_due(now=T0 + timedelta(hours=1), owner="a", lease=60)) == 1


def test_results_are_recorded_only_by_the_lease_owner(store: Store) -> None:
    (d_id,) = _routed(store)
    store.claim_due(now=T0, owner="a", lease=60)
    assert not store.mark_sent(d_id, "intruder", PublishResult("1"), now=T0)
    assert store.mark_sent(
        d_id, "a", PublishResult("123", "https://x.com/i/web/status/123"), now=T0
    )
    d = store.get_delivery(d_id)
    assert d is not None
    assert (d.state, d.remote_id, d.remote_url) == (
        DeliveryState.SENT,
        "123",
        "https://x.com/i/web/status/123",
    )
    assert [e.action for e in store.list_events(delivery_id=d_id)] == ["sent", "created"]


def test_retry_requeues_later(store: Store) -> None:
    (d_id,) = _routed(store)
    store.claim_due(now=T0, owner="a", lease=60)
    store.mark_retry(d_id, "a", "503 from X", not_before=T0 + timedelta(minutes=5), now=T0)
    assert store.claim_due(now=T0 + timedelta(minutes=4), owner="a", lease=60) == []
    again = store.claim_due(now=T0 + timedelta(minutes=5), owner="a", lease=60)
    assert [(d.id, d.attempts, d.error) for d in again] == [(d_id, 2, "503 from X")]


@pytest.mark.parametrize(
    ("policy", "state"), [(InDoubt.RETRY, DeliveryState.QUEUED), (InDoubt.HOLD, DeliveryState.HELD)]
)
def test_expired_lease_is_recovered_by_platform_policy(
    store: Store, policy: InDoubt, state: DeliveryState
) -> None:
    (d_id,) = _routed(store)
    store.claim_due(now=T0, owner="dead", lease=60)
    assert store.recover_expired(now=T0 + timedelta(seconds=30), policy=lambda a: policy) == 0
    assert store.recover_expired(now=T0 + timedelta(seconds=61), policy=lambda a: policy) == 1
    d = store.get_delivery(d_id)
    assert d is not None and d.state is state
    assert d.error is not None and "in doubt" in d.error
    # The dead owner's late answer is not recorded over the recovery.
    assert not store.mark_sent(d_id, "dead", PublishResult("1"), now=T0)


def test_defer_account_pushes_only_that_account(store: Store) -> None:
    _routed(store, 1, accounts=("x-main", "x-fr"))
    _routed(store, 2, accounts=("x-main",))
    later = T0 + timedelta(minutes=15)
    assert store.defer_account("x-main", later, now=T0, reason="429 from X") == 2
    claimed = store.claim_due(now=T0, owner="a", lease=60, limit=10)
    assert [d.account_id for d in claimed] == ["x-fr"]
    waiting = store.list_deliveries(states=[DeliveryState.QUEUED])
    assert {(d.account_id, d.error) for d in waiting} == {("x-main", "429 from X")}


def test_concurrent_claimers_never_share_a_delivery(ledger_url: str) -> None:
    url = ledger_url
    setup = Store(url)
    setup.migrate()
    for n in range(1, 61):
        _routed(setup, n)
    setup.close()
    got: list[list[int]] = [[], [], []]

    def worker(i: int) -> None:
        s = Store(url)  # one engine per "process"
        try:
            while batch := s.claim_due(now=T0, owner=f"w{i}", lease=60, limit=2):
                got[i].extend(d.id for d in batch)
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [d for g in got for d in g]
    assert len(every) == 60
    assert len(set(every)) == 60


def test_migrate_is_idempotent_and_refuses_newer_schema(ledger_url: str) -> None:
    url = ledger_url
    s = Store(url)
    assert s.migrate() == SCHEMA_VERSION
    assert s.migrate() == SCHEMA_VERSION
    with s.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO schema_version (version, applied_at) VALUES (999, '2026-01-01 00:00:00')"
        )
    with pytest.raises(StoreError, match="newer than this syndbot"):
        s.migrate()
    s.close()


def test_store_creates_the_database_folder(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'x.db'}")
    s.migrate()
    assert (tmp_path / "deep" / "er" / "x.db").exists()
    s.close()


def test_editor_state_changes_are_audited(store: Store) -> None:
    (d_id,) = _routed(store)
    ok = store.set_delivery_state(
        d_id, DeliveryState.CANCELLED, now=T0, actor="cli:ana", allowed_from=(DeliveryState.QUEUED,)
    )
    assert ok
    assert not store.set_delivery_state(
        d_id, DeliveryState.CANCELLED, now=T0, actor="cli:ana", allowed_from=(DeliveryState.QUEUED,)
    )
    last = store.list_events(delivery_id=d_id)[0]
    assert (last.actor, last.action) == ("cli:ana", "cancelled")


def test_a_version_1_database_is_upgraded_in_place(ledger_url: str) -> None:
    url = ledger_url
    s = Store(url)
    s.migrate()
    s.record_items("site", [(item(1), keys(1))], now=T0)
    # Make it look like a database written by the first release (schema version 1).
    with s.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE sources DROP COLUMN cursor")
        conn.exec_driver_sql("ALTER TABLE deliveries DROP COLUMN cost")
        conn.exec_driver_sql("DROP TABLE api_tokens")
        conn.exec_driver_sql("DROP TABLE users")
        conn.exec_driver_sql("DROP INDEX ix_events_delivery")
        conn.exec_driver_sql("UPDATE schema_version SET version = 1")
    s.close()
    upgraded = Store(url)
    assert upgraded.migrate() == SCHEMA_VERSION
    upgraded.record_poll("site", now=T0, status="200", cursor="2026-11-29T12:00:00")
    assert upgraded.source_state("site").cursor == "2026-11-29T12:00:00"
    assert upgraded.record_items("site", [(item(1), keys(1))], now=T0) == []  # data kept
    with upgraded.engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0
        conn.exec_driver_sql("SELECT cost FROM deliveries")
    assert "ix_events_delivery" in {
        ix["name"] for ix in sa.inspect(upgraded.engine).get_indexes("events")
    }
    upgraded.close()


def test_many_not_modified_polls_are_recorded_like_single_ones(store: Store) -> None:
    store.record_poll("a", now=T0, status="200", etag='"a1"', last_modified="Mon")
    store.record_poll("b", now=T0, status="error", error="HTTP 500", backoff_until=T0)
    later = T0 + timedelta(minutes=1)
    store.record_not_modified(
        [
            ("a", '"a1"', "Mon", "http://a/feed/"),
            ("b", '"b1"', None, None),
            ("c", None, "Tue", None),
        ],
        now=later,
    )
    states = store.source_states(["a", "b", "c", "never"])
    assert list(states) == ["a", "b", "c", "never"]
    a, b, c, never = states.values()
    assert (a.last_status, a.etag, a.last_poll_at, a.final_url) == (
        "304",
        '"a1"',
        later,
        "http://a/feed/",
    )
    # A 304 ends a failure streak and its backoff, as record_poll does.
    assert (b.failures, b.backoff_until, b.last_error, b.etag) == (0, None, None, '"b1"')
    assert (c.last_status, c.last_modified) == ("304", "Tue")  # a source with no row yet
    assert never.last_poll_at is None and never.id == "never"
    assert store.source_state("a") == a


def test_a_source_is_polled_by_one_daemon_at_a_time_until_its_lease_ends(store: Store) -> None:
    assert store.claim_poll("site", owner="a", now=T0, lease=60)
    assert not store.claim_poll("site", owner="b", now=T0 + timedelta(seconds=30), lease=60)
    # The holder dies: its lease ends and another daemon takes the source over.
    assert store.claim_poll("site", owner="b", now=T0 + timedelta(seconds=61), lease=60)
    store.release_poll("site", owner="a")  # a late release by the dead owner changes nothing
    assert not store.claim_poll("site", owner="c", now=T0 + timedelta(seconds=62), lease=60)
    store.release_poll("site", owner="b")
    assert store.claim_polls(
        ["site", "other"], owner="c", now=T0 + timedelta(seconds=63), lease=60
    ) == {
        "site",
        "other",
    }
    assert store.claim_polls(
        ["site", "third"], owner="d", now=T0 + timedelta(seconds=64), lease=60
    ) == {"third"}


def test_a_source_polled_within_min_gap_is_left_to_the_daemon_that_polled_it(store: Store) -> None:
    assert store.claim_poll("site", owner="a", now=T0, lease=60, min_gap=100)
    store.record_poll("site", now=T0, status="304")
    store.release_poll("site", owner="a")
    assert not store.claim_poll(
        "site", owner="b", now=T0 + timedelta(seconds=50), lease=60, min_gap=100
    )
    assert store.claim_poll(
        "site", owner="b", now=T0 + timedelta(seconds=101), lease=60, min_gap=100
    )


def test_new_articles_are_claimed_by_one_daemon_until_its_lease_ends(store: Store) -> None:
    store.record_items("site", [(item(n), keys(n)) for n in (1, 2, 3)], now=T0)
    a = store.claim_new_articles(owner="a", now=T0, lease=60, limit=2)
    b = store.claim_new_articles(owner="b", now=T0, lease=60, limit=5)
    assert [x.title for x in a] == ["Story 1", "Story 2"]
    assert [x.title for x in b] == ["Story 3"]
    later = store.claim_new_articles(owner="b", now=T0 + timedelta(seconds=61), lease=60, limit=5)
    assert {x.title for x in later} == {"Story 1", "Story 2", "Story 3"}  # a's lease ended
