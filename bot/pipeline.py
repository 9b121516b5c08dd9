"""The orchestration: poll → record → scrape → route → compose → queue → deliver.

Used by the daemon (``bot.scheduler``) and by the CLI; editors' actions go through here too, so
nothing ever calls a platform SDK directly. Time comes from ``clock`` so tests can drive it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import flow, identity, router
from bot.config import AccountConfig, Config, SourceConfig
from bot.errors import BotError, ConfigError, FetchError, ParseError, PublishError
from bot.feeds import parse_feed
from bot.fetcher import Fetcher, FetchResult
from bot.language import normalize_language
from bot.logs import log_context
from bot.metrics import NO_METRICS, Hooks
from bot.models import Article, Delivery, DeliveryState, FeedItem, Post, PublishResult
from bot.publishers import create_publisher, spec_for
from bot.publishers.base import InDoubt, PlatformSpec, Publisher, PublisherContext
from bot.scraper import article_from_item, parse_article
from bot.store import DueDelivery, NewDelivery, SourceState, Store, StoredArticle
from bot.summarizer import compose
from bot.textlen import length

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
IMAGE_MAX_BYTES = 20_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnknownSite(BotError):
    """An editor gave a URL that belongs to no configured source."""


@dataclass(frozen=True, slots=True)
class PollReport:
    source_id: str
    status: str  # "200", "304", "error", "skipped"
    new: int = 0
    items: int = 0
    error: str | None = None


@dataclass(slots=True)
class DeliverReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    results: list[tuple[Delivery, str]] = field(default_factory=list)  # (delivery, outcome)
    waiting: int = 0  # pushed back by flow control (quiet hours, spacing, caps)
    skipped: int = 0  # skipped by flow control (max_age, budget)


@dataclass(frozen=True, slots=True)
class _Pause:
    """An account held back after a retryable failure (rate limit, outage): until when, why,
    and how many of its attempts in a row failed (its backoff grows with them)."""

    until: datetime
    reason: str
    failures: int


@dataclass(frozen=True, slots=True)
class Preview:
    """An article and the post each of its accounts would get."""

    article: Article
    source_id: str
    posts: tuple[Post, ...]
    routed: tuple[str, ...]  # accounts the automatic route sends it to


def select_first_run(source: SourceConfig) -> Callable[[list[FeedItem]], set[int]]:
    """The first-run policy of ``source`` as a chooser over the items of its first poll."""
    policy = source.first_run

    def choose(items: list[FeedItem]) -> set[int]:
        if policy.mode == "skip":
            return set()
        if policy.mode == "latest":
            newest = sorted(
                range(len(items)),
                key=lambda i: (
                    items[i].published is not None,
                    items[i].published or datetime.min.replace(tzinfo=UTC),
                ),
                reverse=True,
            )
            return set(newest[: policy.count])
        since = policy.since
        return {
            i
            for i, it in enumerate(items)
            if it.published is not None and since is not None and it.published >= since
        }

    return choose


class Pipeline:
    """Everything the daemon and the CLI do, on one config and one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        fetcher: Fetcher | None = None,
        clock: Clock = utcnow,
        owner: str = "syndbot",
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher or Fetcher(config.fetch)
        self.clock = clock
        self.owner = owner
        self.rng = rng or random.Random()
        self.context = PublisherContext(
            load_image=self._load_image,
            state_dir=Path(config.state_dir),
            timeout=config.publish_timeout,
        )
        self._publishers: dict[str, Publisher] = {}
        self._publishers_lock = threading.Lock()
        self._fetch_pools: dict[int, ThreadPoolExecutor] = {}
        self._retired: list[tuple[datetime, Publisher | Fetcher]] = []  # closed after a grace
        self._process_lock = threading.Lock()
        self._pauses: dict[str, _Pause] = {}
        self.on_queued: Callable[[], None] | None = None
        self.metrics: Hooks = NO_METRICS  # the daemon's bot.metrics.Metrics when monitored

    def close(self) -> None:
        with self._publishers_lock:
            for p in self._publishers.values():
                p.close()
            self._publishers.clear()
        self.close_retired(None)
        for pool in self._fetch_pools.values():
            pool.shutdown(wait=True)
        self._fetch_pools.clear()
        self.fetcher.close()

    def replace_config(
        self, config: Config, *, accounts: Iterable[str] = (), fetch: bool = False
    ) -> None:
        """Swap in a reloaded config (the daemon's hot reload; see ``bot.reload``). A job reads
        ``self.config`` once as it starts, so one in flight finishes on the config it began with.
        The publishers of ``accounts`` and, with ``fetch``, the fetcher are rebuilt on next use;
        the old ones are closed ``lease`` later (``close_retired``), when a send they may still
        serve has finished or is presumed dead. Returns once the articles being processed on
        the old config are queued, so their texts can be composed again."""
        now = self.clock()
        with self._publishers_lock:
            for account_id in accounts:
                old = self._publishers.pop(account_id, None)
                if old is not None:
                    self._retired.append((now, old))
            if fetch:
                self._retired.append((now, self.fetcher))
                self.fetcher = Fetcher(config.fetch)
            self.config = config
        with self._process_lock:  # articles being processed on the old config are queued
            pass

    def close_retired(self, now: datetime | None) -> None:
        """Close publishers and fetchers replaced by a reload at least ``lease`` before ``now``
        (all of them when ``now`` is None)."""
        with self._publishers_lock:
            due = [
                (at, old)
                for at, old in self._retired
                if now is None or (now - at).total_seconds() >= self.config.lease
            ]
            self._retired = [r for r in self._retired if r not in due]
        for _, old in due:
            try:
                old.close()
            except Exception:  # closing a replaced client must not break the daemon
                log.debug("closing a replaced client failed", exc_info=True)

    # -- polling --------------------------------------------------------------------------------

    def poll(
        self, source: SourceConfig, *, force: bool = False, min_gap: float = 0.0
    ) -> PollReport:
        """Fetch one source's feed and record its new items. Never raises for a bad site.

        Daemons sharing a ledger take turns: the poll is claimed with a lease first, and is
        skipped when another daemon holds it, or polled the source less than ``min_gap``
        seconds ago (the daemon's schedule passes most of the source's interval).
        """
        with log_context(source=source.id):
            now = self.clock()
            config = self.config
            if not self.store.claim_poll(
                source.id, owner=self.owner, now=now, lease=config.lease, min_gap=min_gap
            ):
                return PollReport(source.id, "skipped", error="polled by another daemon")
            try:
                report = self._poll(source, force=force, now=now)
            finally:
                self.store.release_poll(source.id, owner=self.owner)
        self.metrics.polled(report)
        return report

    def _poll(self, source: SourceConfig, *, force: bool, now: datetime) -> PollReport:
        state = self.store.source_state(source.id)
        if not force and state.backoff_until is not None and state.backoff_until > now:
            return PollReport(source.id, "skipped", error=state.last_error)
        if source.type == "wordpress":
            return self._poll_wordpress(source, state, now)
        try:
            result = self._fetch_feed(source, state)
        except FetchError as e:
            return self._poll_failed(source, state.failures, now, str(e))
        if result.not_modified:
            self.store.record_poll(
                source.id,
                now=now,
                status="304",
                etag=result.etag,
                last_modified=result.last_modified,
                final_url=result.final_url,
            )
            log.debug("source %s: not modified", source.id)
            return PollReport(source.id, "304")
        return self._ingest(source, state, now, result)

    def poll_many(
        self, sources: Sequence[SourceConfig], *, force: bool = False, workers: int = 16
    ) -> list[PollReport]:
        """Poll many sources at once, with the outcome ``poll`` gives each (lease, backoff,
        conditional GET, first-run policy, catch-up pages), in fewer steps: the polls are
        claimed and the states read in one query each, feeds are fetched by ``workers`` threads
        (over the fetcher's keep-alive connections) while this thread parses and records the
        changed ones as they arrive, and every ``304 Not Modified`` is recorded in one
        transaction at the end. Reports come in the order of ``sources``. Never raises for a
        bad site."""
        now = self.clock()
        reports: dict[str, PollReport] = {}
        claimed = self.store.claim_polls(
            [s.id for s in sources], owner=self.owner, now=now, lease=self.config.lease
        )
        for source in sources:
            if source.id not in claimed:
                reports[source.id] = PollReport(
                    source.id, "skipped", error="polled by another daemon"
                )
        mine = [s for s in sources if s.id in claimed]
        try:
            self._poll_claimed(mine, force=force, workers=workers, now=now, reports=reports)
        finally:
            self.store.release_polls([s.id for s in mine], owner=self.owner)
        for source in mine:
            self.metrics.polled(reports[source.id])
        return [reports[s.id] for s in sources]

    def _poll_claimed(
        self,
        sources: Sequence[SourceConfig],
        *,
        force: bool,
        workers: int,
        now: datetime,
        reports: dict[str, PollReport],
    ) -> None:
        states = self.store.source_states(s.id for s in sources)
        feeds: list[SourceConfig] = []
        for source in sources:
            state = states[source.id]
            if not force and state.backoff_until is not None and state.backoff_until > now:
                reports[source.id] = PollReport(source.id, "skipped", error=state.last_error)
            elif source.type == "wordpress":
                with log_context(source=source.id):
                    reports[source.id] = self._poll_wordpress(source, state, now)
            else:
                feeds.append(source)
        not_modified: list[tuple[str, str | None, str | None, str | None]] = []
        workers = max(1, workers)
        todo: queue.SimpleQueue[SourceConfig] = queue.SimpleQueue()
        for source in feeds:
            todo.put(source)
        # The fetch threads keep the 304s (most polls) to themselves and hand this thread only
        # the feeds that changed or failed, to parse and record. At most 2 × workers wait, so
        # memory stays bounded when fetching outpaces parsing (a cold start of many sources).
        changed: queue.Queue[tuple[SourceConfig, FetchResult | Exception] | None] = queue.Queue(
            maxsize=2 * workers
        )

        stop = threading.Event()

        def fetch_all() -> None:
            try:
                while not stop.is_set():
                    try:
                        source = todo.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        result = self._fetch_feed(source, states[source.id])
                    except Exception as e:  # FetchError, or a bug: this source's poll fails
                        changed.put((source, e))
                        continue
                    if result.not_modified:
                        not_modified.append(
                            (source.id, result.etag, result.last_modified, result.final_url)
                        )
                        reports[source.id] = PollReport(source.id, "304")
                    else:
                        changed.put((source, result))
            finally:
                changed.put(None)

        pool = self._fetch_pool(workers) if feeds else None
        running = [pool.submit(fetch_all) for _ in range(min(workers, len(feeds)))] if pool else []
        finished = 0
        try:
            while finished < len(running):
                item = changed.get()
                if item is None:
                    finished += 1
                    continue
                source, outcome = item
                state = states[source.id]
                with log_context(source=source.id):
                    if isinstance(outcome, Exception):
                        if not isinstance(outcome, FetchError):
                            log.error("source %s: fetch failed", source.id, exc_info=outcome)
                        error = str(outcome) or type(outcome).__name__
                        reports[source.id] = self._poll_failed(source, state.failures, now, error)
                    else:
                        reports[source.id] = self._ingest(source, state, self.clock(), outcome)
        finally:
            # The ledger failed us (or a bug): stop the fetch threads, and take what they hold
            # so that none stays blocked on the full queue.
            stop.set()
            while finished < len(running):
                if changed.get() is None:
                    finished += 1
        self.store.record_not_modified(not_modified, now=now)
        if not_modified:
            log.debug("%d source(s) not modified", len(not_modified))

    def _fetch_pool(self, workers: int) -> ThreadPoolExecutor:
        """The fetch threads of ``poll_many``, kept between calls (starting 16 threads costs
        a tenth of a warm poll of 1,000 feeds)."""
        with self._publishers_lock:
            pool = self._fetch_pools.get(workers)
            if pool is None:
                pool = ThreadPoolExecutor(workers, thread_name_prefix="poll")
                self._fetch_pools[workers] = pool
            return pool

    def _fetch_feed(self, source: SourceConfig, state: SourceState) -> FetchResult:
        with self.metrics.fetching(source.id):
            return self.fetcher.fetch(
                source.feed, etag=state.etag, last_modified=state.last_modified
            )

    def _ingest(
        self, source: SourceConfig, state: SourceState, now: datetime, result: FetchResult
    ) -> PollReport:
        """Parse a fetched feed and record its items (and the poll). Never raises for a bad
        feed."""
        try:
            keyed = _keyed_items(result, source)
        except ParseError as e:
            return self._poll_failed(source, state.failures, now, str(e))
        if state.initialized and source.catch_up_pages:
            keyed += self._catch_up(source, keyed)
        new_ids = self.store.record_items(
            source.id, keyed, now=now, select_new=select_first_run(source)
        )
        self.store.record_poll(
            source.id,
            now=now,
            status="200",
            etag=result.etag,
            last_modified=result.last_modified,
            final_url=result.final_url,
        )
        if result.redirects:
            log.info("source %s: feed redirected to %s", source.id, result.final_url)
        if new_ids:
            log.info(
                "source %s: %d new article(s) of %d in the feed",
                source.id,
                len(new_ids),
                len(keyed),
            )
        return PollReport(source.id, "200", new=len(new_ids), items=len(keyed))

    def _poll_wordpress(
        self, source: SourceConfig, state: SourceState, now: datetime
    ) -> PollReport:
        """A WordPress REST source: only posts modified since the stored cursor, paged."""
        from bot.wordpress import poll_wordpress

        try:
            with self.metrics.fetching(source.id):
                result = poll_wordpress(
                    self.fetcher,
                    source_id=source.id,
                    url=source.feed,
                    cursor=state.cursor,
                    auth=source.auth,
                    default_language=source.language,
                )
        except (FetchError, ParseError) as e:
            return self._poll_failed(source, state.failures, now, str(e))
        keyed = [(item, keys) for item in result.items if (keys := identity.item_keys(item))]
        new_ids = self.store.record_items(
            source.id, keyed, now=now, select_new=select_first_run(source)
        )
        self.store.record_poll(source.id, now=now, status="200", cursor=result.cursor)
        if new_ids:
            log.info(
                "source %s: %d new article(s) of %d changed posts",
                source.id,
                len(new_ids),
                len(keyed),
            )
        return PollReport(source.id, "200", new=len(new_ids), items=len(keyed))

    def _catch_up(
        self, source: SourceConfig, first_page: list[tuple[FeedItem, tuple[str, ...]]]
    ) -> list[tuple[FeedItem, tuple[str, ...]]]:
        """Items of older feed pages (WordPress ``?paged=2``, 3, …), read while the last page
        held any new article: a burst can be larger than the feed (WordPress lists only the 10
        newest), and a late or back-dated article can sit among known ones. Stops at a page with
        nothing new, an empty page, the same page again (a feed that ignores ``paged``), an
        error, or ``catch_up_pages``; never raises.

        Articles published while we read push the older ones down: a page may then repeat items
        already read in this poll. Such a page is not "nothing new": reading goes on, or the
        articles pushed past it would be missed for good."""
        more: list[tuple[FeedItem, tuple[str, ...]]] = []
        page = first_page
        seen = {k for _, keys in page for k in keys}
        shifted = False  # the last page held only items read earlier in this poll
        last_keys: set[str] = set(seen)
        repeats = 0
        for n in range(2, source.catch_up_pages + 3):
            if not shifted:
                known = self.store.known_keys(k for _, keys in page for k in keys)
                if all(known.intersection(keys) for _, keys in page):
                    break
            if n == source.catch_up_pages + 2:
                log.warning(
                    "source %s: feed page %d still had new articles, but catch_up_pages is %d: "
                    "older new articles on later pages are not read (raise catch_up_pages)",
                    source.id,
                    n - 1,
                    source.catch_up_pages,
                )
                break
            url = f"{source.feed}{'&' if '?' in source.feed else '?'}paged={n}"
            try:
                older = _keyed_items(self.fetcher.fetch(url), source)
            except (FetchError, ParseError) as e:
                log.debug("source %s: no feed page %d (%s)", source.id, n, e)
                break
            page_keys = {k for _, keys in older for k in keys}
            # The end of the feed; or the same page twice more: a feed that ignores ?paged (a
            # single repeat can be a shift by exactly one page).
            repeats = repeats + 1 if page_keys == last_keys else 0
            if not older or repeats == 2:
                break
            last_keys = page_keys
            page = [(item, keys) for item, keys in older if not seen.intersection(keys)]
            shifted = not page
            seen.update(k for _, keys in page for k in keys)
            more += page
            log.debug("source %s: read feed page %d (%d items)", source.id, n, len(page))
        return more

    def _poll_failed(
        self, source: SourceConfig, failures: int, now: datetime, error: str
    ) -> PollReport:
        wait = min(source.every * 2 ** min(failures, 10), 3600.0) * self.rng.uniform(0.9, 1.1)
        until = now + timedelta(seconds=wait)
        self.store.record_poll(source.id, now=now, status="error", error=error, backoff_until=until)
        log.warning(
            "source %s: poll failed (%s); next try in %ds (failure %d)",
            source.id,
            error,
            wait,
            failures + 1,
        )
        return PollReport(source.id, "error", error=error)

    # -- processing new articles ----------------------------------------------------------------

    def process_new(self, limit: int = 200) -> int:
        """Scrape, route and queue every article recorded as new. Returns how many were done."""
        done = 0
        with self._process_lock:
            while True:
                batch = self.store.claim_new_articles(
                    owner=self.owner,
                    now=self.clock(),
                    lease=self.config.lease,
                    limit=min(limit - done, 5),
                )
                if not batch:
                    break
                for stored in batch:
                    with log_context(source=stored.source_id, article=stored.id):
                        self.process_article(stored)
                    done += 1
                if done >= limit:
                    break
        if done and self.on_queued:
            self.on_queued()
        return done

    def process_article(self, stored: StoredArticle) -> list[int]:
        """Build the Article for one new row, route it, and queue one delivery per account."""
        now = self.clock()
        config = self.config  # once: a reload in the middle must not mix two configs
        source = self._source(stored.source_id, config)
        try:
            article = self._scrape(stored.item, source)
            if not article.url:
                raise ParseError("the feed entry has no http(s) link to post")
            keys = identity.article_keys(article.url, article.wp_post_id)
        except (ParseError, ValueError) as e:
            # Not postable (no title, no usable link): recorded as seen, never tried again.
            self.store.mark_article(stored.id, "seen", now=now, note=f"not posted: {e}")
            log.warning("article #%d (%s): not posted: %s", stored.id, stored.source_id, e)
            return []
        other = self.store.learn_keys(stored.id, keys)
        if other is not None:
            self.store.mark_article(
                stored.id, "duplicate", now=now, note=f"same article as #{other}"
            )
            log.info("article %s is the same as #%d; not posted again", article.url, other)
            return []
        accounts = router.route(article, stored.source_id, config)
        new = [self._new_delivery(article, account) for account in accounts]
        ids = self.store.route_article(
            stored.id,
            article,
            new,
            now=now,
            note=None if accounts else "no route sends this article to any account",
        )
        if accounts and not ids:
            log.debug("article %s: already routed (by another daemon)", article.url)
            return ids
        log.info(
            "article %s (%s): queued for %s",
            article.url,
            stored.source_id,
            ", ".join(a.id for a in accounts) or "no account",
        )
        return ids

    def _new_delivery(self, article: Article, account: AccountConfig) -> NewDelivery:
        try:
            post = compose(article, account, self.spec(account))
        except Exception as e:  # a bug in composing must not lose the article
            log.exception("article %s: composing for %s failed", article.url, account.id)
            return NewDelivery(
                account_id=account.id,
                text="",
                url=article.url,
                state=DeliveryState.FAILED,
                error=f"could not compose the post: {e}",
            )
        admission = flow.admit(account, article)
        return NewDelivery(
            account_id=account.id,
            text=post.text,
            url=post.url,
            priority=admission.priority,
            state=admission.state,
            error=admission.note,
        )

    def _source(self, source_id: str, config: Config | None = None) -> SourceConfig | None:
        try:
            return (config or self.config).source(source_id)
        except KeyError:
            return None

    def _scrape(self, item: FeedItem, source: SourceConfig | None) -> Article:
        """The Article from the page, or from the feed's fields when the page fails."""
        language = source.language if source else None
        article: Article | None = None
        if item.link and (source is None or source.should_scrape):
            try:
                page = self._fetch_linked(item.link, source)
                article = parse_article(
                    page.content, page.final_url, item=item, default_language=language
                )
            except (FetchError, ParseError) as e:
                log.warning(
                    "article %s: page unavailable (%s); using the feed's fields", item.link, e
                )
            except Exception:  # a page that breaks the scraper must not stall the queue
                log.exception(
                    "article %s: reading the page failed; using the feed's fields", item.link
                )
        if article is None:
            article = article_from_item(item, default_language=language)
        return _with_source_language(article, source)

    def _fetch_linked(self, url: str, source: SourceConfig | None) -> FetchResult:
        """GET a URL a feed or page gave: the site's own hosts, or any public host (a feed may
        link to the site's canonical domain), never a loopback or private address."""
        hosts = {_host(source.feed), *source.hosts} if source is not None else set()
        return self.fetcher.fetch(url, allowed_hosts=hosts, public_only=True)

    def _hosts_for(self, source: SourceConfig | None, url: str) -> set[str]:
        hosts = {_host(url)}
        if source is not None:
            hosts |= {_host(source.feed), *source.hosts}
        return hosts

    # -- delivering -----------------------------------------------------------------------------

    # -- unpublished articles -------------------------------------------------------------------

    def recheck_unpublished(self) -> int:
        """Look again at recently posted articles. One that answers 404/410 has its pending
        posts cancelled at once; when it is still gone ``recheck.every`` later, its copies are
        deleted on accounts with ``on_unpublish: delete`` whose platform can delete. Errors,
        timeouts and 5xx never count as gone. Returns how many articles were confirmed gone."""
        r = self.config.recheck
        if not r.enabled:
            return 0
        now = self.clock()
        confirmed = 0
        for stored in self.store.articles_to_recheck(now=now, every=r.every, window=r.window):
            with log_context(source=stored.source_id, article=stored.id):
                gone = self._is_gone(stored)
                if gone is None:
                    continue
                since = self.store.mark_checked(stored.id, now=now, gone=gone)
                if since is None:
                    continue
                self._cancel_pending(stored)
                if (now - since).total_seconds() >= r.every and self._delete_copies(stored):
                    self.store.mark_article(
                        stored.id,
                        "unpublished",
                        now=now,
                        note=f"gone from the site since {since.isoformat(timespec='minutes')}",
                    )
                    confirmed += 1
        return confirmed

    def _is_gone(self, stored: StoredArticle) -> bool | None:
        """True on 404/410 (or a REST post no longer published), False when the article is
        there, None when we cannot tell (an error, a timeout, a 5xx)."""
        source = self._source(stored.source_id)
        article = stored.article
        try:
            if source is not None and source.type == "wordpress" and article and article.wp_post_id:
                from bot.wordpress import posts_endpoint

                endpoint = posts_endpoint(source.feed)
                url = (
                    f"{endpoint}/{article.wp_post_id}"
                    if "?" not in endpoint
                    else endpoint.replace("/wp/v2/posts", f"/wp/v2/posts/{article.wp_post_id}")
                )
                body = self.fetcher.fetch(url, auth=source.auth, accept="application/json").content
                status = json.loads(body).get("status", "publish") if body else "publish"
                return status not in ("publish", "future")
            url = article.url if article else stored.url
            self._fetch_linked(url, source)
            return False
        except FetchError as e:
            if e.status in (404, 410):
                return True
            log.debug("article %s: cannot tell whether it is still online (%s)", stored.url, e)
            return None
        except (ValueError, AttributeError):
            return None

    def _cancel_pending(self, stored: StoredArticle) -> None:
        pending = (DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.PENDING)
        for d in self.store.list_deliveries(article_id=stored.id, states=pending, limit=1000):
            if self.store.set_delivery_state(
                d.id,
                DeliveryState.CANCELLED,
                now=self.clock(),
                actor="system",
                allowed_from=pending,
                error="the article is no longer on the site (404/410)",
            ):
                log.warning(
                    "article %s is gone from the site: post %d to %s cancelled",
                    stored.url,
                    d.id,
                    d.account_id,
                )

    def _delete_copies(self, stored: StoredArticle) -> bool:
        """Delete the article's copies where asked and possible. False when a deletion must be
        tried again later (a retryable error)."""
        done = True
        for d in self.store.list_deliveries(
            article_id=stored.id, states=[DeliveryState.SENT], limit=1000
        ):
            try:
                account = self.config.account(d.account_id)
            except KeyError:
                continue
            if account.on_unpublish != "delete":
                continue
            spec = self.spec(account)  # live: a webhook can delete or not depending on its kind
            publisher = self._publisher(account)
            delete = getattr(publisher, "delete", None)
            if not spec.can_delete or delete is None or not d.remote_id:
                self.store.log_event(
                    now=self.clock(),
                    actor="system",
                    action="not_deleted",
                    article_id=stored.id,
                    delivery_id=d.id,
                    account_id=account.id,
                    detail=f"{account.platform} does not allow syndbot to delete posts; remove it by hand",
                )
                continue
            try:
                delete(d.remote_id)
            except PublishError as e:
                if e.retryable:
                    done = False
                    log.warning(
                        "article %s: deleting post %d on %s failed, will retry: %s",
                        stored.url,
                        d.id,
                        account.id,
                        e,
                    )
                else:
                    self.store.log_event(
                        now=self.clock(),
                        actor="system",
                        action="delete_failed",
                        article_id=stored.id,
                        delivery_id=d.id,
                        account_id=account.id,
                        detail=str(e),
                    )
                    log.error(
                        "article %s: could not delete post %d on %s: %s",
                        stored.url,
                        d.id,
                        account.id,
                        e,
                    )
                continue
            self.store.mark_deleted(
                d.id, now=self.clock(), detail="deleted: the article was unpublished from the site"
            )
            log.warning(
                "article %s was unpublished: deleted its copy on %s (%s)",
                stored.url,
                account.id,
                d.remote_url or d.remote_id,
            )
        return done

    def recover(self) -> int:
        """Put deliveries left ``sending`` by a dead process back in line (or hold them)."""
        n = self.store.recover_expired(now=self.clock(), policy=self._in_doubt_policy)
        if n:
            log.warning("recovered %d interrupted deliveries", n)
        return n

    def _in_doubt_policy(self, account_id: str) -> InDoubt:
        try:
            return spec_for(self.config.account(account_id)).in_doubt
        except KeyError:
            return InDoubt.HOLD

    def deliver_due(
        self,
        *,
        stop: threading.Event | None = None,
        only: Iterable[int] | None = None,
        limit: int = 1000,
    ) -> DeliverReport:
        """Send due deliveries one at a time until none is due (or ``stop`` is set)."""
        report = DeliverReport()
        report.recovered = self.recover()
        config = self.config  # once: a reload meanwhile applies from the next run
        enabled = [a.id for a in config.accounts if a.enabled]
        wanted = set(only) if only is not None else None
        window = max([86400.0, *(a.limits.min_gap or 0.0 for a in config.accounts)])
        handled = 0
        while handled < limit and not (stop and stop.is_set()):
            now = self.clock()
            step = self.store.claim_next(
                now=now,
                owner=self.owner,
                lease=config.lease,
                gate=self._gate(now, config),
                since=now - timedelta(seconds=window),
                month_start=flow.month_start(now, config.tz),
                accounts=enabled if wanted is None else None,
                ids=wanted,
            )
            for d, wait in step.waiting:
                report.waiting += 1
                log.info(
                    "delivery %d of %s to %s waits: %s",
                    d.id,
                    d.url,
                    d.account_id,
                    wait.reason,
                    extra=_log_fields(d),
                )
            for d, skip in step.skipped:
                report.skipped += 1
                report.results.append((d, "skipped"))
                log.warning(
                    "delivery %d of %s to %s skipped: %s",
                    d.id,
                    d.url,
                    d.account_id,
                    skip.reason,
                    extra=_log_fields(d),
                )
            if step.claimed is None:
                if not step.decided:
                    break
                continue
            d = step.claimed
            with log_context(article=d.article_id, account=d.account_id, delivery=d.id):
                outcome = self._send(d, config)
            self.metrics.delivered(d.account_id, outcome)
            report.results.append((d, outcome))
            if outcome == "sent":
                report.sent += 1
            elif outcome == "retry":
                report.retried += 1
            else:
                report.failed += 1
            handled += 1
        return report

    def _gate(
        self, now: datetime, config: Config | None = None
    ) -> Callable[[DueDelivery], flow.Decision]:
        """Flow control for ``claim_next``: the account's limits, priority rules and budget
        applied to one due delivery (pure; runs inside the store's transaction)."""
        config = config or self.config
        tz = config.tz

        def gate(due: DueDelivery) -> flow.Decision:
            d = due.delivery
            try:
                account = config.account(d.account_id)
            except KeyError:
                return flow.Send()  # _send fails it, naming the missing account
            pause = self._pauses.get(account.id)
            if pause is not None and pause.until > now:
                return flow.Wait(pause.until, pause.reason)  # queued after the account paused
            candidate = self._candidate(due, account)
            decision = flow.decide(
                now,
                candidate,
                limits=account.limits,
                history=due.history,
                tz=tz,
                budget=account.budget,
            )
            if isinstance(decision, flow.Skip) and decision.rule == "max_age" and due.released():
                decision = flow.decide(
                    now,
                    dataclasses.replace(candidate, released=True),
                    limits=account.limits,
                    history=due.history,
                    tz=tz,
                    budget=account.budget,
                )
            return decision

        return gate

    @staticmethod
    def _candidate(due: DueDelivery, account: AccountConfig) -> flow.Candidate:
        d = due.delivery
        stored = due.article
        article = stored.article if stored is not None else None
        rule = flow.priority_rule(account.priority, article) if article is not None else None
        born = None
        if stored is not None:
            born = (article.published if article else None) or stored.item.published
            born = born or stored.first_seen
        prices = account.prices
        return flow.Candidate(
            id=d.id,
            priority=d.priority,
            cost=flow.post_cost(d.text, prices, spec_for(account).counting) if prices else None,
            born=born,
            ignore_quiet_hours=rule.ignore_quiet_hours if rule else False,
            ignore_caps=rule.ignore_caps if rule else False,
            repost=d.purpose != "auto",
        )

    def budget_status(self, account_id: str) -> flow.BudgetStatus | None:
        """The account's spending this month (config time zone), or None without a budget.
        An unknown account raises ``BotError``."""
        account = self._account(account_id)
        if account.budget is None:
            return None
        now = self.clock()
        spent, posts = self.store.month_spend(
            account.id, since=flow.month_start(now, self.config.tz)
        )
        return flow.budget_status(
            account.id, account.budget, spent=spent, posts=posts, now=now, tz=self.config.tz
        )

    def spec(self, account: AccountConfig) -> PlatformSpec:
        """The account's platform facts, from the server when the publisher can ask it
        (``live_spec``, cached by the publisher), else the declared ones."""
        spec = spec_for(account)
        if account.platform == "console":
            return spec
        try:
            live = getattr(self._publisher(account), "live_spec", None)
            current: PlatformSpec = live() if live is not None else spec
        except Exception:  # the declared spec is always a safe answer
            log.warning(
                "account %s: could not read its limits; using the defaults",
                account.id,
                exc_info=True,
            )
            return spec
        if account.max_length is not None and account.max_length < current.max_length:
            current = dataclasses.replace(current, max_length=account.max_length)
        return current

    def _load_image(self, url: str) -> bytes:
        """An article image for a publisher, at most 20 MB: from a configured site, or from any
        public host (pages link to CDNs), never from a private or loopback address."""
        hosts = {h for s in self.config.sources for h in (_host(s.feed), *s.hosts)}
        return self.fetcher.fetch(
            url, max_bytes=IMAGE_MAX_BYTES, accept="image/*", allowed_hosts=hosts, public_only=True
        ).content

    def _publisher(self, account: AccountConfig) -> Publisher:
        with self._publishers_lock:
            p = self._publishers.get(account.id)
            if p is None:
                p = create_publisher(account, self.context)
                self._publishers[account.id] = p
            return p

    def _send(self, d: Delivery, config: Config | None = None) -> str:
        """Publish one claimed delivery and record the result. Returns sent|retry|failed."""
        try:
            account = (config or self.config).account(d.account_id)
        except KeyError:
            self.store.mark_failed(
                d.id, self.owner, f"account {d.account_id!r} is not in the config", now=self.clock()
            )
            return "failed"
        try:
            post = self._post_for(d, account)
            result = self._publisher(account).publish(post, idempotency_key=d.uid)
        except PublishError as e:
            return self._publish_failed(d, account, e)
        except ConfigError as e:
            self.store.mark_failed(d.id, self.owner, str(e), now=self.clock())
            log.error("delivery %d to %s failed: %s", d.id, account.id, e)
            return "failed"
        except Exception as e:  # an unexpected bug: keep the post, try again later
            log.exception("delivery %d to %s: unexpected error", d.id, account.id)
            err = PublishError(
                f"unexpected error: {type(e).__name__}: {e}",
                platform=account.platform,
                retryable=True,
            )
            return self._publish_failed(d, account, err)
        return self._published(d, account, result)

    def _post_for(self, d: Delivery, account: AccountConfig) -> Post:
        """The stored text of a delivery, with its article's card, image and language."""
        spec = spec_for(account)
        stored = self.store.get_article(d.article_id)
        article = stored.article if stored else None
        return Post(
            account_id=account.id,
            platform=account.platform,
            text=d.text,
            url=d.url,
            length=length(d.text, spec.counting),
            limit=spec.max_length,
            image=article.image if article else None,
            title=article.title if article else "",
            description=(article.description or article.lead) if article else "",
            language=article.language if article else None,
        )

    def _published(self, d: Delivery, account: AccountConfig, result: PublishResult) -> str:
        now = self.clock()
        if result.duplicate and d.purpose != "auto" and d.attempts <= 1:
            msg = (
                f"{account.platform} already has a post with exactly this text; "
                "change the text (--text) to post it again"
            )
            self.store.mark_failed(d.id, self.owner, msg, now=now)
            log.warning("repost %d to %s refused: %s", d.id, account.id, msg)
            return "failed"
        self.store.mark_sent(d.id, self.owner, result, now=now)
        self._pauses.pop(account.id, None)
        if result.duplicate:
            log.info(
                "delivery %d to %s: already on %s (duplicate); recorded as sent",
                d.id,
                account.id,
                account.platform,
            )
        else:
            log.info("posted %s to %s: %s", d.url, account.id, result.url or result.remote_id)
        return "sent"

    def _publish_failed(self, d: Delivery, account: AccountConfig, e: PublishError) -> str:
        now = self.clock()
        age = (now - d.created_at).total_seconds() if d.created_at else 0.0
        if not e.retryable:
            self.store.mark_failed(d.id, self.owner, str(e), now=now)
            log.error("delivery %d of %s to %s failed for good: %s", d.id, d.url, account.id, e)
            return "failed"
        if age > self.config.retry.give_up_after:
            msg = f"gave up after {d.attempts} attempts over {age / 3600:.1f} h; last error: {e}"
            self.store.mark_failed(d.id, self.owner, msg, now=now)
            log.error("delivery %d of %s to %s: %s", d.id, d.url, account.id, msg)
            return "failed"
        # The whole account waits, and its wait grows with its failures in a row: the next
        # post (queued or still to come) would meet the same limit or outage.
        previous = self._pauses.get(account.id)
        failures = (previous.failures if previous else 0) + 1
        wait = self.backoff(max(d.attempts, failures), e.retry_after)
        if e.retry_after is not None:
            self.metrics.rate_limited(account.id)
        not_before = now + timedelta(seconds=wait)
        reason = f"waiting: {account.id} is paused after: {e}"
        self._pauses[account.id] = _Pause(not_before, reason, failures)
        self.store.mark_retry(d.id, self.owner, str(e), not_before=not_before, now=now)
        self.store.defer_account(account.id, not_before, now=now, reason=reason)
        log.warning(
            "delivery %d of %s to %s: %s; retrying in %ds", d.id, d.url, account.id, e, round(wait)
        )
        return "retry"

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempts + 1``: exponential with jitter, or the
        platform's own reset time when it gave one."""
        r = self.config.retry
        base = min(r.first * 2.0 ** max(attempts - 1, 0), r.max_wait) * self.rng.uniform(0.8, 1.2)
        if retry_after is not None:
            return max(retry_after + self.rng.uniform(0.5, 3.0), 1.0)
        return max(base, 1.0)

    # -- editors --------------------------------------------------------------------------------

    def source_for_url(self, url: str) -> SourceConfig:
        """The configured source whose site ``url`` belongs to; ``UnknownSite`` otherwise."""
        if not url.lower().startswith(("http://", "https://")):
            raise UnknownSite(f"not a web address: {url!r}")
        host = _host(url)
        for s in self.config.sources:
            if host == _host(s.feed) or host in {h.lower().removeprefix("www.") for h in s.hosts}:
                return s
        sites = ", ".join(sorted({_host(s.feed) for s in self.config.sources})) or "none"
        raise UnknownSite(f"{url} is not on a configured site (configured: {sites})")

    def fetch_article(self, url: str) -> tuple[SourceConfig, Article]:
        """Fetch and parse an article page of a configured site (editors' URLs)."""
        source = self.source_for_url(url)
        page = self.fetcher.fetch(url, allowed_hosts=self._hosts_for(source, source.feed))
        article = parse_article(page.content, page.final_url, default_language=source.language)
        return source, _with_source_language(article, source)

    def preview(self, url: str, accounts: Sequence[str] | None = None) -> Preview:
        """What each routed account (or each of ``accounts``) would post for ``url``."""
        source, article = self.fetch_article(url)
        routed = tuple(a.id for a in router.route(article, source.id, self.config))
        targets = (
            [self._account(a) for a in accounts] if accounts else [self._account(a) for a in routed]
        )
        posts = tuple(compose(article, a, self.spec(a)) for a in targets)
        return Preview(article=article, source_id=source.id, posts=posts, routed=routed)

    def _account(self, account_id: str) -> AccountConfig:
        try:
            return self.config.account(account_id)
        except KeyError:
            known = ", ".join(a.id for a in self.config.accounts) or "none"
            raise BotError(f"unknown account {account_id!r} (configured: {known})") from None

    def repost(
        self,
        url: str,
        accounts: Sequence[str],
        *,
        text: str | None = None,
        at: datetime | None = None,
        actor: str = "cli",
        preview: Preview | None = None,
    ) -> list[tuple[int, Post]]:
        """Queue an editor's repost of ``url`` to ``accounts``: always a new delivery, never
        blocked by the automatic one. Returns (delivery id, post) pairs."""
        pv = preview or self.preview(url, accounts)
        article = pv.article
        now = self.clock()
        keys = identity.article_keys(article.url, article.wp_post_id)
        stored = self.store.article_by_key(keys)
        if stored is None:
            item = FeedItem(
                source_id=pv.source_id,
                guid=None,
                link=article.url,
                title=article.title,
                published=article.published,
                wp_post_id=article.wp_post_id,
            )
            article_id = self.store.create_article(pv.source_id, item, keys, now=now)
        else:
            article_id = stored.id
        self.store.save_article(article_id, article, now=now)
        out: list[tuple[int, Post]] = []
        for account_id in accounts:
            account = self._account(account_id)
            post = compose(article, account, self.spec(account), text=text)
            purpose = self.store.next_repost_purpose(article_id, account.id)
            delivery_id = self.store.add_delivery(
                article_id,
                NewDelivery(
                    account_id=account.id,
                    text=post.text,
                    url=post.url,
                    purpose=purpose,
                    not_before=at or now,
                    priority=10,
                    created_by=actor,
                ),
                now=now,
            )
            if delivery_id is not None:
                out.append((delivery_id, post))
                log.info(
                    "repost of %s to %s queued by %s (delivery %d)",
                    article.url,
                    account.id,
                    actor,
                    delivery_id,
                )
        if out and self.on_queued:
            self.on_queued()
        return out

    def cancel(self, delivery_id: int, *, actor: str) -> bool:
        return self.store.set_delivery_state(
            delivery_id,
            DeliveryState.CANCELLED,
            now=self.clock(),
            actor=actor,
            allowed_from=(DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.PENDING),
        )

    def approve(self, delivery_id: int, *, actor: str) -> bool:
        """Release a held delivery (approval mode, or in doubt after a crash): queued, due now."""
        return self.store.set_delivery_state(
            delivery_id,
            DeliveryState.QUEUED,
            now=self.clock(),
            actor=actor,
            not_before=self.clock(),
            allowed_from=(DeliveryState.HELD, DeliveryState.PENDING),
            error=f"approved by {actor}",
        )

    def reschedule(self, delivery_id: int, when: datetime, *, actor: str) -> bool:
        """Move a queued or held delivery to ``when`` (it stays held if it was held)."""
        d = self.store.get_delivery(delivery_id)
        if d is None or d.state not in (DeliveryState.QUEUED, DeliveryState.HELD):
            return False
        return self.store.set_delivery_state(
            delivery_id,
            d.state,
            now=self.clock(),
            actor=actor,
            not_before=when,
            allowed_from=(d.state,),
            error=f"rescheduled by {actor} to {when.isoformat(timespec='minutes')}",
        )

    def edit_text(self, delivery_id: int, text: str, *, actor: str) -> Post:
        """Change the text of a delivery not sent yet. The text is fitted exactly as a repost's:
        the article's link is added if missing; too long raises ``TextTooLong``; an unknown or
        already sent delivery raises ``BotError``."""
        d = self.store.get_delivery(delivery_id)
        if d is None or d.state not in (
            DeliveryState.QUEUED,
            DeliveryState.HELD,
            DeliveryState.PENDING,
        ):
            raise BotError(
                f"delivery #{delivery_id} cannot be edited (only queued or held posts can)"
            )
        stored = self.store.get_article(d.article_id)
        if stored is None or stored.article is None:
            raise BotError(f"delivery #{delivery_id} has no stored article to edit against")
        account = self._account(d.account_id)
        post = compose(stored.article, account, self.spec(account), text=text)
        if not self.store.edit_text(
            delivery_id,
            post.text,
            now=self.clock(),
            actor=actor,
            allowed_from=(DeliveryState.QUEUED, DeliveryState.HELD, DeliveryState.PENDING),
        ):
            raise BotError(f"delivery #{delivery_id} was sent or cancelled meanwhile")
        return post

    def retry(self, delivery_id: int, *, actor: str) -> bool:
        """Put a failed, held or skipped delivery back in the queue, due now (a post skipped
        for its age goes regardless of ``max_age``; the budget still applies)."""
        return self.store.set_delivery_state(
            delivery_id,
            DeliveryState.QUEUED,
            now=self.clock(),
            actor=actor,
            not_before=self.clock(),
            allowed_from=(DeliveryState.FAILED, DeliveryState.HELD, DeliveryState.SKIPPED),
        )


def _keyed_items(
    result: FetchResult, source: SourceConfig
) -> list[tuple[FeedItem, tuple[str, ...]]]:
    """The feed's items, each with its identity keys (items without any are dropped)."""
    feed = parse_feed(
        result.content,
        source_id=source.id,
        url=result.final_url,
        content_type=result.content_type,
        default_language=source.language,
    )
    if feed.skipped:
        log.warning(
            "source %s: %d feed entries skipped (no GUID and no link, or a GUID repeated "
            "in the feed)",
            source.id,
            feed.skipped,
        )
    return [(item, keys) for item in feed.items if (keys := identity.item_keys(item))]


def _with_source_language(article: Article, source: SourceConfig | None) -> Article:
    """A source's configured language wins over the page's: a site without a language plugin
    marks every page with its default language (``en-US`` on a French article)."""
    language = normalize_language(source.language) if source else None
    if language and article.language != language:
        return dataclasses.replace(article, language=language)
    return article


def _log_fields(d: Delivery) -> dict[str, object]:
    """``extra=`` for a log line about a delivery outside its ``log_context``."""
    return {"article": d.article_id, "account": d.account_id, "delivery": d.id}


def _host(url: str) -> str:
    return identity.site_host(url)
