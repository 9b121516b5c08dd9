"""Composing posts: templates, hashtags, links, fitting, editor text, hostile input."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from twitter_text import extract_urls_with_indices, parse_tweet

from bot.config import AccountConfig, HashtagSettings, UtmSettings
from bot.models import Article, Image
from bot.publishers.base import InDoubt, PlatformSpec
from bot.summarizer import TextTooLong, add_utm, build_hashtags, check_template, compose
from bot.textlen import length

regex = pytest.importorskip("regex")

SPEC = PlatformSpec(name="x", max_length=280, counting="x", url_length=23, in_doubt=InDoubt.RETRY)
URL = "https://ctninfo.com/?p=37070"
TITLE = "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti"


def account(template: str = "{title} {hashtags} {url}", **kwargs: Any) -> AccountConfig:
    return AccountConfig(id="x-main", platform="x", template=template, **kwargs)


def article(**kwargs: Any) -> Article:
    fields: dict[str, Any] = {"url": URL, "title": TITLE}
    fields.update(kwargs)
    return Article(**fields)


# twitter-text's hashtag rule (js/src/regexp/validHashtag.js, hashtagBoundary.js,
# hashtagAlphaNumeric.js, hashtagSpecialChars.js, extractHashtagsWithIndices.js in
# twitter/twitter-text, Apache-2.0), ported: twitter-text-parser has no hashtag extractor.
_HT_AN = (
    r"[\p{L}\p{M}\p{Nd}_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0"
    r"\u30fb\u3003\u0f0b\u0f0c\u00b7]"
)
_VALID_HASHTAG = regex.compile(
    rf"(?:^|\ufe0e|\ufe0f|$|(?!{_HT_AN}|&).)([#＃])(?!\ufe0f|\u20e3)"
    rf"({_HT_AN}*[\p{{L}}\p{{M}}]{_HT_AN}*)",
    regex.IGNORECASE | regex.DOTALL,
)
_END_HASHTAG = regex.compile(r"^(?:[#＃]|://)")


def twitter_hashtags(text: str) -> list[str]:
    """The hashtags X links in ``text``, as "#name"."""
    urls = [u["indices"] for u in extract_urls_with_indices(text)]
    found = []
    for m in _VALID_HASHTAG.finditer(text):
        if _END_HASHTAG.match(text[m.end() :]):
            continue
        start, end = m.start(1), m.end(2)
        if any(s < end and start < e for s, e in urls):
            continue
        found.append(text[start:end])
    return found


@pytest.mark.parametrize(
    ("text", "valid"),
    # conformance/validate.yml, group "hashtags" (twitter/twitter-text)
    [
        ("#hashtag", True),
        ("#1st", True),
        ("#that1time", True),
        ("#easyas123", True),
        ("#12345", False),
        ("#ашок", True),
        ("#트위터", True),
    ],
)
def test_ported_hashtag_rule_passes_conformance(text: str, valid: bool) -> None:
    assert (twitter_hashtags(text) == [text]) is valid


# --- templates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{title} {url}",
        "{title} {hashtags} {url}",
        "{title}\n\n{summary}\n\n{hashtags} {url}",
        "{title} — {author} ({section}, {site}) {lead} {summary} {hashtags} {url}",
        "{{Breaking}} {title} {url}",
        "{title}",
    ],
)
def test_good_templates(template: str) -> None:
    check_template(template)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{titel} {url}", "unknown template variable {titel}"),
        ("{title} {URL}", "unknown template variable {URL}"),
        ("{} {url}", "unknown template variable {}"),
        ("{0} {url}", "unknown template variable {0}"),
        ("{title.upper} {url}", "unknown template variable {title.upper}"),
        ("{title[0]} {url}", "unknown template variable {title[0]}"),
        ("{title!r} {url}", "takes no conversion or format spec"),
        ("{title:>20} {url}", "takes no conversion or format spec"),
        ("{title {url}", "malformed braces"),
        ("{title} url}", "malformed braces"),
        ("{title", "malformed braces"),
        ("", "the template is empty"),
        ("   ", "the template is empty"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_template(template)


def test_config_rejects_bad_templates_with_our_message() -> None:
    with pytest.raises(ValidationError, match=re.escape("unknown template variable {titel}")):
        account("{titel} {url}")


@pytest.mark.parametrize(
    ("authors", "shown"),
    [
        ((), ""),
        (("Emmanuel Paul",), "Emmanuel Paul"),
        (("A", "B"), "A & B"),
        (("A", "B", "C"), "A, B & C"),
    ],
)
def test_author_variable(authors: tuple[str, ...], shown: str) -> None:
    post = compose(article(authors=authors), account("{title} by {author} {url}"), SPEC)
    assert post.text == _tidy(f"{TITLE} by {shown} {URL}")


def test_every_variable() -> None:
    a = article(
        description="A short summary.",
        lead="The lead. It goes on.",
        authors=("Emmanuel Paul",),
        section="Haiti",
        site_name="CTN",
        tags=("Haiti",),
    )
    template = "{site} | {section} | {author}\n{title}\n{summary}\n{lead}\n{hashtags} {url}"
    post = compose(a, account(template), SPEC)
    assert post.text == (
        f"CTN | Haiti | Emmanuel Paul\n{TITLE}\nA short summary.\nThe lead. It goes on.\n#Haiti {URL}"
    )
    assert post.dropped == ()


@pytest.mark.parametrize(
    ("description", "lead", "summary"),
    [
        ("From the excerpt.", "Lead one. Lead two. Lead three.", "From the excerpt."),
        ("", "Lead one. Lead two. Lead three.", "Lead one. Lead two."),
        ("", "", ""),
        ("Said Ruto.For several months, the MSSM…", "", "Said Ruto. For several months, the MSSM…"),
        ("Troops will leave Haiti soon, the [&hellip;]", "", "Troops will leave Haiti soon, the…"),
        (
            "Dr. Paul met U.S. officials. They agreed.",
            "",
            "Dr. Paul met U.S. officials. They agreed.",
        ),
    ],
)
def test_summary_variable(description: str, lead: str, summary: str) -> None:
    post = compose(article(description=description, lead=lead), account("{summary} {url}"), SPEC)
    assert post.text == _tidy(f"{summary} {URL}")


def test_summary_taken_from_the_lead_is_not_repeated_next_to_the_lead() -> None:
    a = article(lead="Lead one. Lead two.")
    assert compose(a, account("{summary} {lead} {url}"), SPEC).text == f"Lead one. Lead two. {URL}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{title}  {hashtags}  {url}", f"{TITLE} {URL}"),
        ("{title}\n\n{summary}\n\n{hashtags}\n\n{url}", f"{TITLE}\n\n{URL}"),
        ("  {title} \n {url}  ", f"{TITLE}\n{URL}"),
        ("{title}\t{url}", f"{TITLE} {URL}"),
    ],
)
def test_whitespace_is_tidy_when_parts_are_empty(template: str, expected: str) -> None:
    assert compose(article(), account(template), SPEC).text == expected


def test_post_fields() -> None:
    image = Image(url="https://ctninfo.com/img.jpg", alt="Ruto at the UN")
    post = compose(article(image=image), account(), SPEC)
    assert post.account_id == "x-main"
    assert post.platform == "x"
    assert post.url == URL
    assert post.limit == 280
    assert post.length == length(post.text, "x")
    assert post.image == image


def test_account_max_length_lowers_the_limit() -> None:
    post = compose(article(), account("{title} {url}", max_length=60), SPEC)
    assert post.limit == 60
    assert post.length <= 60
    assert post.dropped == ("title",)


# --- hashtags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "settings", "expected"),
    [
        (["Haiti"], {}, ["#Haiti"]),
        (["Haïti"], {}, ["#Haïti"]),
        (["Hai\u0308ti"], {}, ["#Haïti"]),  # decomposed accent: NFC
        (["Port-au-Prince"], {}, ["#PortAuPrince"]),
        (["Caribbean news"], {}, ["#CaribbeanNews"]),
        (["caribbean  news "], {}, ["#CaribbeanNews"]),
        (["Women’s rights"], {}, ["#WomensRights"]),
        (["Arts &amp; Culture"], {}, ["#ArtsCulture"]),
        (["COVID-19"], {}, ["#COVID19"]),
        (["1st place"], {}, ["#1stPlace"]),
        (["iPhone"], {}, ["#iPhone"]),  # one word: case kept
        (["2026", "Haiti"], {"max": 5}, ["#Haiti"]),  # digits only: not a hashtag
        (["_", "!!!", "", "#", "Haiti"], {"max": 5}, ["#Haiti"]),
        (["Haiti", "haiti", "HAITI", "Haïti"], {"max": 5}, ["#Haiti", "#Haïti"]),
        (["Haiti", "Kenya", "UN", "Caribbean"], {}, ["#Haiti", "#Kenya"]),  # default max 2
        (["Haiti", "Kenya", "UN", "Caribbean"], {"max": 3}, ["#Haiti", "#Kenya", "#UN"]),
        (["Haiti", "Kenya"], {"max": 0}, []),
        (["Uncategorized", "non classé", "Haiti"], {}, ["#Haiti"]),  # default excludes
        (["English", "Haiti"], {"exclude": ["english"]}, ["#Haiti"]),
        (["Haiti"], {"map": {"Haiti": "Haïti"}}, ["#Haïti"]),
        (["haiti"], {"map": {"Haiti": "Haïti"}}, ["#Haïti"]),  # map keys ignore case
        (["Kenya"], {"map": {"Kenya": "#Kenya News"}}, ["#KenyaNews"]),
        (["English", "Haiti"], {"map": {"English": None}}, ["#Haiti"]),  # None: never
        (["Haiti", "Kenya"], {"map": {"Haiti": "Haïti"}, "only_mapped": True}, ["#Haïti"]),
        (["Haiti", "Ayiti"], {"map": {"Ayiti": "Haiti"}}, ["#Haiti"]),  # duplicate after mapping
        (["日本", "Санкции", "한국어"], {"max": 3}, ["#日本", "#Санкции", "#한국어"]),
        (["हिन्दी समाचार"], {}, ["#हिन्दीसमाचार"]),
        (["مرحبا"], {}, ["#مرحبا"]),
    ],
)
def test_build_hashtags(tags: list[str], settings: dict[str, Any], expected: list[str]) -> None:
    built = build_hashtags(tags, HashtagSettings(**settings))
    assert built == expected
    for tag in built:  # X links each one whole
        assert twitter_hashtags(f"Lire {tag} https://ctninfo.com/") == [tag]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=8))
def test_any_tag_becomes_a_valid_hashtag_or_nothing(tags: list[str]) -> None:
    built = build_hashtags(tags, HashtagSettings(max=10))
    assert len({t.casefold() for t in built}) == len(built)
    for tag in built:
        assert twitter_hashtags(f"x {tag} y") == [tag]


def test_hashtags_in_a_post_are_recognised_by_x() -> None:
    a = article(tags=("Haïti", "Port-au-Prince", "Caribbean news"))
    post = compose(a, account(hashtags=HashtagSettings(max=3)), SPEC)
    assert twitter_hashtags(post.text) == ["#Haïti", "#PortAuPrince", "#CaribbeanNews"]


# --- links -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        (URL, {"utm_source": "x"}, f"{URL}&utm_source=x"),
        (
            "https://ctninfo.com/haiti/",
            {"utm_source": "x", "utm_medium": "social"},
            "https://ctninfo.com/haiti/?utm_source=x&utm_medium=social",
        ),
        (
            "https://ctninfo.com/haiti/?p=1#comments",
            {"utm_source": "x"},
            "https://ctninfo.com/haiti/?p=1&utm_source=x#comments",
        ),
        (
            "https://ctninfo.com/a?utm_source=feed&p=2&UTM_MEDIUM=rss&utm_term=t",
            {"utm_source": "x"},
            "https://ctninfo.com/a?p=2&utm_source=x",
        ),
        (
            "https://ctninfo.com/a?q=a+b&path=%2Fx&flag",
            {"utm_source": "x"},
            "https://ctninfo.com/a?q=a+b&path=%2Fx&flag&utm_source=x",
        ),
        (
            "https://ctninfo.com/a",
            {"utm_campaign": "été 2026 v1."},
            "https://ctninfo.com/a?utm_campaign=%C3%A9t%C3%A9%202026%20v1%2E",
        ),
        (
            "https://ctninfo.com/a?utm_source=feed#top",
            {},
            "https://ctninfo.com/a?utm_source=feed#top",
        ),
    ],
)
def test_add_utm(url: str, params: dict[str, str], expected: str) -> None:
    assert add_utm(url, params) == expected


def test_the_link_carries_the_accounts_utm_and_x_sees_it_whole() -> None:
    utm = UtmSettings(source="x", campaign="auto post.")
    post = compose(article(url=f"{URL}#comments"), account(utm=utm), SPEC)
    tracked = f"{URL}&utm_source=x&utm_medium=social&utm_campaign=auto%20post%2E#comments"
    assert post.url == tracked
    assert post.text.endswith(" " + tracked)
    assert [u["url"] for u in extract_urls_with_indices(post.text)] == [tracked]


# --- fitting -----------------------------------------------------------------------------------

FIT_TITLE = "Kenya ends its Haiti mission"
SENTENCES = [
    "Ruto gave a mixed assessment of the mission.",
    "The mandate expires in the coming days.",
    "Resources were lacking, he said at the UN.",
]
FIT_TAGS = ("Haiti", "Kenya", "Port-au-Prince")
FIT_TEMPLATE = "{title} {summary} {hashtags} {url}"


def _fit_post(limit: int, template: str = FIT_TEMPLATE) -> tuple[str, tuple[str, ...]]:
    a = article(title=FIT_TITLE, description=" ".join(SENTENCES), tags=FIT_TAGS)
    acc = account(template, hashtags=HashtagSettings(max=3), max_length=limit)
    post = compose(a, acc, SPEC)
    assert post.length <= limit
    return post.text, post.dropped


def _expected(summary: list[str], tags: list[str]) -> str:
    return _tidy(f"{FIT_TITLE} {' '.join(summary)} {' '.join(tags)} {URL}")


ALL_TAGS = ["#Haiti", "#Kenya", "#PortAuPrince"]
FIT_STEPS = [
    (SENTENCES, ALL_TAGS, ()),
    (SENTENCES, ALL_TAGS[:2], ("hashtags",)),
    (SENTENCES, ALL_TAGS[:1], ("hashtags",)),
    (SENTENCES, [], ("hashtags",)),
    (SENTENCES[:2], [], ("hashtags", "summary")),
    (SENTENCES[:1], [], ("hashtags", "summary")),
    ([], [], ("hashtags", "summary")),
]


@pytest.mark.parametrize(("summary", "tags", "dropped"), FIT_STEPS)
def test_fitting_drops_hashtags_then_summary_sentences_last_first(
    summary: list[str], tags: list[str], dropped: tuple[str, ...]
) -> None:
    expected = _expected(summary, tags)
    limit = length(expected, "x")
    assert _fit_post(limit) == (expected, dropped)
    if dropped:  # one less and the next step is needed
        text, _ = _fit_post(limit - 1)
        assert text != expected


def test_fitting_then_shortens_the_title_at_a_word_boundary() -> None:
    full = _expected([], [])
    text, dropped = _fit_post(length(full, "x") - 1)
    assert dropped == ("hashtags", "summary", "title")
    assert text == f"Kenya ends its Haiti… {URL}"
    # On X "…" weighs 2, like CJK: "Kenya ends its…" is 16.
    text, _ = _fit_post(23 + 1 + 16)
    assert text == f"Kenya ends its… {URL}"
    text, _ = _fit_post(23 + 1 + 15)
    assert text == f"Kenya ends… {URL}"


def test_fitting_drops_lead_sentences_after_summary() -> None:
    a = article(description="Summary one. Summary two.", lead="Lead one. Lead two. Lead three.")
    acc = account(
        "{title} {summary} {lead} {url}", max_length=length(f"{TITLE} Lead one. {URL}", "x")
    )
    post = compose(a, acc, SPEC)
    assert post.text == f"{TITLE} Lead one. {URL}"
    assert post.dropped == ("summary", "lead")


def test_title_shortening_removes_dangling_punctuation() -> None:
    a = article(title="Haiti, Kenya and the UN: what comes next")
    post = compose(a, account("{title} {url}", max_length=23 + 1 + 14), SPEC)
    assert post.text == f"Haiti, Kenya… {URL}"


@pytest.mark.parametrize(
    ("title", "room", "expected"),
    [
        # On X "…" weighs 2.
        ("Supercalifragilisticexpialidocious", 11, "Supercali…"),
        ("Supercalifragilisticexpialidocious news", 11, "Supercali…"),
        ("🇭🇹" * 30, 11, "🇭🇹" * 4 + "…"),  # never half a flag (each weighs 2 on X)
        ("q\u0301" * 10, 7, "q\u0301q\u0301…"),  # never an accent without its letter
        ("故人西辞黄鹤楼烟花三月下扬州", 10, "故人西辞…"),
        ("故人西辞黄鹤楼烟花三月下扬州", 9, "故人西…"),
    ],
)
def test_a_single_word_longer_than_the_room_is_cut_between_graphemes(
    title: str, room: int, expected: str
) -> None:
    post = compose(article(title=title), account("{title} {url}", max_length=23 + 1 + room), SPEC)
    assert post.text == _tidy(f"{expected} {URL}")
    assert post.dropped == ("title",)


def test_absurd_parts_still_fit_and_the_link_survives() -> None:
    a = article(
        title="word " * 5000,
        description="Sentence. " * 3000,
        lead="x" * 20000,
        authors=("A" * 500, "B" * 500),
        section="S " * 400,
        site_name="🇭🇹" * 400,
        tags=tuple(f"Tag{i}" for i in range(100)),
    )
    template = "{title} {summary} {lead} {author} {section} {site} {hashtags} {url}"
    post = compose(a, account(template, hashtags=HashtagSettings(max=30)), SPEC)
    assert post.length <= 280
    assert post.text.endswith(f" {URL}")
    assert post.dropped[:4] == ("hashtags", "summary", "lead", "title")


def test_a_template_whose_literal_text_is_too_long_falls_back_to_the_link() -> None:
    post = compose(article(), account("{title} " + "blah " * 100 + "{url}"), SPEC)
    assert post.text == URL
    assert post.dropped[-1] == "template"


def test_a_link_that_cannot_fit_raises() -> None:
    with pytest.raises(TextTooLong, match="the link alone"):
        compose(article(), account("{title} {url}", max_length=10), SPEC)


def test_graphemes_counting_keeps_long_links_whole() -> None:
    spec = PlatformSpec(
        name="b", max_length=300, counting="graphemes", url_length=None, in_doubt=InDoubt.HOLD
    )
    url = "https://ctninfo.com/" + "long-slug-" * 20
    post = compose(article(url=url, description=" ".join(SENTENCES)), account(FIT_TEMPLATE), spec)
    assert length(post.text, "graphemes") <= 300
    assert url in post.text


# --- editor's text -----------------------------------------------------------------------------


def test_editor_text_gets_the_link_appended() -> None:
    post = compose(
        article(), account(), SPEC, text="  Breaking:   Kenya hands over \n\n\n in Haiti "
    )
    assert post.text == f"Breaking: Kenya hands over\n\nin Haiti {URL}"
    assert post.url == URL
    assert post.dropped == ()


def test_editor_text_with_the_link_is_kept_as_written() -> None:
    text = f"Lire {URL} — la suite de notre couverture."
    assert compose(article(), account(), SPEC, text=text).text == text


def test_editor_text_with_the_bare_link_keeps_it_when_utm_is_configured() -> None:
    acc = account(utm=UtmSettings(source="x"))
    post = compose(article(), acc, SPEC, text=f"Read {URL}.")
    assert post.text == f"Read {URL}."
    assert post.url == URL
    post = compose(article(), acc, SPEC, text="Read this.")
    assert post.url == f"{URL}&utm_source=x&utm_medium=social"
    assert post.text == f"Read this. {post.url}"


def test_editor_text_is_never_cut() -> None:
    with pytest.raises(TextTooLong) as info:
        compose(article(), account(), SPEC, text="a" * 257)
    assert isinstance(info.value, ValueError)
    assert (info.value.length, info.value.limit) == (281, 280)
    assert "281" in str(info.value) and "280" in str(info.value)
    assert compose(article(), account(), SPEC, text="a" * 256).length == 280


def test_editor_text_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        compose(article(), account(), SPEC, text=" \n ")


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("<b>Haïti</b> &amp; Kenya", "Haïti & Kenya"),
        ("L&#8217;ONU &amp;amp; le Kenya", "L’ONU & le Kenya"),  # double-encoded
        ("Kenya &amp;#8217;s troops", "Kenya ’s troops"),
        ("Hai<i>ti</i> news", "Haiti news"),
        ("<p>One</p><p>Two</p>", "One Two"),
        ("A&nbsp;B", "A\u00a0B"),
        ("Title &lt;script&gt;alert(1)&lt;/script&gt; end", "Title end"),
        ("Title <script>alert(1)</script><!-- note --> end", "Title end"),
        ("Unclosed <b", "Unclosed"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("Tab\tand\nnewline\x00\ufeff", "Tab and newline"),
    ],
)
def test_article_fields_are_plain_text(title: str, shown: str) -> None:
    post = compose(article(title=title), account("{title} {url}"), SPEC)
    assert post.text == f"{shown} {URL}"


def test_html_in_every_field_is_stripped() -> None:
    a = article(
        description="<p>First &amp; <em>foremost</em>.</p>",
        lead="<div>The <a href='x'>lead</a>.</div>",
        authors=("<span>Emmanuel</span> Paul",),
        section="<b>Haiti</b>",
        site_name="CTN &amp; Co",
        tags=("<i>Haïti</i>",),
    )
    post = compose(
        a, account("{title} {summary} {lead} {author} {section} {site} {hashtags} {url}"), SPEC
    )
    assert (
        post.text
        == f"{TITLE} First & foremost. The lead. Emmanuel Paul Haiti CTN & Co #Haïti {URL}"
    )


# --- properties ----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "Haïti", "Hai\u0308ti", "Port-au-Prince", "Kenya", "ONU", "l’été", "Pòtoprens", "2026",
        "日本語", "故人西辞黄鹤楼", "한국어", "مرحبا", "שָׁלוֹם", "\u200f", "\u0301", "\u20e3",
        "👍🏽", "👨‍👩‍👧‍👦", "🇭🇹", "❤️", "#", "&amp;", "&lt;b&gt;", "<b>", "</p>", "<br/>", "&",
        "<", ">", ".", "!", "?", "…", ",", ":", "—", "\u00a0", "\n", "\t", "x" * 60,
        "Supercalifragilisticexpialidocious" * 3, "https://example.com/", "ctninfo.com",
    ]
)  # fmt: skip
_WORDS = st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=40)
_TEXT = st.one_of(_WORDS.map(" ".join), _WORDS.map("".join), st.text(max_size=300), st.just(""))
_TAGS = st.lists(st.one_of(_PIECES, st.text(max_size=20)), max_size=8)
_TEMPLATES = st.sampled_from(
    [
        "{title} {hashtags} {url}",
        "{title}\n\n{summary}\n\n{hashtags} {url}",
        "{title} — {summary} {lead} {author} {hashtags} {url}",
        "{hashtags} {title} {url} {summary}",
    ]
)
_TAG_RE = re.compile(r"<[A-Za-z/!?]")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=_TEXT,
    summary=_TEXT,
    lead=_TEXT,
    tags=_TAGS,
    author=_TEXT,
    template=_TEMPLATES,
)
def test_any_article_gives_a_post_that_fits_with_the_link_intact(
    title: str, summary: str, lead: str, tags: list[str], author: str, template: str
) -> None:
    a = article(title=title, description=summary, lead=lead, tags=tuple(tags), authors=(author,))
    acc = account(template, hashtags=HashtagSettings(max=5), utm=UtmSettings(source="x"))
    post = compose(a, acc, SPEC)
    assert post.length == length(post.text, "x") <= 280
    assert parse_tweet(post.text).valid  # X would take it
    tracked = f"{URL}&utm_source=x&utm_medium=social"
    assert post.url == tracked
    assert tracked in [u["url"] for u in extract_urls_with_indices(post.text)]
    assert not _TAG_RE.search(post.text)
    assert html.unescape(post.text) == post.text
    assert post.text == post.text.strip()
    assert "  " not in post.text and " \n" not in post.text and "\n " not in post.text
    for tag in twitter_hashtags(post.text):
        assert tag in build_hashtags(tags, HashtagSettings(max=5)) or tag in post.text


def _tidy(text: str) -> str:
    return re.sub(r" +", " ", text).strip()


def test_hashtags_come_back_when_dropping_the_summary_made_room() -> None:
    # One long summary sentence cannot be shortened, only dropped; once it is gone the
    # hashtags dropped before it fit again and are restored.
    long = "A single long summary sentence " + "that keeps going " * 12 + "to the end."
    a = article(description=long, tags=("Haiti", "Kenya"))
    post = compose(a, account("{title}\n\n{summary}\n\n{hashtags} {url}"), SPEC)
    assert post.text == f"{TITLE}\n\n#Haiti #Kenya {URL}"
    assert post.dropped == ("summary",)
