"""Config loading: valid files, and one clear message (file, line, key) for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import FirstRun, load_config, parse_config, parse_duration, parse_size
from bot.errors import ConfigError

GOOD = """\
store: sqlite:///data/test.db
timezone: America/Port-au-Prince
sources:
  - id: ctn-en
    feed: https://ctninfo.com/category/english/feed/
    every: 2m
    first_run: latest:3
    language: en
accounts:
  - id: x-main
    platform: x
    credentials:
      consumer_key: ${X_API_KEY}
      consumer_secret: ${X_API_SECRET}
      access_token: ${X_ACCESS_TOKEN}
      access_token_secret: ${X_ACCESS_SECRET:-fallback-secret}
    template: "{title} {hashtags} {url}"
    hashtags: {max: 2, map: {Haiti: Haïti, English: null}}
    utm: {source: twitter, campaign: syndbot}
routes:
  - from: [ctn-en]
    to: [x-main]
    where: {categories_any: [Haiti]}
"""

ENV = {"X_API_KEY": "ck-1234", "X_API_SECRET": "cs-5678", "X_ACCESS_TOKEN": "at-9012"}


def test_good_file_loads_with_env_values_and_defaults() -> None:
    config = parse_config(GOOD, ENV)
    source = config.source("ctn-en")
    assert source.every == 120
    assert source.first_run == FirstRun("latest", count=3)
    account = config.account("x-main")
    assert account.credential("consumer_key") == "ck-1234"
    assert account.credential("access_token_secret") == "fallback-secret"
    assert account.hashtags.map == {"Haiti": "Haïti", "English": None}
    assert account.utm is not None
    assert account.utm.params() == {
        "utm_source": "twitter",
        "utm_medium": "social",
        "utm_campaign": "syndbot",
    }
    assert config.routes[0].from_ == ("ctn-en",)
    assert config.secret_values() == {"ck-1234", "cs-5678", "at-9012", "fallback-secret"}


def test_secrets_do_not_show_in_repr() -> None:
    config = parse_config(GOOD, ENV)
    assert "cs-5678" not in repr(config)
    assert "cs-5678" not in str(config.account("x-main"))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("    every: 2m", "    evrey: 2m"), 6, ["sources[0].evrey", "unknown key"]),
        (GOOD.replace("every: 2m", "every: soon"), 6, ["sources[0].every", "duration"]),
        (
            GOOD.replace("first_run: latest:3", "first_run: newest"),
            7,
            ["sources[0].first_run", "skip, latest:N or since:DATE"],
        ),
        (
            GOOD.replace("platform: x", "platform: myspace"),
            11,
            ["accounts[0].platform", "unknown platform 'myspace'"],
        ),
        (
            GOOD.replace("to: [x-main]", "to: [x-mian]"),
            22,
            ["routes[0].to[0]", "unknown account 'x-mian'"],
        ),
        (
            GOOD.replace('template: "{title} {hashtags} {url}"', 'template: "{titel} {url}"'),
            17,
            ["accounts[0].template", "titel"],
        ),
        (
            GOOD.replace("timezone: America/Port-au-Prince", "timezone: Mars/Olympus"),
            2,
            ["timezone", "Mars/Olympus"],
        ),
        (
            GOOD.replace(
                "feed: https://ctninfo.com/category/english/feed/", "feed: ctninfo.com/feed"
            ),
            5,
            ["sources[0].feed", "http"],
        ),
        (GOOD.replace("  - id: x-main", "  - id: X Main"), 10, ["accounts[0].id", "lower-case"]),
    ],
)
def test_mistakes_name_the_line_and_key(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, ENV, path="config/syndbot.yaml")
    message = str(info.value)
    assert message.startswith(f"config/syndbot.yaml:{line}: "), message
    for w in words:
        assert w in message
    assert info.value.line == line


def test_yaml_syntax_error_names_the_line() -> None:
    broken = GOOD.replace("    every: 2m\n", "    every: [2m\n")
    with pytest.raises(ConfigError) as info:
        parse_config(broken, ENV, path="c.yaml")
    assert str(info.value).startswith("c.yaml:")
    assert "YAML" in str(info.value)
    assert info.value.line is not None and 7 <= info.value.line <= 9


def test_missing_env_var_is_named_with_its_key_and_line() -> None:
    env = {k: v for k, v in ENV.items() if k != "X_API_SECRET"}
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD, env, path="c.yaml")
    message = str(info.value)
    assert "X_API_SECRET" in message
    assert "accounts[0].credentials.consumer_secret" in message
    assert message.startswith("c.yaml:14: ")


def test_errors_never_echo_secret_values() -> None:
    bad = GOOD.replace("    every: 2m", "    every: 2m\n    bogus: ${X_API_KEY}")
    with pytest.raises(ConfigError) as info:
        parse_config(bad, ENV)
    assert "ck-1234" not in str(info.value)


def test_duplicate_ids_are_rejected() -> None:
    twice = GOOD.replace(
        "routes:",
        """  - id: x-main
    platform: console
routes:""",
    )
    with pytest.raises(ConfigError, match="id 'x-main' is used twice"):
        parse_config(twice, ENV)


def test_load_config_reads_dotenv_beside_the_file_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "syndbot.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / ".env").write_text(
        "X_API_KEY=from-dotenv\nX_API_SECRET=s-dotenv\nX_ACCESS_TOKEN=t-dotenv\n"
    )
    monkeypatch.delenv("X_API_KEY", raising=False)
    monkeypatch.setenv("X_ACCESS_TOKEN", "t-environment")
    config = load_config(tmp_path / "syndbot.yaml")
    account = config.account("x-main")
    assert account.credential("consumer_key") == "from-dotenv"
    assert account.credential("access_token") == "t-environment"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="empty"):
        parse_config("", {})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("2m", 120), ("1.5h", 5400), ("1d", 86400), (30, 30), ("250ms", 0.25)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "size"), [("5MB", 5_000_000), ("512KiB", 524288), (1000, 1000), ("2 mb", 2_000_000)]
)
def test_sizes(value: object, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("skip", FirstRun("skip")),
        ("latest:5", FirstRun("latest", count=5)),
    ],
)
def test_first_run_policies(text: str, expected: FirstRun) -> None:
    assert FirstRun.parse(text) == expected


def test_first_run_since_a_date_is_utc_midnight() -> None:
    fr = FirstRun.parse("since:2026-01-31")
    assert fr.mode == "since"
    assert fr.since is not None and fr.since.isoformat() == "2026-01-31T00:00:00+00:00"


def test_yaml_date_for_since_is_accepted() -> None:
    config = parse_config(GOOD.replace("first_run: latest:3", "first_run: since:2026-02-01"), ENV)
    assert config.source("ctn-en").first_run.mode == "since"
