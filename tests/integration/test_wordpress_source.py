"""bot.wordpress against the sample WordPress site over real HTTP (bot/demo/site.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.config import FetchSettings
from bot.demo.articles import SampleArticle, load_sample_articles
from bot.demo.site import SampleSite
from bot.errors import FetchError
from bot.fetcher import Fetcher
from bot.wordpress import EMBED, WordPressPoll, poll_wordpress

# The site's clock starts at the real time (truncated): the poll's sanity bound on future
# dates compares with the real clock.
START = datetime.now(UTC).replace(microsecond=0)
NEWEST = 37088  # the newest bundled article
USER, PASSWORD = "syndbot", "abcd EFGH ijkl MNOP qrst UVWX"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def site(clock: Clock) -> Iterator[SampleSite]:
    with SampleSite(load_sample_articles(START), clock=clock) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FetchSettings(timeout=10)) as f:
        yield f


def story(post_id: int, title: str, published: datetime, **fields: Any) -> SampleArticle:
    return SampleArticle(
        post_id, title, (f"{title}: first paragraph.", "Second."), published, **fields
    )


def poll(
    fetcher: Fetcher, site: SampleSite, cursor: str | None = None, **kwargs: Any
) -> WordPressPoll:
    kwargs.setdefault("url", site.url + "/")
    return poll_wordpress(fetcher, source_id="ctn", cursor=cursor, **kwargs)


def queries(site: SampleSite) -> list[dict[str, str]]:
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(r.target).query, keep_blank_values=True).items()}
        for r in site.requests
    ]


def ids(found: WordPressPoll) -> list[int | None]:
    return [i.wp_post_id for i in found.items]


def test_first_poll_returns_every_post_with_a_cursor(site: SampleSite, fetcher: Fetcher) -> None:
    found = poll(fetcher, site, default_language="en")
    assert ids(found) == [a.post_id for a in site.articles()]  # newest first
    assert (found.pages, found.total) == (1, 5)
    assert found.cursor == site.get(NEWEST).last_modified.isoformat()
    ruto = next(i for i in found.items if i.wp_post_id == 37070)
    assert ruto.guid == f"{site.url}/?p=37070"
    assert ruto.link == site.permalink(37070)
    assert ruto.title == "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"
    assert ruto.categories == ("English", "Haiti", "Kenya", "William Ruto", "United Nations")
    assert ruto.authors == ("Emmanuel Paul",)
    assert ruto.image is not None and ruto.image.url.endswith("/william-ruto-unga80.jpg")
    assert (ruto.image.width, ruto.image.height) == (1200, 675)
    assert ruto.image.alt.startswith("Kenyan President William Ruto")
    assert ruto.updated == site.get(37070).last_modified
    pact = next(i for i in found.items if i.wp_post_id == 37083)
    assert "Trinidad & Tobago" in pact.title  # WordPress sends "&#038;"
    (query,) = queries(site)
    assert query["_embed"] == EMBED
    assert (query["orderby"], query["order"]) == ("modified", "desc")


def test_after_an_addition_the_cursor_brings_just_the_new_post(
    site: SampleSite, fetcher: Fetcher, clock: Clock
) -> None:
    first = poll(fetcher, site)
    clock.now = START + timedelta(minutes=2)
    site.add(story(40001, "Breaking: a new post", clock.now, categories=("English",)))
    site.reset_log()
    found = poll(fetcher, site, first.cursor)
    assert ids(found)[0] == 40001
    # Besides it, only what changed in the cursor's own second (read again on purpose).
    assert all(str(i.updated.isoformat()) == first.cursor for i in found.items[1:] if i.updated)
    assert set(ids(found)) <= {40001, NEWEST}
    assert found.cursor == clock.now.isoformat()
    changes = next(q for q in queries(site) if q.get("orderby") == "modified")
    assert "modified_after" in changes
    # and the next poll has nothing new
    assert poll(fetcher, site, found.cursor).cursor == found.cursor


def test_an_edit_returns_the_post_again(site: SampleSite, fetcher: Fetcher, clock: Clock) -> None:
    first = poll(fetcher, site)
    clock.now = START + timedelta(minutes=3)
    site.edit(37070, title="Ruto: the Kenyan mission in Haiti ends")
    found = poll(fetcher, site, first.cursor)
    assert ids(found)[0] == 37070  # same wp_post_id: the pipeline knows it already
    assert found.items[0].title == "Ruto: the Kenyan mission in Haiti ends"
    assert found.items[0].updated == clock.now
    assert found.cursor == clock.now.isoformat()


def test_paging_when_more_posts_than_per_page(
    site: SampleSite, fetcher: Fetcher, clock: Clock
) -> None:
    found = poll(fetcher, site, per_page=2)
    assert ids(found) == [a.post_id for a in site.articles()]
    assert (found.pages, found.total) == (3, 5)
    assert [q["page"] for q in queries(site)] == ["1", "2", "3"]

    for n in range(5):
        clock.now = START + timedelta(minutes=n + 1)
        site.add(story(40010 + n, f"Burst {n}", clock.now))
    cursor = found.cursor
    seen: list[int | None] = []
    for _ in range(5):  # two pages per poll: a burst is read over several polls, never skipped
        batch = poll(fetcher, site, cursor, per_page=2, max_pages=2)
        seen += ids(batch)
        if batch.cursor == cursor:
            break
        cursor = batch.cursor
    assert {40010, 40011, 40012, 40013, 40014} <= set(seen)
    assert cursor == (START + timedelta(minutes=5)).isoformat()


def test_a_scheduled_post_published_by_cron_is_not_missed(
    site: SampleSite, fetcher: Fetcher, clock: Clock
) -> None:
    # Scheduled at START for START+10 min: WordPress keeps modified_gmt = START.
    site.add(story(40020, "Embargoed until noon", START + timedelta(minutes=10), modified=START))
    first = poll(fetcher, site)
    assert 40020 not in ids(first)
    clock.now = START + timedelta(minutes=5)
    site.add(story(40021, "Published directly", clock.now))
    second = poll(fetcher, site, first.cursor)
    assert ids(second)[0] == 40021
    clock.now = START + timedelta(minutes=11)  # cron has run
    third = poll(fetcher, site, second.cursor)
    assert 40020 in ids(third)
    embargoed = next(i for i in third.items if i.wp_post_id == 40020)
    assert embargoed.updated is not None and second.cursor is not None
    assert embargoed.updated < datetime.fromisoformat(second.cursor)  # modified_after misses it
    assert third.cursor == (START + timedelta(minutes=10)).isoformat()
    clock.now = START + timedelta(minutes=12)
    assert poll(fetcher, site, third.cursor).cursor == third.cursor


def test_yoast_and_polylang_fields(clock: Clock, fetcher: Fetcher) -> None:
    articles = load_sample_articles(START)
    with SampleSite(articles, clock=clock, yoast=True, polylang=True) as site:
        found = poll(fetcher, site)
        french = requests.get(site.url + "/wp-json/wp/v2/posts/37079", timeout=10).json()
        newest = requests.get(f"{site.url}/wp-json/wp/v2/posts/{NEWEST}", timeout=10).json()
    languages = {i.wp_post_id: i.language for i in found.items}
    assert languages == {37088: "en", 37083: "en", 37079: "fr", 37074: "ht", 37070: "en"}
    assert french["lang"] == "fr"
    assert french["yoast_head_json"]["canonical"] == site.permalink(37079)
    assert french["yoast_head_json"]["og_locale"] == "fr_FR"
    caricom = next(i for i in found.items if i.wp_post_id == NEWEST)
    assert caricom.link == site.permalink(NEWEST)
    # The auto excerpt was cut: Yoast's description is the summary.
    assert caricom.summary == newest["yoast_head_json"]["description"]


def test_plain_permalink_form(site: SampleSite, fetcher: Fetcher) -> None:
    found = poll(fetcher, site, url=site.url + "/?rest_route=/wp/v2/posts")
    assert len(found.items) == 5
    assert all(r.path == "/" for r in site.requests)


def test_no_rest_api_there(site: SampleSite, fetcher: Fetcher) -> None:
    with pytest.raises(
        FetchError, match=r"no WordPress REST API at .*/nothing/wp-json/wp/v2/posts"
    ) as caught:
        poll(fetcher, site, url=site.url + "/nothing/")
    assert caught.value.status == 404
    with pytest.raises(FetchError, match="WordPress answers, but not this route"):
        poll(fetcher, site, url=site.url + "/wp-json/wp/v2/stories")


def test_a_failing_site_keeps_its_status(site: SampleSite, fetcher: Fetcher) -> None:
    site.fail_next("/wp-json/", 503)
    with pytest.raises(FetchError, match="503") as caught:
        poll(fetcher, site)
    assert caught.value.status == 503
    assert len(poll(fetcher, site).items) == 5


# --- a site whose REST API needs an application password ------------------------------------


@pytest.fixture
def locked(clock: Clock) -> Iterator[SampleSite]:
    articles = load_sample_articles(START)
    with SampleSite(articles, clock=clock, app_passwords={USER: PASSWORD}) as running:
        yield running
    assert running.errors == []


def test_without_credentials_the_message_says_what_to_set(
    locked: SampleSite, fetcher: Fetcher
) -> None:
    with pytest.raises(FetchError) as caught:
        poll(fetcher, locked)
    assert "the REST API needs an application password (set username and app_password)" in str(
        caught.value
    )
    assert caught.value.status == 401
    assert requests.get(locked.url + "/feed/", timeout=10).status_code == 200  # only REST is locked


def test_with_the_application_password(locked: SampleSite, fetcher: Fetcher) -> None:
    found = poll(fetcher, locked, auth=(USER, PASSWORD))
    assert len(found.items) == 5
    again = poll(fetcher, locked, found.cursor, auth=(USER, PASSWORD.replace(" ", "")))
    assert ids(again) == [NEWEST]
    assert all(r.headers.get("Authorization", "").startswith("Basic ") for r in locked.requests)


@pytest.mark.parametrize(
    ("auth", "hint"),
    [
        (
            (USER, "zzzz EFGH ijkl MNOP qrst UVWX"),
            "the application password is wrong or was revoked",
        ),
        (("editor", PASSWORD), "WordPress knows no such user"),
    ],
)
def test_wrong_credentials_are_refused_without_showing_the_password(
    locked: SampleSite, fetcher: Fetcher, auth: tuple[str, str], hint: str
) -> None:
    with pytest.raises(FetchError) as caught:
        poll(fetcher, locked, auth=auth)
    message = str(caught.value)
    assert "refused these credentials" in message and hint in message
    assert caught.value.status == 401
    for text in (message, repr(caught.value), caught.value.url):
        assert "EFGH" not in text and "zzzz" not in text


# --- the sample site's REST API does what WordPress does -------------------------------------


def test_sample_site_rest_parameters(site: SampleSite, clock: Clock) -> None:
    api = site.url + "/wp-json/wp/v2/posts"
    clock.now = START + timedelta(minutes=1)
    site.edit(37070, title="Edited")  # now the most recently modified
    by_modified = requests.get(api, params={"orderby": "modified", "order": "asc"}, timeout=10)
    assert [p["id"] for p in by_modified.json()][-1] == 37070
    included = requests.get(
        api, params={"include": "37074,37088", "_fields": "id,modified_gmt"}, timeout=10
    )
    assert [sorted(p) for p in included.json()] == [["id", "modified_gmt"]] * 2
    assert {p["id"] for p in included.json()} == {37074, 37088}
    enveloped = requests.get(api, params={"page": "9", "_envelope": ""}, timeout=10)
    assert enveloped.status_code == 200
    assert enveloped.json()["status"] == 400
    assert enveloped.json()["body"]["code"] == "rest_post_invalid_page_number"
    ok = requests.get(api, params={"per_page": "2", "_envelope": "1"}, timeout=10).json()
    assert ok["headers"] == {"X-WP-Total": 5, "X-WP-TotalPages": 3}
    for bad in (
        {"orderby": "color"},
        {"order": "up"},
        {"modified_after": "2026-11-29T12:00:00 00:00"},
    ):
        answer = requests.get(api, params=bad, timeout=10)
        assert (answer.status_code, answer.json()["code"]) == (400, "rest_invalid_param")
    unknown = requests.get(site.url + "/wp-json/wp/v2/stories", timeout=10)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "rest_no_route")


def test_sample_site_application_passwords(locked: SampleSite) -> None:
    api = locked.url + "/wp-json/wp/v2/posts"
    anonymous = requests.get(api, timeout=10)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "rest_not_logged_in")
    wrong = requests.get(api, auth=(USER, "nope"), timeout=10)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "incorrect_password")
    assert requests.get(api, auth=(USER, PASSWORD.replace(" ", "")), timeout=10).status_code == 200
    assert requests.get(locked.url + "/?rest_route=/wp/v2/posts", timeout=10).status_code == 401
