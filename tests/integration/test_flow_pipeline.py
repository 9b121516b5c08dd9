"""Flow control through the real Pipeline, against the fake WordPress site and the fake X API,
with an injected clock: spacing of a burst, quiet hours and the breaking-news override,
approval, stale articles, the X budget, and limits that survive a restart."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Config, load_config
from bot.demo.site import SampleSite
from bot.models import Delivery, DeliveryState
from bot.pipeline import Pipeline
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, open_store, story, write_config

PAP_EVENING = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)  # 22:30 on 24 Nov in Port-au-Prince


class Clock:
    """The pipeline's clock, moved by the test."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(autouse=True)
def _x_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)


def flow_config(tmp_path: Path, store: str, site: SampleSite, x: FakeX, **account: Any) -> Path:
    """The usual test config (timezone America/Port-au-Prince), with ``account`` keys added to
    the X account."""
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=store)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["accounts"][0].update(account)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def pipeline(config: Config, clock: Clock) -> Pipeline:
    store = open_store(config.store)
    return Pipeline(config, store, owner="test", rng=random.Random(1), clock=clock)


def cycle(p: Pipeline) -> None:
    for s in p.config.sources:
        p.poll(s)
    p.process_new()
    p.deliver_due()


def titles(x: FakeX) -> list[str]:
    return [post["text"].split(" #")[0] for post in x.posts]


def queued(p: Pipeline) -> list[Delivery]:
    return p.store.list_deliveries(states=[DeliveryState.QUEUED], newest_first=False)


def test_a_burst_goes_out_one_now_and_the_rest_at_ten_minute_steps(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(tmp_path, ledger_url, site, x, limits={"min_gap": "10m"})
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    p = pipeline(load_config(path), clock)
    cycle(p)  # first run: recorded, nothing posted
    burst = [f"Story {n} of a busy afternoon" for n in range(1, 6)]
    for title in burst:
        site.add(story(site, title))
    start = clock.now
    cycle(p)
    assert titles(x) == burst[:1]
    waiting = queued(p)
    assert [d.not_before - start for d in waiting] == [
        timedelta(minutes=m) for m in (10, 20, 30, 40)
    ]
    assert all((d.error or "").startswith("min_gap 10m between posts: next slot") for d in waiting)
    # Editors see why each one waits.
    out = CliRunner().invoke(cli, ["queue", "--config", str(path)], catch_exceptions=False).output
    assert out.count("min_gap 10m between posts") == 4
    for minutes in (10, 20, 30, 40):
        clock.advance(minutes=5)
        p.deliver_due()
        assert len(x.posts) == minutes // 10  # not due yet
        clock.advance(minutes=5)
        p.deliver_due()
        assert titles(x) == burst[: minutes // 10 + 1]
    assert queued(p) == []
    p.close()


def test_quiet_hours_hold_a_post_until_morning_but_breaking_news_goes_through(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(
        tmp_path,
        ledger_url,
        site,
        x,
        limits={"quiet_hours": "23:00-06:00"},
        priority=[
            {"where": {"categories_any": ["Breaking"]}, "priority": 10, "ignore_quiet_hours": True}
        ],
    )
    clock = Clock(PAP_EVENING)
    p = pipeline(load_config(path), clock)
    cycle(p)
    clock.advance(hours=1)  # 23:30
    site.add(story(site, "A feature for the morning"))
    site.add(story(site, "Security chief named", categories=("English", "Breaking")))
    cycle(p)
    assert titles(x) == ["Security chief named"]
    (waiting,) = queued(p)
    morning = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # 06:00 EST
    assert waiting.not_before == morning
    assert waiting.error == "quiet_hours 23:00-06:00: waiting until 2026-11-25 06:00 EST"
    sent = p.store.list_deliveries(states=[DeliveryState.SENT])
    assert [d.priority for d in sent] == [10]
    clock.now = morning - timedelta(minutes=1)
    p.deliver_due()
    assert len(x.posts) == 1
    clock.now = morning
    report = p.deliver_due()
    assert report.sent == 1
    assert titles(x) == ["Security chief named", "A feature for the morning"]
    p.close()


def test_approval_required_holds_new_posts_until_an_editor_approves(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(tmp_path, ledger_url, site, x, approval="required")
    clock = Clock(datetime.now(UTC))
    p = pipeline(load_config(path), clock)
    cycle(p)
    site.add(story(site, "Waiting for the editor"))
    cycle(p)
    clock.advance(hours=2)
    p.deliver_due()
    assert x.posts == []
    (held,) = p.store.list_deliveries(states=[DeliveryState.HELD])
    assert held.error is not None and "approval" in held.error
    out = CliRunner().invoke(cli, ["queue", "--config", str(path)], catch_exceptions=False).output
    assert f"#{held.id}" in out and "held" in out and "approval: waiting for an editor" in out
    assert p.approve(held.id, actor="web:ana")
    p.deliver_due()
    assert titles(x) == ["Waiting for the editor"]
    p.close()


def test_a_stale_article_is_skipped_with_the_reason_and_can_be_sent_anyway(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(tmp_path, ledger_url, site, x, limits={"max_age": "6h"})
    clock = Clock(datetime.now(UTC))
    p = pipeline(load_config(path), clock)
    cycle(p)
    site.add(story(site, "Fresh story"))
    site.add(story(site, "Back-dated story", published=clock.now - timedelta(hours=9)))
    cycle(p)
    assert titles(x) == ["Fresh story"]
    (skipped,) = p.store.list_deliveries(states=[DeliveryState.SKIPPED])
    assert skipped.error == "max_age: the article is 9h old, older than 6h"
    assert p.store.list_events(delivery_id=skipped.id)[0].action == "skipped"
    assert p.retry(skipped.id, actor="web:ana")  # the editor wants it anyway
    p.deliver_due()
    assert titles(x) == ["Fresh story", "Back-dated story"]
    p.close()


def test_the_budget_records_each_posts_cost_and_keeps_the_reserve_for_priority(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(
        tmp_path,
        ledger_url,
        site,
        x,
        budget={"monthly": 0.45, "reserve": "20%"},  # $0.36 for everyone, $0.09 kept back
        priority=[{"where": {"categories_any": ["Breaking"]}, "priority": 10}],
    )
    clock = Clock(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    p = pipeline(load_config(path), clock)
    cycle(p)
    site.add(story(site, "First story of the month"))
    cycle(p)
    site.add(story(site, "Second story of the month"))
    cycle(p)
    site.add(story(site, "Breaking: the council resigns", categories=("English", "Breaking")))
    cycle(p)
    assert titles(x) == ["First story of the month", "Breaking: the council resigns"]
    sent = p.store.list_deliveries(states=[DeliveryState.SENT])
    assert [d.extra["cost"] for d in sent] == ["0.2", "0.2"]  # posts with a link
    (skipped,) = p.store.list_deliveries(states=[DeliveryState.SKIPPED])
    assert skipped.error is not None and skipped.error.startswith("budget: ")
    assert "the last $0.09 is kept for posts with priority 1 or more" in skipped.error
    status = p.budget_status("x-main")
    assert status is not None
    assert (status.month, status.posts) == ("2026-11", 2)
    assert status.spent == pytest.approx(0.40)
    assert status.remaining == pytest.approx(0.05)
    runner = CliRunner()
    out = runner.invoke(cli, ["budget", "--config", str(path)], catch_exceptions=False).output
    assert "budget x-main " in out  # the CLI's month is today's, not the test clock's
    history = runner.invoke(cli, ["history", "--config", str(path)], catch_exceptions=False)
    assert "$0.20" in history.output and "budget x-main" in history.output
    rows = [
        json.loads(line)
        for line in runner.invoke(
            cli, ["history", "--json", "--config", str(path)], catch_exceptions=False
        ).output.splitlines()
    ]
    assert sorted(r["cost"] for r in rows if r["state"] == "sent") == [0.2, 0.2]
    # A new month in Port-au-Prince starts at 05:00 UTC on 1 December.
    clock.now = datetime(2026, 12, 1, 4, 59, tzinfo=UTC)
    assert p.budget_status("x-main").month == "2026-11"  # type: ignore[union-attr]
    clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    december = p.budget_status("x-main")
    assert december is not None
    assert (december.month, december.spent, december.remaining) == ("2026-12", 0.0, 0.45)
    p.close()


def test_a_restarted_pipeline_keeps_the_spacing_from_the_ledger(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    config = load_config(flow_config(tmp_path, ledger_url, site, x, limits={"min_gap": "10m"}))
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    start = clock.now
    first = pipeline(config, clock)
    cycle(first)
    site.add(story(site, "Before the restart"))
    site.add(story(site, "Queued at the restart"))
    cycle(first)
    first.close()
    first.store.close()
    assert titles(x) == ["Before the restart"]

    clock.advance(minutes=3)
    second = pipeline(config, clock)  # a new process: nothing in memory
    site.add(story(site, "After the restart"))
    cycle(second)
    assert len(x.posts) == 1
    assert [(d.not_before - start) for d in queued(second)] == [
        timedelta(minutes=10),
        timedelta(minutes=20),  # behind the one already waiting, not beside it
    ]
    clock.now = start + timedelta(minutes=10)
    second.deliver_due()
    clock.now = start + timedelta(minutes=20)
    second.deliver_due()
    assert titles(x) == ["Before the restart", "Queued at the restart", "After the restart"]
    second.close()


def test_editor_commands_approve_reschedule_edit_and_budget(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = flow_config(tmp_path, ledger_url, site, x, approval="required", budget={"monthly": 10})
    runner = CliRunner()

    def syndbot(*args: str) -> Any:
        return runner.invoke(cli, [*args, "--config", str(path)], catch_exceptions=False)

    assert syndbot("once").exit_code == 0
    site.add(story(site, "An article for the desk"))
    assert "sent 0," in syndbot("once").output
    (row,) = [json.loads(line) for line in syndbot("queue", "--json").output.splitlines()]
    assert row["state"] == "held"
    ident = str(row["id"])

    edited = syndbot("edit", ident, "--text", "The desk rewrote this headline")
    assert edited.exit_code == 0, edited.output
    assert "The desk rewrote this headline http" in edited.output
    too_long = syndbot("edit", ident, "--text", "word " * 100)
    assert too_long.exit_code == 1 and "the limit is 280" in too_long.output

    moved = syndbot("reschedule", ident, "--at", "2099-01-01T08:00")
    assert moved.exit_code == 0, moved.output
    (row,) = [json.loads(line) for line in syndbot("queue", "--json").output.splitlines()]
    assert (row["state"], row["not_before"]) == ("held", "2099-01-01T13:00:00+00:00")

    assert syndbot("approve", ident).exit_code == 0
    assert syndbot("approve", ident).exit_code == 1  # not held any more
    assert syndbot("reschedule", "9999", "--at", "2099-01-01T08:00").exit_code == 1
    assert syndbot("once").exit_code == 0
    assert [p["text"].split(" http")[0] for p in x.posts] == ["The desk rewrote this headline"]

    budget = syndbot("budget")
    assert "budget x-main" in budget.output and "$0.20 of $10.00 spent (1 posts)" in budget.output
    (status,) = [json.loads(line) for line in syndbot("budget", "--json").output.splitlines()]
    assert (status["spent"], status["limit"], status["remaining"]) == (0.2, 10.0, 9.8)


def test_two_daemons_over_one_ledger_keep_one_spacing(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    config = load_config(flow_config(tmp_path, ledger_url, site, x, limits={"min_gap": "10m"}))
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    a, b = pipeline(config, clock), pipeline(config, clock)
    b.owner = "test-b"
    cycle(a)
    for n in range(1, 7):
        site.add(story(site, f"Story {n} for two daemons"))
    a.poll(config.sources[0])
    a.process_new()
    barrier = threading.Barrier(2)

    def deliver(p: Pipeline) -> None:
        barrier.wait()
        for _ in range(5):
            p.deliver_due()

    threads = [threading.Thread(target=deliver, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert titles(x) == ["Story 1 for two daemons"]
    assert sorted(d.not_before - clock.now for d in queued(a)) == [
        timedelta(minutes=m) for m in (10, 20, 30, 40, 50)
    ]
    a.close()
    b.close()
