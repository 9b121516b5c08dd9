"""``/api/v1``: JSON for a CMS button, authenticated by per-user tokens only.

``Authorization: Bearer <token>`` (``syndbot user token NAME``, or the admin page). Cookies
are never read here, so a browser session cannot be used against the API and the API needs no
CSRF token. Errors are ``{"error": "…"}`` with 400 (bad request), 401 (no or bad token),
404, 409 (the delivery is not in a state that allows it), 422 (text too long) or 502 (the
article page could not be read). Actions are audited as ``web:<user>``.

::

    POST /api/v1/repost                      {url, accounts?, text?, at?} → 201 {deliveries}
    GET  /api/v1/preview?url=…[&account=…]   → {article, routed_to, posts}
    GET  /api/v1/deliveries?state=…&account=…&limit=…   → {deliveries}
    GET  /api/v1/deliveries/<id>             → {delivery}
    POST /api/v1/deliveries/<id>/approve|cancel|retry|reschedule {at}   → {delivery, message}
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from bot.errors import BotError, FetchError
from bot.models import DeliveryState
from bot.pipeline import Pipeline, UnknownSite
from bot.summarizer import TextTooLong
from bot.web import actions
from bot.web.actions import ActionError
from bot.web.app import error_response, state
from bot.web.users import User

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _authenticate() -> Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(
            401,
            "missing API token: send the header 'Authorization: Bearer <token>' "
            "(an admin makes one with `syndbot user token NAME` or on the admin page)",
        )
    user = state().users.user_for_token(token.strip())
    if user is None:
        return error_response(401, "invalid or revoked API token")
    g.api_user = user
    return None


def _user() -> User:
    user: User = g.api_user
    return user


def _pipeline() -> Pipeline:
    return state().pipeline


def _body() -> dict[str, Any]:
    if not request.data:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ActionError("send a JSON object with 'Content-Type: application/json'")
    return data


def _fail(e: BotError) -> Response:
    if isinstance(e, ActionError):
        return error_response(e.status, str(e))
    if isinstance(e, UnknownSite):
        return error_response(400, f"{e}; only articles of the configured sites can be posted")
    if isinstance(e, FetchError):
        return error_response(502, f"could not read the article: {state().redact(str(e))}")
    return error_response(400, state().redact(str(e)))


@bp.post("/repost")
def repost() -> Response:
    """Queue an editor's repost; without ``at`` it is posted now and the answer says how it
    went (``state`` sent, failed, or queued with the reason)."""
    p = _pipeline()
    try:
        body = _body()
        url, accounts, text, at = (body.get(k) for k in ("url", "accounts", "text", "at"))
        if not isinstance(url, str) or not url.strip():
            raise ActionError("'url' is required: the article's address")
        if accounts is not None and (
            not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts)
        ):
            raise ActionError("'accounts' must be a list of account ids")
        if text is not None and not isinstance(text, str):
            raise ActionError("'text' must be a string")
        if at is not None and not isinstance(at, str):
            raise ActionError("'at' must be an ISO 8601 time like 2026-12-01T08:00")
        for a in accounts or []:
            actions.account(p, a)
        when = actions.parse_when(at, p.config.tz, p.clock())
        pv = p.preview(url.strip(), accounts or None)
        targets = list(accounts or pv.routed)
        if not targets:
            raise ActionError("no route sends this article to any account: name 'accounts'")
        ids = actions.repost(p, pv, dict.fromkeys(targets, text), when=when, actor=_user().actor)
        if when is None:
            actions.post_now(p, ids)
    except (BotError, TextTooLong) as e:
        if isinstance(e, TextTooLong):
            return error_response(422, str(e))
        return _fail(e)
    found = [d for i in ids if (d := p.store.get_delivery(i)) is not None]
    response = jsonify({"deliveries": [actions.delivery_json(d) for d in found]})
    response.status_code = 201
    return response


@bp.get("/preview")
def preview() -> Response:
    p = _pipeline()
    url = request.args.get("url", "").strip()
    if not url:
        return error_response(400, "'url' is required: /api/v1/preview?url=…")
    wanted = request.args.getlist("account")
    try:
        for a in wanted:
            actions.account(p, a)
        pv = p.preview(url, wanted or [a.id for a in actions.enabled_accounts(p)])
    except BotError as e:
        return _fail(e)
    return jsonify(actions.preview_json(pv, pv.posts))


@bp.get("/deliveries")
def deliveries() -> Response:
    p = _pipeline()
    raw = request.args.getlist("state")
    try:
        states = [DeliveryState(s) for v in raw for s in v.split(",") if s] or None
    except ValueError:
        known = ", ".join(str(s) for s in DeliveryState)
        return error_response(400, f"unknown state in {raw!r}; known: {known}")
    limit = max(1, min(request.args.get("limit", default=50, type=int) or 50, 500))
    account = request.args.get("account") or None
    rows = p.store.list_deliveries(states=states, account_id=account, limit=limit)
    return jsonify({"deliveries": [actions.delivery_json(d) for d in rows]})


@bp.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int) -> Response:
    d = _pipeline().store.get_delivery(delivery_id)
    if d is None:
        return error_response(404, f"there is no delivery #{delivery_id}")
    return jsonify({"delivery": actions.delivery_json(d)})


@bp.post("/deliveries/<int:delivery_id>/<action>")
def delivery_action(delivery_id: int, action: str) -> Response:
    p = _pipeline()
    actor = _user().actor
    if p.store.get_delivery(delivery_id) is None:
        return error_response(404, f"there is no delivery #{delivery_id}")
    message = ""
    try:
        if action == "approve":
            message = " ".join(o.message for o in actions.approve(p, delivery_id, actor=actor))
        elif action == "retry":
            message = " ".join(o.message for o in actions.retry(p, delivery_id, actor=actor))
        elif action == "cancel":
            actions.cancel(p, delivery_id, actor=actor)
            message = "cancelled"
        elif action == "reschedule":
            at = _body().get("at")
            if not isinstance(at, str) or not at.strip():
                raise ActionError("'at' is required: an ISO 8601 time like 2026-12-01T08:00")
            when = actions.parse_when(at, p.config.tz, p.clock()) or p.clock()
            actions.reschedule(p, delivery_id, when, actor=actor)
            message = f"rescheduled to {when.isoformat(timespec='minutes')}"
        else:
            return error_response(
                404, f"unknown action {action!r}: approve, cancel, retry, reschedule"
            )
    except BotError as e:
        return _fail(e)
    d = p.store.get_delivery(delivery_id)
    assert d is not None
    return jsonify({"delivery": actions.delivery_json(d), "message": state().redact(message)})
