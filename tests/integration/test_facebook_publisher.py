"""FacebookPublisher against FakeGraph (real HTTP on 127.0.0.1), and the shared Graph error map."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.config import AccountConfig
from bot.errors import ConfigError, PublishError
from bot.models import Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher
from bot.publishers.facebook import DEFAULT_API_BASE, SERVICE, FacebookPublisher
from bot.publishers.graph import (
    MAX_RETRY_AFTER,
    GraphAPIError,
    object_missing,
    translate,
    usage_retry_after,
)
from tests.fakes.fake_graph import PAGE_TOKEN, FakeGraph

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
TEXT = f"Ruto announces the end of the Kenyan-led mission in Haiti. {ARTICLE_URL}"

MakePublisher = Callable[..., FacebookPublisher]


def make_post(text: str = TEXT) -> Post:
    return Post(
        account_id="fb-page",
        platform="facebook",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=63206,
    )


def make_account(
    credentials: dict[str, str], api_base: str | None, **options: str | int | float | bool
) -> AccountConfig:
    return AccountConfig(
        id="fb-page",
        platform="facebook",
        credentials=credentials,
        api_base=api_base,
        options=options,
    )


def publish_error(publisher: FacebookPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def make_publisher(fake: FakeGraph) -> Iterator[MakePublisher]:
    """Publishers for ``fake``'s Page; ``**changes`` replace credentials. All closed after."""
    made: list[FacebookPublisher] = []

    def make(*, timeout: float = 5.0, **changes: str) -> FacebookPublisher:
        credentials = fake.facebook_credentials() | changes
        publisher = FacebookPublisher(make_account(credentials, fake.facebook_url), timeout=timeout)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- success -------------------------------------------------------------------------------


def test_publish_posts_the_message_and_link_and_returns_id_and_url(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    [post] = fake.facebook_posts
    assert post["id"].startswith(f"{fake.page_id}_")
    assert result == PublishResult(
        remote_id=post["id"], url=f"https://www.facebook.com/{post['id']}"
    )
    assert (post["message"], post["link"]) == (TEXT, ARTICLE_URL)
    [request] = fake.requests
    assert (request.method, request.path, request.status) == (
        "POST",
        f"/v25.0/{fake.page_id}/feed",
        200,
    )
    assert request.params == {"message": TEXT, "link": ARTICLE_URL}
    assert request.token == PAGE_TOKEN


def test_the_registry_builds_a_facebook_publisher(fake: FakeGraph) -> None:
    publisher = create_publisher(make_account(fake.facebook_credentials(), fake.facebook_url))
    try:
        assert isinstance(publisher, FacebookPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 63206
        assert publisher.spec.counting == "codepoints"
        assert publisher.spec.in_doubt is InDoubt.HOLD
    finally:
        publisher.close()


def test_construction_does_no_io_and_pins_v25(fake: FakeGraph) -> None:
    publisher = FacebookPublisher(make_account(fake.facebook_credentials(), None))
    publisher.close()
    assert publisher.api_base == DEFAULT_API_BASE == "https://graph.facebook.com/v25.0"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (None, "https://graph.facebook.com/v26.0"),
        ("https://graph.facebook.com/v24.0/", "https://graph.facebook.com/v26.0"),
        ("https://gw.example/meta", "https://gw.example/meta/v26.0"),
    ],
)
def test_graph_version_replaces_the_version_in_api_base(
    fake: FakeGraph, api_base: str | None, expected: str
) -> None:
    account = make_account(fake.facebook_credentials(), api_base, graph_version="v26.0")
    publisher = FacebookPublisher(account)
    publisher.close()
    assert publisher.api_base == expected


def test_graph_version_reaches_the_path(fake: FakeGraph) -> None:
    account = make_account(fake.facebook_credentials(), fake.facebook_url, graph_version="v26.0")
    publisher = FacebookPublisher(account, timeout=5.0)
    try:
        publisher.publish(make_post(), idempotency_key="d-1")
    finally:
        publisher.close()
    assert fake.requests[0].path == f"/v26.0/{fake.page_id}/feed"


@pytest.mark.parametrize("version", ["26.0", "v26", 26])
def test_a_bad_graph_version_is_a_config_error(fake: FakeGraph, version: str | int) -> None:
    account = make_account(fake.facebook_credentials(), None, graph_version=version)
    with pytest.raises(ConfigError, match=r"accounts\.fb-page\.options\.graph_version"):
        FacebookPublisher(account)


@pytest.mark.parametrize("missing", ["page_id", "page_access_token"])
def test_a_missing_credential_is_a_config_error_naming_it(fake: FakeGraph, missing: str) -> None:
    credentials = {k: v for k, v in fake.facebook_credentials().items() if k != missing}
    with pytest.raises(ConfigError, match=rf"credentials\.{missing}\b"):
        FacebookPublisher(make_account(credentials, fake.facebook_url))
    assert fake.requests == []


# --- Facebook's answers --------------------------------------------------------------------


def test_a_duplicate_status_message_is_a_result_not_an_error(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    first = publisher.publish(make_post(), idempotency_key="d-1")

    again = publisher.publish(make_post(), idempotency_key="d-1")

    assert first.remote_id is not None
    assert again == PublishResult(remote_id=None, url=None, duplicate=True)
    assert len(fake.facebook_posts) == 1
    assert [r.status for r in fake.requests] == [200, 400]


def test_an_invalid_token_is_permanent_with_a_hint_and_never_shown(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    token = "EAAwrong-page-token-0001"
    error = publish_error(make_publisher(page_access_token=token))

    assert (error.retryable, error.status) == (False, 400)
    assert "code 190" in str(error)
    assert "credentials.page_access_token" in str(error)
    assert token not in str(error) and token not in repr(error)
    assert fake.facebook_posts == []


def test_a_revoked_token_says_why(fake: FakeGraph, make_publisher: MakePublisher) -> None:
    fake.revoke(PAGE_TOKEN)
    error = publish_error(make_publisher())
    assert not error.retryable
    assert "changed their password" in str(error)


def test_a_token_without_pages_manage_posts_is_permanent_with_a_hint() -> None:
    with FakeGraph(page_permissions=("pages_show_list",)) as fake:
        account = make_account(fake.facebook_credentials(), fake.facebook_url)
        publisher = FacebookPublisher(account, timeout=5.0)
        try:
            error = publish_error(publisher)
        finally:
            publisher.close()
    assert (error.retryable, error.status) == (False, 403)
    assert "code 200" in str(error)
    assert "pages_manage_posts" in str(error)


@pytest.mark.parametrize(
    ("code", "message", "said"),
    [
        (368, "The action attempted has been deemed abusive or is otherwise disallowed", "policy"),
        (100, "(#100) Invalid parameter", "Invalid parameter"),
        (10, "(#10) Application does not have permission for this action", "pages_manage_posts"),
    ],
)
def test_other_refusals_are_permanent_with_facebooks_message(
    fake: FakeGraph, make_publisher: MakePublisher, code: int, message: str, said: str
) -> None:
    fake.error_next(code, message, endpoint="feed")
    error = publish_error(make_publisher())
    assert (error.retryable, error.status) == (False, 400)
    assert f"code {code}" in str(error)
    assert said in str(error)
    assert "fbtrace_id" in str(error)


# --- retryable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "regain_minutes", "retry_after"),
    [(32, 15, 900.0), (80001, 3, 180.0), (4, None, None), (17, None, None), (613, None, None)],
)
def test_throttling_is_retryable_and_waits_as_the_header_says(
    fake: FakeGraph,
    make_publisher: MakePublisher,
    code: int,
    regain_minutes: int | None,
    retry_after: float | None,
) -> None:
    fake.throttle_next(code=code, regain_minutes=regain_minutes, endpoint="feed")
    publisher = make_publisher()

    error = publish_error(publisher)

    assert (error.retryable, error.retry_after) == (True, retry_after)
    assert "throttling" in str(error)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id  # then it works


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(
    fake: FakeGraph, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status, endpoint="feed")
    error = publish_error(make_publisher())
    assert (error.retryable, error.status, error.retry_after) == (True, status, None)


@pytest.mark.parametrize("code", [1, 2])
def test_transient_codes_are_retryable(
    fake: FakeGraph, make_publisher: MakePublisher, code: int
) -> None:
    fake.error_next(code, "An unknown error occurred", endpoint="feed")
    assert publish_error(make_publisher()).retryable


def test_facebook_down_then_up(fake: FakeGraph, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    fake.down()
    assert publish_error(publisher).retryable
    fake.up()
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id
    assert [r.status for r in fake.requests] == [503, 200]


def test_a_lost_answer_is_retried_into_a_duplicate(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop("feed")
    publisher = make_publisher()

    error = publish_error(publisher)  # the post exists, but we cannot know
    assert error.retryable
    retried = publisher.publish(make_post(), idempotency_key="d-1")

    assert retried.duplicate
    assert len(fake.facebook_posts) == 1


def test_a_slow_facebook_is_a_retryable_timeout(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    error = publish_error(make_publisher(timeout=0.2))
    assert (error.retryable, error.status) == (True, None)


# --- the shared Graph error map ------------------------------------------------------------


def _error(status: int, code: int | None, **kw: Any) -> GraphAPIError:
    return GraphAPIError(status, message="m", code=code, **kw)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_error(400, 190, subcode=463), False),
        (_error(400, 10), False),
        (_error(403, 200), False),
        (_error(403, 299), False),
        (_error(400, 368), False),
        (_error(400, 100), False),
        (_error(400, 4), True),
        (_error(400, 17), True),
        (_error(400, 32), True),
        (_error(400, 613), True),
        (_error(400, 80001), True),
        (_error(429, None), True),
        (_error(400, 1), True),
        (_error(500, 2), True),
        (_error(503, None), True),
        (_error(400, 9999, transient=True), True),
        (_error(400, 9, subcode=2207042), True),
        (_error(500, 190), False),  # a bad token stays bad whatever the status
    ],
)
def test_graph_error_table(error: GraphAPIError, retryable: bool) -> None:
    assert translate(error, SERVICE).retryable is retryable


def _buc(*minutes: object) -> dict[str, str]:
    entries = [
        {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": m} for m in minutes
    ]
    return {"X-Business-Use-Case-Usage": json.dumps({"100000000000001": entries})}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (_buc(0), None),
        (_buc(15), 900.0),
        (_buc(2, 30), 1800.0),
        (_buc("garbage"), None),
        ({"X-Business-Use-Case-Usage": "{not json"}, None),
        ({"X-Business-Use-Case-Usage": '{"1": "nope"}'}, None),
        (_buc(10**9), MAX_RETRY_AFTER),
        ({"Retry-After": "120"}, 120.0),
    ],
)
def test_usage_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert usage_retry_after(headers) == expected


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_id(publisher: FacebookPublisher, text: str = TEXT) -> str:
    result = publisher.publish(make_post(text), idempotency_key="d-1")
    assert result.remote_id is not None
    return result.remote_id


def test_facebook_can_delete(make_publisher: MakePublisher) -> None:
    assert FacebookPublisher.spec.can_delete
    assert isinstance(make_publisher(), Deleter)


def test_delete_takes_the_post_down_and_logs_it(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_id(publisher, "another story")
    gone = posted_id(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.facebook"):
        publisher.delete(gone)

    assert [p["id"] for p in fake.facebook_posts] == [kept]
    assert [p["id"] for p in fake.deleted] == [gone]
    last = fake.requests[-1]
    assert (last.method, last.path, last.status) == ("DELETE", f"/v25.0/{gone}", 200)
    assert last.token == PAGE_TOKEN
    assert f"account fb-page deleted post {gone}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeGraph, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    publisher.delete(gone)

    with caplog.at_level(logging.INFO, logger="bot.publishers.facebook"):
        publisher.delete(gone)  # Meta: code 100, subcode 33

    assert [r.status for r in fake.requests if r.method == "DELETE"] == [200, 400]
    assert f"post {gone} was already gone" in caplog.text


def test_delete_with_an_invalid_token_is_permanent_and_never_shown(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    gone = posted_id(make_publisher())
    token = "EAAwrong-page-token-0001"

    with pytest.raises(PublishError) as info:
        make_publisher(page_access_token=token).delete(gone)

    assert (info.value.retryable, info.value.status) == (False, 400)
    assert "code 190" in str(info.value)
    for secret in (token, PAGE_TOKEN):
        assert secret not in str(info.value) and secret not in repr(info.value)
    assert len(fake.facebook_posts) == 1


def test_delete_without_pages_manage_posts_is_permanent_with_a_hint() -> None:
    with FakeGraph(page_permissions=("pages_show_list",)) as fake:
        publisher = FacebookPublisher(
            make_account(fake.facebook_credentials(), fake.facebook_url), timeout=5.0
        )
        try:
            with pytest.raises(PublishError) as info:
                publisher.delete(f"{fake.page_id}_1")
        finally:
            publisher.close()
    assert (info.value.retryable, info.value.status) == (False, 403)
    assert "pages_manage_posts" in str(info.value)


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
    assert len(fake.facebook_posts) == 1

    publisher.delete(gone)
    assert fake.facebook_posts == []


def test_a_throttled_deletion_waits_as_the_header_says(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.throttle_next(code=32, regain_minutes=20, endpoint="delete")
    with pytest.raises(PublishError) as info:
        make_publisher().delete(f"{fake.page_id}_1")
    assert info.value.retryable
    assert info.value.retry_after == 20 * 60


def test_a_slow_facebook_makes_a_retryable_deletion(
    fake: FakeGraph, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    with pytest.raises(PublishError) as info:
        make_publisher(timeout=0.3).delete(f"{fake.page_id}_1")
    assert info.value.retryable


@pytest.mark.parametrize("remote_id", ["", "1_2_3", "1/../2", "1_2?fields=id", "urn:li:share:1"])
def test_an_id_that_is_not_a_post_id_is_refused_before_any_request(
    fake: FakeGraph, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Facebook post id") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []


@pytest.mark.parametrize(
    ("error", "missing"),
    [
        (GraphAPIError(400, message="Unsupported delete request", code=100, subcode=33), True),
        (GraphAPIError(400, message="(#100) Invalid parameter", code=100), False),
        (GraphAPIError(400, message="Session has expired", code=190, subcode=463), False),
        (ValueError("not an API error"), False),
    ],
)
def test_object_missing_table(error: Exception, missing: bool) -> None:
    assert object_missing(error) is missing
