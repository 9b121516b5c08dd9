"""The pipeline in-process, against the fake WordPress site and the fake X API: rate limits,
outages, fallbacks, feed formats and cross-feed dedup."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline, select_first_run
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, open_store, story, write_config


def pipeline_for(config: Config, *, clock: datetime | None = None) -> Pipeline:
    store = open_store(config.store)
    if clock is None:
        return Pipeline(config, store, owner="test", rng=random.Random(1))
    return Pipeline(config, store, owner="test", rng=random.Random(1), clock=lambda: clock)


@pytest.fixture(autouse=True)
def x_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake X account's keys, as the configs reference them (${X_API_KEY} …)."""
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def config(tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX) -> Config:
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url)
    return load_config(path)


def cycle(p: Pipeline) -> None:
    for s in p.config.sources:
        p.poll(s)
    p.process_new()
    p.deliver_due()


def test_daily_cap_429_waits_for_the_24_hour_reset_and_holds_the_whole_account(
    config: Config, site: SampleSite, x: FakeX
) -> None:
    p = pipeline_for(config)
    cycle(p)  # first run: recorded, nothing posted
    site.add(story(site, "First of two stories"))
    site.add(story(site, "Second of two stories"))
    x.rate_limit_next(1, reset_in=6 * 3600, daily=True)
    cycle(p)
    assert x.posts == []
    # One request hit the cap; the other post was not even tried (no hammering).
    assert [r.status for r in x.requests] == [429]
    queued = p.store.list_deliveries(states=[DeliveryState.QUEUED])
    assert len(queued) == 2
    now = datetime.now(UTC)
    for d in queued:
        wait = (d.not_before - now).total_seconds()
        assert 6 * 3600 - 60 < wait < 6 * 3600 + 60, wait
    # Editors see why each one waits, including the one that was never tried.
    assert all("daily user cap" in (d.error or "") for d in queued)
    p.close()


def test_server_errors_back_off_exponentially_and_then_post(
    config: Config, site: SampleSite, x: FakeX
) -> None:
    p = pipeline_for(config)
    cycle(p)
    site.add(story(site, "Story during an outage"))
    x.fail_next(1, status=503)
    cycle(p)
    (d,) = p.store.list_deliveries(states=[DeliveryState.QUEUED])
    wait = (d.not_before - datetime.now(UTC)).total_seconds()
    assert 0.9 < wait < 1.3  # retry.first is 0.3s, but never less than 1s between tries
    later = pipeline_for(config, clock=datetime.now(UTC) + timedelta(seconds=2))
    later.deliver_due()
    assert [post["text"].split(" #")[0] for post in x.posts] == ["Story during an outage"]
    p.close()
    later.close()


def test_backoff_doubles_with_jitter_is_capped_and_honours_the_platforms_reset(
    config: Config,
) -> None:
    from bot.config import RetrySettings

    p = pipeline_for(config.model_copy(update={"retry": RetrySettings(first=30, max_wait=1800)}))
    waits = [p.backoff(n, None) for n in range(1, 10)]
    for n, wait in enumerate(waits, 1):
        expected = min(30 * 2 ** (n - 1), 1800)
        assert 0.8 * expected <= wait <= 1.2 * expected, (n, wait)
    assert len({round(w, 6) for w in waits}) == len(waits)  # jittered: no two alike
    assert 3600 <= p.backoff(1, 3600) <= 3604  # X's reset time, plus a little
    p.close()


def test_article_page_down_falls_back_to_the_feed_fields(
    config: Config, site: SampleSite, x: FakeX
) -> None:
    p = pipeline_for(config)
    cycle(p)
    article = site.add(story(site, "Page that will not load"))
    path = site.permalink(article.post_id).removeprefix(site.url)
    site.fail_next(path, 500, 5)
    cycle(p)
    assert [post["text"] for post in x.posts] == [
        f"Page that will not load #Haiti {site.permalink(article.post_id)}"
    ]
    p.close()


@pytest.mark.parametrize("feed", ["/feed/", "/feed/atom/", "/feed/json/"])
def test_rss_atom_and_json_feed_sources(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX, feed: str
) -> None:
    path = write_config(
        tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url, first_run="latest:2"
    )
    text = path.read_text().replace(f"{site.url}/feed/", f"{site.url}{feed}")
    path.write_text(text)
    p = pipeline_for(load_config(path))
    cycle(p)
    newest = sorted(site.articles(), key=lambda a: a.published, reverse=True)[:2]
    assert sorted(post["text"].rsplit(" ", 1)[1] for post in x.posts) == sorted(
        site.permalink(a.post_id) for a in newest
    )
    p.close()


def test_an_article_in_two_feeds_of_the_site_is_posted_once(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=ledger_url,
        extra_sources=[
            {"id": "ctn-haiti", "feed": f"{site.url}/category/haiti/feed/", "every": "1s"}
        ],
        routes=[{"from": ["ctn", "ctn-haiti"], "to": ["x-main"]}],
    )
    config = load_config(path)
    assert [s.id for s in config.sources] == ["ctn", "ctn-haiti"]
    p = pipeline_for(config)
    cycle(p)
    site.add(
        story(site, "In both the main feed and the Haiti feed", categories=("English", "Haiti"))
    )
    cycle(p)
    cycle(p)
    assert len(x.posts) == 1
    p.close()


def test_boilerplate_never_reaches_a_post(config: Config, site: SampleSite) -> None:
    p = pipeline_for(config)
    preview = p.preview(site.permalink(37070), ["x-main"])
    assert "Share This Article" not in preview.article.body
    assert "Share This Article" not in preview.posts[0].text
    assert preview.article.lead.startswith("At the 80th United Nations General Assembly")
    p.close()


def test_first_run_policies_choose_the_right_items(config: Config) -> None:
    from bot.config import FirstRun, SourceConfig
    from bot.models import FeedItem

    t = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        FeedItem("s", f"g{n}", f"https://a.example/{n}", f"T{n}", published=t + timedelta(days=n))
        for n in range(5)
    ] + [FeedItem("s", "undated", "https://a.example/u", "undated")]

    def chosen(policy: str) -> list[str]:
        source = SourceConfig(
            id="s", feed="https://a.example/feed", first_run=FirstRun.parse(policy)
        )
        return sorted(items[i].title for i in select_first_run(source)(items))

    assert chosen("skip") == []
    assert chosen("latest:2") == ["T3", "T4"]
    assert chosen("since:2026-11-03") == ["T2", "T3", "T4"]


def test_a_sources_language_overrides_the_sites_default_language(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    # The site marks every page en-US (no language plugin); the French feed says fr.
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=ledger_url,
        routes=[{"to": ["x-main"], "where": {"language": ["fr"]}}],
    )
    path.write_text(path.read_text().replace("first_run: skip", "first_run: skip\n  language: fr"))
    config = load_config(path)
    assert config.sources[0].language == "fr"
    p = pipeline_for(config)
    cycle(p)
    site.add(story(site, "Un article en français sur un site marqué en-US", language="en-US"))
    cycle(p)
    assert [post["text"].split(" #")[0] for post in x.posts] == [
        "Un article en français sur un site marqué en-US"
    ]
    assert p.preview(site.permalink(37070)).article.language == "fr"
    p.close()


def test_a_wordpress_rest_source_posts_once_even_beside_the_rss_feed(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=ledger_url,
        extra_sources=[{"id": "ctn-rest", "type": "wordpress", "feed": site.url, "every": "1s"}],
        routes=[{"from": ["ctn", "ctn-rest"], "to": ["x-main"]}],
    )
    p = pipeline_for(load_config(path))
    cycle(p)  # first run of both sources: recorded, not posted
    assert x.posts == []
    article = site.add(story(site, "Through the REST API and the feed alike"))
    cycle(p)
    cycle(p)
    assert [post["text"] for post in x.posts] == [
        f"Through the REST API and the feed alike #Haiti {site.permalink(article.post_id)}"
    ]
    site.edit(article.post_id, title="Through the REST API and the feed alike (updated)")
    cycle(p)
    assert len(x.posts) == 1
    state = p.store.source_state("ctn-rest")
    assert state.cursor is not None
    assert state.last_status == "200"
    p.close()


def test_a_rest_source_needing_a_password_says_so(
    tmp_path: Path, ledger_url: str, x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.demo.articles import load_sample_articles

    with SampleSite(
        load_sample_articles(), app_passwords={"editor": "abcd efgh ijkl mnop"}
    ) as locked:
        path = write_config(
            tmp_path / "c.yaml",
            site=locked,
            x_url=x.url,
            store=ledger_url,
            extra_sources=[
                {
                    "id": "rest",
                    "type": "wordpress",
                    "feed": locked.url,
                    "username": "editor",
                    "app_password": "${WP_APP_PASSWORD}",
                }
            ],
        )
        monkeypatch.setenv("WP_APP_PASSWORD", "wrong password")
        p = pipeline_for(load_config(path))
        report = p.poll(p.config.source("rest"))
        assert report.status == "error"
        assert report.error is not None and "wrong password" not in report.error
        p.close()
        monkeypatch.setenv("WP_APP_PASSWORD", "abcd efgh ijkl mnop")
        p = pipeline_for(load_config(path))
        report = p.poll(p.config.source("rest"), force=True)
        assert (report.status, report.items) == ("200", 5)
        p.close()


def test_editor_actions_approve_reschedule_and_edit(
    config: Config, site: SampleSite, x: FakeX
) -> None:
    from bot.errors import BotError
    from bot.summarizer import TextTooLong

    p = pipeline_for(config)
    url = site.permalink(37070)
    later = datetime(2099, 1, 1, tzinfo=UTC)
    [(delivery_id, _)] = p.repost(url, ["x-main"], at=later, actor="web:ana")
    assert p.reschedule(delivery_id, datetime(2099, 6, 1, tzinfo=UTC), actor="web:ana")
    d = p.store.get_delivery(delivery_id)
    assert d is not None and d.not_before == datetime(2099, 6, 1, tzinfo=UTC)
    post = p.edit_text(
        delivery_id, "Kenya's mission in Haiti: what Ruto told the UN", actor="web:ana"
    )
    assert post.text == f"Kenya's mission in Haiti: what Ruto told the UN {url}"
    with pytest.raises(TextTooLong):
        p.edit_text(delivery_id, "word " * 100, actor="web:ana")
    assert not p.approve(delivery_id, actor="web:ana")  # queued, not held: nothing to approve
    p.store.set_delivery_state(
        delivery_id,
        DeliveryState.HELD,
        now=datetime.now(UTC),
        actor="t",
        allowed_from=[DeliveryState.QUEUED],
    )
    assert p.approve(delivery_id, actor="web:ana")
    p.deliver_due()
    assert [post["text"] for post in x.posts] == [
        f"Kenya's mission in Haiti: what Ruto told the UN {url}"
    ]
    with pytest.raises(BotError, match="cannot be edited"):
        p.edit_text(delivery_id, "too late", actor="web:ana")
    actions = [e.action for e in p.store.list_events(delivery_id=delivery_id)]
    assert actions == ["sent", "queued", "held", "edited", "queued", "created"]
    p.close()


def test_a_backlog_deeper_than_catch_up_pages_is_read_up_to_the_cap_and_said(
    tmp_path: Path,
    ledger_url: str,
    site: SampleSite,
    x: FakeX,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url)
    path.write_text(
        path.read_text().replace("first_run: skip", "first_run: skip\n  catch_up_pages: 2")
    )
    p = pipeline_for(load_config(path))
    cycle(p)
    now = datetime.now(UTC)
    for n in range(45):  # a backlog: 45 articles, 10 per feed page
        site.add(story(site, f"Backlog story {n}", published=now - timedelta(seconds=45 - n)))
    report = p.poll(p.config.sources[0])
    # Page 1 and the 2 catch-up pages: 30 of the 45; the ops are told why not more.
    assert (report.status, report.new) == ("200", 30)
    assert "catch_up_pages is 2" in caplog.text
    p.close()


def test_a_backlog_within_catch_up_pages_is_read_whole(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url)
    p = pipeline_for(load_config(path))
    cycle(p)
    now = datetime.now(UTC)
    for n in range(120):
        site.add(story(site, f"Long outage story {n}", published=now - timedelta(seconds=120 - n)))
    assert p.poll(p.config.sources[0]).new == 120
    p.close()


def test_articles_published_while_the_pages_are_read_do_not_hide_older_ones(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    """A burst is being published while we page through the feed: the newest push the older
    ones down, so page 2 repeats page 1. Reading goes on and every article is found."""
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url)
    p = pipeline_for(load_config(path))
    cycle(p)
    now = datetime.now(UTC)
    first = [
        site.add(story(site, f"Early burst story {n}", published=now - timedelta(seconds=60 - n)))
        for n in range(25)
    ]
    fetch = p.fetcher.fetch
    late: list[object] = []

    def fetch_while_publishing(url: str, **kw: object):  # type: ignore[no-untyped-def]
        if "paged=2" in url and not late:  # ten more go out between page 1 and page 2
            late.extend(
                site.add(
                    story(site, f"Late burst story {n}", published=now - timedelta(seconds=30 - n))
                )
                for n in range(10)
            )
        return fetch(url, **kw)

    p.fetcher.fetch = fetch_while_publishing  # type: ignore[method-assign]
    report = p.poll(p.config.sources[0])
    assert report.new >= 25  # all of the first burst, whatever the shift
    recorded = {a.title for a in p.store.recent_articles(100)}
    assert {a.title for a in first} <= recorded
    p.fetcher.fetch = fetch  # type: ignore[method-assign]
    p.poll(p.config.sources[0])
    recorded = {a.title for a in p.store.recent_articles(100)}
    assert {a.title for a in first} | {a.title for a in late} <= recorded  # type: ignore[attr-defined]
    p.close()


def test_a_feed_that_ignores_paged_is_read_three_times_at_most(
    tmp_path: Path, ledger_url: str, site: SampleSite, x: FakeX
) -> None:
    path = write_config(tmp_path / "c.yaml", site=site, x_url=x.url, store=ledger_url)
    p = pipeline_for(load_config(path))
    cycle(p)
    fetch = p.fetcher.fetch
    asked: list[str] = []

    def ignore_paged(url: str, **kw: object):  # type: ignore[no-untyped-def]
        asked.append(url)
        return fetch(url.split("?")[0], **kw)  # a server that serves page 1 for any page

    p.fetcher.fetch = ignore_paged  # type: ignore[method-assign]
    site.add(story(site, "One new story on a feed without pages"))
    assert p.poll(p.config.sources[0]).new == 1
    assert len(asked) == 3  # page 1, then ?paged=2 and 3: the same page twice, so stop
    p.close()
