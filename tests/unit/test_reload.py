"""What a config reload has to apply: ``bot.reload.diff`` between two validated configs."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from bot.config import Config, parse_config
from bot.reload import ConfigChange, diff

ENV = {"X_KEY": "key-1234", "X_SECRET": "secret-5678"}

BASE: dict[str, Any] = {
    "store": "sqlite:///data/a.db",
    "sources": [
        {"id": "ctn", "feed": "https://ctninfo.com/feed/", "every": "2m"},
        {"id": "lenouvelliste", "feed": "https://lenouvelliste.com/feed/"},
    ],
    "accounts": [
        {
            "id": "x-main",
            "platform": "x",
            "credentials": {"consumer_key": "${X_KEY}", "consumer_secret": "${X_SECRET}"},
            "template": "{title} {url}",
        },
        {"id": "console", "platform": "console"},
    ],
    "routes": [{"from": ["ctn"], "to": ["x-main"]}],
}


def config(edit: Any = None, env: dict[str, str] = ENV) -> Config:
    data = copy.deepcopy(BASE)
    if edit is not None:
        edit(data)
    return parse_config(yaml.safe_dump(data), env)


def test_the_same_file_changes_nothing() -> None:
    change = diff(config(), config())
    assert change.empty
    assert change == ConfigChange()
    assert change.summary(0) == "nothing to apply"


def test_sources_added_removed_and_changed_by_id() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["sources"][0]["every"] = "30s"  # changed
        del d["sources"][1]  # removed
        d["sources"].append({"id": "alterpresse", "feed": "https://alterpresse.org/feed/"})

    change = diff(config(), config(edit))
    assert change.sources_added == ("alterpresse",)
    assert change.sources_removed == ("lenouvelliste",)
    assert change.sources_changed == ("ctn",)
    assert not change.accounts_changed and not change.routes_changed and not change.settings
    assert change.summary(0) == (
        "sources added alterpresse; removed lenouvelliste; changed ctn (every)"
    )


def test_a_disabled_source_is_removed_and_enabling_it_adds_it_back() -> None:
    def disable(d: dict[str, Any]) -> None:
        d["sources"][1]["enabled"] = False

    assert diff(config(), config(disable)).sources_removed == ("lenouvelliste",)
    back = diff(config(disable), config())
    assert back.sources_added == ("lenouvelliste",)
    assert back.sources_removed == ()

    # A disabled source changing is nothing to apply: it is not polled either way.
    def disabled_and_moved(d: dict[str, Any]) -> None:
        disable(d)
        d["sources"][1]["feed"] = "https://lenouvelliste.com/rss/"

    assert diff(config(disable), config(disabled_and_moved)).empty


def test_a_template_change_recomposes_a_credential_change_only_rebuilds() -> None:
    def template(d: dict[str, Any]) -> None:
        d["accounts"][0]["template"] = "NEW: {title} {url}"

    change = diff(config(), config(template))
    assert change.accounts_changed == ("x-main",)
    assert change.recompose == ("x-main",)
    assert change.summary(3) == (
        "accounts changed x-main (template) | 3 pending post(s) recomposed"
    )

    # The same file with another secret in the environment: the publisher must be rebuilt,
    # but no text changes.
    rotated = config(env={**ENV, "X_SECRET": "secret-rotated-9999"})
    change = diff(config(), rotated)
    assert change.accounts_changed == ("x-main",)
    assert change.recompose == ()
    assert change.summary(0) == "accounts changed x-main (credentials)"
    assert "rotated" not in repr(change)


def test_every_composing_setting_recomposes() -> None:
    edits = {
        "hashtags": {"max": 0},
        "utm": {"source": "twitter"},
        "max_length": 200,
        "options": {"like": "mastodon"},
    }
    for key, value in edits.items():

        def edit(d: dict[str, Any], key: str = key, value: Any = value) -> None:
            d["accounts"][1][key] = value

        assert diff(config(), config(edit)).recompose == ("console",), key


def test_flow_settings_change_the_account_without_recomposing() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["accounts"][0]["limits"] = {"min_gap": "10m"}
        d["accounts"][0]["approval"] = "required"

    change = diff(config(), config(edit))
    assert change.accounts_changed == ("x-main",)
    assert change.recompose == ()
    assert change.summary(0) == "accounts changed x-main (limits, approval)"


def test_accounts_and_routes() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["accounts"].append({"id": "masto", "platform": "console"})
        del d["accounts"][1]
        d["routes"] = [{"to": ["x-main", "masto"]}]

    change = diff(config(), config(edit))
    assert change.accounts_added == ("masto",)
    assert change.accounts_removed == ("console",)
    assert change.routes_changed
    assert change.summary(0) == "accounts added masto; removed console | routes changed"


def test_restart_only_settings_are_set_apart_from_live_ones() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["store"] = "sqlite:///data/b.db"
        d["state_dir"] = "elsewhere"
        d["web"] = {"port": 8081}
        d["timezone"] = "America/Port-au-Prince"
        d["deliver_every"] = "2s"
        d["fetch"] = {"timeout": "5s"}

    change = diff(config(), config(edit))
    assert change.restart == ("store", "state_dir", "web")
    assert change.settings == ("timezone", "fetch", "deliver_every")
    assert "store" not in change.summary(0)
    assert change.summary(0) == "timezone, fetch, deliver_every changed"
