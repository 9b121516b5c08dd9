"""The web UI through Flask's test client: the login wall, sessions, CSRF, roles, throttling,
the editor actions and the audit log."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.config import Config
from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.store import NewDelivery, events
from bot.textlen import length
from bot.web.app import create_app
from bot.web.security import secret_key
from bot.web.users import Users
from tests.fakes.fake_x import FakeX
from tests.web.conftest import PASSWORD, RUTO, FakeClock, csrf_of, sign_in


def article_id(pipeline: Pipeline, site: SampleSite, post_id: int = RUTO) -> int:
    stored = next(a for a in pipeline.store.recent_articles() if a.url == site.permalink(post_id))
    return stored.id


def queue_one(
    pipeline: Pipeline,
    site: SampleSite,
    *,
    state: DeliveryState = DeliveryState.QUEUED,
    text: str = "A queued post",
    in_hours: float = 1.0,
    purpose: str | None = None,
    error: str | None = None,
) -> int:
    aid = article_id(pipeline, site)
    now = datetime.now(UTC)
    pipeline.store.save_article(aid, pipeline.fetch_article(site.permalink(RUTO))[1], now=now)
    delivery_id = pipeline.store.add_delivery(
        aid,
        NewDelivery(
            account_id="x-main",
            text=f"{text} {site.permalink(RUTO)}",
            url=site.permalink(RUTO),
            purpose=purpose or f"test:{text}",
            state=state,
            error=error,
            not_before=now + timedelta(hours=in_hours),
        ),
        now=now,
    )
    assert delivery_id is not None
    return delivery_id


def audit(pipeline: Pipeline) -> list[tuple[str, str]]:
    with pipeline.store.engine.begin() as conn:
        rows = conn.execute(events.select().order_by(events.c.id)).mappings().all()
    return [(r["actor"], r["action"]) for r in rows]


# --- the login wall ------------------------------------------------------------------------------


def _example(rule_path: str) -> str:
    return (
        rule_path.replace("<int:article_id>", "1")
        .replace("<int:delivery_id>", "1")
        .replace("<int:token_id>", "1")
        .replace("<action>", "cancel")
        .replace("<name>", "maria")
    )


def test_no_page_but_sign_in_and_static_files_answers_without_a_session(
    app: Flask, client: FlaskClient
) -> None:
    token = csrf_of(client.get("/login").text)  # an anonymous session with a CSRF token
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("views.login", "static") or rule.rule.startswith("/api/v1"):
            continue
        path = _example(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token} if method == "POST" else None
            response = client.open(path, method=method, data=data)
            checked += 1
            if path.startswith("/api/"):
                assert response.status_code == 401, (method, path)
                assert response.json == {"error": "not signed in"}
            else:
                assert response.status_code == 302, (method, path, response.status_code)
                assert response.headers["Location"].startswith("/login"), (method, path)
    assert checked >= 15
    assert client.get("/no/such/page").headers["Location"].startswith("/login")
    for asset in ("/static/style.css", "/static/app.js"):
        with client.get(asset) as response:
            assert response.status_code == 200


def test_sign_in_goes_back_where_the_editor_was_going(client: FlaskClient) -> None:
    first = client.get("/log?action=sent")
    assert first.headers["Location"] == "/login?next=/log?action%3Dsent"
    page = client.get(first.headers["Location"])
    response = client.post(
        "/login",
        data={
            "name": "Maria",  # names ignore case
            "password": PASSWORD,
            "next": "/log?action=sent",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/log?action=sent"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_redirects_to_another_site(client: FlaskClient, target: str) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "name": "maria",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: FlaskClient, pipeline: Pipeline
) -> None:
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"name": "maria", "password": "nope", "csrf_token": token})
    unknown = client.post(
        "/login", data={"name": "nobody", "password": "nope", "csrf_token": token}
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong name or password." in response.text
    assert client.get("/").status_code == 302
    assert ("web:maria", "login-failed") in audit(pipeline)


def test_sign_in_and_out(client: FlaskClient, pipeline: Pipeline) -> None:
    token = sign_in(client)
    desk = client.get("/")
    assert desk.status_code == 200
    assert "maria" in desk.text and "Recent articles" in desk.text
    cookie = desk.request.headers.get("Cookie", "")
    assert "syndbot_session=" in cookie
    out = client.post("/logout", data={"csrf_token": token})
    assert out.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert [a for a in audit(pipeline) if a[0] == "web:maria"] == [
        ("web:maria", "login"),
        ("web:maria", "logout"),
    ]


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    page = client.get("/login")
    header = page.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # plain http on 127.0.0.1
    secure = client.get("/login", base_url="https://desk.example")
    assert "Secure" in secure.headers["Set-Cookie"]


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.text  # no inline script: the CSP forbids it


def test_failed_sign_ins_are_throttled(client: FlaskClient, clock: FakeClock) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        client.post("/login", data={"name": "maria", "password": "guess", "csrf_token": token})
    blocked = client.post(
        "/login", data={"name": "maria", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in blocked.text
    assert client.get("/").status_code == 302  # the right password did not get through
    # Another person is not blocked by maria's attacker.
    other = client.post("/login", data={"name": "boss", "password": PASSWORD, "csrf_token": token})
    assert other.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    clock.now += 15 * 60 + 1
    sign_in(client)


def test_too_many_failures_from_one_address_block_it(client: FlaskClient, users: Users) -> None:
    token = csrf_of(client.get("/login").text)
    for i in range(30):
        client.post("/login", data={"name": f"guess{i}", "password": "x", "csrf_token": token})
    response = client.post(
        "/login", data={"name": "boss", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429


def test_disabling_a_user_or_changing_the_password_ends_their_sessions(
    app: Flask, users: Users
) -> None:
    a, b = app.test_client(), app.test_client()
    sign_in(a)
    sign_in(b)
    users.set_password("maria", "a brand new password", actor="test")
    assert a.get("/").status_code == 302
    sign_in(a, password="a brand new password")
    users.set_disabled("maria", True, actor="test")
    assert a.get("/").status_code == 302
    assert b.get("/").status_code == 302
    page = a.get("/login")
    response = a.post(
        "/login",
        data={
            "name": "maria",
            "password": "a brand new password",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert response.status_code == 401


def test_changing_your_own_password_keeps_this_session(app: Flask) -> None:
    client, other = app.test_client(), app.test_client()
    token = sign_in(client)
    sign_in(other)
    response = client.post(
        "/account",
        data={
            "current": PASSWORD,
            "new": "another long password",
            "again": "another long password",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert "Password changed" in response.text
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302


# --- CSRF ----------------------------------------------------------------------------------------


def test_forms_without_the_right_csrf_token_are_refused(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite
) -> None:
    delivery = queue_one(pipeline, site)
    token = sign_in(client)
    missing = client.post(f"/deliveries/{delivery}/cancel")
    wrong = client.post(f"/deliveries/{delivery}/cancel", data={"csrf_token": token[::-1]})
    from_header = client.post(f"/deliveries/{delivery}/cancel", headers={"X-CSRF-Token": "nope"})
    for response in (missing, wrong, from_header):
        assert response.status_code == 400
        assert "This form has expired or did not come from this site." in response.text
    assert pipeline.store.get_delivery(delivery).state is DeliveryState.QUEUED  # type: ignore[union-attr]
    ok = client.post(f"/deliveries/{delivery}/cancel", data={"csrf_token": token})
    assert ok.status_code == 302
    assert pipeline.store.get_delivery(delivery).state is DeliveryState.CANCELLED  # type: ignore[union-attr]


def test_the_length_counter_needs_the_csrf_header(client: FlaskClient) -> None:
    token = sign_in(client)
    body = {"account": "x-main", "text": "hello"}
    assert client.post("/api/length", json=body).status_code == 400
    response = client.post("/api/length", json=body, headers={"X-CSRF-Token": token})
    assert response.json == {"length": 5, "limit": 280, "counting": "x", "link_added": False}


def test_the_sign_in_form_needs_its_csrf_token_too(client: FlaskClient) -> None:
    response = client.post("/login", data={"name": "maria", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


# --- roles ---------------------------------------------------------------------------------------


def test_only_admins_manage_people_and_tokens(app: Flask, users: Users) -> None:
    editor = app.test_client()
    token = sign_in(editor)
    assert editor.get("/admin").status_code == 403
    for path in (
        "/admin/users",
        "/admin/tokens",
        "/admin/users/boss/disable",
        "/admin/tokens/1/revoke",
    ):
        assert editor.post(path, data={"csrf_token": token, "name": "eve"}).status_code == 403
    assert "People" not in editor.get("/").text.split("<main>")[0]
    admin = app.test_client()
    token = sign_in(admin, "boss")
    assert admin.get("/admin").status_code == 200
    added = admin.post(
        "/admin/users",
        data={"csrf_token": token, "name": "jean", "role": "editor", "password": "jean's password"},
        follow_redirects=True,
    )
    assert "jean can now sign in as editor" in added.text
    made = admin.post("/admin/tokens", data={"csrf_token": token, "user": "jean", "label": "CMS"})
    assert "copy it now, it is not shown again" in made.text
    assert "sbt_" in made.text
    assert "sbt_" not in admin.get("/admin").text  # shown once
    assert admin.post("/admin/users/boss/disable", data={"csrf_token": token}).status_code == 302
    assert users.require("boss").disabled is False  # nobody locks themselves out


# --- pages and actions ---------------------------------------------------------------------------


def test_article_page_previews_every_account_exactly(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite
) -> None:
    sign_in(client)
    page = client.get(f"/articles/{article_id(pipeline, site)}")
    assert page.status_code == 200
    assert "William Ruto Announces the End of the Kenyan Troops’ Mission in Haiti" in page.text
    preview = pipeline.preview(site.permalink(RUTO), ["x-main", "dry-run"])
    for post in preview.posts:
        assert f'name="text:{post.account_id}"' in page.text
        assert (
            f'<span class="n">{post.length}</span> / <span class="limit">{post.limit}</span>'
            in page.text
        )
    assert 'value="x-main" checked' in page.text  # the routed account is picked
    assert 'value="dry-run">' in page.text


def test_post_an_edited_text_now(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    token = sign_in(client)
    aid = article_id(pipeline, site)
    response = client.post(
        "/repost",
        data={
            "csrf_token": token,
            "article_id": aid,
            "account": "x-main",
            "text:x-main": "Kenya's police leave Haiti",
            "text:dry-run": "not chosen, not posted",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/articles/{aid}"
    assert [p["text"] for p in x.posts] == [f"Kenya's police leave Haiti {site.permalink(RUTO)}"]
    page = client.get(f"/articles/{aid}")
    assert "Posted to x-main." in page.text
    assert f"https://x.com/i/web/status/{x.posts[0]['id']}" in page.text
    assert ("web:maria", "created") in audit(pipeline)


def test_a_text_too_long_is_refused_and_nothing_is_posted(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    token = sign_in(client)
    response = client.post(
        "/repost",
        data={
            "csrf_token": token,
            "article_id": article_id(pipeline, site),
            "account": ["x-main", "dry-run"],
            "text:x-main": "word " * 80,
        },
    )
    assert response.status_code == 422
    assert "Nothing was posted" in response.text
    assert "the limit is 280" in response.text
    assert ("word " * 80).strip() in response.text  # the editor's text is kept
    assert x.posts == []
    assert pipeline.store.list_deliveries() == []


def test_schedule_then_cancel(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX, config: Config
) -> None:
    token = sign_in(client)
    later = (datetime.now(UTC) + timedelta(days=1)).astimezone(config.tz)
    response = client.post(
        "/repost",
        data={
            "csrf_token": token,
            "article_id": article_id(pipeline, site),
            "account": "x-main",
            "when": later.strftime("%Y-%m-%dT%H:%M"),
        },
        follow_redirects=True,
    )
    assert "Queued for" in response.text
    (d,) = pipeline.store.list_deliveries(states=[DeliveryState.QUEUED])
    assert d.not_before == later.replace(second=0, microsecond=0).astimezone(UTC)
    desk = client.get("/").text
    assert "Up next" in desk and "(in 24 h)" in desk
    client.post(f"/deliveries/{d.id}/cancel", data={"csrf_token": token})
    assert pipeline.store.get_delivery(d.id).state is DeliveryState.CANCELLED  # type: ignore[union-attr]
    assert x.posts == []
    assert ("web:maria", "cancelled") in audit(pipeline)


def test_a_time_in_the_past_is_refused(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    token = sign_in(client)
    response = client.post(
        "/repost",
        data={
            "csrf_token": token,
            "article_id": article_id(pipeline, site),
            "account": "x-main",
            "when": "2020-01-01T08:00",
        },
    )
    assert response.status_code == 422
    assert "has passed; leave the time empty to post now" in response.text
    assert x.posts == []


def test_approve_a_held_post_sends_it(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    held = queue_one(pipeline, site, state=DeliveryState.HELD, text="Held for an editor")
    token = sign_in(client)
    desk = client.get("/")
    assert "Needs you" in desk.text and "Approve and post" in desk.text
    response = client.post(f"/deliveries/{held}/approve", data={"csrf_token": token, "next": "/"})
    assert response.headers["Location"] == "/"
    assert [p["text"] for p in x.posts] == [f"Held for an editor {site.permalink(RUTO)}"]
    assert pipeline.store.get_delivery(held).state is DeliveryState.SENT  # type: ignore[union-attr]
    assert ("web:maria", "queued") in audit(pipeline)  # the approval, by whom


def test_reschedule_edit_and_post_now(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX, config: Config
) -> None:
    delivery = queue_one(pipeline, site, text="First words")
    token = sign_in(client)
    when = (datetime.now(UTC) + timedelta(hours=5)).astimezone(config.tz)
    client.post(
        f"/deliveries/{delivery}/reschedule",
        data={"csrf_token": token, "when": when.strftime("%Y-%m-%dT%H:%M")},
    )
    d = pipeline.store.get_delivery(delivery)
    assert d is not None and d.not_before == when.replace(second=0, microsecond=0)
    client.post(f"/deliveries/{delivery}/edit", data={"csrf_token": token, "text": "Better words"})
    d = pipeline.store.get_delivery(delivery)
    assert d is not None and d.text == f"Better words {site.permalink(RUTO)}"
    too_long = client.post(
        f"/deliveries/{delivery}/edit",
        data={"csrf_token": token, "text": "x" * 300},
        follow_redirects=True,
    )
    assert "the limit is 280" in too_long.text
    client.post(f"/deliveries/{delivery}/send", data={"csrf_token": token})
    assert [p["text"] for p in x.posts] == [f"Better words {site.permalink(RUTO)}"]
    actions = [a for who, a in audit(pipeline) if who == "web:maria"]
    assert actions == ["login", "queued", "edited", "queued"]  # reschedule, edit, post now
    assert ("system", "sent") in audit(pipeline)


def test_an_action_in_the_wrong_state_says_why(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite
) -> None:
    delivery = queue_one(pipeline, site)
    token = sign_in(client)
    page = client.post(
        f"/deliveries/{delivery}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert f"delivery #{delivery} is queued, not held or awaiting approval" in page.text
    assert client.post("/deliveries/9999/cancel", data={"csrf_token": token}).status_code == 404


def test_a_foreign_url_is_refused_without_fetching_it(client: FlaskClient, x: FakeX) -> None:
    token = sign_in(client)
    for response in (
        client.get("/repost?url=http://169.254.169.254/latest/meta-data/"),
        client.post(
            "/repost",
            data={"csrf_token": token, "url": "https://example.com/story", "account": "x-main"},
        ),
    ):
        assert response.status_code == 400
        assert "is not on a configured site" in response.text
        assert "Only articles of the newsroom&#39;s own sites can be posted." in response.text
    assert x.posts == []


def test_repost_any_url_of_the_site(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    token = sign_in(client)
    url = site.permalink(RUTO)
    page = client.get(f"/repost?url={url}")
    assert page.status_code == 200
    assert "William Ruto Announces" in page.text
    response = client.post("/repost", data={"csrf_token": token, "url": url, "account": "x-main"})
    assert response.status_code == 302
    expected = pipeline.preview(url, ["x-main"]).posts[0].text
    assert [p["text"] for p in x.posts] == [expected]  # exactly the previewed text


def test_log_lists_who_did_what_and_filters(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite
) -> None:
    delivery = queue_one(pipeline, site)
    token = sign_in(client)
    client.post(f"/deliveries/{delivery}/cancel", data={"csrf_token": token})
    everything = client.get("/log").text
    assert "web:maria" in everything and "cancelled" in everything and "login" in everything
    only = client.get("/log?action=cancelled&user=web:maria").text
    assert "<td>cancelled" in only and "<td>login" not in only
    assert "Nothing matches." in client.get("/log?user=web:nobody").text


def test_the_month_s_budget_is_shown_on_the_log_and_the_desk(
    client: FlaskClient, pipeline: Pipeline, site: SampleSite, x: FakeX
) -> None:
    from bot.config import BudgetSettings

    accounts = tuple(
        a.model_copy(update={"budget": BudgetSettings(monthly=30)}) if a.id == "x-main" else a
        for a in pipeline.config.accounts
    )
    pipeline.config = pipeline.config.model_copy(update={"accounts": accounts})
    sign_in(client)
    [(delivery_id, _)] = pipeline.repost(site.permalink(37070), ["x-main"], actor="web:maria")
    pipeline.deliver_due(only=[delivery_id])
    assert len(x.posts) == 1
    expected = "<b>x-main</b>: $0.20 of $30.00 spent (1 post), $29.80 left"
    assert expected in client.get("/log").text
    assert expected in client.get("/").text


def test_length_counts_as_the_platform_and_adds_the_missing_link(
    client: FlaskClient, site: SampleSite
) -> None:
    token = sign_in(client)
    text = "Ayiti: 🇭🇹 nouvèl"
    response = client.post(
        "/api/length",
        json={"account": "x-main", "text": text, "url": "https://ctninfo.com/?p=1"},
        headers={"X-CSRF-Token": token},
    )
    assert response.json == {
        "length": length(text, "x") + 1 + 23,
        "limit": 280,
        "counting": "x",
        "link_added": True,
    }
    unknown = client.post(
        "/api/length", json={"account": "x-nope", "text": "hi"}, headers={"X-CSRF-Token": token}
    )
    assert unknown.status_code == 400
    assert "unknown account 'x-nope'" in unknown.json["error"]  # type: ignore[index]


def test_no_page_shows_a_secret(client: FlaskClient, pipeline: Pipeline, site: SampleSite) -> None:
    from tests.support import X_ENV

    sign_in(client, "boss")
    pages = ["/", f"/articles/{article_id(pipeline, site)}", "/log", "/admin", "/account"]
    for path in pages:
        text = client.get(path).text
        for secret in X_ENV.values():
            assert secret not in text, path


# --- the session key -----------------------------------------------------------------------------


def test_session_key_is_made_once_private_and_reused(config: Config, pipeline: Pipeline) -> None:
    first = secret_key(config)
    path = Path(config.state_dir) / "web-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key(config) == first
    assert len(first) == 64
    # Sessions survive a restart: a new app with the same state directory reads the same key.
    one, two = create_app(pipeline), create_app(pipeline)
    assert one.secret_key == two.secret_key == first


def test_a_session_ends_its_lifetime_after_signing_in_however_busy(
    client: FlaskClient, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(client)
    start = datetime.now(UTC)
    monkeypatch.setattr(pipeline, "clock", lambda: start + timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    monkeypatch.setattr(pipeline, "clock", lambda: start + timedelta(hours=12, minutes=1))
    assert client.get("/").status_code == 302  # web.session_lifetime is 12 h by default
