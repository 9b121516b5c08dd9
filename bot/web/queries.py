"""Read-only listings the web UI needs and ``bot.store`` does not offer (SQLAlchemy Core on
``store.engine`` and the tables of ``bot.store``). Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bot.store import Event, Store, events


@dataclass(frozen=True, slots=True)
class LogFilter:
    """The log page's filters; empty values match everything."""

    account: str = ""
    action: str = ""
    actor: str = ""
    before: int | None = None  # only events with a smaller id (the next page)


def list_events(store: Store, f: LogFilter, *, limit: int = 100) -> list[Event]:
    """Events newest first, filtered."""
    q = sa.select(events).order_by(events.c.id.desc()).limit(limit)
    if f.account:
        q = q.where(events.c.account_id == f.account)
    if f.action:
        q = q.where(events.c.action == f.action)
    if f.actor:
        q = q.where(events.c.actor == f.actor)
    if f.before is not None:
        q = q.where(events.c.id < f.before)
    with store.engine.begin() as conn:
        rows = conn.execute(q).mappings().all()
    return [Event(**dict(r)) for r in rows]


def event_choices(store: Store) -> dict[str, list[str]]:
    """The values the log's filters can take: accounts, actions and actors seen so far."""
    out: dict[str, list[str]] = {}
    with store.engine.begin() as conn:
        for name, column in (
            ("account", events.c.account_id),
            ("action", events.c.action),
            ("actor", events.c.actor),
        ):
            rows = conn.execute(
                sa.select(column).where(column.is_not(None)).distinct().order_by(column)
            ).scalars()
            out[name] = [str(v) for v in rows]
    return out
