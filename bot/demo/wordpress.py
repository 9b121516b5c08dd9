"""WordPress 6.1 markup for the sample site: feeds, pages and REST JSON, as pure functions.

Everything here copies the shape of ``tests/fixtures/wordpress-6.1/`` (captured from a real
WordPress 6.1.9 with the Twenty Twenty-One theme), down to the quirks a client must survive:

- RSS ``pubDate`` in RFC 822 with ``+0000``; ``guid isPermaLink="false"``; categories then
  tags as ``<category>``; the auto excerpt is 55 words, ``&#8230;`` and a "Continue reading"
  link; a manual excerpt is sent as written.
- The feed's ``atom:link rel="self"`` drops the port (WordPress 6.1 does): do not trust it.
- Titles are escaped the WordPress way (``&`` -> ``&#038;``); feeds carry no image.
- Article pages carry og:/article:/twitter: tags and a JSON-LD graph as an SEO plugin (Yoast)
  would, unless the article says ``og=False``; a Jetpack-style "Share This Article" box sits at
  the end of ``.entry-content``, followed by the byline footer, author bio, comment form,
  post navigation and widgets: the chrome a scraper must drop.

The functions take values (:class:`SiteInfo`, :class:`PostView`) and return ``str`` or JSON-ready
dicts; they never read the clock or the network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from bot.demo.articles import SampleArticle

WP_VERSION = "6.1.9"
EXCERPT_WORDS = 55  # WordPress's excerpt_length
OG_DESCRIPTION_WORDS = 40  # what the SEO plugin of the fixtures cuts og:description to
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_BLOCK_START = re.compile(r"^\s*<(h[1-6]|blockquote|ul|ol|figure|div|table|pre)\b", re.IGNORECASE)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_WP_WHITESPACE = re.compile(r"[\n\r\t ]+")  # wp_trim_words splits on these only (not NBSP)


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """Site-wide settings. ``url`` is the base, without a trailing slash."""

    url: str
    name: str
    tagline: str
    language: str = "en-US"

    def self_link(self, path: str) -> str:
        """``url + path`` with the port dropped, as WordPress 6.1 writes ``rel="self"``."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.hostname or "", path, "", ""))


@dataclass(frozen=True, slots=True)
class Term:
    """A category or tag. Categories and tags share one id space, as in ``wp_terms``."""

    term_id: int
    name: str
    slug: str
    taxonomy: Literal["category", "post_tag"]

    @property
    def path(self) -> str:
        base = "category" if self.taxonomy == "category" else "tag"
        return f"/{base}/{self.slug}/"


@dataclass(frozen=True, slots=True)
class PostView:
    """An article plus everything the site knows about it (absolute URLs, terms, ids)."""

    article: SampleArticle
    permalink: str
    guid: str
    categories: tuple[Term, ...]
    tags: tuple[Term, ...]
    author_id: int
    author_slug: str
    image_url: str | None  # absolute
    media_id: int | None

    @property
    def post_id(self) -> int:
        return self.article.post_id


@dataclass(frozen=True, slots=True)
class Chrome:
    """What every HTML page shows around its content: menu and "Recent Posts"."""

    site: SiteInfo
    menu: tuple[Term, ...]
    recent: tuple[PostView, ...]


# --- escaping and text -------------------------------------------------------------------


def esc_title(text: str) -> str:
    """A plain-text title as WordPress prints it in HTML and feeds (``&`` -> ``&#038;``)."""
    return text.replace("&", "&#038;").replace("<", "&lt;").replace(">", "&gt;")


def esc_attr(text: str) -> str:
    """WordPress ``esc_attr``: safe inside a double- or single-quoted attribute."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )


def esc_url(url: str) -> str:
    """A URL printed in HTML or XML text."""
    return url.replace("&", "&#038;").replace('"', "%22").replace("'", "&#039;")


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def strip_tags(html_text: str) -> str:
    """``wp_strip_all_tags``: drop script/style bodies and every tag; entities stay as they are."""
    return _TAG.sub("", _SCRIPT_STYLE.sub("", html_text)).strip()


def trim_words(text: str, limit: int, more: str) -> tuple[str, bool]:
    """``wp_trim_words``: the first *limit* words, *more* appended when something was cut."""
    words = [w for w in _WP_WHITESPACE.split(text.strip()) if w]
    if len(words) > limit:
        return " ".join(words[:limit]) + more, True
    return " ".join(words), False


def content_html(article: SampleArticle) -> str:
    """The post content as ``the_content`` renders it: one ``<p>`` per paragraph."""
    blocks = [p if _BLOCK_START.match(p) else f"<p>{p}</p>" for p in article.paragraphs]
    return "".join(block + "\n" for block in blocks)


def more_link(post: PostView) -> str:
    title = esc_title(post.article.title)
    return (
        f' <a class="more-link" href="{esc_url(post.permalink)}">Continue reading'
        f' <span class="screen-reader-text">{title}</span></a>'
    )


def excerpt_html(post: PostView, *, ellipsis: str = "&#8230;") -> str:
    """The excerpt as feeds print it: the manual one, or the auto one with "Continue reading"."""
    if post.article.excerpt:
        return post.article.excerpt
    text, cut = trim_words(strip_tags(content_html(post.article)), EXCERPT_WORDS, "")
    return text + (ellipsis + more_link(post) if cut else "")


def excerpt_text(post: PostView) -> str:
    """The excerpt as plain-ish text (no link), for summaries and archive pages."""
    if post.article.excerpt:
        return post.article.excerpt
    text, _ = trim_words(strip_tags(content_html(post.article)), EXCERPT_WORDS, "…")
    return text


def og_description(post: PostView) -> str:
    if post.article.excerpt:
        return post.article.excerpt
    text = " ".join(strip_tags(p) for p in post.article.paragraphs)
    return trim_words(text, OG_DESCRIPTION_WORDS, "…")[0]


def og_locale(language: str) -> str:
    """``en-US`` -> ``en_US``; a bare ``ht`` -> ``ht_HT`` (Facebook's locale list)."""
    parts = language.replace("_", "-").split("-")
    if len(parts) == 1:
        return f"{parts[0].lower()}_{parts[0].upper()}"
    return f"{parts[0].lower()}_{parts[1].upper()}"


def rfc822(when: datetime) -> str:
    """``Sun, 29 Nov 2026 12:51:19 +0000`` (English names whatever the locale)."""
    return format_datetime(when)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def iso8601(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def atom_date(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def human_date(when: datetime) -> str:
    return f"{_MONTHS[when.month - 1]} {when.day}, {when.year}"


def feed_build_date(posts: Sequence[PostView]) -> datetime | None:
    """WordPress's ``get_feed_build_date``: the newest modification among the feed's posts."""
    return max((p.article.last_modified for p in posts), default=None)


def image_mime(url: str) -> str:
    return "image/png" if url.lower().endswith(".png") else "image/jpeg"


# --- feeds -------------------------------------------------------------------------------


def _feed_title(site: SiteInfo, term: Term | None) -> str:
    name = esc_title(site.name)
    return f"{esc_title(term.name)} &#8211; {name}" if term else name


def render_rss(
    site: SiteInfo,
    posts: Sequence[PostView],
    *,
    self_path: str,
    term: Term | None,
    build_date: datetime,
) -> str:
    """RSS 2.0 exactly as ``wp-includes/feed-rss2.php`` lays it out."""
    items: list[str] = []
    for post in posts:
        art = post.article
        names = [t.name for t in post.categories + post.tags]
        categories = "\n\t\t".join(f"<category>{cdata(n)}</category>" for n in names)
        link = esc_url(post.permalink)
        items.append(
            ("\t" if not items else "\t\t") + "<item>\n"
            f"\t\t<title>{esc_title(art.title)}</title>\n"
            f"\t\t<link>{link}</link>\n"
            f"\t\t\t\t\t<comments>{link}#respond</comments>\n"
            "\t\t\n"
            f"\t\t<dc:creator>{cdata(art.author)}</dc:creator>\n"
            f"\t\t<pubDate>{rfc822(art.published)}</pubDate>\n"
            f"\t\t\t\t{categories}\n"
            f'\t\t<guid isPermaLink="false">{esc_url(post.guid)}</guid>\n'
            "\n"
            f"\t\t\t\t\t<description>{cdata(excerpt_html(post))}</description>\n"
            f"\t\t\t\t\t\t\t\t\t\t<content:encoded>{cdata(content_html(art))}</content:encoded>\n"
            "\t\t\t\t\t\n"
            f"\t\t\t\t\t<wfw:commentRss>{link}feed/</wfw:commentRss>\n"
            "\t\t\t<slash:comments>0</slash:comments>\n"
            "\t\t\n"
            "\t\t\n"
            "\t\t\t</item>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
        '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
        '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
        '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
        '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
        '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n'
        "\t>\n"
        "\n"
        "<channel>\n"
        f"\t<title>{_feed_title(site, term)}</title>\n"
        f'\t<atom:link href="{esc_url(site.self_link(self_path))}" rel="self"'
        ' type="application/rss+xml" />\n'
        f"\t<link>{esc_url(site.url)}</link>\n"
        f"\t<description>{esc_title(site.tagline)}</description>\n"
        f"\t<lastBuildDate>{rfc822(build_date)}</lastBuildDate>\n"
        f"\t<language>{site.language}</language>\n"
        "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n"
        "\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n"
        f"\t<generator>https://wordpress.org/?v={WP_VERSION}</generator>\n"
        + "".join(items)
        + "\t</channel>\n</rss>\n"
    )


def render_atom(
    site: SiteInfo,
    posts: Sequence[PostView],
    *,
    self_path: str,
    term: Term | None,
    build_date: datetime,
) -> str:
    """Atom 1.0 as ``wp-includes/feed-atom.php`` lays it out (published + updated)."""
    entries: list[str] = []
    for post in posts:
        art = post.article
        link = esc_url(post.permalink)
        cats = "".join(
            f'<category scheme="{esc_url(site.url)}" term="{esc_attr(t.name)}" />'
            for t in post.categories + post.tags
        )
        entries.append(
            ("\t" if not entries else "\t\t") + "<entry>\n"
            "\t\t<author>\n"
            f"\t\t\t<name>{esc_title(art.author)}</name>\n"
            "\t\t\t\t\t</author>\n"
            "\n"
            f'\t\t<title type="html">{cdata(esc_title(art.title))}</title>\n'
            f'\t\t<link rel="alternate" type="text/html" href="{link}" />\n'
            "\n"
            f"\t\t<id>{esc_url(post.guid)}</id>\n"
            f"\t\t<updated>{atom_date(art.last_modified)}</updated>\n"
            f"\t\t<published>{atom_date(art.published)}</published>\n"
            f"\t\t{cats}\n"
            f'\t\t<summary type="html">{cdata(excerpt_html(post))}</summary>\n'
            "\n"
            f'\t\t\t\t\t<content type="html" xml:base="{link}">'
            f"{cdata(content_html(art))}</content>\n"
            "\t\t\n"
            f'\t\t\t\t\t<link rel="replies" type="text/html" href="{link}#comments"'
            ' thr:count="0" />\n'
            f'\t\t\t<link rel="replies" type="application/atom+xml" href="{link}feed/atom/"'
            ' thr:count="0" />\n'
            "\t\t\t<thr:total>0</thr:total>\n"
            "\t\t\t</entry>\n"
        )
    feed_id = site.url + (term.path if term else "/") + "feed/atom/"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed\n'
        '\txmlns="http://www.w3.org/2005/Atom"\n'
        '\txmlns:thr="http://purl.org/syndication/thread/1.0"\n'
        f'\txml:lang="{site.language}"\n'
        "\t>\n"
        f'\t<title type="text">{_feed_title(site, term)}</title>\n'
        f'\t<subtitle type="text">{esc_title(site.tagline)}</subtitle>\n'
        "\n"
        f"\t<updated>{atom_date(build_date)}</updated>\n"
        "\n"
        f'\t<link rel="alternate" type="text/html" href="{esc_url(site.url)}" />\n'
        f"\t<id>{esc_url(feed_id)}</id>\n"
        f'\t<link rel="self" type="application/atom+xml"'
        f' href="{esc_url(site.self_link(self_path))}" />\n'
        "\n"
        f'\t<generator uri="https://wordpress.org/" version="{WP_VERSION}">WordPress</generator>\n'
        + "".join(entries)
        + "\t</feed>\n"
    )


def render_json_feed(
    site: SiteInfo, posts: Sequence[PostView], *, feed_path: str, term: Term | None
) -> str:
    """JSON Feed 1.1, as the "JSON Feed" WordPress plugin serves at ``/feed/json/``."""
    items: list[dict[str, Any]] = []
    for post in posts:
        art = post.article
        item: dict[str, Any] = {
            "id": post.guid,
            "url": post.permalink,
            "title": art.title,
            "content_html": content_html(art),
            "summary": excerpt_text(post),
            "date_published": iso8601(art.published),
            "date_modified": iso8601(art.last_modified),
            "authors": [{"name": art.author, "url": f"{site.url}/author/{post.author_slug}/"}],
            "tags": [t.name for t in post.categories + post.tags],
            "language": art.language,
        }
        if post.image_url:
            item["image"] = post.image_url
        items.append(item)
    feed: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": (f"{term.name} – {site.name}" if term else site.name),
        "home_page_url": site.url + "/",
        "feed_url": site.url + feed_path,
        "description": site.tagline,
        "language": site.language,
        "items": items,
    }
    return json.dumps(feed, ensure_ascii=False, indent=1) + "\n"


# --- REST API ------------------------------------------------------------------------------


def _rest_date(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def rest_term(site: SiteInfo, term: Term) -> dict[str, Any]:
    kind = "categories" if term.taxonomy == "category" else "tags"
    return {
        "id": term.term_id,
        "link": site.url + term.path,
        "name": term.name,
        "slug": term.slug,
        "taxonomy": term.taxonomy,
        "_links": {"self": [{"href": f"{site.url}/wp-json/wp/v2/{kind}/{term.term_id}"}]},
    }


def rest_post(site: SiteInfo, post: PostView, *, embed: bool) -> dict[str, Any]:
    """``/wp-json/wp/v2/posts/<id>`` (with ``_embed``: author, featured media, terms)."""
    art = post.article
    api = f"{site.url}/wp-json/wp/v2"
    rendered_excerpt = f"<p>{excerpt_html(post, ellipsis='&hellip;')}</p>\n"
    links: dict[str, Any] = {
        "self": [{"href": f"{api}/posts/{art.post_id}"}],
        "collection": [{"href": f"{api}/posts"}],
        "author": [{"embeddable": True, "href": f"{api}/users/{post.author_id}"}],
        "wp:term": [
            {
                "taxonomy": "category",
                "embeddable": True,
                "href": f"{api}/categories?post={art.post_id}",
            },
            {"taxonomy": "post_tag", "embeddable": True, "href": f"{api}/tags?post={art.post_id}"},
        ],
    }
    if post.media_id is not None:
        links["wp:featuredmedia"] = [{"embeddable": True, "href": f"{api}/media/{post.media_id}"}]
    data: dict[str, Any] = {
        "id": art.post_id,
        "date": _rest_date(art.published),
        "date_gmt": _rest_date(art.published),
        "guid": {"rendered": post.guid},
        "modified": _rest_date(art.last_modified),
        "modified_gmt": _rest_date(art.last_modified),
        "slug": art.slug,
        "status": "publish",
        "type": "post",
        "link": post.permalink,
        "title": {"rendered": esc_title(art.title)},
        "content": {"rendered": content_html(art), "protected": False},
        "excerpt": {"rendered": rendered_excerpt, "protected": False},
        "author": post.author_id,
        "featured_media": post.media_id or 0,
        "comment_status": "open",
        "ping_status": "open",
        "sticky": False,
        "template": "",
        "format": "standard",
        "meta": [],
        "categories": [t.term_id for t in post.categories],
        "tags": [t.term_id for t in post.tags],
        "_links": links,
    }
    if embed:
        embedded: dict[str, Any] = {
            "author": [
                {
                    "id": post.author_id,
                    "name": art.author,
                    "url": "",
                    "description": art.author_bio,
                    "link": f"{site.url}/author/{post.author_slug}/",
                    "slug": post.author_slug,
                }
            ],
            "wp:term": [
                [rest_term(site, t) for t in post.categories],
                [rest_term(site, t) for t in post.tags],
            ],
        }
        if post.image_url and post.media_id is not None:
            embedded["wp:featuredmedia"] = [_rest_media(post)]
        data["_embedded"] = embedded
    return data


def _rest_media(post: PostView) -> dict[str, Any]:
    art = post.article
    url = post.image_url or ""
    file_name = url.rsplit("/wp-content/uploads/", 1)[-1]
    details: dict[str, Any] = {"file": file_name, "sizes": {}}
    if art.image_width and art.image_height:
        details.update(width=art.image_width, height=art.image_height)
        details["sizes"]["full"] = {
            "file": file_name.rsplit("/", 1)[-1],
            "width": art.image_width,
            "height": art.image_height,
            "mime_type": image_mime(url),
            "source_url": url,
        }
    return {
        "id": post.media_id,
        "date": _rest_date(art.published),
        "slug": file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0],
        "type": "attachment",
        "title": {"rendered": file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]},
        "author": post.author_id,
        "caption": {"rendered": ""},
        "alt_text": art.image_alt,
        "media_type": "image",
        "mime_type": image_mime(url),
        "media_details": details,
        "source_url": url,
    }


# --- HTML pages ---------------------------------------------------------------------------

_EMOJI_SCRIPT = (
    "<script>\n"
    'window._wpemojiSettings = {"baseUrl":"https:\\/\\/s.w.org\\/images\\/core\\/emoji\\/14.0.0'
    '\\/72x72\\/","ext":".png","svgUrl":"https:\\/\\/s.w.org\\/images\\/core\\/emoji\\/14.0.0'
    '\\/svg\\/","svgExt":".svg","source":{"concatemoji":"BASE\\/wp-includes\\/js\\/'
    'wp-emoji-release.min.js?ver=6.1.9"}};\n'
    "/*! This file is auto-generated */\n"
    '!function(e,a,t){var n,r,o,i=a.createElement("canvas");t.supports={everything:!0,'
    "everythingExceptFlag:!0};t.DOMReady=!1}(window,document,window._wpemojiSettings);\n"
    "</script>\n"
    "<style>\nimg.wp-smiley,\nimg.emoji {\n\tdisplay: inline !important;\n"
    "\tborder: none !important;\n\tbox-shadow: none !important;\n\theight: 1em !important;\n"
    "\twidth: 1em !important;\n\tmargin: 0 0.07em !important;\n"
    "\tvertical-align: -0.1em !important;\n\tbackground: none !important;\n"
    "\tpadding: 0 !important;\n}\n</style>\n"
)

_ARROW_PREV = (
    '<svg class="svg-icon" width="24" height="24" aria-hidden="true" role="img" focusable="false"'
    ' viewBox="0 0 24 24" fill="none" xmlns="http://www.w3.org/2000/svg"><path fill-rule="evenodd"'
    ' clip-rule="evenodd" d="M20 13v-2H8l4-4-1-2-7 7 7 7 1-2-4-4z" fill="currentColor"/></svg>'
)
_ARROW_NEXT = (
    '<svg class="svg-icon" width="24" height="24" aria-hidden="true" role="img" focusable="false"'
    ' viewBox="0 0 24 24" fill="none" xmlns="http://www.w3.org/2000/svg"><path fill-rule="evenodd"'
    ' clip-rule="evenodd" d="m4 13v-2h12l-4-4 1-2 7 7-7 7-1-2 4-4z" fill="currentColor"/></svg>'
)


def _head(
    chrome: Chrome, *, lang: str, title: str, seo: str, links: str, extra_feeds: str = ""
) -> str:
    site = chrome.site
    base = esc_url(site.url)
    name = esc_attr(site.name)
    return (
        "<!doctype html>\n"
        f'<html lang="{esc_attr(lang)}" >\n'
        "<head>\n"
        '\t<meta charset="UTF-8" />\n'
        '\t<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
        f"\t<title>{title}</title>\n"
        "<meta name='robots' content='max-image-preview:large' />\n"
        f"{seo}"
        f'<link rel="alternate" type="application/rss+xml" title="{name} &raquo; Feed"'
        f' href="{base}/feed/" />\n'
        f'<link rel="alternate" type="application/rss+xml" title="{name} &raquo; Comments Feed"'
        f' href="{base}/comments/feed/" />\n'
        f"{extra_feeds}"
        + _EMOJI_SCRIPT.replace("BASE", site.url.replace("/", "\\/"))
        + f"\t<link rel='stylesheet' id='wp-block-library-css' href='{base}/wp-includes/css/dist/"
        f"block-library/style.min.css?ver={WP_VERSION}' media='all' />\n"
        f"<link rel='stylesheet' id='twenty-twenty-one-style-css' href='{base}/wp-content/themes/"
        "twentytwentyone/style.css?ver=1.7' media='all' />\n"
        f'<link rel="https://api.w.org/" href="{base}/wp-json/" />{links}'
        f'<link rel="EditURI" type="application/rsd+xml" title="RSD" href="{base}/xmlrpc.php?rsd"'
        " />\n"
        f'<meta name="generator" content="WordPress {WP_VERSION}" />\n'
        "</head>\n"
    )


def _masthead(chrome: Chrome) -> str:
    site = chrome.site
    base = esc_url(site.url)
    menu = "".join(
        f'<li id="menu-item-{t.term_id}" class="menu-item menu-item-type-taxonomy'
        f' menu-item-object-category menu-item-{t.term_id}"><a href="{base}{t.path}">'
        f"{esc_title(t.name)}</a></li>"
        for t in chrome.menu
    )
    return (
        '<div id="page" class="site">\n'
        '\t<a class="skip-link screen-reader-text" href="#content">Skip to content</a>\n'
        "\n\t\n"
        '<header id="masthead" class="site-header has-title-and-tagline has-menu">\n'
        "\n\t\n\n"
        '<div class="site-branding">\n'
        "\n\t\n"
        f'\t\t\t\t\t\t<p class="site-title"><a href="{base}/">{esc_title(site.name)}</a></p>\n'
        "\t\t\t\n"
        '\t\t\t<p class="site-description">\n'
        f"\t\t\t{esc_title(site.tagline)}\t\t</p>\n"
        "\t</div><!-- .site-branding -->\n"
        "\t\n"
        '\t<nav id="site-navigation" class="primary-navigation" aria-label="Primary menu">\n'
        '\t\t<div class="primary-menu-container"><ul id="primary-menu-list"'
        f' class="menu-wrapper">{menu}</ul></div>\t</nav><!-- #site-navigation -->\n'
        "\n"
        "</header><!-- #masthead -->\n"
        "\n"
        '\t<div id="content" class="site-content">\n'
        '\t\t<div id="primary" class="content-area">\n'
        '\t\t\t<main id="main" class="site-main">\n'
    )


def _search_form(base: str, n: int) -> str:
    return (
        f'<form role="search" method="get" action="{base}/" class="wp-block-search__button-outside'
        f' wp-block-search__text-button wp-block-search"><label for="wp-block-search__input-{n}"'
        ' class="wp-block-search__label" >Search</label><div class="wp-block-search__inside-wrapper'
        f' " ><input type="search" id="wp-block-search__input-{n}" class="wp-block-search__input'
        ' wp-block-search__input" name="s" value="" placeholder=""  required /><button'
        ' type="submit" class="wp-block-search__button wp-element-button"  >Search</button></div>'
        "</form>"
    )


def _footer(chrome: Chrome) -> str:
    site = chrome.site
    base = esc_url(site.url)
    recent = "\n".join(
        f'<li><a class="wp-block-latest-posts__post-title" href="{esc_url(p.permalink)}">'
        f"{esc_title(p.article.title)}</a></li>"
        for p in chrome.recent
    )
    cats = "\n".join(
        f'\t<li class="cat-item cat-item-{t.term_id}"><a href="{base}{t.path}">'
        f"{esc_title(t.name)}</a>\n</li>"
        for t in chrome.menu
    )
    return (
        "\t\t\t</main><!-- #main -->\n"
        "\t\t</div><!-- #primary -->\n"
        "\t</div><!-- #content -->\n"
        "\n\t\n"
        '\t<aside class="widget-area">\n'
        '\t\t<section id="block-2" class="widget widget_block widget_search">'
        f"{_search_form(base, 1)}</section>"
        '<section id="block-3" class="widget widget_block"><div class="is-layout-flow'
        ' wp-block-group"><div class="wp-block-group__inner-container"><h2>Recent Posts</h2>'
        f'<ul class="wp-block-latest-posts__list wp-block-latest-posts">{recent}\n'
        "</ul></div></div></section>"
        '<section id="block-6" class="widget widget_block"><div class="is-layout-flow'
        ' wp-block-group"><div class="wp-block-group__inner-container"><h2>Categories</h2>'
        f'<ul class="wp-block-categories-list wp-block-categories">{cats}\n'
        "</ul></div></div></section>\t</aside><!-- .widget-area -->\n"
        "\n\t\n"
        '\t<footer id="colophon" class="site-footer">\n'
        "\n"
        '\t\t\t\t<div class="site-info">\n'
        '\t\t\t<div class="site-name">\n'
        f'\t\t\t\t\t\t\t\t\t\t\t\t\t\t<a href="{base}/">{esc_title(site.name)}</a>\n'
        "\t\t\t\t\t\t\t\t\t\t\t\t\t</div><!-- .site-name -->\n"
        "\n\t\t\t\n"
        '\t\t\t<div class="powered-by">\n'
        '\t\t\t\tProudly powered by <a href="https://wordpress.org/">WordPress</a>.'
        "\t\t\t</div><!-- .powered-by -->\n"
        "\n"
        "\t\t</div><!-- .site-info -->\n"
        "\t</footer><!-- #colophon -->\n"
        "\n"
        "</div><!-- #page -->\n"
        "\n"
        '<script>document.body.classList.remove("no-js");</script>\t<script>\n'
        "\tif ( -1 !== navigator.userAgent.indexOf( 'MSIE' ) ) {\n"
        "\t\tdocument.body.classList.add( 'is-IE' );\n"
        "\t}\n"
        "\t</script>\n"
        f"\t<script src='{base}/wp-includes/js/comment-reply.min.js?ver={WP_VERSION}'"
        " id='comment-reply-js'></script>\n"
        "\n"
        "</body>\n"
        "</html>\n"
    )


def _entry_classes(post: PostView) -> str:
    classes = [f"post-{post.post_id}", "post", "type-post", "status-publish", "format-standard"]
    if post.image_url:
        classes.append("has-post-thumbnail")
    classes.append("hentry")
    classes += [f"category-{t.slug}" for t in post.categories]
    classes += [f"tag-{t.slug}" for t in post.tags]
    classes.append("entry")
    return " ".join(classes)


def _srcset(url: str, width: int, height: int) -> str:
    stem, dot, ext = url.rpartition(".")
    entries = [f"{url} {width}w"]
    for w in (300, 1024, 768):
        if w < width:
            h = round(height * w / width)
            entries.append(f"{stem}-{w}x{h}{dot}{ext} {w}w")
    return ", ".join(entries)


def _thumbnail(post: PostView) -> str:
    if not post.image_url:
        return ""
    art = post.article
    url = esc_url(post.image_url)
    alt = esc_attr(art.image_alt)
    if art.image_width and art.image_height:
        w, h = art.image_width, art.image_height
        srcset = esc_url(_srcset(post.image_url, w, h))
        img = (
            f'<img width="{w}" height="{h}" src="{url}" class="attachment-post-thumbnail'
            f' size-post-thumbnail wp-post-image" alt="{alt}" decoding="async"'
            f' srcset="{srcset}" sizes="(max-width: {w}px) 100vw, {w}px"'
            f' style="width:100%;height:{h * 100 / w:.2f}%;max-width:{w}px;" />'
        )
    else:
        img = (
            f'<img src="{url}" class="attachment-post-thumbnail size-post-thumbnail'
            f' wp-post-image" alt="{alt}" decoding="async" />'
        )
    return (
        '\t\t\n\t\t\t<figure class="post-thumbnail">\n'
        f"\t\t\t\t{img}\t\t\t\t\t\t\t</figure><!-- .post-thumbnail -->\n\n"
    )


def _posted_by(chrome: Chrome, post: PostView) -> str:
    base = esc_url(chrome.site.url)
    art = post.article
    cats = ", ".join(
        f'<a href="{base}{t.path}" rel="category tag">{esc_title(t.name)}</a>'
        for t in post.categories
    )
    tags = ", ".join(
        f'<a href="{base}{t.path}" rel="tag">{esc_title(t.name)}</a>' for t in post.tags
    )
    tag_links = f'<span class="tags-links">Tagged {tags}</span>' if tags else ""
    return (
        '<div class="posted-by"><span class="posted-on">Published <time class="entry-date'
        f' published updated" datetime="{iso8601(art.published)}">{human_date(art.published)}'
        f'</time></span><span class="byline">By <a href="{base}/author/{post.author_slug}/"'
        f' rel="author">{esc_title(art.author)}</a></span></div><div class="post-taxonomies">'
        f'<span class="cat-links">Categorized as {cats} </span>{tag_links}</div>'
    )


def _share_box(post: PostView) -> str:
    """The Jetpack sharing block, which Jetpack appends *inside* the entry content."""
    link = esc_url(post.permalink)
    pid = post.post_id
    buttons = "".join(
        f'<li class="share-{key}"><a rel="nofollow noopener noreferrer"'
        f' data-shared="sharing-{key}-{pid}" class="share-{key} sd-button share-icon"'
        f' href="{link}?share={key}" target="_blank" title="Click to share on {label}">'
        f"<span>{label}</span></a></li>"
        for key, label in (
            ("twitter", "X"),
            ("facebook", "Facebook"),
            ("jetpack-whatsapp", "WhatsApp"),
            ("telegram", "Telegram"),
            ("email", "Email"),
        )
    )
    return (
        '<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block'
        ' sd-social sd-social-icon-text sd-sharing"><h3 class="sd-title">Share This Article</h3>'
        f'<div class="sd-content"><ul>{buttons}<li class="share-end"></li></ul></div></div></div>'
    )


def _author_bio(chrome: Chrome, post: PostView) -> str:
    art = post.article
    if not art.author_bio:
        return ""
    base = esc_url(chrome.site.url)
    name = esc_title(art.author)
    return (
        '\n\t<div class="author-bio">\n'
        '\t<div class="author-bio-content">\n'
        f'\t\t<h2 class="author-title">By {name}</h2>\n'
        f'\t\t<p class="author-description"> {esc_title(art.author_bio)}</p>\n'
        f'\t\t<a class="author-link" href="{base}/author/{post.author_slug}/" rel="author">'
        f"View all of {name}&#039;s posts.</a>\n"
        "\t</div><!-- .author-bio-content -->\n"
        "</div><!-- .author-bio -->\n"
    )


def _comment_form(chrome: Chrome, post: PostView) -> str:
    base = esc_url(chrome.site.url)
    path = esc_url(urlsplit(post.permalink).path)
    return (
        '<div id="comments" class="comments-area default-max-width show-avatars">\n'
        "\n\t\n"
        '\t\t<div id="respond" class="comment-respond">\n'
        '\t\t<h2 id="reply-title" class="comment-reply-title">Leave a comment <small><a'
        f' rel="nofollow" id="cancel-comment-reply-link" href="{path}#respond"'
        ' style="display:none;">Cancel reply</a></small></h2>'
        f'<form action="{base}/wp-comments-post.php" method="post" id="commentform"'
        ' class="comment-form" novalidate><p class="comment-notes"><span id="email-notes">Your'
        ' email address will not be published.</span> <span class="required-field-message">'
        'Required fields are marked <span class="required">*</span></span></p><p'
        ' class="comment-form-comment"><label for="comment">Comment <span'
        ' class="required">*</span></label> <textarea id="comment" name="comment" cols="45"'
        ' rows="5" maxlength="65525" required></textarea></p><p class="comment-form-author">'
        '<label for="author">Name <span class="required">*</span></label> <input id="author"'
        ' name="author" type="text" value="" size="30" maxlength="245" autocomplete="name"'
        " required /></p>\n"
        '<p class="comment-form-email"><label for="email">Email <span class="required">*</span>'
        '</label> <input id="email" name="email" type="email" value="" size="30"'
        ' maxlength="100" aria-describedby="email-notes" autocomplete="email" required /></p>\n'
        '<p class="form-submit"><input name="submit" type="submit" id="submit" class="submit"'
        " value=\"Post Comment\" /> <input type='hidden' name='comment_post_ID'"
        f" value='{post.post_id}' id='comment_post_ID' />\n"
        "<input type='hidden' name='comment_parent' id='comment_parent' value='0' />\n"
        "</p></form>\t</div><!-- #respond -->\n"
        "\t\n"
        "</div><!-- #comments -->\n"
    )


def _post_nav(prev: PostView | None, nxt: PostView | None) -> str:
    links = ""
    if prev is not None:
        links += (
            f'<div class="nav-previous"><a href="{esc_url(prev.permalink)}" rel="prev">'
            f'<p class="meta-nav">{_ARROW_PREV}Previous post</p><p class="post-title">'
            f"{esc_title(prev.article.title)}</p></a></div>"
        )
    if nxt is not None:
        links += (
            f'<div class="nav-next"><a href="{esc_url(nxt.permalink)}" rel="next">'
            f'<p class="meta-nav">Next post{_ARROW_NEXT}</p><p class="post-title">'
            f"{esc_title(nxt.article.title)}</p></a></div>"
        )
    return (
        '\n\t<nav class="navigation post-navigation" aria-label="Posts">\n'
        '\t\t<h2 class="screen-reader-text">Post navigation</h2>\n'
        f'\t\t<div class="nav-links">{links}</div>\n'
        "\t</nav>"
    )


def _seo_tags(chrome: Chrome, post: PostView) -> str:
    """og:/article:/twitter: tags and the JSON-LD graph, as Yoast SEO prints them."""
    site = chrome.site
    art = post.article
    title = esc_attr(art.title)
    desc = esc_attr(og_description(post))
    lines = [
        '<meta property="og:type" content="article" />',
        f'<meta property="og:title" content="{title}" />',
        f'<meta property="og:description" content="{desc}" />',
        f'<meta property="og:url" content="{esc_attr(post.permalink)}" />',
        f'<meta property="og:site_name" content="{esc_attr(site.name)}" />',
        f'<meta property="og:locale" content="{og_locale(art.language)}" />',
        f'<meta property="article:published_time" content="{iso8601(art.published)}" />',
        f'<meta property="article:modified_time" content="{iso8601(art.last_modified)}" />',
    ]
    lines += [
        f'<meta property="article:section" content="{esc_attr(t.name)}" />' for t in post.categories
    ]
    lines += [f'<meta property="article:tag" content="{esc_attr(t.name)}" />' for t in post.tags]
    if post.image_url:
        image = esc_attr(post.image_url)
        lines.append(f'<meta property="og:image" content="{image}" />')
        if art.image_width and art.image_height:
            lines.append(f'<meta property="og:image:width" content="{art.image_width}" />')
            lines.append(f'<meta property="og:image:height" content="{art.image_height}" />')
        lines.append(f'<meta property="og:image:type" content="{image_mime(post.image_url)}" />')
        if art.image_alt:
            lines.append(f'<meta property="og:image:alt" content="{esc_attr(art.image_alt)}" />')
        lines.append('<meta name="twitter:card" content="summary_large_image" />')
        lines.append(f'<meta name="twitter:image" content="{image}" />')
    else:
        lines.append('<meta name="twitter:card" content="summary" />')
    words = len(strip_tags(content_html(art)).split())
    minutes = max(1, round(words / 200))
    lines += [
        f'<meta name="twitter:title" content="{title}" />',
        f'<meta name="twitter:description" content="{desc}" />',
        f'<meta name="author" content="{esc_attr(art.author)}" />',
        '<meta name="twitter:label1" content="Written by" />',
        f'<meta name="twitter:data1" content="{esc_attr(art.author)}" />',
        '<meta name="twitter:label2" content="Est. reading time" />',
        f'<meta name="twitter:data2" content="{minutes} minute{"s" if minutes > 1 else ""}" />',
    ]
    article_ld: dict[str, Any] = {
        "@type": "NewsArticle",
        "@id": f"{post.permalink}#article",
        "isPartOf": {"@id": post.permalink},
        "author": {"name": art.author, "@id": f"{site.url}/#/schema/person/{post.author_slug}"},
        "headline": art.title,
        "datePublished": iso8601(art.published),
        "dateModified": iso8601(art.last_modified),
        "mainEntityOfPage": {"@id": post.permalink},
        "wordCount": words,
        "publisher": {"@id": f"{site.url}/#organization"},
        "articleSection": [t.name for t in post.categories],
        "keywords": [t.name for t in post.tags],
        "inLanguage": art.language,
    }
    if post.image_url:
        article_ld["image"] = {"@id": f"{post.permalink}#primaryimage"}
        article_ld["thumbnailUrl"] = post.image_url
    graph: list[dict[str, Any]] = [
        article_ld,
        {
            "@type": "WebPage",
            "@id": post.permalink,
            "url": post.permalink,
            "name": f"{art.title} - {site.name}",
            "isPartOf": {"@id": f"{site.url}/#website"},
            "datePublished": iso8601(art.published),
            "dateModified": iso8601(art.last_modified),
            "inLanguage": art.language,
        },
    ]
    if post.image_url:
        image_ld: dict[str, Any] = {
            "@type": "ImageObject",
            "@id": f"{post.permalink}#primaryimage",
            "url": post.image_url,
            "contentUrl": post.image_url,
            "caption": art.image_alt,
        }
        if art.image_width and art.image_height:
            image_ld.update(width=art.image_width, height=art.image_height)
        graph.append(image_ld)
    graph += [
        {
            "@type": "WebSite",
            "@id": f"{site.url}/#website",
            "url": f"{site.url}/",
            "name": site.name,
            "description": site.tagline,
            "publisher": {"@id": f"{site.url}/#organization"},
            "inLanguage": site.language,
        },
        {
            "@type": "Organization",
            "@id": f"{site.url}/#organization",
            "name": site.name,
            "url": f"{site.url}/",
        },
        {
            "@type": "Person",
            "@id": f"{site.url}/#/schema/person/{post.author_slug}",
            "name": art.author,
            "description": art.author_bio,
            "url": f"{site.url}/author/{post.author_slug}/",
        },
    ]
    ld = json.dumps({"@context": "https://schema.org", "@graph": graph}, ensure_ascii=False)
    ld = ld.replace("</", "<\\/")
    lines.append(f'<script type="application/ld+json" class="yoast-schema-graph">{ld}</script>')
    return "\n".join(lines) + "\n"


def render_article(
    chrome: Chrome, post: PostView, *, prev: PostView | None, nxt: PostView | None
) -> str:
    """A single post page (``/YYYY/MM/DD/slug/``) in Twenty Twenty-One."""
    site = chrome.site
    art = post.article
    base = esc_url(site.url)
    link = esc_url(post.permalink)
    rest = f"{site.url}/wp-json/wp/v2/posts/{art.post_id}"
    comments_feed = (
        f'<link rel="alternate" type="application/rss+xml" title="{esc_attr(site.name)} &raquo;'
        f' {esc_attr(art.title)} Comments Feed" href="{link}feed/" />\n'
    )
    links = (
        f'<link rel="alternate" type="application/json" href="{esc_url(rest)}" />'
        "\n"
        f'<link rel="canonical" href="{link}" />\n'
        f"<link rel='shortlink' href='{base}/?p={art.post_id}' />\n"
        '<link rel="alternate" type="application/json+oembed" href="'
        f'{base}/wp-json/oembed/1.0/embed?url={quote(post.permalink, safe="")}" />\n'
    )
    head = _head(
        chrome,
        lang=art.language,
        title=f"{esc_title(art.title)} &#8211; {esc_title(site.name)}",
        seo=_seo_tags(chrome, post) if art.og else "",
        links=links,
        extra_feeds=comments_feed,
    )
    body_class = (
        "post-template-default single single-post postid-"
        f"{art.post_id} single-format-standard wp-embed-responsive is-light-theme no-js singular"
        " has-main-navigation"
    )
    article_html = (
        f'\n<article id="post-{art.post_id}" class="{_entry_classes(post)}">\n'
        "\n"
        '\t<header class="entry-header alignwide">\n'
        f'\t\t<h1 class="entry-title">{esc_title(art.title)}</h1>'
        f"{_thumbnail(post) or chr(9) * 2 + chr(10)}"
        "\t\t\t\t\t</header><!-- .entry-header -->\n"
        "\n"
        '\t<div class="entry-content">\n'
        f"\t\t{content_html(art)}{_share_box(post)}\n"
        "\t</div><!-- .entry-content -->\n"
        "\n"
        '\t<footer class="entry-footer default-max-width">\n'
        f"\t\t{_posted_by(chrome, post)}\t</footer><!-- .entry-footer -->\n"
        f"{_author_bio(chrome, post)}"
        "\n\t\t\t\t\n"
        f"</article><!-- #post-{art.post_id} -->\n"
        "\n"
        f"{_comment_form(chrome, post)}"
        f"{_post_nav(prev, nxt)}"
    )
    return (
        head
        + f'\n<body class="{body_class}">\n'
        + _masthead(chrome)
        + article_html
        + (_footer(chrome))
    )


def render_archive(
    chrome: Chrome,
    posts: Sequence[PostView],
    *,
    heading: str | None,
    body_class: str,
    canonical: str,
    feed: tuple[str, str] | None = None,
) -> str:
    """The home page or a category/tag/author archive: title, thumbnail and excerpt per post.

    *heading* is HTML (``Category: <span class="page-description">Haiti</span>``); *feed*,
    a ``(title, url)`` pair, adds the archive's own feed to the ``<head>`` for autodiscovery.
    """
    site = chrome.site
    extra = ""
    if feed is not None:
        extra = (
            f'<link rel="alternate" type="application/rss+xml" title="{esc_attr(feed[0])}"'
            f' href="{esc_url(feed[1])}" />\n'
        )
    page_title = esc_title(site.name) + (
        f" &#8211; {esc_title(site.tagline)}" if heading is None else ""
    )
    if heading is not None:
        page_title = f"{strip_tags(heading)} &#8211; {esc_title(site.name)}"
    head = _head(
        chrome,
        lang=site.language,
        title=page_title,
        seo="",
        links="\n" + f'<link rel="canonical" href="{esc_url(canonical)}" />\n',
        extra_feeds=extra,
    )
    parts = []
    if heading is not None:
        parts.append(
            f'\t<header class="page-header alignwide">\n\t\t<h1 class="page-title">{heading}</h1>'
            "\t</header><!-- .page-header -->\n"
        )
    for post in posts:
        parts.append(
            f'\n<article id="post-{post.post_id}" class="{_entry_classes(post)}">\n'
            "\n"
            '\t<header class="entry-header">\n'
            f'\t\t<h2 class="entry-title default-max-width"><a href="{esc_url(post.permalink)}">'
            f"{esc_title(post.article.title)}</a></h2>{_thumbnail(post) or chr(10)}"
            "\t</header><!-- .entry-header -->\n"
            "\n"
            '\t<div class="entry-content">\n'
            f"\t\t<p>{excerpt_html(post)}</p>\n"
            "\t</div><!-- .entry-content -->\n"
            "\n"
            '\t<footer class="entry-footer default-max-width">\n'
            f"\t\t{_posted_by(chrome, post)}\t</footer><!-- .entry-footer -->\n"
            f"</article><!-- #post-{post.post_id} -->\n"
        )
    if not posts:
        parts.append(_nothing_here(site, "Nothing here", "Ready to publish your first post?"))
    body = f'\n<body class="{body_class} wp-embed-responsive is-light-theme no-js hfeed">\n'
    return head + body + _masthead(chrome) + "".join(parts) + _footer(chrome)


def _nothing_here(site: SiteInfo, title: str, message: str) -> str:
    return (
        '\t<header class="page-header alignwide">\n'
        f'\t\t<h1 class="page-title">{title}</h1>\n'
        "\t</header><!-- .page-header -->\n"
        '\n\t<div class="error-404 not-found default-max-width">\n'
        '\t\t<div class="page-content">\n'
        f"\t\t\t<p>{message}</p>\n"
        f"\t\t\t{_search_form(esc_url(site.url), 2)}\t\t</div><!-- .page-content -->\n"
        "\t</div><!-- .error-404 -->\n"
    )


def render_not_found(chrome: Chrome) -> str:
    """The theme's 404 page (also served, with status 410, for posts marked gone)."""
    site = chrome.site
    head = _head(
        chrome,
        lang=site.language,
        title=f"Page not found &#8211; {esc_title(site.name)}",
        seo="",
        links="\n",
    )
    body = '\n<body class="error404 wp-embed-responsive is-light-theme no-js hfeed">\n'
    message = "It looks like nothing was found at this location. Maybe try a search?"
    return (
        head
        + body
        + _masthead(chrome)
        + _nothing_here(site, "Nothing here", message)
        + (_footer(chrome))
    )
