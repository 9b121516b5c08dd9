"""A backfill: `syndbot repost` with many URLs (arguments or --from-file), progress on stderr,
and failures that do not stop the batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, story, write_config


@pytest.fixture
def syndbot(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SYNDBOT_CONFIG", raising=False)
    monkeypatch.delenv("SYNDBOT_LOG_FORMAT", raising=False)
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX) -> Path:
    return write_config(tmp_path / "syndbot.yaml", site=site, x_url=x.url, store=tmp_path / "l.db")


def repost(runner: CliRunner, config: Path, *args: str, input: str | None = None) -> Result:
    return runner.invoke(
        cli, ["repost", *args, "--config", str(config)], input=input, catch_exceptions=False
    )


def test_a_backfill_from_stdin_goes_on_past_failures_and_lists_them(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    for i in range(7):
        site.add(story(site, f"Archive story number {i + 1} for the backfill"))
    good = [site.permalink(a.post_id) for a in site.articles()]
    assert len(good) == 12
    missing = f"{site.url}/2020/01/01/no-such-article/"
    outside = "https://elsewhere.example/story/"
    lines = [
        "# the archive, oldest first",
        good[0],
        good[1],
        "",
        missing,
        *good[2:7],
        outside,
        good[0],  # a duplicate: reposted once
        *good[7:],
    ]
    x.fail_next(1, status=400)  # X refuses the first post
    result = repost(
        syndbot, config, "--to", "x-main", "--from-file", "-", "--yes", input="\n".join(lines)
    )
    assert result.exit_code == 1
    # Progress on stderr (not a terminal here: a line every 10 URLs and at the end).
    progress = [ln for ln in result.stderr.splitlines() if ln.startswith("repost: ")]
    assert progress == ["repost: 10/14 done, 3 failed", "repost: 14/14 done, 3 failed"]
    # Every URL after the failures was still posted.
    assert sorted(p["text"].rsplit(" ", 1)[1] for p in x.posts) == sorted(good[1:])
    out = result.stdout
    assert f"FAILED {missing}: " in out and "404" in out
    assert f"FAILED {outside}: " in out and "not on a configured site" in out
    assert f"FAILED {good[0]} -> x-main: failed: " in out
    assert out.rstrip().endswith(
        "11 of 14 URLs reposted to x-main: 11 posts sent, 0 queued; 3 URLs failed (listed above)"
    )


def test_several_arguments_are_a_batch_and_all_good_exits_zero(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX
) -> None:
    urls = [site.permalink(a.post_id) for a in site.articles()[:3]]
    result = repost(syndbot, config, *urls, "--to", "x-main", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "repost: 3/3 done, 0 failed"
    assert "3 of 3 URLs reposted to x-main: 3 posts sent, 0 queued; none failed" in result.stdout
    assert len(x.posts) == 3


def test_a_batch_can_be_scheduled_and_previewed(
    syndbot: CliRunner, config: Path, site: SampleSite, x: FakeX, tmp_path: Path
) -> None:
    urls = [site.permalink(a.post_id) for a in site.articles()[:2]]
    listing = tmp_path / "urls.txt"
    listing.write_text("\n".join([*urls, "https://elsewhere.example/a"]) + "\n", encoding="utf-8")
    dry = repost(syndbot, config, "--to", "x-main", "--from-file", str(listing), "--dry-run")
    assert dry.exit_code == 1
    assert "dry run: nothing queued; 2 of 3 URLs previewed" in dry.stdout
    assert "FAILED https://elsewhere.example/a: " in dry.stdout
    assert all(url in dry.stdout for url in urls)
    later = repost(syndbot, config, *urls, "--to", "x-main", "--at", "2099-01-01T08:00", "--yes")
    assert later.exit_code == 0, later.output
    assert "2 of 2 URLs reposted to x-main: 0 posts sent, 2 queued; none failed" in later.stdout
    assert x.posts == []


def test_a_batch_from_stdin_needs_yes(syndbot: CliRunner, config: Path, site: SampleSite) -> None:
    result = repost(
        syndbot, config, "--to", "x-main", "--from-file", "-", input=site.permalink(37070)
    )
    assert result.exit_code == 1
    assert "add --yes" in result.output
    empty = repost(syndbot, config, "--to", "x-main", "--from-file", "-", "--yes", input="# none\n")
    assert empty.exit_code == 2
    assert "give at least one URL" in empty.output


def test_on_a_terminal_the_progress_is_a_bar(config: Path, site: SampleSite, x: FakeX) -> None:
    urls = [site.permalink(a.post_id) for a in site.articles()[:3]]
    argv = [sys.executable, "-m", "bot", "repost", *urls, "--to", "x-main", "--yes"]
    leader, follower = os.openpty()  # stderr is a terminal; stdout is a pipe
    try:
        done = subprocess.run(
            [*argv, "--config", str(config)],
            cwd=ROOT,
            env={**X_ENV, "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert done.returncode == 0, done.stdout
    screen = shown.decode()
    assert "reposting" in screen and "3/3" in screen
    assert "repost: " not in screen  # no line-per-N output on a terminal
    assert "3 of 3 URLs reposted to x-main: 3 posts sent" in done.stdout
    assert len(x.posts) == 3
