"""The ledger: the only module that speaks SQL (SQLAlchemy Core; SQLite or PostgreSQL).

What makes "exactly once" true (see ARCHITECTURE.md):

* ``article_keys`` maps every alias an article was ever seen under (WordPress post id, normalised
  GUID, link and canonical URLs) to one ``articles`` row, so edits, re-dating, a changed GUID
  form or a new slug never make an article new again.
* An article is stored as ``new`` *before* anything else happens to it, and becomes ``routed`` in
  the same transaction that creates its deliveries: a crash in between leaves it ``new``, and the
  next cycle finishes the job. Nothing is marked seen and then lost.
* ``deliveries`` is unique on (article, account, purpose): an automatic post exists at most once
  per account, whatever runs how often.
* A delivery is claimed by one short conditional UPDATE (``state='queued'`` → ``sending`` with a
  lease); the platform call happens outside any transaction; the result is recorded right after.
  A lease that expires while ``sending`` means the process died mid-call: the delivery goes back
  to the queue when the platform deduplicates, or to ``held`` for an editor when it does not.
* Flow control (``claim_next``) decides and claims in the same transaction, from the ledger's
  own history of the account (sent and in-flight posts, the month's recorded cost), so spacing,
  caps and budgets hold across restarts and between several daemons: SQLite serialises the
  transaction (``BEGIN IMMEDIATE``); PostgreSQL takes a per-account advisory lock. The cost of
  a post is written when it is claimed (so a post in flight counts against the budget) and
  cleared if it fails.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import sqlite3
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from bot.errors import StoreError
from bot.flow import Decision, History, Planned, Send, Skip, Wait
from bot.models import (
    Article,
    Delivery,
    DeliveryState,
    FeedItem,
    Image,
    PublishResult,
)
from bot.publishers.base import InDoubt

log = logging.getLogger(__name__)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("initialized", sa.Boolean, nullable=False, default=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("final_url", sa.Text),
    sa.Column("last_poll_at", UTCDateTime),
    sa.Column("last_ok_at", UTCDateTime),
    sa.Column("last_status", sa.String(16)),  # "200", "304", "error"
    sa.Column("last_error", sa.Text),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("backoff_until", UTCDateTime),
    sa.Column("items_seen", sa.Integer, nullable=False, default=0),
    sa.Column("cursor", sa.Text),  # a REST source's position (newest modified time seen)
    sa.Column("poll_owner", sa.String(128)),  # the daemon polling it now (a lease)
    sa.Column("poll_until", UTCDateTime),
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # new | routed | seen | duplicate
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("published", UTCDateTime),
    sa.Column("item", sa.Text, nullable=False),  # FeedItem as JSON
    sa.Column("article", sa.Text),  # Article as JSON, once scraped
    sa.Column("content_hash", sa.String(64)),
    sa.Column("note", sa.Text),
    sa.Column("checked_at", UTCDateTime),  # last look at the page after posting
    sa.Column("gone_since", UTCDateTime),  # first 404/410 of the current run of them
    sa.Column("work_owner", sa.String(128)),  # the daemon scraping a new article (a lease)
    sa.Column("work_until", UTCDateTime),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_articles_state", "state"),
)

article_keys = sa.Table(
    "article_keys",
    metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False, index=True),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.String(36), nullable=False, unique=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("account_id", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("not_before", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("remote_id", sa.Text),
    sa.Column("remote_url", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_by", sa.String(64), nullable=False, default="auto"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("cost", sa.Float),  # what the platform charged for it (X pay-per-use), if known
    sa.UniqueConstraint("article_id", "account_id", "purpose", name="uq_delivery"),
    sa.Index("ix_deliveries_due", "state", "not_before"),
    # Per-account reads (monitoring, budgets): counts by state, the last post, the month's cost.
    sa.Index("ix_deliveries_account", "account_id", "state", "sent_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("article_id", sa.Integer),
    sa.Column("delivery_id", sa.Integer),
    sa.Column("account_id", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Index("ix_events_at", "at"),
    sa.Index("ix_events_delivery", "delivery_id"),  # a delivery's history; "was it edited?"
)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # editor | admin
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("label", sa.String(128), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

# WebSub push subscriptions, one per source (bot.websub): the hub, the topic, the HMAC secret,
# the callback's opaque token, the granted lease and when to act next (renew, retry).
websub_subscriptions = sa.Table(
    "websub_subscriptions",
    metadata,
    sa.Column("source_id", sa.String(64), primary_key=True),
    sa.Column("token", sa.String(64), nullable=False, unique=True),
    sa.Column("hub", sa.Text, nullable=False),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("secret", sa.Text),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("pending", sa.String(16)),  # the mode asked of the hub, until it verifies
    sa.Column("lease_seconds", sa.Integer),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("next_action_at", UTCDateTime),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


# Ordered migrations: index i upgrades the schema from version i to i + 1, one transaction each.
# A new database is created at the newest version directly (create_all), then stamped.
def _v1_first_schema(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_column(conn: Connection, table: str, column: str, ddl_type: str) -> None:
    if column not in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}")


def _v2_source_cursor(conn: Connection) -> None:
    _add_column(conn, "sources", "cursor", "TEXT")


def _v3_desk(conn: Connection) -> None:
    _add_column(conn, "deliveries", "cost", "FLOAT")
    users.create(conn, checkfirst=True)
    api_tokens.create(conn, checkfirst=True)


def _v4_unpublish(conn: Connection) -> None:
    _add_column(conn, "articles", "checked_at", "TIMESTAMP")
    _add_column(conn, "articles", "gone_since", "TIMESTAMP")


def _v5_leases(conn: Connection) -> None:
    _add_column(conn, "sources", "poll_owner", "VARCHAR(128)")
    _add_column(conn, "sources", "poll_until", "TIMESTAMP")
    _add_column(conn, "articles", "work_owner", "VARCHAR(128)")
    _add_column(conn, "articles", "work_until", "TIMESTAMP")


def _v6_events_by_delivery(conn: Connection) -> None:
    (index,) = (ix for ix in events.indexes if ix.name == "ix_events_delivery")
    index.create(conn, checkfirst=True)


def _v7_account_index(conn: Connection) -> None:
    for index in deliveries.indexes:
        if index.name == "ix_deliveries_account":
            index.create(conn, checkfirst=True)


def _v8_websub(conn: Connection) -> None:
    websub_subscriptions.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_first_schema,
    _v2_source_cursor,
    _v3_desk,
    _v4_unpublish,
    _v5_leases,
    _v6_events_by_delivery,
    _v7_account_index,
    _v8_websub,
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the ledger remembers about a source between polls."""

    id: str
    initialized: bool = False
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    last_poll_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    failures: int = 0
    backoff_until: datetime | None = None
    items_seen: int = 0
    cursor: str | None = None
    poll_owner: str | None = None
    poll_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebSubRow:
    """A source's WebSub subscription as the ledger keeps it (see ``bot.websub``)."""

    source_id: str
    token: str
    hub: str
    topic: str
    state: str
    secret: str | None = None
    pending: str | None = None
    lease_seconds: int | None = None
    expires_at: datetime | None = None
    next_action_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article row: the feed item it came from and, once processed, the scraped Article."""

    id: int
    source_id: str
    state: str
    url: str
    title: str
    item: FeedItem
    article: Article | None
    first_seen: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to create: the composed text for one account."""

    account_id: str
    text: str
    url: str
    purpose: str = "auto"
    state: DeliveryState = DeliveryState.QUEUED
    not_before: datetime | None = None
    priority: int = 0
    created_by: str = "auto"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    article_id: int | None
    delivery_id: int | None
    account_id: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """The deliveries not posted yet: ``pending`` (queued or being sent), of which ``due`` (its
    time has come) and ``retrying`` (queued again after a failed attempt); ``held`` (waiting for
    an editor); ``oldest``: when the oldest pending one was created."""

    pending: int = 0
    due: int = 0
    held: int = 0
    retrying: int = 0
    sending: int = 0
    oldest: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """One account's deliveries as the ledger has them."""

    account_id: str
    last_sent: datetime | None = None
    failed_recent: int = 0
    failed_total: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A due delivery offered to a flow-control gate, with what it needs to decide.

    ``released()`` says whether an editor approved, retried or rescheduled it (read lazily)."""

    delivery: Delivery
    article: StoredArticle | None
    history: History
    released: Callable[[], bool]


Gate = Callable[[DueDelivery], Decision]


@dataclass(frozen=True, slots=True)
class ClaimStep:
    """What one ``claim_next`` did: the delivery claimed to send now (if any), and those it
    pushed back or skipped on the way."""

    claimed: Delivery | None = None
    waiting: tuple[tuple[Delivery, Wait], ...] = ()
    skipped: tuple[tuple[Delivery, Skip], ...] = ()

    @property
    def decided(self) -> int:
        return (self.claimed is not None) + len(self.waiting) + len(self.skipped)


# --- (de)serialising domain objects ----------------------------------------------------------


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dump(obj: FeedItem | Article) -> str:
    return json.dumps(
        dataclasses.asdict(obj), default=_json_default, ensure_ascii=False, sort_keys=True
    )


def _load_fields(cls: type[Any], raw: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw)
    known = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if name in {"published", "updated"} and value:
            value = datetime.fromisoformat(value)
        elif name == "image" and value:
            value = Image(**value)
        elif isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


def load_item(raw: str) -> FeedItem:
    return FeedItem(**_load_fields(FeedItem, raw))


def load_article(raw: str) -> Article:
    return Article(**_load_fields(Article, raw))


def content_hash(article: Article) -> str:
    h = hashlib.sha256()
    for part in (article.title, article.description, article.body):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


# --- the store ---------------------------------------------------------------------------------


def _prepare_sqlite(url: sa.URL) -> None:
    db = url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        Path(db).parent.mkdir(parents=True, exist_ok=True)


class Store:
    """The ledger. Creating one does not connect; ``migrate()`` creates or upgrades the schema."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise StoreError(f"invalid store URL {url!r}") from None
        self.url = parsed
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            _prepare_sqlite(parsed)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = sa.create_engine(parsed, **kwargs)
        if self.is_sqlite:
            self._setup_sqlite(self.engine)

    @staticmethod
    def _setup_sqlite(engine: Engine) -> None:
        # pysqlite's own transaction handling defers BEGIN; we want BEGIN IMMEDIATE so that a
        # read-then-write transaction never dies with "database is locked" under concurrency.
        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as e:
            raise StoreError(f"store unavailable: {e.orig}") from e
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise StoreError(f"store error: {e}") from e

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the version now in force.

        Each migration runs in its own transaction and is recorded in ``schema_version``. On
        PostgreSQL, daemons starting together take turns (a session advisory lock): the first
        migrates, the others then find the schema current.
        """
        if self.is_sqlite:  # BEGIN IMMEDIATE already serialises writers
            return self._migrate()
        try:
            with self.engine.connect() as lock:
                lock.execute(sa.select(sa.func.pg_advisory_lock(_lock_key("migrate"))))
                try:
                    return self._migrate()
                finally:
                    lock.execute(sa.select(sa.func.pg_advisory_unlock(_lock_key("migrate"))))
                    lock.commit()
        except OperationalError as e:
            raise StoreError(f"store unavailable: {e.orig}") from e

    def _migrate(self) -> int:
        with self._tx() as conn:
            insp = sa.inspect(conn)
            if not insp.has_table("schema_version"):
                if insp.has_table("deliveries"):
                    raise StoreError("database has syndbot tables but no schema_version; refusing")
                metadata.create_all(conn)
                conn.execute(
                    schema_version.insert(), {"version": SCHEMA_VERSION, "applied_at": _now()}
                )
                return SCHEMA_VERSION
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {current} is newer than this syndbot ({SCHEMA_VERSION}); "
                "upgrade syndbot"
            )
        for version in range(current, SCHEMA_VERSION):
            with self._tx() as conn:
                MIGRATIONS[version](conn)
                conn.execute(
                    schema_version.insert(), {"version": version + 1, "applied_at": _now()}
                )
            log.info("store migrated to schema version %d", version + 1)
        return SCHEMA_VERSION

    # -- sources --------------------------------------------------------------------------------

    def source_state(self, source_id: str) -> SourceState:
        with self._tx() as conn:
            row = (
                conn.execute(sa.select(sources).where(sources.c.id == source_id)).mappings().first()
            )
        return SourceState(**dict(row)) if row else SourceState(id=source_id)

    def source_states(self, source_ids: Iterable[str]) -> dict[str, SourceState]:
        """The states of many sources, read at once (a source never polled: a blank state)."""
        ids = list(dict.fromkeys(source_ids))
        found: dict[str, SourceState] = {}
        with self._tx() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(sources).where(sources.c.id.in_(ids[start : start + 500]))
                ).mappings()
                found.update((row["id"], SourceState(**dict(row))) for row in rows)
        return {i: found.get(i) or SourceState(id=i) for i in ids}

    def record_not_modified(
        self, polls: Sequence[tuple[str, str | None, str | None, str | None]], *, now: datetime
    ) -> None:
        """Record many ``304 Not Modified`` polls in one transaction: (source id, etag,
        last_modified, final_url) each. Same outcome as ``record_poll(status="304")`` for each."""
        if not polls:
            return
        ids = list(dict.fromkeys(sid for sid, *_ in polls))
        rows = [
            {"sid": sid, "etag": etag, "lm": lm, "final": final} for sid, etag, lm, final in polls
        ]
        stmt = (
            sources.update()
            .where(sources.c.id == sa.bindparam("sid"))
            .values(
                last_poll_at=now,
                last_status="304",
                etag=sa.bindparam("etag"),
                last_modified=sa.bindparam("lm"),
                final_url=sa.bindparam("final"),
                last_ok_at=now,
                last_error=None,
                failures=0,
                backoff_until=None,
            )
        )
        with self._tx() as conn:
            # A 304 answers validators we stored, so the rows exist, unless a server answers
            # 304 to a plain GET.
            known: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                known.update(
                    conn.execute(sa.select(sources.c.id).where(sources.c.id.in_(chunk))).scalars()
                )
            for sid in ids:
                if sid not in known:
                    self._ensure_source(conn, sid)
            conn.execute(stmt, rows)

    def record_poll(
        self,
        source_id: str,
        *,
        now: datetime,
        status: str,
        etag: str | None = None,
        last_modified: str | None = None,
        final_url: str | None = None,
        error: str | None = None,
        backoff_until: datetime | None = None,
        cursor: str | None = None,
    ) -> None:
        """Remember a poll's outcome. ``status`` is "200", "304" or "error"; ``cursor`` (a REST
        source's position) is kept when not given."""
        with self._tx() as conn:
            self._ensure_source(conn, source_id)
            values: dict[str, Any] = {"last_poll_at": now, "last_status": status}
            if status == "error":
                values |= {
                    "last_error": error,
                    "failures": sources.c.failures + 1,
                    "backoff_until": backoff_until,
                }
            else:
                values |= {
                    "etag": etag,
                    "last_modified": last_modified,
                    "final_url": final_url,
                    "last_ok_at": now,
                    "last_error": None,
                    "failures": 0,
                    "backoff_until": None,
                }
                if cursor is not None:
                    values["cursor"] = cursor
            conn.execute(sources.update().where(sources.c.id == source_id).values(**values))

    @staticmethod
    def _ensure_source(conn: Connection, source_id: str) -> None:
        exists = conn.execute(sa.select(sources.c.id).where(sources.c.id == source_id)).first()
        if not exists:
            insert = (
                sqlite.insert(sources)
                if conn.dialect.name == "sqlite"
                else postgresql.insert(sources)
            )
            conn.execute(
                insert.on_conflict_do_nothing(index_elements=["id"]),
                {"id": source_id, "initialized": False, "failures": 0, "items_seen": 0},
            )

    def claim_poll(
        self, source_id: str, *, owner: str, now: datetime, lease: float, min_gap: float = 0.0
    ) -> bool:
        """Take the right to poll a source for ``lease`` seconds. False when another daemon
        holds it, or when the source was polled less than ``min_gap`` seconds ago (several
        daemons share one schedule: whoever comes first polls, the others let it be)."""
        with self._tx() as conn:
            self._ensure_source(conn, source_id)
            q = sources.update().where(sources.c.id == source_id, _poll_free(owner, now))
            if min_gap > 0:
                q = q.where(
                    sa.or_(
                        sources.c.last_poll_at.is_(None),
                        sources.c.last_poll_at <= now - timedelta(seconds=min_gap),
                    )
                )
            done = conn.execute(
                q.values(poll_owner=owner, poll_until=now + timedelta(seconds=lease))
            ).rowcount
        return bool(done)

    def claim_polls(
        self, source_ids: Sequence[str], *, owner: str, now: datetime, lease: float
    ) -> set[str]:
        """``claim_poll`` for many sources in one transaction; returns the ids claimed."""
        if not source_ids:
            return set()
        with self._tx() as conn:
            insert = sqlite.insert(sources) if self.is_sqlite else postgresql.insert(sources)
            conn.execute(
                insert.on_conflict_do_nothing(index_elements=["id"]),
                [
                    {"id": i, "initialized": False, "failures": 0, "items_seen": 0}
                    for i in source_ids
                ],
            )
            ids = list(source_ids)
            conn.execute(
                sources.update()
                .where(sources.c.id.in_(ids), _poll_free(owner, now))
                .values(poll_owner=owner, poll_until=now + timedelta(seconds=lease))
            )
            return set(
                conn.execute(
                    sa.select(sources.c.id).where(
                        sources.c.id.in_(ids), sources.c.poll_owner == owner
                    )
                ).scalars()
            )

    def release_polls(self, source_ids: Sequence[str], *, owner: str) -> None:
        if not source_ids:
            return
        with self._tx() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.id.in_(list(source_ids)), sources.c.poll_owner == owner)
                .values(poll_owner=None, poll_until=None)
            )

    def release_poll(self, source_id: str, *, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(
                sources.update()
                .where(sources.c.id == source_id, sources.c.poll_owner == owner)
                .values(poll_owner=None, poll_until=None)
            )

    # -- articles -------------------------------------------------------------------------------

    def record_items(
        self,
        source_id: str,
        items: Sequence[tuple[FeedItem, Sequence[str]]],
        *,
        now: datetime,
        select_new: Callable[[list[FeedItem]], set[int]] | None = None,
    ) -> list[int]:
        """Record feed items (each with its alias keys, strongest first); return new article ids.

        An item any of whose keys is known is not new (its other keys are learned as aliases).
        On a source's first successful poll, ``select_new`` (the first-run policy) picks which
        new items to process, by index into the list it is given; the others are stored as
        ``seen``. Ids are returned oldest first.
        """
        created: list[int] = []
        with self._tx() as conn:
            self._lock_ingest(conn)
            self._ensure_source(conn, source_id)
            initialized = bool(
                conn.execute(
                    sa.select(sources.c.initialized).where(sources.c.id == source_id)
                ).scalar()
            )
            fresh: list[tuple[FeedItem, list[str]]] = []
            known = self._known_keys(conn, {k for _, keys in items for k in keys})
            in_batch: dict[str, int] = {}  # key -> index into `fresh`
            for item, keys in items:
                hit = next((known[k] for k in keys if k in known), None)
                if hit is not None:
                    # Known article: learn the aliases it shows now (new GUID form, new slug).
                    extra = [k for k in keys if k not in known]
                    self._add_keys(conn, hit, extra)
                    known.update(dict.fromkeys(extra, hit))
                    continue
                twin = next((in_batch[k] for k in keys if k in in_batch), None)
                if twin is not None:  # the same article twice in one feed: keep the first
                    fresh[twin][1].extend(k for k in keys if k not in fresh[twin][1])
                    in_batch.update(dict.fromkeys(keys, twin))
                    continue
                in_batch.update(dict.fromkeys(keys, len(fresh)))
                fresh.append((item, list(keys)))
            chosen = set(range(len(fresh)))
            if not initialized and select_new is not None:
                chosen = select_new([it for it, _ in fresh])
            order = sorted(
                range(len(fresh)),
                # Same date (feeds give seconds at best): feeds list the newest first, so the
                # later in the feed, the older; a burst is then posted in publishing order.
                key=lambda i: (fresh[i][0].published or now, -i),
            )
            # One multi-row INSERT … RETURNING for the articles (ids in `order`), one for keys.
            rows = [
                {
                    "source_id": source_id,
                    "state": "new" if i in chosen else "seen",
                    "url": fresh[i][0].link or fresh[i][0].guid or "",
                    "title": fresh[i][0].title,
                    "published": fresh[i][0].published,
                    "item": _dump(fresh[i][0]),
                    "note": None if i in chosen else "first run: recorded, not posted",
                    "first_seen": now,
                    "updated_at": now,
                }
                for i in order
            ]
            ids = (
                [
                    int(r[0])
                    for r in conn.execute(
                        articles.insert().returning(articles.c.id, sort_by_parameter_order=True),
                        rows,
                    )
                ]
                if rows
                else []
            )
            key_rows = [
                {"key": k, "article_id": article_id}
                for i, article_id in zip(order, ids, strict=True)
                for k in dict.fromkeys(fresh[i][1])
            ]
            if key_rows:
                conn.execute(article_keys.insert(), key_rows)
            created = [aid for i, aid in zip(order, ids, strict=True) if i in chosen]
            conn.execute(
                sources.update()
                .where(sources.c.id == source_id)
                .values(initialized=True, items_seen=sources.c.items_seen + len(fresh))
            )
        return created

    @staticmethod
    def _known_keys(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        pending = list(keys)
        for start in range(0, len(pending), 500):
            chunk = pending[start : start + 500]
            rows = conn.execute(
                sa.select(article_keys.c.key, article_keys.c.article_id).where(
                    article_keys.c.key.in_(chunk)
                )
            )
            found.update({r.key: r.article_id for r in rows})
        return found

    @staticmethod
    def _add_keys(conn: Connection, article_id: int, keys: Iterable[str]) -> None:
        rows = [{"key": k, "article_id": article_id} for k in dict.fromkeys(keys)]
        if rows:
            conn.execute(article_keys.insert(), rows)

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` belong to a recorded article (one transaction for all of them)."""
        with self._tx() as conn:
            return set(self._known_keys(conn, keys))

    def known_any(self, keys: Iterable[str]) -> bool:
        """True when any of ``keys`` belongs to a recorded article."""
        with self._tx() as conn:
            return bool(self._known_keys(conn, keys))

    def learn_keys(self, article_id: int, keys: Sequence[str]) -> int | None:
        """Add aliases found by scraping. Returns the id of another article that already owns one
        of them (this row is then a duplicate of it), else None."""
        with self._tx() as conn:
            self._lock_ingest(conn)
            known = self._known_keys(conn, keys)
            other = next((aid for aid in known.values() if aid != article_id), None)
            if other is not None:
                return other
            self._add_keys(conn, article_id, [k for k in keys if k not in known])
        return None

    def article_by_key(self, keys: Sequence[str]) -> StoredArticle | None:
        with self._tx() as conn:
            known = self._known_keys(conn, keys)
            for k in keys:
                if k in known:
                    return self._get_article(conn, known[k])
        return None

    def _lock_ingest(self, conn: Connection) -> None:
        """Serialise the writers of article keys, as SQLite's BEGIN IMMEDIATE does: two daemons
        reading "unknown" for the same key and both inserting it would otherwise collide. On
        PostgreSQL a transaction-scoped advisory lock (ingest is short)."""
        if not self.is_sqlite:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key("ingest"))))

    def claim_new_articles(
        self, *, owner: str, now: datetime, lease: float, limit: int = 50
    ) -> list[StoredArticle]:
        """Claim up to ``limit`` articles in state ``new`` to scrape and route, oldest first,
        skipping those another daemon is working on (until its lease ends)."""
        with self._tx() as conn:
            q = (
                sa.select(articles.c.id)
                .where(
                    articles.c.state == "new",
                    sa.or_(
                        articles.c.work_until.is_(None),
                        articles.c.work_until <= now,
                        articles.c.work_owner == owner,
                    ),
                )
                .order_by(articles.c.id)
                .limit(limit)
            )
            if not self.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            ids = list(conn.execute(q).scalars())
            if ids:
                conn.execute(
                    articles.update()
                    .where(articles.c.id.in_(ids))
                    .values(work_owner=owner, work_until=now + timedelta(seconds=lease))
                )
            return [a for i in ids if (a := self._get_article(conn, i)) is not None]

    def articles_in_state(self, state: str, limit: int = 100) -> list[StoredArticle]:
        with self._tx() as conn:
            ids = conn.execute(
                sa.select(articles.c.id)
                .where(articles.c.state == state)
                .order_by(articles.c.id)
                .limit(limit)
            ).scalars()
            return [a for i in list(ids) if (a := self._get_article(conn, i)) is not None]

    def get_article(self, article_id: int) -> StoredArticle | None:
        with self._tx() as conn:
            return self._get_article(conn, article_id)

    @staticmethod
    def _get_article(conn: Connection, article_id: int) -> StoredArticle | None:
        r = conn.execute(sa.select(articles).where(articles.c.id == article_id)).mappings().first()
        if r is None:
            return None
        return StoredArticle(
            id=r["id"],
            source_id=r["source_id"],
            state=r["state"],
            url=r["url"],
            title=r["title"],
            item=load_item(r["item"]),
            article=load_article(r["article"]) if r["article"] else None,
            first_seen=r["first_seen"],
            note=r["note"],
        )

    def save_article(self, article_id: int, article: Article, *, now: datetime) -> None:
        """Store the scraped Article (for an article created by a repost, or refreshed)."""
        with self._tx() as conn:
            conn.execute(
                articles.update()
                .where(articles.c.id == article_id)
                .values(
                    article=_dump(article),
                    url=article.url,
                    title=article.title,
                    content_hash=content_hash(article),
                    updated_at=now,
                )
            )

    def create_article(
        self,
        source_id: str,
        item: FeedItem,
        keys: Sequence[str],
        *,
        now: datetime,
        state: str = "seen",
    ) -> int:
        """Create an article row outside a poll (an editor's repost of a URL not seen yet)."""
        with self._tx() as conn:
            self._lock_ingest(conn)
            self._ensure_source(conn, source_id)
            article_id: int = _pk(
                conn.execute(
                    articles.insert().values(
                        source_id=source_id,
                        state=state,
                        url=item.link or "",
                        title=item.title,
                        published=item.published,
                        item=_dump(item),
                        note="added by an editor's repost",
                        first_seen=now,
                        updated_at=now,
                    )
                )
            )
            self._add_keys(conn, article_id, keys)
        return article_id

    def route_article(
        self,
        article_id: int,
        article: Article,
        new_deliveries: Sequence[NewDelivery],
        *,
        now: datetime,
        note: str | None = None,
    ) -> list[int]:
        """Save the scraped article and create its deliveries, in one transaction.

        Only an article in state ``new`` is routed; returns the created delivery ids (an existing
        (article, account, purpose) delivery is kept as it is).
        """
        with self._tx() as conn:
            updated = conn.execute(
                articles.update()
                .where(articles.c.id == article_id, articles.c.state == "new")
                .values(
                    state="routed",
                    article=_dump(article),
                    url=article.url,
                    title=article.title,
                    content_hash=content_hash(article),
                    note=note,
                    updated_at=now,
                )
            ).rowcount
            if not updated:
                return []
            ids = [self._insert_delivery(conn, article_id, d, now=now) for d in new_deliveries]
            return [i for i in ids if i is not None]

    def mark_article(
        self, article_id: int, state: str, *, now: datetime, note: str | None = None
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                articles.update()
                .where(articles.c.id == article_id)
                .values(state=state, note=note, updated_at=now)
            )

    def recent_articles(self, limit: int = 50) -> list[StoredArticle]:
        with self._tx() as conn:
            ids = list(
                conn.execute(
                    sa.select(articles.c.id).order_by(articles.c.id.desc()).limit(limit)
                ).scalars()
            )
            return [a for i in ids if (a := self._get_article(conn, i)) is not None]

    # -- deliveries -----------------------------------------------------------------------------

    def _insert_delivery(
        self, conn: Connection, article_id: int, d: NewDelivery, *, now: datetime
    ) -> int | None:
        exists = conn.execute(
            sa.select(deliveries.c.id).where(
                deliveries.c.article_id == article_id,
                deliveries.c.account_id == d.account_id,
                deliveries.c.purpose == d.purpose,
            )
        ).first()
        if exists:
            return None
        delivery_id: int = _pk(
            conn.execute(
                deliveries.insert().values(
                    uid=str(uuid.uuid4()),
                    article_id=article_id,
                    account_id=d.account_id,
                    purpose=d.purpose,
                    state=str(d.state),
                    text=d.text,
                    url=d.url,
                    priority=d.priority,
                    not_before=d.not_before or now,
                    attempts=0,
                    error=d.error,
                    created_by=d.created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        self._event(
            conn, now, d.created_by, "created", article_id, delivery_id, d.account_id, str(d.state)
        )
        return delivery_id

    def add_delivery(self, article_id: int, d: NewDelivery, *, now: datetime) -> int | None:
        """Create one delivery (an editor's repost). None if that (article, account, purpose) exists."""
        with self._tx() as conn:
            return self._insert_delivery(conn, article_id, d, now=now)

    def next_repost_purpose(self, article_id: int, account_id: str) -> str:
        with self._tx() as conn:
            n = conn.execute(
                sa.select(sa.func.count())
                .select_from(deliveries)
                .where(
                    deliveries.c.article_id == article_id,
                    deliveries.c.account_id == account_id,
                    deliveries.c.purpose.like("repost:%"),
                )
            ).scalar_one()
        return f"repost:{n + 1}"

    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease: float,
        limit: int = 10,
        accounts: Iterable[str] | None = None,
    ) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries for ``owner`` (state ``sending`` with a lease)."""
        claimed: list[Delivery] = []
        lease_until = now + timedelta(seconds=lease)
        with self._tx() as conn:
            q = (
                sa.select(deliveries.c.id)
                .where(
                    deliveries.c.state == str(DeliveryState.QUEUED), deliveries.c.not_before <= now
                )
                .order_by(deliveries.c.priority.desc(), deliveries.c.not_before, deliveries.c.id)
                .limit(limit)
            )
            if accounts is not None:
                q = q.where(deliveries.c.account_id.in_(list(accounts)))
            if not self.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            for delivery_id in list(conn.execute(q).scalars()):
                done = conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id == delivery_id,
                        deliveries.c.state == str(DeliveryState.QUEUED),
                    )
                    .values(
                        state=str(DeliveryState.SENDING),
                        lease_owner=owner,
                        lease_until=lease_until,
                        attempts=deliveries.c.attempts + 1,
                        updated_at=now,
                    )
                ).rowcount
                if done:
                    d = self._get_delivery(conn, delivery_id)
                    if d is not None:
                        claimed.append(d)
        return claimed

    def claim(
        self, delivery_id: int, *, now: datetime, owner: str, lease: float
    ) -> Delivery | None:
        """Claim one specific delivery if it is queued and due (an editor's "post now")."""
        with self._tx() as conn:
            done = conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state == str(DeliveryState.QUEUED),
                    deliveries.c.not_before <= now,
                )
                .values(
                    state=str(DeliveryState.SENDING),
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease),
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
            ).rowcount
            return self._get_delivery(conn, delivery_id) if done else None

    def claim_next(
        self,
        *,
        now: datetime,
        owner: str,
        lease: float,
        gate: Gate,
        since: datetime,
        month_start: datetime,
        accounts: Iterable[str] | None = None,
        ids: Iterable[int] | None = None,
        scan: int = 20,
    ) -> ClaimStep:
        """Offer due deliveries to ``gate`` in claim order (priority, due time, age) and claim
        the first it lets go; those it pushes back get the new ``not_before`` and the reason in
        ``error``; those it skips become ``skipped``. All in one transaction, so two daemons
        never both decide from the same history.

        ``gate`` runs inside the transaction and must not use the store. Each delivery's
        history covers sends since ``since`` and the cost recorded since ``month_start``.
        """
        waiting: list[tuple[Delivery, Wait]] = []
        skipped: list[tuple[Delivery, Skip]] = []
        with self._tx() as conn:
            q = (
                sa.select(deliveries)
                .where(
                    deliveries.c.state == str(DeliveryState.QUEUED), deliveries.c.not_before <= now
                )
                .order_by(deliveries.c.priority.desc(), deliveries.c.not_before, deliveries.c.id)
                .limit(scan)
            )
            if accounts is not None:
                q = q.where(deliveries.c.account_id.in_(list(accounts)))
            if ids is not None:
                q = q.where(deliveries.c.id.in_(list(ids)))
            if not self.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            histories: dict[str, History] = {}
            busy: set[str] = set()
            for row in conn.execute(q).mappings().all():
                d = _delivery(row)
                if d.account_id in busy:
                    continue
                history = histories.get(d.account_id)
                if history is None:
                    if not self._lock_account(conn, d.account_id):
                        busy.add(d.account_id)  # another daemon is deciding for it
                        continue
                    history = self._history(conn, d.account_id, now, since, month_start)
                due = DueDelivery(
                    delivery=d,
                    article=self._get_article(conn, d.article_id),
                    history=history,
                    released=functools.partial(self._released, conn, d.id),
                )
                decision = gate(due)
                if isinstance(decision, Send):
                    done = conn.execute(
                        deliveries.update()
                        .where(
                            deliveries.c.id == d.id,
                            deliveries.c.state == str(DeliveryState.QUEUED),
                        )
                        .values(
                            state=str(DeliveryState.SENDING),
                            lease_owner=owner,
                            lease_until=now + timedelta(seconds=lease),
                            attempts=deliveries.c.attempts + 1,
                            cost=decision.cost,
                            updated_at=now,
                        )
                    ).rowcount
                    if done:
                        claimed = self._get_delivery(conn, d.id)
                        return ClaimStep(claimed, tuple(waiting), tuple(skipped))
                elif isinstance(decision, Wait):
                    until = max(decision.until, now + timedelta(seconds=1))
                    conn.execute(
                        deliveries.update()
                        .where(deliveries.c.id == d.id)
                        .values(not_before=until, error=decision.reason, updated_at=now)
                    )
                    histories[d.account_id] = history.plus_planned(Planned(until, d.priority, d.id))
                    waiting.append((d, Wait(until, decision.reason)))
                    continue
                else:
                    conn.execute(
                        deliveries.update()
                        .where(deliveries.c.id == d.id)
                        .values(
                            state=str(DeliveryState.SKIPPED), error=decision.reason, updated_at=now
                        )
                    )
                    self._event(
                        conn,
                        now,
                        "system",
                        str(DeliveryState.SKIPPED),
                        d.article_id,
                        d.id,
                        d.account_id,
                        decision.reason,
                    )
                    skipped.append((d, decision))
                histories[d.account_id] = history
        return ClaimStep(None, tuple(waiting), tuple(skipped))

    def _lock_account(self, conn: Connection, account_id: str) -> bool:
        """Serialise flow decisions per account. SQLite's BEGIN IMMEDIATE already does; on
        PostgreSQL a transaction-scoped advisory lock, skipped when another holder has it."""
        if self.is_sqlite:
            return True
        key = _lock_key(f"account:{account_id}")
        return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar())

    @staticmethod
    def _history(
        conn: Connection, account_id: str, now: datetime, since: datetime, month_start: datetime
    ) -> History:
        sent = deliveries.c.state == str(DeliveryState.SENT)
        sending = deliveries.c.state == str(DeliveryState.SENDING)
        mine = deliveries.c.account_id == account_id
        sends = conn.execute(
            sa.select(deliveries.c.sent_at).where(mine, sent, deliveries.c.sent_at >= since)
        ).scalars()
        in_flight = conn.execute(sa.select(deliveries.c.updated_at).where(mine, sending)).scalars()
        planned = conn.execute(
            sa.select(deliveries.c.not_before, deliveries.c.priority, deliveries.c.id).where(
                mine,
                deliveries.c.state == str(DeliveryState.QUEUED),
                deliveries.c.not_before > now,
            )
        ).all()
        spent = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(deliveries.c.cost), 0.0)).where(
                mine, sa.or_(sa.and_(sent, deliveries.c.sent_at >= month_start), sending)
            )
        ).scalar_one()
        return History(
            sends=tuple(sorted([*sends, *in_flight])),
            planned=tuple(Planned(r.not_before, r.priority, r.id) for r in planned),
            spent=float(spent),
        )

    @staticmethod
    def _released(conn: Connection, delivery_id: int) -> bool:
        """Whether a person (not the system) put this delivery in the queue again."""
        return (
            conn.execute(
                sa.select(events.c.id)
                .where(
                    events.c.delivery_id == delivery_id,
                    events.c.action == str(DeliveryState.QUEUED),
                    events.c.actor.not_in(["system", "auto"]),
                )
                .limit(1)
            ).first()
            is not None
        )

    def month_spend(self, account_id: str, *, since: datetime) -> tuple[float, int]:
        """The cost recorded for the account's posts sent (or being sent) since ``since``,
        and how many they are."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(deliveries.c.cost), 0.0), sa.func.count()
                ).where(
                    deliveries.c.account_id == account_id,
                    deliveries.c.cost.is_not(None),
                    sa.or_(
                        sa.and_(
                            deliveries.c.state == str(DeliveryState.SENT),
                            deliveries.c.sent_at >= since,
                        ),
                        deliveries.c.state == str(DeliveryState.SENDING),
                    ),
                )
            ).one()
        return float(row[0]), int(row[1])

    def recover_expired(self, *, now: datetime, policy: Callable[[str], InDoubt]) -> int:
        """Deal with deliveries whose lease ran out while ``sending`` (the sender died).

        ``policy(account_id)`` says whether that platform may safely be sent the same post again
        (it deduplicates) or the delivery must wait for an editor (``held``).
        """
        count = 0
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.id, deliveries.c.account_id, deliveries.c.article_id).where(
                    deliveries.c.state == str(DeliveryState.SENDING), deliveries.c.lease_until < now
                )
            ).all()
            for r in rows:
                retry = policy(r.account_id) is InDoubt.RETRY
                state = DeliveryState.QUEUED if retry else DeliveryState.HELD
                note = (
                    "in doubt after an interrupted send; retrying (the platform rejects duplicates)"
                    if retry
                    else "in doubt after an interrupted send; held for an editor (the platform "
                    "cannot tell us whether it was posted)"
                )
                done = conn.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id == r.id, deliveries.c.state == str(DeliveryState.SENDING)
                    )
                    .values(
                        state=str(state),
                        lease_owner=None,
                        lease_until=None,
                        error=note,
                        cost=None,
                        updated_at=now,
                    )
                ).rowcount
                if done:
                    count += 1
                    self._event(
                        conn, now, "system", "recovered", r.article_id, r.id, r.account_id, note
                    )
        return count

    def _change(
        self,
        delivery_id: int,
        condition: sa.ColumnElement[bool],
        values: dict[str, Any],
        *,
        now: datetime,
        actor: str,
        action: str,
        detail: str | None,
    ) -> bool:
        """One audited change of a delivery: applied only if ``condition`` holds, in one
        transaction with its event. Every state change goes through here."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(deliveries.c.article_id, deliveries.c.account_id).where(
                    deliveries.c.id == delivery_id
                )
            ).first()
            done = conn.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id, condition)
                .values(updated_at=now, **values)
            ).rowcount
            if done and row is not None:
                self._event(
                    conn, now, actor, action, row.article_id, delivery_id, row.account_id, detail
                )
        return bool(done)

    def _finish(
        self,
        delivery_id: int,
        owner: str,
        values: dict[str, Any],
        *,
        now: datetime,
        action: str,
        detail: str | None,
    ) -> bool:
        """Record a send's result, only by the lease owner."""
        done = self._change(
            delivery_id,
            sa.and_(
                deliveries.c.state == str(DeliveryState.SENDING), deliveries.c.lease_owner == owner
            ),
            {"lease_owner": None, "lease_until": None, **values},
            now=now,
            actor="system",
            action=action,
            detail=detail,
        )
        if not done:
            log.warning(
                "delivery %d: lease lost before its result (%s) was recorded", delivery_id, action
            )
        return done

    def mark_sent(
        self, delivery_id: int, owner: str, result: PublishResult, *, now: datetime
    ) -> bool:
        note = (
            "the platform already had this post (duplicate); recorded as sent"
            if result.duplicate
            else None
        )
        return self._finish(
            delivery_id,
            owner,
            {
                "state": str(DeliveryState.SENT),
                "remote_id": result.remote_id,
                "remote_url": result.url,
                "error": note,
                "sent_at": now,
            },
            now=now,
            action="sent",
            detail=result.url or note,
        )

    def mark_retry(
        self, delivery_id: int, owner: str, error: str, *, not_before: datetime, now: datetime
    ) -> bool:
        return self._finish(
            delivery_id,
            owner,
            {
                "state": str(DeliveryState.QUEUED),
                "error": error,
                "not_before": not_before,
                "cost": None,
            },
            now=now,
            action="retry",
            detail=f"{error} (next try {not_before.isoformat(timespec='seconds')})",
        )

    def mark_failed(self, delivery_id: int, owner: str, error: str, *, now: datetime) -> bool:
        return self._finish(
            delivery_id,
            owner,
            {"state": str(DeliveryState.FAILED), "error": error, "cost": None},
            now=now,
            action="failed",
            detail=error,
        )

    def defer_account(self, account_id: str, until: datetime, *, now: datetime, reason: str) -> int:
        """Push every queued delivery of an account to at least ``until`` (rate limit, outage),
        saying why on each."""
        with self._tx() as conn:
            return conn.execute(
                deliveries.update()
                .where(
                    deliveries.c.account_id == account_id,
                    deliveries.c.state == str(DeliveryState.QUEUED),
                    deliveries.c.not_before < until,
                )
                .values(not_before=until, updated_at=now, error=reason)
            ).rowcount

    def set_delivery_state(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        actor: str,
        allowed_from: Iterable[DeliveryState],
        not_before: datetime | None = None,
        error: str | None = None,
    ) -> bool:
        """An editor's state change (approve, cancel, retry, reschedule), audited."""
        values: dict[str, Any] = {"state": str(state)}
        if not_before is not None:
            values["not_before"] = not_before
        if error is not None:
            values["error"] = error
        return self._change(
            delivery_id,
            deliveries.c.state.in_([str(s) for s in allowed_from]),
            values,
            now=now,
            actor=actor,
            action=str(state),
            detail=error,
        )

    def edit_text(
        self,
        delivery_id: int,
        text: str,
        *,
        now: datetime,
        actor: str,
        allowed_from: Iterable[DeliveryState],
    ) -> bool:
        """Replace the text of a delivery that has not been sent yet, audited."""
        return self._change(
            delivery_id,
            deliveries.c.state.in_([str(s) for s in allowed_from]),
            {"text": text},
            now=now,
            actor=actor,
            action="edited",
            detail=text,
        )

    # -- config reload: recomposing texts not sent yet --------------------------------------

    _RECOMPOSABLE = (DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.PENDING)

    @classmethod
    def _recomposable(cls) -> sa.ColumnElement[bool]:
        """An automatic delivery never tried (a retry must send the very same text: it is how
        a post that went through before a crash is recognised) and never edited by a person."""
        edited = sa.exists().where(
            events.c.delivery_id == deliveries.c.id, events.c.action == "edited"
        )
        return sa.and_(
            deliveries.c.state.in_([str(s) for s in cls._RECOMPOSABLE]),
            deliveries.c.purpose == "auto",
            deliveries.c.attempts == 0,
            ~edited,
        )

    def recomposable(self, account_id: str, *, limit: int = 10_000) -> list[Delivery]:
        """The account's deliveries whose text may be composed again after a config reload."""
        q = (
            sa.select(deliveries)
            .where(deliveries.c.account_id == account_id, self._recomposable())
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self._tx() as conn:
            return [_delivery(r) for r in conn.execute(q).mappings().all()]

    def recompose_text(
        self, delivery_id: int, old: str, new: str, *, url: str, now: datetime
    ) -> bool:
        """Replace a text composed from an older config, audited as ``recomposed``. Only while
        the delivery is still recomposable and its text still ``old``: an editor's edit or a
        claim in the meantime wins."""
        return self._change(
            delivery_id,
            sa.and_(self._recomposable(), deliveries.c.text == old),
            {"text": new, "url": url},
            now=now,
            actor="system",
            action="recomposed",
            detail=new,
        )

    # -- unpublished articles ---------------------------------------------------------------

    def articles_to_recheck(
        self, *, now: datetime, every: float, window: float, limit: int = 50
    ) -> list[StoredArticle]:
        """Articles first seen within ``window`` that have a live or pending delivery
        and were not looked at in the last ``every`` seconds, least recently checked first."""
        live = [str(s) for s in (DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.HELD)]
        has_delivery = (
            sa.select(deliveries.c.id)
            .where(deliveries.c.article_id == articles.c.id, deliveries.c.state.in_(live))
            .exists()
        )
        q = (
            sa.select(articles.c.id)
            .where(
                articles.c.state.in_(("routed", "seen")),
                articles.c.first_seen >= now - timedelta(seconds=window),
                sa.or_(
                    articles.c.checked_at.is_(None),
                    articles.c.checked_at <= now - timedelta(seconds=every),
                ),
                has_delivery,
            )
            .order_by(articles.c.checked_at.is_not(None), articles.c.checked_at, articles.c.id)
            .limit(limit)
        )
        with self._tx() as conn:
            ids = list(conn.execute(q).scalars())
            return [a for i in ids if (a := self._get_article(conn, i)) is not None]

    def mark_checked(self, article_id: int, *, now: datetime, gone: bool) -> datetime | None:
        """Record a look at an article's page; returns since when it has been gone (None if it
        is there)."""
        with self._tx() as conn:
            since = conn.execute(
                sa.select(articles.c.gone_since).where(articles.c.id == article_id)
            ).scalar()
            since = (since or now) if gone else None
            conn.execute(
                articles.update()
                .where(articles.c.id == article_id)
                .values(checked_at=now, gone_since=since)
            )
        return since

    def mark_deleted(self, delivery_id: int, *, now: datetime, detail: str) -> bool:
        """A sent delivery whose copy was deleted on the platform."""
        return self.set_delivery_state(
            delivery_id,
            DeliveryState.DELETED,
            now=now,
            actor="system",
            allowed_from=(DeliveryState.SENT,),
            error=detail,
        )

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._tx() as conn:
            return self._get_delivery(conn, delivery_id)

    @staticmethod
    def _get_delivery(conn: Connection, delivery_id: int) -> Delivery | None:
        r = (
            conn.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
            .mappings()
            .first()
        )
        return _delivery(r) if r else None

    def list_deliveries(
        self,
        *,
        states: Iterable[DeliveryState] | None = None,
        account_id: str | None = None,
        article_id: int | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> list[Delivery]:
        q = sa.select(deliveries)
        if states is not None:
            q = q.where(deliveries.c.state.in_([str(s) for s in states]))
        if account_id is not None:
            q = q.where(deliveries.c.account_id == account_id)
        if article_id is not None:
            q = q.where(deliveries.c.article_id == article_id)
        if newest_first:
            q = q.order_by(deliveries.c.updated_at.desc(), deliveries.c.id.desc())
        else:
            q = q.order_by(deliveries.c.priority.desc(), deliveries.c.not_before, deliveries.c.id)
        with self._tx() as conn:
            rows = conn.execute(q.limit(limit)).mappings().all()
        return [_delivery(r) for r in rows]

    def count_deliveries(self) -> dict[tuple[str, str], int]:
        """(account, state) -> count."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(deliveries.c.account_id, deliveries.c.state, sa.func.count()).group_by(
                    deliveries.c.account_id, deliveries.c.state
                )
            ).all()
        return {(r[0], r[1]): r[2] for r in rows}

    # -- monitoring (`syndbot status`, /healthz, /metrics) ---------------------------------------

    def ping(self, timeout: float = 2.0) -> None:
        """Raise ``StoreError`` unless the ledger answers a trivial query. SQLite is opened
        afresh, read-write and without creating anything, so a database file or directory that
        was removed or made unreadable is noticed (the pool's open handle would still work)."""
        db = self.url.database
        try:
            if self.is_sqlite and db and db != ":memory:":
                target = db if db.startswith("file:") else f"file:{urllib.parse.quote(db)}"
                sep = "&" if "?" in target else "?"
                conn = sqlite3.connect(f"{target}{sep}mode=rw", uri=True, timeout=timeout)
                try:
                    conn.execute("SELECT 1 FROM schema_version LIMIT 1").fetchall()
                finally:
                    conn.close()
                return
            with self.engine.connect() as c:
                c.execute(sa.text("SELECT 1"))
        except (sqlite3.Error, SQLAlchemyError) as e:
            raise StoreError(f"store unavailable: {getattr(e, 'orig', None) or e}") from e

    def all_source_states(self) -> list[SourceState]:
        """What the ledger remembers about every source it has polled."""
        with self._tx() as conn:
            rows = conn.execute(sa.select(sources).order_by(sources.c.id)).mappings().all()
        return [SourceState(**dict(r)) for r in rows]

    def queue_summary(self, *, now: datetime) -> QueueSummary:
        """Counts of the deliveries not posted yet (one indexed query)."""
        waiting = (DeliveryState.QUEUED, DeliveryState.SENDING)
        state, queued = deliveries.c.state, str(DeliveryState.QUEUED)

        def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        with self._tx() as conn:
            row = conn.execute(
                sa.select(
                    count(state.in_([str(s) for s in waiting])),
                    count(sa.and_(state == queued, deliveries.c.not_before <= now)),
                    count(state == str(DeliveryState.HELD)),
                    count(sa.and_(state == queued, deliveries.c.attempts > 0)),
                    count(state == str(DeliveryState.SENDING)),
                    sa.func.min(
                        sa.case((state.in_([str(s) for s in waiting]), deliveries.c.created_at)),
                        type_=UTCDateTime(),
                    ),
                ).where(state.in_([*(str(s) for s in waiting), str(DeliveryState.HELD)]))
            ).one()
        return QueueSummary(
            pending=int(row[0]),
            due=int(row[1]),
            held=int(row[2]),
            retrying=int(row[3]),
            sending=int(row[4]),
            oldest=_aware(row[5]),
        )

    def last_sent(self, account_ids: Iterable[str]) -> dict[str, datetime]:
        """When each account's last post was sent (accounts without any are left out): one
        index seek per account."""
        q = sa.select(sa.func.max(deliveries.c.sent_at)).where(
            deliveries.c.account_id == sa.bindparam("account"),
            deliveries.c.state == str(DeliveryState.SENT),
        )
        out: dict[str, datetime] = {}
        with self._tx() as conn:
            for account in account_ids:
                stamp = _aware(conn.execute(q, {"account": account}).scalar())
                if stamp is not None:
                    out[account] = stamp
        return out

    def account_activity(self, *, since: datetime) -> dict[str, AccountActivity]:
        """Per account: the last post sent, failed posts (since ``since`` and ever) and the
        posts not sent yet (queued, sending or held)."""
        state = deliveries.c.state
        failed = state == str(DeliveryState.FAILED)
        pending = state.in_(
            [str(s) for s in (DeliveryState.QUEUED, DeliveryState.SENDING, DeliveryState.HELD)]
        )
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(
                    deliveries.c.account_id,
                    sa.func.max(
                        sa.case((state == str(DeliveryState.SENT), deliveries.c.sent_at)),
                        type_=UTCDateTime(),
                    ),
                    sa.func.sum(
                        sa.case((sa.and_(failed, deliveries.c.updated_at >= since), 1), else_=0)
                    ),
                    sa.func.sum(sa.case((failed, 1), else_=0)),
                    sa.func.sum(sa.case((pending, 1), else_=0)),
                ).group_by(deliveries.c.account_id)
            ).all()
        return {
            r[0]: AccountActivity(
                account_id=r[0],
                last_sent=_aware(r[1]),
                failed_recent=int(r[2] or 0),
                failed_total=int(r[3] or 0),
                pending=int(r[4] or 0),
            )
            for r in rows
        }

    # -- audit ----------------------------------------------------------------------------------

    @staticmethod
    def _event(
        conn: Connection,
        now: datetime,
        actor: str,
        action: str,
        article_id: int | None,
        delivery_id: int | None,
        account_id: str | None,
        detail: str | None,
    ) -> None:
        conn.execute(
            events.insert().values(
                at=now,
                actor=actor,
                action=action,
                article_id=article_id,
                delivery_id=delivery_id,
                account_id=account_id,
                detail=detail,
            )
        )

    def log_event(
        self,
        *,
        now: datetime,
        actor: str,
        action: str,
        article_id: int | None = None,
        delivery_id: int | None = None,
        account_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Add a line to the audit log."""
        with self._tx() as conn:
            self._event(conn, now, actor, action, article_id, delivery_id, account_id, detail)

    def list_events(self, *, limit: int = 100, delivery_id: int | None = None) -> list[Event]:
        q = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if delivery_id is not None:
            q = q.where(events.c.delivery_id == delivery_id)
        with self._tx() as conn:
            rows = conn.execute(q).mappings().all()
        return [Event(**dict(r)) for r in rows]

    # -- WebSub subscriptions ---------------------------------------------------------------

    def websub_rows(self) -> list[WebSubRow]:
        with self._tx() as conn:
            rows = conn.execute(sa.select(websub_subscriptions)).mappings().all()
        return [WebSubRow(**dict(r)) for r in rows]

    def websub_row(
        self, *, source_id: str | None = None, token: str | None = None
    ) -> WebSubRow | None:
        q = sa.select(websub_subscriptions)
        if source_id is not None:
            q = q.where(websub_subscriptions.c.source_id == source_id)
        if token is not None:
            q = q.where(websub_subscriptions.c.token == token)
        with self._tx() as conn:
            r = conn.execute(q).mappings().first()
        return WebSubRow(**dict(r)) if r else None

    def websub_save(self, row: WebSubRow, *, now: datetime) -> None:
        """Create or replace a source's subscription row."""
        values = dataclasses.asdict(row) | {"updated_at": now}
        with self._tx() as conn:
            t = websub_subscriptions
            conn.execute(t.delete().where(t.c.source_id == row.source_id))
            conn.execute(t.insert().values(**values))

    def websub_update(
        self, source_id: str, *, now: datetime, where_pending: str | None = None, **values: Any
    ) -> bool:
        """Change a subscription row (only while ``pending`` is ``where_pending``, if given)."""
        t = websub_subscriptions
        q = t.update().where(t.c.source_id == source_id)
        if where_pending is not None:
            q = q.where(t.c.pending == where_pending)
        with self._tx() as conn:
            return bool(conn.execute(q.values(**values, updated_at=now)).rowcount)

    def websub_delete(self, source_id: str) -> None:
        with self._tx() as conn:
            t = websub_subscriptions
            conn.execute(t.delete().where(t.c.source_id == source_id))


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r["id"],
        uid=r["uid"],
        article_id=r["article_id"],
        account_id=r["account_id"],
        purpose=r["purpose"],
        state=DeliveryState(r["state"]),
        text=r["text"],
        url=r["url"],
        not_before=r["not_before"],
        attempts=r["attempts"],
        priority=r["priority"],
        remote_id=r["remote_id"],
        remote_url=r["remote_url"],
        error=r["error"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        sent_at=r["sent_at"],
        lease_owner=r["lease_owner"],
        lease_until=r["lease_until"],
        extra=_extra(r),
    )


def _extra(r: Any) -> dict[str, str]:
    """Ledger columns the Delivery dataclass has no field for: ``cost`` (what the platform
    charged, e.g. ``"0.2"``) and ``created_by`` (``auto``, ``cli:ana``, ``web:ana``)."""
    out = {"created_by": str(r["created_by"])}
    if r["cost"] is not None:
        out["cost"] = repr(float(r["cost"]))
    return out


def _poll_free(owner: str, now: datetime) -> sa.ColumnElement[bool]:
    """A source no daemon polls now (no lease, an expired one, or ``owner``'s own)."""
    return sa.or_(
        sources.c.poll_until.is_(None), sources.c.poll_until <= now, sources.c.poll_owner == owner
    )


def _lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (bigint) for ``name``."""
    digest = hashlib.sha256(f"syndbot:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _aware(value: datetime | str | None) -> datetime | None:
    """A UTC datetime from an aggregate SQLite may return untyped."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _pk(result: sa.CursorResult[Any]) -> int:
    """The primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    if key is None:
        raise StoreError("insert returned no primary key")
    return int(key[0])


def _now() -> datetime:
    return datetime.now(UTC)
