"""The ledger misbehaves under a running daemon: another process holds the SQLite file locked
(``BEGIN EXCLUSIVE``) longer than the daemon's 30 s busy timeout, or the disk is full. In both,
a post is in flight when it starts (the platform has it, the daemon cannot record it). The
daemon survives, says what is wrong, and once the problem clears every article reaches every
account exactly once, counted on the platforms' side."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.site import SampleSite
from tests.faults.conftest import ACCOUNTS, Platforms, write_all_config
from tests.support import X_ENV, Daemon, ledger_states, story, wait_until

# Longer than the store's busy timeout (30 s) plus the 4 s the in-flight answer takes: the
# daemon's writes fail "locked", recording the in-flight post included.
LOCKED_FOR = 40.0


def _start(tmp_path: Path, site: SampleSite, platforms: Platforms, db: Path) -> Daemon:
    config = write_all_config(
        tmp_path / "syndbot.yaml", site=site, platforms=platforms, store=db, lease="3s"
    )
    return Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()


def _in_flight(site: SampleSite, platforms: Platforms, title: str) -> str:
    """Publish an article whose X post is accepted but answered only 4 s later: the store
    problem starts while the daemon waits for that answer."""
    platforms.x.accept_then_delay(1, seconds=4.0)
    before = len(platforms.x.posts)
    url = site.permalink(site.add(story(site, title)).post_id)
    wait_until(lambda: len(platforms.x.posts) > before, timeout=30, what="X to accept it")
    return url


def _all_delivered(platforms: Platforms, db: Path, urls: list[str], d: Daemon) -> None:
    expected = {(a, u) for a in ACCOUNTS for u in urls}
    wait_until(
        lambda: set(platforms.delivered()) >= expected,
        timeout=90,
        what=lambda: f"every post: {sorted(platforms.delivered())}\n{d.output()[-3000:]}",
    )
    wait_until(
        lambda: ledger_states(db) == Counter({"sent": len(expected)}),
        timeout=30,
        what=lambda: f"every delivery recorded as sent: {ledger_states(db)}",
    )
    time.sleep(2.0)  # a few more rounds: nothing may be posted twice, late
    delivered = platforms.delivered()
    assert set(delivered) == expected
    assert max(delivered.values()) == 1, [k for k, n in delivered.items() if n > 1]
    # The post in flight was sent again after the recovery; X's duplicate answer recorded it.
    assert any(r.status == 403 for r in platforms.x.requests)


@pytest.mark.slow
def test_ledger_locked_by_another_process(
    tmp_path: Path, site: SampleSite, platforms: Platforms
) -> None:
    db = tmp_path / "ledger.db"
    d = _start(tmp_path, site, platforms, db)
    try:
        wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
        urls = [_in_flight(site, platforms, "Posted while the ledger gets locked")]
        with subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
                "time.sleep(float(sys.argv[2])); c.execute('ROLLBACK')\n",
                str(db),
                str(LOCKED_FOR),
            ],
            stdout=subprocess.PIPE,
            text=True,
        ) as locker:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            locked_at = time.monotonic()
            late = story(site, "Published during the lock")
            urls.append(site.permalink(site.add(late).post_id))
            assert locker.wait(timeout=LOCKED_FOR + 10) == 0
        assert d.proc is not None and d.proc.poll() is None, "the daemon died"
        assert "database is locked" in d.output()
        assert "deliver job failed" in d.output()  # recording the post in flight failed
        _all_delivered(platforms, db, urls, d)
        print(
            f"lock held {time.monotonic() - locked_at:.0f} s; X requests {len(platforms.x.requests)}"
        )
    finally:
        d.stop()
    assert d.proc.returncode == 0


@contextlib.contextmanager
def _small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``. Mounting needs root (CI runs as root).

    (A daemon in a user namespace of its own can mount one without root, but SQLite resolves
    the ``/proc/<pid>/root`` path the test would read the ledger through back to this
    namespace's file, so the test could not check the ledger.)"""
    path.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"needs root to mount a small tmpfs: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the disk to the last page; returns the filler to delete."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for block in (1 << 20, 1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * block)
    finally:
        os.close(fd)
    assert shutil.disk_usage(disk).free < 4096
    return filler


@pytest.mark.slow
def test_disk_full_under_the_ledger(tmp_path: Path, site: SampleSite, platforms: Platforms) -> None:
    with _small_disk(tmp_path / "disk") as disk:
        db = disk / "ledger.db"
        d = _start(tmp_path, site, platforms, db)
        try:
            wait_until(lambda: site.hits("/feed/"), timeout=30, what="the first poll")
            urls = [_in_flight(site, platforms, "Posted as the disk fills up")]
            # Empty the write-ahead log, so the very next write needs new space, then fill.
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
                wait_until(
                    lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0,
                    what="a checkpoint",
                )
            filler = _fill(disk)
            urls.append(site.permalink(site.add(story(site, "Published on a full disk")).post_id))
            # The X answer comes; recording it fails: the post stays in flight in the ledger.
            wait_until(
                lambda: "deliver job failed" in d.output(),
                timeout=30,
                what="the daemon to fail recording the post in flight",
            )
            assert "database or disk is full" in d.output()
            time.sleep(2.0)
            assert d.proc is not None and d.proc.poll() is None, "the daemon died"
            full_for = time.monotonic()
            filler.unlink()
            _all_delivered(platforms, db, urls, d)
            print(
                f"disk full; recovered {time.monotonic() - full_for:.1f} s after space came back; "
                f"X requests {len(platforms.x.requests)}"
            )
        finally:
            d.stop()
        assert d.proc.returncode == 0
