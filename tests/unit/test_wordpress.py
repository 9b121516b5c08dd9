"""bot.wordpress: REST post objects -> FeedItem, the endpoint of a site, and one poll's logic
against an in-memory WordPress (the real HTTP path is in tests/integration/test_wordpress_source.py)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.errors import FetchError, ParseError
from bot.fetcher import Fetcher, FetchResult
from bot.identity import item_keys
from bot.models import Image
from bot.wordpress import (
    EMBED,
    REREAD,
    SCHEDULER_GRACE,
    item_from_post,
    poll_wordpress,
    posts_endpoint,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "wordpress-6.1" / "rest-posts-embed.json"
SITE = "http://127.0.0.1:8080"
T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def fixture_posts() -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return posts


def fixture_post(post_id: int) -> dict[str, Any]:
    return copy.deepcopy(next(p for p in fixture_posts() if p["id"] == post_id))


def gmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def post(
    post_id: int, *, date: datetime, modified: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    """A minimal post object as /wp/v2/posts sends it."""
    return {
        "id": post_id,
        "date_gmt": gmt(date),
        "modified_gmt": gmt(modified or date),
        "guid": {"rendered": f"https://news.example/?p={post_id}"},
        "link": f"https://news.example/{post_id}/story-{post_id}/",
        "title": {"rendered": f"Story {post_id}"},
        "excerpt": {"rendered": f"<p>Summary {post_id}.</p>\n", "protected": False},
        "content": {"rendered": f"<p>Body {post_id}.</p>\n", "protected": False},
        **extra,
    }


# --- item_from_post on the real WordPress 6.1 output --------------------------------------------


FIXTURE_EXPECTED = [
    # id, title, categories, has image
    (9, "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti", ("English", "Haiti"), False),
    (8, "Another English story", ("English",), False),
    (7, "Both categories: English and Haiti", ("English", "Haiti"), True),
    (6, "Nouvèl Ayiti: premye atik", ("Haiti",), False),
    (5, "Hello from the English desk", ("English",), True),
    (1, "Hello world!", ("Uncategorized",), False),
]  # fmt: skip


def test_every_post_of_the_real_fixture() -> None:
    posts = fixture_posts()
    items = [item_from_post(p, source_id="ctn") for p in posts]
    assert [
        (i.wp_post_id, i.title, i.categories, i.image is not None) for i in items
    ] == FIXTURE_EXPECTED
    for raw, item in zip(posts, items, strict=True):
        assert item.source_id == "ctn"
        assert item.guid == raw["guid"]["rendered"]
        assert item.link == raw["link"]
        assert item.authors == ("admin",)
        assert item.content_html == raw["content"]["rendered"].strip()
        assert item.language is None  # the site says nothing; no default given
        for when, text in ((item.published, raw["date_gmt"]), (item.updated, raw["modified_gmt"])):
            assert when is not None and when.tzinfo is UTC
            assert when == datetime.fromisoformat(text).replace(tzinfo=UTC)
        assert item.summary and "Continue reading" not in item.summary
        assert "<" not in item.summary and "&" not in item.summary


def test_the_curly_quote_and_the_cut_excerpt() -> None:
    ruto = item_from_post(fixture_post(9), source_id="ctn")
    assert "Troops’ Mission" in ruto.title
    assert ruto.summary.startswith("The mandate of this force")
    assert ruto.summary.endswith("From the UN podium,…")  # &hellip; kept, the more-link gone


def test_the_featured_image_of_the_fixture() -> None:
    item = item_from_post(fixture_post(7), source_id="ctn")
    # "full" (1200x630) is the largest size within 2048 px
    assert item.image == Image(f"{SITE}/wp-content/uploads/2026/11/sample.png", "", 1200, 630)


def test_the_identity_is_the_post_id_even_with_a_pretty_guid() -> None:
    hello = item_from_post(fixture_post(1), source_id="ctn")
    assert (hello.guid, hello.link) == (f"{SITE}/?p=1", f"{SITE}/2026/11/29/hello-world/")
    assert item_keys(hello)[0] == "wp:127.0.0.1:8080:1"
    ruto = item_from_post(fixture_post(9), source_id="ctn")
    assert ruto.wp_post_id == 9
    assert item_keys(ruto)[0] == "wp:127.0.0.1:8080:9"


def test_default_language_when_the_post_says_nothing() -> None:
    item = item_from_post(fixture_post(8), source_id="ctn", default_language="en-US")
    assert item.language == "en"


# --- item_from_post: plugins and odd shapes --------------------------------------------------


def yoast_head(**changes: Any) -> dict[str, Any]:
    head: dict[str, Any] = {
        "title": "Story 7 - CTN",
        "description": "What Yoast's editor wrote about story 7.",
        "canonical": "https://news.example/7/story-7/",
        "og_locale": "fr_FR",
        "og_title": "Story 7",
        "og_description": "The Open Graph description.",
        "og_image": [
            {
                "width": 1200,
                "height": 675,
                "url": "https://news.example/up/s7.jpg",
                "type": "image/jpeg",
            }
        ],
        "author": "Nadège Baptiste",
        "article_published_time": "2026-11-29T08:00:00-04:00",
    }
    head.update(changes)
    return head


def auto_excerpt(post_id: int) -> dict[str, Any]:
    return {
        "rendered": f'<p>Words words words&hellip; <a class="more-link" href="https://news.example/{post_id}/">'
        f'Continue reading <span class="screen-reader-text">Story {post_id}</span></a></p>\n',
        "protected": False,
    }


def test_yoast_fills_in_link_summary_image_author_and_language() -> None:
    raw = post(7, date=T0, excerpt=auto_excerpt(7), yoast_head_json=yoast_head())
    raw["link"] = "https://news.example/7/old-slug/"
    item = item_from_post(raw, source_id="ctn")
    assert item.link == "https://news.example/7/story-7/"  # the canonical URL
    assert item.summary == "What Yoast's editor wrote about story 7."  # the excerpt was cut
    assert item.image == Image("https://news.example/up/s7.jpg", "", 1200, 675)
    assert item.authors == ("Nadège Baptiste",)
    assert item.language == "fr"


def test_a_written_excerpt_beats_the_yoast_description() -> None:
    raw = post(7, date=T0, yoast_head_json=yoast_head())
    assert item_from_post(raw, source_id="ctn").summary == "Summary 7."


def test_og_description_when_yoast_has_no_description() -> None:
    raw = post(7, date=T0, excerpt={"rendered": ""}, yoast_head_json=yoast_head(description=""))
    assert item_from_post(raw, source_id="ctn").summary == "The Open Graph description."


def test_a_canonical_url_on_another_site_is_not_the_link() -> None:
    # Syndicated copy: the canonical points at the original publisher. The post id must stay
    # scoped to this site, so the link stays the REST link.
    raw = post(7, date=T0, yoast_head_json=yoast_head(canonical="https://other.example/original/"))
    item = item_from_post(raw, source_id="ctn")
    assert item.link == "https://news.example/7/story-7/"
    assert item_keys(item)[0] == "wp:news.example:7"


def test_www_and_scheme_do_not_make_a_canonical_foreign() -> None:
    raw = post(
        7, date=T0, yoast_head_json=yoast_head(canonical="https://www.news.example/7/new-slug/")
    )
    raw["link"] = "http://news.example/7/story-7/"
    assert item_from_post(raw, source_id="ctn").link == "https://www.news.example/7/new-slug/"


@pytest.mark.parametrize(
    ("fields", "default", "expected"),
    [
        ({"lang": "fr"}, None, "fr"),  # Polylang
        ({"lang": "ht"}, "en-US", "ht"),
        ({"wpml_current_locale": "fr_FR"}, None, "fr"),  # WPML
        ({"lang": "fr", "wpml_current_locale": "de_DE"}, None, "fr"),
        ({"yoast_head_json": {"og_locale": "ht_HT"}}, "en", "ht"),  # Yoast
        ({"lang": "es", "yoast_head_json": {"og_locale": "en_US"}}, None, "es"),
        ({}, "fr-FR", "fr"),
        ({}, None, None),
        ({"lang": ""}, "en", "en"),
        ({"lang": 3}, None, None),
    ],
)
def test_language(fields: dict[str, Any], default: str | None, expected: str | None) -> None:
    raw = post(7, date=T0, **fields)
    assert item_from_post(raw, source_id="ctn", default_language=default).language == expected


def test_without_embedded_categories_are_left_out_not_shown_as_numbers() -> None:
    raw = fixture_post(7)
    del raw["_embedded"]
    item = item_from_post(raw, source_id="ctn")
    assert raw["categories"] == [2, 3]
    assert item.categories == ()
    assert item.authors == ()
    assert item.image is None
    assert item.title == "Both categories: English and Haiti"


def test_error_objects_in_embedded_are_ignored() -> None:
    raw = fixture_post(7)
    forbidden = {
        "code": "rest_forbidden",
        "message": "Sorry, you are not allowed to do that.",
        "data": {"status": 401},
    }
    raw["_embedded"]["wp:featuredmedia"] = [forbidden]
    raw["_embedded"]["author"] = [
        {"code": "rest_user_invalid_id", "message": "Invalid user ID.", "data": {"status": 404}}
    ]
    raw["_embedded"]["wp:term"][1] = [forbidden]
    item = item_from_post(raw, source_id="ctn")
    assert item.image is None
    assert item.authors == ()
    assert item.categories == ("English", "Haiti")
    raw["yoast_head_json"] = yoast_head()
    assert item_from_post(raw, source_id="ctn").image == Image(
        "https://news.example/up/s7.jpg", "", 1200, 675
    )


def test_html_and_entities_in_titles() -> None:
    raw = post(7, date=T0)
    raw["title"] = {
        "rendered": "<em>Breaking</em>: Haiti &#038; the &#8220;MSS&#8221; mission&#8217;s end"
    }
    assert item_from_post(raw, source_id="ctn").title == "Breaking: Haiti & the “MSS” mission’s end"


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("<p>A written excerpt.</p>\n", "A written excerpt."),
        ("<p>Cut here [&hellip;]</p>\n", "Cut here…"),
        ("<p>Cut here [...]</p>", "Cut here…"),
        ('<p>Cut here&hellip; <a href="https://news.example/7/">Continue reading &rarr;</a></p>', "Cut here…"),
        ('<p>Twenty words <a class="more-link" href="/7/">Read more<span class="screen-reader-text"> about X</span></a></p>', "Twenty words"),
        ("<p>Officials urged people to read more about the risks.</p>", "Officials urged people to read more about the risks."),
        ("<p>Lire la suite</p>", ""),
        ("", ""),
    ],
)  # fmt: skip
def test_summary_cleanup(rendered: str, expected: str) -> None:
    raw = post(7, date=T0, excerpt={"rendered": rendered, "protected": False})
    assert item_from_post(raw, source_id="ctn").summary == expected


def media(**details: Any) -> dict[str, Any]:
    return {
        "id": 40,
        "media_type": "image",
        "mime_type": "image/jpeg",
        "alt_text": "Rescuers &amp; volunteers at work",
        "source_url": "https://news.example/up/big-scaled.jpg",
        "media_details": details,
    }


def size(name: str, width: int, height: int) -> dict[str, Any]:
    return {
        "file": name,
        "width": width,
        "height": height,
        "source_url": f"https://news.example/up/{name}",
    }


def test_the_largest_featured_image_size_within_2048_px() -> None:
    sizes = {
        "thumbnail": size("t.jpg", 150, 150),
        "large": size("l.jpg", 1024, 768),
        "1536x1536": size("m.jpg", 1536, 1152),
        "2048x2048": size("x.jpg", 2048, 1536),
        "full": size("big-scaled.jpg", 2560, 1920),
    }
    raw = post(
        7, date=T0, _embedded={"wp:featuredmedia": [media(width=2560, height=1920, sizes=sizes)]}
    )
    image = item_from_post(raw, source_id="ctn").image
    assert image == Image(
        "https://news.example/up/x.jpg", "Rescuers & volunteers at work", 2048, 1536
    )


def test_a_featured_image_without_sizes() -> None:
    raw = post(7, date=T0, _embedded={"wp:featuredmedia": [media(width=3000, height=2000)]})
    assert item_from_post(raw, source_id="ctn").image == Image(
        "https://news.example/up/big-scaled.jpg", "Rescuers & volunteers at work", 3000, 2000
    )
    raw["_embedded"]["wp:featuredmedia"][0]["media_details"] = []  # PHP's empty array
    assert item_from_post(raw, source_id="ctn").image == Image(
        "https://news.example/up/big-scaled.jpg", "Rescuers & volunteers at work"
    )


def test_a_featured_video_is_not_an_image() -> None:
    video = {
        "id": 41,
        "media_type": "file",
        "mime_type": "video/mp4",
        "source_url": "https://news.example/up/v.mp4",
    }
    raw = post(7, date=T0, _embedded={"wp:featuredmedia": [video]})
    assert item_from_post(raw, source_id="ctn").image is None


def test_categories_then_tags_in_order_without_duplicates() -> None:
    def term(name: str, taxonomy: str) -> dict[str, Any]:
        return {"id": hash(name) % 1000, "name": name, "taxonomy": taxonomy}

    groups = [
        [
            term("Kenya", "post_tag"),
            term("haiti", "post_tag"),
            term("Trinidad &amp; Tobago", "post_tag"),
        ],
        [term("Region: Caribbean", "region")],  # a custom taxonomy: not a category
        [term("English", "category"), term("Haiti", "category")],
    ]
    raw = post(7, date=T0, _embedded={"wp:term": groups})
    assert item_from_post(raw, source_id="ctn").categories == (
        "English", "Haiti", "Kenya", "Trinidad & Tobago"
    )  # fmt: skip


def test_dates_are_utc() -> None:
    raw = post(7, date=T0, modified=T0 + timedelta(hours=2))
    item = item_from_post(raw, source_id="ctn")
    assert (item.published, item.updated) == (T0, T0 + timedelta(hours=2))
    del raw["date_gmt"], raw["modified_gmt"]
    raw["yoast_head_json"] = yoast_head()  # article_published_time with an offset
    item = item_from_post(raw, source_id="ctn")
    assert item.published == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert item.updated is None


@pytest.mark.parametrize("bad_id", [None, 0, -3, True, "seven", 7.5])
def test_a_post_needs_a_numeric_id(bad_id: object) -> None:
    raw = post(7, date=T0)
    raw["id"] = bad_id
    with pytest.raises(ParseError, match="no numeric id"):
        item_from_post(raw, source_id="ctn")


def test_a_post_needs_a_link_or_a_guid() -> None:
    raw = post(7, date=T0)
    assert item_from_post({**raw, "id": "7"}, source_id="ctn").wp_post_id == 7
    del raw["link"], raw["guid"]
    with pytest.raises(ParseError, match="neither a link nor a GUID"):
        item_from_post(raw, source_id="ctn")


# --- posts_endpoint -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://news.example/", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/#top", "https://news.example/wp-json/wp/v2/posts"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/wp-json/wp/v2/posts"),
        ("https://news.example/blog/", "https://news.example/blog/wp-json/wp/v2/posts"),
        ("https://news.example/?lang=fr", "https://news.example/wp-json/wp/v2/posts?lang=fr"),
        ("https://news.example/wp-json/wp/v2/posts", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/wp-json/wp/v2/posts/", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/wp-json/wp/v2/posts?categories=3", "https://news.example/wp-json/wp/v2/posts?categories=3"),
        ("https://news.example/wp-json/wp/v2/articles", "https://news.example/wp-json/wp/v2/articles"),
        ("https://news.example/wp-json/", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/wp-json", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/wp-json/wp/v2", "https://news.example/wp-json/wp/v2/posts"),
        ("https://news.example/blog/wp-json/wp/v2/posts", "https://news.example/blog/wp-json/wp/v2/posts"),
        ("https://news.example/?rest_route=/wp/v2/posts", "https://news.example/?rest_route=/wp/v2/posts"),
        ("https://news.example/?rest_route=%2Fwp%2Fv2%2Fposts", "https://news.example/?rest_route=/wp/v2/posts"),
        ("https://news.example/?rest_route=/", "https://news.example/?rest_route=/wp/v2/posts"),
        ("https://news.example/?rest_route=/wp/v2/posts&categories=3", "https://news.example/?rest_route=/wp/v2/posts&categories=3"),
        ("https://news.example/index.php", "https://news.example/index.php?rest_route=/wp/v2/posts"),
        ("  https://news.example/  ", "https://news.example/wp-json/wp/v2/posts"),
    ],
)  # fmt: skip
def test_posts_endpoint(given: str, expected: str) -> None:
    assert posts_endpoint(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "news.example", "ftp://news.example/", "https://", "http://[::1/"]
)
def test_posts_endpoint_refuses_what_is_no_site(bad: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        posts_endpoint(bad)


# --- poll_wordpress against an in-memory WordPress ----------------------------------------------


class FakeWordPress:
    """Answers GETs on /wp-json/wp/v2/posts like WordPress 6.x (``_envelope`` honoured), or
    like an older or proxied one (``modified_after`` ignored, no envelope). Stands in for
    ``Fetcher`` (the one I/O seam)."""

    def __init__(
        self, posts: list[dict[str, Any]], *, modified_after: bool = True, envelope: bool = True
    ) -> None:
        self.posts = posts
        self.honours_modified_after = modified_after
        self.honours_envelope = envelope
        self.requests: list[dict[str, str]] = []
        self.auths: list[tuple[str, str] | None] = []
        self.answer: Callable[[dict[str, str]], FetchResult] | None = None  # overrides everything

    def fetch(
        self, url: str, *, accept: str | None = None, auth: tuple[str, str] | None = None, **_: Any
    ) -> FetchResult:
        params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        self.requests.append(params)
        self.auths.append(auth)
        if self.answer is not None:
            return self.answer(params)
        status, headers, body = self._posts(params)
        if "_envelope" in params and self.honours_envelope:
            return result({"body": body, "status": status, "headers": headers})
        if status >= 400:
            raise FetchError(f"HTTP {status} from {url}", url=url, status=status)
        return result(body)

    def _posts(self, params: Mapping[str, str]) -> tuple[int, dict[str, Any], Any]:
        def stamp(p: Mapping[str, Any], key: str) -> datetime:
            return datetime.fromisoformat(p[key]).replace(tzinfo=UTC)

        chosen = list(self.posts)
        if "after" in params:
            after = datetime.fromisoformat(params["after"])
            chosen = [p for p in chosen if stamp(p, "date_gmt") > after]
        if "modified_after" in params and self.honours_modified_after:
            after = datetime.fromisoformat(params["modified_after"])
            chosen = [p for p in chosen if stamp(p, "modified_gmt") > after]
        if "include" in params:
            ids = {int(i) for i in params["include"].split(",")}
            chosen = [p for p in chosen if p["id"] in ids]
        key = "modified_gmt" if params.get("orderby") == "modified" else "date_gmt"
        chosen.sort(key=lambda p: (stamp(p, key), p["id"]), reverse=params.get("order") != "asc")
        per_page, page = int(params.get("per_page", "10")), int(params.get("page", "1"))
        pages = -(-len(chosen) // per_page)
        if page > max(pages, 1):
            return (
                400,
                {},
                {
                    "code": "rest_post_invalid_page_number",
                    "message": "The page number requested is larger than the number of pages available.",
                    "data": {"status": 400},
                },
            )
        chunk = chosen[(page - 1) * per_page : page * per_page]
        if "_fields" in params:
            fields = params["_fields"].split(",")
            chunk = [{k: v for k, v in p.items() if k in fields} for p in chunk]
        return 200, {"X-WP-Total": len(chosen), "X-WP-TotalPages": pages}, chunk


def result(data: Any, *, status: int = 200, raw: bytes | None = None) -> FetchResult:
    content = raw if raw is not None else json.dumps(data).encode("utf-8")
    return FetchResult(
        url="https://news.example/wp-json/wp/v2/posts",
        final_url="https://news.example/wp-json/wp/v2/posts",
        status=status,
        content=content,
        etag=None,
        last_modified=None,
        content_type="application/json; charset=UTF-8",
    )


def poll(wp: FakeWordPress, cursor: str | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("source_id", "ctn")
    kwargs.setdefault("url", "https://news.example/")
    return poll_wordpress(cast(Fetcher, wp), cursor=cursor, **kwargs)


def five_posts() -> list[dict[str, Any]]:
    return [post(10 + n, date=T0 + timedelta(minutes=n)) for n in range(5)]


def test_first_poll_reads_everything_newest_first() -> None:
    wp = FakeWordPress(five_posts())
    found = poll(wp)
    assert [i.wp_post_id for i in found.items] == [14, 13, 12, 11, 10]
    assert found.cursor == (T0 + timedelta(minutes=4)).isoformat()
    assert (found.pages, found.total) == (1, 5)
    (request,) = wp.requests
    assert request == {
        "orderby": "modified", "order": "desc", "per_page": "50", "page": "1",
        "_embed": EMBED, "_envelope": "1",
    }  # fmt: skip


def test_later_polls_list_by_date_then_read_changes_oldest_first() -> None:
    wp = FakeWordPress(five_posts())
    cursor = (T0 + timedelta(minutes=4)).isoformat()
    wp.posts.append(post(20, date=T0 + timedelta(minutes=9)))
    wp.posts[0] = post(10, date=T0, modified=T0 + timedelta(minutes=8))  # an edit
    found = poll(wp, cursor)
    assert [i.wp_post_id for i in found.items] == [20, 10, 14]  # 14: the cursor's own second
    assert found.cursor == (T0 + timedelta(minutes=9)).isoformat()
    listing, changes = wp.requests
    assert listing["orderby"] == "date" and listing["_fields"] == "id,date_gmt,modified_gmt"
    assert datetime.fromisoformat(listing["after"]) == T0 + timedelta(minutes=4) - SCHEDULER_GRACE
    assert (changes["orderby"], changes["order"]) == ("modified", "asc")
    assert datetime.fromisoformat(changes["modified_after"]) == T0 + timedelta(minutes=4) - REREAD
    assert found.total == 3


def test_nothing_new_keeps_the_cursor() -> None:
    wp = FakeWordPress(five_posts())
    cursor = "2026-11-29T12:04:00+00:00"
    found = poll(wp, cursor)
    assert found.cursor == cursor
    assert [i.wp_post_id for i in found.items] == [14]  # read again, known by its id
    assert poll(FakeWordPress([])).cursor is None


def test_a_post_the_scheduler_published_is_found_although_its_modified_date_is_old() -> None:
    # Scheduled at T0 for T0+30 min; WP-cron publishes it without touching modified_gmt.
    scheduled = post(30, date=T0 + timedelta(minutes=30), modified=T0)
    direct = post(31, date=T0 + timedelta(minutes=20))
    wp = FakeWordPress([direct])
    cursor = poll(wp).cursor
    assert cursor == (T0 + timedelta(minutes=20)).isoformat()
    wp.posts.append(scheduled)
    wp.requests.clear()
    found = poll(wp, cursor)
    assert [i.wp_post_id for i in found.items] == [30, 31]
    assert found.items[0].updated == T0  # modified_after alone would never return it
    assert found.cursor == (T0 + timedelta(minutes=30)).isoformat()  # when it became visible
    assert wp.requests[-1]["include"] == "30"
    # Later it is only read again within the grace period, and the cursor stays.
    again = poll(wp, found.cursor)
    assert again.cursor == found.cursor


def test_a_scheduled_post_published_long_ago_is_not_read_again() -> None:
    old = post(30, date=T0, modified=T0 - timedelta(days=1))
    wp = FakeWordPress([old, post(31, date=T0 + timedelta(hours=3))])
    found = poll(wp, (T0 + timedelta(hours=3)).isoformat())
    assert [i.wp_post_id for i in found.items] == [31]
    assert not any("include" in r for r in wp.requests)


def test_paging_follows_total_pages() -> None:
    wp = FakeWordPress(five_posts())
    found = poll(wp, per_page=2)
    assert [i.wp_post_id for i in found.items] == [14, 13, 12, 11, 10]
    assert (found.pages, found.total) == (3, 5)
    assert [r["page"] for r in wp.requests] == ["1", "2", "3"]


def test_a_truncated_catch_up_continues_where_it_stopped() -> None:
    wp = FakeWordPress(five_posts())
    cursor = (T0 - timedelta(hours=1)).isoformat()
    first = poll(wp, cursor, per_page=2, max_pages=1)
    assert [i.wp_post_id for i in first.items] == [11, 10]  # oldest changes first
    assert first.cursor == (T0 + timedelta(minutes=1)).isoformat()
    second = poll(wp, first.cursor, per_page=2, max_pages=1)
    assert [i.wp_post_id for i in second.items] == [12, 11]
    third = poll(wp, second.cursor, per_page=2, max_pages=2)
    assert [i.wp_post_id for i in third.items] == [14, 13, 12]


def test_a_truncated_catch_up_does_not_jump_to_a_scheduled_post() -> None:
    posts = [
        *five_posts(),
        post(30, date=T0 + timedelta(minutes=30), modified=T0 - timedelta(minutes=20)),
    ]
    wp = FakeWordPress(posts)
    found = poll(wp, (T0 - timedelta(minutes=10)).isoformat(), per_page=2, max_pages=1)
    assert {i.wp_post_id for i in found.items} == {30, 10, 11}
    assert found.cursor == (T0 + timedelta(minutes=1)).isoformat()  # not T0+30: 12..14 unread


def test_a_site_ignoring_modified_after_is_read_newest_first_down_to_the_cursor() -> None:
    wp = FakeWordPress(five_posts(), modified_after=False)
    found = poll(wp, (T0 + timedelta(minutes=2)).isoformat(), per_page=2)
    assert [i.wp_post_id for i in found.items] == [14, 13, 12]
    changes = [r for r in wp.requests if r.get("orderby") == "modified"]
    assert [(r["order"], r["page"]) for r in changes] == [
        ("asc", "1"),
        ("desc", "1"),
        ("desc", "2"),
    ]
    assert found.total is None  # X-WP-Total counted every post, not the changes


def test_a_server_that_drops_the_envelope() -> None:
    wp = FakeWordPress(five_posts(), envelope=False)
    found = poll(wp, per_page=2)
    assert [i.wp_post_id for i in found.items] == [14, 13, 12, 11, 10]
    assert (found.pages, found.total) == (3, None)  # pages counted by fullness


def test_posts_leaving_while_paging_end_the_read() -> None:
    wp = FakeWordPress(five_posts())

    def shrinking(params: dict[str, str]) -> FetchResult:
        if params["page"] == "2":
            del wp.posts[:4]  # deleted between our two requests: page 2 no longer exists
        wp.answer = None
        status, headers, body = wp._posts(params)
        wp.answer = shrinking
        return result({"body": body, "status": status, "headers": headers})

    wp.answer = shrinking
    found = poll(wp, per_page=2)
    assert [i.wp_post_id for i in found.items] == [14, 13]


def test_password_protected_posts_are_left_out() -> None:
    locked = post(12, date=T0 + timedelta(minutes=9))
    locked["title"] = {"rendered": "Protected: Story 12"}
    locked["content"] = {"rendered": "", "protected": True}
    wp = FakeWordPress([*five_posts()[:2], locked])
    found = poll(wp)
    assert [i.wp_post_id for i in found.items] == [11, 10]
    assert found.cursor == (T0 + timedelta(minutes=9)).isoformat()  # seen all the same


def test_a_broken_post_is_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    broken = post(15, date=T0 + timedelta(minutes=9))
    broken["id"] = "n/a"
    wp = FakeWordPress([*five_posts()[:1], broken])
    with caplog.at_level(logging.WARNING, logger="bot.wordpress"):
        found = poll(wp)
    assert [i.wp_post_id for i in found.items] == [10]
    assert "ctn: leaving out a post" in caplog.text


def test_a_post_dated_far_in_the_future_never_moves_the_cursor() -> None:
    wild = post(40, date=datetime(2199, 1, 1, tzinfo=UTC), modified=T0)
    wp = FakeWordPress([*five_posts(), wild])
    assert poll(wp).cursor == (T0 + timedelta(minutes=4)).isoformat()


def test_a_cursor_that_is_not_a_date_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    wp = FakeWordPress(five_posts())
    with caplog.at_level(logging.WARNING, logger="bot.wordpress"):
        found = poll(wp, "yesterday")
    assert len(found.items) == 5
    assert "not an ISO date" in caplog.text
    assert "modified_after" not in wp.requests[0]


def test_auth_is_sent_with_every_request() -> None:
    wp = FakeWordPress(five_posts())
    poll(wp, "2026-11-29T12:04:00+00:00", url="https://news.example/", auth=("bot", "pw"))
    assert wp.auths == [("bot", "pw"), ("bot", "pw")]


@pytest.mark.parametrize("url", ["http://news.example/", "http://10.0.0.8/"])
def test_no_application_password_over_plain_http(url: str) -> None:
    wp = FakeWordPress(five_posts())
    with pytest.raises(FetchError, match="over plain http") as caught:
        poll(wp, url=url, auth=("bot", "abcd EFGH ijkl MNOP qrst UVWX"))
    assert "abcd" not in str(caught.value)
    assert wp.requests == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "http://localhost/", "http://[::1]:8080/"]
)
def test_plain_http_to_this_machine_may_carry_the_password(url: str) -> None:
    assert len(poll(FakeWordPress(five_posts()), url=url, auth=("bot", "pw")).items) == 5


# --- errors -------------------------------------------------------------------------------------

SECRET = "abcd EFGH ijkl MNOP qrst UVWX"


def wp_error(status: int, code: str, message: str) -> Callable[[dict[str, str]], FetchResult]:
    body = {"code": code, "message": message, "data": {"status": status}}
    return lambda params: result({"body": body, "status": status, "headers": {}})


def http_error(status: int) -> Callable[[dict[str, str]], FetchResult]:
    def answer(params: dict[str, str]) -> FetchResult:
        url = "https://news.example/wp-json/wp/v2/posts"
        raise FetchError(f"HTTP {status} from {url}", url=url, status=status)

    return answer


@pytest.mark.parametrize(
    ("answer", "auth", "status", "words"),
    [
        (wp_error(401, "rest_not_logged_in", "You are not currently logged in."), None, 401,
         "news.example: the REST API needs an application password (set username and app_password) (HTTP 401 rest_not_logged_in)"),
        (http_error(401), None, 401, "needs an application password (set username and app_password) (HTTP 401)"),
        (http_error(403), None, 403, "needs an application password (set username and app_password) (HTTP 403); a firewall"),
        (wp_error(401, "incorrect_password", "The provided password is an invalid application password."), ("bot", SECRET), 401,
         "news.example refused these credentials (user 'bot') (HTTP 401 incorrect_password): the application password is wrong or was revoked"),
        (wp_error(401, "invalid_username", "<strong>Error:</strong> Unknown username."), ("bot", SECRET), 401,
         "refused these credentials (user 'bot') (HTTP 401 invalid_username): WordPress knows no such user"),
        (wp_error(401, "rest_not_logged_in", "You are not currently logged in."), ("bot", SECRET), 401,
         "refused these credentials (user 'bot') (HTTP 401 rest_not_logged_in): WordPress ignored them"),
        (http_error(403), ("bot", SECRET), 403, "news.example refused these credentials (user 'bot') (HTTP 403)"),
        (wp_error(404, "rest_no_route", "No route was found matching the URL and request method."), None, 404,
         "no WordPress REST API at https://news.example/wp-json/wp/v2/posts (HTTP 404 rest_no_route): WordPress answers, but not this route"),
        (http_error(404), None, 404,
         "no WordPress REST API at https://news.example/wp-json/wp/v2/posts (HTTP 404); a site with plain permalinks answers at https://news.example/?rest_route=/wp/v2/posts"),
        (wp_error(400, "rest_invalid_param", "Invalid parameter(s): per_page"), None, 400,
         "WordPress REST API at https://news.example/wp-json/wp/v2/posts answered HTTP 400 rest_invalid_param: Invalid parameter(s): per_page"),
    ],
)  # fmt: skip
def test_errors_say_what_to_do(
    answer: Callable[[dict[str, str]], FetchResult],
    auth: tuple[str, str] | None,
    status: int,
    words: str,
) -> None:
    wp = FakeWordPress([])
    wp.answer = answer
    with pytest.raises(FetchError) as caught:
        poll(wp, auth=auth)
    assert words in str(caught.value)
    assert caught.value.status == status
    assert caught.value.url == "https://news.example/wp-json/wp/v2/posts"
    for text in (str(caught.value), repr(caught.value)):
        assert "EFGH" not in text and SECRET.replace(" ", "") not in text


def test_server_errors_pass_through_with_their_status() -> None:
    wp = FakeWordPress([])
    wp.answer = http_error(503)
    with pytest.raises(FetchError, match="HTTP 503") as caught:
        poll(wp)
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"<!DOCTYPE html><html><body>Home</body></html>", "returned an HTML page"),
        (b"", "returned an empty body"),
        (b"[{'id': 1}]", "returned invalid JSON"),
        (b"\xff\xfe[]", "is not UTF-8"),
    ],
)
def test_not_json_is_a_parse_error(content: bytes, words: str) -> None:
    wp = FakeWordPress([])
    wp.answer = lambda params: result(None, raw=content)
    with pytest.raises(ParseError, match=words):
        poll(wp)


def test_json_that_is_not_a_list_of_posts() -> None:
    wp = FakeWordPress([])
    wp.answer = lambda params: result({"body": {"id": 7}, "status": 200, "headers": {}})
    with pytest.raises(ParseError, match=r"not a list of posts: .* answered a JSON dict"):
        poll(wp)


def test_php_warnings_before_the_json_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    wp = FakeWordPress(five_posts())
    notice = (
        b"<br />\n<b>Deprecated</b>:  Creation of dynamic property Foo::$bar is deprecated in "
        b"<b>/var/www/wp-content/plugins/foo/foo.php</b> on line <b>12</b><br />\n"
        b"PHP Warning:  Undefined array key 3 in /var/www/wp-content/themes/x/functions.php on line 4\n"
    )

    def noisy(params: dict[str, str]) -> FetchResult:
        wp.answer = None
        clean = wp.fetch(
            "https://news.example/wp-json/wp/v2/posts?"
            + "&".join(f"{k}={v}" for k, v in params.items())
        )
        wp.answer = noisy
        return result(None, raw=notice + clean.content)

    wp.answer = noisy
    with caplog.at_level(logging.WARNING, logger="bot.wordpress"):
        assert len(poll(wp).items) == 5
    assert "PHP printed warnings" in caplog.text


def test_a_bad_url_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="not an http"):
        poll(FakeWordPress([]), url="ftp://news.example/")
