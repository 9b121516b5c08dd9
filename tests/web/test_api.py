"""``/api/v1`` with per-user tokens: what a CMS button does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from bot.demo.site import SampleSite
from bot.models import DeliveryState
from bot.pipeline import Pipeline
from bot.web.users import Users
from tests.fakes.fake_x import FakeX
from tests.web.conftest import RUTO, sign_in
from tests.web.test_app import audit, queue_one


@pytest.fixture
def token(users: Users) -> str:
    return users.new_token("maria", label="WordPress button", actor="test")[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_required_and_must_be_live(
    client: FlaskClient, users: Users, token: str
) -> None:
    missing = client.get("/api/v1/deliveries")
    assert missing.status_code == 401
    assert "missing API token" in missing.json["error"]  # type: ignore[index]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("sbt_not-a-real-token", "Basic abc", token[:-1]):
        response = client.get("/api/v1/deliveries", headers=bearer(bad))
        assert response.status_code == 401
        assert response.json == {"error": "invalid or revoked API token"}
    assert client.get("/api/v1/deliveries", headers=bearer(token)).status_code == 200
    (made,) = users.tokens()
    assert made.last_used_at is not None and made.label == "WordPress button"
    users.revoke_token(made.id, actor="test")
    assert client.get("/api/v1/deliveries", headers=bearer(token)).status_code == 401


def test_a_disabled_users_tokens_stop_working(
    client: FlaskClient, users: Users, token: str
) -> None:
    users.set_disabled("maria", True, actor="test")
    assert client.get("/api/v1/deliveries", headers=bearer(token)).status_code == 401


def test_a_browser_session_does_not_open_the_api(client: FlaskClient) -> None:
    sign_in(client)
    response = client.get("/api/v1/deliveries")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_only_the_hash_of_a_token_is_stored(pipeline: Pipeline, token: str) -> None:
    with pipeline.store.engine.begin() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_tokens"))
    assert token not in dump
    assert token.startswith("sbt_") and len(token) > 40


def test_repost_now_posts_and_says_where(
    client: FlaskClient, site: SampleSite, x: FakeX, token: str, pipeline: Pipeline
) -> None:
    url = site.permalink(RUTO)
    response = client.post(
        "/api/v1/repost",
        json={"url": url, "accounts": ["x-main"], "text": "From the CMS"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.json
    (d,) = response.json["deliveries"]  # type: ignore[index]
    assert d["state"] == "sent"
    assert d["remote_url"] == f"https://x.com/i/web/status/{x.posts[0]['id']}"
    assert [p["text"] for p in x.posts] == [f"From the CMS {url}"]
    assert ("web:maria", "created") in audit(pipeline)


def test_repost_without_accounts_uses_the_routes(
    client: FlaskClient, site: SampleSite, x: FakeX, token: str
) -> None:
    response = client.post(
        "/api/v1/repost", json={"url": site.permalink(RUTO)}, headers=bearer(token)
    )
    assert response.status_code == 201
    assert [d["account"] for d in response.json["deliveries"]] == ["x-main"]  # type: ignore[index]
    assert len(x.posts) == 1


def test_repost_later_then_reschedule_and_cancel(
    client: FlaskClient, site: SampleSite, x: FakeX, token: str
) -> None:
    at = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    response = client.post(
        "/api/v1/repost",
        json={"url": site.permalink(RUTO), "accounts": ["x-main"], "at": at},
        headers=bearer(token),
    )
    (d,) = response.json["deliveries"]  # type: ignore[index]
    assert d["state"] == "queued"
    queued = client.get("/api/v1/deliveries?state=queued", headers=bearer(token))
    assert [q["id"] for q in queued.json["deliveries"]] == [d["id"]]  # type: ignore[index]
    later = (datetime.now(UTC) + timedelta(hours=6)).replace(microsecond=0)
    moved = client.post(
        f"/api/v1/deliveries/{d['id']}/reschedule",
        json={"at": later.isoformat()},
        headers=bearer(token),
    )
    assert moved.status_code == 200
    assert moved.json["delivery"]["not_before"] == later.isoformat()  # type: ignore[index]
    cancelled = client.post(f"/api/v1/deliveries/{d['id']}/cancel", headers=bearer(token))
    assert cancelled.json["delivery"]["state"] == "cancelled"  # type: ignore[index]
    again = client.post(f"/api/v1/deliveries/{d['id']}/cancel", headers=bearer(token))
    assert again.status_code == 409
    assert again.json == {"error": f"delivery #{d['id']} is cancelled, not queued or held"}
    assert x.posts == []


def test_approve_a_held_post(
    client: FlaskClient, site: SampleSite, x: FakeX, token: str, pipeline: Pipeline
) -> None:
    held = queue_one(pipeline, site, state=DeliveryState.HELD, text="Approved by the CMS")
    listed = client.get("/api/v1/deliveries?state=held,pending", headers=bearer(token))
    assert [d["id"] for d in listed.json["deliveries"]] == [held]  # type: ignore[index]
    response = client.post(f"/api/v1/deliveries/{held}/approve", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["delivery"]["state"] == "sent"  # type: ignore[index]
    assert response.json["message"].startswith("Posted to x-main.")  # type: ignore[index]
    assert [p["text"] for p in x.posts] == [f"Approved by the CMS {site.permalink(RUTO)}"]


def test_preview(client: FlaskClient, site: SampleSite, token: str, x: FakeX) -> None:
    response = client.get(
        f"/api/v1/preview?url={site.permalink(RUTO)}&account=x-main", headers=bearer(token)
    )
    assert response.status_code == 200
    data = response.json
    assert data["article"]["title"].startswith("William Ruto")  # type: ignore[index]
    (post,) = data["posts"]  # type: ignore[index]
    assert post["account"] == "x-main" and post["length"] <= post["limit"] == 280
    assert x.posts == []


@pytest.mark.parametrize(
    ("request_args", "status", "message"),
    [
        (
            ("post", "/api/v1/repost", {"url": "https://example.com/a"}),
            400,
            "is not on a configured site",
        ),
        (("post", "/api/v1/repost", {}), 400, "'url' is required"),
        (
            ("post", "/api/v1/repost", {"url": "SITE", "accounts": ["x-nope"]}),
            400,
            "unknown account 'x-nope'",
        ),
        (("post", "/api/v1/repost", {"url": "SITE", "text": "w " * 200}), 422, "the limit is 280"),
        (
            ("post", "/api/v1/repost", {"url": "SITE", "at": "tomorrow"}),
            400,
            "is not a date and time",
        ),
        (("get", "/api/v1/preview?url=http://10.0.0.1/", None), 400, "is not on a configured site"),
        (("get", "/api/v1/deliveries?state=lost", None), 400, "unknown state"),
        (("get", "/api/v1/deliveries/999", None), 404, "there is no delivery #999"),
        (("post", "/api/v1/deliveries/999/approve", None), 404, "there is no delivery #999"),
        (("get", "/api/v1/nothing-here", None), 404, "There is nothing here."),
    ],
)
def test_errors_are_json_with_a_clear_message(
    client: FlaskClient,
    site: SampleSite,
    token: str,
    x: FakeX,
    request_args: tuple[str, str, dict[str, object] | None],
    status: int,
    message: str,
) -> None:
    method, path, body = request_args
    if body is not None and body.get("url") == "SITE":
        body = {**body, "url": site.permalink(RUTO)}
    response = client.open(path, method=method.upper(), json=body, headers=bearer(token))
    assert response.status_code == status, response.json
    assert message in response.json["error"], response.json  # type: ignore[index]
    assert x.posts == []


def test_a_body_that_is_not_json_is_refused(client: FlaskClient, token: str) -> None:
    response = client.post(
        "/api/v1/repost", data="url=x", headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert "send a JSON object" in response.json["error"]  # type: ignore[index]
