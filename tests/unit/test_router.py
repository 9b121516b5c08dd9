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
