"""Every error syndbot raises on purpose.

::

    BotError                      base of the tree; str(e) is safe to show (no secrets)
    ├── ConfigError               the YAML file is unreadable, invalid, or names a missing ${VAR}
    ├── FetchError                a site could not be fetched (network, HTTP status, size cap)
    ├── ParseError                bytes that should be a feed or a page could not be parsed
    ├── MediaError                an image could not be decoded or brought under a size limit
    ├── StoreError                the ledger could not be read or written
    └── PublishError              a platform refused or failed a post
            .retryable            True: try again later (429, 5xx, timeout); False: permanent
            .retry_after          seconds the platform asked us to wait, when it said so

A platform's "duplicate post" answer is not an error: publishers return
``PublishResult(duplicate=True)`` and the ledger records the delivery as sent.

Library code raises these; only ``bot.cli`` turns them into messages and exit codes.
"""

from __future__ import annotations


class BotError(Exception):
    """Base class of every syndbot error."""


class ConfigError(BotError):
    """The configuration file cannot be used. The message names the file, line and key."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")


class FetchError(BotError):
    """A site could not be fetched."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class ParseError(BotError):
    """Feed or page bytes could not be parsed."""


class MediaError(BotError):
    """An image could not be decoded, or not made small enough for a platform."""


class StoreError(BotError):
    """The ledger database failed."""


class PublishError(BotError):
    """A platform did not accept a post.

    ``retryable`` says whether the same post may succeed later; ``retry_after`` is the wait in
    seconds the platform asked for (rate-limit reset), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.platform = platform
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)

    def __repr__(self) -> str:
        return (
            f"PublishError({str(self)!r}, platform={self.platform!r}, retryable={self.retryable}, "
            f"retry_after={self.retry_after}, status={self.status})"
        )
