"""XPublisher against FakeX: real HTTP on 127.0.0.1, real OAuth 1.0a signatures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from requests_oauthlib import OAuth1

from bot.config import AccountConfig
from bot.errors import ConfigError, PublishError
from bot.models import Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import InDoubt, Publisher
from bot.publishers.x import (
    CREDENTIAL_NAMES,
    DEFAULT_API_BASE,
    MAX_RETRY_AFTER,
    XPublisher,
    _ApiSession,
    _retry_after,
)
from tests.fakes.fake_x import DEFAULT_CREDENTIALS, FakeX, control, read_posts

REPO = Path(__file__).resolve().parents[2]
ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"

MakePublisher = Callable[..., XPublisher]


def make_post(text: str = f"Ruto announces the end of the mission {ARTICLE_URL}") -> Post:
    return Post(
        account_id="x-main", platform="x", text=text, url=ARTICLE_URL, length=len(text), limit=280
    )


def make_account(credentials: dict[str, str], api_base: str | None) -> AccountConfig:
    return AccountConfig(id="x-main", platform="x", credentials=credentials, api_base=api_base)


def publish_error(publisher: XPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


@pytest.fixture
def fake() -> Iterator[FakeX]:
    with FakeX() as server:
        yield server


@pytest.fixture
def make_publisher(fake: FakeX) -> Iterator[MakePublisher]:
    """Publishers for ``fake``'s user; ``**changes`` replace credentials. All closed after."""
    made: list[XPublisher] = []

    def make(*, timeout: float = 5.0, **changes: str) -> XPublisher:
        publisher = XPublisher(
            make_account(fake.credentials() | changes, fake.url), timeout=timeout
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- success -------------------------------------------------------------------------------


def test_publish_returns_the_new_posts_id_and_url(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    [post] = fake.posts
    assert result == PublishResult(
        remote_id=post["id"], url=f"https://x.com/i/web/status/{post['id']}"
    )
    assert len(post["id"]) == 19
    assert post["text"] == make_post().text
    # api_base is honoured: the request reached the fake on 127.0.0.1, signed for its URL.
    assert [(r.method, r.path, r.status) for r in fake.requests] == [("POST", "/2/tweets", 201)]


def test_the_registry_builds_an_x_publisher(fake: FakeX) -> None:
    publisher = create_publisher(make_account(fake.credentials(), fake.url))
    try:
        assert isinstance(publisher, XPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 280
        assert publisher.spec.in_doubt is InDoubt.RETRY
    finally:
        publisher.close()


def test_construction_does_no_io_and_defaults_to_api_x_com(fake: FakeX) -> None:
    publisher = XPublisher(make_account(fake.credentials(), None))
    publisher.close()
    assert publisher.api_base == DEFAULT_API_BASE
    assert fake.requests == []


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        ("http://127.0.0.1:8080", "https://api.twitter.com/2/tweets", "http://127.0.0.1:8080/2/tweets"),
        ("https://api.x.com/", "https://api.twitter.com/2/users/me?x=1", "https://api.x.com/2/users/me?x=1"),
        ("https://gw.example/x", "https://api.x.com/2/tweets", "https://gw.example/x/2/tweets"),
        ("https://gw.example", "https://elsewhere.example/2/tweets", "https://gw.example/2/tweets"),
    ],
)  # fmt: skip
def test_every_url_is_rebased_onto_api_base(base: str, url: str, expected: str) -> None:
    with _ApiSession(base, timeout=1.0) as session:
        assert session.rebase(url) == expected


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrong", "why"),
    [
        ("consumer_key", "unknown consumer key"),
        ("consumer_secret", "bad signature"),
        ("access_token", "unknown access token"),
        ("access_token_secret", "bad signature"),
    ],
)
def test_any_wrong_credential_is_a_permanent_401_without_secrets(
    fake: FakeX, make_publisher: MakePublisher, wrong: str, why: str
) -> None:
    bad_value = f"wrong-{wrong}-value"
    error = publish_error(make_publisher(**{wrong: bad_value}))

    assert (error.status, error.retryable, error.platform) == (401, False, "x")
    assert "Unauthorized" in str(error)  # X's own message
    assert "access_token_secret" in str(error)  # the hint names the credentials to check
    for secret in [*fake.credentials().values(), bad_value]:
        assert secret not in str(error)
        assert secret not in repr(error)
    assert fake.posts == []
    assert [(r.status, r.note) for r in fake.requests] == [(401, why)]


@pytest.mark.parametrize(
    ("signed_for", "status", "note"),
    [
        ("{fake}/2/tweets", 201, ""),
        ("https://api.twitter.com/2/tweets", 401, "bad signature"),  # rewritten after signing
        ("{fake}/2/tweets?x=1", 401, "bad signature"),
    ],
)
def test_the_fake_verifies_the_signature_over_the_url_it_received(
    fake: FakeX, signed_for: str, status: int, note: str
) -> None:
    creds = fake.credentials()
    auth = OAuth1(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
    )
    request = requests.Request(
        "POST", signed_for.format(fake=fake.url), json={"text": "hello"}, auth=auth
    )
    prepared = request.prepare()
    prepared.url = f"{fake.url}/2/tweets"

    with requests.Session() as session:
        response = session.send(prepared, timeout=5)

    assert response.status_code == status
    assert [r.note for r in fake.requests] == [note]
    if status == 401:
        assert response.json() == {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }


@pytest.mark.parametrize("missing", CREDENTIAL_NAMES)
def test_a_missing_credential_is_a_config_error_naming_it(fake: FakeX, missing: str) -> None:
    credentials = {k: v for k, v in fake.credentials().items() if k != missing}
    with pytest.raises(ConfigError, match=rf"credentials\.{missing}\b"):
        XPublisher(make_account(credentials, fake.url))
    assert fake.requests == []


# --- X's answers -----------------------------------------------------------------------------


def test_duplicate_content_is_a_result_not_an_error(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    first = publisher.publish(make_post(), idempotency_key="d-1")

    again = publisher.publish(make_post(), idempotency_key="d-1")

    assert first.remote_id is not None
    assert again == PublishResult(remote_id=None, url=None, duplicate=True)
    assert len(fake.posts) == 1
    assert [r.status for r in fake.requests] == [201, 403]


@pytest.mark.parametrize(
    ("text", "message"),
    [("é" * 281, "too long"), ("   ", "empty")],
)
def test_invalid_text_is_a_permanent_400(
    fake: FakeX, make_publisher: MakePublisher, text: str, message: str
) -> None:
    error = publish_error(make_publisher(), make_post(text))

    assert (error.status, error.retryable) == (400, False)
    assert message in str(error)
    assert fake.posts == []


def test_280_weighted_characters_with_a_long_url_fit(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    url = "https://ctninfo.com/" + "a" * 200
    text = "x" * (280 - 24) + " " + url  # the URL counts 23
    make_publisher().publish(make_post(text), idempotency_key="d-1")
    assert len(fake.posts) == 1


def test_other_403s_are_permanent_with_xs_message(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    detail = "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project."
    fake.fail_next(
        status=403,
        body={
            "client_id": "1",
            "detail": detail,
            "registration_url": "https://developer.x.com/",
            "title": "Client Forbidden",
            "required_enrollment": "Appropriate Level of API Access",
            "reason": "client-not-enrolled",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
        },
    )
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (403, False)
    assert detail in str(error)


# --- retryable ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(
    fake: FakeX, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.status, error.retryable, error.retry_after) == (status, True, None)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id  # next one works


def test_x_down_then_up(fake: FakeX, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    fake.down()
    assert publish_error(publisher).retryable
    assert publish_error(publisher).retryable
    fake.up()
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id
    assert [r.status for r in fake.requests] == [503, 503, 201]


def test_15_minute_rate_limit_waits_for_its_reset(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=600)
    error = publish_error(make_publisher())

    assert (error.status, error.retryable) == (429, True)
    assert error.retry_after == pytest.approx(600, abs=2)
    assert "15-minute" in str(error)


def test_daily_cap_waits_for_the_24_hour_reset_not_the_15_minute_one(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=20_000, daily=True)
    error = publish_error(make_publisher())

    assert (error.status, error.retryable) == (429, True)
    assert error.retry_after == pytest.approx(20_000, abs=2)
    assert "daily user cap" in str(error)


def test_the_fakes_own_15_minute_window_runs_out() -> None:
    with FakeX(limit_15min=2) as fake:
        publisher = XPublisher(make_account(fake.credentials(), fake.url), timeout=5.0)
        try:
            publisher.publish(make_post("one"), idempotency_key="d-1")
            publisher.publish(make_post("two"), idempotency_key="d-2")
            error = publish_error(publisher, make_post("three"))
        finally:
            publisher.close()
    assert error.status == 429
    assert error.retry_after == pytest.approx(900, abs=3)


def test_a_slow_x_is_a_retryable_timeout(fake: FakeX, make_publisher: MakePublisher) -> None:
    fake.delay = 1.0
    started = time.monotonic()
    error = publish_error(make_publisher(timeout=0.2))

    assert time.monotonic() - started < 0.9
    assert (error.retryable, error.status) == (True, None)
    assert fake.posts == []


def test_an_answer_lost_after_x_accepted_is_retried_into_a_duplicate(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    publisher = make_publisher()

    error = publish_error(publisher)  # the post exists, but we cannot know
    assert error.retryable
    retried = publisher.publish(make_post(), idempotency_key="d-1")

    assert retried.duplicate
    assert len(fake.posts) == 1


def test_an_answer_delayed_after_x_accepted_times_out(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.accept_then_delay(seconds=2.0)
    error = publish_error(make_publisher(timeout=0.2))
    assert error.retryable
    assert len(fake.posts) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-rate-limit-reset": "garbage"}, None),
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1600"}, 600.0),
        ({"x-rate-limit-reset": "1600"}, 600.0),  # no window says it is exhausted
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "900"}, 1.0),  # in the past
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1e12"}, MAX_RETRY_AFTER),
        (
            {
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": "1900",
                "x-app-limit-24hour-remaining": "0",
                "x-app-limit-24hour-reset": "51000",
            },
            50_000.0,
        ),
        (
            {
                "x-rate-limit-remaining": "40",
                "x-rate-limit-reset": "1900",
                "x-user-limit-24hour-remaining": "3",
                "x-user-limit-24hour-reset": "51000",
            },
            900.0,
        ),
    ],
)
def test_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert _retry_after(headers, now=1000.0)[0] == expected


# --- the fake as its own process -----------------------------------------------------------


def test_fake_runs_as_a_process_and_keeps_posts_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "x-posts.jsonl"

    def run_once(text: str) -> PublishResult:
        command = [sys.executable, "-m", "tests.fakes.fake_x", "--port", "0", "--state", str(state)]
        with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
            try:
                assert process.stdout is not None
                url = json.loads(process.stdout.readline())["url"]
                publisher = XPublisher(make_account(DEFAULT_CREDENTIALS, url), timeout=5.0)
                try:
                    result = publisher.publish(make_post(text), idempotency_key="d-1")
                finally:
                    publisher.close()
                assert control(url, "requests")[-1]["path"] == "/2/tweets"
            finally:
                process.terminate()
        assert process.returncode == 0
        return result

    first = run_once("first post")
    again = run_once("first post")  # a restarted fake still knows the post

    assert again.duplicate
    assert [(p["id"], p["text"]) for p in read_posts(state)] == [(first.remote_id, "first post")]


def test_a_restarted_fake_skips_a_post_line_torn_by_a_kill(tmp_path: Path) -> None:
    state = tmp_path / "x-posts.jsonl"
    state.write_text('{"id": "1", "text": "kept", "time": 1, "user_id": "1"}\n{"id": "2", "te')

    with FakeX(state_file=state) as fake:
        assert [p["text"] for p in fake.posts] == ["kept"]
        publisher = XPublisher(make_account(fake.credentials(), fake.url), timeout=5.0)
        try:
            publisher.publish(make_post("new"), idempotency_key="d-1")
        finally:
            publisher.close()

    assert [p["text"] for p in read_posts(state)] == ["kept", "new"]
