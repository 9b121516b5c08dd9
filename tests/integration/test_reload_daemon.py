"""Config hot reload of the real daemon (`syndbot run` in a subprocess): SIGHUP, a file edited
in place, a Kubernetes-style symlink swap, invalid files, and texts not sent yet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.demo.site import SampleSite
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, Daemon, story, wait_until, write_config


def feed_polls(site: SampleSite) -> int:
    return sum(site.hits("/feed/").values())


def wait_for_polls(site: SampleSite, more: int, daemon: Daemon) -> None:
    target = feed_polls(site) + more
    wait_until(
        lambda: feed_polls(site) >= target,
        what=lambda: f"{more} more feed polls; daemon log:\n{daemon.output()[-3000:]}",
    )


def wait_for_log(daemon: Daemon, text: str, *, count: int = 1, timeout: float = 8.0) -> None:
    wait_until(
        lambda: daemon.output().count(text) >= count,
        timeout=timeout,
        what=lambda: f"{text!r} in the log:\n{daemon.output()[-3000:]}",
    )


def edit_config(path: Path, edit: Any) -> None:
    """Rewrite the YAML file in place with ``edit`` applied to its data."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def syndbot(config: Path, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(config)],
        cwd=ROOT,
        env={**X_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def site2() -> Iterator[SampleSite]:
    """A second news site."""
    with SampleSite.bundled() as s:
        yield s


@pytest.fixture
def daemon(tmp_path: Path, site: SampleSite, x: FakeX) -> Iterator[Daemon]:
    config = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        template="{title} {url}",
        routes=[{"to": ["x-main"]}],  # every source
    )
    d = Daemon(config=config, log=tmp_path / "daemon.log", env=X_ENV)
    try:
        yield d
    finally:
        d.stop()


def test_sighup_adds_a_source_and_removing_it_stops_its_polls(
    site: SampleSite, site2: SampleSite, x: FakeX, daemon: Daemon
) -> None:
    daemon.start()
    wait_for_polls(site, 1, daemon)
    second = {"id": "second", "feed": f"{site2.url}/feed/", "every": "0.5s", "jitter": "0s"}
    edit_config(daemon.config, lambda c: c["sources"].append(second))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for_log(daemon, "config reloaded (SIGHUP): sources added second")
    # Its first poll records what the site already has (first_run: skip); a new story posts.
    wait_for_polls(site2, 1, daemon)
    site2.add(story(site2, "Second site reports on the harvest"))
    (post,) = x.wait_for_posts(1, timeout=10)
    assert post["text"].startswith("Second site reports on the harvest http")

    edit_config(daemon.config, lambda c: c["sources"].pop())
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for_log(daemon, "config reloaded (SIGHUP): sources removed second")
    wait_for_polls(site, 2, daemon)  # a poll of it in flight at the reload has ended
    stopped_at = feed_polls(site2)
    wait_for_polls(site, 4, daemon)
    assert feed_polls(site2) == stopped_at
    assert daemon.proc.poll() is None


def test_a_kubernetes_style_symlink_swap_is_picked_up_without_a_signal(
    tmp_path: Path, site: SampleSite, x: FakeX, daemon: Daemon
) -> None:
    # /config/syndbot.yaml -> ..data/syndbot.yaml, ..data -> v1 (how a ConfigMap is mounted)
    mount = tmp_path / "config"
    (mount / "v1").mkdir(parents=True)
    (mount / "v1" / "syndbot.yaml").write_bytes(daemon.config.read_bytes())
    (mount / "..data").symlink_to("v1")
    (mount / "syndbot.yaml").symlink_to("..data/syndbot.yaml")
    daemon.config = mount / "syndbot.yaml"
    daemon.start()
    wait_for_polls(site, 1, daemon)
    (mount / "v2").mkdir()
    new = (mount / "v1" / "syndbot.yaml").read_text(encoding="utf-8")
    (mount / "v2" / "syndbot.yaml").write_text(
        new.replace("template: '{title} {url}'", "template: 'LIVE: {title} {url}'"),
        encoding="utf-8",
    )
    (mount / "..data_tmp").symlink_to("v2")
    swapped = time.monotonic()
    os.replace(mount / "..data_tmp", mount / "..data")  # the atomic swap kubelet does
    wait_for_log(daemon, "config reloaded (file changed): accounts changed x-main (template)")
    assert time.monotonic() - swapped < 5
    site.add(story(site, "Curfew lifted in the capital"))
    (post,) = x.wait_for_posts(1, timeout=10)
    assert post["text"].startswith("LIVE: Curfew lifted in the capital http")


def test_an_invalid_file_is_reported_once_and_the_daemon_goes_on_until_it_is_fixed(
    site: SampleSite, x: FakeX, daemon: Daemon
) -> None:
    daemon.start()
    wait_for_polls(site, 1, daemon)
    good = daemon.config.read_text(encoding="utf-8")
    failed = "config reload (file changed) failed; still running on the previous config"
    # A YAML syntax error, then an unknown key: each said once, with the file and line.
    daemon.config.write_text(good.replace("template: '{title} {url}'", "template: ["), "utf-8")
    wait_for_log(daemon, failed)
    daemon.config.write_text(
        good.replace("template: '{title} {url}'", "template: 'X {title} {url}'\n  tempalte: y"),
        "utf-8",
    )
    wait_for_log(daemon, failed, count=2)
    # Still posting, on the config it had.
    site.add(story(site, "Fuel prices fall for the first time this year"))
    (post,) = x.wait_for_posts(1, timeout=10)
    assert post["text"].startswith("Fuel prices fall for the first time this year http")
    errors = [line for line in daemon.output().splitlines() if failed in line]
    assert len(errors) == 2, errors
    assert f"{daemon.config}:" in errors[0] and "YAML syntax error" in errors[0]
    assert f"{daemon.config}:" in errors[1] and "accounts[0].tempalte: unknown key" in errors[1]
    # Fixed: applied within seconds.
    daemon.config.write_text(
        good.replace("template: '{title} {url}'", "template: 'FIXED {title} {url}'"), "utf-8"
    )
    wait_for_log(daemon, "config reloaded (file changed): accounts changed x-main (template)")
    site.add(story(site, "Schools reopen in Jacmel"))
    posts = x.wait_for_posts(2, timeout=10)
    assert posts[1]["text"].startswith("FIXED Schools reopen in Jacmel http")
    assert len([line for line in daemon.output().splitlines() if failed in line]) == 2
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_a_new_template_reaches_held_posts_but_not_an_editors_text(
    site: SampleSite, x: FakeX, daemon: Daemon
) -> None:
    edit_config(daemon.config, lambda c: c["accounts"][0].update(approval="required"))
    daemon.start()
    wait_for_polls(site, 1, daemon)
    site.add(story(site, "Held until an editor approves"))
    site.add(story(site, "Edited by the night editor"))

    def held() -> list[dict[str, Any]]:
        rows = [json.loads(line) for line in syndbot(daemon.config, "queue", "--json").splitlines()]
        return [r for r in rows if r["state"] == "held"]

    rows = wait_until(lambda: (r := held()) and len(r) == 2 and r, timeout=10, what="2 held posts")
    ids = {str(r["text"]).split(" http")[0]: r["id"] for r in rows}
    edited = ids["Edited by the night editor"]
    syndbot(daemon.config, "edit", str(edited), "--text", "Night desk: read this")

    edit_config(daemon.config, lambda c: c["accounts"][0].update(template="NEW {title} {url}"))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for_log(
        daemon, "config reloaded (SIGHUP): accounts changed x-main (template) | 1 pending post(s)"
    )
    for delivery_id in ids.values():
        syndbot(daemon.config, "approve", str(delivery_id))
    posts = x.wait_for_posts(2, timeout=10)
    texts = sorted(p["text"] for p in posts)
    assert texts[0].startswith("NEW Held until an editor approves http")
    assert texts[1].startswith("Night desk: read this http")


def test_fixing_a_broken_feed_url_polls_it_at_once_despite_the_backoff(
    site: SampleSite, daemon: Daemon
) -> None:
    def broken(c: dict[str, Any]) -> None:
        c["sources"][0].update(feed=f"{site.url}/no-such-feed/", every="30s")

    edit_config(daemon.config, broken)
    daemon.start()
    wait_for_log(daemon, "source ctn: poll failed")  # 404: backing off for 30 s
    edit_config(daemon.config, lambda c: c["sources"][0].update(feed=f"{site.url}/feed/"))
    wait_for_log(daemon, "config reloaded (file changed): sources changed ctn (feed)")
    wait_until(lambda: site.hits("/feed/").get(200, 0) >= 1, timeout=3, what="a poll of /feed/")
