"""ConsolePublisher, the dry run: what it prints for a post and for a deletion."""

from __future__ import annotations

import io

import pytest

from bot.config import AccountConfig
from bot.models import Post, PublishResult
from bot.publishers import create_publisher, spec_for
from bot.publishers.base import Deleter
from bot.publishers.console import ConsolePublisher

TEXT = "Ruto announces the end of the mission https://ctninfo.com/2026/11/ruto-haiti/"


def make_account(**options: str) -> AccountConfig:
    return AccountConfig(id="dry", platform="console", options=options)


def make_post() -> Post:
    return Post(
        account_id="dry",
        platform="console",
        text=TEXT,
        url="https://ctninfo.com/2026/11/ruto-haiti/",
        length=61,
        limit=280,
    )


def test_publish_prints_the_post_and_returns_a_console_id() -> None:
    out = io.StringIO()
    result = ConsolePublisher(make_account(), stream=out).publish(make_post(), idempotency_key="k1")
    assert result == PublishResult(remote_id="console:k1", url=None)
    assert TEXT in out.getvalue()


def test_delete_prints_what_would_be_deleted_and_deletes_nothing() -> None:
    out = io.StringIO()
    publisher = ConsolePublisher(make_account(like="mastodon"), stream=out)
    assert isinstance(publisher, Deleter)

    publisher.delete("console:k1")
    publisher.delete("console:k1")  # twice: no error, as on a real platform

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert all("dry · as mastodon · would delete console:k1" in line for line in lines)


@pytest.mark.parametrize("like", ["x", "threads", "webhook", "telegram"])
def test_a_console_account_can_always_delete(like: str) -> None:
    account = make_account(like=like)
    assert spec_for(account).can_delete
    assert ConsolePublisher.spec.can_delete
    publisher = create_publisher(account)
    try:
        assert isinstance(publisher, ConsolePublisher)
    finally:
        publisher.close()


def test_the_spec_of_a_platform_account_is_unchanged() -> None:
    slack = AccountConfig(
        id="hook", platform="webhook", credentials={"url": "https://hooks.example/x"}
    )
    assert not spec_for(slack).can_delete  # the class spec: the strictest kind's
