"""One news site misbehaves while another keeps publishing: the daemon backs the bad source off
with a clear status (its log, and the source's row in the ledger that ``syndbot status`` reads:
last error, failures, backoff until) and goes on posting the good source's articles.

Each bad site: connection refused, HTML instead of a feed, a redirect loop, a 50 MB answer
(``fetch.max_bytes`` cuts it; the daemon's peak memory is measured), a slow-loris answer (the
fetch deadline cuts it), 304 Not Modified to a request without validators.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.demo.site import SampleSite
from bot.errors import StoreError
from bot.store import SourceState, Store
from tests.fakes.fake_x import FakeX
from tests.faults.badsite import BadSite
from tests.support import X_ENV, Daemon, fake_x_credentials, story, wait_until, write_config

EVERY = 0.5  # the bad source's poll interval (and the first backoff step)
FETCH_TIMEOUT = 2.0


@pytest.fixture
def x() -> Iterator[FakeX]:
    with FakeX(**fake_x_credentials()) as fake:
        yield fake


@dataclass
class Run:
    daemon: Daemon
    db: Path

    def state(self, source: str = "bad") -> SourceState:
        store = Store(f"sqlite:///{self.db}")
        try:
            return store.source_state(source)
        except StoreError:  # the daemon has not created the tables yet
            return SourceState(id=source)
        finally:
            store.close()


def _start(tmp_path: Path, site: SampleSite, x: FakeX, bad_feed: str) -> Run:
    db = tmp_path / "ledger.db"
    config = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=db,
        extra_sources=[{"id": "bad", "feed": bad_feed, "every": f"{EVERY}s", "jitter": "0s"}],
        routes=[{"from": ["ctn", "bad"], "to": ["x-main"]}],
        fetch={"timeout": f"{FETCH_TIMEOUT}s", "max_bytes": "5MB"},
    )
    daemon = Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()
    return Run(daemon, db)


def _good_source_keeps_posting(site: SampleSite, x: FakeX, title: str) -> None:
    before = len(x.posts)
    site.add(story(site, title))
    wait_until(lambda: len(x.posts) > before, timeout=30, what=f"{title!r} posted")
    assert title in x.posts[-1]["text"]


def _backed_off(run: Run, error: str) -> SourceState:
    """The bad source's row says what is wrong and when it is tried again."""
    state = wait_until(
        lambda: (s := run.state()).failures >= 2 and s,
        timeout=30,
        what=lambda: f"two failed polls of the bad source: {run.state()}",
    )
    assert state.last_status == "error"
    assert error in (state.last_error or ""), state.last_error
    assert state.backoff_until is not None and state.last_poll_at is not None
    assert state.backoff_until > state.last_poll_at
    assert f"source bad: poll failed ({state.last_error}" in run.daemon.output()
    return state


def _max_polls(elapsed: float) -> int:
    """Polls a backing-off source can make in ``elapsed`` s: the waits double from EVERY
    (less 10% jitter), so n polls need 0.9 * EVERY * (2**(n-1) - 1) s; one more for rounding
    to the scheduler's tick. Polling without backoff would make elapsed / EVERY."""
    return 2 + math.floor(math.log2(elapsed / (0.9 * EVERY) + 1))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("refused", "connection refused"),
        ("html", "returned an HTML page"),
        ("loop", "redirect loop"),
        ("not_modified", "304 Not Modified"),
    ],
)
def test_a_broken_feed_backs_off_and_the_other_source_posts(
    tmp_path: Path, site: SampleSite, x: FakeX, mode: str, error: str
) -> None:
    with BadSite("html" if mode == "refused" else mode) as bad:  # type: ignore[arg-type]
        feed = f"http://127.0.0.1:{_closed_port()}/feed/" if mode == "refused" else bad.feed
        run = _start(tmp_path, site, x, feed)
        started = time.monotonic()
        try:
            wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
            _good_source_keeps_posting(site, x, f"Still posting while {mode}")
            _backed_off(run, error)
            elapsed = time.monotonic() - started
            polls = sum(1 for _, path, _, _ in bad.requests if path == "/feed/")
            if mode != "refused":
                assert 2 <= polls <= _max_polls(elapsed), (polls, elapsed)
            _good_source_keeps_posting(site, x, f"And again while {mode}")
        finally:
            run.daemon.stop()
    assert run.daemon.proc is not None and run.daemon.proc.returncode == 0


def test_bogus_304_is_an_error_and_the_source_is_read_once_it_answers(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    """A 304 to a request that had no validators is not "unchanged": the source is in error,
    and once the server answers properly its articles are read and posted."""
    with SampleSite.bundled() as other:
        other.fail_next("/feed/", 304, n=3)
        run = _start(tmp_path, site, x, f"{other.url}/feed/")
        try:
            state = _backed_off(run, "without validators")
            assert not state.initialized
            wait_until(lambda: run.state().last_status == "200", what="the feed read at last")
            assert run.state().initialized and run.state().last_error is None
            before = len(x.posts)
            other.add(story(other, "From the site that sent 304"))
            wait_until(lambda: len(x.posts) > before, timeout=30, what="its article posted")
            assert "From the site that sent 304" in x.posts[-1]["text"]
        finally:
            run.daemon.stop()


def _memory_kb(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmHWM", "VmRSS"))
    }


def test_a_50mb_answer_is_cut_at_max_bytes_and_memory_stays_flat(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    with BadSite("ok") as bad:
        run = _start(tmp_path, site, x, bad.feed)
        try:
            wait_until(lambda: run.state().last_status == "200", what="the healthy bad source")
            _good_source_keeps_posting(site, x, "Before the huge answer")
            assert run.daemon.proc is not None
            baseline = _memory_kb(run.daemon.proc.pid)
            bad.mode = "huge"
            state = _backed_off(run, "is larger than 5000000 bytes")
            after = _memory_kb(run.daemon.proc.pid)
            _good_source_keeps_posting(site, x, "After the huge answer")
        finally:
            run.daemon.stop()
    grown = (after["VmHWM"] - baseline["VmHWM"]) / 1024
    print(
        f"peak RSS {baseline['VmHWM'] / 1024:.0f} MB before, {after['VmHWM'] / 1024:.0f} MB "
        f"after {state.failures} answers of 50 MB (+{grown:.1f} MB); the server wrote "
        f"{bad.sent / 1e6:.1f} MB in all before the daemon hung up"
    )
    # The cap is 5 MB: reading stops there (a 50 MB body would cost 50 MB and more).
    assert grown < 20, f"peak memory grew by {grown:.1f} MB"
    assert bad.sent < 50_000_000 * state.failures / 2


def test_a_slow_loris_answer_is_cut_by_the_fetch_deadline(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    with BadSite("slowloris", trickle=0.2) as bad:
        run = _start(tmp_path, site, x, bad.feed)
        try:
            wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
            _backed_off(run, "timed out")
            _good_source_keeps_posting(site, x, "Posting past the slow loris")
        finally:
            run.daemon.stop()
    held = [seconds for _, path, _, seconds in bad.requests if path == "/feed/"]
    print(f"slow-loris connections held {', '.join(f'{s:.1f}' for s in held)} s")
    # Each fetch gave up at its overall deadline, although bytes kept coming.
    assert held and all(FETCH_TIMEOUT - 0.5 <= s <= FETCH_TIMEOUT + 1.5 for s in held), held
