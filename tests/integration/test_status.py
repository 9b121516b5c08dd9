"""`syndbot status`: sources, accounts and the queue from the ledger, with and without a daemon."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, Daemon, story, wait_until, write_config


@pytest.fixture
def syndbot(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    monkeypatch.delenv("SYNDBOT_LOG_FORMAT", raising=False)
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX) -> Path:
    return write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        every="2m",
        retry={"first": "1h", "max_wait": "2h", "give_up_after": "1d"},
        account={"budget": {"monthly": 30}},
        extra_sources=[{"id": "broken", "feed": f"{site.url}/no-such-feed/", "every": "1m"}],
        extra_accounts=[
            {
                "id": "x-revoked",
                "platform": "x",
                "api_base": x.url,
                "credentials": {
                    "consumer_key": "revoked-key",
                    "consumer_secret": "revoked-secret",
                    "access_token": "revoked-token",
                    "access_token_secret": "revoked-token-secret",
                },
            }
        ],
        routes=[{"from": ["ctn"], "to": ["x-main", "x-revoked"]}],
    )


def status(runner: CliRunner, config: Path) -> dict[str, Any]:
    result = runner.invoke(cli, ["status", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_status_before_anything_ran(syndbot: CliRunner, config: Path) -> None:
    data = status(syndbot, config)
    assert [s["id"] for s in data["sources"]] == ["ctn", "broken"]
    assert all(s["last_poll"] is None and s["next_poll"] is None for s in data["sources"])
    assert by_id(data["accounts"])["x-main"]["last_post"] is None
    assert data["queue"] == {
        "pending": 0,
        "due": 0,
        "held": 0,
        "retrying": 0,
        "sending": 0,
        "oldest_age_seconds": None,
    }
    text = syndbot.invoke(cli, ["status", "--config", str(config)]).output
    assert "first poll when the daemon starts" in text
    assert "0 pending (0 due now, 0 retrying, 0 being sent), 0 held for an editor" in text


def test_status_shows_polls_posts_failures_and_the_queue(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    once = ["once", "--config", str(config)]
    syndbot.invoke(cli, once)  # first run: the site's articles are known, not posted
    site.add(story(site, "A story that goes out"))
    syndbot.invoke(cli, [*once, "--force"])
    assert len(x.posts) == 1
    x.fail_next(1, status=503)
    site.add(story(site, "A story that meets an outage"))
    syndbot.invoke(cli, [*once, "--force"])

    data = status(syndbot, config)
    now = datetime.fromisoformat(data["at"])
    sources = by_id(data["sources"])
    ctn = sources["ctn"]
    assert ctn["last_result"] == "200" and ctn["last_error"] is None and ctn["failures"] == 0
    last_poll = datetime.fromisoformat(ctn["last_poll"])
    assert datetime.fromisoformat(ctn["next_poll"]) == last_poll + timedelta(minutes=2)
    broken = sources["broken"]
    assert broken["last_result"] == "error"
    assert broken["failures"] == 3
    assert "404" in broken["last_error"]
    assert datetime.fromisoformat(broken["backoff_until"]) > now
    assert broken["next_poll"] == broken["backoff_until"]

    accounts = by_id(data["accounts"])
    main = accounts["x-main"]
    assert main["last_post"] is not None
    assert now - datetime.fromisoformat(main["last_post"]) < timedelta(minutes=5)
    assert (main["failed_24h"], main["failed_total"], main["pending"]) == (0, 0, 1)
    assert main["budget"]["spent"] == pytest.approx(0.20)  # one post with a link
    assert main["budget"]["remaining"] == pytest.approx(29.80)
    revoked = accounts["x-revoked"]
    assert revoked["last_post"] is None
    assert (revoked["failed_24h"], revoked["failed_total"], revoked["pending"]) == (2, 2, 0)
    assert revoked["budget"] is None

    q = data["queue"]
    assert (q["pending"], q["due"], q["retrying"], q["held"], q["sending"]) == (1, 0, 1, 0, 0)
    assert 0 <= q["oldest_age_seconds"] < 300

    text = syndbot.invoke(cli, ["status", "--config", str(config)]).output
    lines = text.splitlines()
    assert lines[0].startswith("syndbot status at ") and "America/Port-au-Prince" in lines[0]
    line = {ln.split()[0]: ln for ln in lines if ln.startswith("  ")}
    assert re.search(r"  200  next in (1[01]\ds|2m)$", line["ctn"]), line["ctn"]
    assert "error (3 in a row): " in line["broken"] and "backing off until" in line["broken"]
    assert "failed 0 in 24h, 0 in all  pending 1" in line["x-main"]
    assert "budget $0.20 of $30.00 spent, $29.80 left" in line["x-main"]
    assert "last post never  failed 2 in 24h, 2 in all" in line["x-revoked"]
    assert "1 pending (0 due now, 1 retrying, 0 being sent), 0 held for an editor" in text
    assert "the oldest has waited" in text
    for secret in X_ENV.values():
        assert secret not in text


def test_status_reads_the_ledger_of_a_running_daemon(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    config = write_config(
        tmp_path / "syndbot.yaml", site=site, x_url=x.url, store=tmp_path / "ledger.db"
    )
    daemon = Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()

    def status_json() -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "bot", "status", "--json", "--config", str(config)],
            cwd=ROOT,
            env={**X_ENV, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(json.loads(out))

    try:
        wait_until(lambda: status_json()["sources"][0]["last_poll"], what="a poll")
        site.add(story(site, "A story the daemon posts"))
        x.wait_for_posts(1, timeout=20)
        data = wait_until(
            lambda: (d := status_json())["accounts"][0]["last_post"] and d, what="the post"
        )
    finally:
        daemon.stop()
    assert data["queue"]["pending"] == 0
    assert data["sources"][0]["last_result"] in ("200", "304")
    assert data["sources"][0]["next_poll"] is not None


def test_status_says_when_polls_are_overdue(syndbot: CliRunner, config: Path) -> None:
    from bot.config import load_config
    from bot.store import Store

    store = Store(load_config(config).store)
    store.migrate()
    store.record_poll("ctn", now=datetime.now(UTC) - timedelta(hours=1), status="304")
    store.close()
    text = syndbot.invoke(cli, ["status", "--config", str(config)]).output
    ctn = next(ln for ln in text.splitlines() if ln.startswith("  ctn "))
    assert "(1h 00m ago)  304  next poll overdue by 58m (is the daemon running?)" in ctn
