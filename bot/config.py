"""The configuration contract: one YAML file, validated once, never rewritten.

``load_config(path)`` reads the file, expands ``${VAR}`` references from the environment (and a
``.env`` file next to the config), and validates everything with pydantic. Unknown keys are
errors. Any problem raises ``ConfigError`` whose message names the file, the line and the key;
loading never touches the network and never exits the process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError

DEFAULT_CONFIG_PATH = "config/syndbot.yaml"
CONFIG_ENV_VAR = "SYNDBOT_CONFIG"

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, None: 1,
}  # fmt: skip
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def parse_duration(value: object) -> float:
    """``"90s"``, ``"2m"``, ``"1.5h"``, ``"1d"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 2m, 1h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like 30s, 2m, 1h or 1d, not {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_size(value: object) -> int:
    """``"5MB"``, ``"512KiB"`` or a number of bytes -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _SIZE_RE.match(value)):
        unit = m.group(2).lower() if m.group(2) else None
        return int(float(m.group(1)) * _SIZE_UNITS[unit])
    raise ValueError(f"expected a size like 5MB or 512KiB, not {value!r}")


def parse_share(value: object) -> float:
    """``"10%"`` or a fraction like ``0.1`` -> 0.1."""
    if isinstance(value, bool):
        raise ValueError("expected a share like 10% or 0.1")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            share = float(value.strip().removesuffix("%")) / 100
        except ValueError:
            raise ValueError(f"expected a share like 10% or 0.1, not {value!r}") from None
    elif isinstance(value, int | float):
        share = float(value)
        if share > 1:
            raise ValueError(f"{value} is more than the whole: write 10% or 0.1")
    else:
        raise ValueError(f"expected a share like 10% or 0.1, not {value!r}")
    if not 0 <= share <= 1:
        raise ValueError("a share is between 0% and 100%")
    return share


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
Share = Annotated[float, BeforeValidator(parse_share)]


@dataclass(frozen=True, slots=True)
class FirstRun:
    """What a newly added source does with the items already in its feed.

    ``skip``: record them, post nothing. ``latest:N``: post the N newest. ``since:DATE``: post
    those published on or after DATE (UTC midnight when no time is given).
    """

    mode: Literal["skip", "latest", "since"]
    count: int = 0
    since: datetime | None = None

    @classmethod
    def parse(cls, value: object) -> FirstRun:
        if isinstance(value, FirstRun):
            return value
        text = str(value).strip()
        if text == "skip":
            return cls("skip")
        if text.startswith("latest:"):
            n = text.removeprefix("latest:").strip()
            if not n.isdigit():
                raise ValueError(f"latest:N needs a whole number, not {n!r}")
            return cls("latest", count=int(n))
        if text.startswith("since:"):
            raw = text.removeprefix("since:").strip()
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError(
                    f"since:DATE needs an ISO date like 2026-01-31, not {raw!r}"
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return cls("since", since=when.astimezone(UTC))
        raise ValueError(f"first_run must be skip, latest:N or since:DATE, not {text!r}")

    def __str__(self) -> str:
        if self.mode == "latest":
            return f"latest:{self.count}"
        if self.mode == "since" and self.since:
            return f"since:{self.since.isoformat()}"
        return self.mode


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window, in the config's time zone, when an account does not post.

    ``"23:00-06:00"`` crosses midnight; the end is excluded. Wall-clock times: the window
    follows daylight-saving changes (see ``bot.flow``).
    """

    start: time
    end: time

    @classmethod
    def parse(cls, value: object) -> QuietHours:
        if isinstance(value, QuietHours):
            return value
        m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(value))
        if not m:
            raise ValueError(f"quiet_hours must look like 23:00-06:00, not {value!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        try:
            start, end = time(h1, m1), time(h2, m2)
        except ValueError:
            raise ValueError(f"quiet_hours has an impossible time: {value!r}") from None
        if start == end:
            raise ValueError("quiet_hours starts and ends at the same time")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _first_run(value: object) -> FirstRun:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = f"since:{value.isoformat()}"
    return FirstRun.parse(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            "ids use lower-case letters, digits, '-', '_' and '.', start with a letter or digit, "
            f"and are at most 64 characters: {value!r}"
        )
    return value


Id = Annotated[str, BeforeValidator(lambda v: _check_id(str(v)))]


def _check_http_url(value: object) -> str:
    text = str(value).strip()
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError(f"expected an http:// or https:// URL, not {text!r}")
    return text


HttpUrl = Annotated[str, BeforeValidator(_check_http_url)]


def _websub_mode(value: object) -> object:
    # YAML reads an unquoted `off` as false (and `on` as true).
    if isinstance(value, bool):
        return "auto" if value else "off"
    return value


class FetchSettings(_Strict):
    """How syndbot talks to news sites."""

    timeout: Duration = 20.0
    max_bytes: Size = 5_000_000
    user_agent: str = "syndbot/0.1 (+https://github.com/syndbot/syndbot; news syndication bot)"
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Connect to this address for this host name, keeping the name in the Host header (like
    # curl --resolve); plain http:// only. For sites reached through an internal address.
    resolve: dict[str, str] = Field(default_factory=dict)

    @field_validator("resolve")
    @classmethod
    def _lower_hosts(cls, v: dict[str, str]) -> dict[str, str]:
        return {host.lower(): address for host, address in v.items()}


class SourceConfig(_Strict):
    """A feed to watch."""

    id: Id
    # `feed`: an RSS/Atom/JSON feed URL; `wordpress`: the site's URL (or its REST endpoint
    # /wp-json/wp/v2/posts), read through the WordPress REST API.
    type: Literal["feed", "wordpress"] = "feed"
    feed: HttpUrl
    every: Duration = 120.0
    jitter: Duration | None = None  # default: 10% of `every`, at most 30 s
    first_run: Annotated[FirstRun, BeforeValidator(_first_run)] = FirstRun("skip")
    language: str | None = None  # used when neither the page nor the feed says
    scrape: bool | None = None  # fetch each article page; default: yes for feeds, no for REST
    # When every item of the feed is new (a burst larger than the feed), read older pages
    # (WordPress ?paged=2, 3, …) until a known article appears, at most this many pages
    # (30 pages of WordPress's 10 items: a day or more of a busy newsroom's backlog).
    catch_up_pages: int = Field(default=30, ge=0, le=200)
    hosts: tuple[str, ...] = ()  # extra hosts whose article URLs belong to this site
    # WordPress REST API behind authentication: a user and an application password.
    username: str | None = None
    app_password: SecretStr | None = None
    enabled: bool = True
    # Push: subscribe at the WebSub hub the feed advertises (when `websub:` is configured);
    # polling goes on as the fallback. `off`: never.
    websub: Annotated[Literal["auto", "off"], BeforeValidator(_websub_mode)] = "auto"

    @property
    def wants_push(self) -> bool:
        """Subscribe at the feed's WebSub hub (when the top-level `websub:` is set)."""
        return self.enabled and self.type == "feed" and self.websub == "auto"

    @property
    def should_scrape(self) -> bool:
        return self.scrape if self.scrape is not None else self.type == "feed"

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username and self.app_password is not None:
            return self.username, self.app_password.get_secret_value()
        return None

    @field_validator("every")
    @classmethod
    def _every_min(cls, v: float) -> float:
        if v < 0.1:
            raise ValueError("must be at least 0.1s")
        return v

    @property
    def effective_jitter(self) -> float:
        return self.jitter if self.jitter is not None else min(self.every * 0.1, 30.0)


class HashtagSettings(_Strict):
    """Hashtags from the article's categories and tags."""

    max: int = Field(default=2, ge=0, le=30)
    map: dict[str, str | None] = Field(default_factory=dict)  # "Haiti": "Haïti"; null = never
    exclude: tuple[str, ...] = ("Uncategorized", "Non classé")
    only_mapped: bool = False  # only categories named in `map` become hashtags


class UtmSettings(_Strict):
    """Campaign parameters added to the link (utm_source etc.)."""

    source: str | None = None
    medium: str | None = "social"
    campaign: str | None = None
    content: str | None = None

    def params(self) -> dict[str, str]:
        pairs = {
            "utm_source": self.source,
            "utm_medium": self.medium,
            "utm_campaign": self.campaign,
            "utm_content": self.content,
        }
        return {k: v for k, v in pairs.items() if v}


class RouteWhere(_Strict):
    """Conditions on an article; all given ones must hold."""

    categories_any: tuple[str, ...] = ()
    categories_all: tuple[str, ...] = ()
    categories_none: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    keywords_any: tuple[str, ...] = ()  # words or phrases; any in the title (case-insensitive)
    keywords_none: tuple[str, ...] = ()  # none of these in the title
    title_matches: str | None = None  # a regular expression, case-insensitive

    @field_validator("title_matches")
    @classmethod
    def _regex_ok(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"not a valid regular expression: {e}") from None
        return v


class LimitSettings(_Strict):
    """Flow control of one account, enforced from the ledger (it survives restarts).

    Automatic posts that may not go now wait in the queue with the reason; none is dropped,
    except one older than ``max_age`` when its turn comes (skipped, with the reason).
    """

    min_gap: Duration | None = None  # at least this long between two posts
    per_hour: int | None = Field(default=None, ge=1)  # at most N posts in any 60 minutes
    per_day: int | None = Field(default=None, ge=1)  # at most N posts in any 24 hours
    quiet_hours: Annotated[QuietHours, BeforeValidator(QuietHours.parse)] | None = None
    max_age: Duration | None = None  # skip an article older than this when its turn comes

    @property
    def caps(self) -> bool:
        return bool(self.min_gap or self.per_hour or self.per_day)


class PriorityRule(_Strict):
    """Articles matching ``where`` get ``priority`` (higher goes first) and may bypass limits."""

    where: RouteWhere
    priority: int = Field(default=10, ge=-1000, le=1000)
    ignore_quiet_hours: bool = False
    ignore_caps: bool = False  # min_gap, per_hour and per_day


class PriceList(_Strict):
    """What one post costs on the platform (same currency as ``budget.monthly``)."""

    post: float = Field(ge=0)
    post_with_url: float = Field(ge=0)


# Published write prices, per platform (reference/platform-apis.md §1.3: X pay-per-use,
# 2026-04-20: $0.015 per post, $0.20 for a post with a URL).
DEFAULT_PRICES: dict[str, PriceList] = {"x": PriceList(post=0.015, post_with_url=0.20)}


class BudgetSettings(_Strict):
    """A monthly spending limit for posts (calendar month in the config's time zone)."""

    monthly: float = Field(ge=0)
    prices: PriceList | None = None  # default: the platform's published prices (X)
    # The last share of the month's budget is kept for posts whose priority is at least
    # `reserve_for_priority`; other posts that would dip into it are skipped ("budget").
    reserve: Share = 0.1
    reserve_for_priority: int = 1


class AccountConfig(_Strict):
    """A social account to post to."""

    id: Id
    platform: str
    credentials: dict[str, SecretStr] = Field(default_factory=dict)
    template: str = "{title} {hashtags} {url}"
    hashtags: HashtagSettings = HashtagSettings()
    utm: UtmSettings | None = None
    api_base: HttpUrl | None = None
    max_length: int | None = Field(default=None, ge=1)  # lower the platform limit, never raise it
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    enabled: bool = True
    limits: LimitSettings = LimitSettings()
    priority: tuple[PriorityRule, ...] = ()  # the first matching rule applies
    approval: Literal["none", "required"] = "none"  # required: new posts wait, held
    budget: BudgetSettings | None = None
    # When a posted article disappears from the site (404/410 twice, `recheck.every` apart):
    # keep the social copies, or delete them where the platform allows it.
    on_unpublish: Literal["keep", "delete"] = "keep"

    @model_validator(mode="after")
    def _prices_known(self) -> AccountConfig:
        if self.budget is not None and self.prices is None:
            raise ValueError(
                f"budget.prices is required for {self.platform} (syndbot knows the prices of: "
                f"{', '.join(sorted(DEFAULT_PRICES))})"
            )
        return self

    @property
    def prices(self) -> PriceList | None:
        """What posts cost on this account: the budget's prices, else the platform's own."""
        if self.budget is not None and self.budget.prices is not None:
            return self.budget.prices
        return DEFAULT_PRICES.get(self.platform)

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, v: str) -> str:
        from bot.publishers import REGISTRY

        if v not in REGISTRY:
            raise ValueError(f"unknown platform {v!r}; known: {', '.join(sorted(REGISTRY))}")
        return v

    @field_validator("template")
    @classmethod
    def _template_ok(cls, v: str) -> str:
        from bot.summarizer import check_template

        check_template(v)
        return v

    def credential(self, name: str) -> str:
        """The secret's value; raises ConfigError naming the key when it is missing."""
        secret = self.credentials.get(name)
        if secret is None or not secret.get_secret_value():
            raise ConfigError(
                f"accounts.{self.id}.credentials.{name} is required for {self.platform}"
            )
        return secret.get_secret_value()


class RouteConfig(_Strict):
    """Send articles from these sources to these accounts, when `where` holds."""

    from_: tuple[str, ...] = Field(alias="from", default=())  # empty: every source
    to: tuple[str, ...]
    where: RouteWhere = RouteWhere()


class RetrySettings(_Strict):
    """How long and how often failed posts are retried."""

    first: Duration = 30.0
    max_wait: Duration = 1800.0
    give_up_after: Duration = 86400.0


class RecheckSettings(_Strict):
    """Looking again at recently posted articles, to notice one that was unpublished."""

    every: Duration = 1800.0  # how often an article is looked at again (and the confirmation gap)
    window: Duration = 7 * 86400.0  # for how long after it was first seen
    enabled: bool = True


class WebConfig(_Strict):
    """The editors' web UI (``syndbot web``, or inside ``syndbot run`` when enabled)."""

    enabled: bool = False  # also serve it from `syndbot run`
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Signs session cookies. Unset: a random key is created once and kept in state_dir.
    secret_key: SecretStr | None = None
    session_lifetime: Duration = 12 * 3600.0


class MonitorConfig(_Strict):
    """Health checks and Prometheus metrics served by ``syndbot run`` (``/healthz``,
    ``/readyz``, ``/metrics``)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9300, ge=1, le=65535)


class WebSubConfig(_Strict):
    """Push from the WebSub hubs feeds advertise (W3C WebSub): the hub calls
    ``<callback_url>/<token>`` when a feed changes and the source is polled at once."""

    callback_url: HttpUrl  # the public base URL the hub reaches this daemon's listener at
    host: str = "127.0.0.1"  # where the listener binds (a reverse proxy forwards to it)
    port: int = Field(default=9301, ge=0, le=65535)
    lease_seconds: Duration = 864000.0  # asked of the hub (10 days); renewed at 80 % of it
    # HMAC key for the hub's signatures. Unset: a random one per subscription, in the ledger.
    secret: SecretStr | None = None
    retry_first: Duration = 60.0  # a hub that fails: retry after this, doubling
    retry_max: Duration = 3600.0

    @field_validator("lease_seconds")
    @classmethod
    def _lease_min(cls, v: float) -> float:
        if v < 1:
            raise ValueError("must be at least 1s")
        return v

    @field_validator("secret")
    @classmethod
    def _secret_size(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not 8 <= len(v.get_secret_value().encode()) < 200:
            raise ValueError("must be 8 to 199 bytes (WebSub's limit is 200)")
        return v


class Config(_Strict):
    """The whole file."""

    store: str = "sqlite:///data/syndbot.db"
    state_dir: str = "data"  # files publishers keep between runs (e.g. the Bluesky session)
    timezone: str = "UTC"
    fetch: FetchSettings = FetchSettings()
    deliver_every: Duration = 5.0
    lease: Duration = 300.0
    # How long a publisher waits for a platform's answer before giving up on the attempt.
    publish_timeout: Duration = 30.0
    retry: RetrySettings = RetrySettings()
    recheck: RecheckSettings = RecheckSettings()
    web: WebConfig = WebConfig()
    monitor: MonitorConfig = MonitorConfig()
    websub: WebSubConfig | None = None  # push from WebSub hubs; unset: polling only
    sources: tuple[SourceConfig, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz_ok(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like America/Port-au-Prince)"
            ) from None
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def source(self, source_id: str) -> SourceConfig:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)

    def account(self, account_id: str) -> AccountConfig:
        for a in self.accounts:
            if a.id == account_id:
                return a
        raise KeyError(account_id)

    def secret_values(self) -> frozenset[str]:
        """Every credential value, so logs and output can be scrubbed of them."""
        values = [s.get_secret_value() for a in self.accounts for s in a.credentials.values()]
        values += [s.app_password.get_secret_value() for s in self.sources if s.app_password]
        if self.web.secret_key is not None:
            values.append(self.web.secret_key.get_secret_value())
        if self.websub is not None and self.websub.secret is not None:
            values.append(self.websub.secret.get_secret_value())
        # Passwords written into URLs: a private feed's user:password@, the store's.
        values += [
            p for url in (self.store, *(s.feed for s in self.sources)) for p in _passwords(url)
        ]
        return frozenset(v for v in values if len(v) >= 4)


# --- loading -----------------------------------------------------------------------------------


def _passwords(url: str) -> list[str]:
    """The password in ``scheme://user:password@host/…``, as written and decoded."""
    try:
        from urllib.parse import unquote, urlsplit

        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def default_config_path() -> str:
    return os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate the config file at ``path``.

    ``environ`` defaults to ``os.environ`` merged over the ``.env`` file beside the config.
    """
    p = Path(path)
    shown = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (set --config or $SYNDBOT_CONFIG)", path=shown) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read: {e}", path=shown) from None
    if environ is None:
        env_file = p.parent / ".env"
        dotenv = (
            {k: v for k, v in dotenv_values(env_file).items() if v is not None}
            if env_file.is_file()
            else {}
        )
        environ = {**dotenv, **os.environ}
    return parse_config(text, environ, path=shown)


def parse_config(text: str, environ: Mapping[str, str], *, path: str = "<config>") -> Config:
    """Validate YAML text (see ``load_config``)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = e.problem or e.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", path=path, line=line) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"YAML error: {e}", path=path) from None
    if node is None:
        raise ConfigError("the file is empty", path=path)
    lines = dict(_node_lines(node, ()))
    data = _construct(node, path)
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", path=path, line=1)
    data = _expand(data, environ, (), lines, path)
    try:
        config = Config.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False, include_input=False)[0]
        loc = _loc_to_keys(err["loc"], data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling and indentation)"
        more = f" (and {len(e.errors()) - 1} more problems)" if len(e.errors()) > 1 else ""
        raise ConfigError(
            f"{_dotted(loc)}: {msg}{more}", path=path, line=_nearest_line(loc, lines)
        ) from None
    dangling = _reference_problem(config)
    if dangling is not None:
        where, why = dangling
        raise ConfigError(f"{_dotted(where)}: {why}", path=path, line=_nearest_line(where, lines))
    return config


def _reference_problem(config: Config) -> tuple[tuple[Any, ...], str] | None:
    """The first duplicate id or dangling route reference, as (YAML key path, message)."""
    groups: tuple[tuple[str, list[str]], ...] = (
        ("sources", [s.id for s in config.sources]),
        ("accounts", [a.id for a in config.accounts]),
    )
    for kind, ids in groups:
        seen: set[str] = set()
        for i, item_id in enumerate(ids):
            if item_id in seen:
                return (kind, i, "id"), f"id {item_id!r} is used twice"
            seen.add(item_id)
    source_ids = [s.id for s in config.sources]
    account_ids = [a.id for a in config.accounts]
    for i, route in enumerate(config.routes):
        for j, s in enumerate(route.from_):
            if s not in source_ids:
                known = ", ".join(source_ids) or "none"
                return ("routes", i, "from", j), f"unknown source {s!r} (sources: {known})"
        for j, a in enumerate(route.to):
            if a not in account_ids:
                known = ", ".join(account_ids) or "none"
                return ("routes", i, "to", j), f"unknown account {a!r} (accounts: {known})"
    return None


def _construct(node: yaml.Node, path: str) -> Any:
    try:
        return yaml.SafeLoader("").construct_document(node)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise ConfigError(f"YAML error: {e.problem}", path=path, line=line) from None


def _node_lines(node: yaml.Node, key: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], int]]:
    yield key, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            name = k.value
            yield (*key, name), k.start_mark.line + 1
            for sub, line in _node_lines(v, (*key, name)):
                if sub != (*key, name):
                    yield sub, line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _node_lines(v, (*key, i))


def _expand(
    value: Any,
    environ: Mapping[str, str],
    key: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    path: str,
) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, environ, (*key, k), lines, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, (*key, i), lines, path) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in environ and environ[name] != "":
                return environ[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{_dotted(key)}: environment variable {name} is not set "
                "(export it or put it in the .env file next to the config)",
                path=path,
                line=_nearest_line(key, lines),
            )

        return _ENV_RE.sub(sub, value)
    return value


def _loc_to_keys(loc: tuple[int | str, ...], data: Any) -> tuple[Any, ...]:
    """Map pydantic's location (field names) back to YAML keys (aliases like ``from``)."""
    out: list[Any] = []
    cur = data
    for part in loc:
        if part == "from_":
            part = "from"
        if isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
            continue
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and part.startswith(("function-", "constrained-")):
            continue
        else:
            out.append(part)
            cur = None
    return tuple(out)


def _nearest_line(key: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    while True:
        if key in lines:
            return lines[key]
        if not key:
            return None
        key = key[:-1]


def _dotted(key: tuple[Any, ...]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
