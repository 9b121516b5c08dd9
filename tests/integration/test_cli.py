"""The `syndbot` commands, run in-process against a fake WordPress site and a fake X API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, story, write_config

RUTO = 37070


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX) -> Path:
    return write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        first_run="latest:2",
        extra_accounts=[
            {"id": "dry-run", "platform": "console", "template": "{title}\n{summary}\n{url}"}
        ],
    )


@pytest.fixture
def syndbot(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    return CliRunner()


outputs: list[str] = []


def run(
    runner: CliRunner, *args: str, config: Path | None = None, input: str | None = None
) -> Result:
    argv = [*args, *(["--config", str(config)] if config else [])]
    result = runner.invoke(cli, argv, input=input, catch_exceptions=False)
    outputs.append(result.output)
    return result


def test_every_command_has_help_and_is_in_the_readme(syndbot: CliRunner) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        result = run(syndbot, name, "--help")
        assert result.exit_code == 0
        assert command.help
        first_line = " ".join(command.help.split("\n")[0].split())
        assert first_line in " ".join(result.output.split())
        assert f"syndbot {name}" in readme, f"`syndbot {name}` is not documented in the README"


def test_check_config_accepts_a_good_file(syndbot: CliRunner, config: Path) -> None:
    result = run(syndbot, "check-config", config=config)
    assert result.exit_code == 0, result.output
    assert "x-main (x): credentials present" in result.output
    assert "warning: account dry-run is reached by no route" in result.output


def test_the_shipped_example_config_is_valid(
    syndbot: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for lang in ("EN", "FR"):
        for key in ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_SECRET"):
            monkeypatch.setenv(f"X_{lang}_{key}", f"value-of-{lang}-{key}")
    result = run(syndbot, "check-config", config=ROOT / "config" / "syndbot.yaml")
    assert result.exit_code == 0, result.output
    assert "value-of-" not in result.output


def test_check_config_names_file_line_and_key_and_exits_2(syndbot: CliRunner, config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace("first_run: latest:2", "first_run: newest")
    config.write_text(text, encoding="utf-8")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "first_run" in ln)
    result = run(syndbot, "check-config", config=config)
    assert result.exit_code == 2
    assert f"{config}:{line}: sources[0].first_run" in result.output


def test_a_missing_variable_is_named(
    syndbot: CliRunner, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("X_ACCESS_SECRET")
    result = run(syndbot, "check-config", config=config)
    assert result.exit_code == 2
    assert "environment variable X_ACCESS_SECRET is not set" in result.output


def test_once_posts_the_latest_then_nothing(
    syndbot: CliRunner, config: Path, x: FakeX, site: SampleSite
) -> None:
    result = run(syndbot, "once", config=config)
    assert result.exit_code == 0, result.output
    assert "sent 2," in result.output
    assert len(x.posts) == 2
    assert run(syndbot, "once", config=config).exit_code == 0
    assert len(x.posts) == 2
    site.add(story(site, "A third story arrives"))
    assert "sent 1," in run(syndbot, "once", config=config).output
    assert len(x.posts) == 3


def test_preview_json_shows_article_and_fitted_posts(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    url = site.permalink(RUTO)
    result = run(
        syndbot, "preview", url, "--to", "x-main", "--to", "dry-run", "--json", config=config
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (
        data["article"]["title"]
        == "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"
    )
    assert data["article"]["language"] == "en"
    assert data["routed_to"] == ["x-main"]
    x_post = data["posts"][0]
    assert x_post["account"] == "x-main"
    assert x_post["text"].endswith(url)
    assert x_post["length"] <= x_post["limit"] == 280
    assert data["posts"][1]["text"].startswith("William Ruto")
    assert x.posts == []  # a preview posts nothing


def test_preview_refuses_urls_outside_the_configured_sites(
    syndbot: CliRunner, config: Path
) -> None:
    result = run(syndbot, "preview", "http://169.254.169.254/latest/meta-data/", config=config)
    assert result.exit_code == 1
    assert "not on a configured site" in result.output


def test_repost_posts_now_and_is_never_blocked_by_the_automatic_post(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    run(syndbot, "once", config=config)  # the automatic posts of the 2 newest
    newest = site.articles()[0]
    url = site.permalink(newest.post_id)
    result = run(
        syndbot,
        "repost",
        url,
        "--to",
        "x-main",
        "--text",
        "Still developing: CARICOM free movement",
        "--yes",
        config=config,
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"posted to x-main: https://x.com/i/web/status/\d+", result.output)
    assert x.posts[-1]["text"] == f"Still developing: CARICOM free movement {url}"
    assert len(x.posts) == 3


def test_reposting_the_same_text_fails_with_a_clear_message(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    url = site.permalink(RUTO)
    assert run(syndbot, "repost", url, "--to", "x-main", "--yes", config=config).exit_code == 0
    again = run(syndbot, "repost", url, "--to", "x-main", "--yes", config=config)
    assert again.exit_code == 1
    assert "already has a post with exactly this text" in again.output
    assert len(x.posts) == 1


def test_repost_dry_run_and_unconfirmed_queue_nothing(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    url = site.permalink(RUTO)
    dry = run(syndbot, "repost", url, "--to", "x-main", "--dry-run", config=config)
    assert dry.exit_code == 0
    assert "dry run: nothing queued" in dry.output
    unconfirmed = run(syndbot, "repost", url, "--to", "x-main", config=config)
    assert unconfirmed.exit_code == 1
    assert "--yes" in unconfirmed.output
    assert x.posts == []
    assert "the queue is empty" in run(syndbot, "queue", config=config).output


def test_repost_rejects_unknown_accounts(
    syndbot: CliRunner, config: Path, site: SampleSite
) -> None:
    result = run(syndbot, "repost", site.permalink(RUTO), "--to", "x-mian", "--yes", config=config)
    assert result.exit_code == 1
    assert "unknown account 'x-mian'" in result.output


def test_scheduled_repost_waits_in_the_queue_and_can_be_cancelled(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    url = site.permalink(RUTO)
    result = run(
        syndbot, "repost", url, "--to", "x-main", "--at", "2099-01-01T08:00", "--yes", config=config
    )
    assert result.exit_code == 0, result.output
    delivery = int(re.search(r"queued delivery #(\d+)", result.output).group(1))  # type: ignore[union-attr]
    queue = run(syndbot, "queue", "--json", config=config)
    rows = [json.loads(line) for line in queue.output.splitlines()]
    assert [(r["id"], r["state"], r["purpose"]) for r in rows] == [(delivery, "queued", "repost:1")]
    assert rows[0]["not_before"] == "2099-01-01T13:00:00+00:00"  # 08:00 in Port-au-Prince
    assert run(syndbot, "cancel", str(delivery), config=config).exit_code == 0
    assert run(syndbot, "cancel", str(delivery), config=config).exit_code == 1
    hist = [
        json.loads(line)
        for line in run(syndbot, "history", "--json", config=config).output.splitlines()
    ]
    assert hist[0]["state"] == "cancelled"
    assert x.posts == []


def test_failed_post_can_be_retried(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    x.fail_next(
        1,
        status=403,
        body={
            "title": "Forbidden",
            "detail": "Your client app is not configured",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "status": 403,
        },
    )
    first = run(syndbot, "repost", site.permalink(RUTO), "--to", "x-main", "--yes", config=config)
    assert first.exit_code == 1
    assert "Your client app is not configured" in first.output
    failed = json.loads(run(syndbot, "history", "--json", config=config).output.splitlines()[0])
    assert failed["state"] == "failed"
    assert run(syndbot, "retry", str(failed["id"]), config=config).exit_code == 0
    assert run(syndbot, "once", config=config).exit_code == 0
    assert len(x.posts) == 3  # the retried repost and the two first-run posts


def test_history_lists_what_was_posted(syndbot: CliRunner, config: Path, x: FakeX) -> None:
    run(syndbot, "once", config=config)
    table = run(syndbot, "history", config=config).output
    assert table.count(" sent ") == 2
    assert all(f"https://x.com/i/web/status/{p['id']}" in table for p in x.posts)


def test_no_command_output_contains_a_secret() -> None:
    # Runs last in this module (pytest keeps file order): every output captured above.
    assert outputs
    for out in outputs:
        for secret in X_ENV.values():
            assert secret not in out


def test_python_dash_m_bot_and_the_demo_run_offline() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "posts published: 6, failed: 0" in result.stdout
    assert "── x-francais · as x" in result.stdout
    assert "── x-kreyol · as x" in result.stdout
    assert "Breaking: Haiti's Transitional Council Names New Security Chief" in result.stdout


def test_the_commented_platform_examples_are_valid_once_uncommented(
    syndbot: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text = (ROOT / "config" / "syndbot.yaml").read_text(encoding="utf-8")
    start, end = text.index("  # More platforms"), text.index("  - id: dry-run")
    block = re.sub(r"^  # (-|  )", r"  \1", text[start:end], flags=re.M)
    path = tmp_path / "syndbot.yaml"
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")
    names = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    for name in names:
        monkeypatch.setenv(name, f"value-{name.lower()}")
    # These two are checked for their shape, as check-config should.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/abcdef")
    result = run(syndbot, "check-config", config=path)
    assert result.exit_code == 0, result.output
    for platform in ("mastodon", "bluesky", "telegram", "webhook"):
        assert f"({platform}): credentials present" in result.output
