"""One run of the daemon, English, French and Haitian Creole articles, every platform.

The bundled sample site has three English articles, one French and one in Kreyòl. Routes send
each language to its own accounts on X, Mastodon, Bluesky, Threads, Facebook, LinkedIn and
Telegram, and every article to a Discord channel. Each fake platform must receive exactly the
right articles, in text that fits that platform's own rule, with the link intact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.demo.site import SampleSite
from bot.textlen import length
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.fake_graph import FakeGraph
from tests.fakes.fake_linkedin import FakeLinkedIn
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_telegram import CHANNEL_USERNAME, FakeTelegram
from tests.fakes.fake_webhook import FakeWebhooks
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, Daemon, fake_x_credentials, wait_until


class Platforms:
    """Every fake platform, started together."""

    def __init__(self, stack: ExitStack) -> None:
        self.x = stack.enter_context(FakeX(**fake_x_credentials()))
        self.mastodon = stack.enter_context(FakeMastodon())
        self.bluesky = stack.enter_context(FakeBluesky())
        self.graph = stack.enter_context(FakeGraph())
        self.linkedin = stack.enter_context(FakeLinkedIn())
        self.telegram = stack.enter_context(FakeTelegram())
        self.webhooks = stack.enter_context(FakeWebhooks())

    def texts(self) -> dict[str, list[str]]:
        """What each account received, as the text a reader sees."""
        return {
            "x-en": [p["text"] for p in self.x.posts],
            "mastodon-fr": [s["text"] for s in self.mastodon.statuses],
            "bluesky-ht": [p.text for p in self.bluesky.posts],
            "threads-en": [p["text"] for p in self.graph.threads_posts],
            "facebook-fr": [p["message"] for p in self.graph.facebook_posts],
            "linkedin-en": [p["commentary"] for p in self.linkedin.posts],
            "telegram-ht": [
                m.get("text") or m.get("caption") or "" for m in self.telegram.messages
            ],
            "discord-all": [m.body["content"] for m in self.webhooks.messages],
        }

    def raw(self) -> dict[str, list[str]]:
        """Everything each account received, as JSON text (to find links in any field)."""
        return {
            "x-en": [json.dumps(p) for p in self.x.posts],
            "mastodon-fr": [json.dumps(s) for s in self.mastodon.statuses],
            "bluesky-ht": [json.dumps(p.record) for p in self.bluesky.posts],
            "threads-en": [json.dumps(p) for p in self.graph.threads_posts],
            "facebook-fr": [json.dumps(p) for p in self.graph.facebook_posts],
            "linkedin-en": [json.dumps(p) for p in self.linkedin.posts],
            "telegram-ht": [json.dumps(m) for m in self.telegram.messages],
            "discord-all": [json.dumps(m.body) for m in self.webhooks.messages],
        }


@pytest.fixture
def platforms() -> Iterator[Platforms]:
    with ExitStack() as stack:
        yield Platforms(stack)


def account(
    id: str, platform: str, api_base: str, credentials: dict[str, str], **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "platform": platform,
        "api_base": api_base,
        "credentials": credentials,
        **extra,
    }


def test_each_language_reaches_its_accounts_on_every_platform(
    tmp_path: Path, site: SampleSite, platforms: Platforms
) -> None:
    p = platforms
    config = {
        "store": f"sqlite:///{tmp_path / 'ledger.db'}",
        "state_dir": str(tmp_path / "state"),
        "deliver_every": "0.2s",
        "sources": [
            {
                "id": "ctn",
                "feed": f"{site.url}/feed/",
                "every": "1s",
                "jitter": "0s",
                "first_run": "latest:10",
            }
        ],
        "accounts": [
            account("x-en", "x", p.x.url, {k: f"${{{v}}}" for k, v in _x_env_names().items()}),
            account(
                "mastodon-fr",
                "mastodon",
                p.mastodon.url,
                p.mastodon.credentials(),
                template="{title}\n\n{summary}\n\n{hashtags} {url}",
            ),
            account(
                "bluesky-ht",
                "bluesky",
                p.bluesky.url,
                p.bluesky.credentials(),
                template="{title} {url}",
            ),
            account(
                "threads-en",
                "threads",
                p.graph.threads_url,
                p.graph.threads_credentials(),
                template="{title}\n\n{summary} {url}",
            ),
            account(
                "facebook-fr",
                "facebook",
                p.graph.facebook_url,
                p.graph.facebook_credentials(),
                template="{title}\n\n{lead}",
            ),
            account(
                "linkedin-en",
                "linkedin",
                p.linkedin.url,
                p.linkedin.credentials(),
                template="{title}\n\n{summary}\n\n{hashtags}",
            ),
            account(
                "telegram-ht",
                "telegram",
                p.telegram.url,
                {"bot_token": p.telegram.token},
                template="<b>{title}</b>? {url}",
                options={"chat_id": f"@{CHANNEL_USERNAME}"},
            ),
            account(
                "discord-all",
                "webhook",
                p.webhooks.url,
                {"url": p.webhooks.discord_url},
                options={"kind": "discord"},
            ),
        ],
        "routes": [
            {"to": ["x-en", "threads-en", "linkedin-en"], "where": {"language": ["en"]}},
            {"to": ["mastodon-fr", "facebook-fr"], "where": {"language": ["fr"]}},
            {"to": ["bluesky-ht", "telegram-ht"], "where": {"language": ["ht"]}},
            {"to": ["discord-all"]},
        ],
    }
    path = tmp_path / "syndbot.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    daemon = Daemon(config=path, log=tmp_path / "daemon.log", env=X_ENV).start()

    by_language: dict[str, list[str]] = {"en": [], "fr": [], "ht": []}
    for article in site.articles():
        by_language[article.language.split("-")[0]].append(site.permalink(article.post_id))
    assert [len(v) for v in by_language.values()] == [3, 1, 1]
    expected = {
        "x-en": by_language["en"],
        "threads-en": by_language["en"],
        "linkedin-en": by_language["en"],
        "mastodon-fr": by_language["fr"],
        "facebook-fr": by_language["fr"],
        "bluesky-ht": by_language["ht"],
        "telegram-ht": by_language["ht"],
        "discord-all": [u for urls in by_language.values() for u in urls],
    }
    try:
        wait_until(
            lambda: all(len(v) >= len(expected[k]) for k, v in p.raw().items()),
            timeout=60,
            what=lambda: (
                f"every post: { ({k: len(v) for k, v in p.raw().items()}) }\n{daemon.output()[-5000:]}"
            ),
        )
    finally:
        daemon.stop()

    raw = p.raw()
    for name, urls in expected.items():
        assert len(raw[name]) == len(urls), name
        for url in urls:
            assert sum(url in r for r in raw[name]) == 1, f"{name} should have {url} exactly once"

    rules = {
        "x-en": ("x", 280),
        "mastodon-fr": ("mastodon", 500),
        "bluesky-ht": ("bluesky", 300),
        "threads-en": ("threads", 500),
        "facebook-fr": ("codepoints", 63206),
        "linkedin-en": ("utf16", 3000),
        "telegram-ht": ("utf16", 4096),
        "discord-all": ("codepoints", 2000),
    }
    for name, texts in p.texts().items():
        rule, limit = rules[name]
        for text in texts:
            assert 0 < length(text, rule) <= limit, (name, text)
            assert "&amp;" not in text and "&#8217;" not in text, (name, text)

    # Language metadata reaches the platforms that take it.
    assert [s["language"] for s in p.mastodon.statuses] == ["fr"]
    assert [post.langs for post in p.bluesky.posts] == [("ht",)]
    # Bluesky's link card was built by syndbot (the client must build it).
    card = p.bluesky.posts[0].card
    assert card is not None and card["uri"] == by_language["ht"][0]
    # Post text is plain text: Telegram (HTML parse mode) shows the template's "<b>" as typed,
    # so syndbot escaped it rather than letting it turn into markup or an entity error.
    assert p.telegram.messages[0]["text"].startswith("<b>Sezon siklòn")
    assert "</b>? http" in p.telegram.messages[0]["text"]
    for secret in X_ENV.values():
        assert secret not in daemon.output()


def _x_env_names() -> dict[str, str]:
    return {
        "consumer_key": "X_API_KEY",
        "consumer_secret": "X_API_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_SECRET",
    }
