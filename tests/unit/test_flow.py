"""Flow control as a pure function: quiet hours (across midnight and DST changes), spacing,
rolling caps, priority overrides, max_age, budget and approval, with the clock passed in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config import AccountConfig, LimitSettings, QuietHours, parse_config
from bot.errors import ConfigError
from bot.flow import (
    Candidate,
    History,
    Planned,
    Send,
    Skip,
    Wait,
    admit,
    budget_status,
    decide,
    duration,
    money,
    month_start,
    post_cost,
    quiet_end,
)
from bot.models import Article, DeliveryState
from tests.support import ROOT

PAP = ZoneInfo("America/Port-au-Prince")  # DST 2026-03-08 02:00 → 03:00, 2026-11-01 02:00 → 01:00
NYC = ZoneInfo("America/New_York")
T0 = datetime(2026, 1, 14, 15, 0, tzinfo=UTC)  # 10:00 in Port-au-Prince (EST, UTC-5)
MIN = timedelta(minutes=1)
URL = "https://ctninfo.com/?p=37070"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: tzinfo = PAP, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold).astimezone(UTC)


def limits(**kw: Any) -> LimitSettings:
    return LimitSettings.model_validate(kw)


def decide_at(
    now: datetime,
    lim: LimitSettings,
    *,
    sends: tuple[datetime, ...] = (),
    planned: tuple[Planned, ...] = (),
    spent: float = 0.0,
    tz: tzinfo = PAP,
    budget: dict[str, Any] | None = None,
    **candidate: Any,
) -> Send | Wait | Skip:
    account = AccountConfig.model_validate(
        {"id": "x-main", "platform": "x", **({"budget": budget} if budget else {})}
    )
    return decide(
        now,
        Candidate(**{"id": 100, **candidate}),
        limits=lim,
        history=History(sends=sends, planned=planned, spent=spent),
        tz=tz,
        budget=account.budget,
    )


def drain(
    lim: LimitSettings, count: int, start: datetime, *, tz: tzinfo = PAP, **candidate: Any
) -> list[datetime]:
    """A burst of ``count`` posts queued at ``start``, run as the pipeline runs them: the
    earliest due goes first, a post told to wait is due again at its new time, and the ones
    already pushed back are in the history as planned."""
    due = dict.fromkeys(range(1, count + 1), start)
    sent: list[datetime] = []
    now = start
    for _ in range(10 * count):
        if not due:
            break
        i = min(due, key=lambda k: (due[k], k))
        now = max(now, due[i])
        planned = tuple(Planned(at, 0, k) for k, at in due.items() if k != i and at > now)
        d = decide(
            now,
            Candidate(id=i, **candidate),
            limits=lim,
            history=History(tuple(sent), planned),
            tz=tz,
        )
        if isinstance(d, Send):
            sent.append(now)
            del due[i]
        else:
            assert isinstance(d, Wait), d
            assert d.until > now
            due[i] = d.until
    return sent


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "window", "now", "ends"),
    [
        pytest.param(PAP, "23:00-06:00", local("2026-01-14T22:59"), None, id="before start"),
        pytest.param(
            PAP,
            "23:00-06:00",
            local("2026-01-14T23:00"),
            local("2026-01-15T06:00"),
            id="at start",
        ),
        pytest.param(
            PAP,
            "23:00-06:00",
            local("2026-01-15T03:10"),
            local("2026-01-15T06:00"),
            id="after midnight",
        ),
        pytest.param(PAP, "23:00-06:00", local("2026-01-15T06:00"), None, id="end excluded"),
        pytest.param(
            PAP, "12:00-14:00", local("2026-01-15T13:00"), local("2026-01-15T14:00"), id="daytime"
        ),
        pytest.param(PAP, "12:00-14:00", local("2026-01-15T23:00"), None, id="daytime, outside"),
        # Spring forward (2026-03-08 02:00 EST → 03:00 EDT): the night is an hour shorter.
        pytest.param(
            PAP,
            "23:00-06:00",
            local("2026-03-07T23:30"),
            utc("2026-03-08T10:00"),  # 06:00 EDT, 5.5 h later (not 6.5 h)
            id="PAP spring night",
        ),
        pytest.param(
            PAP,
            "23:00-06:00",
            utc("2026-03-08T07:30"),  # 03:30 EDT, just after the jump
            utc("2026-03-08T10:00"),
            id="PAP after the jump",
        ),
        # Fall back (2026-11-01 02:00 EDT → 01:00 EST): the night is an hour longer.
        pytest.param(
            PAP,
            "23:00-06:00",
            local("2026-10-31T23:30"),
            utc("2026-11-01T11:00"),  # 06:00 EST, 7.5 h later
            id="PAP fall night",
        ),
        pytest.param(
            PAP,
            "23:00-06:00",
            utc("2026-11-01T06:30"),  # the second 01:30 (EST)
            utc("2026-11-01T11:00"),
            id="PAP repeated hour",
        ),
        # New York: same rules; the window's end falls into the skipped or repeated hour.
        pytest.param(
            NYC,
            "22:00-02:30",
            utc("2026-03-08T06:45"),  # 01:45 EST; 02:30 never happens that night
            utc("2026-03-08T07:30"),  # the first instant after it: 03:30 EDT
            id="NYC end in the skipped hour",
        ),
        pytest.param(
            NYC,
            "23:00-01:30",
            utc("2026-11-01T05:15"),  # the first 01:15 (EDT)
            utc("2026-11-01T05:30"),  # the first 01:30
            id="NYC end in the repeated hour, first pass",
        ),
        pytest.param(
            NYC,
            "23:00-01:30",
            utc("2026-11-01T06:15"),  # the second 01:15 (EST)
            utc("2026-11-01T06:30"),  # the second 01:30
            id="NYC end in the repeated hour, second pass",
        ),
        pytest.param(
            NYC,
            "23:00-06:00",
            local("2026-03-07T23:30", NYC),
            utc("2026-03-08T10:00"),
            id="NYC spring night",
        ),
        pytest.param(
            NYC,
            "23:00-06:00",
            local("2026-10-31T23:30", NYC),
            utc("2026-11-01T11:00"),
            id="NYC fall night",
        ),
    ],
)
def test_quiet_hours_end_at_the_local_wall_clock_time(
    tz: tzinfo, window: str, now: datetime, ends: datetime | None
) -> None:
    quiet = QuietHours.parse(window)
    assert quiet_end(now, quiet, tz) == ends
    decision = decide_at(now, limits(quiet_hours=window), tz=tz)
    if ends is None:
        assert decision == Send()
    else:
        assert isinstance(decision, Wait)
        assert decision.until == ends
        assert decision.reason.startswith(f"quiet_hours {window}: waiting until")


def test_a_quiet_night_across_dst_is_not_a_fixed_number_of_hours() -> None:
    quiet = QuietHours.parse("23:00-06:00")
    lengths = {}
    for night in ("2026-03-07", "2026-10-31", "2026-01-14"):
        start = local(f"{night}T23:00")
        end = quiet_end(start, quiet, PAP)
        assert end is not None
        lengths[night] = end - start
    assert lengths == {
        "2026-03-07": timedelta(hours=6),  # the clock springs forward
        "2026-10-31": timedelta(hours=8),  # the clock falls back
        "2026-01-14": timedelta(hours=7),
    }


@pytest.mark.parametrize("bad", ["23:00", "25:00-06:00", "23:00-23:00", "11pm-6am", "23:60-06:00"])
def test_bad_quiet_hours_are_config_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="quiet_hours"):
        QuietHours.parse(bad)


# --- spacing and caps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lim", "expected"),
    [
        pytest.param({}, [0, 0, 0, 0, 0], id="no limits"),
        pytest.param({"min_gap": "10m"}, [0, 10, 20, 30, 40], id="min_gap"),
        pytest.param({"per_hour": 2}, [0, 0, 60, 60, 120], id="per_hour"),
        pytest.param({"per_hour": 2, "min_gap": "20m"}, [0, 20, 60, 80, 120], id="both"),
        pytest.param(
            {"per_day": 3, "min_gap": "1h"}, [0, 60, 120, 1440, 1500], id="per_day rolling"
        ),
        pytest.param(
            # 10:00 local; quiet from 10:25: the third post waits for the morning.
            {"min_gap": "10m", "quiet_hours": "10:25-07:00"},
            [0, 10, 20, 1260, 1270],
            id="burst meets quiet hours",
        ),
    ],
)
def test_a_burst_is_drip_fed(lim: dict[str, Any], expected: list[int]) -> None:
    sent = drain(limits(**lim), 5, T0)
    assert [round((t - T0).total_seconds() / 60) for t in sent] == expected


def test_min_gap_counts_from_the_last_post_and_names_the_rule() -> None:
    d = decide_at(T0 + 3 * MIN, limits(min_gap="10m"), sends=(T0 - 1 * MIN, T0))
    assert isinstance(d, Wait)
    assert d.until == T0 + 10 * MIN
    assert d.reason == "min_gap 10m between posts: next slot 2026-01-14 10:10 EST"
    assert decide_at(T0 + 10 * MIN, limits(min_gap="10m"), sends=(T0,)) == Send()


def test_caps_are_rolling_windows() -> None:
    burst = tuple(T0 + i * MIN for i in range(4))
    d = decide_at(T0 + 30 * MIN, limits(per_hour=4), sends=burst)
    assert isinstance(d, Wait)
    assert d.until == T0 + 60 * MIN  # when the first of the four leaves the window
    assert d.reason.startswith("per_hour cap of 4 reached")
    assert decide_at(T0 + 61 * MIN, limits(per_hour=4), sends=burst) == Send()
    day = tuple(T0 + i * timedelta(hours=2) for i in range(6))
    d = decide_at(T0 + timedelta(hours=12), limits(per_day=6), sends=day)
    assert isinstance(d, Wait)
    assert d.until == T0 + timedelta(hours=24)
    assert d.reason.startswith("per_day cap of 6 reached")


def test_posts_already_scheduled_ahead_are_respected_but_not_those_behind() -> None:
    ahead = (Planned(T0 + 10 * MIN, 0, 2), Planned(T0 + 20 * MIN, 0, 3))
    # A later arrival (id 9) goes after the two already planned ...
    d = decide_at(T0 + 5 * MIN, limits(min_gap="10m"), sends=(T0,), planned=ahead, id=9)
    assert isinstance(d, Wait) and d.until == T0 + 30 * MIN
    # ... delivery 2 is not held back by delivery 3 planned after it ...
    assert (
        decide_at(
            T0 + 10 * MIN + 3 * MIN / 60, limits(min_gap="10m"), sends=(T0,), planned=ahead, id=2
        )
        == Send()
    )
    # ... and a higher priority only waits for the last real post.
    d = decide_at(
        T0 + 5 * MIN, limits(min_gap="10m"), sends=(T0,), planned=ahead, id=9, priority=10
    )
    assert isinstance(d, Wait) and d.until == T0 + 10 * MIN


# --- priority ----------------------------------------------------------------------------------


def test_priority_can_ignore_quiet_hours_but_not_the_spacing() -> None:
    night = local("2026-01-15T02:00")
    lim = limits(quiet_hours="23:00-06:00", min_gap="10m")
    assert isinstance(decide_at(night, lim), Wait)
    assert decide_at(night, lim, ignore_quiet_hours=True) == Send()
    d = decide_at(night, lim, ignore_quiet_hours=True, sends=(night - 5 * MIN,))
    assert isinstance(d, Wait) and d.until == night + 5 * MIN
    assert (
        decide_at(night, lim, ignore_quiet_hours=True, ignore_caps=True, sends=(night,)) == Send()
    )
    capped = limits(per_hour=1, quiet_hours="23:00-06:00")
    assert decide_at(night, capped, sends=(night,), ignore_caps=True) == Wait(
        local("2026-01-15T06:00"), "quiet_hours 23:00-06:00: waiting until 2026-01-15 06:00 EST"
    )


def test_an_editors_repost_goes_when_the_editor_says() -> None:
    night = local("2026-01-15T02:00")
    lim = limits(quiet_hours="23:00-06:00", min_gap="1h", max_age="1h")
    assert (
        decide_at(night, lim, sends=(night,), repost=True, born=night - timedelta(days=30))
        == Send()
    )


def test_admission_sets_priority_and_approval() -> None:
    account = AccountConfig.model_validate(
        {
            "id": "x-main",
            "platform": "x",
            "priority": [
                {
                    "where": {"categories_any": ["Breaking"]},
                    "priority": 10,
                    "ignore_quiet_hours": True,
                },
                {"where": {"language": ["fr"]}, "priority": 3},
            ],
        }
    )
    breaking = Article(url=URL, title="Breaking: a story", tags=("Breaking", "Haiti"))
    french = Article(url=URL, title="Une histoire", tags=("Haiti",), language="fr")
    plain = Article(url=URL, title="A story", tags=("Haiti",))
    assert (admit(account, breaking).priority, admit(account, french).priority) == (10, 3)
    assert admit(account, plain).priority == 0
    assert admit(account, plain).state is DeliveryState.QUEUED
    held = admit(account.model_copy(update={"approval": "required"}), breaking)
    assert (held.state, held.priority) == (DeliveryState.HELD, 10)
    assert held.note is not None and "approve" in held.note


# --- max_age -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "candidate", "expected"),
    [
        pytest.param(timedelta(hours=5), {}, "send", id="young enough"),
        pytest.param(timedelta(hours=7), {}, "skip", id="too old"),
        pytest.param(None, {}, "send", id="no date"),
        pytest.param(timedelta(hours=7), {"repost": True}, "send", id="editor's repost"),
        pytest.param(timedelta(hours=7), {"released": True}, "send", id="approved by an editor"),
        pytest.param(timedelta(hours=7), {"priority": 10}, "skip", id="priority is no excuse"),
    ],
)
def test_max_age_skips_stale_articles_with_a_reason(
    age: timedelta | None, candidate: dict[str, Any], expected: str
) -> None:
    born = T0 - age if age is not None else None
    d = decide_at(T0, limits(max_age="6h"), born=born, **candidate)
    if expected == "send":
        assert d == Send()
    else:
        assert d == Skip("max_age", "max_age: the article is 7h old, older than 6h")


def test_max_age_is_checked_when_the_turn_comes_not_before() -> None:
    # Waiting for the morning is fine; when the morning comes, the story is too old.
    night = local("2026-01-15T01:00")
    lim = limits(quiet_hours="23:00-06:00", max_age="4h")
    assert isinstance(decide_at(night, lim, born=night - timedelta(hours=1)), Wait)
    morning = local("2026-01-15T06:00")
    d = decide_at(morning, lim, born=night - timedelta(hours=1))
    assert isinstance(d, Skip) and d.rule == "max_age"


# --- budget ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "counting", "cost"),
    [
        (f"A story #Haiti {URL}", "x", 0.20),
        ("A story without a link", "x", 0.015),
        ("A bare domain ctninfo.com counts as a link on X", "x", 0.20),
        ("ctninfo.com is not a link elsewhere", "graphemes", 0.015),
        ("An address without a TLD http://127.0.0.1:8080/?p=1 still counts", "x", 0.20),
    ],
)
def test_a_post_with_a_link_costs_more_on_x(text: str, counting: str, cost: float) -> None:
    account = AccountConfig(id="x-main", platform="x")
    assert account.prices is not None
    assert post_cost(text, account.prices, counting) == cost


@pytest.mark.parametrize(
    ("spent", "priority", "cost", "expected"),
    [
        pytest.param(0.0, 0, 0.20, "send", id="plenty left"),
        pytest.param(26.80, 0, 0.20, "send", id="just reaches the reserve"),
        pytest.param(27.00, 0, 0.20, "reserve", id="low priority meets the reserve"),
        pytest.param(27.00, 1, 0.20, "send", id="priority uses the reserve"),
        pytest.param(29.80, 10, 0.20, "send", id="the last cents"),
        pytest.param(29.90, 10, 0.20, "over", id="priority does not fit"),
        pytest.param(29.90, 10, 0.015, "send", id="a plain post still fits"),
        pytest.param(30.00, 10, 0.015, "over", id="exhausted"),
    ],
)
def test_budget_exhaustion(spent: float, priority: int, cost: float, expected: str) -> None:
    d = decide_at(T0, limits(), spent=spent, priority=priority, cost=cost, budget={"monthly": 30})
    if expected == "send":
        assert d == Send(cost)
        return
    assert isinstance(d, Skip) and d.rule == "budget"
    assert d.reason.startswith("budget: ")
    assert ("kept for posts with priority 1 or more" in d.reason) is (expected == "reserve")


def test_a_month_of_posts_runs_out_of_budget_in_order() -> None:
    budget = {"monthly": 1.00, "reserve": "40%"}
    spent, outcomes = 0.0, []
    for priority in (0, 0, 0, 0, 5, 5, 5):
        d = decide_at(T0, limits(), spent=spent, priority=priority, cost=0.20, budget=budget)
        outcomes.append("sent" if isinstance(d, Send) else "skipped")
        if isinstance(d, Send):
            spent += d.cost or 0.0
    # $0.60 for everyone, the last $0.40 for priority posts only.
    assert outcomes == ["sent", "sent", "sent", "skipped", "sent", "sent", "skipped"]
    assert money(spent) == "$1.00"


def test_the_budget_month_is_the_newsrooms_calendar_month() -> None:
    late = utc("2026-12-01T03:00")  # 22:00 on 30 November in Port-au-Prince
    assert month_start(late, PAP) == utc("2026-11-01T04:00")  # midnight EDT, before fall-back
    assert month_start(late, PAP, months=1) == utc("2026-12-01T05:00")
    assert month_start(late, UTC) == utc("2026-12-01T00:00")
    assert month_start(utc("2026-12-20T00:00"), PAP, months=1) == utc("2027-01-01T05:00")
    account = AccountConfig.model_validate(
        {"id": "x-main", "platform": "x", "budget": {"monthly": 30}}
    )
    assert account.budget is not None
    status = budget_status("x-main", account.budget, spent=0.415, posts=3, now=late, tz=PAP)
    assert (status.month, status.remaining, status.reserve) == ("2026-11", 30 - 0.415, 3.0)
    assert status.resets == utc("2026-12-01T05:00")


# --- config ------------------------------------------------------------------------------------


def _config(account: dict[str, Any]) -> str:
    return yaml.safe_dump({"accounts": [{"id": "a", "platform": "x", **account}]})


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ({"limits": {"quiet_hours": "23:00-23:00"}}, "accounts[0].limits.quiet_hours"),
        ({"limits": {"per_hour": 0}}, "accounts[0].limits.per_hour"),
        ({"limits": {"min_gap": "soon"}}, "accounts[0].limits.min_gap"),
        ({"limits": {"max_posts": 3}}, "accounts[0].limits.max_posts: unknown key"),
        ({"approval": "maybe"}, "accounts[0].approval"),
        ({"priority": [{"priority": 10}]}, "accounts[0].priority[0].where"),
        ({"budget": {"monthly": 30, "reserve": "150%"}}, "accounts[0].budget.reserve"),
        (
            {"platform": "mastodon", "budget": {"monthly": 5}},
            "budget.prices is required for mastodon",
        ),
    ],
)
def test_bad_flow_settings_name_the_key(account: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(_config(account), {})


def test_the_readme_flow_control_example_is_valid() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(
        r"```yaml\n(accounts:\n  - id: x-en\n    platform: x\n    # \.\.\.credentials.*?)```",
        readme,
        re.S,
    )
    assert block is not None
    config = parse_config(block.group(1), {})
    (account,) = config.accounts
    assert account.limits.min_gap == 600
    assert str(account.limits.quiet_hours) == "23:00-06:00"
    assert account.approval == "required"
    assert account.budget is not None and account.budget.reserve == pytest.approx(0.1)
    assert account.prices is not None and account.prices.post_with_url == 0.20
    assert account.priority[0].ignore_quiet_hours


def test_durations_and_money_read_well() -> None:
    assert [duration(s) for s in (45, 600, 5400, 7 * 3600 + 20, 90000)] == [
        "45s",
        "10m",
        "1h30m",
        "7h",
        "1d1h",
    ]
    assert [money(x) for x in (0.2, 0.015, 30, 29.6)] == ["$0.20", "$0.015", "$30.00", "$29.60"]
