"""``syndbot web`` and ``syndbot user …``, registered on the main command group by
``bot.cli._register_plugins``; and ``syndbot run`` serves the web UI beside the daemon when the
config says ``web: {enabled: true}``.

The commands are built inside ``register`` so that importing this module imports neither
``bot.cli`` (which imports this module) nor Flask.
"""

from __future__ import annotations

import functools
import getpass
import ipaddress
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bot.cli import Context
    from bot.web.users import Users

RUN_HELP = (
    "\n\nWith `web: {enabled: true}` in the config, the editors' web UI (see `syndbot web`) is "
    "served too, on web.host:web.port."
)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli:unknown"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt(
        "Password", hide_input=True, confirmation_prompt="Repeat the password"
    )
    return password


def _users(ctx: Context) -> Users:
    from bot.web.users import Users

    return Users(ctx.pipeline.store)


def register(cli: click.Group) -> None:
    """Add ``web`` and ``user`` to ``cli``, and the web UI to ``run``."""
    from bot.cli import Context, command_errors, config_option, log_option

    @cli.command()
    @config_option
    @log_option
    @click.option("--host", default=None, help="Address to listen on (default: web.host).")
    @click.option(
        "--port", type=int, default=None, help="Port to listen on (default: web.port; 0: any)."
    )
    @command_errors
    def web(config_path: str | None, log_level: str, host: str | None, port: int | None) -> None:
        """Serve the editors' web UI and its JSON API (desk, previews, reposts, the log).

        Listens on web.host:web.port from the config (127.0.0.1:8080 unless set). People sign
        in with accounts made by `syndbot user add`; a CMS uses tokens from `syndbot user
        token`. Scheduled posts are sent by the daemon: run `syndbot run` too, or set
        `web: {enabled: true}` and run only `syndbot run`. Stops on Ctrl-C or SIGTERM.
        """
        from bot.errors import BotError
        from bot.web.app import create_app
        from bot.web.server import WebServer, server_name

        ctx = Context(config_path, log_level)
        try:
            cfg = ctx.config.web
            app = create_app(ctx.pipeline)
            try:
                server = WebServer(app, host or cfg.host, cfg.port if port is None else port)
            except OSError as e:
                raise BotError(
                    f"cannot listen on {host or cfg.host}:{port or cfg.port}: {e}"
                ) from e
            ctx.echo(f"syndbot web UI on {server.url}/ ({server_name()}); Ctrl-C to stop")
            _warn_if_exposed(server.host)
            if _users(ctx).count() == 0:
                ctx.echo(
                    "no one can sign in yet: add someone with `syndbot user add NAME --role admin`"
                )
            stop = threading.Event()
            previous = {
                s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)
            }
            server.start()
            try:
                while not stop.wait(1.0):
                    pass
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)
                server.stop()
                ctx.echo("syndbot web UI stopped")
        finally:
            ctx.close()

    @cli.group()
    def user() -> None:
        """Manage who may sign in to the web UI, and API tokens for a CMS."""

    @user.command("add")
    @config_option
    @click.argument("name")
    @click.option(
        "--role",
        type=click.Choice(["editor", "admin"]),
        default="editor",
        show_default=True,
        help="admin: may also manage people and API tokens.",
    )
    @click.option(
        "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
    )
    @command_errors
    def user_add(config_path: str | None, name: str, role: str, password_stdin: bool) -> None:
        """Add a person who may sign in (asks for the password twice)."""
        ctx = Context(config_path, "warning")
        try:
            added = _users(ctx).add(name, _read_password(password_stdin), role, actor=_actor())
            ctx.echo(f"added {added.name} ({added.role})")
        finally:
            ctx.close()

    @user.command("list")
    @config_option
    @command_errors
    def user_list(config_path: str | None) -> None:
        """List the people who may sign in, with their role, last sign-in and API tokens."""
        ctx = Context(config_path, "warning")
        try:
            users = _users(ctx)
            people = users.all()
            tokens = users.tokens()
            if not people:
                ctx.echo("no users yet: `syndbot user add NAME --role admin`")
            tz = ctx.config.tz
            for u in people:
                last = (
                    u.last_login_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                    if u.last_login_at
                    else "never"
                )
                live = sum(1 for t in tokens if t.user_id == u.id and not t.revoked)
                status = "disabled" if u.disabled else "active"
                ctx.echo(
                    f"{u.name:<24} {u.role:<7} {status:<9} last sign-in {last:<16}  "
                    f"{live} API token{'s' * (live != 1)}"
                )
            for t in tokens:
                used = (
                    t.last_used_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                    if t.last_used_at
                    else "never used"
                )
                flag = "  [revoked]" if t.revoked else ""
                ctx.echo(
                    f"  token #{t.id} of {t.user_name}: {t.label or '(no label)'}, {used}{flag}"
                )
        finally:
            ctx.close()

    @user.command("disable")
    @config_option
    @click.argument("name")
    @command_errors
    def user_disable(config_path: str | None, name: str) -> None:
        """Stop a person from signing in; their sessions and API tokens stop working at once."""
        ctx = Context(config_path, "warning")
        try:
            _users(ctx).set_disabled(name, True, actor=_actor())
            ctx.echo(f"{name} disabled")
        finally:
            ctx.close()

    @user.command("enable")
    @config_option
    @click.argument("name")
    @command_errors
    def user_enable(config_path: str | None, name: str) -> None:
        """Let a disabled person sign in again."""
        ctx = Context(config_path, "warning")
        try:
            _users(ctx).set_disabled(name, False, actor=_actor())
            ctx.echo(f"{name} enabled")
        finally:
            ctx.close()

    @user.command("password")
    @config_option
    @click.argument("name")
    @click.option(
        "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
    )
    @command_errors
    def user_password(config_path: str | None, name: str, password_stdin: bool) -> None:
        """Set a person's password (their open sessions end)."""
        ctx = Context(config_path, "warning")
        try:
            _users(ctx).set_password(name, _read_password(password_stdin), actor=_actor())
            ctx.echo(f"password of {name} changed")
        finally:
            ctx.close()

    @user.command("token")
    @config_option
    @click.argument("name")
    @click.option("--label", default="", help="What the token is for, e.g. 'WordPress button'.")
    @command_errors
    def user_token(config_path: str | None, name: str, label: str) -> None:
        """Make an API token for NAME and print it once (only its hash is kept).

        A CMS sends it as `Authorization: Bearer TOKEN` to /api/v1; it acts as NAME.
        """
        ctx = Context(config_path, "warning")
        try:
            token_id, token = _users(ctx).new_token(name, label=label, actor=_actor())
            click.echo(token)  # not through ctx.echo: nothing to redact, and it must be exact
            click.echo(
                f"token #{token_id} for {name}: copy it now, it is not shown again "
                f"(revoke it with `syndbot user revoke {token_id}`)",
                err=True,
            )
        finally:
            ctx.close()

    @user.command("revoke")
    @config_option
    @click.argument("token_id", type=int)
    @command_errors
    def user_revoke(config_path: str | None, token_id: int) -> None:
        """Revoke an API token by its number (see `syndbot user list`)."""
        from bot.errors import BotError

        ctx = Context(config_path, "warning")
        try:
            if not _users(ctx).revoke_token(token_id, actor=_actor()):
                raise BotError(f"token #{token_id} does not exist or is revoked already")
            ctx.echo(f"token #{token_id} revoked")
        finally:
            ctx.close()

    run = cli.commands.get("run")
    if run is not None and run.callback is not None and not getattr(run, "_with_web", False):
        run.callback = _serve_beside(run.callback)
        run.help = (run.help or "") + RUN_HELP
        run._with_web = True  # type: ignore[attr-defined]


def _warn_if_exposed(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        click.echo(
            f"note: listening on {host}, beyond this machine: serve it through an HTTPS reverse "
            "proxy (passwords and session cookies must not cross a network in clear text)",
            err=True,
        )


def _serve_beside(run: Callable[..., Any]) -> Callable[..., Any]:
    """``syndbot run``, plus the web UI in a thread when the config enables it."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stop = _start_web(kwargs.get("config_path"), str(kwargs.get("log_level") or "info"))
        try:
            return run(*args, **kwargs)
        finally:
            if stop is not None:
                stop()

    return wrapper


def _start_web(config_path: str | None, log_level: str) -> Callable[[], None] | None:
    """Start the web UI on its own pipeline (same config and store) and return what stops it;
    None when it is disabled. A bad config is left for ``run`` itself to report."""
    import os
    import socket

    from bot.cli import setup_logging
    from bot.config import default_config_path, load_config
    from bot.errors import BotError, ConfigError
    from bot.pipeline import Pipeline
    from bot.reload import follow
    from bot.store import Store
    from bot.web.app import create_app
    from bot.web.server import WebServer

    try:
        config = load_config(config_path or default_config_path())
    except ConfigError:
        return None
    if not config.web.enabled:
        return None
    setup_logging(log_level, config.secret_values())
    try:
        store = Store(config.store)
        store.migrate()
        pipeline = Pipeline(config, store, owner=f"{socket.gethostname()}:{os.getpid()}:web")
        server = WebServer(create_app(pipeline), config.web.host, config.web.port)
    except (BotError, OSError) as e:
        click.echo(
            f"syndbot: web UI: cannot start on {config.web.host}:{config.web.port}: {e}", err=True
        )
        sys.exit(1)
    _warn_if_exposed(server.host)
    server.start()
    unfollow = follow(pipeline)  # the daemon's config reloads reach the desk too

    def stop() -> None:
        unfollow()
        server.stop()
        pipeline.close()
        store.close()

    return stop
