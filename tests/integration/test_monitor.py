"""The real daemon with ``monitor: {enabled: true}``: /healthz, /readyz and /metrics over HTTP,
against the fake WordPress site and the fake X API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, Daemon, story, wait_until, write_config

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""  # not listening (yet)


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    status, text = get(f"{base}/metrics")
    assert status == 200, text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


class Monitored:
    def __init__(self, daemon: Daemon, base: str, state: Path) -> None:
        self.daemon, self.base, self.state = daemon, base, state

    def wait_ready(self) -> dict[str, Any]:
        """/readyz's answer once it is 200, after the first poll (the site's current articles
        are then known, and a story added next is new)."""
        _, body = wait_until(
            lambda: (r := get(f"{self.base}/readyz"))[0] == 200 and r,
            what=lambda: f"/readyz 200; daemon log:\n{self.daemon.output()[-3000:]}",
        )
        wait_until(
            lambda: value(samples(self.base), "syndbot_polls_total", source="ctn", result="200"),
            what="the first poll",
        )
        return dict(json.loads(body))


@pytest.fixture
def monitored(tmp_path: Path, site: SampleSite, x: FakeX) -> Iterator[Monitored]:
    port = free_port()
    state = tmp_path / "state"
    config = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=state / "ledger.db",
        state_dir=str(state),
        monitor={"enabled": True, "port": port},
    )
    daemon = Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV).start()
    try:
        yield Monitored(daemon, f"http://127.0.0.1:{port}", state)
    finally:
        daemon.stop()


def test_metrics_count_polls_posts_and_the_queue(
    site: SampleSite, x: FakeX, monitored: Monitored
) -> None:
    assert monitored.wait_ready() == {"status": "ok", "checks": {"daemon": "ok", "store": "ok"}}
    status, body = get(f"{monitored.base}/healthz")
    assert (status, json.loads(body)) == (
        200,
        {"status": "ok", "checks": {"scheduler": "ok", "store": "ok"}},
    )
    before = time.time()
    site.add(story(site, "Monitoring counts this story"))
    x.wait_for_posts(1, timeout=20)

    def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        m = samples(monitored.base)
        done = value(m, "syndbot_deliveries", account="x-main", state="sent") == 1
        return m if done and value(m, "syndbot_polls_total", source="ctn", result="304") else None

    m = wait_until(settled, what="a sent delivery and a 304 poll in /metrics")
    assert value(m, "syndbot_polls_total", source="ctn", result="200") >= 2
    assert value(m, "syndbot_polls_total", source="ctn", result="error") == 0
    assert value(m, "syndbot_new_articles_total", source="ctn") == 1
    polls = sum(
        v
        for (name, labels), v in m.items()
        if name == "syndbot_polls_total" and ("source", "ctn") in labels
    )
    assert value(m, "syndbot_fetch_duration_seconds_count", source="ctn") == polls
    assert value(m, "syndbot_fetch_duration_seconds_sum", source="ctn") > 0
    assert (
        before <= value(m, "syndbot_last_post_timestamp_seconds", account="x-main") <= time.time()
    )
    assert value(m, "syndbot_queue_depth") == 0
    assert value(m, "syndbot_queue_due") == 0
    assert value(m, "syndbot_queue_oldest_age_seconds") == 0
    assert value(m, "syndbot_store_up") == 1
    assert value(m, "syndbot_source_consecutive_failures", source="ctn") == 0
    assert value(m, "syndbot_retries_total", account="x-main") == 0


def test_a_rate_limit_is_counted_as_a_wait_and_a_retry(
    site: SampleSite, x: FakeX, monitored: Monitored
) -> None:
    monitored.wait_ready()
    x.rate_limit_next(reset_in=1)
    site.add(story(site, "This story meets a rate limit first"))
    x.wait_for_posts(1, timeout=30)
    m = wait_until(
        lambda: (
            (m := samples(monitored.base))
            and value(m, "syndbot_deliveries", account="x-main", state="sent") == 1
            and m
        ),
        what="the delivery sent in /metrics",
    )
    assert value(m, "syndbot_rate_limit_waits_total", account="x-main") == 1
    assert value(m, "syndbot_retries_total", account="x-main") == 1


def test_healthz_fails_when_the_ledger_is_gone(monitored: Monitored, x: FakeX) -> None:
    monitored.wait_ready()
    shutil.rmtree(monitored.state)  # the volume holding the ledger disappears
    status, body = get(f"{monitored.base}/healthz")
    assert status == 503
    answer = json.loads(body)
    assert answer["status"] == "fail"
    assert answer["failed"] == ["store"]
    assert answer["checks"]["scheduler"] == "ok"
    assert "unable to open database file" in answer["checks"]["store"]
    status, body = get(f"{monitored.base}/readyz")
    assert status == 503
    assert json.loads(body)["failed"] == ["store"]
    # The scrape still answers, saying the ledger is down.
    assert value(samples(monitored.base), "syndbot_store_up") == 0


def test_unknown_paths_are_404(monitored: Monitored) -> None:
    monitored.wait_ready()
    status, body = get(f"{monitored.base}/")
    assert status == 404
    assert "healthz" in json.loads(body)["error"]


def test_a_taken_monitor_port_stops_the_daemon_with_a_message(
    tmp_path: Path, site: SampleSite, x: FakeX
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(
            tmp_path / "syndbot.yaml",
            site=site,
            x_url=x.url,
            store=tmp_path / "ledger.db",
            monitor={"enabled": True, "port": port},
        )
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            cwd=ROOT,
            env={**X_ENV, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"monitor: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert site.hits("/feed/") == {}  # it stopped before polling anything
