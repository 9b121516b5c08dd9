"""The sample site behaves like the WordPress 6.1 it imitates (bot/demo/site.py)."""

from __future__ import annotations

import gzip
import json
import re
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests
from bs4 import BeautifulSoup

from bot.demo.articles import SampleArticle, load_sample_articles, sanitize_title
from bot.demo.site import SampleSite, SampleSiteProcess
from bot.demo.wordpress import PostView, SiteInfo, Term, render_rss

FIXTURES = Path(__file__).parents[1] / "fixtures" / "wordpress-6.1"

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
RUTO = 37070
RUTO_TITLE = "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def site(clock: Clock) -> Iterator[SampleSite]:
    with SampleSite(load_sample_articles(NOW), clock=clock) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def story(post_id: int, title: str, published: datetime, **fields: Any) -> SampleArticle:
    paragraphs = (f"{title}: first paragraph.", "Second paragraph.")
    return SampleArticle(post_id, title, paragraphs, published, **fields)


def rss(http: requests.Session, url: str) -> feedparser.FeedParserDict:
    response = http.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/rss+xml; charset=UTF-8"
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --- bundled data -----------------------------------------------------------------------------


def test_bundled_articles_are_fresh_and_multilingual() -> None:
    articles = load_sample_articles(NOW)
    assert [a.published for a in articles] == sorted((a.published for a in articles), reverse=True)
    assert all(NOW - timedelta(hours=2) < a.published <= NOW for a in articles)
    assert {a.language for a in articles} == {"en-US", "fr-FR", "ht"}
    ruto = next(a for a in articles if a.post_id == RUTO)
    assert ruto.title == RUTO_TITLE
    assert ruto.author == "Emmanuel Paul"
    assert ruto.categories == ("English", "Haiti")
    assert ruto.guid_form == "plain"
    assert ruto.paragraphs[0].startswith("At the 80th United Nations General Assembly")
    assert not any("Share This Article" in p or "ctninfo.com" in p for p in ruto.paragraphs)
    assert max(len(a.title) for a in articles) > 200  # the X fitting has work to do
    assert sum(a.image_url is not None for a in articles) >= 2


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        (RUTO_TITLE, "william-ruto-announces-the-end-of-the-kenyan-troops-mission-in-haiti"),
        ("Trinidad & Tobago, St. Vincent", "trinidad-tobago-st-vincent"),
        ("Saison cyclonique\u00a0: l’alerte", "saison-cyclonique-lalerte"),
        ("Kreyòl", "kreyol"),
    ],
)
def test_slugs_follow_wordpress(title: str, slug: str) -> None:
    assert sanitize_title(title) == slug


# --- feeds ------------------------------------------------------------------------------------


def test_rss_feed_parses_like_wordpress(site: SampleSite, http: requests.Session) -> None:
    feed = rss(http, site.url + "/feed/")
    assert feed.feed.title == "CTN Sample News"
    assert len(feed.entries) == 5
    assert feed.entries[0].published_parsed[:6] == site.articles()[0].published.timetuple()[:6]
    guids = [e.id for e in feed.entries]
    assert f"{site.url}/?p={RUTO}" in guids
    ruto = feed.entries[guids.index(f"{site.url}/?p={RUTO}")]
    assert ruto.title == RUTO_TITLE
    assert ruto.link == site.permalink(RUTO)
    assert ruto.author == "Emmanuel Paul"
    assert [t.term for t in ruto.tags][:2] == ["English", "Haiti"]
    assert "Continue reading" in ruto.summary
    assert "<p>At the 80th" in ruto.content[0].value
    long_entry = max(feed.entries, key=lambda e: len(e.title))
    assert "Trinidad & Tobago" in long_entry.title  # sent as &#038;, decoded by the parser


def test_rss_markup_is_the_one_wordpress_sends() -> None:
    """Byte for byte: the channel and the Ruto item of the captured WordPress 6.1 feed."""
    fixture = (FIXTURES / "feed-rss2.xml").read_text(encoding="utf-8")
    item = fixture[fixture.index("\t<item>") : fixture.index("</item>") + len("</item>")]
    paragraphs = tuple(re.findall(r"<p>(.*?)</p>", item.split("<content:encoded>")[1]))
    base, when = "http://127.0.0.1:8080", datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)
    article = SampleArticle(9, RUTO_TITLE, paragraphs, when, categories=("English", "Haiti"))
    link = f"{base}/2026/11/29/{article.slug}/"
    terms = (Term(2, "English", "english", "category"), Term(3, "Haiti", "haiti", "category"))
    post = PostView(article, link, link, terms, (), 1, "admin", None, None)
    site = SiteInfo(base, "Peer Test News", "A WordPress test peer")
    ours = render_rss(site, [post], self_path="/feed/", term=None, build_date=when)
    assert ours.split("\t<item>")[0] == fixture.split("\t<item>")[0]
    assert ours[ours.index("\t<item>") : ours.index("</item>") + len("</item>")] == item


def test_rss_self_link_drops_the_port_like_wordpress(
    site: SampleSite, http: requests.Session
) -> None:
    body = http.get(site.url + "/feed/").text
    assert '<atom:link href="http://127.0.0.1/feed/" rel="self"' in body
    assert "<pubDate>" in body and "+0000</pubDate>" in body


def test_atom_and_json_feeds_parse(site: SampleSite, http: requests.Session) -> None:
    atom = http.get(site.url + "/feed/atom/")
    assert atom.headers["Content-Type"] == "application/atom+xml; charset=UTF-8"
    parsed = feedparser.parse(atom.content)
    assert not parsed.bozo
    assert len(parsed.entries) == 5
    ruto = next(e for e in parsed.entries if e.id.endswith(f"?p={RUTO}"))
    assert ruto.published_parsed < ruto.updated_parsed  # edited after publication

    response = http.get(site.url + "/feed/json/")
    assert response.headers["Content-Type"] == "application/feed+json; charset=UTF-8"
    data = response.json()
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert [i["id"] for i in data["items"]] == [e.id for e in parsed.entries]
    assert {i["language"] for i in data["items"]} == {"en-US", "fr-FR", "ht"}
    assert any(i.get("image", "").endswith(".jpg") for i in data["items"])


def test_category_feeds(site: SampleSite, http: requests.Session) -> None:
    haiti = rss(http, site.url + "/category/haiti/feed/")
    assert [e.id for e in haiti.entries] == [f"{site.url}/?p={RUTO}"]
    assert haiti.feed.title == "Haiti – CTN Sample News"
    haiti_fr = rss(http, site.url + "/category/haiti-2/feed/")  # "Haïti" met "Haiti" first
    assert len(haiti_fr.entries) == 1
    assert haiti_fr.entries[0].title.startswith("Saison cyclonique")
    assert http.get(site.url + "/category/nope/feed/").status_code == 404


# --- conditional GET ---------------------------------------------------------------------------


def test_conditional_get_answers_304(site: SampleSite, http: requests.Session) -> None:
    first = http.get(site.url + "/feed/")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    by_etag = http.get(site.url + "/feed/", headers={"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["ETag"] == etag
    by_date = http.get(site.url + "/feed/", headers={"If-Modified-Since": last_modified})
    assert by_date.status_code == 304
    both = {"If-None-Match": etag, "If-Modified-Since": last_modified}
    assert http.get(site.url + "/feed/", headers=both).status_code == 304
    stale = {"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    assert http.get(site.url + "/feed/", headers=stale).status_code == 200  # WordPress: both
    assert site.hits("/feed/") == {200: 2, 304: 3}


def test_add_changes_the_etag_and_comes_first(
    site: SampleSite, http: requests.Session, clock: Clock
) -> None:
    before = http.get(site.url + "/feed/")
    clock.now = NOW + timedelta(minutes=1)
    site.add(story(37090, "Breaking: Port-au-Prince airport reopens", clock.now))
    after = http.get(site.url + "/feed/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    parsed = feedparser.parse(after.content)
    assert parsed.entries[0].title == "Breaking: Port-au-Prince airport reopens"
    assert len(parsed.entries) == 6


def test_edit_changes_the_title_and_keeps_the_guid(
    site: SampleSite, http: requests.Session, clock: Clock
) -> None:
    before = rss(http, site.url + "/feed/")
    clock.now = NOW + timedelta(minutes=3)
    site.edit(RUTO, title="Ruto Ends Kenyan Mission in Haiti")
    after = rss(http, site.url + "/feed/")
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    edited = next(e for e in after.entries if e.id.endswith(f"?p={RUTO}"))
    assert edited.title == "Ruto Ends Kenyan Mission in Haiti"
    assert edited.link == site.permalink(RUTO)  # the slug does not follow the title
    assert site.get(RUTO).modified == clock.now


def test_redate_moves_the_permalink_but_not_the_guid(
    site: SampleSite, http: requests.Session
) -> None:
    post_id = site.articles()[0].post_id
    guid, old_link = site.guid(post_id), site.permalink(post_id)
    site.redate(post_id, NOW - timedelta(days=3))
    assert site.guid(post_id) == guid
    assert site.permalink(post_id) != old_link
    moved = http.get(old_link, allow_redirects=False)
    assert moved.status_code == 301
    assert moved.headers["Location"] == site.permalink(post_id)
    assert rss(http, site.url + "/feed/").entries[-1].id == guid  # now the oldest

    assert site.set_guid_form(post_id, "plain") == f"{site.url}/?p={post_id}"
    assert rss(http, site.url + "/feed/").entries[-1].id == f"{site.url}/?p={post_id}"


# --- pages --------------------------------------------------------------------------------------


def test_plain_permalink_redirects_to_the_pretty_one(
    site: SampleSite, http: requests.Session
) -> None:
    response = http.get(f"{site.url}/?p={RUTO}", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == site.permalink(RUTO)
    assert response.headers["X-Redirect-By"] == "WordPress"
    assert http.get(f"{site.url}/?p=1", allow_redirects=False).status_code == 404
    assert site.hits(f"/?p={RUTO}") == {301: 1}


def test_article_page_has_the_tags_a_scraper_reads(
    site: SampleSite, http: requests.Session
) -> None:
    response = http.get(site.permalink(RUTO))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    page = BeautifulSoup(response.text, "html.parser")
    meta = {m.get("property") or m.get("name"): m.get("content") for m in page.find_all("meta")}
    assert page.html is not None and page.html["lang"] == "en-US"
    assert page.title is not None and page.title.string == f"{RUTO_TITLE} – CTN Sample News"
    assert meta["og:title"] == RUTO_TITLE
    assert meta["og:url"] == site.permalink(RUTO)
    assert meta["og:image"] == f"{site.url}/wp-content/uploads/2025/09/william-ruto-unga80.jpg"
    assert meta["og:image:alt"].startswith("Kenyan President William Ruto")
    assert meta["twitter:card"] == "summary_large_image"
    assert meta["article:published_time"].startswith(site.get(RUTO).published.strftime("%Y-%m"))
    canonical = page.find("link", rel="canonical")
    assert canonical is not None and canonical["href"] == site.permalink(RUTO)
    shortlink = page.find("link", rel="shortlink")
    assert shortlink is not None and shortlink["href"] == f"{site.url}/?p={RUTO}"
    categories = [a.string for a in page.select('a[rel="category tag"]')]
    assert categories == ["English", "Haiti"]
    content = page.select_one(".entry-content")
    assert content is not None
    assert "Share This Article" in content.get_text()  # chrome the scraper must drop
    assert page.select_one("#commentform") is not None
    assert page.select_one(".post-navigation") is not None


@pytest.mark.parametrize(("language", "locale"), [("fr-FR", "fr_FR"), ("ht", "ht_HT")])
def test_pages_carry_the_article_language(
    site: SampleSite, http: requests.Session, language: str, locale: str
) -> None:
    article = next(a for a in site.articles() if a.language == language)
    page = BeautifulSoup(http.get(site.permalink(article.post_id)).text, "html.parser")
    assert page.html is not None and page.html["lang"] == language
    og_locale = page.find("meta", property="og:locale")
    assert og_locale is not None and og_locale["content"] == locale


def test_article_without_og_tags(site: SampleSite, http: requests.Session) -> None:
    site.add(story(37091, "Core WordPress page", NOW, og=False))
    page = BeautifulSoup(http.get(site.permalink(37091)).text, "html.parser")
    assert page.find("meta", property="og:title") is None
    assert page.find("script", type="application/ld+json") is None
    assert page.find("link", rel="canonical") is not None


def test_deleted_posts_are_404_or_410(site: SampleSite, http: requests.Session) -> None:
    first, second = site.articles()[:2]
    link_1, link_2 = site.permalink(first.post_id), site.permalink(second.post_id)
    site.delete(first.post_id)
    site.delete(second.post_id, gone=True)
    assert http.get(link_1).status_code == 404
    assert http.get(link_2).status_code == 410
    assert http.get(f"{site.url}/?p={first.post_id}").status_code == 404
    assert len(rss(http, site.url + "/feed/").entries) == 3
    missing = http.get(site.url + "/no/such/page/")
    assert missing.status_code == 404
    assert "Nothing here" in missing.text


def test_scheduled_posts_appear_at_their_time(
    site: SampleSite, http: requests.Session, clock: Clock
) -> None:
    site.add(story(37092, "Embargoed until noon", NOW + timedelta(minutes=10)))
    assert http.get(site.url + "/feed/").text.count("Embargoed") == 0
    assert http.get(site.permalink(37092)).status_code == 404
    clock.now = NOW + timedelta(minutes=10)
    assert rss(http, site.url + "/feed/").entries[0].title == "Embargoed until noon"


def test_burst_pages_through_paged_feeds(
    site: SampleSite, http: requests.Session, clock: Clock
) -> None:
    clock.now = NOW + timedelta(minutes=5)
    for n in range(30):
        site.add(story(40000 + n, f"Burst story {n}", NOW + timedelta(seconds=n)))
    page_1 = rss(http, site.url + "/feed/")
    page_3 = rss(http, site.url + "/feed/?paged=3")
    assert len(page_1.entries) == 10
    assert page_1.entries[0].title == "Burst story 29"
    assert page_3.entries[-1].title == "Burst story 0"
    assert http.get(site.url + "/feed/?paged=9").status_code == 404
    site.posts_per_rss = 50
    assert len(rss(http, site.url + "/feed/").entries) == 35


# --- transport --------------------------------------------------------------------------------


def test_gzip_when_asked(site: SampleSite, http: requests.Session) -> None:
    with http.get(site.url + "/feed/", headers={"Accept-Encoding": "gzip"}, stream=True) as zipped:
        assert zipped.headers["Content-Encoding"] == "gzip"
        raw = zipped.raw.read(decode_content=False)
    assert gzip.decompress(raw).startswith(b'<?xml version="1.0" encoding="UTF-8"?><rss')
    plain = http.get(site.url + "/feed/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Vary"] == "Accept-Encoding"


def test_faults_and_request_log(site: SampleSite, http: requests.Session) -> None:
    site.fail_next("/feed/", 503, 2, headers={"Retry-After": "120"})
    first = http.get(site.url + "/feed/")
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "120"
    assert http.get(site.url + "/feed/").status_code == 503
    assert http.get(site.url + "/feed/").status_code == 200
    site.fail_next("/feed/atom/", 0)
    with pytest.raises(requests.ConnectionError):
        http.get(site.url + "/feed/atom/")
    assert site.hits("/feed/") == {503: 2, 200: 1}
    assert site.hits("/feed/atom/") == {0: 1}
    assert site.wait_for_requests("/feed/", 3, timeout=0)
    assert site.requests[0].headers["User-Agent"].startswith("python-requests/")
    site.reset_log()
    assert site.requests == []


def test_delay_holds_the_answer(site: SampleSite, http: requests.Session) -> None:
    site.set_delay(5.0, "/feed/")
    with pytest.raises(requests.Timeout):
        http.get(site.url + "/feed/", timeout=0.2)
    site.set_delay(0)
    assert http.get(site.url + "/feed/json/").status_code == 200


def test_images_are_real_jpegs(site: SampleSite, http: requests.Session) -> None:
    response = http.get(f"{site.url}/wp-content/uploads/2025/09/william-ruto-unga80.jpg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    body = response.content
    assert body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
    sof = body.index(b"\xff\xc0")
    height, width = struct.unpack(">HH", body[sof + 5 : sof + 9])
    assert (width, height) == (1200, 675)
    resized = http.get(f"{site.url}/wp-content/uploads/2025/09/william-ruto-unga80-300x169.jpg")
    assert resized.status_code == 200
    assert http.get(f"{site.url}/wp-content/uploads/2025/09/other.jpg").status_code == 404


def test_rest_api_posts(site: SampleSite, http: requests.Session) -> None:
    response = http.get(site.url + "/wp-json/wp/v2/posts", params={"per_page": 2, "_embed": ""})
    assert response.headers["X-WP-Total"] == "5"
    assert response.headers["X-WP-TotalPages"] == "3"
    posts = response.json()
    assert [p["id"] for p in posts] == [a.post_id for a in site.articles()[:2]]
    assert posts[0]["_embedded"]["wp:featuredmedia"][0]["source_url"].endswith(".jpg")
    ruto = http.get(f"{site.url}/wp-json/wp/v2/posts/{RUTO}").json()
    assert ruto["guid"]["rendered"] == f"{site.url}/?p={RUTO}"
    assert ruto["link"] == site.permalink(RUTO)
    assert http.get(f"{site.url}/wp-json/wp/v2/posts/1").status_code == 404


def test_restart_keeps_the_port(clock: Clock, http: requests.Session) -> None:
    site = SampleSite(load_sample_articles(NOW), clock=clock)
    with site:
        url = site.url
        assert http.get(url + "/feed/").status_code == 200
    with pytest.raises(requests.ConnectionError):
        http.get(url + "/feed/", timeout=2)
    with site:
        assert site.url == url
        assert http.get(url + "/feed/").status_code == 200


def test_wordpress_etag_mode_hashes_the_date(clock: Clock, http: requests.Session) -> None:
    with SampleSite(load_sample_articles(NOW), clock=clock, etag="wordpress") as site:
        first = http.get(site.url + "/feed/")
        site.edit(RUTO, title="Same second, new title", modified=site.articles()[0].published)
        second = http.get(site.url + "/feed/", headers={"If-None-Match": first.headers["ETag"]})
        assert second.status_code == 304  # the real WordPress quirk: the edit is invisible


# --- another process ----------------------------------------------------------------------------


def test_subprocess_site_is_driven_over_the_control_endpoint(http: requests.Session) -> None:
    with SampleSiteProcess() as remote:
        assert remote.url.startswith("http://127.0.0.1:")
        before = feedparser.parse(http.get(remote.url + "/feed/").content)
        assert len(before.entries) == 5
        added = remote.add({"title": "Added from another process", "paragraphs": ["Hello."]})
        assert added["state"] == "publish"
        after = feedparser.parse(http.get(remote.url + "/feed/").content)
        assert after.entries[0].title == "Added from another process"
        assert after.entries[0].id == added["guid"]
        remote.edit(added["article"]["post_id"], title="Edited remotely")
        remote.delete(RUTO)
        titles = [
            e.title for e in feedparser.parse(http.get(remote.url + "/feed/").content).entries
        ]
        assert titles[0] == "Edited remotely"
        assert RUTO_TITLE not in titles
        assert remote.hits("/feed/") == {200: 3}
        bad = http.post(remote.url + "/_control/edit", data=json.dumps({"post_id": 1}))
        assert bad.status_code == 404
