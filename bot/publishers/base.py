"""The Publisher protocol and the facts every platform declares about itself."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from bot.models import Post, PublishResult


class InDoubt(enum.StrEnum):
    """What to do with a post whose outcome is unknown (the process died mid-call)."""

    RETRY = "retry"  # safe to send again: the platform deduplicates (X 403, idempotency key)
    HOLD = "hold"  # not safe: an editor decides


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """Limits and counting rules, readable without calling the platform.

    ``counting`` names the rule in ``bot.textlen``; ``url_length`` is what any URL counts
    (``None`` = its real length). ``can_delete``: the publisher has ``delete`` and the
    platform lets it take a post down (``on_unpublish: delete``).
    """

    name: str
    max_length: int
    counting: str
    url_length: int | None
    in_doubt: InDoubt
    supports_images: bool = False
    can_delete: bool = False


def _no_images(url: str) -> bytes:
    from bot.errors import MediaError

    raise MediaError(f"no image loader configured; cannot load {url}")


@dataclass(frozen=True, slots=True)
class PublisherContext:
    """What a publisher may use besides its account: loading the article's image (size-capped,
    raises ``FetchError``), and a folder for state it keeps between runs (sessions, refreshed
    tokens). Tests pass their own."""

    load_image: Callable[[str], bytes] = field(default=_no_images)
    state_dir: Path = Path("data")
    timeout: float = 30.0


@runtime_checkable
class Publisher(Protocol):
    """One platform account. Constructing one (``cls(account, context)``) does no I/O.

    ``publish`` returns a ``PublishResult`` or raises ``bot.errors.PublishError``; it never
    returns a failure value. ``idempotency_key`` is stable across retries of one delivery.

    A publisher whose limits depend on the server (Mastodon's per-instance length) may also
    define ``live_spec(self) -> PlatformSpec``: it may do I/O, must cache, and returns
    ``spec`` when the server cannot be asked. The pipeline uses it when composing.

    A publisher whose ``spec`` (or ``live_spec()``) says ``can_delete`` also defines
    ``delete(self, remote_id: str) -> None`` (see ``Deleter``): it takes down the post the
    platform gave ``remote_id`` for (``PublishResult.remote_id``). A post that is already gone
    counts as deleted: no error. Anything else raises ``PublishError``, retryable or not as for
    ``publish``.
    """

    spec: ClassVar[PlatformSpec]

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult: ...

    def close(self) -> None: ...


@runtime_checkable
class Deleter(Protocol):
    """The optional part of a ``Publisher`` that takes its posts down again.

    ``delete(remote_id)`` returns once the post is gone, whether this call removed it or it
    was gone already (deleted by hand, or by an earlier attempt whose answer was lost): calling
    it twice is safe. It raises ``bot.errors.PublishError`` when the platform refuses (bad
    credentials, no permission, too old to delete: ``retryable=False``) or fails in a way that
    passes (5xx, rate limit, timeout: ``retryable=True``). It logs what it did.

    Use it only when the account's spec says ``can_delete``: some publishers define the
    method for every account but can delete for some only (webhooks: Discord, not Slack).
    """

    def delete(self, remote_id: str) -> None: ...
