"""Flow control: may this post go now, later, or not at all? Pure: no I/O, no clock.

``decide(now, candidate, limits=…, history=…, tz=…, budget=…)`` returns

* ``Send(cost)`` — go now (``cost`` is what the platform will charge, recorded in the ledger);
* ``Wait(until, reason)`` — not before ``until``: quiet hours, ``min_gap``, a per-hour or
  per-day cap; the pipeline pushes the delivery's ``not_before`` and shows the reason;
* ``Skip(rule, reason)`` — never: older than ``max_age`` when its turn comes, or over budget.

The rules, in order:

1. ``max_age``: an automatic post whose article (published time, else first seen) is older
   is skipped. Not applied to editors' reposts, nor to posts an editor approved or retried.
2. Timing, for automatic posts only (an editor's repost goes when the editor said):
   quiet hours (wall-clock, in the newsroom's time zone, so they follow daylight-saving
   changes), then ``min_gap``, ``per_hour`` and ``per_day`` over rolling windows. A priority
   rule can lift quiet hours (``ignore_quiet_hours``) or the spacing and caps (``ignore_caps``).
   The history holds the account's recent sends (sent or being sent) and the planned times of
   queued posts ahead of this one (higher priority, or same priority and older), so a burst is
   spread out in order: one now, the next ``min_gap`` later, and so on.
3. Budget, when the post would go now: ``spent + cost`` must stay within the month's budget;
   posts with priority below ``reserve_for_priority`` must also leave the reserve untouched.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal

from bot.config import (
    AccountConfig,
    BudgetSettings,
    LimitSettings,
    PriceList,
    PriorityRule,
    QuietHours,
)
from bot.models import Article, DeliveryState
from bot.router import matches
from bot.textlen import extract_urls

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_MAX_STEPS = 10_000
_EPSILON = 1e-9  # money is summed as floats
_SCHEME = re.compile(r"\bhttps?://\S", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The delivery whose turn it is, as flow control sees it."""

    id: int  # creation order: among equal priorities, the older goes first
    priority: int = 0
    cost: float | None = None  # what sending it costs (None: free or unknown)
    born: datetime | None = None  # the article's published time, else when it was first seen
    ignore_quiet_hours: bool = False
    ignore_caps: bool = False
    repost: bool = False  # an editor's repost: timing rules and max_age do not apply
    released: bool = False  # an editor approved, retried or rescheduled it: no max_age


@dataclass(frozen=True, slots=True)
class Planned:
    """A queued delivery of the account that is due later (its ``not_before``)."""

    at: datetime
    priority: int
    id: int

    def ahead_of(self, c: Candidate) -> bool:
        return self.priority > c.priority or (self.priority == c.priority and self.id < c.id)


@dataclass(frozen=True, slots=True)
class History:
    """What the ledger says about one account, enough to decide."""

    sends: tuple[datetime, ...] = ()  # sent or being sent, at least the last 24 hours
    planned: tuple[Planned, ...] = ()
    spent: float = 0.0  # this month's cost so far, including posts being sent

    def plus_planned(self, p: Planned) -> History:
        return dataclasses.replace(self, planned=(*self.planned, p))


@dataclass(frozen=True, slots=True)
class Send:
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Skip:
    rule: Literal["max_age", "budget"]
    reason: str


Decision = Send | Wait | Skip


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """An account's spending in the current month (config time zone)."""

    account_id: str
    month: str  # "2026-11"
    spent: float
    limit: float
    remaining: float
    reserve: float  # the part of `limit` kept for priority posts
    posts: int  # posts charged this month
    resets: datetime  # the start of next month (UTC)


def decide(
    now: datetime,
    post: Candidate,
    *,
    limits: LimitSettings,
    history: History,
    tz: tzinfo,
    budget: BudgetSettings | None = None,
) -> Decision:
    """Send, Wait or Skip ``post`` at ``now`` (see the module docstring for the rules)."""
    if limits.max_age is not None and not (post.repost or post.released) and post.born:
        age = (now - post.born).total_seconds()
        if age > limits.max_age:
            return Skip(
                "max_age",
                f"max_age: the article is {duration(age)} old, older than {duration(limits.max_age)}",
            )
    if not post.repost:
        until, reason = earliest(now, post, limits, history, tz)
        if until > now:
            return Wait(until, reason)
    if budget is not None and post.cost is not None:
        why = over_budget(post, budget, history.spent)
        if why is not None:
            return Skip("budget", why)
    return Send(post.cost)


def earliest(
    now: datetime, post: Candidate, limits: LimitSettings, history: History, tz: tzinfo
) -> tuple[datetime, str]:
    """The first time at or after ``now`` when the timing rules let ``post`` go, and the rule
    that decided it ("" when it may go now)."""
    points = sorted(
        [*history.sends, *(p.at for p in history.planned if p.ahead_of(post))]
        if not post.ignore_caps
        else []
    )
    t, reason = now, ""
    for _ in range(_MAX_STEPS):
        if limits.quiet_hours is not None and not post.ignore_quiet_hours:
            end = quiet_end(t, limits.quiet_hours, tz)
            if end is not None:
                t = end
                reason = f"quiet_hours {limits.quiet_hours}: waiting until {_local(end, tz)}"
                continue
        moved = _spacing(t, points, limits)
        if moved is not None:
            t, rule = moved
            reason = f"{rule}: next slot {_local(t, tz)}"
            continue
        break
    return t, reason


def _spacing(
    t: datetime, points: Sequence[datetime], limits: LimitSettings
) -> tuple[datetime, str] | None:
    """A later time when ``t`` breaks min_gap or a cap, with the rule; None when it is fine."""
    if limits.min_gap:
        gap = timedelta(seconds=limits.min_gap)
        near = [s for s in points if t - gap < s < t + gap]
        if near:
            return max(near) + gap, f"min_gap {duration(limits.min_gap)} between posts"
    for cap, window, name in (
        (limits.per_hour, HOUR, "per_hour"),
        (limits.per_day, DAY, "per_day"),
    ):
        if cap:
            inside = [s for s in points if t - window < s <= t]
            if len(inside) >= cap:
                # The window frees when enough of its oldest posts have left it.
                return inside[len(inside) - cap] + window, f"{name} cap of {cap} reached"
    return None


def quiet_end(t: datetime, quiet: QuietHours, tz: tzinfo) -> datetime | None:
    """When the quiet window containing ``t`` ends (UTC), or None when ``t`` is not in one.

    Wall-clock arithmetic in ``tz``: on the night a clock springs forward, 23:00-06:00 lasts
    six hours of real time, not seven; an end time that falls into the skipped hour means the
    first instant after it; an end time that happens twice (the clock falls back) is the first
    one still ahead of ``t``.
    """
    local = t.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= wall < quiet.end
    else:
        inside = wall >= quiet.start or wall < quiet.end
    if not inside:
        return None
    day: date = local.date() if wall < quiet.end else local.date() + timedelta(days=1)
    naive = datetime.combine(day, quiet.end)
    ends = [naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    later = [e for e in ends if e > t]
    return min(later) if later else t + timedelta(minutes=1)


def over_budget(post: Candidate, budget: BudgetSettings, spent: float) -> str | None:
    """Why ``post`` may not be paid for this month, or None when it may."""
    cost = post.cost or 0.0
    limit = budget.monthly
    reserve = limit * budget.reserve
    left = max(limit - spent, 0.0)
    if spent + cost > limit + _EPSILON:
        return (
            f"budget: this post costs {money(cost)} and {money(left)} of the {money(limit)} "
            "monthly budget is left"
        )
    if post.priority < budget.reserve_for_priority and spent + cost > limit - reserve + _EPSILON:
        return (
            f"budget: this post costs {money(cost)}; {money(left)} of the {money(limit)} monthly "
            f"budget is left and the last {money(reserve)} is kept for posts with priority "
            f"{budget.reserve_for_priority} or more"
        )
    return None


def post_cost(text: str, prices: PriceList, counting: str = "x") -> float:
    """What a post with ``text`` costs: ``post_with_url`` when it holds a link the platform
    recognises (``counting`` names its rule in ``bot.textlen``: on X a bare ``ctninfo.com``
    is one) or any ``http(s)://`` address (an estimate errs on the dear side), else ``post``."""
    if _SCHEME.search(text) or extract_urls(text, counting):
        return prices.post_with_url
    return prices.post


@dataclass(frozen=True, slots=True)
class Admission:
    """How a new automatic delivery enters the ledger."""

    priority: int = 0
    state: DeliveryState = DeliveryState.QUEUED
    note: str | None = None


def admit(account: AccountConfig, article: Article) -> Admission:
    """The priority (first matching rule, else 0) and first state of a new automatic post:
    ``held`` until an editor approves it when the account has ``approval: required``."""
    rule = priority_rule(account.priority, article)
    priority = rule.priority if rule else 0
    if account.approval == "required":
        note = "approval: waiting for an editor (syndbot approve ID)"
        return Admission(priority, DeliveryState.HELD, note)
    return Admission(priority)


def priority_rule(rules: Iterable[PriorityRule], article: Article) -> PriorityRule | None:
    """The first rule whose ``where`` matches ``article``."""
    return next((r for r in rules if matches(r.where, article)), None)


def month_start(now: datetime, tz: tzinfo, *, months: int = 0) -> datetime:
    """Midnight on the first of the month holding ``now`` in ``tz`` (``months`` later), in UTC."""
    local = now.astimezone(tz)
    index = local.year * 12 + local.month - 1 + months
    first = datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)
    return first.astimezone(UTC)


def budget_status(
    account_id: str,
    budget: BudgetSettings,
    *,
    spent: float,
    posts: int,
    now: datetime,
    tz: tzinfo,
) -> BudgetStatus:
    local = now.astimezone(tz)
    return BudgetStatus(
        account_id=account_id,
        month=f"{local.year:04d}-{local.month:02d}",
        spent=spent,
        limit=budget.monthly,
        remaining=max(budget.monthly - spent, 0.0),
        reserve=budget.monthly * budget.reserve,
        posts=posts,
        resets=month_start(now, tz, months=1),
    )


def money(amount: float) -> str:
    """``$0.20``, ``$0.015``, ``$30.00``."""
    text = f"{amount:.3f}"
    return "$" + (text[:-1] if text.endswith("0") else text)


def duration(seconds: float) -> str:
    """``10m``, ``1h30m``, ``2d3h``, ``45s`` (seconds only below an hour)."""
    s = round(seconds) if seconds < 3600 else round(seconds / 60) * 60
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m"), (s, "s")) if n]
    if days:
        parts = parts[:2]
    return "".join(parts) or "0s"


def _local(t: datetime, tz: tzinfo) -> str:
    local = t.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
