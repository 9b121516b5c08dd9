"""ThreadsPublisher against FakeGraph: real HTTP on 127.0.0.1, a test clock for token ages."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import AccountConfig
from bot.errors import ConfigError, PublishError
from bot.models import Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.threads import (
    DEFAULT_API_BASE,
    QUOTA_WAIT_UNKNOWN,
    ThreadsPublisher,
    TokenState,
    needs_refresh,
)
from tests.fakes.fake_graph import DAY, TOKEN_LIFETIME, FakeGraph

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
START = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand; shared by the publisher and the fake."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


MakePublisher = Callable[..., ThreadsPublisher]


def make_post(text: str = f"Ruto announces the end of the mission {ARTICLE_URL}") -> Post:
    return Post(
        account_id="threads-main",
        platform="threads",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=500,
    )


def make_account(credentials: dict[str, str], api_base: str | None) -> AccountConfig:
    return AccountConfig(
        id="threads-main", platform="threads", credentials=credentials, api_base=api_base
    )


def publish_error(publisher: ThreadsPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


def read_state(path: Path) -> TokenState:
    return TokenState.from_json(json.loads(path.read_text(encoding="utf-8")))


def bot_log(caplog: pytest.LogCaptureFixture) -> str:
    """What syndbot's own loggers wrote (urllib3's DEBUG lines quote GET URLs, where Threads
    documents the token; that is the CLI formatter's to redact)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeGraph]:
    with FakeGraph(clock=clock) as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make_publisher(fake: FakeGraph, clock: Clock, state_dir: Path) -> Iterator[MakePublisher]:
    """Publishers for ``fake``'s user; ``token=`` replaces the configured token."""
    made: list[ThreadsPublisher] = []

    def make(*, timeout: float = 5.0, token: str | None = None) -> ThreadsPublisher:
        publisher = ThreadsPublisher(
            make_account(fake.threads_credentials(token), fake.threads_url),
            PublisherContext(state_dir=state_dir),
            timeout=timeout,
            clock=clock,
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- the two-step flow ---------------------------------------------------------------------


def test_publish_creates_a_container_then_publishes_it(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    [post] = fake.threads_posts
    assert result == PublishResult(remote_id=post["id"], url=post["permalink"])
    assert post["text"] == make_post().text
    assert post["link_attachment"] == ARTICLE_URL
    assert [(r.method, r.endpoint, r.status) for r in fake.requests] == [
        ("GET", "threads_publishing_limit", 200),
        ("POST", "threads", 200),
        ("POST", "threads_publish", 200),
        ("GET", "object", 200),
    ]
    create, publish = fake.requests[1], fake.requests[2]
    assert create.path == f"/v1.0/{fake.threads_user_id}/threads"
    assert create.params == {
        "media_type": "TEXT",
        "text": make_post().text,
        "link_attachment": ARTICLE_URL,
    }
    assert publish.params == {"creation_id": post["container_id"]}
    assert fake.requests[3].params == {"fields": "permalink"}


def test_the_registry_builds_a_threads_publisher(fake: FakeGraph) -> None:
    publisher = create_publisher(make_account(fake.threads_credentials(), fake.threads_url))
    try:
        assert isinstance(publisher, ThreadsPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 500
        assert publisher.spec.counting == "threads"
        assert publisher.spec.in_doubt is InDoubt.HOLD
    finally:
        publisher.close()


def test_construction_does_no_io(fake: FakeGraph, state_dir: Path) -> None:
    publisher = ThreadsPublisher(
        make_account(fake.threads_credentials(), None), PublisherContext(state_dir=state_dir)
    )
    publisher.close()
    assert publisher.api_base == DEFAULT_API_BASE
    assert fake.requests == []
    assert not state_dir.exists()


@pytest.mark.parametrize("missing", ["user_id", "access_token"])
def test_a_missing_credential_is_a_config_error_naming_it(fake: FakeGraph, missing: str) -> None:
    credentials = {k: v for k, v in fake.threads_credentials().items() if k != missing}
    with pytest.raises(ConfigError, match=rf"credentials\.{missing}\b"):
        ThreadsPublisher(make_account(credentials, fake.threads_url))


def test_a_lost_permalink_still_returns_the_post(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=500, endpoint="object")
    result = make_publisher().publish(make_post(), idempotency_key="d-1")
    assert result == PublishResult(remote_id=fake.threads_posts[0]["id"], url=None)


# --- the long-lived token ------------------------------------------------------------------


def test_the_first_publish_records_the_configured_token_0600(
    fake: FakeGraph, make_publisher: MakePublisher, state_dir: Path
) -> None:
    make_publisher().publish(make_post(), idempotency_key="d-1")

    path = state_dir / "threads-threads-main.json"
    state = read_state(path)
    assert state.access_token == fake.threads_token
    assert state.config_sha256 == sha(fake.threads_token)
    assert (state.obtained_at, state.expires_at, state.refreshed_at) == (START, None, None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "refresh_access_token" not in fake.endpoints()  # younger than 24 h


def test_a_token_of_unknown_expiry_is_refreshed_after_a_day_and_used(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock, state_dir: Path
) -> None:
    publisher = make_publisher()
    publisher.publish(make_post("day one"), idempotency_key="d-1")
    clock.advance(DAY + 60)

    publisher.publish(make_post("day two"), idempotency_key="d-2")

    state = read_state(state_dir / "threads-threads-main.json")
    assert state.access_token != fake.threads_token
    assert state.refreshed_at == clock.now
    assert state.expires_at == clock.now + TOKEN_LIFETIME
    refresh, *after = [r for r in fake.requests if r.time == clock.now]
    assert (refresh.endpoint, refresh.path, refresh.token) == (
        "refresh_access_token",
        "/refresh_access_token",  # documented without a version
        fake.threads_token,
    )
    assert refresh.params == {"grant_type": "th_refresh_token"}
    assert [r.token for r in after] == [state.access_token] * 4
    # A new publisher (a restarted daemon) goes on with the refreshed token, no new refresh.
    clock.advance(60)
    make_publisher().publish(make_post("day two, later"), idempotency_key="d-3")
    assert fake.requests[-1].token == state.access_token
    assert fake.endpoints().count("refresh_access_token") == 1


def test_a_token_expiring_within_7_days_is_refreshed_before_publishing(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock, state_dir: Path
) -> None:
    old = fake.issue_threads_token(issued_at=clock.now - 55 * DAY)
    state_dir.mkdir()
    state = TokenState(
        access_token=old,
        config_sha256=sha(old),
        obtained_at=clock.now - 55 * DAY,
        expires_at=clock.now + 5 * DAY,
        refreshed_at=clock.now - 55 * DAY,
    )
    (state_dir / "threads-threads-main.json").write_text(json.dumps(state.to_json()))

    make_publisher(token=old).publish(make_post(), idempotency_key="d-1")

    new = read_state(state_dir / "threads-threads-main.json")
    assert new.access_token not in (old, fake.threads_token)
    assert fake.token_expires_at(new.access_token) == new.expires_at
    assert fake.endpoints()[0] == "refresh_access_token"
    assert {r.token for r in fake.requests[1:]} == {new.access_token}


def test_a_changed_configured_token_is_preferred_over_the_stored_one(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock, state_dir: Path
) -> None:
    make_publisher().publish(make_post("one"), idempotency_key="d-1")
    clock.advance(DAY + 60)
    make_publisher().publish(make_post("two"), idempotency_key="d-2")  # refreshes
    pasted = fake.issue_threads_token()  # ops pasted a brand-new token in the config

    make_publisher(token=pasted).publish(make_post("three"), idempotency_key="d-3")

    state = read_state(state_dir / "threads-threads-main.json")
    assert (state.access_token, state.config_sha256) == (pasted, sha(pasted))
    assert fake.requests[-1].token == pasted


def test_a_failed_refresh_keeps_posting_with_the_current_token(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock
) -> None:
    publisher = make_publisher()
    publisher.publish(make_post("one"), idempotency_key="d-1")
    clock.advance(DAY + 60)
    fake.fail_next(status=500, endpoint="refresh_access_token")

    publisher.publish(make_post("two"), idempotency_key="d-2")
    clock.advance(60)
    publisher.publish(make_post("three"), idempotency_key="d-3")  # no new attempt yet

    assert len(fake.threads_posts) == 3
    assert fake.endpoints().count("refresh_access_token") == 1
    assert fake.requests[-1].token == fake.threads_token
    clock.advance(3600)
    publisher.publish(make_post("four"), idempotency_key="d-4")  # an hour later: again
    assert fake.endpoints().count("refresh_access_token") == 2


@pytest.mark.parametrize(
    ("age_days", "expires_in_days", "refreshed_days_ago", "expected"),
    [
        (0.5, 5, None, False),  # too young to refresh, whatever its expiry
        (2, 30, 2, False),
        (53, 7, 53, True),
        (54, 6, 54, True),
        (2, None, None, True),  # never refreshed, expiry unknown
        (8, None, 6, False),
        (8, None, 8, True),
        (61, -1, 61, True),  # expired: try anyway (it may fail)
    ],
)
def test_needs_refresh_table(
    age_days: float, expires_in_days: float | None, refreshed_days_ago: float | None, expected: bool
) -> None:
    now = START
    state = TokenState(
        access_token="t",
        config_sha256="s",
        obtained_at=now - age_days * DAY,
        expires_at=now + expires_in_days * DAY if expires_in_days is not None else None,
        refreshed_at=now - refreshed_days_ago * DAY if refreshed_days_ago is not None else None,
    )
    assert needs_refresh(state, now) is expected


def test_a_corrupt_state_file_falls_back_to_the_configured_token(
    fake: FakeGraph, make_publisher: MakePublisher, state_dir: Path
) -> None:
    state_dir.mkdir()
    (state_dir / "threads-threads-main.json").write_text("{not json")
    make_publisher().publish(make_post(), idempotency_key="d-1")
    assert read_state(state_dir / "threads-threads-main.json").access_token == fake.threads_token


# --- the 250-posts quota -------------------------------------------------------------------


def test_a_used_up_quota_is_retryable_and_nothing_is_created(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.extra_quota_usage = 250  # posted by another tool: we cannot tell when they expire

    error = publish_error(make_publisher())

    assert (error.retryable, error.retry_after) == (True, QUOTA_WAIT_UNKNOWN)
    assert "250 posts per 24 h" in str(error)
    assert fake.endpoints() == ["threads_publishing_limit"]
    assert fake.containers == []


def test_the_quota_wait_ends_when_our_oldest_post_leaves_the_window(
    clock: Clock, state_dir: Path
) -> None:
    with FakeGraph(clock=clock, quota_total=2) as fake:
        publisher = ThreadsPublisher(
            make_account(fake.threads_credentials(), fake.threads_url),
            PublisherContext(state_dir=state_dir),
            clock=clock,
        )
        try:
            publisher.publish(make_post("one"), idempotency_key="d-1")
            clock.advance(100)
            publisher.publish(make_post("two"), idempotency_key="d-2")
            clock.advance(100)
            error = publish_error(publisher, make_post("three"))
            clock.advance(DAY - 200 + 1)  # the first post has left the window
            publisher.publish(make_post("three"), idempotency_key="d-3")
        finally:
            publisher.close()
    assert error.retryable
    assert error.retry_after == DAY - 200
    assert [p["text"] for p in fake.threads_posts] == ["one", "two", "three"]


def test_the_quota_is_read_once_per_five_minutes(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock
) -> None:
    publisher = make_publisher()
    for i in range(3):
        publisher.publish(make_post(f"post {i}"), idempotency_key=f"d-{i}")
        clock.advance(60)
    assert fake.endpoints().count("threads_publishing_limit") == 1
    clock.advance(300)
    publisher.publish(make_post("later"), idempotency_key="d-9")
    assert fake.endpoints().count("threads_publishing_limit") == 2


def test_the_publish_endpoints_own_cap_is_retryable(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    publisher.publish(make_post("one"), idempotency_key="d-1")  # caches usage 0 of 250
    fake.extra_quota_usage = 250  # another tool used the rest meanwhile

    error = publish_error(publisher, make_post("two"))

    assert (error.retryable, error.retry_after, error.status) == (True, 3600.0, 400)
    assert "24-hour post limit" in str(error)


# --- permanent errors ----------------------------------------------------------------------


def test_an_invalid_token_is_permanent_with_a_hint_and_never_shown(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    token = "THAAwrong-token-not-issued-0001"

    error = publish_error(make_publisher(token=token))

    assert (error.retryable, error.status) == (False, 400)
    assert "code 190" in str(error)
    assert "credentials.access_token" in str(error)
    assert token not in str(error) and token not in repr(error)
    assert token not in bot_log(caplog)
    assert fake.containers == []


def test_an_expired_token_is_permanent_and_says_so(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    publisher = make_publisher()
    publisher.publish(make_post("one"), idempotency_key="d-1")
    clock.advance(TOKEN_LIFETIME + 1)  # never refreshed: the bot did not run for 60 days

    error = publish_error(publisher, make_post("two"))

    assert not error.retryable
    assert "expired" in str(error)
    assert "could not refresh" in bot_log(caplog)  # the refresh was tried and failed
    assert fake.threads_token not in bot_log(caplog) + str(error)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("é" * 501, "at most 500 characters"),
        ("😀" * 126, "at most 500 characters"),  # 126 emoji = 504 by Threads' byte rule
        (
            " ".join(f"https://example.com/{i}" for i in range(6)),
            "THREADS_API__LINK_LIMIT_EXCEEDED",
        ),
    ],
)
def test_refused_text_is_permanent_with_threads_message(
    fake: FakeGraph, make_publisher: MakePublisher, text: str, said: str
) -> None:
    error = publish_error(make_publisher(), make_post(text))

    assert (error.retryable, error.status) == (False, 400)
    assert said in str(error)
    assert fake.containers == []
    assert fake.threads_posts == []


def test_a_missing_permission_is_permanent_with_the_scopes(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    message = "(#10) Application does not have permission for this action"
    fake.error_next(10, message, endpoint="threads")
    error = publish_error(make_publisher())
    assert not error.retryable
    assert "threads_content_publish" in str(error)


# --- retryable errors and posts in doubt ----------------------------------------------------


@pytest.mark.parametrize("endpoint", ["threads_publishing_limit", "threads"])
@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_before_publishing_are_retryable(
    fake: FakeGraph, make_publisher: MakePublisher, endpoint: str, status: int
) -> None:
    fake.fail_next(status=status, endpoint=endpoint)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.retryable, error.status) == (True, status)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id  # next one works
    assert len(fake.threads_posts) == 1


def test_a_server_error_at_publish_with_an_unpublished_container_is_retryable(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=503, endpoint="threads_publish")
    error = publish_error(make_publisher())

    assert (error.retryable, error.status) == (True, 503)
    assert fake.threads_posts == []
    assert fake.endpoints()[-1] == "object"  # the container's status was checked
    assert fake.containers[0]["status"] == "FINISHED"


def test_a_lost_answer_to_a_publish_that_went_through_is_recorded_as_sent(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop("threads_publish")

    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    assert result == PublishResult(remote_id=None, url=None)
    assert len(fake.threads_posts) == 1


def test_a_post_whose_fate_cannot_be_told_is_not_retried(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop("threads_publish")
    fake.fail_next(status=500, endpoint="object")

    error = publish_error(make_publisher())

    assert not error.retryable  # a retry could post twice: an editor checks first
    assert "may have been published" in str(error)
    assert len(fake.threads_posts) == 1


def test_threads_down_then_up(fake: FakeGraph, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    fake.down()
    assert publish_error(publisher).retryable
    fake.up()
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id


def test_a_slow_threads_is_a_retryable_timeout(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    error = publish_error(make_publisher(timeout=0.2))
    assert (error.retryable, error.status) == (True, None)
    assert fake.containers == []


def test_an_unreachable_threads_is_retryable(clock: Clock, state_dir: Path) -> None:
    with FakeGraph(clock=clock) as fake:
        credentials, url = fake.threads_credentials(), fake.threads_url
    publisher = ThreadsPublisher(
        make_account(credentials, url), PublisherContext(state_dir=state_dir), clock=clock
    )
    try:
        error = publish_error(publisher)
    finally:
        publisher.close()
    assert error.retryable
    assert "cannot reach Threads" in str(error)
    assert credentials["access_token"] not in str(error)


def test_throttling_at_publish_is_retryable_without_a_status_check(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.throttle_next(code=4, endpoint="threads_publish")
    error = publish_error(make_publisher())
    assert error.retryable
    assert fake.endpoints()[-1] == "threads_publish"  # a clear refusal: nothing to settle


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_id(publisher: ThreadsPublisher, text: str = "Ruto announces the end") -> str:
    result = publisher.publish(make_post(text), idempotency_key=f"d-{text}")
    assert result.remote_id is not None
    return result.remote_id


def test_threads_can_delete(make_publisher: MakePublisher) -> None:
    assert ThreadsPublisher.spec.can_delete
    assert isinstance(make_publisher(), Deleter)


def test_delete_takes_the_post_down_and_logs_it(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_id(publisher, "another story")
    gone = posted_id(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.threads"):
        publisher.delete(gone)

    assert [p["id"] for p in fake.threads_posts] == [kept]
    assert [p["id"] for p in fake.deleted] == [gone]
    last = fake.requests[-1]
    assert (last.method, last.endpoint, last.status) == ("DELETE", "delete", 200)
    assert last.path == f"/v1.0/{gone}"
    assert last.token == fake.threads_token
    assert f"account threads-main deleted post {gone}" in bot_log(caplog)


def test_deleting_twice_is_no_error(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    publisher.delete(gone)

    with caplog.at_level(logging.INFO, logger="bot.publishers.threads"):
        publisher.delete(gone)  # Meta: code 100, subcode 33

    assert [r.status for r in fake.requests if r.endpoint == "delete"] == [200, 400]
    assert f"post {gone} was already gone" in bot_log(caplog)


def test_delete_with_an_invalid_token_is_permanent_and_never_shown(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    gone = posted_id(make_publisher())
    token = "THAAwrong-token-not-issued-0001"

    with pytest.raises(PublishError) as info:
        make_publisher(token=token).delete(gone)

    assert (info.value.retryable, info.value.status) == (False, 400)
    assert "code 190" in str(info.value)
    for secret in (token, fake.threads_token):
        assert secret not in str(info.value) and secret not in repr(info.value)
        assert secret not in bot_log(caplog)
    assert len(fake.threads_posts) == 1


def test_a_token_without_threads_delete_is_permanent_and_says_so(
    clock: Clock, state_dir: Path
) -> None:
    with FakeGraph(clock=clock, threads_delete=False) as fake:
        publisher = ThreadsPublisher(
            make_account(fake.threads_credentials(), fake.threads_url),
            PublisherContext(state_dir=state_dir),
            timeout=5.0,
            clock=clock,
        )
        try:
            gone = posted_id(publisher)
            with pytest.raises(PublishError) as info:
                publisher.delete(gone)
        finally:
            publisher.close()
        assert len(fake.threads_posts) == 1
    assert (info.value.retryable, info.value.status) == (False, 403)
    assert "threads_delete" in str(info.value)


@pytest.mark.parametrize("status", [500, 503])
def test_delete_server_errors_are_retryable(
    fake: FakeGraph, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    fake.fail_next(status=status, endpoint="delete")

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.retryable, info.value.status) == (True, status)
    assert len(fake.threads_posts) == 1

    publisher.delete(gone)
    assert fake.threads_posts == []


def test_throttled_deletion_is_retryable(fake: FakeGraph, make_publisher: MakePublisher) -> None:
    fake.throttle_next(code=4, endpoint="delete")
    with pytest.raises(PublishError) as info:
        make_publisher().delete("18000000000000001")
    assert info.value.retryable


def test_an_answer_without_success_is_retryable(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=200, body={"success": False}, endpoint="delete")
    with pytest.raises(PublishError, match="did not confirm") as info:
        make_publisher().delete("18000000000000001")
    assert info.value.retryable


def test_a_stale_token_is_refreshed_before_deleting(
    fake: FakeGraph, make_publisher: MakePublisher, clock: Clock
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    clock.advance(TOKEN_LIFETIME - 3 * DAY)  # within 7 days of expiry: refreshed first
    publisher.delete(gone)
    assert fake.endpoints()[-2:] == ["refresh_access_token", "delete"]
    assert fake.threads_posts == []


@pytest.mark.parametrize("remote_id", ["", "18/../1", "18000000000000001?fields=id", "abc"])
def test_an_id_that_is_not_a_media_id_is_refused_before_any_request(
    fake: FakeGraph, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Threads media id") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
