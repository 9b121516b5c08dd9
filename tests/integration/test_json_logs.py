"""`--log-format json` (and $SYNDBOT_LOG_FORMAT) on a real run: every line is a JSON object,
and lines about a source, an article or an account say which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, story, write_config


def once(config: Path, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "once",
            "--config",
            str(config),
            "--log-level",
            "debug",
            *args,
        ],
        cwd=ROOT,
        env={**X_ENV, "PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    for secret in X_ENV.values():
        assert secret not in done.stderr and secret not in done.stdout
    return [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON


def test_json_log_lines_name_the_source_article_and_account(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    config = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        first_run="latest:1",
    )
    lines = once(config, "--log-format", "json")
    assert len(x.posts) == 1
    assert {"time", "level", "logger", "message"} <= set(lines[0])

    polled = [ln for ln in lines if "new article(s)" in ln["message"]]
    assert polled and polled[0]["source"] == "ctn" and "account" not in polled[0]

    queued = next(ln for ln in lines if "queued for x-main" in ln["message"])
    assert queued["source"] == "ctn"
    article = queued["article"]
    assert article.isdigit()  # the article's id in the ledger

    posted = next(ln for ln in lines if ln["message"].startswith("posted "))
    assert (posted["article"], posted["account"]) == (article, "x-main")
    assert posted["delivery"].isdigit()

    # The environment variable does the same.
    site.add(story(site, "A second story, logged as JSON too"))
    again = once(config, env={"SYNDBOT_LOG_FORMAT": "json"})
    assert any(
        ln["message"].startswith("posted ") and ln.get("account") == "x-main" for ln in again
    )
    assert len(x.posts) == 2
