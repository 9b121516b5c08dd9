"""Metrics: the pipeline's counters, the ledger's gauges at scrape time, and the health logic,
on a real SQLite ledger."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Config, load_config
from bot.errors import FetchError
from bot.metrics import METRIC_NAMES, Metrics, StoreProbe
from bot.models import DeliveryState, FeedItem, PublishResult
from bot.monitor import Monitor
from bot.pipeline import Pipeline, PollReport
from bot.store import NewDelivery, Store

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

CONFIG = """
store: sqlite:///{db}
sources:
  - {{id: site, feed: "https://site.example/feed/", every: 2m}}
accounts:
  - id: x-main
    platform: x
    credentials: {{consumer_key: a-key, consumer_secret: a-secret, access_token: a-token,
                  access_token_secret: a-token-secret}}
    budget: {{monthly: 30}}
  - {{id: console, platform: console}}
routes:
  - {{to: [x-main, console]}}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "syndbot.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "state" / "ledger.db"), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def pipeline(config: Config) -> Iterator[Pipeline]:
    store = Store(config.store)
    store.migrate()
    clock = {"now": T0}
    p = Pipeline(config, store, clock=lambda: clock["now"])
    yield p
    p.close()
    store.close()


def scrape(metrics: Metrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def add(store: Store, n: int, account: str = "x-main", **kw: object) -> int:
    item = FeedItem(source_id="site", guid=None, link=f"https://site.example/{n}/", title=f"S{n}")
    article = store.create_article("site", item, [f"url:https://site.example/{n}"], now=T0)
    delivery = store.add_delivery(
        article,
        NewDelivery(
            account_id=account, text=f"S{n} https://site.example/{n}/", url=item.link or "", **kw
        ),  # type: ignore[arg-type]
        now=T0,
    )
    assert delivery is not None
    return delivery


def test_counters_follow_the_pipeline_hooks(pipeline: Pipeline) -> None:
    m = Metrics(pipeline)
    m.polled(PollReport("site", "200", new=3, items=10))
    m.polled(PollReport("site", "304"))
    m.polled(PollReport("site", "304"))
    m.polled(PollReport("site", "error", error="HTTP 503"))
    m.polled(PollReport("site", "skipped"))  # backing off: nothing was requested
    with m.fetching("site"):
        pass
    with pytest.raises(FetchError), m.fetching("site"):
        raise FetchError("timed out", url="https://site.example/feed/")
    for outcome in ("sent", "retry", "retry", "failed"):
        m.delivered("x-main", outcome)
    m.rate_limited("x-main")
    s = scrape(m)
    assert value(s, "syndbot_polls_total", source="site", result="200") == 1
    assert value(s, "syndbot_polls_total", source="site", result="304") == 2
    assert value(s, "syndbot_polls_total", source="site", result="error") == 1
    assert value(s, "syndbot_polls_total", source="site", result="skipped") is None
    assert value(s, "syndbot_new_articles_total", source="site") == 3
    assert value(s, "syndbot_fetch_duration_seconds_count", source="site") == 2
    assert value(s, "syndbot_retries_total", account="x-main") == 2
    assert value(s, "syndbot_rate_limit_waits_total", account="x-main") == 1


def test_each_daemon_has_its_own_registry(pipeline: Pipeline) -> None:
    a, b = Metrics(pipeline), Metrics(pipeline)
    a.rate_limited("x-main")
    assert value(scrape(a), "syndbot_rate_limit_waits_total", account="x-main") == 1
    assert value(scrape(b), "syndbot_rate_limit_waits_total", account="x-main") is None
    assert (
        REGISTRY.get_sample_value("syndbot_rate_limit_waits_total", {"account": "x-main"}) is None
    )


def test_ledger_gauges_are_read_at_scrape_time(pipeline: Pipeline) -> None:
    store, m = pipeline.store, Metrics(pipeline)
    sent = add(store, 1)
    assert store.claim(sent, now=T0, owner="me", lease=60) is not None
    store.mark_sent(sent, "me", PublishResult("123"), now=T0 + timedelta(seconds=5))
    add(store, 2)  # queued, due
    later = add(store, 3, not_before=T0 + timedelta(hours=1))  # queued, not due
    add(store, 4, account="console", state=DeliveryState.HELD)
    store.record_poll("site", now=T0, status="error", error="HTTP 503")
    store.record_poll("site", now=T0, status="error", error="HTTP 503")
    pipeline.clock = lambda: T0 + timedelta(minutes=10)

    s = scrape(m)
    assert value(s, "syndbot_store_up") == 1
    assert value(s, "syndbot_deliveries", account="x-main", state="sent") == 1
    assert value(s, "syndbot_deliveries", account="x-main", state="queued") == 2
    assert value(s, "syndbot_deliveries", account="console", state="held") == 1
    assert value(s, "syndbot_queue_depth") == 2
    assert value(s, "syndbot_queue_due") == 1
    assert value(s, "syndbot_queue_held") == 1
    assert value(s, "syndbot_queue_oldest_age_seconds") == 600
    assert (
        value(s, "syndbot_last_post_timestamp_seconds", account="x-main")
        == (T0 + timedelta(seconds=5)).timestamp()
    )
    assert value(s, "syndbot_last_post_timestamp_seconds", account="console") is None
    assert value(s, "syndbot_budget_remaining", account="x-main") == 30
    assert value(s, "syndbot_budget_spent", account="x-main") == 0
    assert value(s, "syndbot_budget_remaining", account="console") is None
    assert value(s, "syndbot_source_consecutive_failures", source="site") == 2
    assert value(s, "syndbot_source_last_success_timestamp_seconds", source="site") is None
    # The next scrape sees the ledger as it is then.
    store.set_delivery_state(
        later, DeliveryState.CANCELLED, now=T0, actor="test", allowed_from=(DeliveryState.QUEUED,)
    )
    assert value(scrape(m), "syndbot_queue_depth") == 1


def test_every_documented_metric_is_exposed(pipeline: Pipeline) -> None:
    m = Metrics(pipeline)
    sent = add(pipeline.store, 1)
    pipeline.store.claim(sent, now=T0, owner="me", lease=60)
    pipeline.store.mark_sent(sent, "me", PublishResult("1"), now=T0)
    pipeline.store.record_poll("site", now=T0, status="200")
    m.polled(PollReport("site", "200", new=1))
    with m.fetching("site"):
        pass
    m.delivered("x-main", "retry")
    m.rate_limited("x-main")
    families = {
        f.name: f.type for f in text_string_to_metric_families(generate_latest(m.registry).decode())
    }
    assert families == {name: kind for name, (kind, _) in METRIC_NAMES.items()}


def test_store_down_is_reported_and_the_scrape_still_answers(
    pipeline: Pipeline, config: Config, tmp_path: Path
) -> None:
    m = Metrics(pipeline)
    assert m.probe.check() == "ok"
    pipeline.store.close()
    shutil.rmtree(tmp_path / "state")
    assert "unable to open database file" in m.probe.check()
    s = scrape(m)
    assert value(s, "syndbot_store_up") == 0


class FakeDaemon:
    def __init__(self) -> None:
        self.scheduler_running = False
        self.phase = "starting"


def test_health_and_readiness_follow_the_daemon(pipeline: Pipeline) -> None:
    daemon = FakeDaemon()
    monitor = Monitor(daemon, Metrics(pipeline))
    assert monitor.ready() == (
        503,
        {"status": "fail", "failed": ["daemon"], "checks": {"daemon": "starting", "store": "ok"}},
    )
    assert monitor.health()[1]["checks"]["scheduler"] == "not running"
    daemon.scheduler_running, daemon.phase = True, "running"
    assert monitor.health() == (200, {"status": "ok", "checks": {"scheduler": "ok", "store": "ok"}})
    assert monitor.ready()[0] == 200
    daemon.phase = "stopping"
    status, body = monitor.ready()
    assert (status, body["checks"]["daemon"]) == (503, "stopping")
    assert monitor.health()[0] == 200  # still alive while it finishes the post in flight


class HangingStore(Store):
    """A ledger whose server stopped answering (the query waits until released)."""

    release = threading.Event()

    def ping(self, timeout: float = 2.0) -> None:
        self.release.wait(30)


def test_a_hung_store_fails_the_check_within_its_timeout(tmp_path: Path) -> None:
    store = HangingStore(f"sqlite:///{tmp_path / 'l.db'}")
    probe = StoreProbe(store, timeout=0.2)
    try:
        started = datetime.now(UTC)
        assert probe.check() == "store did not answer within 0.2s"
        assert probe.check() == "store did not answer within 0.2s"  # waits on the same query
        assert datetime.now(UTC) - started < timedelta(seconds=5)
    finally:
        HangingStore.release.set()
        store.close()


def test_a_replaced_pipeline_keeps_the_counters_and_reads_its_own_ledger(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    m = Metrics(pipeline)
    assert pipeline.metrics is m
    m.rate_limited("x-main")
    add(pipeline.store, 1)
    other_store = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other_store.migrate()
    other = Pipeline(pipeline.config, other_store, clock=pipeline.clock)
    try:
        m.attach(other)
        assert other.metrics is m
        s = scrape(m)
        assert value(s, "syndbot_rate_limit_waits_total", account="x-main") == 1
        assert value(s, "syndbot_deliveries", account="x-main", state="queued") is None
        add(other_store, 2)
        assert value(scrape(m), "syndbot_deliveries", account="x-main", state="queued") == 1
    finally:
        other.close()
        other_store.close()
