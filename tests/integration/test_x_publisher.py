"""XPublisher against FakeX: real HTTP on 127.0.0.1, real OAuth 1.0a signatures."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image as PILImage
from requests_oauthlib import OAuth1

from bot.config import AccountConfig
from bot.errors import ConfigError, FetchError, MediaError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.x import (
    CREDENTIAL_NAMES,
    DEFAULT_API_BASE,
    IMAGE_RETRIES,
    MAX_RETRY_AFTER,
    XPublisher,
    _ApiSession,
    _retry_after,
)
from tests.fakes.fake_x import (
    DEFAULT_CREDENTIALS,
    FakeX,
    control,
    invalid_request_body,
    not_found_body,
    read_posts,
    status_body,
)

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


# --- images --------------------------------------------------------------------------------

IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
ALT = "President Ruto at a lectern in Nairobi, flags behind him"


def png_bytes(size: tuple[int, int] = (640, 360)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", size, (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def noisy_jpeg(size: tuple[int, int] = (1400, 1000)) -> bytes:
    """Random pixels barely compress: a JPEG well over 5 MB at this size."""
    noise = random.Random(7).randbytes(size[0] * size[1] * 3)
    buf = io.BytesIO()
    PILImage.frombytes("RGB", size, noise).save(buf, "JPEG", quality=100, subsampling=0)
    return buf.getvalue()


def image_post(text: str = f"Ruto announces the end of the mission {ARTICLE_URL}") -> Post:
    return dataclasses.replace(make_post(text), image=Image(url=IMAGE_URL, alt=ALT))


class Loader:
    """A ``load_image`` that serves one picture (or raises) and records what was asked."""

    def __init__(self, data: bytes | None = None, error: Exception | None = None) -> None:
        self.data = data if data is not None else png_bytes()
        self.error = error
        self.asked: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        if self.error is not None:
            raise self.error
        return self.data


MakeImagePublisher = Callable[..., XPublisher]


@pytest.fixture
def make_image_publisher(fake: FakeX, tmp_path: Path) -> Iterator[MakeImagePublisher]:
    """Publishers for ``fake``'s user with ``options.images`` (default on) and ``loader``,
    keeping their state in ``tmp_path``."""
    made: list[XPublisher] = []

    def make(loader: Loader | None = None, *, images: object = True) -> XPublisher:
        account = AccountConfig(
            id="x-main",
            platform="x",
            credentials=fake.credentials(),
            api_base=fake.url,
            options={"images": images},
        )
        context = PublisherContext(load_image=loader or Loader(), state_dir=tmp_path, timeout=5.0)
        publisher = XPublisher(account, context)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


def paths(fake: FakeX) -> list[tuple[str, int | None]]:
    return [(r.path, r.status) for r in fake.requests]


def test_with_images_the_post_carries_the_uploaded_picture_and_its_alt_text(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    loader = Loader()
    result = make_image_publisher(loader).publish(image_post(), idempotency_key="d-1")

    [media] = fake.media
    [post] = fake.posts
    assert loader.asked == [IMAGE_URL]
    assert post["media_ids"] == [media["id"]]
    assert result.remote_id == post["id"]
    assert media["alt_text"] == ALT
    assert (media["category"], media["mime"], media["width"]) == ("tweet_image", "image/png", 640)
    assert fake.media_bytes(media["id"]) == loader.data  # fits already: sent as it is
    assert paths(fake) == [
        ("/2/media/upload", 200),
        ("/2/media/metadata", 200),
        ("/2/tweets", 201),
    ]


def test_a_picture_over_5_mb_is_re_encoded_under_it_before_upload(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    big = noisy_jpeg()
    assert len(big) > 5_000_000

    make_image_publisher(Loader(big)).publish(image_post(), idempotency_key="d-1")

    [media] = fake.media
    sent = fake.media_bytes(media["id"])
    assert len(sent) <= 5_000_000
    assert media["mime"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(sent)).format == "JPEG"
    assert fake.posts[0]["media_ids"] == [media["id"]]
    assert [r.status for r in fake.requests if r.path == "/2/media/upload"] == [200]


def test_the_fake_refuses_an_upload_over_5_mb(fake: FakeX) -> None:
    creds = fake.credentials()
    auth = OAuth1(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
    )
    response = requests.post(
        f"{fake.url}/2/media/upload",
        data={"media_category": "tweet_image"},
        files={"media": ("image", noisy_jpeg(), "image/jpeg")},
        auth=auth,
        timeout=10,
    )
    assert response.status_code == 400
    assert "exceeds" in response.json()["errors"][0]["message"]
    assert fake.media == []


@pytest.mark.parametrize(
    "error",
    [
        FetchError("HTTP 404", url=IMAGE_URL, status=404),
        MediaError("not a usable image"),
        OSError("disk on fire"),  # whatever a loader raises
    ],
)
def test_an_image_that_cannot_be_loaded_leaves_a_text_only_post(
    fake: FakeX,
    make_image_publisher: MakeImagePublisher,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.publishers.x")
    result = make_image_publisher(Loader(error=error)).publish(image_post(), idempotency_key="d-1")

    assert result.remote_id == fake.posts[0]["id"]
    assert fake.posts[0]["media_ids"] == []
    assert paths(fake) == [("/2/tweets", 201)]
    [record] = caplog.records
    assert "x-main" in record.getMessage()
    assert ARTICLE_URL in record.getMessage()
    assert "without its image" in record.getMessage()


def test_undecodable_bytes_leave_a_text_only_post(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    make_image_publisher(Loader(b"<html>not a picture</html>")).publish(
        image_post(), idempotency_key="d-1"
    )
    assert fake.posts[0]["media_ids"] == []
    assert fake.media == []


def test_with_images_off_nothing_is_uploaded(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    loader = Loader()
    make_image_publisher(loader, images=False).publish(image_post(), idempotency_key="d-1")
    assert loader.asked == []
    assert paths(fake) == [("/2/tweets", 201)]


def test_images_are_off_by_default(fake: FakeX) -> None:
    loader = Loader()
    account = make_account(fake.credentials(), fake.url)
    publisher = XPublisher(account, PublisherContext(load_image=loader, timeout=5.0))
    try:
        publisher.publish(image_post(), idempotency_key="d-1")
    finally:
        publisher.close()
    assert loader.asked == []
    assert paths(fake) == [("/2/tweets", 201)]


def test_a_post_without_an_image_uploads_nothing(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    make_image_publisher().publish(make_post(), idempotency_key="d-1")
    assert paths(fake) == [("/2/tweets", 201)]


def test_no_alt_text_means_no_metadata_request(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    post = dataclasses.replace(make_post(), image=Image(url=IMAGE_URL, alt="  "))
    make_image_publisher().publish(post, idempotency_key="d-1")
    assert paths(fake) == [("/2/media/upload", 200), ("/2/tweets", 201)]
    assert fake.media[0]["alt_text"] is None


def test_alt_text_is_cut_to_1000_characters(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    post = dataclasses.replace(make_post(), image=Image(url=IMAGE_URL, alt="é" * 1500))
    make_image_publisher().publish(post, idempotency_key="d-1")
    assert fake.media[0]["alt_text"] == "é" * 1000


@pytest.mark.parametrize("images", ["yes", 1, "true"])
def test_images_must_be_a_boolean(fake: FakeX, images: object) -> None:
    account = AccountConfig(
        id="x-main",
        platform="x",
        credentials=fake.credentials(),
        api_base=fake.url,
        options={"images": images},  # type: ignore[dict-item]
    )
    with pytest.raises(ConfigError, match=r"accounts\.x-main\.options\.images"):
        XPublisher(account)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_an_upload_x_refuses_leaves_a_text_only_post(
    fake: FakeX, make_image_publisher: MakeImagePublisher, status: int
) -> None:
    fake.fail_next_upload(status=status)
    result = make_image_publisher().publish(image_post(), idempotency_key="d-1")
    assert result.remote_id == fake.posts[0]["id"]
    assert fake.posts[0]["media_ids"] == []
    assert paths(fake) == [("/2/media/upload", status), ("/2/tweets", 201)]


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_upload_retries_the_whole_post_a_bounded_number_of_times(
    fake: FakeX, make_image_publisher: MakeImagePublisher, status: int
) -> None:
    fake.fail_next_upload(IMAGE_RETRIES + 1, status=status)
    publisher = make_image_publisher()

    for attempt in range(1, IMAGE_RETRIES + 1):
        error = publish_error(publisher, image_post())
        assert (error.retryable, error.status) == (True, status)
        assert f"{attempt} of {IMAGE_RETRIES}" in str(error)
        for secret in fake.credentials().values():
            assert secret not in str(error)
        assert fake.posts == []  # nothing went out: retrying cannot double-post

    result = publisher.publish(image_post(), idempotency_key="d-1")  # budget spent: text only
    assert result.remote_id == fake.posts[0]["id"]
    assert fake.posts[0]["media_ids"] == []


def test_the_image_retry_count_survives_a_new_process(
    fake: FakeX, make_image_publisher: MakeImagePublisher, tmp_path: Path
) -> None:
    fake.fail_next_upload(IMAGE_RETRIES + 1, status=503)
    for _ in range(IMAGE_RETRIES):  # syndbot once from cron: a new publisher every run
        assert publish_error(make_image_publisher(), image_post()).retryable

    make_image_publisher().publish(image_post(), idempotency_key="d-1")

    assert fake.posts[0]["media_ids"] == []
    assert json.loads((tmp_path / "x-image-retries-x-main.json").read_text()) == {}


def test_an_unwritable_state_dir_still_bounds_image_retries(fake: FakeX, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    account = AccountConfig(
        id="x-main",
        platform="x",
        credentials=fake.credentials(),
        api_base=fake.url,
        options={"images": True},
    )
    context = PublisherContext(load_image=Loader(), state_dir=blocker / "state", timeout=5.0)
    publisher = XPublisher(account, context)
    fake.fail_next_upload(IMAGE_RETRIES + 1, status=503)
    try:
        for _ in range(IMAGE_RETRIES):
            assert publish_error(publisher, image_post()).retryable
        publisher.publish(image_post(), idempotency_key="d-1")
    finally:
        publisher.close()
    assert fake.posts[0]["media_ids"] == []


def test_a_retried_post_goes_out_with_its_picture_once_uploads_work(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    fake.fail_next_upload(status=503)
    publisher = make_image_publisher()
    assert publish_error(publisher, image_post()).retryable

    publisher.publish(image_post(), idempotency_key="d-1")

    [media] = fake.media
    assert fake.posts[0]["media_ids"] == [media["id"]]


def test_a_short_upload_rate_limit_waits_for_its_reset(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    fake.fail_next_upload(status=429, reset_in=300)
    error = publish_error(make_image_publisher(), image_post())
    assert (error.retryable, error.status) == (True, 429)
    assert error.retry_after == pytest.approx(300, abs=2)
    assert fake.posts == []


def test_the_daily_upload_cap_posts_the_text_at_once(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    fake.fail_next_upload(status=429, reset_in=20_000, daily=True)
    make_image_publisher().publish(image_post(), idempotency_key="d-1")
    assert fake.posts[0]["media_ids"] == []
    assert paths(fake) == [("/2/media/upload", 429), ("/2/tweets", 201)]


def test_an_unreachable_upload_is_retryable(make_image_publisher: MakeImagePublisher) -> None:
    publisher = make_image_publisher()
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    publisher._session.base = closed
    error = publish_error(publisher, image_post())
    assert error.retryable
    assert "cannot reach" in str(error)


def test_a_post_refused_for_its_media_id_goes_out_as_text(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    fake.fail_next(
        status=400,
        body=invalid_request_body("Your media IDs are invalid.", {"media.media_ids": ["1"]}),
    )
    result = make_image_publisher().publish(image_post(), idempotency_key="d-1")

    assert result.remote_id == fake.posts[0]["id"]
    assert fake.posts[0]["media_ids"] == []
    assert [p for p, _ in paths(fake)][-2:] == ["/2/tweets", "/2/tweets"]


def test_the_fake_refuses_unknown_media_ids_like_x(fake: FakeX) -> None:
    creds = fake.credentials()
    auth = OAuth1(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
    )
    response = requests.post(
        f"{fake.url}/2/tweets",
        json={"text": "hello", "media": {"media_ids": ["1234"]}},
        auth=auth,
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "parameters": {"media.media_ids": ["1234"]},
        "message": "Your media IDs are invalid.",
    }
    assert fake.posts == []


def test_the_fake_checks_the_upload_signature(fake: FakeX) -> None:
    creds = fake.credentials()
    auth = OAuth1(creds["consumer_key"], "wrong-secret", creds["access_token"], "wrong-too")
    response = requests.post(
        f"{fake.url}/2/media/upload",
        data={"media_category": "tweet_image"},
        files={"media": ("image", png_bytes(), "image/png")},
        auth=auth,
        timeout=5,
    )
    assert response.status_code == 401
    assert [(r.path, r.note) for r in fake.requests] == [("/2/media/upload", "bad signature")]
    assert fake.media == []


def test_a_retry_after_a_lost_answer_is_a_duplicate_even_with_a_new_upload(
    fake: FakeX, make_image_publisher: MakeImagePublisher
) -> None:
    fake.accept_then_drop()
    publisher = make_image_publisher()
    assert publish_error(publisher, image_post()).retryable

    again = publisher.publish(image_post(), idempotency_key="d-1")

    assert again.duplicate
    assert len(fake.posts) == 1
    assert len(fake.media) == 2  # uploaded again; the orphan expires on X's side


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def test_x_can_delete() -> None:
    assert XPublisher.spec.can_delete
    assert isinstance(XPublisher.__new__(XPublisher), Deleter)


def test_delete_takes_the_post_down_and_logs_it(
    fake: FakeX, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = publisher.publish(make_post("another story"), idempotency_key="d-0")
    posted = publisher.publish(make_post(), idempotency_key="d-1")
    assert posted.remote_id is not None

    with caplog.at_level(logging.INFO, logger="bot.publishers.x"):
        publisher.delete(posted.remote_id)

    assert [p["id"] for p in fake.posts] == [kept.remote_id]
    assert [d["id"] for d in fake.deleted] == [posted.remote_id]
    assert (fake.requests[-1].method, fake.requests[-1].path, fake.requests[-1].status) == (
        "DELETE",
        f"/2/tweets/{posted.remote_id}",
        200,
    )
    assert f"account x-main deleted post {posted.remote_id}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeX, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    posted = publisher.publish(make_post(), idempotency_key="d-1")
    assert posted.remote_id is not None
    publisher.delete(posted.remote_id)

    with caplog.at_level(logging.INFO, logger="bot.publishers.x"):
        publisher.delete(posted.remote_id)  # X: 404 resource-not-found

    assert [r.status for r in fake.requests] == [201, 200, 404]
    assert f"post {posted.remote_id} was already gone" in caplog.text


def test_a_success_answer_carrying_only_a_not_found_error_counts_as_gone(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.fail_next_delete(status=200, body={"errors": not_found_body("1234")["errors"]})
    make_publisher().delete("1234")  # no error


def test_deleted_false_without_a_reason_is_a_permanent_error(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.fail_next_delete(status=200, body={"data": {"deleted": False}})
    with pytest.raises(PublishError, match="deleted: false") as info:
        make_publisher().delete("1234")
    assert not info.value.retryable


def test_a_404_that_is_not_xs_not_found_problem_is_an_error(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    fake.fail_next_delete(status=404, body={"title": "Not Found", "status": 404})
    with pytest.raises(PublishError) as info:
        make_publisher().delete("1234")
    assert (info.value.status, info.value.retryable) == (404, False)


@pytest.mark.parametrize("wrong", ["consumer_secret", "access_token_secret"])
def test_delete_with_wrong_credentials_is_permanent_without_secrets(
    fake: FakeX, make_publisher: MakePublisher, wrong: str
) -> None:
    posted = make_publisher().publish(make_post(), idempotency_key="d-1")
    assert posted.remote_id is not None
    bad_value = f"wrong-{wrong}-value"

    with pytest.raises(PublishError) as info:
        make_publisher(**{wrong: bad_value}).delete(posted.remote_id)

    assert (info.value.status, info.value.retryable) == (401, False)
    for secret in [*fake.credentials().values(), bad_value]:
        assert secret not in str(info.value)
        assert secret not in repr(info.value)
    assert len(fake.posts) == 1


def test_another_users_post_cannot_be_deleted(fake: FakeX, make_publisher: MakePublisher) -> None:
    fake.add_user("2000000000000000002-othertoken", "other-secret-0002", username="other")
    theirs = XPublisher(
        make_account(fake.credentials("2000000000000000002-othertoken"), fake.url), timeout=5
    )
    try:
        posted = theirs.publish(make_post(), idempotency_key="d-1")
    finally:
        theirs.close()
    assert posted.remote_id is not None

    with pytest.raises(PublishError, match="did not create") as info:
        make_publisher().delete(posted.remote_id)
    assert (info.value.status, info.value.retryable) == (403, False)
    assert len(fake.posts) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_delete_server_errors_are_retryable(
    fake: FakeX, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    posted = publisher.publish(make_post(), idempotency_key="d-1")
    assert posted.remote_id is not None
    fake.fail_next_delete(status=status)

    with pytest.raises(PublishError) as info:
        publisher.delete(posted.remote_id)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.posts) == 1

    publisher.delete(posted.remote_id)  # the retry works
    assert fake.posts == []


def test_the_deletion_rate_limit_waits_for_its_reset(
    fake: FakeX, make_publisher: MakePublisher
) -> None:
    reset = str(int(time.time()) + 600)
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
    fake.fail_next_delete(status=429, body=status_body(429), headers=headers)
    with pytest.raises(PublishError) as info:
        make_publisher().delete("1234")
    assert info.value.retryable and info.value.retry_after is not None
    assert 590 <= info.value.retry_after <= 600


def test_a_slow_x_makes_a_retryable_deletion(fake: FakeX, make_publisher: MakePublisher) -> None:
    fake.set_delay(1.0)
    with pytest.raises(PublishError) as info:
        make_publisher(timeout=0.3).delete("1234")
    assert info.value.retryable


@pytest.mark.parametrize(
    "remote_id", ["", "12/../34", "at://did:plc:x/app.bsky.feed.post/3k", "1 2"]
)
def test_an_id_that_is_not_an_x_post_id_is_refused_before_any_request(
    fake: FakeX, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not an X post id") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []


def test_the_fakes_state_file_forgets_deleted_posts(tmp_path: Path) -> None:
    state = tmp_path / "x-posts.jsonl"
    with FakeX(state_file=state) as fake:
        publisher = XPublisher(make_account(fake.credentials(), fake.url), timeout=5)
        try:
            gone = publisher.publish(make_post("gone"), idempotency_key="d-1")
            publisher.publish(make_post("kept"), idempotency_key="d-2")
            assert gone.remote_id is not None
            publisher.delete(gone.remote_id)
        finally:
            publisher.close()
    assert [p["text"] for p in read_posts(state)] == ["kept"]
    with FakeX(state_file=state) as again:
        assert [p["text"] for p in again.posts] == ["kept"]
