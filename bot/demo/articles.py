"""The sample site's content model: :class:`SampleArticle` and the bundled articles.

A ``SampleArticle`` is one WordPress post as the newsroom wrote it. ``title``, ``excerpt``,
``author`` and ``image_alt`` are plain text; each item of ``paragraphs`` is HTML: the inside of
one ``<p>`` (inline markup such as ``<a>`` or ``<strong>`` allowed, ``&`` written ``&amp;``), or
a whole block when it starts with ``<h2``, ``<h3``, ``<blockquote``, ``<ul``, ``<ol`` or
``<figure``.

``bot/demo/articles.json`` holds the bundled articles. Their dates are relative
(``age_minutes`` before *now*), so :func:`load_sample_articles` always returns a fresh-looking
site. The same JSON shape (:func:`article_from_dict`) is used by ``--articles FILE`` and by the
``/_control/add`` endpoint of :mod:`bot.demo.site`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

GuidForm = Literal["pretty", "plain"]
GUID_FORMS: tuple[GuidForm, ...] = ("pretty", "plain")

_SLUG_MAX = 200  # WordPress stores at most 200 characters of slug


def sanitize_title(text: str) -> str:
    """Turn a title or term name into a slug the way WordPress's ``sanitize_title`` does.

    Accents are removed, ``.`` and ``/`` become dashes, every other character that is not a
    letter, digit, space, ``_`` or ``-`` is dropped (so "Troops’ Mission" -> "troops-mission"),
    whitespace becomes one dash.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    ascii_text = re.sub(r"[./]", "-", ascii_text)
    ascii_text = re.sub(r"[^a-z0-9 _\-\s]", "", ascii_text)
    slug = re.sub(r"[\s_-]+", "-", ascii_text).strip("-")
    return slug[:_SLUG_MAX].strip("-")


def _utc_seconds(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class SampleArticle:
    """One post of the sample WordPress site.

    ``published``/``modified`` are aware datetimes, stored in UTC to the second as WordPress
    does; ``modified`` defaults to ``published``. ``slug`` defaults to the sanitized title.
    ``categories`` empty means WordPress's "Uncategorized". ``image_url`` may be site-relative
    (``/wp-content/uploads/...``): the site serves a generated picture of ``image_width`` x
    ``image_height`` there. ``guid_form`` "pretty" gives the permalink as GUID (frozen at
    creation, as WordPress does), "plain" gives ``?p=ID``. ``og=False`` renders the page as
    core WordPress without an SEO plugin: no og:/article:/twitter: tags and no JSON-LD.
    """

    post_id: int
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    slug: str = ""
    excerpt: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    author: str = "admin"
    author_bio: str = ""
    modified: datetime | None = None
    language: str = "en-US"
    image_url: str | None = None
    image_alt: str = ""
    image_width: int | None = None
    image_height: int | None = None
    guid_form: GuidForm = "pretty"
    og: bool = True

    def __post_init__(self) -> None:
        if self.post_id <= 0:
            raise ValueError(f"post_id must be positive, got {self.post_id}")
        if self.guid_form not in GUID_FORMS:
            raise ValueError(f"guid_form must be one of {GUID_FORMS}, got {self.guid_form!r}")
        published = _utc_seconds(self.published, "published")
        modified = published if self.modified is None else _utc_seconds(self.modified, "modified")
        object.__setattr__(self, "published", published)
        object.__setattr__(self, "modified", modified)
        object.__setattr__(self, "paragraphs", tuple(self.paragraphs))
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "tags", tuple(self.tags))
        if not self.slug:
            object.__setattr__(self, "slug", sanitize_title(self.title) or str(self.post_id))

    @property
    def last_modified(self) -> datetime:
        """``modified``, never None once constructed."""
        return self.modified if self.modified is not None else self.published


_FIELD_NAMES = frozenset(f.name for f in fields(SampleArticle))
_TUPLE_FIELDS = frozenset({"paragraphs", "categories", "tags"})
_DATE_FIELDS = frozenset({"published", "modified"})


def _parse_datetime(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must carry a UTC offset, got {value!r}")
    return parsed


def coerce_changes(data: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """JSON values -> SampleArticle field values (dates parsed, lists made tuples).

    Besides the field names, ``age_minutes`` / ``modified_age_minutes`` give a date as minutes
    before *now*. Unknown keys raise ``ValueError``.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "age_minutes":
            out["published"] = now - timedelta(minutes=float(value))
        elif key == "modified_age_minutes":
            out["modified"] = now - timedelta(minutes=float(value))
        elif key not in _FIELD_NAMES:
            raise ValueError(f"unknown article field {key!r}")
        elif key in _DATE_FIELDS:
            out[key] = None if value is None else _parse_datetime(value, key)
        elif key in _TUPLE_FIELDS:
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise ValueError(f"{key} must be a list of strings")
            out[key] = tuple(str(v) for v in value)
        else:
            out[key] = value
    return out


def article_from_dict(data: Mapping[str, Any], *, now: datetime) -> SampleArticle:
    """Build a SampleArticle from its JSON form (see :func:`coerce_changes`).

    Raises ``ValueError`` (or ``TypeError`` for a missing field) on bad input.
    """
    values = coerce_changes(data, now=now)
    if "paragraphs" not in values:
        raise ValueError("an article needs paragraphs")
    return SampleArticle(**values)


def article_to_dict(article: SampleArticle) -> dict[str, Any]:
    """The JSON form of an article (dates as ISO 8601 UTC strings)."""
    out: dict[str, Any] = {}
    for f in fields(SampleArticle):
        value = getattr(article, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def read_articles(text: str, *, now: datetime) -> list[SampleArticle]:
    """Parse an articles file: ``{"articles": [...]}`` or a bare list of article objects."""
    data = json.loads(text)
    items = data.get("articles") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError('an articles file holds a list, or an object with an "articles" list')
    return [article_from_dict(cast(Mapping[str, Any], item), now=now) for item in items]


def load_sample_articles(
    now: datetime | None = None, path: str | Path | None = None
) -> list[SampleArticle]:
    """The bundled sample articles (or those of *path*), dated relative to *now*, newest first.

    *now* defaults to the current time; pass it for reproducible output.
    """
    when = datetime.now(UTC) if now is None else _utc_seconds(now, "now")
    if path is None:
        text = resources.files("bot.demo").joinpath("articles.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    articles = read_articles(text, now=when)
    return sorted(articles, key=lambda a: (a.published, a.post_id), reverse=True)
