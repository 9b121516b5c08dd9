"""Publishers, one module per platform, looked up by the account's ``platform`` name.

The registry is an explicit dict of import paths, imported only when an account uses them.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING

from bot.publishers.base import PlatformSpec, Publisher, PublisherContext

if TYPE_CHECKING:
    from bot.config import AccountConfig

REGISTRY: dict[str, str] = {
    "x": "bot.publishers.x:XPublisher",
    "mastodon": "bot.publishers.mastodon:MastodonPublisher",
    "bluesky": "bot.publishers.bluesky:BlueskyPublisher",
    "threads": "bot.publishers.threads:ThreadsPublisher",
    "facebook": "bot.publishers.facebook:FacebookPublisher",
    "linkedin": "bot.publishers.linkedin:LinkedInPublisher",
    "telegram": "bot.publishers.telegram:TelegramPublisher",
    "webhook": "bot.publishers.webhook:WebhookPublisher",
    "console": "bot.publishers.console:ConsolePublisher",
}


def publisher_class(platform: str) -> type[Publisher]:
    """The Publisher class registered for ``platform`` (imported on first use)."""
    module_name, _, attr = REGISTRY[platform].partition(":")
    cls: type[Publisher] = getattr(importlib.import_module(module_name), attr)
    return cls


def spec_for(account: AccountConfig) -> PlatformSpec:
    """The account's platform facts, with the account's own ``max_length`` applied (never raised).

    A ``console`` account counts like the platform named in ``options.like`` (default ``x``),
    and can always "delete" (it prints what would be deleted).
    """
    platform = account.platform
    if platform == "console":
        platform = str(account.options.get("like", "x"))
    spec = publisher_class(platform).spec
    if account.platform == "console" and not spec.can_delete:
        spec = dataclasses.replace(spec, can_delete=True)
    if account.max_length is not None and account.max_length < spec.max_length:
        spec = dataclasses.replace(spec, max_length=account.max_length)
    return spec


def create_publisher(account: AccountConfig, context: PublisherContext | None = None) -> Publisher:
    """A ready Publisher for ``account``. Construction does no I/O."""
    cls = publisher_class(account.platform)
    return cls(account, context or PublisherContext())  # type: ignore[call-arg]
