"""The ``syndbot`` command line. Each command's docstring is its ``--help``.

Library errors become messages and exit codes here and only here: 0 success, 1 a runtime
failure (a site or platform refused), 2 bad configuration or usage.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from urllib.parse import quote, quote_plus

import click

from bot import __version__, logs
from bot.config import Config, default_config_path, load_config
from bot.errors import BotError, ConfigError
from bot.flow import BudgetStatus, money
from bot.logs import RedactingFormatter, log_format_from_env, redact
from bot.models import Delivery, DeliveryState, Post
from bot.pipeline import Pipeline, Preview
from bot.store import Store

log = logging.getLogger("bot")

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILURE = 1
EXIT_CONFIG = 2


# --- logging (bot.logs; the names stay importable from here) -------------------------------

_LOG_FORMAT_KEY = "syndbot.log_format"  # in click's context meta, set by --log-format


def log_format() -> str:
    """The log format this command was given (``--log-format``), else
    ``$SYNDBOT_LOG_FORMAT``, else text."""
    ctx = click.get_current_context(silent=True)
    chosen = ctx.meta.get(_LOG_FORMAT_KEY) if ctx is not None else None
    return str(chosen) if chosen else log_format_from_env()


_secrets_in_use: list[str] = []  # the loaded config's secret forms (set by Context)


def secret_forms(values: Iterable[str]) -> list[str]:
    """Each secret as written and as it appears in URLs and form bodies, longest first."""
    forms = {f for v in values for f in (v, quote(v, safe=""), quote_plus(v)) if f}
    return sorted(forms, key=len, reverse=True)


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    logs.setup_logging(level, secrets, log_format())


# --- shared options --------------------------------------------------------------------------


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        default=None,
        help=f"Config file (default: $SYNDBOT_CONFIG or {default_config_path()}).",
    )(f)


def log_option(f: F) -> F:
    """``--log-level`` (passed to the command) and ``--log-format`` (kept for ``log_format()``)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        ctx.meta[_LOG_FORMAT_KEY] = value.lower() if value else None

    f = click.option(
        "--log-format",
        type=click.Choice(list(logs.LOG_FORMATS), case_sensitive=False),
        default=None,
        envvar=logs.LOG_FORMAT_ENV,
        expose_value=False,
        callback=remember,
        help=f"Log lines as text (default) or JSON lines (${logs.LOG_FORMAT_ENV}).",
    )(f)
    return click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        default="info",
        show_default=True,
        help="How much to log (to stderr).",
    )(f)


class Context:
    """What a command needs: the config, a store and a pipeline (made on first use)."""

    def __init__(self, config_path: str | None, log_level: str = "info") -> None:
        self.config_path = config_path or default_config_path()
        self.config: Config = load_config(self.config_path)
        self.secrets = secret_forms(self.config.secret_values())
        _secrets_in_use[:] = self.secrets  # for command_errors' messages
        setup_logging(log_level, self.secrets)
        self._pipeline: Pipeline | None = None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            store = Store(self.config.store)
            store.migrate()
            owner = f"{socket.gethostname()}:{os.getpid()}"
            self._pipeline = Pipeline(self.config, store, owner=owner)
        return self._pipeline

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline.store.close()

    def echo(self, text: str = "", **kw: Any) -> None:
        click.echo(redact(text, self.secrets), **kw)


def command_errors(f: F) -> F:
    """Turn library errors into one clear message and an exit code."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except ConfigError as e:
            click.echo(redact(f"syndbot: config error: {e}", _secrets_in_use), err=True)
            sys.exit(EXIT_CONFIG)
        except BotError as e:
            click.echo(redact(f"syndbot: {e}", _secrets_in_use), err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper  # type: ignore[return-value]


# --- commands --------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="syndbot")
def cli() -> None:
    """syndbot: a newsroom's new articles reach its social accounts exactly once.

    Ops run `syndbot run` as a daemon; editors preview and repost with `preview` and `repost`;
    `syndbot demo` shows the whole pipeline offline.
    """


@cli.command()
@config_option
@log_option
@command_errors
def run(config_path: str | None, log_level: str) -> None:
    """Run the daemon: poll every source on its interval and post what is new.

    Stops cleanly on SIGTERM or Ctrl-C: the post being sent is finished and recorded first.
    A daemon killed hard (kill -9) and restarted still posts every article exactly once.
    Reloads the config on SIGHUP and when the file changes; an invalid file is reported and
    the daemon keeps running on the config it has.
    """
    from bot.scheduler import Daemon

    ctx = Context(config_path, log_level)
    try:
        code = Daemon(ctx.pipeline, config_path=ctx.config_path).run()
    finally:
        ctx.close()
    sys.exit(code)


@cli.command()
@config_option
@log_option
@click.option("--force", is_flag=True, help="Poll sources that are backing off after errors too.")
@command_errors
def once(config_path: str | None, log_level: str, force: bool) -> None:
    """Poll every source once, queue what is new, send everything due, and exit (for cron).

    Exits 1 when a source could not be polled or a post failed for good.
    """
    ctx = Context(config_path, log_level)
    try:
        p = ctx.pipeline
        polls = p.poll_many([s for s in ctx.config.sources if s.enabled], force=force)
        p.process_new(limit=100_000)
        p.recheck_unpublished()
        report = p.deliver_due()
    finally:
        ctx.close()
    for r in polls:
        detail = f"{r.new} new of {r.items}" if r.status == "200" else (r.error or "")
        ctx.echo(f"source {r.source_id}: {r.status} {detail}".rstrip())
    line = f"sent {report.sent}, will retry {report.retried}, failed {report.failed}"
    if report.waiting or report.skipped:
        line += f", waiting {report.waiting}, skipped {report.skipped}"
    ctx.echo(line)
    if report.failed or any(r.status == "error" for r in polls):
        sys.exit(EXIT_FAILURE)


@cli.command("check-config")
@config_option
@command_errors
def check_config(config_path: str | None) -> None:
    """Validate the config file and say what it sets up. Touches no network.

    Exits 2 with the file, line and key of the first problem. Credentials are checked for
    presence (never printed).
    """
    from bot.publishers import create_publisher
    from bot.router import problems as route_problems

    path = config_path or default_config_path()
    config = load_config(path)
    problems: list[str] = []
    secrets = secret_forms(config.secret_values())

    def echo(text: str) -> None:
        click.echo(redact(text, secrets))

    echo(f"{path}: OK")
    echo(f"store: {_safe_store_url(config.store)}  timezone: {config.timezone}")
    echo(f"sources ({len(config.sources)}):")
    for s in config.sources:
        flag = "" if s.enabled else "  [disabled]"
        echo(f"  {s.id}: {s.feed} every {s.every:g}s, first run {s.first_run}{flag}")
    echo(f"accounts ({len(config.accounts)}):")
    for a in config.accounts:
        try:
            create_publisher(a).close()
            status = "credentials present"
        except ConfigError as e:
            status = f"PROBLEM: {e}"
            problems.append(str(e))
        flag = "" if a.enabled else "  [disabled]"
        echo(f"  {a.id} ({a.platform}): {status}{flag}")
    echo(f"routes ({len(config.routes)}):")
    for r in config.routes:
        src = ", ".join(r.from_) or "every source"
        echo(f"  {src} -> {', '.join(r.to)}")
    if config.websub is not None:
        ws = config.websub
        pushed = ", ".join(s.id for s in config.sources if s.wants_push) or "no source"
        echo(f"websub: callback {ws.callback_url} (listener {ws.host}:{ws.port})")
        echo(f"  push for: {pushed} (where the feed advertises a hub)")
    for warning in route_problems(config):
        echo(f"warning: {warning}")
    for s in config.sources:
        if s.enabled and not any(not r.from_ or s.id in r.from_ for r in config.routes):
            echo(f"warning: source {s.id} is in no route; its articles go nowhere")
    if problems:
        sys.exit(EXIT_CONFIG)


@cli.command()
@config_option
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--to",
    "accounts",
    multiple=True,
    metavar="ACCOUNT",
    help="Preview for this account (repeatable); default: the accounts the routes pick.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per URL: article fields, posts, lengths.",
)
@command_errors
def preview(
    config_path: str | None, urls: tuple[str, ...], accounts: tuple[str, ...], as_json: bool
) -> None:
    """Show exactly what would be posted for each URL. Posts nothing, records nothing.

    URLS must be articles of a configured site.
    """
    ctx = Context(config_path, "warning")
    failed = False
    try:
        for url in urls:
            try:
                pv = ctx.pipeline.preview(url, accounts or None)
            except BotError as e:
                failed = True
                if as_json:
                    ctx.echo(json.dumps({"url": url, "error": str(e)}, ensure_ascii=False))
                else:
                    click.echo(f"{url}: {e}", err=True)
                continue
            ctx.echo(
                json.dumps(_preview_json(url, pv), ensure_ascii=False)
                if as_json
                else _preview_text(pv)
            )
    finally:
        ctx.close()
    if failed:
        sys.exit(EXIT_FAILURE)


def _preview_json(url: str, pv: Preview) -> dict[str, Any]:
    article = asdict(pv.article)
    for k in ("published",):
        if article.get(k):
            article[k] = article[k].isoformat()
    return {
        "url": url,
        "source": pv.source_id,
        "article": article,
        "routed_to": list(pv.routed),
        "posts": [
            {
                "account": p.account_id,
                "platform": p.platform,
                "text": p.text,
                "length": p.length,
                "limit": p.limit,
                "dropped": list(p.dropped),
            }
            for p in pv.posts
        ],
    }


def _preview_text(pv: Preview) -> str:
    a = pv.article
    lines = [
        click.style(a.title, bold=True),
        f"  url:      {a.url}",
        f"  source:   {pv.source_id}   language: {a.language or '?'}   published: "
        f"{a.published.isoformat(timespec='minutes') if a.published else '?'}",
        f"  authors:  {', '.join(a.authors) or '?'}   tags: {', '.join(a.tags) or '-'}",
        f"  image:    {a.image.url if a.image else '-'}",
        f"  routed:   {', '.join(pv.routed) or 'no account (no route matches)'}",
        "",
    ]
    lines += _posts_text(pv.posts)
    return "\n".join(lines)


def _posts_text(posts: Iterable[Post]) -> list[str]:
    lines: list[str] = []
    for p in posts:
        dropped = f"  (dropped to fit: {', '.join(p.dropped)})" if p.dropped else ""
        lines.append(
            click.style(
                f"── {p.account_id} ({p.platform}) {p.length}/{p.limit}{dropped}", fg="cyan"
            )
        )
        lines.append(p.text)
        lines.append("")
    return lines


@cli.command()
@config_option
@log_option
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option(
    "--from-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    metavar="FILE",
    help="Also repost the URLs in FILE, one a line (- for standard input; # comments).",
)
@click.option(
    "--to",
    "accounts",
    multiple=True,
    required=True,
    metavar="ACCOUNT",
    help="Account to post to (repeatable).",
)
@click.option(
    "--text",
    default=None,
    help="Your own text instead of the template (the link is added if missing).",
)
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="Post at this time (ISO 8601, e.g. 2026-12-01T08:00, in the config's time zone) instead of now.",
)
@click.option("--dry-run", is_flag=True, help="Show the posts and stop; queue nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@command_errors
def repost(
    config_path: str | None,
    log_level: str,
    urls: tuple[str, ...],
    from_file: IO[str] | None,
    accounts: tuple[str, ...],
    text: str | None,
    at: str | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Post an article of a configured site again, now or at a time (an editor's repost).

    Always creates a new delivery: it is never blocked by the automatic post of the same
    article. Without --at it is sent right away and the link to the live post is printed.

    Many URLs (a backfill: several arguments, or --from-file) are reposted one after the
    other with a progress display on stderr; a URL that fails does not stop the others, they
    are listed at the end, and the exit code is 1 if any failed.
    """
    from bot.backfill import read_urls

    wanted = read_urls([*urls, *(from_file or [])])
    if not wanted:
        raise click.UsageError("give at least one URL, or --from-file FILE (- for standard input)")
    if len(wanted) > 1 or from_file is not None:
        _repost_batch(config_path, log_level, wanted, accounts, text, at, dry_run, yes)
        return
    url = wanted[0]
    ctx = Context(config_path, log_level)
    try:
        when = _parse_when(at, ctx.config) if at else None
        p = ctx.pipeline
        pv = p.preview(url, accounts)
        from bot.summarizer import compose

        posts = [
            compose(pv.article, p.config.account(a), p.spec(p.config.account(a)), text=text)
            for a in accounts
        ]
        for line in _posts_text(posts):
            ctx.echo(line)
        if dry_run:
            ctx.echo("dry run: nothing queued")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise BotError("not confirmed: add --yes to repost without a prompt")
            if not click.confirm(
                f"Post this to {', '.join(accounts)}{' at ' + when.isoformat() if when else ''}?"
            ):
                ctx.echo("cancelled: nothing queued")
                return
        queued = p.repost(url, accounts, text=text, at=when, actor=f"cli:{_user()}", preview=pv)
        if when is not None and when > p.clock():
            for delivery_id, post in queued:
                ctx.echo(
                    f"queued delivery #{delivery_id} to {post.account_id} for {when.isoformat()}"
                )
            return
        report = p.deliver_due(only=[d for d, _ in queued])
        ok = True
        for d, outcome in report.results:
            final = p.store.get_delivery(d.id)
            if final is not None and final.state == DeliveryState.SENT:
                ctx.echo(f"posted to {d.account_id}: {final.remote_url or final.remote_id}")
            elif final is not None and final.state == DeliveryState.SKIPPED:
                ok = False
                ctx.echo(f"{d.account_id}: skipped: {final.error}")
            elif final is not None and final.state == DeliveryState.QUEUED:
                ctx.echo(
                    f"{d.account_id}: not posted yet ({final.error}); it stays queued as #{d.id}"
                )
            else:
                ok = False
                ctx.echo(f"{d.account_id}: failed: {final.error if final else outcome}")
        if not ok:
            sys.exit(EXIT_FAILURE)
    finally:
        ctx.close()


def _repost_batch(
    config_path: str | None,
    log_level: str,
    urls: list[str],
    accounts: tuple[str, ...],
    text: str | None,
    at: str | None,
    dry_run: bool,
    yes: bool,
) -> None:
    from bot.backfill import BatchReport, UrlResult, repost_many
    from bot.summarizer import compose

    source = click.get_current_context().get_parameter_source("log_level")
    if source is click.core.ParameterSource.DEFAULT:
        log_level = "warning"  # a line per post would drown the progress display
    ctx = Context(config_path, log_level)
    try:
        for a in accounts:
            if a not in {acc.id for acc in ctx.config.accounts}:
                known = ", ".join(acc.id for acc in ctx.config.accounts) or "none"
                raise BotError(f"unknown account {a!r} (configured: {known})")
        when = _parse_when(at, ctx.config) if at else None
        p = ctx.pipeline
        if dry_run:
            failed = 0
            for url in urls:
                try:
                    pv = p.preview(url, accounts)
                    posts = [
                        compose(
                            pv.article, p.config.account(a), p.spec(p.config.account(a)), text=text
                        )
                        for a in accounts
                    ]
                except (BotError, ValueError) as e:
                    failed += 1
                    ctx.echo(f"FAILED {url}: {e}")
                    continue
                ctx.echo(url)
                for line in _posts_text(posts):
                    ctx.echo(line)
            ctx.echo(f"dry run: nothing queued; {len(urls) - failed} of {len(urls)} URLs previewed")
            if failed:
                sys.exit(EXIT_FAILURE)
            return
        targets = ", ".join(accounts)
        if not yes:
            if not sys.stdin.isatty():
                raise BotError("not confirmed: add --yes to repost without a prompt")
            if not click.confirm(
                f"Repost {len(urls)} articles to {targets}"
                f"{' at ' + when.isoformat() if when else ''}?"
            ):
                ctx.echo("cancelled: nothing queued")
                return
        every = 10
        with contextlib.ExitStack() as stack:
            bar = (
                stack.enter_context(
                    click.progressbar(
                        length=len(urls), label="reposting", file=sys.stderr, show_pos=True
                    )
                )
                if sys.stderr.isatty()
                else None
            )

            def progress(report: BatchReport, _result: UrlResult) -> None:
                if bar is not None:
                    bar.update(1)
                elif report.done % every == 0 or report.done == report.total:
                    click.echo(
                        f"repost: {report.done}/{report.total} done, {len(report.failed)} failed",
                        err=True,
                    )

            report = repost_many(
                p, urls, accounts, text=text, at=when, actor=f"cli:{_user()}", progress=progress
            )
    finally:
        ctx.close()
    for r in report.results:
        if r.error is not None:
            ctx.echo(f"FAILED {r.url}: {r.error}")
        for account, state, detail in r.outcomes:
            if state != "sent":
                ctx.echo(
                    f"{'FAILED' if state == 'failed' else state} {r.url} -> {account}: {detail}"
                )
    failed = len(report.failed)
    line = (
        f"{report.done - failed} of {report.total} URLs reposted to {targets}: "
        f"{report.count('sent')} posts sent, {report.count('queued')} queued"
    )
    line += f"; {failed} URLs failed (listed above)" if failed else "; none failed"
    if report.interrupted:
        line += f"; interrupted: {report.total - report.done} URLs not tried"
    ctx.echo(line)
    if failed or report.interrupted:
        sys.exit(EXIT_FAILURE)


def _parse_when(value: str, config: Config) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint="--at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=config.tz)
    return when.astimezone(UTC)


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "unknown")


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@command_errors
def status(config_path: str | None, as_json: bool) -> None:
    """Sources, accounts and the queue on one screen, from the ledger (daemon running or not).

    Sources: last poll, its result or error, backoff, next poll. Accounts: last post, failures
    (24 hours and in all), posts pending, budget. Queue: pending, due, retrying, held, and how
    long the oldest has waited.
    """
    from bot.status import gather, render

    ctx = Context(config_path, "warning")
    try:
        data = gather(ctx.pipeline)
    finally:
        ctx.close()
    if as_json:
        ctx.echo(json.dumps(data, ensure_ascii=False))
    else:
        for line in render(data, ctx.config.tz):
            ctx.echo(line)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option("--limit", default=50, show_default=True, help="How many deliveries to show.")
@command_errors
def queue(config_path: str | None, as_json: bool, limit: int) -> None:
    """Show what is waiting to be posted: queued, held for an editor, or being sent.

    Each line shows when the post is due and why it waits (quiet hours, spacing, a cap,
    approval, a platform's rate limit).
    """
    ctx = Context(config_path, "warning")
    try:
        rows = ctx.pipeline.store.list_deliveries(
            states=(
                DeliveryState.QUEUED,
                DeliveryState.HELD,
                DeliveryState.SENDING,
                DeliveryState.PENDING,
            ),
            limit=limit,
            newest_first=False,
        )
        _print_deliveries(ctx, rows, as_json, when="due")
        if not rows and not as_json:
            ctx.echo("the queue is empty")
    finally:
        ctx.close()


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option("--limit", default=50, show_default=True, help="How many deliveries to show.")
@click.option("--account", default=None, help="Only this account.")
@command_errors
def history(config_path: str | None, as_json: bool, limit: int, account: str | None) -> None:
    """Show recent deliveries, newest first: what was posted where, with links and errors."""
    ctx = Context(config_path, "warning")
    try:
        rows = ctx.pipeline.store.list_deliveries(limit=limit, account_id=account)
        _print_deliveries(ctx, rows, as_json, when="updated")
        if not rows and not as_json:
            ctx.echo("nothing delivered yet")
        if not as_json:
            for a in ctx.config.accounts:
                status = ctx.pipeline.budget_status(a.id) if account in (None, a.id) else None
                if status is not None:
                    ctx.echo(_budget_line(status))
    finally:
        ctx.close()


def _print_deliveries(ctx: Context, rows: Sequence[Delivery], as_json: bool, *, when: str) -> None:
    store = ctx.pipeline.store
    titles: dict[int, tuple[str, str]] = {}
    for d in rows:
        if d.article_id not in titles:
            a = store.get_article(d.article_id)
            titles[d.article_id] = (a.title, a.url) if a else ("?", d.url)
    for d in rows:
        title, article_url = titles[d.article_id]
        if as_json:
            ctx.echo(
                json.dumps(
                    {
                        "id": d.id,
                        "state": str(d.state),
                        "account": d.account_id,
                        "purpose": d.purpose,
                        "article_id": d.article_id,
                        "title": title,
                        "article_url": article_url,
                        "text": d.text,
                        "not_before": d.not_before.isoformat(),
                        "attempts": d.attempts,
                        "priority": d.priority,
                        "cost": float(d.extra["cost"]) if "cost" in d.extra else None,
                        "remote_id": d.remote_id,
                        "remote_url": d.remote_url,
                        "error": d.error,
                        "created_at": d.created_at.isoformat() if d.created_at else None,
                        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
                    },
                    ensure_ascii=False,
                )
            )
            continue
        stamp = d.not_before if when == "due" else (d.sent_at or d.updated_at or d.not_before)
        local = stamp.astimezone(ctx.config.tz).strftime("%Y-%m-%d %H:%M")
        extra = d.remote_url or d.remote_id or ""
        if d.state is DeliveryState.SENT and "cost" in d.extra:
            extra += f"  {money(float(d.extra['cost']))}"
        if d.error and d.state is not DeliveryState.SENT:
            extra = d.error
        purpose = "" if d.purpose == "auto" else f" [{d.purpose}]"
        ctx.echo(
            f"#{d.id:<5} {d.state:<9} {d.account_id:<14} {local}  {_short(title, 50)}{purpose}  {extra}"
        )


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _delivery_action(
    config_path: str | None, delivery_id: int, action: str, done: str, refused: str
) -> None:
    """Run an editor's action (``Pipeline.cancel``/``retry``/``approve``) on one delivery."""
    ctx = Context(config_path, "warning")
    try:
        act: Callable[..., bool] = getattr(ctx.pipeline, action)
        if not act(delivery_id, actor=f"cli:{_user()}"):
            raise BotError(f"delivery #{delivery_id} {refused}")
        ctx.echo(f"delivery #{delivery_id} {done}")
    finally:
        ctx.close()


@cli.command()
@config_option
@click.argument("delivery_id", type=int)
@command_errors
def cancel(config_path: str | None, delivery_id: int) -> None:
    """Cancel a queued or held delivery (it will not be posted)."""
    _delivery_action(
        config_path,
        delivery_id,
        "cancel",
        "cancelled",
        "is not queued or held (see `syndbot queue`)",
    )


@cli.command()
@config_option
@click.argument("delivery_id", type=int)
@command_errors
def retry(config_path: str | None, delivery_id: int) -> None:
    """Put a failed or held delivery back in the queue, due now (the daemon sends it)."""
    _delivery_action(
        config_path,
        delivery_id,
        "retry",
        "queued again",
        "is not failed, skipped or held (see `syndbot history`)",
    )


@cli.command()
@config_option
@click.argument("delivery_id", type=int)
@command_errors
def approve(config_path: str | None, delivery_id: int) -> None:
    """Release a held delivery (approval mode, or held after a crash): it is queued, due now.

    The account's limits (quiet hours, spacing, caps, budget) still apply to it.
    """
    _delivery_action(
        config_path, delivery_id, "approve", "approved: queued", "is not held (see `syndbot queue`)"
    )


@cli.command()
@config_option
@click.argument("delivery_id", type=int)
@click.option(
    "--at",
    "at",
    required=True,
    metavar="TIME",
    help="New time (ISO 8601, e.g. 2026-12-01T08:00, in the config's time zone).",
)
@command_errors
def reschedule(config_path: str | None, delivery_id: int, at: str) -> None:
    """Move a queued or held delivery to another time (a held one stays held)."""
    ctx = Context(config_path, "warning")
    try:
        when = _parse_when(at, ctx.config)
        if not ctx.pipeline.reschedule(delivery_id, when, actor=f"cli:{_user()}"):
            raise BotError(f"delivery #{delivery_id} is not queued or held (see `syndbot queue`)")
        local = when.astimezone(ctx.config.tz).isoformat(timespec="minutes")
        ctx.echo(f"delivery #{delivery_id} rescheduled to {local}")
    finally:
        ctx.close()


@cli.command()
@config_option
@click.argument("delivery_id", type=int)
@click.option(
    "--text", required=True, help="The new text (the article's link is added if missing)."
)
@command_errors
def edit(config_path: str | None, delivery_id: int, text: str) -> None:
    """Replace the text of a queued or held delivery, fitted like a repost's.

    The text is never cut: a text too long for the platform is refused.
    """
    from bot.summarizer import TextTooLong

    ctx = Context(config_path, "warning")
    try:
        try:
            post = ctx.pipeline.edit_text(delivery_id, text, actor=f"cli:{_user()}")
        except TextTooLong as e:
            raise BotError(f"delivery #{delivery_id}: {e}") from None
        for line in _posts_text([post]):
            ctx.echo(line)
        ctx.echo(f"delivery #{delivery_id} edited")
    finally:
        ctx.close()


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
@command_errors
def budget(config_path: str | None, as_json: bool) -> None:
    """Show each account's spending this month against its budget (config time zone)."""
    ctx = Context(config_path, "warning")
    try:
        shown = 0
        for a in ctx.config.accounts:
            status = ctx.pipeline.budget_status(a.id)
            if status is None:
                continue
            shown += 1
            if as_json:
                row = asdict(status)
                row["resets"] = status.resets.isoformat()
                ctx.echo(json.dumps(row))
            else:
                ctx.echo(_budget_line(status))
        if not shown and not as_json:
            ctx.echo("no account has a budget (add `budget: {monthly: …}` to an account)")
    finally:
        ctx.close()


def _budget_line(s: BudgetStatus) -> str:
    return (
        f"budget {s.account_id} {s.month}: {money(s.spent)} of {money(s.limit)} spent "
        f"({s.posts} posts), {money(s.remaining)} left; the last {money(s.reserve)} "
        "is kept for priority posts"
    )


@cli.command()
@click.option(
    "--store",
    "store_path",
    default=None,
    metavar="FILE",
    help="Keep the demo's ledger in FILE (default: a temporary file).",
)
@click.option(
    "--no-follow", is_flag=True, help="Stop after the first cycle (do not start the daemon)."
)
@log_option
def demo(store_path: str | None, no_follow: bool, log_level: str) -> None:
    """Run the whole pipeline offline against a bundled sample news site.

    Serves a small WordPress-like site on 127.0.0.1 (English, French and Haitian Creole
    articles), polls it, scrapes each article, composes the posts and publishes them through
    the console publisher, which prints them. Then the daemon runs and picks up a new story.
    Needs no credentials and no internet.
    """
    from bot.demo.runner import run_demo

    setup_logging("warning" if log_level == "info" else log_level)
    sys.exit(run_demo(store_path=store_path, follow=not no_follow))


def _safe_store_url(url: str) -> str:
    try:
        from sqlalchemy import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(invalid)"


def _register_plugins() -> None:
    """Commands defined next to the code they drive (the web UI's `web` and `user`)."""
    import importlib

    try:
        module = importlib.import_module("bot.web.cli")
    except ModuleNotFoundError as e:
        if e.name in {"bot.web", "bot.web.cli"}:
            return
        raise
    module.register(cli)


_register_plugins()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``syndbot`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="syndbot")


__all__ = ["RedactingFormatter", "cli", "main", "redact", "setup_logging"]
