"""Which accounts get which article. Pure: config and article in, accounts out."""

from __future__ import annotations

import re

from bot.config import AccountConfig, Config, RouteWhere
from bot.models import Article


def matches(where: RouteWhere, article: Article) -> bool:
    """True when every condition given in ``where`` holds for ``article``."""
    tags = {t.casefold() for t in article.tags}
    if where.categories_any and not any(c.casefold() in tags for c in where.categories_any):
        return False
    if where.categories_all and not all(c.casefold() in tags for c in where.categories_all):
        return False
    if where.categories_none and any(c.casefold() in tags for c in where.categories_none):
        return False
    if where.language:
        lang = (article.language or "").casefold()
        wanted = {w.casefold() for w in where.language}
        if lang not in wanted and lang.split("-")[0] not in wanted:
            return False
    return not (
        where.title_matches and not re.search(where.title_matches, article.title, re.IGNORECASE)
    )


def route(article: Article, source_id: str, config: Config) -> list[AccountConfig]:
    """The enabled accounts that ``article`` from ``source_id`` goes to, in config order."""
    wanted: set[str] = set()
    for r in config.routes:
        if r.from_ and source_id not in r.from_:
            continue
        if matches(r.where, article):
            wanted.update(r.to)
    return [a for a in config.accounts if a.id in wanted and a.enabled]
