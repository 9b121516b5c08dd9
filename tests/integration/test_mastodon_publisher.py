"""MastodonPublisher against FakeMastodon: real HTTP on 127.0.0.1, through Mastodon.py."""

from __future__ import annotations

import dataclasses
import io
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from bot.config import AccountConfig
from bot.errors import ConfigError, FetchError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.mastodon import (
    INSTANCE_TTL,
    MAX_RETRY_AFTER,
    MEDIA_WAITS,
    MastodonPublisher,
    _retry_after,
    limits_from,
)
from tests.fakes.fake_mastodon import ACCESS_TOKEN, FakeMastodon

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
ALT = "Kenyan President William Ruto at the podium in Nairobi"

MakePublisher = Callable[..., MastodonPublisher]


def make_post(
    text: str = f"Ruto announces the end of the mission {ARTICLE_URL}",
    *,
    image: Image | None = None,
    language: str | None = "en",
) -> Post:
    return Post(
        account_id="masto",
        platform="mastodon",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=500,
        image=image,
        language=language,
    )


def make_account(
    credentials: dict[str, Any], api_base: str | None, **options: Any
) -> AccountConfig:
    return AccountConfig(
        id="masto",
        platform="mastodon",
        credentials=credentials,
        api_base=api_base,
        options=options,
    )


def jpeg(width: int = 64, height: int = 48, *, noise: bool = False) -> bytes:
    image = PILImage.new("RGB", (width, height), (200, 30, 30))
    if noise:  # incompressible: a big file for few pixels
        rng = random.Random(7)
        image.putdata(
            [
                (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                for _ in range(width * height)
            ]
        )
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def loader(data: bytes, seen: list[str] | None = None) -> Callable[[str], bytes]:
    def load(url: str) -> bytes:
        if seen is not None:
            seen.append(url)
        return data

    return load


def publish_error(publisher: MastodonPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server


@pytest.fixture
def make_publisher(fake: FakeMastodon) -> Iterator[MakePublisher]:
    """Publishers for ``fake``'s account; closed after the test. ``sleep`` never sleeps."""
    made: list[MastodonPublisher] = []

    def make(
        *,
        server: FakeMastodon | None = None,
        api_base: str | None = None,
        credentials: dict[str, str] | None = None,
        timeout: float = 5.0,
        load_image: Callable[[str], bytes] | None = None,
        sleeps: list[float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: str | bool,
    ) -> MastodonPublisher:
        server = server or fake
        account = make_account(
            credentials or server.credentials(), api_base or server.url, **options
        )
        context = PublisherContext(timeout=timeout)
        if load_image is not None:
            context = dataclasses.replace(context, load_image=load_image)
        publisher = MastodonPublisher(
            account,
            context,
            clock=clock,
            sleep=(sleeps.append if sleeps is not None else lambda _: None),
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- success -------------------------------------------------------------------------------


def test_publish_returns_the_new_statuss_id_and_url(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    [status] = fake.statuses
    assert result == PublishResult(remote_id=status["id"], url=status["url"])
    assert result.url == f"{fake.url}/@newsroom/{status['id']}"
    assert status["text"] == make_post().text
    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("POST", "/api/v1/statuses", 200)
    ]


def test_the_request_carries_visibility_language_token_and_idempotency_header(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(visibility="unlisted")
    publisher.publish(make_post(language="fr-HT"), idempotency_key="delivery-42")

    [status] = fake.statuses
    assert (status["visibility"], status["language"]) == ("unlisted", "fr")
    assert status["idempotency_key"] == "delivery-42"
    assert (status["spoiler_text"], status["sensitive"], status["media_ids"]) == ("", False, [])
    [request] = fake.requests
    assert request.authorization == f"Bearer {ACCESS_TOKEN}"
    assert request.idempotency_key == "delivery-42"  # the HTTP header Mastodon reads
    assert "idempotency_key" not in request.fields  # not a form field (apprise's mistake)
    assert "sensitive" not in request.fields  # unset: the account's own default applies
    assert request.content_type == "application/x-www-form-urlencoded"


def test_public_is_the_default_and_a_content_warning_is_sent(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    make_publisher(spoiler_text="Violence", sensitive=True).publish(
        make_post(language=None), idempotency_key="d-1"
    )
    [status] = fake.statuses
    assert (status["visibility"], status["language"]) == ("public", None)
    assert (status["spoiler_text"], status["sensitive"]) == ("Violence", True)


def test_the_registry_builds_a_mastodon_publisher(fake: FakeMastodon) -> None:
    publisher = create_publisher(make_account(fake.credentials(), fake.url))
    try:
        assert isinstance(publisher, MastodonPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 500
        assert publisher.spec.counting == "mastodon"
        assert publisher.spec.in_doubt is InDoubt.RETRY
        assert publisher.spec.supports_images
    finally:
        publisher.close()


def test_construction_does_no_io(
    fake: FakeMastodon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Mastodon.py reads a token that names an existing file as that file: not here.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "token-file").write_text("something else\n")
    publisher = MastodonPublisher(make_account({"access_token": "token-file"}, fake.url))
    publisher.close()
    assert fake.requests == []
    assert publisher._client.access_token == "token-file"


def test_a_long_url_counts_23_and_500_fit(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    url = "https://ctninfo.com/" + "a" * 300
    text = "é" * (500 - 24) + " " + url
    make_publisher().publish(make_post(text), idempotency_key="d-1")
    assert len(fake.statuses) == 1


# --- exactly once: the Idempotency-Key header ----------------------------------------------


def test_a_retry_after_a_lost_answer_returns_the_same_status(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    publisher = make_publisher()

    error = publish_error(publisher)  # created, but the answer never came
    assert error.retryable
    retried = publisher.publish(make_post(), idempotency_key="d-1")

    [status] = fake.statuses
    assert retried == PublishResult(remote_id=status["id"], url=status["url"])
    assert [(r.status, r.note) for r in fake.requests] == [
        (None, "accept_then_drop"),
        (200, "idempotent repeat"),
    ]


def test_without_the_key_a_retry_would_post_twice(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    """The control experiment: what the idempotency key prevents."""
    publisher = make_publisher()
    publisher.publish(make_post(), idempotency_key="d-1")
    fake.forget_idempotency_keys()  # an hour later
    publisher.publish(make_post(), idempotency_key="d-1")
    assert len(fake.statuses) == 2


def test_different_keys_make_different_statuses(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    first = publisher.publish(make_post(), idempotency_key="d-1")
    second = publisher.publish(make_post(), idempotency_key="d-2")
    assert first.remote_id != second.remote_id
    assert len(fake.statuses) == 2


# --- the instance's limits -----------------------------------------------------------------


def test_live_spec_reads_the_instances_limit_and_caches_it_for_an_hour(
    make_publisher: MakePublisher,
) -> None:
    clock = Clock()
    with FakeMastodon(max_characters=1000) as big:
        publisher = make_publisher(server=big, clock=clock)

        assert publisher.live_spec().max_length == 1000
        assert publisher.live_spec().max_length == 1000
        clock.now += INSTANCE_TTL + 1
        big.max_characters = 750
        assert publisher.live_spec().max_length == 750

        paths = [r.path.rstrip("/") for r in big.requests]  # Mastodon.py adds a slash
    assert paths == ["/api/v2/instance", "/api/v2/instance"]
    assert publisher.live_spec().counting == "mastodon"


def test_live_spec_falls_back_to_500_when_the_instance_is_down(
    fake: FakeMastodon, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    fake.max_characters = 1000
    fake.down()
    with caplog.at_level(logging.WARNING, logger="bot.publishers.mastodon"):
        spec = make_publisher().live_spec()
    assert spec == MastodonPublisher.spec
    assert "cannot read the limits" in caplog.text


def test_live_spec_falls_back_to_500_when_nothing_listens(make_publisher: MakePublisher) -> None:
    publisher = make_publisher(api_base=f"http://127.0.0.1:{free_port()}")
    assert publisher.live_spec() == MastodonPublisher.spec


def test_live_spec_reads_v1_from_servers_older_than_4(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.max_characters = 800
    fake.fail_next(status=404, body={"error": "Record not found"}, on="instance")
    assert make_publisher().live_spec().max_length == 800
    assert [(r.path.rstrip("/"), r.status) for r in fake.requests] == [
        ("/api/v2/instance", 404),
        ("/api/v1/instance", 200),
    ]


def test_a_content_warning_takes_its_length_from_the_limit(
    make_publisher: MakePublisher,
) -> None:
    assert make_publisher(spoiler_text="Graphic 📷").live_spec().max_length == 500 - 9


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({}, (500, 23, 16 * 1024 * 1024)),
        (
            {
                "configuration": {
                    "statuses": {"max_characters": 5000, "characters_reserved_per_url": 23},
                    "media_attachments": {"image_size_limit": 10_485_760},
                }
            },
            (5000, 23, 10_485_760),
        ),
        ({"configuration": {"statuses": {"max_characters": "lots"}}}, (500, 23, 16 * 1024 * 1024)),
        ({"configuration": {"statuses": {"max_characters": 0}}}, (500, 23, 16 * 1024 * 1024)),
    ],
)
def test_limits_table(info: dict[str, Any], expected: tuple[int, int, int]) -> None:
    limits = limits_from(info)
    assert (
        limits.max_characters,
        limits.characters_reserved_per_url,
        limits.image_size_limit,
    ) == expected


# --- Mastodon's refusals -------------------------------------------------------------------


def test_too_long_is_a_permanent_422_with_mastodons_message(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    error = publish_error(make_publisher(), make_post("a" * 501))

    assert (error.status, error.retryable, error.platform) == (422, False, "mastodon")
    assert "Validation failed: Text character limit of 500 exceeded" in str(error)
    assert fake.statuses == []


def test_a_revoked_token_is_a_permanent_401_without_the_token(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    wrong = "revoked-token-value-1234"
    error = publish_error(make_publisher(credentials={"access_token": wrong}))

    assert (error.status, error.retryable) == (401, False)
    assert "The access token is invalid" in str(error)  # Mastodon's own message
    assert "write:statuses" in str(error)  # the hint
    for secret in (wrong, ACCESS_TOKEN):
        assert secret not in str(error)
        assert secret not in repr(error)
    assert fake.statuses == []


def test_a_token_without_the_scope_is_a_permanent_403(make_publisher: MakePublisher) -> None:
    with FakeMastodon(scopes=("read",)) as fake:
        error = publish_error(make_publisher(server=fake))
    assert (error.status, error.retryable) == (403, False)
    assert "This action is outside the authorized scopes" in str(error)
    assert "write:statuses" in str(error)


def test_a_wrong_api_base_path_is_a_permanent_404(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    error = publish_error(make_publisher(api_base=f"{fake.url}/wrong"))
    assert (error.status, error.retryable) == (404, False)
    assert "api_base" in str(error)


class _Redirect(BaseHTTPRequestHandler):
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(301)
        self.send_header("Location", "https://mastodon.example/api/v1/statuses")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("body", [b"<html>301 Moved Permanently</html>", b"{}"])
def test_an_api_base_that_redirects_is_a_permanent_error_saying_where(
    make_publisher: MakePublisher, body: bytes
) -> None:
    handler = type("Handler", (_Redirect,), {"body": body})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            error = publish_error(make_publisher(api_base=f"http://127.0.0.1:{server.server_port}"))
        finally:
            server.shutdown()
            thread.join()
    assert (error.status, error.retryable) == (301, False)
    assert "redirects (301 to https://mastodon.example/api/v1/statuses)" in str(error)


# --- retryable -----------------------------------------------------------------------------


def test_429_is_retryable_after_the_reset(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=600)
    publisher = make_publisher()
    error = publish_error(publisher)

    assert (error.status, error.retryable) == (429, True)
    assert error.retry_after == pytest.approx(600, abs=2)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id  # next one works


def test_the_fakes_own_window_runs_out(make_publisher: MakePublisher) -> None:
    with FakeMastodon(rate_limit=2, rate_period=120) as fake:
        publisher = make_publisher(server=fake)
        publisher.publish(make_post("one"), idempotency_key="d-1")
        publisher.publish(make_post("two"), idempotency_key="d-2")
        error = publish_error(publisher, make_post("three"))
    assert error.status == 429
    assert error.retry_after == pytest.approx(120, abs=3)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(
    fake: FakeMastodon, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status)
    error = publish_error(make_publisher())
    assert (error.status, error.retryable, error.retry_after) == (status, True, None)


def test_mastodon_down_then_up(fake: FakeMastodon, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    fake.down()
    error = publish_error(publisher)  # nginx's HTML page, not JSON
    assert (error.status, error.retryable) == (503, True)
    fake.up()
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id


def test_connection_refused_is_retryable(make_publisher: MakePublisher) -> None:
    error = publish_error(make_publisher(api_base=f"http://127.0.0.1:{free_port()}"))
    assert (error.retryable, error.status) == (True, None)
    assert "cannot reach Mastodon" in str(error)


def test_a_slow_instance_is_a_retryable_timeout(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.set_delay(1.0)
    started = time.monotonic()
    error = publish_error(make_publisher(timeout=0.2))

    assert time.monotonic() - started < 0.9
    assert (error.retryable, error.status) == (True, None)
    assert "did not answer in time" in str(error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-RateLimit-Reset": "garbage"}, None),
        ({"X-RateLimit-Reset": "1970-01-01T00:26:40.000000Z"}, 600.0),  # 1600
        ({"X-RateLimit-Reset": "1970-01-01T00:26:40+00:00"}, 600.0),
        ({"X-RateLimit-Reset": "1600"}, 600.0),  # GoToSocial: Unix seconds
        ({"X-RateLimit-Reset": "1970-01-01T00:10:00Z"}, 1.0),  # in the past
        ({"X-RateLimit-Reset": "2999-01-01T00:00:00Z"}, MAX_RETRY_AFTER),
        (  # measured from the server's own Date (its clock is 100 s behind ours)
            {"X-RateLimit-Reset": "1970-01-01T00:26:40Z", "Date": "Thu, 01 Jan 1970 00:15:00 GMT"},
            700.0,
        ),
    ],
)
def test_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert _retry_after(headers, now=1000.0) == expected


# --- images --------------------------------------------------------------------------------


def test_images_are_uploaded_with_their_alt_text(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    seen: list[str] = []
    data = jpeg()
    publisher = make_publisher(images=True, load_image=loader(data, seen))

    result = publisher.publish(make_post(image=Image(IMAGE_URL, alt=ALT)), idempotency_key="d-1")

    [media] = fake.media
    [status] = fake.statuses
    assert seen == [IMAGE_URL]
    assert (media["description"], media["mime"], media["data"]) == (ALT, "image/jpeg", data)
    assert status["media_ids"] == [media["id"]] and media["status_id"] == status["id"]
    assert result.remote_id == status["id"]
    assert [(r.method, r.path.rstrip("/")) for r in fake.requests] == [
        ("GET", "/api/v2/instance"),  # the size limit
        ("POST", "/api/v2/media"),
        ("POST", "/api/v1/statuses"),
    ]


def test_images_are_off_unless_asked_for(fake: FakeMastodon, make_publisher: MakePublisher) -> None:
    seen: list[str] = []
    publisher = make_publisher(load_image=loader(jpeg(), seen))
    publisher.publish(make_post(image=Image(IMAGE_URL, alt=ALT)), idempotency_key="d-1")
    assert (seen, fake.media, len(fake.statuses)) == ([], [], 1)


def test_an_image_that_fails_to_load_still_posts_the_text(
    fake: FakeMastodon, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(url: str) -> bytes:
        raise FetchError("HTTP 404", url=url, status=404)

    publisher = make_publisher(images=True, load_image=broken)
    with caplog.at_level(logging.WARNING, logger="bot.publishers.mastodon"):
        publisher.publish(make_post(image=Image(IMAGE_URL, alt=ALT)), idempotency_key="d-1")

    [status] = fake.statuses
    assert status["media_ids"] == [] and fake.media == []
    assert f"posting {ARTICLE_URL} without its image {IMAGE_URL}" in caplog.text


def test_bytes_that_are_not_an_image_still_post_the_text(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(images=True, load_image=loader(b"<html>not found</html>"))
    publisher.publish(make_post(image=Image(IMAGE_URL)), idempotency_key="d-1")
    assert [s["media_ids"] for s in fake.statuses] == [[]]


def test_an_image_over_the_instances_limit_is_shrunk_to_fit(
    make_publisher: MakePublisher,
) -> None:
    data = jpeg(400, 300, noise=True)
    with FakeMastodon(image_size_limit=40_000) as fake:
        assert len(data) > 40_000
        publisher = make_publisher(server=fake, images=True, load_image=loader(data))
        publisher.publish(make_post(image=Image(IMAGE_URL, alt=ALT)), idempotency_key="d-1")
        [media] = fake.media
    assert media["size"] <= 40_000


def test_an_image_still_processing_is_waited_for(make_publisher: MakePublisher) -> None:
    sleeps: list[float] = []
    with FakeMastodon(media_processing=2) as fake:
        publisher = make_publisher(
            server=fake, images=True, load_image=loader(jpeg()), sleeps=sleeps
        )
        publisher.publish(make_post(image=Image(IMAGE_URL)), idempotency_key="d-1")
        statuses, requests = fake.statuses, fake.requests

    [status] = statuses
    assert len(status["media_ids"]) == 1
    assert [(r.path.rsplit("/", 1)[0], r.status) for r in requests[1:]] == [
        ("/api/v2", 202),
        ("/api/v1/media", 206),
        ("/api/v1/media", 206),
        ("/api/v1/media", 200),
        ("/api/v1", 200),
    ]
    assert sleeps == list(MEDIA_WAITS[:3])


def test_an_image_that_never_finishes_processing_is_left_out(
    make_publisher: MakePublisher,
) -> None:
    sleeps: list[float] = []
    with FakeMastodon(media_processing=100) as fake:
        publisher = make_publisher(
            server=fake, images=True, load_image=loader(jpeg()), sleeps=sleeps
        )
        publisher.publish(make_post(image=Image(IMAGE_URL)), idempotency_key="d-1")
        [status] = fake.statuses
    assert status["media_ids"] == []
    assert sleeps == list(MEDIA_WAITS)


def test_a_media_rate_limit_posts_the_text_without_the_image(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=1800, on="media")
    publisher = make_publisher(images=True, load_image=loader(jpeg()))
    publisher.publish(make_post(image=Image(IMAGE_URL)), idempotency_key="d-1")
    assert [s["media_ids"] for s in fake.statuses] == [[]]


def test_a_server_error_on_the_upload_is_retryable(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=502, on="media")
    publisher = make_publisher(images=True, load_image=loader(jpeg()))
    error = publish_error(publisher, make_post(image=Image(IMAGE_URL)))
    assert (error.status, error.retryable) == (502, True)
    assert fake.statuses == []


def test_a_retry_with_an_image_returns_the_first_status(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    publisher = make_publisher(images=True, load_image=loader(jpeg()))
    post = make_post(image=Image(IMAGE_URL, alt=ALT))

    assert publish_error(publisher, post).retryable
    retried = publisher.publish(post, idempotency_key="d-1")

    [status] = fake.statuses
    assert retried.remote_id == status["id"]
    assert len(status["media_ids"]) == 1


# --- configuration -------------------------------------------------------------------------


def test_a_missing_api_base_is_a_config_error_naming_it(fake: FakeMastodon) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.masto\.api_base is required"):
        MastodonPublisher(make_account(fake.credentials(), None))


def test_a_missing_token_is_a_config_error_naming_it(fake: FakeMastodon) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.masto\.credentials\.access_token\b"):
        MastodonPublisher(make_account({}, fake.url))
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"visibility": "everyone"},
            r"options\.visibility must be one of public, unlisted, private, direct \(got 'everyone'\)",
        ),
        ({"visibility": "Public"}, r"options\.visibility must be one of"),
        ({"images": "yes"}, r"options\.images must be true or false"),
        ({"sensitive": 1}, r"options\.sensitive must be true or false"),
        ({"spoiler_text": 3}, r"options\.spoiler_text must be text"),
        ({"spoiler_text": "x" * 201}, r"options\.spoiler_text is too long"),
        (
            {"visiblity": "public"},
            r"options\.visiblity: unknown option for mastodon \(known: visibility, images",
        ),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(
    fake: FakeMastodon, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        MastodonPublisher(make_account(fake.credentials(), fake.url, **options))


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_id(publisher: MastodonPublisher, text: str = "Ruto announces the end") -> str:
    result = publisher.publish(make_post(text), idempotency_key=f"d-{text}")
    assert result.remote_id is not None
    return result.remote_id


def test_mastodon_can_delete(make_publisher: MakePublisher) -> None:
    assert MastodonPublisher.spec.can_delete
    publisher = make_publisher()
    assert isinstance(publisher, Deleter)
    assert publisher.live_spec().can_delete


def test_delete_takes_the_status_down_and_logs_it(
    fake: FakeMastodon, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_id(publisher, "another story")
    gone = posted_id(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.mastodon"):
        publisher.delete(gone)

    assert [s["id"] for s in fake.statuses] == [kept]
    assert [s["id"] for s in fake.deleted] == [gone]
    last = fake.requests[-1]
    assert (last.method, last.path, last.status) == ("DELETE", f"/api/v1/statuses/{gone}", 200)
    assert last.authorization == f"Bearer {ACCESS_TOKEN}"
    assert f"account masto deleted status {gone}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeMastodon, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    publisher.delete(gone)

    with caplog.at_level(logging.INFO, logger="bot.publishers.mastodon"):
        publisher.delete(gone)  # Mastodon: 404 Record not found

    assert [r.status for r in fake.requests if r.method == "DELETE"] == [200, 404]
    assert f"status {gone} was already gone" in caplog.text


def test_delete_with_a_revoked_token_is_permanent_without_the_token(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    gone = posted_id(make_publisher())
    wrong = "revoked-token-value-1234"

    with pytest.raises(PublishError) as info:
        make_publisher(credentials={"access_token": wrong}).delete(gone)

    assert (info.value.status, info.value.retryable) == (401, False)
    for secret in (wrong, ACCESS_TOKEN):
        assert secret not in str(info.value)
        assert secret not in repr(info.value)
    assert len(fake.statuses) == 1


def test_delete_without_the_scope_is_a_permanent_403(make_publisher: MakePublisher) -> None:
    with FakeMastodon(scopes=("read",)) as fake, pytest.raises(PublishError) as info:
        make_publisher(server=fake).delete("109000000000000001")
    assert (info.value.status, info.value.retryable) == (403, False)
    assert "write:statuses" in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_delete_server_errors_are_retryable(
    fake: FakeMastodon, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    fake.fail_next(status=status, on="delete")

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.statuses) == 1

    publisher.delete(gone)
    assert fake.statuses == []


def test_the_deletion_rate_limit_is_retryable_after_its_reset(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=900, on="delete")
    with pytest.raises(PublishError) as info:
        make_publisher().delete("109000000000000001")
    assert (info.value.status, info.value.retryable) == (429, True)
    assert info.value.retry_after == pytest.approx(900, abs=2)


def test_the_fakes_deletion_window_runs_out(
    fake: FakeMastodon, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    for n in range(30):
        publisher.delete(str(109_000_000_000_000_000 + n))  # unknown: gone already
    with pytest.raises(PublishError) as info:
        publisher.delete("109000000000000099")
    assert info.value.status == 429


def test_a_404_page_that_is_not_mastodons_answer_is_an_error(
    make_publisher: MakePublisher,
) -> None:
    handler = type("Handler", (_NotFoundPage,), {})
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            with pytest.raises(PublishError) as info:
                make_publisher(api_base=f"http://127.0.0.1:{server.server_port}").delete("1")
        finally:
            server.shutdown()
            thread.join()
    assert (info.value.status, info.value.retryable) == (404, False)
    assert "api_base" in str(info.value)


class _NotFoundPage(BaseHTTPRequestHandler):
    def do_DELETE(self) -> None:
        body = b"<html><body>404 Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_deleting_from_an_unreachable_instance_is_retryable(make_publisher: MakePublisher) -> None:
    publisher = make_publisher(api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PublishError) as info:
        publisher.delete("109000000000000001")
    assert info.value.retryable


@pytest.mark.parametrize("remote_id", ["", "1/../2", "1?x=1", "at://did:plc:x/a/b"])
def test_an_id_that_is_not_a_status_id_is_refused_before_any_request(
    fake: FakeMastodon, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Mastodon status id") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
