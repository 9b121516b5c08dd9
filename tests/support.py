"""Helpers for end-to-end tests: a config writer, the daemon as a subprocess, waiting for outcomes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.demo.articles import SampleArticle
from bot.demo.site import SampleSite
from bot.store import Store

ROOT = Path(__file__).resolve().parent.parent

X_ENV = {
    "X_API_KEY": "test-consumer-key-0123",
    "X_API_SECRET": "test-consumer-secret-4567-SECRET",
    "X_ACCESS_TOKEN": "test-access-token-89ab",
    "X_ACCESS_SECRET": "test-access-secret-cdef-SECRET",
}


def fake_x_credentials() -> dict[str, str]:
    """Keyword arguments for FakeX matching X_ENV."""
    return {
        "consumer_key": X_ENV["X_API_KEY"],
        "consumer_secret": X_ENV["X_API_SECRET"],
        "access_token": X_ENV["X_ACCESS_TOKEN"],
        "access_token_secret": X_ENV["X_ACCESS_SECRET"],
    }


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str | Callable[[], str] = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``.
    ``what`` (or what it returns, computed at failure) explains the wait."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what() if callable(what) else what}"
            )
        time.sleep(interval)


def write_config(
    path: Path,
    *,
    site: SampleSite,
    x_url: str,
    store: Path | str,
    first_run: str = "skip",
    every: str = "0.5s",
    template: str = "{title} {hashtags} {url}",
    extra_accounts: list[dict[str, Any]] | None = None,
    extra_sources: list[dict[str, Any]] | None = None,
    account: dict[str, Any] | None = None,
    routes: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Path:
    """A config polling ``site`` and posting to a fake X at ``x_url``; ``store`` is a SQLite
    file or a ledger URL."""
    data: dict[str, Any] = {
        "store": store if isinstance(store, str) else f"sqlite:///{store}",
        "timezone": "America/Port-au-Prince",
        "deliver_every": "0.2s",
        "lease": "3s",
        "retry": {"first": "0.3s", "max_wait": "1s", "give_up_after": "1h"},
        "fetch": {"timeout": "5s"},
        "sources": [
            {
                "id": "ctn",
                "feed": f"{site.url}/feed/",
                "every": every,
                "jitter": "0s",
                "first_run": first_run,
            },
            *(extra_sources or []),
        ],
        "accounts": [
            {
                "id": "x-main",
                "platform": "x",
                "api_base": x_url,
                "credentials": {
                    "consumer_key": "${X_API_KEY}",
                    "consumer_secret": "${X_API_SECRET}",
                    "access_token": "${X_ACCESS_TOKEN}",
                    "access_token_secret": "${X_ACCESS_SECRET}",
                },
                "template": template,
                "hashtags": {"max": 2, "map": {"English": None}},
                **(account or {}),
            },
            *(extra_accounts or []),
        ],
        "routes": routes or [{"from": ["ctn"], "to": ["x-main"]}],
    }
    data.update(top)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def post_urls(texts: Iterable[str]) -> Counter[str]:
    """How often each article URL (the last link of a post's text) was posted."""
    return Counter(re.findall(r"https?://\S+", text)[-1] for text in texts)


def ledger_states(db: Path) -> Counter[str]:
    """Deliveries by state, read straight from a SQLite ledger."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return Counter(state for (state,) in conn.execute("SELECT state FROM deliveries"))


def story(
    site: SampleSite, title: str, *, categories: tuple[str, ...] = ("English", "Haiti"), **kw: Any
) -> SampleArticle:
    """A new article for ``site``, published now."""
    return SampleArticle(
        post_id=kw.pop("post_id", site.next_post_id()),
        title=title,
        paragraphs=kw.pop(
            "paragraphs",
            (
                f"{title}: the first paragraph of the story, with enough words to be a real lead.",
                "A second paragraph follows with more detail about what happened and why.",
            ),
        ),
        published=kw.pop("published", datetime.now(UTC)),
        categories=categories,
        **kw,
    )


@dataclass
class Daemon:
    """``syndbot run`` as a child process, logging to a file."""

    config: Path
    log: Path
    env: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "run",
                    "--config",
                    str(self.config),
                    "--log-level",
                    "debug",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        return self.kill(signal.SIGTERM)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


_open_stores: list[Store] = []


def open_store(url: str) -> Store:
    """A migrated ledger at ``url``, closed after the test (tests/conftest.py)."""
    store = Store(url)
    _open_stores.append(store)
    store.migrate()
    return store


def close_open_stores() -> None:
    while _open_stores:
        _open_stores.pop().close()
