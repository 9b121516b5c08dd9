"""No secret ever reaches a log line, an error or ``--json`` output.

Every platform's credentials get a distinctive value; the fakes accept one set of them (the
happy path) and the config of the second run has other distinctive values that the fakes
answer 401 (the error path). Every CLI command an operator runs, and a short daemon run at
debug level, is captured whole and searched for each secret, plain, URL-encoded and base64.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.demo.site import SampleSite
from tests.fakes.fake_bluesky import FakeBluesky
from tests.fakes.fake_graph import FakeGraph
from tests.fakes.fake_linkedin import FakeLinkedIn
from tests.fakes.fake_mastodon import FakeMastodon
from tests.fakes.fake_telegram import FakeTelegram
from tests.fakes.fake_webhook import FakeWebhooks
from tests.fakes.fake_x import FakeX
from tests.support import Daemon, wait_until

WP_USER = "syndbot"


def secrets(tag: str) -> dict[str, str]:
    """Distinctive values; some with characters that URL-encoding and JSON change."""
    return {
        "x_consumer_key": f"XconsumerKEY{tag}q7Lm2",
        "x_consumer_secret": f"XconsumerSECRET{tag}+z/9Qa=",
        "x_access_token": f"1234567890-XaccessTOKEN{tag}w8Rk",
        "x_access_secret": f"XaccessSECRET{tag}Hh4/Uv+Pp",
        "mastodon_token": f"MastodonTOKEN{tag}_Zx81bQ",
        "bluesky_password": f"bsky-{tag.lower()}-pass-word",
        "threads_token": f"THAAthreadsTOKEN{tag}Yk3",
        "facebook_token": f"EAAfacebookTOKEN{tag}Gh7",
        "linkedin_token": f"AQlinkedinTOKEN{tag}Vb2",
        "telegram_token": f"7000000{len(tag)}99:AAtelegramTOKEN{tag}abcdefghij",
        "discord_token": f"discordHOOKtoken{tag}-_Aa09",
        "wp_password": f"wpAP {tag}xx yyyy zzzz",
        "web_secret_key": f"WebSECRETkey{tag}%&+/",
        "feed_password": f"feedPASS{tag}+word",
    }


GOOD = secrets("GOOD")
BAD = secrets("BAD")


@dataclass
class Fakes:
    site: SampleSite
    x: FakeX
    mastodon: FakeMastodon
    bluesky: FakeBluesky
    graph: FakeGraph
    linkedin: FakeLinkedIn
    telegram: FakeTelegram
    hooks: FakeWebhooks


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    g = GOOD
    with ExitStack() as stack:
        yield Fakes(
            site=stack.enter_context(SampleSite.bundled(app_passwords={WP_USER: g["wp_password"]})),
            x=stack.enter_context(
                FakeX(
                    consumer_key=g["x_consumer_key"],
                    consumer_secret=g["x_consumer_secret"],
                    access_token=g["x_access_token"],
                    access_token_secret=g["x_access_secret"],
                )
            ),
            mastodon=stack.enter_context(FakeMastodon(access_token=g["mastodon_token"])),
            bluesky=stack.enter_context(FakeBluesky(password=g["bluesky_password"])),
            graph=stack.enter_context(
                FakeGraph(threads_token=g["threads_token"], page_token=g["facebook_token"])
            ),
            linkedin=stack.enter_context(FakeLinkedIn(access_token=g["linkedin_token"])),
            telegram=stack.enter_context(FakeTelegram(token=g["telegram_token"])),
            hooks=stack.enter_context(FakeWebhooks()),
        )


def write_config(path: Path, f: Fakes, s: dict[str, str], store: Path) -> Path:
    discord = f.hooks.discord_url.rsplit("/", 1)[0] + "/" + s["discord_token"]
    # A private feed: the password in the URL (escaped as URLs need).
    private_feed = f.site.url.replace("://", f"://reader:{quote(s['feed_password'], safe='')}@")
    accounts: list[dict[str, Any]] = [
        {
            "id": "x-main",
            "platform": "x",
            "api_base": f.x.url,
            "credentials": {
                "consumer_key": s["x_consumer_key"],
                "consumer_secret": s["x_consumer_secret"],
                "access_token": s["x_access_token"],
                "access_token_secret": s["x_access_secret"],
            },
            "budget": {"monthly": 100},
        },
        {
            "id": "masto",
            "platform": "mastodon",
            "api_base": f.mastodon.url,
            "credentials": {"access_token": s["mastodon_token"]},
        },
        {
            "id": "bsky",
            "platform": "bluesky",
            "api_base": f.bluesky.url,
            "credentials": {"handle": f.bluesky.handle, "app_password": s["bluesky_password"]},
        },
        {
            "id": "threads",
            "platform": "threads",
            "api_base": f.graph.threads_url,
            "credentials": {"user_id": f.graph.threads_user_id, "access_token": s["threads_token"]},
        },
        {
            "id": "fb",
            "platform": "facebook",
            "api_base": f.graph.facebook_url,
            "credentials": {"page_id": f.graph.page_id, "page_access_token": s["facebook_token"]},
        },
        {
            "id": "li",
            "platform": "linkedin",
            "api_base": f.linkedin.url,
            "credentials": {
                "access_token": s["linkedin_token"],
                "organization_id": f.linkedin.organization_id,
            },
        },
        {
            "id": "tg",
            "platform": "telegram",
            "api_base": f.telegram.url,
            "credentials": {"bot_token": s["telegram_token"]},
            "options": {"chat_id": "@ctninfo"},
        },
        {
            "id": "discord",
            "platform": "webhook",
            "credentials": {"url": discord},
            "options": {"kind": "discord"},
        },
    ]
    data = {
        "store": f"sqlite:///{store}",
        "state_dir": str(path.parent / "state"),
        "deliver_every": "0.2s",
        "retry": {"first": "0.3s", "max_wait": "1s", "give_up_after": "1h"},
        "fetch": {"timeout": "5s"},
        "web": {"secret_key": s["web_secret_key"]},
        "sources": [
            {
                "id": "ctn",
                "feed": f"{private_feed}/feed/",
                "first_run": "latest:1",
                "every": "1s",
            },
            {
                "id": "ctn-rest",
                "type": "wordpress",
                "feed": f"{f.site.url}/wp-json/wp/v2/posts",
                "username": WP_USER,
                "app_password": s["wp_password"],
                "first_run": "latest:1",
                "every": "1s",
            },
        ],
        "accounts": accounts,
        "routes": [{"from": ["ctn", "ctn-rest"], "to": [a["id"] for a in accounts]}],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def forms(value: str) -> set[str]:
    """The ways a secret can show up in text: as is, URL-encoded, base64 (alone or in HTTP
    Basic credentials), JSON-escaped."""
    out = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    out.add(base64.b64encode(value.encode()).decode())
    out.add(base64.b64encode(f"{WP_USER}:{value}".encode()).decode())
    out.add(value.replace("/", "\\/"))
    return {f for f in out if len(f) >= 6}


def leaks(text: str, values: dict[str, str]) -> list[str]:
    return sorted({name for name, v in values.items() for f in forms(v) if f in text})


def invoke(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.output + result.stderr


def run_commands(config: Path) -> str:
    runner = CliRunner()
    c = ["--config", str(config)]
    outputs = [
        invoke(runner, "check-config", *c),
        invoke(runner, "once", *c, "--log-level", "debug"),
        invoke(runner, "once", *c, "--log-level", "debug", "--force"),
        invoke(runner, "queue", *c, "--json"),
        invoke(runner, "history", *c, "--json"),
        invoke(runner, "history", *c),
        invoke(runner, "budget", *c, "--json"),
    ]
    return "\n".join(outputs)


def test_secrets_never_show_on_the_happy_path(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    config = write_config(tmp_path / "syndbot.yaml", fakes, GOOD, tmp_path / "ledger.db")
    out = run_commands(config)
    site_url = fakes.site.url
    runner = CliRunner()
    article = f"{site_url}/?p=37070"
    out += invoke(runner, "preview", article, "--config", str(config), "--json")
    out += invoke(runner, "repost", article, "--to", "x-main", "--dry-run", "--config", str(config))
    assert "sent " in out and fakes.x.posts  # the commands really ran and posted
    # Files syndbot writes itself (sessions, refreshed tokens) may hold secrets; the test
    # collects what logs and output would show, never those state files.
    assert leaks(out, GOOD) == []


def test_secrets_never_show_when_every_platform_refuses_them(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    config = write_config(tmp_path / "syndbot.yaml", fakes, BAD, tmp_path / "ledger.db")
    out = run_commands(config)
    assert "failed" in out  # the platforms said no, and syndbot said so
    assert leaks(out, BAD) == []


def test_a_bad_config_beside_a_secret_does_not_print_it(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    config = write_config(tmp_path / "syndbot.yaml", fakes, BAD, tmp_path / "ledger.db")
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    runner = CliRunner()
    broken: list[dict[str, Any]] = []
    # A misspelt key next to the credentials, in an account and in a source.
    a = dict(data["accounts"][1])
    a["credentails"] = a.pop("credentials")
    broken.append({**data, "accounts": [data["accounts"][0], a]})
    b = dict(data["accounts"][0])
    b["credentials"] = {**b["credentials"], "consumer_key": 12345, "access_token": ["x"]}
    broken.append({**data, "accounts": [b]})
    src = dict(data["sources"][1])
    src["app_pasword"] = src.pop("app_password")
    broken.append({**data, "sources": [data["sources"][0], src]})
    w = {**data, "web": {"secret_key": data["web"]["secret_key"], "secret_kye": "x"}}
    broken.append(w)
    hook = dict(data["accounts"][7])
    hook["credentials"] = {"url": "ftp://" + BAD["discord_token"]}
    broken.append({**data, "accounts": [hook]})
    out = ""
    for n, doc in enumerate(broken):
        path = tmp_path / f"broken-{n}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        for cmd in ("check-config", "once", "queue"):
            text = invoke(runner, cmd, "--config", str(path))
            assert "error" in text.lower() or "problem" in text.lower(), text
            out += text
    assert leaks(out, BAD) == []


@pytest.mark.slow
def test_a_daemon_at_debug_level_logs_no_secret(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    for tag, values in (("good", GOOD), ("bad", BAD)):
        folder = tmp_path / tag
        folder.mkdir()
        config = write_config(folder / "syndbot.yaml", fakes, values, folder / "ledger.db")
        daemon = Daemon(config=config, log=folder / "daemon.log", env={}).start()
        try:
            wait_until(
                # the webhook is the last account: every platform has been tried by then
                lambda log=daemon.log: "to discord failed" in log.read_text(),
                timeout=20,
                what=daemon.output,
            )
            time.sleep(0.5)  # a few more polls, at debug level
        finally:
            daemon.stop()
        results.append((values, daemon.output()))
    for values, text in results:
        assert "DEBUG" in text
        assert ("posted http" in text) == (values is GOOD)  # the good keys work, the bad don't
        assert leaks(text, values) == []
