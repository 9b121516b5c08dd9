"""Domain objects passed between pipeline stages. All frozen; datetimes are aware UTC."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Image:
    """An article image: where it is, what it shows, and its size when the page says."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed, as the feed describes it (before scraping the page)."""

    source_id: str
    guid: str | None
    link: str | None
    title: str
    summary: str = ""  # plain text, HTML removed, entities decoded
    content_html: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    language: str | None = None
    image: Image | None = None
    wp_post_id: int | None = None  # when the feed reveals it (?p=ID GUID, REST id)


@dataclass(frozen=True, slots=True)
class Article:
    """Everything a post can be made of. Built by the scraper, or from the feed as fallback."""

    url: str  # canonical URL, as the site publishes it
    title: str
    description: str = ""
    lead: str = ""
    body: str = ""
    image: Image | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    section: str | None = None
    tags: tuple[str, ...] = ()  # categories and tags, in the site's order, no duplicates
    language: str | None = None  # BCP 47-ish, lower-case primary tag first: "en", "fr", "ht"
    site_name: str | None = None
    wp_post_id: int | None = None
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """The text for one account, fitted to its platform, and what a link card needs.

    ``title``, ``description`` and ``image`` describe the article for platforms where the
    client builds the link card (Bluesky, LinkedIn) or attaches the picture (X, Mastodon,
    Telegram); ``language`` is the article's (``"en"``, ``"fr"``, ``"ht"``).
    """

    account_id: str
    platform: str
    text: str
    url: str  # the link inside the text (with UTM parameters when configured)
    length: int  # as the platform counts it
    limit: int
    dropped: tuple[str, ...] = ()  # parts removed to fit: hashtags, summary, lead, title, …
    image: Image | None = None
    title: str = ""
    description: str = ""
    language: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a platform answered to a successful post."""

    remote_id: str | None
    url: str | None = None
    duplicate: bool = False  # the platform already had it (recorded as sent)


class DeliveryState(enum.StrEnum):
    """States of one (article, account, purpose) delivery. See ARCHITECTURE.md."""

    PENDING = "pending"
    HELD = "held"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    DELETED = "deleted"  # was sent; the copy was deleted because the article was unpublished


FINAL_STATES = frozenset(
    {
        DeliveryState.SENT,
        DeliveryState.FAILED,
        DeliveryState.SKIPPED,
        DeliveryState.CANCELLED,
        DeliveryState.DELETED,
    }
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A row of the ledger."""

    id: int
    uid: str  # stable, globally unique: idempotency key / record key for platforms
    article_id: int
    account_id: str
    purpose: str  # "auto", or "repost:<n>" for an editor's repost
    state: DeliveryState
    text: str
    url: str
    not_before: datetime
    attempts: int = 0
    priority: int = 0
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
