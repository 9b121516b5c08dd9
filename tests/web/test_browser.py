"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright), served
by waitress on 127.0.0.1 against the sample WordPress site and the fake X API.

Chromium is never downloaded: Playwright drives the system's ``/usr/bin/chromium`` (or
``$SYNDBOT_CHROMIUM``); without it these tests fail and say how to install it (``.ci/run``
does). ``SYNDBOT_UPDATE_SCREENSHOTS=1`` also writes the README's screenshots to
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import Config, load_config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.textlen import length
from bot.web.app import create_app
from bot.web.server import WebServer
from bot.web.users import Users
from tests.fakes.fake_x import FakeX
from tests.support import ROOT, X_ENV, story, write_config
from tests.web.conftest import PASSWORD, RUTO
from tests.web.test_app import article_id, queue_one

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("SYNDBOT_CHROMIUM", "/usr/bin/chromium")
PUBLIC_HOST = "ctn-sample.news"  # the sample site's name in links; 127.0.0.1 for everyone
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it. Install it with "
            "`apt-get install -y --no-install-recommends chromium` (.ci/run does), or point "
            "$SYNDBOT_CHROMIUM at a Chromium binary.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def site() -> Iterator[SampleSite]:
    with SampleSite.bundled(public_host=PUBLIC_HOST) as s:
        yield s


@pytest.fixture
def config(tmp_path: Path, site: SampleSite, x: FakeX, monkeypatch: pytest.MonkeyPatch) -> Config:
    for k, v in X_ENV.items():
        monkeypatch.setenv(k, v)
    path = write_config(
        tmp_path / "syndbot.yaml",
        site=site,
        x_url=x.url,
        store=tmp_path / "ledger.db",
        state_dir=str(tmp_path / "state"),
        fetch={"timeout": "5s", "resolve": {PUBLIC_HOST: "127.0.0.1"}},
        extra_accounts=[
            {
                "id": "bluesky-dry-run",
                "platform": "console",
                "template": "{title}\n\n{summary} {url}",
                "options": {"like": "bluesky"},
            }
        ],
    )
    return load_config(path)


@pytest.fixture
def server(pipeline: Pipeline, users: Users) -> Iterator[WebServer]:
    with WebServer(create_app(pipeline), "127.0.0.1", 0) as s:
        yield s


@pytest.fixture
def page(browser: Browser, server: WebServer) -> Iterator[Page]:
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1100, "height": 900}, device_scale_factor=1
    )
    context.set_default_timeout(15_000)
    p = context.new_page()
    p.on("dialog", lambda dialog: dialog.accept())  # "Cancel this post?" → yes
    yield p
    context.close()


def sign_in(page: Page, name: str = "maria", password: str = PASSWORD) -> None:
    page.goto("/")
    assert page.url.endswith("/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_sign_in_wrong_then_right(page: Page) -> None:
    page.goto("/log")
    assert "/login?next=/log" in page.url
    page.get_by_label("Name").fill("maria")
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong name or password."
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/log")
    assert page.get_by_role("heading", name="Log").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def test_edit_the_text_see_the_count_and_post_now(
    page: Page, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    sign_in(page)
    page.get_by_role("link", name="William Ruto Announces the End").first.click()
    page.wait_for_url("**/articles/*")
    area = page.locator("textarea[name='text:x-main']")
    counter = page.locator("#" + str(area.get_attribute("data-counter")))
    url = site.permalink(RUTO)
    before = counter.locator(".n").inner_text()
    assert int(before) == length(area.input_value(), "x")
    typed = "Ruto: Kenya's police mission in Haiti ends 🇰🇪🇭🇹"
    area.fill(typed)
    expected = length(f"{typed} {url}", "x")  # the link is added, and counts 23
    assert expected == len("Ruto: Kenya's police mission in Haiti ends ") + 2 * 2 + 1 + 23
    counter.locator(".n").filter(has_text=str(expected)).wait_for()
    assert counter.locator(".note").inner_text() == "(with the link added)"
    area.fill("x" * 300)
    page.locator(".counter.over").first.wait_for()
    area.fill(typed)
    counter.locator(".n").filter(has_text=str(expected)).wait_for()
    page.get_by_role("button", name="Post now or at that time").click()
    page.locator(".flash.ok").wait_for()
    assert page.locator(".flash.ok").inner_text().startswith("Posted to x-main.")
    assert [p["text"] for p in x.posts] == [f"{typed} {url}"]
    sent = page.locator(".chip.sent").first
    assert sent.get_attribute("href") == f"https://x.com/i/web/status/{x.posts[0]['id']}"


def test_approve_a_held_post(page: Page, pipeline: Pipeline, site: SampleSite, x: FakeX) -> None:
    held = queue_one(pipeline, site, state=DeliveryState.HELD, text="Held after a crash")
    sign_in(page)
    assert page.get_by_role("heading", name="Needs you").is_visible()
    page.get_by_role("button", name="Approve and post").click()
    page.locator(".flash.ok").wait_for()
    assert [p["text"] for p in x.posts] == [f"Held after a crash {site.permalink(RUTO)}"]
    assert pipeline.store.get_delivery(held).state is DeliveryState.SENT  # type: ignore[union-attr]


def test_cancel_a_queued_post_and_it_is_never_posted(
    page: Page, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    queued = queue_one(pipeline, site, text="Not to be posted")
    sign_in(page)
    page.goto(f"/articles/{article_id(pipeline, site)}")
    page.get_by_role("button", name="Cancel").click()  # confirmed by the dialog handler
    page.locator(".flash.ok").wait_for()
    assert "will not be posted" in page.locator(".flash.ok").inner_text()
    assert pipeline.store.get_delivery(queued).state is DeliveryState.CANCELLED  # type: ignore[union-attr]
    later = datetime.now(UTC) + timedelta(hours=2)
    pipeline.clock = lambda: later
    pipeline.deliver_due()
    assert x.posts == []


def test_a_foreign_url_is_refused(page: Page, x: FakeX) -> None:
    sign_in(page)
    page.get_by_role("link", name="Repost").click()
    page.get_by_label("Article address").fill("https://example.com/2026/11/29/a-story/")
    page.get_by_role("button", name="Preview").click()
    alert = page.get_by_role("alert")
    assert (
        "https://example.com/2026/11/29/a-story/ is not on a configured site" in alert.inner_text()
    )
    assert "Only articles of the newsroom's own sites can be posted." in alert.inner_text()
    assert page.locator("textarea").count() == 0
    assert x.posts == []


def test_a_form_without_the_csrf_token_is_rejected(
    page: Page, pipeline: Pipeline, site: SampleSite
) -> None:
    queued = queue_one(pipeline, site)
    sign_in(page)
    # What a hostile page would do: a form posting to syndbot, without the session's token.
    page.evaluate(
        """(action) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = action;
            document.body.appendChild(form);
            form.submit();
        }""",
        f"/deliveries/{queued}/cancel",
    )
    page.wait_for_url(f"**/deliveries/{queued}/cancel")
    assert "This form has expired or did not come from this site." in page.inner_text("main")
    assert pipeline.store.get_delivery(queued).state is DeliveryState.QUEUED  # type: ignore[union-attr]


def test_screenshots_of_the_desk_and_an_article(
    page: Page, pipeline: Pipeline, site: SampleSite, x: FakeX, tmp_path: Path
) -> None:
    """A desk with a bit of everything: sent, failed, held, queued, not posted."""
    articles = {a.post_id: a for a in site.articles()}
    sent_now = [p for p in articles if p != RUTO][:3]
    for post_id in sent_now:
        pipeline.repost(site.permalink(post_id), ["x-main"], actor="web:maria")
    site.add(story(site, "Port-au-Prince airport reopens to commercial flights"))
    for source in pipeline.config.sources:
        pipeline.poll(source)
    pipeline.process_new()
    x.fail_next(
        1,
        status=403,
        body={
            "title": "Forbidden",
            "detail": "You are not permitted to perform this action.",
            "type": "about:blank",
            "status": 403,
        },
    )
    pipeline.deliver_due()
    pipeline.repost(
        site.permalink(RUTO),
        ["x-main"],
        at=datetime.now(UTC) + timedelta(hours=2),
        actor="web:maria",
    )
    queue_one(
        pipeline,
        site,
        state=DeliveryState.HELD,
        text="Ruto ends the mission",
        purpose="auto",
        error="in doubt after an interrupted send; held for an editor",
    )
    sign_in(page)
    page.wait_for_load_state("networkidle")
    shots: dict[str, Any] = {}
    shots["desk"] = page.screenshot(path=tmp_path / "desk.png", full_page=True)
    page.goto(f"/articles/{article_id(pipeline, site)}")
    area = page.locator("textarea[name='text:x-main']")
    area.fill("Kenya ends its police mission in Haiti: what changes now")
    page.locator("img.thumb").evaluate("img => img.decode()")
    counter = page.locator("#" + str(area.get_attribute("data-counter")))
    counter.locator(".note").filter(has_text="link").wait_for()
    shots["article"] = page.screenshot(path=tmp_path / "article.png", full_page=True)
    assert all(len(png) > 20_000 for png in shots.values())
    assert page.locator("img.thumb").evaluate("img => img.naturalWidth") > 0
    if os.environ.get("SYNDBOT_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copy(tmp_path / f"{name}.png", SCREENSHOTS / f"{name}.png")
