"""Routing: which accounts get which article."""

from __future__ import annotations

import pytest

from bot.config import parse_config
from bot.models import Article
from bot.router import route

CONFIG = parse_config(
    """
sources:
  - {id: en, feed: "https://site.example/feed/"}
  - {id: fr, feed: "https://site.example/fr/feed/"}
accounts:
  - {id: x-en, platform: console}
  - {id: x-fr, platform: console}
  - {id: x-haiti, platform: console}
  - {id: x-off, platform: console, enabled: false}
routes:
  - {from: [en], to: [x-en, x-off], where: {language: [en]}}
  - {from: [fr], to: [x-fr], where: {language: [fr]}}
  - {to: [x-haiti], where: {categories_any: [Haiti, Haïti], categories_none: [Sport]}}
  - {to: [x-en], where: {title_matches: "^breaking:"}}
""",
    {},
)


def _article(
    *, language: str | None = "en", tags: tuple[str, ...] = (), title: str = "A story"
) -> Article:
    return Article(url="https://site.example/a/", title=title, language=language, tags=tags)


@pytest.mark.parametrize(
    ("source", "article", "accounts"),
    [
        ("en", _article(), ["x-en"]),
        ("en", _article(language="en-US"), ["x-en"]),
        ("en", _article(language="fr"), []),
        ("fr", _article(language="fr"), ["x-fr"]),
        ("fr", _article(language="fr", tags=("haiti",)), ["x-fr", "x-haiti"]),
        ("en", _article(tags=("Haiti", "Sport")), ["x-en"]),
        ("fr", _article(language="ht", title="BREAKING: storm"), ["x-en"]),
        ("en", _article(language=None), []),
    ],
)
def test_route_table(source: str, article: Article, accounts: list[str]) -> None:
    assert [a.id for a in route(article, source, CONFIG)] == accounts


KEYWORDS = parse_config(
    """
sources: [{id: en, feed: "https://site.example/feed/"}]
accounts: [{id: breaking, platform: console}]
routes:
  - to: [breaking]
    where: {keywords_any: [breaking, "state of emergency"], keywords_none: [opinion]}
""",
    {},
)


@pytest.mark.parametrize(
    ("title", "routed"),
    [
        ("BREAKING: Port-au-Prince airport closed", True),
        ("Government declares a State of Emergency", True),
        ("Opinion: breaking the cycle", False),  # excluded keyword
        ("Heartbreaking scenes in Jacmel", False),  # whole words only
        ("The state of the emergency room", False),  # the phrase, not its words
    ],
)
def test_keywords_match_whole_words_of_the_title(title: str, routed: bool) -> None:
    assert bool(route(_article(title=title), "en", KEYWORDS)) is routed


def test_categories_ignore_case_and_accents() -> None:
    assert [a.id for a in route(_article(language="fr", tags=("HAÏTI",)), "fr", CONFIG)] == [
        "x-fr",
        "x-haiti",
    ]


def test_problems_name_routes_that_can_never_match_and_unreached_accounts() -> None:
    config = parse_config(
        """
sources:
  - {id: en, feed: "https://site.example/feed/"}
  - {id: old, feed: "https://site.example/old/feed/", enabled: false}
accounts:
  - {id: a, platform: console}
  - {id: b, platform: console}
  - {id: c, platform: console, enabled: false}
  - {id: lonely, platform: console}
routes:
  - {from: [old], to: [a]}
  - {to: [a], where: {categories_all: [Haiti], categories_none: [haïti]}}
  - {to: [b], where: {language: [english]}}
  - {to: [c]}
  - {to: [b], where: {categories_any: [Sport]}}
""",
        {},
    )
    from bot.router import problems

    assert problems(config) == [
        "routes[0] can never match: its sources are all disabled",
        "routes[1] can never match: haiti is both required and excluded",
        "routes[2] can never match: english is not a language tag (use en, fr, ht …)",
        "routes[3] sends nowhere: its accounts are all disabled",
        "account a is reached by no route: it only gets editors' reposts",
        "account lonely is reached by no route: it only gets editors' reposts",
    ]
