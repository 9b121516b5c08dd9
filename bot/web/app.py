"""``create_app(pipeline)``: the Flask application, its login wall and its error pages.

Only ``/login`` and ``/static/…`` answer without a signed-in session; ``/api/v1/…`` answers
only to an API token (``bot.web.api``). Every other request without a live session is sent
to the sign-in page (or gets a JSON 401 under ``/api/``). A session is live while its user
exists, is enabled, and has not changed password since signing in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as flask_session
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from bot.cli import secret_forms
from bot.pipeline import Pipeline
from bot.web.security import (
    CSRF_FIELD,
    LoginThrottle,
    SessionInterface,
    add_security_headers,
    csrf_ok,
    csrf_token,
    secret_key,
)
from bot.web.users import User, Users

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset({"views.login", "static"})
API_PREFIX = "/api/v1/"


@dataclass(slots=True)
class WebState:
    """What the views share: the pipeline (config, store, editor actions), people, throttle."""

    pipeline: Pipeline
    users: Users
    throttle: LoginThrottle
    secrets: tuple[str, ...]

    def redact(self, text: str | None) -> str:
        out = text or ""
        for s in self.secrets:
            out = out.replace(s, "***")
        return out


def state() -> WebState:
    return cast(WebState, current_app.extensions["syndbot"])


def current_user() -> User | None:
    return cast("User | None", g.get("user"))


def create_app(
    pipeline: Pipeline,
    *,
    secret: str | None = None,
    throttle: LoginThrottle | None = None,
) -> Flask:
    """The web UI for ``pipeline``'s config and store (the store must be migrated)."""
    from bot.web import api, views

    config = pipeline.config
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret or secret_key(config),
        SESSION_COOKIE_NAME="syndbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=config.web.session_lifetime),
        # The lifetime counts from signing in (checked in _session_user), not from the last
        # click: a stolen cookie does not live forever by being used.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=1_000_000,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.session_interface = SessionInterface()
    app.extensions["syndbot"] = WebState(
        pipeline=pipeline,
        users=Users(pipeline.store, clock=pipeline.clock),
        throttle=throttle or LoginThrottle(),
        secrets=tuple(secret_forms(config.secret_values())),
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.before_request(_guard)
    app.after_request(add_security_headers)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        csrf_input=csrf_input,
        current_user=current_user,
        tz_name=config.timezone,
    )
    app.jinja_env.filters.update(
        local=lambda dt: local_time(dt, config.tz),
        local_input=lambda dt: dt.astimezone(config.tz).strftime("%Y-%m-%dT%H:%M") if dt else "",
        linkify=linkify,
        relative=lambda dt: relative_time(dt, pipeline.clock()),
        href=safe_href,
        redact=lambda text: state().redact(text),
    )
    return app


# --- the login wall --------------------------------------------------------------------------


def _guard() -> Response | None:
    if request.path.startswith(API_PREFIX):
        return None  # token authentication, in bot.web.api; cookies are ignored there
    if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_ok():
        log.warning("web: %s %s refused: missing or wrong CSRF token", request.method, request.path)
        return error_response(
            400,
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again.",
        )
    g.user = _session_user()
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if request.path.startswith("/api/"):
            return error_response(401, "not signed in")
        target = request.full_path if request.query_string else request.path
        login = url_for("views.login", next=target) if target != "/" else url_for("views.login")
        return cast(Response, redirect(login))
    return None


def _session_user() -> User | None:
    user_id = flask_session.get("uid")
    if not isinstance(user_id, int):
        return None
    signed_in = flask_session.get("at")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    now = state().pipeline.clock().timestamp()
    user = state().users.get_by_id(user_id)
    if (
        user is None
        or user.disabled
        or flask_session.get("stamp") != user.session_stamp
        or not isinstance(signed_in, int | float)
        or not 0 <= now - signed_in <= lifetime
    ):
        flask_session.pop("uid", None)
        return None
    return user


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to (never another host: no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


# --- errors ----------------------------------------------------------------------------------


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str) -> Response:
    if wants_json():
        response = jsonify({"error": message})
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="syndbot"'
        return response
    html = render_template("error.html", status=status, message=message)
    return Response(html, status=status, mimetype="text/html")


_MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That is not how this page is used.",
    413: "That is too much to send at once.",
}


def _http_error(e: HTTPException) -> Response:
    status = e.code or 500
    message = _MESSAGES.get(status) or e.description or e.name
    return error_response(status, message)


def _unexpected_error(e: Exception) -> Response:
    log.exception("web: %s %s failed", request.method, request.path)
    return error_response(500, "Something went wrong on our side; it has been logged.")


# --- template helpers ------------------------------------------------------------------------


def local_time(dt: datetime | None, tz: Any) -> str:
    """``Sat 29 Nov 14:03`` in the newsroom's time zone (with the year when not this year)."""
    if dt is None:
        return "—"
    local = dt.astimezone(tz)
    now = datetime.now(UTC).astimezone(tz)
    fmt = "%a %d %b %H:%M" if local.year == now.year else "%d %b %Y %H:%M"
    return local.strftime(fmt)


def relative_time(dt: datetime | None, now: datetime) -> str:
    """``in 5 min``, ``3 h ago``, ``just now``."""
    if dt is None:
        return ""
    seconds = (dt - now).total_seconds()
    ahead, s = seconds > 0, abs(seconds)
    if s < 45:
        return "now" if ahead else "just now"
    for unit, size, above in (("d", 86400, 36 * 3600), ("h", 3600, 90 * 60), ("min", 60, 0)):
        if s >= above:
            n = round(s / size)
            return f"in {n} {unit}" if ahead else f"{n} {unit} ago"
    return ""


def csrf_input() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


_URL_RE = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str | None) -> Markup:
    """``text`` escaped, with its http(s) addresses made into links."""
    out = Markup("")
    rest = text or ""
    while m := _URL_RE.search(rest):
        out += escape(rest[: m.start()])
        out += Markup('<a href="{0}" target="_blank" rel="noopener noreferrer">{0}</a>').format(
            m.group(0)
        )
        rest = rest[m.end() :]
    return out + escape(rest)


def safe_href(url: str | None) -> str | None:
    """``url`` when it is an http(s) link, else None (no ``javascript:`` in our pages)."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None
