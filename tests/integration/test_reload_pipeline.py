"""A config reload on a real Pipeline and ledger (in-process, fake site and fake X): which texts
not sent yet are composed again, and what an invalid file does."""

from __future__ import annotations

import io
import logging
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import RedactingFormatter
from bot.config import load_config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.reload import Reloader, follow
from bot.store import Store
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, story, write_config


@pytest.fixture(autouse=True)
def _x_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)


def rewrite(path: Path, edit: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path, site: SampleSite, x: FakeX) -> Any:
    path = write_config(
        tmp_path / "c.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "l.db",
        template="{title} {url}",
        account={"approval": "required"},
    )
    config = load_config(path)
    store = Store(config.store)
    store.migrate()
    p = Pipeline(config, store, owner="test", rng=random.Random(1))
    yield path, p
    p.close()
    store.close()


def cycle(p: Pipeline) -> None:
    for s in p.config.sources:
        p.poll(s)
    p.process_new()
    p.deliver_due()


def by_title(p: Pipeline) -> dict[str, Any]:
    out = {}
    for d in p.store.list_deliveries(limit=100):
        stored = p.store.get_article(d.article_id)
        assert stored is not None
        out[stored.title] = d
    return out


def test_a_new_template_recomposes_unsent_posts_but_not_edited_or_tried_ones(
    setup: Any, site: SampleSite, x: FakeX
) -> None:
    path, p = setup
    cycle(p)  # first run: the site's articles are recorded, not posted
    held = site.add(story(site, "Held story"))
    for title in ("Edited story", "Tried story"):
        site.add(story(site, title))
    cycle(p)
    d = by_title(p)
    assert {v.state for v in d.values()} == {DeliveryState.HELD}
    assert d["Held story"].text.startswith("Held story http")
    p.edit_text(d["Edited story"].id, "What the editor wrote", actor="cli:ana")
    # One post was approved and tried once: X failed, it waits for its retry.
    p.approve(d["Tried story"].id, actor="cli:ana")
    x.fail_next(1, status=503)
    p.deliver_due()
    tried_text = p.store.get_delivery(d["Tried story"].id).text  # type: ignore[union-attr]

    rewrite(path, lambda c: c["accounts"][0].update(template="NEW {title} {url}"))
    assert Reloader(path, p).reload()

    after = by_title(p)
    assert after["Held story"].text == f"NEW Held story {site.permalink(held.post_id)}"
    assert after["Held story"].state == DeliveryState.HELD
    assert after["Edited story"].text.startswith("What the editor wrote")
    assert after["Tried story"].text == tried_text  # a retry sends the very same text
    assert after["Tried story"].state == DeliveryState.QUEUED
    events = p.store.list_events(delivery_id=after["Held story"].id)
    assert (events[0].actor, events[0].action) == ("system", "recomposed")
    # New articles get the new template too.
    site.add(story(site, "Later story"))
    cycle(p)
    assert by_title(p)["Later story"].text.startswith("NEW Later story http")


def test_an_invalid_file_keeps_the_running_config_and_is_reported_once(
    setup: Any, site: SampleSite, caplog: pytest.LogCaptureFixture
) -> None:
    path, p = setup
    running = p.config
    reloader = Reloader(path, p)
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("every: 0.5s", "every: 0.5s\n  evry: 2m"), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bot"):
        for _ in range(5):
            reloader.tick()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert f"{path}:" in errors[0] and "evry: unknown key" in errors[0]
    assert "still running on the previous config" in errors[0]
    assert p.config is running
    # SIGHUP is a person asking: the same error is said again.
    caplog.clear()
    reloader.request()
    reloader.tick()
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    # Fixed: the next ticks apply it.
    caplog.clear()
    path.write_text(good.replace("every: 0.5s", "every: 1m"), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bot"):
        reloader.tick()
        reloader.tick()
    assert p.config.source("ctn").every == 60
    assert "config reloaded (file changed): sources changed ctn (every)" in caplog.text


def test_restart_only_settings_keep_their_running_values(
    setup: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path, p = setup
    store_url = p.config.store
    rewrite(
        path,
        lambda c: c.update(store="sqlite:///elsewhere.db", web={"port": 8099}, lease="10s"),
    )
    with caplog.at_level(logging.INFO, logger="bot"):
        assert Reloader(path, p).reload()
    assert p.config.store == store_url
    assert p.config.web.port == 8080
    assert p.config.lease == 10
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("config reload: store, web changed in")
    assert "needs a restart" in warnings[0]
    assert "config reloaded (reload): lease changed" in caplog.text


def test_a_changed_account_gets_a_new_publisher_and_the_old_one_is_closed(
    setup: Any, site: SampleSite, x: FakeX
) -> None:
    path, p = setup
    account = p.config.account("x-main")
    old = p._publisher(account)
    rewrite(path, lambda c: c["accounts"][0].update(approval="none"))
    assert Reloader(path, p).reload()
    new = p._publisher(p.config.account("x-main"))
    assert new is not old
    closed: list[bool] = []
    old.close = lambda: closed.append(True)  # type: ignore[method-assign]
    p.close_retired(p.clock())
    assert closed == []  # a send may still use it until the lease is over
    p.close_retired(None)
    assert closed == [True]


def test_the_web_uis_pipeline_follows_the_daemons_reloads(setup: Any) -> None:
    path, p = setup
    config = load_config(path)
    web_store = Store(config.store)
    web = Pipeline(config, web_store, owner="test:web")
    unfollow = follow(web)
    try:
        rewrite(path, lambda c: c["accounts"][0].update(template="DESK {title} {url}"))
        assert Reloader(path, p).reload()
        assert web.config.account("x-main").template == "DESK {title} {url}"
    finally:
        unfollow()
    rewrite(path, lambda c: c["accounts"][0].update(template="LATER {title} {url}"))
    assert Reloader(path, p).reload()
    assert web.config.account("x-main").template == "DESK {title} {url}"  # no longer following
    web.close()
    web_store.close()


def test_credentials_new_in_a_reload_are_blanked_in_the_log(setup: Any) -> None:
    path, p = setup
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s", sorted(p.config.secret_values())))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        rewrite(
            path,
            lambda c: c["accounts"][0]["credentials"].update(access_token="rotated-token-5678"),
        )
        assert Reloader(path, p).reload()
        logging.getLogger("bot.test").warning("token is rotated-token-5678")
    finally:
        root.removeHandler(handler)
    assert stream.getvalue() == "token is ***\n"
