"""The dry-run publisher: prints what would be posted (or deleted) and records it; posts
nothing, deletes nothing."""

from __future__ import annotations

import sys
import threading
from typing import ClassVar, TextIO

import click

from bot.config import AccountConfig
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext

_print_lock = threading.Lock()


class ConsolePublisher:
    """Writes each post to standard output. Its length rules are those of ``options.like``
    (default ``x``), applied by ``bot.publishers.spec_for``."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="console",
        max_length=280,
        counting="x",
        url_length=23,
        in_doubt=InDoubt.RETRY,
        can_delete=True,  # whatever options.like says: a dry run shows every deletion
    )

    def __init__(
        self,
        account: AccountConfig,
        context: PublisherContext | None = None,
        *,
        stream: TextIO | None = None,
    ) -> None:
        self.account = account
        self.like = str(account.options.get("like", "x"))
        self.stream = stream

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        stream = self.stream or sys.stdout
        head = f"── {self.account.id} · as {self.like} · {post.length}/{post.limit} "
        with _print_lock:
            click.echo(click.style(head.ljust(72, "─"), fg="cyan"), file=stream)
            click.echo(post.text, file=stream)
            click.echo("", file=stream)
            stream.flush()
        return PublishResult(remote_id=f"console:{idempotency_key}", url=None)

    def delete(self, remote_id: str) -> None:
        """Print which post would be deleted; nothing is, so this never fails."""
        stream = self.stream or sys.stdout
        head = f"── {self.account.id} · as {self.like} · would delete {remote_id} "
        with _print_lock:
            click.echo(click.style(head.ljust(72, "─"), fg="red"), file=stream)
            stream.flush()

    def close(self) -> None:
        return None
