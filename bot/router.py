"""Which accounts get which article. Pure: config and article in, accounts out.

WordPress feeds list an article's categories and tags together, so ``categories_*`` conditions
match either. Keywords match whole words or phrases of the title, ignoring case and accents.
"""

from __future__ import annotations

import re
import unicodedata

from bot.config import AccountConfig, Config, RouteWhere
from bot.language import normalize_language
from bot.models import Article


def _fold(text: str) -> str:
    """Lower-case without accents: "Haïti" and "haiti" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(_fold(phrase))}(?!\w)", _fold(text)) is not None


def matches(where: RouteWhere, article: Article) -> bool:
    """True when every condition given in ``where`` holds for ``article``."""
    tags = {_fold(t) for t in article.tags}
    if where.categories_any and not any(_fold(c) in tags for c in where.categories_any):
        return False
    if where.categories_all and not all(_fold(c) in tags for c in where.categories_all):
        return False
    if where.categories_none and any(_fold(c) in tags for c in where.categories_none):
        return False
    if where.language:
        lang = normalize_language(article.language)
        if lang not in {normalize_language(w) for w in where.language}:
            return False
    if where.keywords_any and not any(_has_phrase(article.title, k) for k in where.keywords_any):
        return False
    if any(_has_phrase(article.title, k) for k in where.keywords_none):
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


def problems(config: Config) -> list[str]:
    """Routes that can never match or send nowhere, and accounts no route reaches."""
    out: list[str] = []
    enabled_sources = {s.id for s in config.sources if s.enabled}
    enabled_accounts = {a.id for a in config.accounts if a.enabled}
    reached: set[str] = set()
    for i, r in enumerate(config.routes):
        w = r.where
        name = f"routes[{i}]"
        never = _never(w)
        if r.from_ and not set(r.from_) & enabled_sources:
            never = "its sources are all disabled"
        elif not r.from_ and not enabled_sources:
            never = "there is no enabled source"
        if never:
            out.append(f"{name} can never match: {never}")
            continue
        live = [a for a in r.to if a in enabled_accounts]
        if not live:
            out.append(f"{name} sends nowhere: its accounts are all disabled")
        reached.update(live)
    for a in config.accounts:
        if a.enabled and a.id not in reached:
            out.append(f"account {a.id} is reached by no route: it only gets editors' reposts")
    return out


def _never(w: RouteWhere) -> str | None:
    required = {_fold(c) for c in w.categories_all}
    excluded = {_fold(c) for c in w.categories_none}
    if both := sorted(required & excluded):
        return f"{', '.join(both)} is both required and excluded"
    if w.categories_any and {_fold(c) for c in w.categories_any} <= excluded:
        return "every category it accepts is excluded"
    if w.language and all(normalize_language(lang) is None for lang in w.language):
        return f"{', '.join(w.language)} is not a language tag (use en, fr, ht …)"
    kw = {_fold(k) for k in w.keywords_any}
    if kw and kw <= {_fold(k) for k in w.keywords_none}:
        return "every keyword it accepts is excluded"
    return None
