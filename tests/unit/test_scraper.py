"""bot.scraper: real WordPress 6.1 pages and hand-made edge cases, no network."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.models import Article, FeedItem, Image
from bot.scraper import BOILERPLATE_LINES, article_from_item, parse_article

FIXTURES = Path(__file__).parents[1] / "fixtures"
WP = FIXTURES / "wordpress-6.1"
SITE = "http://127.0.0.1:8080"
RUTO_URL = (
    f"{SITE}/2026/11/29/william-ruto-announces-the-end-of-the-kenyan-troops-mission-in-haiti/"
)
RUTO_OG = "article-william-ruto-announces-the-end-of-the-kenyan-troops-mission-in-haiti.html"
RUTO_NO_OG = "article-ruto-without-og-tags.html"
RUTO_TITLE = "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"
RUTO_FIRST = (
    "The mandate of this force, which is set to expire in the coming days, has achieved "
    "tangible progress but remains weakened by a lack of resources, said William Ruto."
)
PUBLISHED = datetime(2026, 11, 29, 12, 51, 19, tzinfo=UTC)
SAMPLE_PNG = Image(f"{SITE}/wp-content/uploads/2026/11/sample.png", "", 1200, 630)

# Text that WordPress (theme, comment form, widgets, footer) puts around every article.
PAGE_CHROME = (
    "Share This Article",
    "Continue reading",
    "Leave a comment",
    "Your email address will not be published",
    "Save my name, email, and website",
    "Post Comment",
    "Recent Posts",
    "Recent Comments",
    "Archives",
    "Proudly powered by",
    "Skip to content",
    "Previous post",
    "Categorized as",
    "A WordPress test peer",
    "Hi, this is a comment",
)


def read(name: str) -> bytes:
    return (WP / name).read_bytes()


def page(head: str = "", body: str = "", *, lang: str = "en", body_class: str = "") -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">{head}</head>'
        f'<body class="{body_class}">{body}</body></html>'
    )


def ruto_item(**changes: object) -> FeedItem:
    """The Ruto entry as WordPress's RSS feed gives it (summary with its teaser tail)."""
    item = FeedItem(
        source_id="peer-en",
        guid=RUTO_URL,
        link=RUTO_URL,
        title=RUTO_TITLE,
        summary=(
            f"{RUTO_FIRST} For several months, about a thousand Kenyan soldiers have led the "
            "MSSM in Haiti, a country gripped by a major security crisis. From the UN podium,… "
            f"Continue reading {RUTO_TITLE}"
        ),
        published=PUBLISHED,
        authors=("admin",),
        categories=("English", "Haiti"),
        language="en-US",
    )
    return replace(item, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The real WordPress pages

FIXTURE_PAGES = [
    pytest.param(
        RUTO_OG,
        {
            "url": RUTO_URL,
            "title": RUTO_TITLE,
            "wp_post_id": 9,
            "tags": ("English", "Haiti"),
            "section": "English",
            # og:description glues "Ruto.For" and ends "…": fixed, cut to the whole sentence
            "description": RUTO_FIRST,
            "image": None,
        },
        ("The mandate of this force",),
        (
            "From the UN podium, William Ruto welcomed the “considerable progress”",
            "Since the assassination of former President Jovenel Moïse in 2021",
            "but without announcing any new troop deployments.",
        ),
        id="ruto-og",
    ),
    pytest.param(
        RUTO_NO_OG,
        {
            "url": RUTO_URL,
            "title": RUTO_TITLE,
            "wp_post_id": 9,
            "tags": ("English", "Haiti"),
            "section": "English",
            "description": RUTO_FIRST,  # no meta description: the lead's first sentence
            "image": None,
        },
        ("The mandate of this force",),
        ("A large share of contributions announced by member states has yet to be disbursed",),
        id="ruto-without-og",
    ),
    pytest.param(
        "article-both-categories-english-and-haiti.html",
        {
            "url": f"{SITE}/2026/11/29/both-categories-english-and-haiti/",
            "title": "Both categories: English and Haiti",
            "wp_post_id": 7,
            "tags": ("English", "Haiti"),
            "section": "English",
            "description": "A post filed under both categories.",
            "image": SAMPLE_PNG,  # og:image, sized by the featured <img class=wp-post-image>
        },
        ("A post filed under both categories.",),
        ("A post filed under both categories.",),
        id="both-categories",
    ),
    pytest.param(
        "article-hello-from-the-english-desk.html",
        {
            "url": f"{SITE}/2026/11/29/hello-from-the-english-desk/",
            "title": "Hello from the English desk",
            "wp_post_id": 5,
            "tags": ("English",),
            "section": "English",
            "description": "Short English summary.",
            "image": SAMPLE_PNG,
        },
        ("First English post. It has a link.",),
        ("Second paragraph with more text for scraping.",),
        id="english-desk",
    ),
    pytest.param(
        "article-hello-world.html",
        {
            "url": f"{SITE}/2026/11/29/hello-world/",
            "title": "Hello world!",
            "wp_post_id": 1,
            "tags": ("Uncategorized",),
            "section": "Uncategorized",
            "description": (
                "Welcome to WordPress. This is your first post. Edit or delete it, then start "
                "writing!"
            ),
            "image": None,
        },
        ("Welcome to WordPress.",),
        ("Edit or delete it, then start writing!",),
        id="hello-world-with-a-comment",
    ),
    pytest.param(
        "article-nouvel-ayiti-premye-atik.html",
        {
            "url": f"{SITE}/2026/11/29/nouvel-ayiti-premye-atik/",
            "title": "Nouvèl Ayiti: premye atik",
            "wp_post_id": 6,
            "tags": ("Haiti",),
            "section": "Haiti",
            "description": "Rezime kout.",
            "image": None,
        },
        ("Atik sa a se an kreyòl.",),
        ("Accents: é è ò — “quotes” & emoji 🇭🇹.",),
        id="kreyol-entities-emoji",
    ),
    pytest.param(
        "article-another-english-story.html",
        {
            "url": f"{SITE}/2026/11/29/another-english-story/",
            "title": "Another English story",
            "wp_post_id": 8,
            "tags": ("English",),
            "section": "English",
            # cut mid-word ("dolor sit…") in og:description: back to the last whole sentence
            "description": "Plain post without excerpt or image."
            + " Lorem ipsum dolor sit amet." * 6,
            "image": None,
        },
        ("Plain post without excerpt or image.",),
        ("Lorem ipsum dolor sit amet. Lorem ipsum dolor sit amet.",),
        id="another-story",
    ),
]


@pytest.mark.parametrize(("name", "expected", "lead_starts", "body_has"), FIXTURE_PAGES)
def test_wordpress_pages(
    name: str,
    expected: dict[str, object],
    lead_starts: tuple[str, ...],
    body_has: tuple[str, ...],
) -> None:
    article = parse_article(read(name), f"{SITE}/?p=fetched")

    assert {key: getattr(article, key) for key in expected} == expected
    assert article.lead.startswith(lead_starts)
    assert article.lead in article.body
    for sentence in body_has:
        assert sentence in article.body
    for chrome in PAGE_CHROME:
        assert chrome not in article.body, chrome
    assert not article.body.startswith(article.title)
    assert article.language == "en"  # the site says en-US everywhere, even on the Kreyòl post
    assert article.published == PUBLISHED or article.published == PUBLISHED - timedelta(seconds=1)
    assert article.authors == ("admin",)
    assert article.site_name == "Peer Test News"
    assert article.source_id is None


def test_ruto_body_is_the_whole_article_and_nothing_else() -> None:
    article = parse_article(read(RUTO_OG), RUTO_URL)
    paragraphs = article.body.split("\n\n")

    assert paragraphs[0] == RUTO_FIRST
    assert paragraphs[-1].endswith("without announcing any new troop deployments.")
    assert "A still unstable political and security context" in paragraphs  # the subheading
    assert len(paragraphs) == 16


def test_page_without_og_tags_reads_like_the_page_with_them() -> None:
    with_og = parse_article(read(RUTO_OG), RUTO_URL)
    without = parse_article(read(RUTO_NO_OG), RUTO_URL)

    for name in (
        "url",
        "title",
        "lead",
        "body",
        "description",
        "wp_post_id",
        "tags",
        "section",
        "published",
        "language",
        "authors",
        "site_name",  # from <title>'s " – Peer Test News", known from the RSS <link> title
    ):
        assert getattr(without, name) == getattr(with_og, name), name


def test_feed_item_fills_gaps_but_the_page_wins() -> None:
    item = ruto_item(
        categories=("English", "Haiti", "Kenya"),
        authors=("Emmanuel Paul",),
        image=Image("/wp-content/uploads/ruto.jpg", "William Ruto at the UN"),
        wp_post_id=37070,
    )
    article = parse_article(read(RUTO_NO_OG), RUTO_URL, item=item)

    assert article.title == RUTO_TITLE
    assert article.tags == ("English", "Haiti", "Kenya")
    assert article.authors == ("admin",)  # the page's byline beats the feed's
    assert article.wp_post_id == 9  # the page's shortlink beats the feed's
    assert article.image == Image(f"{SITE}/wp-content/uploads/ruto.jpg", "William Ruto at the UN")
    assert article.source_id == "peer-en"
    # No meta description on this page: the feed's excerpt, teaser tail removed.
    assert article.description == (
        f"{RUTO_FIRST} For several months, about a thousand Kenyan soldiers have led the MSSM "
        "in Haiti, a country gripped by a major security crisis."
    )


def test_seed_article_text_keeps_the_story_and_drops_the_rest() -> None:
    """The CTN seed article, every line a paragraph, bio and share button included."""
    lines = (FIXTURES / "ctn-article-ruto-haiti.txt").read_text(encoding="utf-8").splitlines()
    paragraphs = "".join(f"<p>{line}</p>" for line in lines[1:] if line.strip())
    html = page(f"<title>{lines[0]} &#8211; CTN News</title>", f"<article>{paragraphs}</article>")

    article = parse_article(html, "https://ctninfo.com/?p=37070", default_language="en")

    assert article.title == "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"
    assert article.wp_post_id == 37070
    assert article.lead.startswith("At the 80th United Nations General Assembly, Kenyan")
    assert article.description == article.lead  # one sentence
    assert "From the UN podium, William Ruto welcomed" in article.body
    assert article.body.endswith("without announcing any new troop deployments.")
    assert "Share This Article" not in article.body
    assert "https://" not in article.body  # embed URLs on their own lines


# --------------------------------------------------------------------------------------------
# JSON-LD

YOAST_GRAPH = """
<script type="application/ld+json" class="yoast-schema-graph">{"@context":"https://schema.org",
"@graph":[
 {"@type":"NewsArticle","@id":"https://ctn.example/2026/01/05/gangs/#article",
  "isPartOf":{"@id":"https://ctn.example/2026/01/05/gangs/"},
  "author":{"@id":"https://ctn.example/#/schema/person/1"},
  "headline":"Gangs retreat from Delmas &#8211; a first",
  "datePublished":"2026-01-05T08:30:00-05:00",
  "mainEntityOfPage":{"@id":"https://ctn.example/2026/01/05/gangs/"},
  "publisher":{"@id":"https://ctn.example/#organization"},
  "image":{"@id":"https://ctn.example/2026/01/05/gangs/#primaryimage"},
  "keywords":["Gangs","Delmas"],"articleSection":["Haiti","Kreyòl"],"inLanguage":"ht"},
 {"@type":"WebPage","@id":"https://ctn.example/2026/01/05/gangs/",
  "url":"https://ctn.example/2026/01/05/gangs/","name":"Gangs retreat - CTN","inLanguage":"en-US"},
 {"@type":"ImageObject","@id":"https://ctn.example/2026/01/05/gangs/#primaryimage",
  "url":"https://ctn.example/wp-content/uploads/2026/01/gangs.jpg","width":1600,"height":900,
  "caption":"Police patrol in Delmas"},
 {"@type":["Person"],"@id":"https://ctn.example/#/schema/person/1","name":"Emmanuel Paul"},
 {"@type":"Organization","@id":"https://ctn.example/#organization","name":"CTN News"}
]}</script>
"""

PLAIN_NEWS_ARTICLE = """
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "broken</script>
<script type="application/ld+json">[{"@context": "https://schema.org", "@type": "BreadcrumbList"},
{"@context": "https://schema.org", "@type": "NewsArticle",
 "url": "https://ctninfo.com/?p=37070",
 "headline": "Haiti's council meets",
 "description": "The council met on Monday.For the first time since June.",
 "author": [{"@type": "Person", "name": "Jean Dupont"}, {"@type": "Person", "name": "Marie Claire"},
            "https://ctninfo.com/author/jean/"],
 "image": ["/uploads/council.jpg", "/uploads/council-4x3.jpg"],
 "keywords": "Haiti, Politics, haiti",
 "datePublished": "2026-02-01T10:00:00Z",
 "publisher": {"@type": "Organization", "name": "CTN"},
}]</script>
"""


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(
            YOAST_GRAPH,
            {
                "title": "Gangs retreat from Delmas – a first",
                "authors": ("Emmanuel Paul",),
                "published": datetime(2026, 1, 5, 13, 30, tzinfo=UTC),
                "image": Image(
                    "https://ctn.example/wp-content/uploads/2026/01/gangs.jpg",
                    "Police patrol in Delmas",
                    1600,
                    900,
                ),
                "tags": ("Gangs", "Delmas", "Haiti", "Kreyòl"),
                "section": "Haiti",
                "language": "ht",  # the article's inLanguage beats <html lang="en">
                "site_name": "CTN News",
                "wp_post_id": None,
            },
            id="yoast-graph-with-references",
        ),
        pytest.param(
            PLAIN_NEWS_ARTICLE,
            {
                "title": "Haiti's council meets",
                "description": "The council met on Monday. For the first time since June.",
                "authors": ("Jean Dupont", "Marie Claire"),
                "published": datetime(2026, 2, 1, 10, 0, tzinfo=UTC),
                "image": Image("https://ctn.example/uploads/council.jpg"),
                "tags": ("Haiti", "Politics"),
                "section": None,  # keywords are not sections
                "language": "en",
                "site_name": "CTN",
                "wp_post_id": 37070,
            },
            id="plain-object-in-a-list-after-a-broken-block",
        ),
    ],
)
def test_json_ld(head: str, expected: dict[str, object]) -> None:
    html = page(head, "<article><p>Short body text for the article page here.</p></article>")
    article = parse_article(html, "https://ctn.example/2026/01/05/gangs/")

    assert {key: getattr(article, key) for key in expected} == expected


def test_json_ld_beats_meta_tags_and_a_cut_headline_loses_to_og_title() -> None:
    head = (
        '<meta property="og:title" content="A very long headline that the plugin cut short">'
        '<meta name="author" content="admin">'
        '<script type="application/ld+json">{"@type":"Article","headline":"A very long headline'
        ' that the plugin…","author":{"@type":"Person","name":"Jean Dupont"}}</script>'
    )
    article = parse_article(page(head), "https://ctn.example/a/")

    assert article.title == "A very long headline that the plugin cut short"
    assert article.authors == ("Jean Dupont",)


# --------------------------------------------------------------------------------------------
# Titles, descriptions, images, authors, dates, languages


@pytest.mark.parametrize(
    ("head", "title", "site_name"),
    [
        pytest.param(
            '<meta property="og:title"'
            ' content="Ruto&amp;#8217;s &lt;em&gt;mission&lt;/em&gt; ends">',
            "Ruto’s mission ends",
            None,
            id="twice-encoded-entity-and-markup-in-og-title",
        ),
        pytest.param(
            "<title>Haiti &amp; Kenya: what&#8217;s next? &#8211; CTN</title>",
            "Haiti & Kenya: what’s next?",
            "CTN",
            id="en-dash-suffix-guessed",
        ),
        pytest.param(
            '<meta property="og:site_name" content="CTN">'
            "<title>CTN | Haiti&#039;s new council</title>",
            "Haiti's new council",
            "CTN",
            id="site-name-prefix",
        ),
        pytest.param(
            '<link rel="alternate" type="application/rss+xml" title="Peer Test News &raquo; Feed"'
            ' href="/feed/"><title>Ruto speaks - Peer Test News</title>',
            "Ruto speaks",
            "Peer Test News",
            id="hyphen-suffix-known-from-the-feed-link",
        ),
        pytest.param(
            "<title>Kenya-led mission - a review</title>",
            "Kenya-led mission - a review",
            None,
            id="hyphen-not-guessed",
        ),
        pytest.param(
            "<title>Haiti\u200b\u00a0 news\n\t<b>today</b></title>",
            "Haiti news today",
            None,
            id="invisible-chars-and-whitespace",
        ),
        pytest.param(
            '<meta property="og:site_name" content="CTN"><title>CTN</title>',
            "CTN",
            "CTN",
            id="title-is-only-the-site-name",
        ),
        pytest.param(
            '<title></title><meta name="twitter:title" content="From twitter:title">',
            "From twitter:title",
            None,
            id="twitter-title",
        ),
    ],
)
def test_titles(head: str, title: str, site_name: str | None) -> None:
    article = parse_article(page(head), "https://ctn.example/a/")

    assert (article.title, article.site_name) == (title, site_name)


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "Ruto spoke.For months, troops led the mission.",
            "Ruto spoke. For months, troops led the mission.",
        ),
        ("He said “enough.”Then he left.", "He said “enough.” Then he left."),
        (
            "The U.S. and U.N. agreed. Version 3.5 shipped.",
            "The U.S. and U.N. agreed. Version 3.5 shipped.",
        ),
        ("Sentence one is here. Sentence two is cut…", "Sentence one is here."),
        (
            "A single long sentence that was cut in the…",
            "A single long sentence that was cut in the…",
        ),
        ("Summary here. [&hellip;]", "Summary here."),
        ("Excerpt. More text here&#8230; Continue reading Title?", "Excerpt."),
        ("Summary. The post Foo appeared first on CTN News.", "Summary."),
        ("Kreyòl.Èske w konnen?", "Kreyòl. Èske w konnen?"),
    ],
)
def test_descriptions_are_tidied(description: str, expected: str) -> None:
    head = f'<title>T</title><meta property="og:description" content="{description}">'
    assert parse_article(page(head), "https://ctn.example/a/").description == expected


def test_description_falls_back_to_the_leads_first_sentence() -> None:
    body = (
        "<article><p>By Jean Dupont</p><p>November 29, 2026 12:51</p>"
        "<p>Mr. Ruto spoke at the U.N. on Tuesday. He said more.</p></article>"
    )
    article = parse_article(page("<title>T</title>", body), "https://ctn.example/a/")

    assert article.lead == "Mr. Ruto spoke at the U.N. on Tuesday. He said more."
    assert article.description == "Mr. Ruto spoke at the U.N. on Tuesday."


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        pytest.param(
            '<meta property="og:image" content="/wp-content/uploads/a.jpg">'
            '<meta property="og:image:width" content="1200">'
            '<meta property="og:image:height" content="630">'
            '<meta property="og:image:alt" content="Port-au-Prince &amp; its bay">'
            '<meta property="og:image" content="/second.jpg">'
            '<meta property="og:image:alt" content="not this one">',
            "",
            Image(
                "https://ctn.example/wp-content/uploads/a.jpg",
                "Port-au-Prince & its bay",
                1200,
                630,
            ),
            id="root-relative-og-image-with-its-properties",
        ),
        pytest.param(
            '<meta name="twitter:image" content="//cdn.example/b.jpg">'
            '<meta name="twitter:image:alt" content="A map">',
            "",
            Image("https://cdn.example/b.jpg", "A map"),
            id="protocol-relative-twitter-image",
        ),
        pytest.param(
            "",
            '<article class="hentry"><img class="attachment-post-thumbnail wp-post-image"'
            ' src="../../uploads/c.jpg" alt="Troops in Haiti" width="800" height="450"></article>',
            Image("https://ctn.example/2026/01/uploads/c.jpg", "Troops in Haiti", 800, 450),
            id="dot-dot-relative-featured-image",
        ),
        pytest.param(
            '<base href="https://static.example/media/">',
            '<img class="wp-post-image" src="data:image/gif;base64,R0lGOD" data-src="d.jpg">',
            Image("https://static.example/media/d.jpg"),
            id="lazy-featured-image-against-base-href",
        ),
        pytest.param(
            '<meta property="og:image" content="javascript:alert(1)">', "", None, id="not-http"
        ),
    ],
)
def test_images_are_absolute(head: str, body: str, expected: Image | None) -> None:
    url = "https://ctn.example/2026/01/05/gangs/"
    assert parse_article(page("<title>T</title>" + head, body), url).image == expected


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        pytest.param(
            '<meta name="author" content="Jean Dupont">',
            '<article><a rel="author" href="/author/admin/">admin</a></article>',
            ("Jean Dupont",),
            id="meta-author-beats-byline",
        ),
        pytest.param(
            '<meta property="article:author" content="https://facebook.com/ctn">',
            '<article><span class="author"><a href="/a/ep">By Emmanuel Paul</a></span>'
            '<span class="author"><a href="/a/ep">Emmanuel  Paul</a></span></article>',
            ("Emmanuel Paul",),
            id="article-author-url-skipped-byline-deduplicated",
        ),
        pytest.param(
            "",
            '<article class="hentry"><p>Text.</p></article><ol><li class="comment">'
            '<span class="comment-author vcard"><b class="fn">A Commenter</b></span></li></ol>',
            ("Feed Author",),
            id="commenters-are-not-authors-feed-fills-in",
        ),
    ],
)
def test_authors(head: str, body: str, expected: tuple[str, ...]) -> None:
    item = FeedItem("src", None, None, "T", authors=("Feed Author",))
    article = parse_article(
        page("<title>T</title>" + head, body), "https://x.example/a/", item=item
    )
    assert article.authors == expected


@pytest.mark.parametrize(
    ("head", "body", "expected"),
    [
        (
            '<meta property="article:published_time" content="2026-01-05T08:30:00Z">',
            "",
            datetime(2026, 1, 5, 8, 30, tzinfo=UTC),
        ),
        (
            "",
            '<article><time datetime="2026-01-05T08:30:00-05:00">Jan 5</time></article>',
            datetime(2026, 1, 5, 13, 30, tzinfo=UTC),
        ),
        (
            '<meta property="article:published_time" content="2026-01-05T08:30:00">',
            "",
            datetime(2026, 1, 5, 8, 30, tzinfo=UTC),
        ),
        (
            '<meta property="article:published_time" content="Mon, 05 Jan 2026 08:30:00 +0100">',
            "",
            datetime(2026, 1, 5, 7, 30, tzinfo=UTC),
        ),
        (
            '<meta property="article:published_time" content="last Tuesday">',
            "",
            datetime(2025, 12, 31, 23, 0, tzinfo=UTC),  # the feed's date
        ),
    ],
)
def test_published_is_aware_utc(head: str, body: str, expected: datetime) -> None:
    item = FeedItem(
        "src", None, None, "T", published=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    )
    article = parse_article(
        page("<title>T</title>" + head, body), "https://x.example/a/", item=item
    )
    assert article.published == expected
    assert article.published is not None
    assert article.published.tzinfo is UTC


@pytest.mark.parametrize(
    ("head", "lang", "item_language", "default", "expected"),
    [
        ('<meta property="og:locale" content="fr_FR">', "en-US", None, None, "fr"),
        ("", "ht", "en", "es", "ht"),
        ("", "", "fr-HT", "es", "fr"),
        ("", "", None, "es", "es"),
        ("", "x-garbage!", None, "EN", "en"),
        ("", "", None, None, None),
    ],
)
def test_language_priority(
    head: str, lang: str, item_language: str | None, default: str | None, expected: str | None
) -> None:
    item = FeedItem("src", None, None, "T", language=item_language)
    html = page("<title>T</title>" + head, lang=lang)
    article = parse_article(html, "https://x.example/a/", item=item, default_language=default)
    assert article.language == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (
            '<link rel="canonical" href="/2026/01/05/gangs/">',
            "https://ctn.example/2026/01/05/gangs/",
        ),
        ('<meta property="og:url" content="https://ctn.example/og/">', "https://ctn.example/og/"),
        ('<link rel="canonical" href="https://ctn.example/">', "https://ctn.example/x/?utm=1"),
        ("", "https://ctn.example/x/?utm=1"),
    ],
    ids=["relative-canonical", "og-url", "home-page-canonical-ignored", "fetch-url"],
)
def test_canonical_url(head: str, expected: str) -> None:
    assert (
        parse_article(page("<title>T</title>" + head), "https://ctn.example/x/?utm=1").url
        == expected
    )


# --------------------------------------------------------------------------------------------
# Bytes, broken pages, fallbacks


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b'<html><head><meta charset="windows-1252"><title>Troops\x92 Mission</title>',
            "Troops’ Mission",
            id="meta-charset-windows-1252",
        ),
        pytest.param(
            b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
            b"<title>Caf\xe9 \x96 Ayiti</title>",
            "Café – Ayiti",
            id="http-equiv-latin-1-read-as-windows-1252",
        ),
        pytest.param("<title>Nouvèl Ayiti</title>".encode(), "Nouvèl Ayiti", id="utf-8-undeclared"),
        pytest.param(
            b"\xef\xbb\xbf<title>Nouv\xc3\xa8l</title>", "Nouvèl", id="utf-8-byte-order-mark"
        ),
        pytest.param(
            b'<meta charset="utf-8"><title>Caf\xe9</title>', "Café", id="declared-utf-8-but-not"
        ),
        pytest.param(
            b"<?xml version='1.0' encoding='iso-8859-1'?>\n"
            b"<html><title>Caf\xe9 Ayiti</title></html>",
            "Café Ayiti",
            id="xhtml-declaration",
        ),
    ],
)
def test_bytes_are_decoded(data: bytes, expected: str) -> None:
    assert parse_article(data, "https://x.example/a/").title == expected


NOTHING_PAGES = [
    pytest.param("", id="empty-str"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param("<html><head></head><body></body></html>", id="empty-document"),
    pytest.param("<<<>>> <p <div", id="garbage"),
    pytest.param(b"\xff\xfe\x00\xd8 binary", id="binary"),
    pytest.param("https://example.com/a.html", id="a-url-not-markup"),
    pytest.param(
        "<html><head><title>Page not found &#8211; CTN</title></head>"
        '<body class="error404"><p>Nothing here. Try a search?</p></body></html>',
        id="wordpress-404",
    ),
    pytest.param(
        '<html><head><title>CTN &#8211; News</title></head><body class="home blog">'
        "<article><p>Another story on the home page, not ours at all.</p></article></body></html>",
        id="redirected-to-the-home-page",
    ),
]


@pytest.mark.parametrize("html", NOTHING_PAGES)
def test_a_page_with_nothing_falls_back_to_the_item(html: str | bytes) -> None:
    item = ruto_item(content_html="<p>Only the feed knows this story well enough.</p>")

    article = parse_article(html, RUTO_URL, item=item, default_language="fr")

    assert article == article_from_item(item, default_language="fr")
    assert article.title == RUTO_TITLE
    assert article.lead == "Only the feed knows this story well enough."


@pytest.mark.parametrize("html", NOTHING_PAGES)
def test_nothing_at_all_raises_parse_error(html: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_article(html, "https://x.example/a/")


def test_an_item_without_a_title_does_not_help() -> None:
    item = FeedItem("src", "g", "https://x.example/a/", "  <b></b> ")
    with pytest.raises(ParseError):
        parse_article("<p>text</p>", "https://x.example/a/", item=item)
    with pytest.raises(ParseError):
        article_from_item(item)


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>Unclosed <b>title</head><body><p>Text <div>nested</p></span>",
        "<title>T</title>" + "<div>" * 3000 + "deep" + "</div>" * 10,
        '<title>T</title><script type="application/ld+json">' + "[" * 5000 + "</script>",
        "<title>T</title><table><tr><td>cell<p>para</td></tr>",
        "<rss><channel><title>A feed, not a page</title></channel></rss>",
    ],
    ids=["unclosed-tags", "deep-nesting", "deep-json", "broken-table", "xml-not-html"],
)
def test_malformed_pages_do_not_raise(html: str) -> None:
    article = parse_article(html, "https://x.example/a/")
    assert article.title
    assert "<" not in article.title


BOILERPLATE = [
    "Share This Article",
    "SHARE THIS ARTICLE",
    "Share this:",
    "Like this:",
    "Like Loading...",
    "Continue reading →",
    "Continue reading William Ruto Announces the End…",
    "Read more",
    "Leave a Reply Cancel reply",
    "Leave a comment",
    "Your email address will not be published. Required fields are marked *",
    "Posted in English, Haiti",
    "Tags: Haiti, Kenya",
    "Categories: English Haiti",
    "Related",
    "You may also like",
    "This website uses cookies to improve your experience. Accept",
    "We use cookies.",
    "The post William Ruto Announces the End appeared first on CTN News.",
    "Skip to content",
    "Advertisement",
    "https://ctninfo.com/?p=37070&preview=true",
]
NOT_BOILERPLATE = [
    "Related reporting shows the share of displaced people has grown.",
    "Posted in haste, the letter was never read.",
    "Category 5 hurricanes have hit Haiti four times",
    "Share prices fell in Port-au-Prince on Monday.",
    "Read more books, the minister told pupils.",
]


@pytest.mark.parametrize("line", BOILERPLATE)
def test_boilerplate_lines_never_reach_the_body(line: str) -> None:
    story = "Gangs left Delmas on Monday, residents said."
    body = f"<article><p>{story}</p><p>{line}</p><p>{story} Again.</p></article>"
    article = parse_article(page("<title>T</title>", body), "https://x.example/a/")

    assert article.body == f"{story}\n\n{story} Again."


@pytest.mark.parametrize("line", NOT_BOILERPLATE)
def test_prose_that_looks_like_boilerplate_stays(line: str) -> None:
    body = f"<article><p>Gangs left Delmas on Monday, residents said.</p><p>{line}</p></article>"
    article = parse_article(page("<title>T</title>", body), "https://x.example/a/")

    assert article.body.endswith(line)


def test_boilerplate_lines_is_a_tuple_of_patterns() -> None:
    assert isinstance(BOILERPLATE_LINES, tuple)
    assert all(re.compile(pattern) for pattern in BOILERPLATE_LINES)


# --------------------------------------------------------------------------------------------
# Feed items alone


def test_article_from_item() -> None:
    item = FeedItem(
        source_id="ctn-en",
        guid="https://ctninfo.com/?p=37070",
        link="https://ctninfo.com/2025/09/24/william-ruto-announces-the-end/",
        title="William Ruto Announces the End of the Kenyan Troops&#8217; Mission in Haiti",
        summary=(
            "At the 80th United Nations General Assembly, Kenyan President William Ruto "
            "delivered a mixed assessment of the MSSM deployed in Haiti. The mandate of "
            "this&#8230; Continue reading"
        ),
        content_html=(
            "<p><strong>By Emmanuel Paul</strong></p>"
            '<figure class="wp-block-image"><img src="/wp-content/uploads/2025/09/ruto.jpg"'
            ' alt="Kenyan President William Ruto at the UN" width="1200" height="800">'
            "<figcaption>William Ruto at the UNGA</figcaption></figure>"
            "<p>At the 80th United Nations General Assembly, Kenyan President William Ruto "
            "delivered a mixed assessment of the Multinational Security Support Mission "
            "(MSSM) deployed in Haiti.</p>"
            "<p>The mandate of this force has achieved tangible progress but remains weakened "
            "by a lack of resources, said William&nbsp;Ruto.</p>"
            "<p>Share This Article</p>"
            '<p>The post <a href="https://ctninfo.com/?p=37070">William Ruto Announces the '
            'End</a> appeared first on <a href="https://ctninfo.com">CTN News</a>.</p>'
        ),
        published=datetime(2025, 9, 24, 14, 3, tzinfo=timezone(timedelta(hours=-4))),
        authors=("Emmanuel Paul", "emmanuel paul"),
        categories=("English", "Haiti", "english"),
        language="en-US",
    )

    assert article_from_item(item) == Article(
        url="https://ctninfo.com/2025/09/24/william-ruto-announces-the-end/",
        title="William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti",
        description=(
            "At the 80th United Nations General Assembly, Kenyan President William Ruto "
            "delivered a mixed assessment of the MSSM deployed in Haiti."
        ),
        lead=(
            "At the 80th United Nations General Assembly, Kenyan President William Ruto "
            "delivered a mixed assessment of the Multinational Security Support Mission "
            "(MSSM) deployed in Haiti."
        ),
        body=(
            "By Emmanuel Paul\n\n"
            "At the 80th United Nations General Assembly, Kenyan President William Ruto "
            "delivered a mixed assessment of the Multinational Security Support Mission "
            "(MSSM) deployed in Haiti.\n\n"
            "The mandate of this force has achieved tangible progress but remains weakened "
            "by a lack of resources, said William Ruto."
        ),
        image=Image(
            "https://ctninfo.com/wp-content/uploads/2025/09/ruto.jpg",
            "Kenyan President William Ruto at the UN",
            1200,
            800,
        ),
        authors=("Emmanuel Paul",),
        published=datetime(2025, 9, 24, 18, 3, tzinfo=UTC),
        section="English",
        tags=("English", "Haiti"),
        language="en",
        site_name=None,
        wp_post_id=37070,
        source_id="ctn-en",
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"content_html": None},
            {
                "lead": f"{RUTO_FIRST} For several months, about a thousand Kenyan soldiers have "
                "led the MSSM in Haiti, a country gripped by a major security crisis.",
                "language": "en",
                "wp_post_id": None,
            },
            id="summary-only",
        ),
        pytest.param(
            {"content_html": None, "summary": "", "language": None, "guid": "https://x/?p=12"},
            {"lead": "", "description": "", "body": "", "language": "ht", "wp_post_id": 12},
            id="title-only",
        ),
        pytest.param(
            {"content_html": "Plain text first line.\n\nSecond paragraph of it.", "summary": ""},
            {"lead": "Plain text first line.", "description": "Plain text first line."},
            id="content-without-markup",
        ),
    ],
)
def test_article_from_sparse_items(changes: dict[str, object], expected: dict[str, object]) -> None:
    article = article_from_item(ruto_item(**changes), default_language="ht")

    assert article.title == RUTO_TITLE
    assert {key: getattr(article, key) for key in expected} == expected
