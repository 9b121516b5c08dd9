"""The Publisher protocol and the facts every platform declares about itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass
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
    (``None`` = its real length).
    """

    name: str
    max_length: int
    counting: str
    url_length: int | None
    in_doubt: InDoubt
    supports_images: bool = False


@runtime_checkable
class Publisher(Protocol):
    """One platform account. Constructing one does no I/O.

    ``publish`` returns a ``PublishResult`` or raises ``bot.errors.PublishError``; it never
    returns a failure value. ``idempotency_key`` is stable across retries of one delivery.
    """

    spec: ClassVar[PlatformSpec]

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult: ...

    def close(self) -> None: ...
