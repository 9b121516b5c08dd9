"""LinkedInPublisher against FakeLinkedIn: real HTTP on 127.0.0.1, the real three-call flow."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from PIL import Image as PILImage

from bot.config import AccountConfig
from bot.errors import ConfigError, FetchError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.linkedin import (
    DEFAULT_API_BASE,
    DEFAULT_RETRY_AFTER,
    DEFAULT_VERSION,
    LinkedInPublisher,
    _retry_after,
    little_text,
)
from tests.fakes.fake_linkedin import ORGANIZATION_URN, FakeLinkedIn, parse_little_text

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
TEXT = f"Ruto announces the end of the mission #Haïti {ARTICLE_URL}"

MakePublisher = Callable[..., LinkedInPublisher]


def jpeg(width: int = 120, height: int = 63) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def make_post(text: str = TEXT, *, image: bool = True) -> Post:
    return Post(
        account_id="li-ctn",
        platform="linkedin",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=3000,
        image=Image(IMAGE_URL) if image else None,
        title="Ruto announces the end of the Kenyan-led mission in Haiti",
        description="The Kenyan president said the last police officers leave in December.",
        language="en",
    )


def make_account(
    credentials: dict[str, str], api_base: str | None, **options: str | int | float | bool
) -> AccountConfig:
    return AccountConfig(
        id="li-ctn",
        platform="linkedin",
        credentials=credentials,
        api_base=api_base,
        options=options,
    )


def publish_error(publisher: LinkedInPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


def assert_no_secret(error: BaseException, secret: str) -> None:
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for text in shown:
        assert secret not in text


@pytest.fixture
def fake() -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn() as server:
        yield server


@pytest.fixture
def loaded() -> list[str]:
    """The image URLs the publishers under test asked to load."""
    return []


@pytest.fixture
def make_publisher(fake: FakeLinkedIn, loaded: list[str]) -> Iterator[MakePublisher]:
    """Publishers for the fake's page; ``load_image`` replaces the image loader."""
    made: list[LinkedInPublisher] = []

    def default_loader(url: str) -> bytes:
        loaded.append(url)
        return jpeg()

    def make(
        *,
        timeout: float = 5.0,
        load_image: Callable[[str], bytes] | None = None,
        credentials: dict[str, str] | None = None,
        **options: str | int | float | bool,
    ) -> LinkedInPublisher:
        context = PublisherContext(load_image=load_image or default_loader)
        account = make_account(credentials or fake.credentials(), fake.url, **options)
        publisher = LinkedInPublisher(account, context, timeout=timeout)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- success -----------------------------------------------------------------------------


def test_an_article_share_with_an_uploaded_thumbnail(
    fake: FakeLinkedIn, make_publisher: MakePublisher, loaded: list[str]
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    [post] = fake.posts
    assert result == PublishResult(
        remote_id=post["id"], url=f"https://www.linkedin.com/feed/update/{post['id']}/"
    )
    assert result.remote_id is not None and result.remote_id.startswith("urn:li:share:")
    assert post["author"] == ORGANIZATION_URN
    assert (post["visibility"], post["lifecycleState"]) == ("PUBLIC", "PUBLISHED")
    assert post["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert post["version"] == DEFAULT_VERSION
    article = post["article"]
    assert article["source"] == ARTICLE_URL
    assert article["title"] == make_post().title
    assert article["description"] == make_post().description
    assert article["thumbnail"].startswith("urn:li:image:")
    assert fake.image(article["thumbnail"]) == jpeg()  # the bytes really were uploaded
    assert loaded == [IMAGE_URL]
    assert post["text"] == TEXT and not post["truncated"]
    assert post["hashtags"] == ["Haïti"]
    assert [(r.method, r.path, r.status) for r in fake.requests] == [
        ("POST", "/rest/images", 200),
        ("PUT", "/dms-uploads/upload-000001", 201),
        ("POST", "/rest/posts", 201),
    ]


def test_a_post_without_an_image_has_no_thumbnail_and_no_upload(
    fake: FakeLinkedIn, make_publisher: MakePublisher, loaded: list[str]
) -> None:
    make_publisher().publish(make_post(image=False), idempotency_key="d-1")

    assert "thumbnail" not in fake.posts[0]["article"]
    assert loaded == []
    assert [r.path for r in fake.requests] == ["/rest/posts"]


def test_an_untitled_article_uses_its_url_as_title(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    post = Post("li-ctn", "linkedin", TEXT, ARTICLE_URL, len(TEXT), 3000)
    make_publisher().publish(post, idempotency_key="d-1")
    assert fake.posts[0]["article"]["title"] == ARTICLE_URL
    assert "description" not in fake.posts[0]["article"]


def test_the_registry_builds_a_linkedin_publisher(fake: FakeLinkedIn) -> None:
    publisher = create_publisher(make_account(fake.credentials(), fake.url))
    try:
        assert isinstance(publisher, LinkedInPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 3000
        assert publisher.spec.counting == "utf16"
        assert publisher.spec.in_doubt is InDoubt.HOLD
        assert publisher.spec.supports_images
    finally:
        publisher.close()
    assert fake.requests == []


def test_construction_does_no_io_and_defaults(fake: FakeLinkedIn) -> None:
    publisher = LinkedInPublisher(make_account(fake.credentials(), None))
    publisher.close()
    assert (publisher.api_base, publisher.version) == (DEFAULT_API_BASE, DEFAULT_VERSION)
    assert publisher.author == ORGANIZATION_URN
    assert fake.requests == []


# --- little text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Ruto (Kenya) meets the press [live] <update>",
        "@ctninfo_news: vote_count *up* ~5% {draft} | back\\slash",
        "Ayiti: lekòl yo ap rouvri #Haïti #PortAuPrince #Édition_2026",
        "C# and F# are not tags, #1 is not either, nor a lone # sign",
        "Sèvis (2026) 🇭🇹🎉 #Kreyòl https://ctninfo.com/a_b/(x)?utm_source=li&utm_medium=social#top",
        "https://ctninfo.com/#anchor is a link, not a #hashtag",
    ],
)
def test_reserved_characters_reach_linkedin_intact(
    fake: FakeLinkedIn, make_publisher: MakePublisher, text: str
) -> None:
    make_publisher().publish(make_post(text, image=False), idempotency_key="d-1")

    [post] = fake.posts
    assert not post["truncated"]
    assert post["text"] == text


@pytest.mark.parametrize(
    ("text", "expected", "hashtags"),
    [
        ("plain words", "plain words", ()),
        ("(parentheses)", r"\(parentheses\)", ()),
        ("@name_x", r"\@name\_x", ()),
        ("a\\b", r"a\\b", ()),
        ("#Haïti rocks", r"{hashtag|\#|Haïti} rocks", ("Haïti",)),
        ("#my_tag", r"{hashtag|\#|my\_tag}", ("my_tag",)),
        ("#2026 C#", r"\#2026 C\#", ()),
        ("x #a#b", r"x {hashtag|\#|a}\#b", ("a",)),
        ("https://x.ht/#top_1", r"https://x.ht/\#top\_1", ()),
    ],
)
def test_little_text_table(text: str, expected: str, hashtags: tuple[str, ...]) -> None:
    assert little_text(text) == expected
    shown = parse_little_text(expected)
    assert (shown.text, shown.hashtags, shown.truncated_at) == (text, hashtags, None)


def test_the_fake_cuts_unescaped_text_like_linkedin() -> None:
    shown = parse_little_text("This is a test. (This is also a test.)")
    assert shown.text == "This is a test. "
    assert shown.truncated_at == 16


# --- LinkedIn's answers --------------------------------------------------------------------


def test_a_repeated_post_is_a_duplicate_result_naming_the_first(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    first = publisher.publish(make_post(), idempotency_key="d-1")

    again = publisher.publish(make_post(), idempotency_key="d-1")

    assert again == PublishResult(remote_id=first.remote_id, url=first.url, duplicate=True)
    assert len(fake.posts) == 1
    assert [r.status for r in fake.requests if r.path == "/rest/posts"] == [201, 422]


def test_an_answer_lost_after_linkedin_created_the_post_is_retried_into_a_duplicate(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.retryable, error.status) == (True, None)
    retried = publisher.publish(make_post(), idempotency_key="d-1")

    assert retried.duplicate
    assert retried.remote_id == fake.posts[0]["id"]
    assert len(fake.posts) == 1


def test_a_slow_linkedin_is_a_retryable_timeout(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    error = publish_error(make_publisher(timeout=0.2), make_post(image=False))
    assert (error.retryable, error.status) == (True, None)
    assert "did not answer in time" in str(error)


def test_an_expired_token_is_permanent_with_a_hint_and_without_the_token(
    fake: FakeLinkedIn, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    fake.expire_token()
    with caplog.at_level(logging.DEBUG, logger="bot.publishers.linkedin"):
        error = publish_error(make_publisher())

    assert (error.status, error.retryable, error.platform) == (401, False, "linkedin")
    assert "expired" in str(error)
    assert "60 days" in str(error) and "authorize" in str(error)
    assert_no_secret(error, fake.access_token)
    assert fake.access_token not in caplog.text
    assert fake.posts == []
    assert [r.path for r in fake.requests] == ["/rest/images"]  # no post after the 401
    assert "thumbnail" not in caplog.text


def test_an_unknown_token_is_permanent(fake: FakeLinkedIn, make_publisher: MakePublisher) -> None:
    wrong = "AQVwrong-token-value-000000"
    error = publish_error(
        make_publisher(credentials={"access_token": wrong, "organization_id": "2414183"})
    )
    assert (error.status, error.retryable) == (401, False)
    assert "Invalid access token" in str(error)
    assert_no_secret(error, wrong)


def test_a_page_the_member_no_longer_administers_is_permanent_403(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.revoke_page()
    error = publish_error(make_publisher())

    assert (error.status, error.retryable) == (403, False)
    assert "Not enough permissions" in str(error)
    assert "w_organization_social" in str(error)
    assert_no_secret(error, fake.access_token)


def test_another_pages_author_is_refused(fake: FakeLinkedIn, make_publisher: MakePublisher) -> None:
    credentials = {"access_token": fake.access_token, "author": "urn:li:organization:999"}
    error = publish_error(make_publisher(credentials=credentials), make_post(image=False))
    assert (error.status, error.retryable) == (403, False)


@pytest.mark.parametrize(("retry_after", "expected"), [(120, 120.0), (None, DEFAULT_RETRY_AFTER)])
def test_rate_limits_wait_for_retry_after_or_an_hour(
    fake: FakeLinkedIn, make_publisher: MakePublisher, retry_after: int | None, expected: float
) -> None:
    fake.rate_limit_next(retry_after=retry_after)
    error = publish_error(make_publisher())

    assert (error.status, error.retryable, error.retry_after) == (429, True, expected)
    assert "throttle" in str(error)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(
    fake: FakeLinkedIn, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.status, error.retryable) == (status, True)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id


def test_other_4xx_are_permanent_with_linkedins_message(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.fail_next(
        status=422, body={"message": "ERROR :: /commentary :: text is too long", "status": 422}
    )
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (422, False)
    assert "/commentary :: text is too long" in str(error)


def test_a_retired_api_version_is_permanent_with_a_hint(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    error = publish_error(make_publisher(version=202401), make_post(image=False))
    assert (error.status, error.retryable) == (426, False)
    assert "202401 is not active" in str(error)
    assert "options.version" in str(error)


def test_a_created_post_without_its_id_is_retryable(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=201, body={})
    error = publish_error(make_publisher(), make_post(image=False))
    assert (error.status, error.retryable) == (201, True)


# --- the thumbnail -------------------------------------------------------------------------


def _fetch_fails(url: str) -> bytes:
    raise FetchError("404 Not Found", url=url, status=404)


@pytest.mark.parametrize(
    ("setup", "loader", "reason"),
    [
        (lambda f: f.fail_image_next("initialize", status=500), None, "initializeUpload"),
        (lambda f: f.fail_image_next("upload", status=500), None, "upload"),
        (lambda f: None, _fetch_fails, "404 Not Found"),
        (lambda f: None, lambda url: b"<html>not an image</html>", "not a usable image"),
    ],
    ids=["initialize", "upload", "fetch", "decode"],
)
def test_a_failed_image_posts_the_article_without_a_thumbnail(
    fake: FakeLinkedIn,
    make_publisher: MakePublisher,
    caplog: pytest.LogCaptureFixture,
    setup: Callable[[FakeLinkedIn], Any],
    loader: Callable[[str], bytes] | None,
    reason: str,
) -> None:
    setup(fake)
    with caplog.at_level(logging.WARNING, logger="bot.publishers.linkedin"):
        result = make_publisher(load_image=loader).publish(make_post(), idempotency_key="d-1")

    assert result.remote_id == fake.posts[0]["id"]
    assert "thumbnail" not in fake.posts[0]["article"]
    [record] = caplog.records
    assert "without a thumbnail" in record.getMessage()
    assert reason in record.getMessage()
    assert ARTICLE_URL in record.getMessage()
    assert fake.access_token not in caplog.text


def test_a_large_image_is_shrunk_under_five_megabytes(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    buf = io.BytesIO()
    noise = PILImage.effect_noise((1800, 1800), 100).convert("RGB")
    noise.save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > 5 * 1024 * 1024

    make_publisher(load_image=lambda url: big).publish(make_post(), idempotency_key="d-1")

    uploaded = fake.image(fake.posts[0]["article"]["thumbnail"])
    assert uploaded is not None and len(uploaded) <= 5 * 1024 * 1024


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("{fake}/dms-uploads/1", True),
        ("https://www.linkedin.com/dms-uploads/sp/abc", True),
        ("https://linkedin.com/x", True),
        ("http://www.linkedin.com/dms-uploads/abc", False),
        ("https://linkedin.com.evil.example/x", False),
        ("https://evil.example/upload", False),
    ],
)
def test_the_token_only_goes_to_trusted_upload_hosts(
    fake: FakeLinkedIn, make_publisher: MakePublisher, url: str, trusted: bool
) -> None:
    assert make_publisher()._trusted(url.format(fake=fake.url)) is trusted


def test_an_untrusted_upload_url_is_not_sent_the_token(
    fake: FakeLinkedIn, make_publisher: MakePublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher = make_publisher()
    real_post = publisher._session.post
    puts: list[str] = []

    def post(url: str, **kwargs: Any) -> requests.Response:
        response = real_post(url, **kwargs)
        if url.endswith("/rest/images"):
            response._content = response.content.replace(
                fake.url.encode(), b"https://uploads.evil.example"
            )
        return response

    monkeypatch.setattr(publisher._session, "post", post)
    monkeypatch.setattr(publisher._session, "put", lambda url, **kw: puts.append(url))

    publisher.publish(make_post(), idempotency_key="d-1")
    assert puts == []
    assert "thumbnail" not in fake.posts[0]["article"]


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "options", "message"),
    [
        ({"organization_id": "1"}, {}, r"credentials\.access_token"),
        (
            {"access_token": "tok-123"},
            {},
            r"credentials\.organization_id \(or credentials\.author\)",
        ),
        ({"access_token": "tok-123", "organization_id": "ctn"}, {}, "numeric id"),
        ({"access_token": "tok-123", "author": "ctn"}, {}, "must be a URN"),
        ({"access_token": "tok-123", "organization_id": "1"}, {"version": "2026-10"}, "YYYYMM"),
    ],
)
def test_configuration_errors_name_the_key(
    credentials: dict[str, str], options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        LinkedInPublisher(make_account(credentials, None, **options))


@pytest.mark.parametrize(
    ("credentials", "author"),
    [
        ({"organization_id": "2414183"}, "urn:li:organization:2414183"),
        ({"organization_id": "urn:li:organization:2414183"}, "urn:li:organization:2414183"),
        ({"author": "urn:li:organization:77"}, "urn:li:organization:77"),
    ],
)
def test_the_author_urn(credentials: dict[str, str], author: str) -> None:
    publisher = LinkedInPublisher(make_account({"access_token": "tok-123"} | credentials, None))
    publisher.close()
    assert publisher.author == author


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        ("garbage", DEFAULT_RETRY_AFTER),
        ("120", 120.0),
        ("0", 1.0),
        ("1e12", 25 * 3600.0),
        ("Thu, 01 Jan 1970 00:20:00 GMT", 200.0),
    ],
)
def test_retry_after_table(header: str | None, expected: float) -> None:
    assert _retry_after(header, now=1000.0) == expected


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_urn(publisher: LinkedInPublisher, text: str = TEXT) -> str:
    result = publisher.publish(make_post(text, image=False), idempotency_key="d-1")
    assert result.remote_id is not None
    return result.remote_id


def test_linkedin_can_delete(make_publisher: MakePublisher) -> None:
    assert LinkedInPublisher.spec.can_delete
    assert isinstance(make_publisher(), Deleter)


def test_delete_sends_the_encoded_urn_with_the_posting_headers(
    fake: FakeLinkedIn, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_urn(publisher, "another story")
    gone = posted_urn(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.linkedin"):
        publisher.delete(gone)

    assert [p["id"] for p in fake.posts] == [kept]
    assert [p["id"] for p in fake.deleted] == [gone]
    last = fake.requests[-1]
    encoded = gone.replace(":", "%3A")
    assert (last.method, last.path, last.status) == ("DELETE", f"/rest/posts/{encoded}", 204)
    assert f"account li-ctn deleted post {gone}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeLinkedIn, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_urn(publisher)
    publisher.delete(gone)
    publisher.delete(gone)  # LinkedIn: 204 again
    with caplog.at_level(logging.INFO, logger="bot.publishers.linkedin"):
        publisher.delete("urn:li:share:1")  # never known: 404

    assert [r.status for r in fake.requests if r.method == "DELETE"] == [204, 204, 404]
    assert "post urn:li:share:1 was already gone" in caplog.text


def test_delete_with_an_expired_token_is_permanent_without_the_token(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    gone = posted_urn(make_publisher())
    fake.expire_token()

    with pytest.raises(PublishError) as info:
        make_publisher().delete(gone)

    assert (info.value.status, info.value.retryable) == (401, False)
    assert "authorize" in str(info.value)
    assert_no_secret(info.value, fake.access_token)
    assert len(fake.posts) == 1


def test_delete_with_an_unknown_token_is_permanent(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    gone = posted_urn(make_publisher())
    wrong = "AQVwrong-token-value-000000"
    publisher = make_publisher(credentials={"access_token": wrong, "organization_id": "2414183"})
    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (401, False)
    assert_no_secret(info.value, wrong)


def test_deleting_for_a_page_the_member_no_longer_administers_is_permanent_403(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    gone = posted_urn(make_publisher())
    fake.revoke_page()
    with pytest.raises(PublishError) as info:
        make_publisher().delete(gone)
    assert (info.value.status, info.value.retryable) == (403, False)
    assert "refused the deletion" in str(info.value)
    assert "w_organization_social" in str(info.value)
    assert len(fake.posts) == 1


@pytest.mark.parametrize("status", [500, 503, 504])
def test_delete_server_errors_are_retryable(
    fake: FakeLinkedIn, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    gone = posted_urn(publisher)
    fake.fail_next_delete(status=status)

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.posts) == 1

    publisher.delete(gone)
    assert fake.posts == []


def test_a_rate_limited_deletion_waits_for_retry_after(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.fail_next_delete(status=429, headers={"Retry-After": "300"})
    with pytest.raises(PublishError) as info:
        make_publisher().delete("urn:li:share:1")
    assert (info.value.retryable, info.value.retry_after) == (True, 300.0)


def test_a_slow_linkedin_makes_a_retryable_deletion(
    fake: FakeLinkedIn, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    with pytest.raises(PublishError) as info:
        make_publisher(timeout=0.3).delete("urn:li:share:1")
    assert info.value.retryable


@pytest.mark.parametrize(
    "remote_id", ["", "urn:li:share:", "urn:li:organization:1", "urn:li:share:1/../2", "123"]
)
def test_an_id_that_is_not_a_post_urn_is_refused_before_any_request(
    fake: FakeLinkedIn, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a LinkedIn post URN") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
