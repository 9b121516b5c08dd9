"""The pages editors use: sign-in, the desk, an article, repost any URL, the log, their account,
and (admins) people and API tokens. Forms post back with the session's CSRF token; every change
goes through ``bot.web.actions`` and is audited as ``web:<user>``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from bot.errors import BotError
from bot.flow import BudgetStatus
from bot.models import Article, DeliveryState
from bot.pipeline import Pipeline, Preview, UnknownSite
from bot.summarizer import TextTooLong
from bot.web import actions, queries
from bot.web.actions import ActionError, Outcome
from bot.web.app import current_user, safe_next, state
from bot.web.security import new_session
from bot.web.users import Role, User, UserError

log = logging.getLogger(__name__)

bp = Blueprint("views", __name__)

DESK_ARTICLES = 30


def _user() -> User:
    user = current_user()
    if user is None:  # the login wall makes this impossible; never act anonymously
        abort(401)
    return user


def _pipeline() -> Pipeline:
    return state().pipeline


def _redirect(default: str) -> Response:
    return cast(Response, redirect(safe_next(request.form.get("next"), default)))


def _flash_outcomes(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        flash(state().redact(o.message), "ok" if o.ok else "error")


# --- sign in / out -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    st = state()
    if current_user() is not None and request.method == "GET":
        return cast(Response, redirect(safe_next(request.args.get("next"))))
    error = None
    status = 200
    name = ""
    if request.method == "POST":
        name = request.form.get("name", "").strip().lower()[:64]
        password = request.form.get("password", "")
        keys = [f"user:{name}", f"ip:{request.remote_addr or '?'}"]
        wait = st.throttle.blocked_for(keys)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            error = f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes > 1)}."
            status = 429
        else:
            user = st.users.verify(name, password)
            if user is None:
                st.throttle.failed(keys)
                st.users.audit(f"web:{name or '?'}", "login-failed", request.remote_addr)
                error = "Wrong name or password."
                status = 401
            else:
                st.throttle.succeeded(keys[0])
                new_session()
                session.permanent = True
                session["uid"] = user.id
                session["stamp"] = user.session_stamp
                session["at"] = int(st.pipeline.clock().timestamp())
                st.users.record_login(user, detail=request.remote_addr)
                return cast(Response, redirect(safe_next(request.form.get("next"))))
    html = render_template(
        "login.html",
        error=error,
        name=name,
        next=safe_next(request.values.get("next"), ""),
        no_users=st.users.count() == 0,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.post("/logout")
def logout() -> Response:
    user = current_user()
    if user is not None:
        state().users.audit(user.actor, "logout")
    session.clear()
    return cast(Response, redirect(url_for("views.login")))


# --- the desk ------------------------------------------------------------------------------------


@bp.get("/")
def desk() -> str:
    p = _pipeline()
    articles = p.store.recent_articles(limit=DESK_ARTICLES)
    rows = [(a, p.store.list_deliveries(article_id=a.id, limit=50)) for a in articles]
    waiting = p.store.list_deliveries(states=actions.WAITING, newest_first=False, limit=30)
    titles = {a.id: a.title for a in articles}
    for d in waiting:
        if d.article_id not in titles:
            stored = p.store.get_article(d.article_id)
            titles[d.article_id] = stored.title if stored else d.url
    attention = [d for d in waiting if d.state in (DeliveryState.HELD, DeliveryState.PENDING)]
    upcoming = [d for d in waiting if d.state not in (DeliveryState.HELD, DeliveryState.PENDING)]
    return render_template(
        "desk.html",
        rows=rows,
        attention=attention,
        upcoming=upcoming,
        titles=titles,
        budgets=_budgets(p),
    )


# --- one article ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """One account's part of the compose form."""

    account_id: str
    platform: str
    text: str
    original: str
    length: int
    limit: int
    checked: bool
    error: str | None = None


def _drafts(
    p: Pipeline,
    article: Article,
    routed: tuple[str, ...],
    submitted: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
) -> list[Draft]:
    out = []
    for acc in actions.enabled_accounts(p):
        try:
            post = actions.draft(p, article, acc, None)
            original, length, limit, error = post.text, post.length, post.limit, None
        except Exception as e:  # a template that cannot be rendered must not hide the page
            original, length, limit, error = "", 0, p.spec(acc).max_length, str(e)
        text = submitted.get(acc.id, original) if submitted else original
        if text != original:
            m = actions.measure(p, acc.id, text, article.url)
            length, limit = cast(int, m["length"]), cast(int, m["limit"])
        checked = acc.id in chosen if chosen is not None else acc.id in routed
        out.append(
            Draft(
                account_id=acc.id,
                platform=acc.platform,
                text=text,
                original=original,
                length=length,
                limit=limit,
                checked=checked,
                error=(errors or {}).get(acc.id) or error,
            )
        )
    return out


def _compose_form() -> tuple[dict[str, str], list[str]]:
    texts = {
        k.removeprefix("text:"): v.replace("\r\n", "\n")
        for k, v in request.form.items()
        if k.startswith("text:")
    }
    return texts, request.form.getlist("account")


@bp.get("/articles/<int:article_id>")
def article_page(article_id: int) -> str:
    return _render_article(article_id)


def _render_article(
    article_id: int,
    *,
    submitted: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
    when: str = "",
) -> str:
    p = _pipeline()
    stored = p.store.get_article(article_id)
    if stored is None:
        abort(404)
    pv, note = actions.article_preview(p, stored)
    deliveries = p.store.list_deliveries(article_id=article_id, limit=100)
    return render_template(
        "article.html",
        stored=stored,
        article=pv.article,
        routed=pv.routed,
        note=note,
        deliveries=deliveries,
        drafts=_drafts(p, pv.article, pv.routed, submitted, chosen, errors),
        when=when,
        states=DeliveryState,
    )


@bp.route("/repost", methods=["GET", "POST"])
def repost() -> Response | str:
    p = _pipeline()
    if request.method == "GET":
        url = request.args.get("url", "").strip()
        if not url:
            return render_template("repost.html", url="", preview=None, drafts=[], error=None)
        try:
            pv = p.preview(url, [a.id for a in actions.enabled_accounts(p)])
        except UnknownSite as e:
            return _repost_error(
                url, f"{e}. Only articles of the newsroom's own sites can be posted."
            )
        except BotError as e:
            return _repost_error(url, f"Could not read that article: {e}")
        return render_template(
            "repost.html", url=url, preview=pv, drafts=_drafts(p, pv.article, pv.routed), error=None
        )
    return _submit_compose()


def _repost_error(url: str, message: str) -> Response:
    html = render_template(
        "repost.html", url=url, preview=None, drafts=[], error=state().redact(message)
    )
    return Response(html, status=400, mimetype="text/html")


def _submit_compose() -> Response | str:
    """The compose form of the article page and of the repost page: queue, maybe post now."""
    p = _pipeline()
    user = _user()
    texts, chosen = _compose_form()
    article_id = request.form.get("article_id", type=int)
    when_raw = request.form.get("when", "")
    pv: Preview
    if article_id is not None:
        stored = p.store.get_article(article_id)
        if stored is None:
            abort(404)
        pv, _ = actions.article_preview(p, stored)
    else:
        url = request.form.get("url", "").strip()
        try:
            pv = p.preview(url, chosen or None)
        except UnknownSite as e:
            return _repost_error(
                url, f"{e}. Only articles of the newsroom's own sites can be posted."
            )
        except BotError as e:
            return _repost_error(url, f"Could not read that article: {e}")

    def again(errors: dict[str, str], message: str) -> Response:
        flash(message, "error")
        if article_id is not None:
            html = _render_article(
                article_id, submitted=texts, chosen=chosen, errors=errors, when=when_raw
            )
        else:
            drafts = _drafts(p, pv.article, pv.routed, texts, chosen, errors)
            html = render_template(
                "repost.html",
                url=pv.article.url,
                preview=pv,
                drafts=drafts,
                error=None,
                when=when_raw,
            )
        return Response(html, status=422, mimetype="text/html")

    if not chosen:
        return again({}, "Pick at least one account.")
    originals = {
        d.account_id: d.original
        for d in _drafts(p, pv.article, pv.routed)
        if d.account_id in chosen
    }
    edited: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for account_id in chosen:
        if account_id not in originals:
            return again({}, f"Unknown or disabled account {account_id!r}.")
        text = texts.get(account_id)
        edited[account_id] = text if text is not None and text != originals[account_id] else None
        try:
            actions.draft(p, pv.article, actions.account(p, account_id), edited[account_id])
        except (TextTooLong, ValueError) as e:
            errors[account_id] = str(e)
    if errors:
        return again(errors, "Nothing was posted: fix the texts marked below.")
    try:
        when = actions.parse_when(when_raw, p.config.tz, p.clock())
        ids = actions.repost(p, pv, edited, when=when, actor=user.actor)
    except ActionError as e:
        return again({}, str(e))
    if not ids:
        flash("Nothing was queued.", "error")
        return cast(Response, redirect(url_for("views.desk")))
    first = p.store.get_delivery(ids[0])
    target = url_for("views.article_page", article_id=first.article_id) if first else "/"
    if when is None:
        _flash_outcomes(actions.post_now(p, ids))
    else:
        shown = when.astimezone(p.config.tz).strftime("%a %d %b %H:%M")
        flash(f"Queued for {shown} to {', '.join(edited)}.", "ok")
    return cast(Response, redirect(target))


# --- a delivery's actions ------------------------------------------------------------------------


@bp.post("/deliveries/<int:delivery_id>/<action>")
def delivery_action(delivery_id: int, action: str) -> Response:
    p = _pipeline()
    user = _user()
    d = p.store.get_delivery(delivery_id)
    if d is None:
        abort(404)
    default = url_for("views.article_page", article_id=d.article_id)
    try:
        if action == "approve":
            _flash_outcomes(actions.approve(p, delivery_id, actor=user.actor))
        elif action == "retry":
            _flash_outcomes(actions.retry(p, delivery_id, actor=user.actor))
        elif action == "send":
            _flash_outcomes(actions.send_now(p, delivery_id, actor=user.actor))
        elif action == "cancel":
            actions.cancel(p, delivery_id, actor=user.actor)
            flash(f"Cancelled: #{delivery_id} to {d.account_id} will not be posted.", "ok")
        elif action == "reschedule":
            when = actions.parse_when(request.form.get("when"), p.config.tz, p.clock())
            actions.reschedule(p, delivery_id, when or p.clock(), actor=user.actor)
            flash(f"#{delivery_id} to {d.account_id} rescheduled.", "ok")
        elif action == "edit":
            actions.edit(p, delivery_id, request.form.get("text", ""), actor=user.actor)
            flash(f"Text of #{delivery_id} to {d.account_id} saved.", "ok")
        else:
            abort(404)
    except ActionError as e:
        flash(str(e), "error")
    except BotError as e:
        flash(state().redact(str(e)), "error")
    return _redirect(default)


# --- the live counter ----------------------------------------------------------------------------


@bp.post("/api/length")
def length() -> Response:
    """``{account, text, url?}`` → ``{length, limit, counting, link_added}``, counted by
    ``bot.textlen`` as the platform counts (the page's counter calls this, debounced)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _json_error(400, "send a JSON object {account, text, url?}")
    account_id, text, url = data.get("account"), data.get("text"), data.get("url")
    if not isinstance(account_id, str) or not isinstance(text, str):
        return _json_error(400, "account and text must be strings")
    if url is not None and not isinstance(url, str):
        return _json_error(400, "url must be a string")
    try:
        return jsonify(actions.measure(_pipeline(), account_id, text[:100_000], url or None))
    except ActionError as e:
        return _json_error(e.status, str(e))


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


# --- the log -------------------------------------------------------------------------------------


@bp.get("/log")
def log_page() -> str:
    p = _pipeline()
    f = queries.LogFilter(
        account=request.args.get("account", ""),
        action=request.args.get("action", ""),
        actor=request.args.get("user", ""),
        before=request.args.get("before", type=int),
    )
    events = queries.list_events(p.store, f, limit=100)
    older = None
    if len(events) == 100:
        args = {k: v for k, v in request.args.items() if k != "before" and v}
        older = url_for("views.log_page") + "?" + urlencode({**args, "before": events[-1].id})
    return render_template(
        "log.html",
        events=events,
        filter=f,
        choices=queries.event_choices(p.store),
        accounts=[a.id for a in p.config.accounts],
        older=older,
        budgets=_budgets(p),
    )


def _budgets(p: Pipeline) -> list[tuple[str, str]]:
    """Each enabled account's spending this month (accounts without a budget are left out)."""
    out = []
    for acc in p.config.accounts:
        status = p.budget_status(acc.id) if acc.enabled else None
        if status is not None:
            out.append((acc.id, budget_line(status)))
    return out


def _money(amount: float) -> str:
    text = f"{amount:.3f}"
    return "$" + (text[:-1] if text.endswith("0") else text)


def budget_line(status: BudgetStatus) -> str:
    """``$3.20 of $20.00 spent (16 posts), $16.80 left; the last $2.00 is kept …``."""
    line = f"{_money(status.spent)} of {_money(status.limit)} spent"
    line += f" ({status.posts} post{'s' * (status.posts != 1)})"
    line += f", {_money(status.remaining)} left"
    if status.reserve:
        line += f"; the last {_money(status.reserve)} is kept for priority posts"
    return line


# --- the signed-in person ------------------------------------------------------------------------


@bp.route("/account", methods=["GET", "POST"])
def account_page() -> Response | str:
    st = state()
    user = _user()
    if request.method == "POST":
        current = request.form.get("current", "")
        new, again = request.form.get("new", ""), request.form.get("again", "")
        if st.users.verify(user.name, current) is None:
            flash("Your current password is not right.", "error")
        elif new != again:
            flash("The two new passwords are not the same.", "error")
        else:
            try:
                st.users.set_password(user.name, new, actor=user.actor)
            except UserError as e:
                flash(str(e), "error")
            else:
                changed = st.users.require(user.name)
                session["stamp"] = changed.session_stamp  # this session stays; others end
                flash("Password changed. Other sessions are signed out.", "ok")
        return cast(Response, redirect(url_for("views.account_page")))
    return render_template("account.html", tokens=st.users.tokens(user_id=user.id))


# --- admins: people and API tokens ---------------------------------------------------------------


def _admin() -> User:
    user = _user()
    if not user.is_admin:
        abort(403)
    return user


@bp.get("/admin")
def admin() -> str:
    _admin()
    st = state()
    return render_template(
        "admin.html",
        users=st.users.all(),
        tokens=st.users.tokens(),
        roles=list(Role),
        new_token=None,
    )


@bp.post("/admin/users")
def admin_add_user() -> Response:
    user = _admin()
    try:
        added = state().users.add(
            request.form.get("name", ""),
            request.form.get("password", ""),
            request.form.get("role", "editor"),
            actor=user.actor,
        )
        flash(f"{added.name} can now sign in as {added.role}.", "ok")
    except UserError as e:
        flash(str(e), "error")
    return cast(Response, redirect(url_for("views.admin")))


@bp.post("/admin/users/<name>/<action>")
def admin_user_action(name: str, action: str) -> Response:
    user = _admin()
    st = state()
    try:
        if action in ("disable", "enable"):
            if action == "disable" and st.users.require(name).id == user.id:
                raise UserError("you cannot disable yourself")
            st.users.set_disabled(name, action == "disable", actor=user.actor)
            flash(f"{name}: {action}d.", "ok")
        elif action == "password":
            st.users.set_password(name, request.form.get("password", ""), actor=user.actor)
            flash(f"{name}: password set; their sessions are signed out.", "ok")
        else:
            abort(404)
    except UserError as e:
        flash(str(e), "error")
    return cast(Response, redirect(url_for("views.admin")))


@bp.post("/admin/tokens")
def admin_new_token() -> Response | str:
    user = _admin()
    st = state()
    try:
        token_id, token = st.users.new_token(
            request.form.get("user", ""), label=request.form.get("label", ""), actor=user.actor
        )
    except UserError as e:
        flash(str(e), "error")
        return cast(Response, redirect(url_for("views.admin")))
    # Shown in this one answer and never again (not kept in the session or anywhere else).
    return render_template(
        "admin.html",
        users=st.users.all(),
        tokens=st.users.tokens(),
        roles=list(Role),
        new_token=(token_id, token),
    )


@bp.post("/admin/tokens/<int:token_id>/revoke")
def admin_revoke_token(token_id: int) -> Response:
    user = _admin()
    if state().users.revoke_token(token_id, actor=user.actor):
        flash(f"Token #{token_id} revoked.", "ok")
    else:
        flash(f"Token #{token_id} does not exist or was revoked already.", "error")
    return cast(Response, redirect(url_for("views.admin")))
