"""Reposting many articles at once (``syndbot repost URL… | --from-file FILE``): each URL is
queued and, unless it is scheduled for later, sent before the next one; one URL's failure never
stops the batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.errors import BotError
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.summarizer import TextTooLong

log = logging.getLogger(__name__)


def read_urls(lines: Iterable[str]) -> list[str]:
    """URLs from a file's lines: blank lines and ``#`` comments skipped, duplicates dropped
    (the first kept)."""
    seen: dict[str, None] = {}
    for line in lines:
        url = line.strip()
        if url and not url.startswith("#"):
            seen.setdefault(url, None)
    return list(seen)


@dataclass(slots=True)
class UrlResult:
    """What became of one URL: per account ``sent`` / ``queued`` / ``failed`` with a detail
    (the live link, why it waits, the error)."""

    url: str
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)  # (account, state, detail)
    error: str | None = None  # the URL itself failed (not a configured site, page unavailable)

    @property
    def failed(self) -> bool:
        return self.error is not None or any(state == "failed" for _, state, _ in self.outcomes)


@dataclass(slots=True)
class BatchReport:
    total: int
    results: list[UrlResult] = field(default_factory=list)
    interrupted: bool = False

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> list[UrlResult]:
        return [r for r in self.results if r.failed]

    def count(self, state: str) -> int:
        return sum(1 for r in self.results for _, s, _ in r.outcomes if s == state)


def repost_one(
    pipeline: Pipeline,
    url: str,
    accounts: Sequence[str],
    *,
    text: str | None,
    at: datetime | None,
    actor: str,
) -> UrlResult:
    """Queue ``url`` for ``accounts`` and send it now (unless ``at`` is later). Never raises
    for a bad URL or a refused post: the result says what happened."""
    result = UrlResult(url)
    try:
        queued = pipeline.repost(url, accounts, text=text, at=at, actor=actor)
    except (BotError, TextTooLong) as e:
        result.error = str(e)
        return result
    except Exception as e:  # a bug on one page must not stop a backfill of hundreds
        log.exception("repost of %s failed", url)
        result.error = f"unexpected error: {type(e).__name__}: {e}"
        return result
    if at is not None and at > pipeline.clock():
        for delivery_id, post in queued:
            result.outcomes.append(
                (post.account_id, "queued", f"#{delivery_id} for {at.isoformat()}")
            )
        return result
    pipeline.deliver_due(only=[d for d, _ in queued])
    for delivery_id, post in queued:
        d = pipeline.store.get_delivery(delivery_id)
        if d is not None and d.state is DeliveryState.SENT:
            result.outcomes.append((post.account_id, "sent", d.remote_url or d.remote_id or ""))
        elif d is not None and d.state is DeliveryState.QUEUED:
            result.outcomes.append(
                (post.account_id, "queued", f"#{d.id} not posted yet: {d.error}")
            )
        else:
            why = d.error if d is not None and d.error else "not posted"
            result.outcomes.append((post.account_id, "failed", f"{d.state if d else '?'}: {why}"))
    return result


def repost_many(
    pipeline: Pipeline,
    urls: Sequence[str],
    accounts: Sequence[str],
    *,
    text: str | None = None,
    at: datetime | None = None,
    actor: str = "cli",
    progress: Callable[[BatchReport, UrlResult], None] | None = None,
) -> BatchReport:
    """Repost each URL in turn; ``progress`` is called after each. Ctrl-C stops after the URL
    in progress (the report says so)."""
    report = BatchReport(total=len(urls))
    try:
        for url in urls:
            r = repost_one(pipeline, url, accounts, text=text, at=at, actor=actor)
            report.results.append(r)
            if progress is not None:
                progress(report, r)
    except KeyboardInterrupt:
        report.interrupted = True
    return report
