"""``syndbot demo``: the real pipeline, end to end, against the bundled sample site. Offline.

Starts the sample WordPress site on 127.0.0.1, runs one cycle (poll, scrape, compose, queue,
publish through the console publisher), then starts the real daemon, publishes one more story
on the site, and shows the daemon posting it. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import click

from bot.config import parse_config
from bot.demo.articles import SampleArticle
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.scheduler import Daemon
from bot.store import Store

DEMO_HOST = "ctn-sample.news"  # mapped to 127.0.0.1 by fetch.resolve in demo.yaml

NEW_STORY = SampleArticle(
    post_id=37100,
    title="Breaking: Haiti's Transitional Council Names New Security Chief",
    paragraphs=(
        "Haiti's Transitional Presidential Council on Saturday named a new head of the national "
        "security council, tasked with coordinating the police and the incoming multinational force.",
        "The appointment comes as the mandate of the Kenya-led mission nears its end and as gangs "
        "still control most of Port-au-Prince.",
    ),
    published=datetime(2026, 1, 1, tzinfo=UTC),  # replaced by "now" when published
    categories=("English", "Haiti"),
    tags=("Security", "Transitional Council"),
    author="CTN Newsroom",
    language="en-US",
)


def demo_config_text() -> str:
    return resources.files("bot.demo").joinpath("demo.yaml").read_text(encoding="utf-8")


def _step(text: str) -> None:
    click.echo("")
    click.echo(click.style(text, bold=True))
    click.echo("")


def run_demo(*, store_path: str | None = None, follow: bool = True) -> int:
    """Run the demo; returns the exit code (0 when every post was published)."""
    with (
        tempfile.TemporaryDirectory(prefix="syndbot-demo-") as tmp,
        SampleSite.bundled(public_host=DEMO_HOST) as site,
    ):
        store_file = Path(store_path) if store_path else Path(tmp) / "syndbot-demo.db"
        env = {
            **os.environ,
            "SYNDBOT_DEMO_SITE": site.url,
            "SYNDBOT_DEMO_STORE": f"sqlite:///{store_file}",
        }
        config = parse_config(demo_config_text(), env, path="bot/demo/demo.yaml")
        store = Store(config.store)
        store.migrate()
        pipeline = Pipeline(config, store, owner="demo")
        articles = site.articles()
        click.echo(
            click.style(
                "syndbot demo: the real pipeline against a sample news site, offline", bold=True
            )
        )
        click.echo(
            f"sample site: {site.url}/ (served on 127.0.0.1; {len(articles)} articles in English, "
            "French and Haitian Creole)"
        )
        click.echo(
            "accounts:    x-english, x-francais, x-kreyol (console: printed, counted as X counts)"
        )
        click.echo(f"ledger:      {store_file}")

        _step(
            "1. First poll: every article is scraped, routed by language, fitted to X and published"
        )
        source = config.sources[0]
        pipeline.poll(source)
        pipeline.process_new()
        first = pipeline.deliver_due()

        if follow:
            _step("2. The daemon is running. The newsroom publishes a breaking story...")
            daemon = Daemon(pipeline)
            thread = threading.Thread(
                target=daemon.run, kwargs={"install_signals": False}, daemon=True
            )
            thread.start()
            time.sleep(0.5)
            story = site.add(_now(NEW_STORY))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not _posted(store, site.permalink(story.post_id)):
                time.sleep(0.1)
            daemon.stop()
            thread.join(timeout=30)
        else:
            pipeline.close()

        counts = store.count_deliveries()
        sent = sum(n for (_, state), n in counts.items() if state == DeliveryState.SENT)
        failed = sum(n for (_, state), n in counts.items() if state == DeliveryState.FAILED)
        hits = site.hits("/feed/")
        _step("3. The ledger")
        click.echo(f"posts published: {sent}, failed: {failed} (first cycle: {first.sent})")
        meaning = {
            304: "304: unchanged feed, nothing parsed",
            404: "404: no older feed page to catch up on",
        }
        notes = "; ".join(meaning[s] for s in sorted(hits) if s in meaning)
        click.echo(
            "feed requests:   "
            + ", ".join(f"{n} × {status}" for status, n in sorted(hits.items()))
            + (f"  ({notes})" if notes else "")
        )
        click.echo("run it again: every article is recorded, so nothing would be posted twice.")
        click.echo("")
        click.echo(
            "Next: copy config/syndbot.yaml, add your feed and X keys, `syndbot check-config`, `syndbot run`."
        )
        store.close()
        expected = len(articles) + (1 if follow else 0)
        return 0 if sent == expected and failed == 0 else 1


def _now(article: SampleArticle) -> SampleArticle:
    from dataclasses import replace

    return replace(article, published=datetime.now(UTC))


def _posted(store: Store, url: str) -> bool:
    return any(
        d.state == DeliveryState.SENT and url in d.url for d in store.list_deliveries(limit=20)
    )
