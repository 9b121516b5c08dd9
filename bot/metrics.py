"""Prometheus metrics of one daemon (served on ``/metrics`` by ``bot.monitor``).

The pipeline reports events through a small hook object, ``pipeline.metrics``: ``Hooks`` does
nothing (the default, for the CLI and tests), ``Metrics`` counts in its own
``CollectorRegistry`` (never the process-global one, so several can live in one process).
Everything that must survive a restart — delivery counts by state, the queue, the last post of
each account, sources' failures, budgets — is read from the ledger at scrape time by
``LedgerCollector`` (a few small queries; none touches the articles table).

Names (all prefixed ``syndbot_``) are listed in ``METRIC_NAMES`` and in the README's Ops guide.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.errors import BotError
from bot.store import Store

if TYPE_CHECKING:
    from bot.pipeline import Pipeline, PollReport

log = logging.getLogger(__name__)

STORE_TIMEOUT = 2.0
OK = "ok"
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Name → (type, labels); the exposition adds _total to counters, _bucket/_sum/_count to
# histograms.
METRIC_NAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "syndbot_polls": ("counter", ("source", "result")),
    "syndbot_fetch_duration_seconds": ("histogram", ("source",)),
    "syndbot_new_articles": ("counter", ("source",)),
    "syndbot_retries": ("counter", ("account",)),
    "syndbot_rate_limit_waits": ("counter", ("account",)),
    "syndbot_deliveries": ("gauge", ("account", "state")),
    "syndbot_queue_depth": ("gauge", ()),
    "syndbot_queue_due": ("gauge", ()),
    "syndbot_queue_held": ("gauge", ()),
    "syndbot_queue_oldest_age_seconds": ("gauge", ()),
    "syndbot_last_post_timestamp_seconds": ("gauge", ("account",)),
    "syndbot_budget_spent": ("gauge", ("account",)),
    "syndbot_budget_remaining": ("gauge", ("account",)),
    "syndbot_source_consecutive_failures": ("gauge", ("source",)),
    "syndbot_source_last_success_timestamp_seconds": ("gauge", ("source",)),
    "syndbot_store_up": ("gauge", ()),
}


class Hooks:
    """What the pipeline reports. This base does nothing."""

    @contextmanager
    def fetching(self, source_id: str) -> Iterator[None]:
        """Around the requests of one poll (the feed, or a REST source's pages)."""
        yield

    def polled(self, report: PollReport) -> None:
        """A poll ended (``report.status``: 200, 304, error or skipped)."""

    def delivered(self, account_id: str, outcome: str) -> None:
        """A publish attempt ended: ``sent``, ``retry`` or ``failed``."""

    def rate_limited(self, account_id: str) -> None:
        """A platform's rate limit (429, a reset time) deferred the account."""


NO_METRICS = Hooks()


class Metrics(Hooks):
    """The daemon's counters, and the ledger's gauges at scrape time, in ``registry``.
    Constructing one makes it ``pipeline.metrics``."""

    def __init__(self, pipeline: Pipeline) -> None:
        # No *_created series: every counter here starts with the process.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            "syndbot_polls",
            "Polls of a source by result: 200 (read), 304 (unchanged) or error.",
            ["source", "result"],
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "syndbot_fetch_duration_seconds",
            "Time fetching a source's feed (a WordPress source: its REST pages), failures included.",
            ["source"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        self.new_articles = Counter(
            "syndbot_new_articles", "New articles recorded from a source.", ["source"], registry=r
        )
        self.retries = Counter(
            "syndbot_retries",
            "Publish attempts that failed and will be tried again.",
            ["account"],
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "syndbot_rate_limit_waits",
            "Times a platform's rate limit (429 or a reset time) paused the account.",
            ["account"],
            registry=r,
        )
        self.probe = StoreProbe(pipeline.store)
        self._ledger = LedgerCollector(pipeline, self.probe)
        r.register(self._ledger)
        pipeline.metrics = self

    def attach(self, pipeline: Pipeline) -> None:
        """Count ``pipeline``'s events and read its ledger from now on (a daemon that replaces
        its pipeline, e.g. on a config reload, keeps its counters)."""
        self.probe.store = pipeline.store
        self._ledger.pipeline = pipeline
        pipeline.metrics = self

    @contextmanager
    def fetching(self, source_id: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.fetch_seconds.labels(source_id).observe(time.perf_counter() - started)

    def polled(self, report: PollReport) -> None:
        if report.status not in ("200", "304", "error"):
            return  # "skipped": backing off, nothing was requested
        self.polls.labels(report.source_id, report.status).inc()
        if report.new:
            self.new_articles.labels(report.source_id).inc(report.new)

    def delivered(self, account_id: str, outcome: str) -> None:
        if outcome == "retry":
            self.retries.labels(account_id).inc()

    def rate_limited(self, account_id: str) -> None:
        self.rate_limit_waits.labels(account_id).inc()


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class StoreProbe:
    """Asks the store a trivial query in a worker thread and waits at most ``timeout``: a hung
    database makes the check fail, never the HTTP answer hang. Requests that arrive while a
    query is in flight wait for that one instead of starting another."""

    def __init__(self, store: Store, timeout: float = STORE_TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self._lock = threading.Lock()
        self._inflight: tuple[threading.Event, list[str]] | None = None

    def check(self) -> str:
        """``"ok"``, or what went wrong."""
        with self._lock:
            if self._inflight is None:
                done, result = threading.Event(), list[str]()
                self._inflight = (done, result)
                threading.Thread(
                    target=self._run, args=(done, result), name="syndbot-store-probe", daemon=True
                ).start()
            done, result = self._inflight
        if not done.wait(self.timeout):
            return f"store did not answer within {self.timeout:g}s"
        return result[0]

    def _run(self, done: threading.Event, result: list[str]) -> None:
        try:
            self.store.ping(self.timeout)
            result.append(OK)
        except BotError as e:
            result.append(str(e))
        except Exception as e:  # whatever the driver raises, the check must answer
            result.append(f"store check failed: {type(e).__name__}: {e}")
        finally:
            with self._lock:
                self._inflight = None
            done.set()


class LedgerCollector(Collector):
    """Gauges read from the ledger when Prometheus scrapes. ``syndbot_store_up`` is the
    health check's answer (``probe``); when the ledger's queries fail, only it is reported (and
    the scrape still succeeds)."""

    def __init__(self, pipeline: Pipeline, probe: StoreProbe) -> None:
        self.pipeline = pipeline
        self.probe = probe

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "syndbot_store_up", "1 when the ledger answers (the check of /healthz), else 0."
        )
        up.add_metric([], 1 if self.probe.check() == OK else 0)
        yield up
        try:
            metrics = self._ledger_metrics()
        except BotError as e:
            log.warning("metrics: the ledger did not answer: %s", e)
            return
        yield from metrics

    def _ledger_metrics(self) -> list[Metric]:
        p = self.pipeline
        store = p.store
        now = p.clock()
        out: list[Metric] = []

        by_state = GaugeMetricFamily(
            "syndbot_deliveries",
            "Deliveries in the ledger by account and state.",
            labels=["account", "state"],
        )
        for (account, state), n in sorted(store.count_deliveries().items()):
            by_state.add_metric([account, state], n)
        out.append(by_state)

        q = store.queue_summary(now=now)
        for name, doc, value in (
            ("syndbot_queue_depth", "Posts waiting to be sent (queued or sending).", q.pending),
            ("syndbot_queue_due", "Queued posts whose time has come.", q.due),
            ("syndbot_queue_held", "Posts held for an editor.", q.held),
            (
                "syndbot_queue_oldest_age_seconds",
                "Age of the oldest post waiting to be sent (0 when none).",
                (now - q.oldest).total_seconds() if q.oldest else 0.0,
            ),
        ):
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], value)
            out.append(g)

        last = GaugeMetricFamily(
            "syndbot_last_post_timestamp_seconds",
            "When the account's last post was sent (Unix time).",
            labels=["account"],
        )
        for account, sent in store.last_sent(a.id for a in p.config.accounts).items():
            last.add_metric([account], sent.timestamp())
        out.append(last)

        spent = GaugeMetricFamily(
            "syndbot_budget_spent", "Spent this month (budget currency).", labels=["account"]
        )
        remaining = GaugeMetricFamily(
            "syndbot_budget_remaining",
            "Left of the monthly budget (budget currency).",
            labels=["account"],
        )
        for a in p.config.accounts:
            status = p.budget_status(a.id) if a.budget is not None else None
            if status is not None:
                spent.add_metric([a.id], status.spent)
                remaining.add_metric([a.id], status.remaining)
        out += [spent, remaining]

        failures = GaugeMetricFamily(
            "syndbot_source_consecutive_failures",
            "Failed polls of the source since its last success.",
            labels=["source"],
        )
        ok = GaugeMetricFamily(
            "syndbot_source_last_success_timestamp_seconds",
            "When the source was last polled successfully (Unix time).",
            labels=["source"],
        )
        for s in store.all_source_states():
            failures.add_metric([s.id], s.failures)
            stamp = _timestamp(s.last_ok_at)
            if stamp is not None:
                ok.add_metric([s.id], stamp)
        out += [failures, ok]
        return out
