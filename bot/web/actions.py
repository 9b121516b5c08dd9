"""What the pages and the JSON API both do, on top of the pipeline's editor actions.

Everything goes through ``Pipeline`` (``preview``, ``repost``, ``approve``, ``cancel``,
``retry``, ``reschedule``, ``edit_text``, ``deliver_due``): the web never calls a platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.config import AccountConfig
from bot.errors import BotError
from bot.models import Article, Delivery, DeliveryState, Post
from bot.pipeline import Pipeline, Preview
from bot.store import StoredArticle
from bot.summarizer import TextTooLong, compose

WAITING = (DeliveryState.PENDING, DeliveryState.HELD, DeliveryState.QUEUED, DeliveryState.SENDING)


class ActionError(BotError):
    """An editor's request that cannot be carried out; the message says why and what to do."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery an editor asked to post now."""

    delivery: Delivery
    message: str
    ok: bool


def parse_when(value: str | None, tz: tzinfo, now: datetime) -> datetime | None:
    """An editor's time (ISO 8601; without an offset it is the newsroom's time) in UTC, or
    None for "now". A time more than a minute past is refused."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ActionError(f"{text!r} is not a date and time like 2026-12-01T08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    when = when.astimezone(UTC)
    if (now - when).total_seconds() > 60:
        shown = when.astimezone(tz).strftime("%d %b %Y %H:%M")
        raise ActionError(f"{shown} has passed; leave the time empty to post now")
    return when if when > now else None


def enabled_accounts(pipeline: Pipeline) -> list[AccountConfig]:
    return [a for a in pipeline.config.accounts if a.enabled]


def account(pipeline: Pipeline, account_id: str) -> AccountConfig:
    for a in pipeline.config.accounts:
        if a.id == account_id:
            return a
    known = ", ".join(a.id for a in pipeline.config.accounts) or "none"
    raise ActionError(f"unknown account {account_id!r} (configured: {known})")


def article_preview(pipeline: Pipeline, stored: StoredArticle) -> tuple[Preview, str | None]:
    """The article of a ledger row as a ``Preview`` (no posts), and a note for the editor.

    The scraped article when there is one; else the page is read now (a story recorded by the
    first run was never scraped); else, when the page cannot be read, the feed's fields.
    """
    from bot import router

    article: Article | None = stored.article
    note = None
    if article is None:
        try:
            fetched = pipeline.preview(stored.url, [a.id for a in enabled_accounts(pipeline)])
            article = fetched.article
        except BotError as e:
            from bot.scraper import article_from_item

            article = article_from_item(stored.item)
            note = f"The page could not be read ({e}); the feed's fields are used instead."
    routed = tuple(a.id for a in router.route(article, stored.source_id, pipeline.config))
    return Preview(article=article, source_id=stored.source_id, posts=(), routed=routed), note


def draft(pipeline: Pipeline, article: Article, acc: AccountConfig, text: str | None) -> Post:
    """The post ``acc`` would get (the template's, or ``text`` fitted like a repost's).
    Raises ``TextTooLong`` or ``ValueError`` (empty text)."""
    return compose(article, acc, pipeline.spec(acc), text=text)


def measure(pipeline: Pipeline, account_id: str, text: str, url: str | None) -> dict[str, object]:
    """The length of ``text`` as ``account_id``'s platform counts it, exactly as it would be
    posted: whitespace tidied and, when ``url`` is given and missing, the link appended."""
    acc = account(pipeline, account_id)
    spec = pipeline.spec(acc)
    limit = min(spec.max_length, acc.max_length or spec.max_length)
    if url is None:
        from bot.textlen import length

        n = length(text, spec.counting)
        return {"length": n, "limit": limit, "counting": spec.counting, "link_added": False}
    try:
        post = compose(Article(url=url, title=""), acc, spec, text=text)
        n, limit = post.length, post.limit
    except TextTooLong as e:
        n, limit = e.length, e.limit
    except ValueError:  # empty
        n = 0
    added = bool(text.strip()) and url not in text
    return {"length": n, "limit": limit, "counting": spec.counting, "link_added": added}


def repost(
    pipeline: Pipeline,
    preview: Preview,
    texts: dict[str, str | None],
    *,
    when: datetime | None,
    actor: str,
) -> list[int]:
    """Queue one repost per account of ``texts`` (account → edited text, or None for the
    template's). Every text is checked first: nothing is queued when one is too long."""
    problems = []
    for account_id, text in texts.items():
        try:
            draft(pipeline, preview.article, account(pipeline, account_id), text)
        except (TextTooLong, ValueError) as e:
            problems.append(f"{account_id}: {e}")
    if problems:
        raise ActionError("; ".join(problems), status=422)
    ids: list[int] = []
    for account_id, text in texts.items():
        queued = pipeline.repost(
            preview.article.url, [account_id], text=text, at=when, actor=actor, preview=preview
        )
        ids += [delivery_id for delivery_id, _ in queued]
    return ids


def post_now(pipeline: Pipeline, ids: Iterable[int]) -> list[Outcome]:
    """Send these queued deliveries now (through ``deliver_due``) and say what became of each."""
    wanted = list(ids)
    if wanted:
        pipeline.deliver_due(only=wanted)
    out = []
    for delivery_id in wanted:
        d = pipeline.store.get_delivery(delivery_id)
        if d is not None:
            out.append(outcome(d))
    return out


def outcome(d: Delivery) -> Outcome:
    if d.state is DeliveryState.SENT:
        where = d.remote_url or d.remote_id or ""
        return Outcome(d, f"Posted to {d.account_id}. {where}".strip(), True)
    if d.state is DeliveryState.FAILED:
        return Outcome(d, f"{d.account_id}: failed: {d.error}", False)
    if d.state is DeliveryState.QUEUED:
        why = f" ({d.error})" if d.error else ""
        return Outcome(d, f"{d.account_id}: not posted yet{why}; it stays queued.", False)
    return Outcome(d, f"{d.account_id}: {d.state}", False)


def approve(pipeline: Pipeline, delivery_id: int, *, actor: str) -> list[Outcome]:
    """Release a held or pending delivery and send it now."""
    if not pipeline.approve(delivery_id, actor=actor):
        raise ActionError(_not_in(pipeline, delivery_id, "held or awaiting approval"), status=409)
    return post_now(pipeline, [delivery_id])


def retry(pipeline: Pipeline, delivery_id: int, *, actor: str) -> list[Outcome]:
    """Queue a failed (or held) delivery again and send it now."""
    if not pipeline.retry(delivery_id, actor=actor):
        raise ActionError(_not_in(pipeline, delivery_id, "failed or held"), status=409)
    return post_now(pipeline, [delivery_id])


def send_now(pipeline: Pipeline, delivery_id: int, *, actor: str) -> list[Outcome]:
    """Move a queued delivery to now and send it."""
    d = pipeline.store.get_delivery(delivery_id)
    if d is None or d.state is not DeliveryState.QUEUED:
        raise ActionError(_not_in(pipeline, delivery_id, "queued"), status=409)
    if d.not_before > pipeline.clock() and not pipeline.reschedule(
        delivery_id, pipeline.clock(), actor=actor
    ):
        raise ActionError(_not_in(pipeline, delivery_id, "queued"), status=409)
    return post_now(pipeline, [delivery_id])


def cancel(pipeline: Pipeline, delivery_id: int, *, actor: str) -> None:
    if not pipeline.cancel(delivery_id, actor=actor):
        raise ActionError(_not_in(pipeline, delivery_id, "queued or held"), status=409)


def reschedule(pipeline: Pipeline, delivery_id: int, when: datetime, *, actor: str) -> None:
    if not pipeline.reschedule(delivery_id, when, actor=actor):
        raise ActionError(_not_in(pipeline, delivery_id, "queued or held"), status=409)


def edit(pipeline: Pipeline, delivery_id: int, text: str, *, actor: str) -> Post:
    try:
        return pipeline.edit_text(delivery_id, text, actor=actor)
    except (TextTooLong, ValueError) as e:
        raise ActionError(str(e), status=422) from None


def _not_in(pipeline: Pipeline, delivery_id: int, wanted: str) -> str:
    d = pipeline.store.get_delivery(delivery_id)
    if d is None:
        return f"there is no delivery #{delivery_id}"
    return f"delivery #{delivery_id} is {d.state}, not {wanted}"


def delivery_json(d: Delivery) -> dict[str, object]:
    return {
        "id": d.id,
        "state": str(d.state),
        "account": d.account_id,
        "article_id": d.article_id,
        "purpose": d.purpose,
        "text": d.text,
        "url": d.url,
        "not_before": d.not_before.isoformat(),
        "attempts": d.attempts,
        "remote_id": d.remote_id,
        "remote_url": d.remote_url,
        "error": d.error,
        "created_at": d.created_at.isoformat() if d.created_at else None,
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
    }


def preview_json(pv: Preview, posts: Sequence[Post]) -> dict[str, object]:
    a = pv.article
    return {
        "source": pv.source_id,
        "article": {
            "url": a.url,
            "title": a.title,
            "description": a.description,
            "language": a.language,
            "published": a.published.isoformat() if a.published else None,
            "authors": list(a.authors),
            "tags": list(a.tags),
            "image": a.image.url if a.image else None,
        },
        "routed_to": list(pv.routed),
        "posts": [
            {
                "account": p.account_id,
                "platform": p.platform,
                "text": p.text,
                "length": p.length,
                "limit": p.limit,
                "dropped": list(p.dropped),
            }
            for p in posts
        ],
    }
