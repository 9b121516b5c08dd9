"""``syndbot status``: sources, accounts and the queue on one screen, read from the ledger only
(so it works beside a running daemon, or with none)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.flow import money
from bot.pipeline import Pipeline
from bot.store import SourceState

RECENT_FAILURES = timedelta(hours=24)
OVERDUE = 60.0  # seconds past its time before a poll that has not happened is worth a remark


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def gather(pipeline: Pipeline) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready data (times in ISO 8601, UTC)."""
    config, store = pipeline.config, pipeline.store
    now = pipeline.clock()
    states = {s.id: s for s in store.all_source_states()}
    sources = []
    for s in config.sources:
        st = states.get(s.id, SourceState(id=s.id))
        sources.append(
            {
                "id": s.id,
                "feed": s.feed,
                "enabled": s.enabled,
                "last_poll": _iso(st.last_poll_at),
                "last_result": st.last_status,
                "last_ok": _iso(st.last_ok_at),
                "last_error": st.last_error,
                "failures": st.failures,
                "backoff_until": _iso(st.backoff_until),
                "next_poll": _iso(_next_poll(st, s.every, now)) if s.enabled else None,
            }
        )
    activity = store.account_activity(since=now - RECENT_FAILURES)
    accounts = []
    for a in config.accounts:
        act = activity.get(a.id)
        budget = pipeline.budget_status(a.id)
        accounts.append(
            {
                "id": a.id,
                "platform": a.platform,
                "enabled": a.enabled,
                "last_post": _iso(act.last_sent) if act else None,
                "failed_24h": act.failed_recent if act else 0,
                "failed_total": act.failed_total if act else 0,
                "pending": act.pending if act else 0,
                "budget": None
                if budget is None
                else {
                    "month": budget.month,
                    "spent": budget.spent,
                    "limit": budget.limit,
                    "remaining": budget.remaining,
                    "posts": budget.posts,
                },
            }
        )
    q = store.queue_summary(now=now)
    return {
        "at": now.isoformat(),
        "sources": sources,
        "accounts": accounts,
        "queue": {
            "pending": q.pending,
            "due": q.due,
            "held": q.held,
            "retrying": q.retrying,
            "sending": q.sending,
            "oldest_age_seconds": round((now - q.oldest).total_seconds(), 1) if q.oldest else None,
        },
    }


def _next_poll(st: SourceState, every: float, now: datetime) -> datetime | None:
    """When the daemon should poll next: the end of a backoff, else a poll interval after the
    last poll (jitter aside); None before the first poll (the daemon polls at start)."""
    if st.backoff_until is not None and st.backoff_until > now:
        return st.backoff_until
    if st.last_poll_at is None:
        return None
    return st.last_poll_at + timedelta(seconds=every)


def ago(seconds: float) -> str:
    """A short duration: 45s, 12m, 3h 05m, 2d 4h."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def render(data: dict[str, Any], tz: ZoneInfo) -> list[str]:
    """The status as text lines, times in the config's time zone."""
    now = datetime.fromisoformat(data["at"])

    def when(value: str | None, *, date: bool = False) -> str:
        t = datetime.fromisoformat(value) if value else None
        if t is None:
            return "never"
        local = t.astimezone(tz)
        stamp = local.strftime(
            "%Y-%m-%d %H:%M:%S" if date or local.date() != now.astimezone(tz).date() else "%H:%M:%S"
        )
        delta = (now - t).total_seconds()
        return f"{stamp} ({ago(delta)} ago)" if delta >= 0 else f"{stamp} (in {ago(-delta)})"

    lines = [f"syndbot status at {when(data['at'], date=True).split(' (')[0]} ({tz.key})", ""]
    width = max(
        [len(s["id"]) for s in data["sources"]] + [len(a["id"]) for a in data["accounts"]] + [6]
    )

    lines.append("sources")
    for s in data["sources"]:
        parts = [f"  {s['id']:<{width}}", f"last poll {when(s['last_poll'])}"]
        if s["last_result"] == "error":
            parts.append(f"error ({s['failures']} in a row): {s['last_error']}")
        elif s["last_result"]:
            parts.append(s["last_result"])
        if not s["enabled"]:
            parts.append("[disabled]")
        elif s["backoff_until"] and datetime.fromisoformat(s["backoff_until"]) > now:
            parts.append(f"backing off until {when(s['backoff_until'])}")
        elif s["next_poll"]:
            due = datetime.fromisoformat(s["next_poll"])
            late = (now - due).total_seconds()
            if late <= 0:
                parts.append(f"next in {ago(-late)}")
            elif late <= OVERDUE:
                parts.append("next poll due now")
            else:
                parts.append(f"next poll overdue by {ago(late)} (is the daemon running?)")
        else:
            parts.append("first poll when the daemon starts")
        lines.append("  ".join(parts))
    if not data["sources"]:
        lines.append("  (none configured)")

    lines += ["", "accounts"]
    for a in data["accounts"]:
        parts = [
            f"  {a['id']:<{width}}",
            f"last post {when(a['last_post'])}",
            f"failed {a['failed_24h']} in 24h, {a['failed_total']} in all",
            f"pending {a['pending']}",
        ]
        b = a["budget"]
        if b is not None:
            parts.append(
                f"budget {money(b['spent'])} of {money(b['limit'])} spent, {money(b['remaining'])} left"
            )
        if not a["enabled"]:
            parts.append("[disabled]")
        lines.append("  ".join(parts))
    if not data["accounts"]:
        lines.append("  (none configured)")

    q = data["queue"]
    oldest = (
        f"; the oldest has waited {ago(q['oldest_age_seconds'])}"
        if q["oldest_age_seconds"] is not None
        else ""
    )
    lines += [
        "",
        "queue",
        f"  {q['pending']} pending ({q['due']} due now, {q['retrying']} retrying, "
        f"{q['sending']} being sent), {q['held']} held for an editor{oldest}",
    ]
    return lines
