"""BlueskyPublisher against FakeBluesky: the real atproto SDK over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import random
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage

from bot.config import AccountConfig
from bot.errors import ConfigError, FetchError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.bluesky import (
    DEFAULT_API_BASE,
    MAX_RETRY_AFTER,
    BlueskyPublisher,
    _retry_after,
    build_facets,
    record_key,
)
from tests.fakes.fake_bluesky import (
    APP_PASSWORD,
    DID,
    HANDLE,
    TID_RE,
    FakeBluesky,
    StoredPost,
    tid_timestamp,
)

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
CREATE = "com.atproto.repo.createRecord"
GET = "com.atproto.repo.getRecord"
LOGIN = "com.atproto.server.createSession"
UPLOAD = "com.atproto.repo.uploadBlob"
DELETE = "com.atproto.repo.deleteRecord"

MakePublisher = Callable[..., BlueskyPublisher]


def make_post(
    text: str = f"Ruto announces the end of the mission #Haiti {ARTICLE_URL}",
    *,
    image: str | None = None,
    language: str | None = "en",
) -> Post:
    return Post(
        account_id="bsky-main",
        platform="bluesky",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=300,
        image=Image(image) if image else None,
        title="Ruto announces the end of the Kenyan-led mission",
        description="Nairobi will bring its police officers home by March.",
        language=language,
    )


def make_account(fake: FakeBluesky, **credentials: str) -> AccountConfig:
    return AccountConfig(
        id="bsky-main",
        platform="bluesky",
        credentials=fake.credentials() | credentials,
        api_base=fake.url,
    )


def jpeg(width: int = 320, height: int = 200, *, noise: bool = False, quality: int = 90) -> bytes:
    if noise:
        rng = random.Random(7)
        image = PILImage.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    else:
        image = PILImage.new("RGB", (width, height), (200, 30, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def publish_error(publisher: BlueskyPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


def only_post(fake: FakeBluesky) -> StoredPost:
    [post] = fake.posts
    return post


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def images() -> dict[str, bytes]:
    """What the publishers' ``load_image`` serves (a missing URL raises FetchError)."""
    return {IMAGE_URL: jpeg()}


@pytest.fixture
def make_publisher(
    fake: FakeBluesky, state_dir: Path, images: dict[str, bytes]
) -> Iterator[MakePublisher]:
    """Publishers for ``fake``'s account sharing ``state_dir``; closed after the test."""
    made: list[BlueskyPublisher] = []

    def load_image(url: str) -> bytes:
        if url not in images:
            raise FetchError(f"404 Not Found from {url}", url=url, status=404)
        return images[url]

    def make(*, timeout: float = 5.0, **credentials: str) -> BlueskyPublisher:
        context = PublisherContext(load_image=load_image, state_dir=state_dir, timeout=timeout)
        publisher = BlueskyPublisher(make_account(fake, **credentials), context)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- success -------------------------------------------------------------------------------


def test_publish_returns_the_records_at_uri_and_its_bsky_app_url(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    post = only_post(fake)
    rkey = record_key("d-1")
    assert post.rkey == rkey
    assert result == PublishResult(
        remote_id=f"at://{DID}/app.bsky.feed.post/{rkey}",
        url=f"https://bsky.app/profile/{HANDLE}/post/{rkey}",
    )
    assert post.text == make_post().text
    assert post.langs == ("en",)
    assert [(f.kind, f.value) for f in post.facets] == [("tag", "Haiti"), ("link", ARTICLE_URL)]
    created = datetime.fromisoformat(post.created_at.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert [r.nsid for r in fake.requests] == [LOGIN, CREATE]


def test_the_registry_builds_a_bluesky_publisher(fake: FakeBluesky, state_dir: Path) -> None:
    publisher = create_publisher(make_account(fake), PublisherContext(state_dir=state_dir))
    try:
        assert isinstance(publisher, BlueskyPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.max_length == 300
        assert publisher.spec.counting == "bluesky"
        assert publisher.spec.url_length is None
        assert publisher.spec.in_doubt is InDoubt.RETRY
        assert publisher.spec.supports_images
    finally:
        publisher.close()


def test_construction_does_no_io_and_defaults_to_bsky_social(
    fake: FakeBluesky, state_dir: Path
) -> None:
    account = AccountConfig(id="bsky-main", platform="bluesky", credentials=fake.credentials())
    publisher = BlueskyPublisher(account, PublisherContext(state_dir=state_dir))
    publisher.close()
    assert publisher.api_base == DEFAULT_API_BASE
    assert publisher.session_path == state_dir / "bluesky-bsky-main.session"
    assert fake.requests == []
    assert not state_dir.exists()


@pytest.mark.parametrize(
    ("credentials", "identifier"),
    [
        ({"handle": "@newsroom.bsky.social"}, HANDLE),
        ({"identifier": "desk@newsroom.example"}, "desk@newsroom.example"),
        ({"identifier": DID}, DID),
    ],
)
def test_the_login_name_is_the_handle_or_the_identifier(
    fake: FakeBluesky, state_dir: Path, credentials: dict[str, str], identifier: str
) -> None:
    account = AccountConfig(
        id="bsky-main",
        platform="bluesky",
        credentials={"app_password": APP_PASSWORD, **credentials},
        api_base=fake.url,
    )
    publisher = BlueskyPublisher(account, PublisherContext(state_dir=state_dir))
    try:
        assert publisher.identifier == identifier
        assert publisher.publish(make_post(), idempotency_key="d-1").remote_id
    finally:
        publisher.close()
    assert fake.logins == 1


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [({"app_password": APP_PASSWORD}, "handle"), ({"handle": HANDLE}, "app_password")],
)
def test_a_missing_credential_is_a_config_error_naming_it(
    fake: FakeBluesky, credentials: dict[str, str], missing: str
) -> None:
    account = AccountConfig(id="bsky-main", platform="bluesky", credentials=credentials)
    with pytest.raises(ConfigError, match=rf"credentials\.{missing}\b"):
        BlueskyPublisher(account)
    assert fake.requests == []


@pytest.mark.parametrize(("language", "langs"), [("ht", ("ht",)), ("fr", ("fr",)), (None, ())])
def test_langs_come_from_the_post(
    fake: FakeBluesky, make_publisher: MakePublisher, language: str | None, langs: tuple[str, ...]
) -> None:
    make_publisher().publish(make_post(language=language), idempotency_key="d-1")
    post = only_post(fake)
    assert post.langs == langs
    assert ("langs" in post.record) is bool(langs)


# --- facets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"Élection présidentielle : l'opposition réagit à la décision du CEP #Haïti {ARTICLE_URL}",
        f"Lapli ap tonbe nan Pòtoprens, sitwayen yo enkyete pou lekòl yo #Ayiti #Kreyòl {ARTICLE_URL}",
        f"🇭🇹🔥 Breaking: 👨‍👩‍👧‍👦 families displaced in Cité Soleil 😢 #Haiti {ARTICLE_URL} #News",
        f"海地总统选举结果公布 — 選挙結果 #海地 {ARTICLE_URL}",
        f"Naïve café ＃Noël (lire {ARTICLE_URL}). Suite: https://ctninfo.com/a?b=é&c=1#s",
    ],
    ids=["french", "kreyol", "emoji", "cjk", "fullwidth-tag-and-punctuation"],
)
def test_facets_cover_the_exact_utf8_bytes_after_multibyte_text(
    fake: FakeBluesky, make_publisher: MakePublisher, text: str
) -> None:
    make_publisher().publish(make_post(text), idempotency_key="d-1")

    post = only_post(fake)  # the fake refuses a facet whose bytes are not its link or tag
    data = text.encode("utf-8")
    assert post.facets
    for facet in post.facets:
        assert data[facet.byte_start : facet.byte_end].decode("utf-8") == facet.covered
        if facet.kind == "link":
            assert facet.covered == facet.value
        else:
            assert facet.covered[1:] == facet.value
            assert facet.covered[0] in "#＃"
    links = [f.value for f in post.facets if f.kind == "link"]
    assert ARTICLE_URL in links
    positions = [f.byte_start for f in post.facets]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "é 🇭🇹 #a https://b.example/c",  # é: 2 bytes, the flag: 8
            [("tag", "a", 12, 14), ("link", "https://b.example/c", 15, 34)],
        ),
        (
            "Kreyòl #Ayiti https://x.ht/ò",  # ò: 2 bytes, in the text and in the URL
            [("tag", "Ayiti", 8, 14), ("link", "https://x.ht/ò", 15, 30)],
        ),
        ("海地 #海地", [("tag", "海地", 7, 14)]),  # 3 bytes per character
        ("(voir https://a.example/x).", [("link", "https://a.example/x", 6, 25)]),
        ("https://a.example/#frag #tag", [("link", "https://a.example/#frag", 0, 23), ("tag", "tag", 24, 28)]),
        ("$HTG #2026 #1 pas de tag", []),  # a cashtag, and numbers are not hashtags
        ("ctninfo.com sans schéma", []),  # only http(s) URLs become links
    ],
)  # fmt: skip
def test_facet_byte_offsets_table(text: str, expected: list[tuple[str, str, int, int]]) -> None:
    found = []
    for facet in build_facets(text):
        feature = facet.features[0]
        kind = "link" if hasattr(feature, "uri") else "tag"
        value = feature.uri if kind == "link" else feature.tag
        found.append((kind, value, facet.index.byte_start, facet.index.byte_end))
    assert found == expected


# --- the link card -------------------------------------------------------------------------


def test_the_card_has_the_articles_title_description_and_thumbnail(
    fake: FakeBluesky, make_publisher: MakePublisher, images: dict[str, bytes]
) -> None:
    make_publisher().publish(make_post(image=IMAGE_URL), idempotency_key="d-1")

    card = only_post(fake).card
    assert card is not None
    assert card["uri"] == ARTICLE_URL
    assert card["title"] == make_post().title
    assert card["description"] == make_post().description
    [blob] = fake.blobs.values()
    assert blob.data == images[IMAGE_URL]  # small enough: sent as it is
    assert card["thumb"] == {
        "$type": "blob",
        "ref": {"$link": blob.cid},
        "mimeType": "image/jpeg",
        "size": blob.size,
    }
    assert [r.nsid for r in fake.requests] == [LOGIN, UPLOAD, CREATE]


def test_a_thumbnail_over_1_mb_is_re_encoded_under_the_limit_and_accepted(
    fake: FakeBluesky, make_publisher: MakePublisher, images: dict[str, bytes]
) -> None:
    big = jpeg(1000, 1000, noise=True, quality=95)
    assert len(big) > 1_000_000
    images[IMAGE_URL] = big

    make_publisher().publish(make_post(image=IMAGE_URL), idempotency_key="d-1")

    [blob] = fake.blobs.values()
    assert blob.size <= 1_000_000
    assert blob.mime_type == "image/jpeg"
    card = only_post(fake).card
    assert card is not None
    assert card["thumb"]["size"] == blob.size


def test_the_fake_refuses_a_blob_over_1_mb(fake: FakeBluesky) -> None:
    with httpx.Client(base_url=f"{fake.url}/xrpc", timeout=5.0) as http:
        login = {"identifier": HANDLE, "password": APP_PASSWORD}
        token = http.post(f"/{LOGIN}", json=login).json()["accessJwt"]
        response = http.post(
            f"/{UPLOAD}",
            content=jpeg(1000, 1000, noise=True, quality=95),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
    assert response.status_code == 400
    assert response.json()["error"] == "BlobTooLarge"
    assert fake.blobs == {}


@pytest.mark.parametrize(
    ("image_bytes", "why"),
    [(None, "cannot be loaded"), (b"<html>not an image</html>", "not an image")],
)
def test_an_image_that_fails_leaves_a_card_without_thumbnail(
    fake: FakeBluesky,
    make_publisher: MakePublisher,
    images: dict[str, bytes],
    caplog: pytest.LogCaptureFixture,
    image_bytes: bytes | None,
    why: str,
) -> None:
    images.clear()
    if image_bytes is not None:
        images[IMAGE_URL] = image_bytes

    with caplog.at_level(logging.WARNING, logger="bot.publishers.bluesky"):
        result = make_publisher().publish(make_post(image=IMAGE_URL), idempotency_key="d-1")

    assert result.remote_id
    card = only_post(fake).card
    assert card is not None
    assert card["uri"] == ARTICLE_URL
    assert "thumb" not in card
    assert "without a thumbnail" in caplog.text
    assert ARTICLE_URL in caplog.text


def test_a_failed_upload_leaves_a_card_without_thumbnail(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.fail_next(status=503, nsid=UPLOAD)
    make_publisher().publish(make_post(image=IMAGE_URL), idempotency_key="d-1")
    card = only_post(fake).card
    assert card is not None
    assert "thumb" not in card


def test_a_rate_limited_upload_stops_the_post(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=300, nsid=UPLOAD)
    error = publish_error(make_publisher(), make_post(image=IMAGE_URL))
    assert (error.status, error.retryable) == (429, True)
    assert fake.posts == []


def test_no_image_no_upload(fake: FakeBluesky, make_publisher: MakePublisher) -> None:
    make_publisher().publish(make_post(), idempotency_key="d-1")
    card = only_post(fake).card
    assert card is not None
    assert "thumb" not in card
    assert fake.calls(UPLOAD) == []


# --- sessions ------------------------------------------------------------------------------


def test_a_second_publisher_reuses_the_saved_session_instead_of_logging_in(
    fake: FakeBluesky,
    make_publisher: MakePublisher,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        first = make_publisher()
        first.publish(make_post("one"), idempotency_key="d-1")
        first.close()
        second = make_publisher()  # a restart
        second.publish(make_post("two"), idempotency_key="d-2")

    assert fake.logins == 1
    assert [p.text for p in fake.posts] == ["one", "two"]
    session_file = state_dir / "bluesky-bsky-main.session"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    saved = session_file.read_text().strip()
    handle, did, access, refresh, _pds = saved.split(":::")
    assert (handle, did) == (HANDLE, DID)
    for secret in (APP_PASSWORD, access, refresh):
        assert secret not in caplog.text
    assert "reuses its saved session" in caplog.text


def test_an_expired_session_is_refreshed_once_and_saved(
    fake: FakeBluesky, make_publisher: MakePublisher, state_dir: Path
) -> None:
    publisher = make_publisher()
    publisher.publish(make_post("one"), idempotency_key="d-1")
    before = (state_dir / "bluesky-bsky-main.session").read_text()
    fake.expire_access_tokens()

    publisher.publish(make_post("two"), idempotency_key="d-2")

    assert (fake.logins, fake.refreshes) == (1, 1)
    assert [p.text for p in fake.posts] == ["one", "two"]
    after = (state_dir / "bluesky-bsky-main.session").read_text()
    assert after != before
    statuses = [(r.nsid.rsplit(".", 1)[1], r.status, r.note) for r in fake.requests]
    assert statuses == [
        ("createSession", 200, ""),
        ("createRecord", 200, ""),
        ("createRecord", 400, "ExpiredToken"),
        ("refreshSession", 200, ""),
        ("createRecord", 200, ""),
    ]


def test_a_restart_with_an_expired_saved_session_refreshes_it(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    first = make_publisher()
    first.publish(make_post("one"), idempotency_key="d-1")
    first.close()
    fake.expire_access_tokens()

    make_publisher().publish(make_post("two"), idempotency_key="d-2")

    assert (fake.logins, fake.refreshes) == (1, 1)
    assert len(fake.posts) == 2


def test_a_dead_refresh_token_falls_back_to_the_app_password(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    first = make_publisher()
    first.publish(make_post("one"), idempotency_key="d-1")
    first.close()
    fake.expire_access_tokens()
    fake.expire_refresh_tokens()

    make_publisher().publish(make_post("two"), idempotency_key="d-2")

    assert fake.logins == 2
    assert len(fake.posts) == 2


def test_a_session_near_expiry_is_refreshed_by_the_sdk_and_saved(state_dir: Path) -> None:
    # The SDK refreshes 15 minutes before exp: with 60-second tokens, before every call. Each
    # refresh rotates the refresh token, so a restart only avoids a login if the newest
    # session was saved.
    with FakeBluesky(access_ttl=60) as fake:
        for key in ("d-1", "d-2"):
            publisher = BlueskyPublisher(
                make_account(fake), PublisherContext(state_dir=state_dir, timeout=5.0)
            )
            try:
                publisher.publish(make_post(key), idempotency_key=key)
            finally:
                publisher.close()
        assert fake.logins == 1
        assert fake.refreshes >= 2
        assert len(fake.posts) == 2


@pytest.mark.parametrize(
    "content",
    [
        "garbage",
        "someone.else:::did:plc:other:::a.b.c:::d.e.f:::http://127.0.0.1:9",
        "",
    ],
    ids=["unreadable", "bad-jwt", "empty"],
)
def test_a_bad_saved_session_is_replaced_by_a_login(
    fake: FakeBluesky, make_publisher: MakePublisher, state_dir: Path, content: str
) -> None:
    state_dir.mkdir()
    (state_dir / "bluesky-bsky-main.session").write_text(content)

    make_publisher().publish(make_post(), idempotency_key="d-1")

    assert fake.logins == 1
    saved = (state_dir / "bluesky-bsky-main.session").read_text()
    assert saved.startswith(f"{HANDLE}:::{DID}:::")


def test_a_saved_session_of_another_account_is_not_used(
    fake: FakeBluesky, make_publisher: MakePublisher, state_dir: Path
) -> None:
    first = make_publisher()
    first.publish(make_post("one"), idempotency_key="d-1")
    first.close()
    path = state_dir / "bluesky-bsky-main.session"
    fields = path.read_text().strip().split(":::")
    path.write_text(":::".join(["other.bsky.social", "did:plc:other", *fields[2:]]))

    make_publisher().publish(make_post("two"), idempotency_key="d-2")

    assert fake.logins == 2
    assert path.read_text().startswith(f"{HANDLE}:::{DID}:::")


def test_an_unwritable_state_dir_still_posts(
    fake: FakeBluesky,
    make_publisher: MakePublisher,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state_dir.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="bot.publishers.bluesky"):
        make_publisher().publish(make_post(), idempotency_key="d-1")
    assert len(fake.posts) == 1
    assert "cannot save the session" in caplog.text


# --- credentials ---------------------------------------------------------------------------


def test_a_wrong_app_password_is_permanent_with_the_servers_message_and_no_secret(
    fake: FakeBluesky,
    make_publisher: MakePublisher,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wxyz-wxyz-wxyz-wxyz"
    with caplog.at_level(logging.DEBUG):
        error = publish_error(make_publisher(app_password=wrong))

    assert (error.status, error.retryable, error.platform) == (401, False, "bluesky")
    assert "Invalid identifier or password" in str(error)
    assert "App passwords" in str(error)
    for secret in (wrong, APP_PASSWORD):
        assert secret not in str(error)
        assert secret not in repr(error)
        assert secret not in caplog.text
    assert fake.posts == []
    assert not (state_dir / "bluesky-bsky-main.session").exists()


def test_a_sign_in_code_request_says_to_use_an_app_password(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.fail_next(
        status=401,
        nsid=LOGIN,
        body={
            "error": "AuthFactorTokenRequired",
            "message": "A sign in code has been sent to your email address",
        },
    )
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (401, False)
    assert "AuthFactorTokenRequired" in str(error)
    assert "use an App Password" in str(error)


# --- crash-safe retries --------------------------------------------------------------------


def test_record_keys_are_stable_valid_tids_in_the_past() -> None:
    keys = [record_key(f"delivery-{i}") for i in range(2000)]
    assert len(set(keys)) == len(keys)
    assert record_key("d-1") == record_key("d-1")
    assert record_key("d-1") == "3jtxuf4gyvyto"  # pinned: changing it would repost on upgrade
    low = datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1e6
    high = datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1e6
    for key in keys:
        assert TID_RE.match(key)
        assert key[0] in "234567ab"  # the top bit is 0
        assert low <= tid_timestamp(key) < high


@pytest.mark.parametrize(
    "duplicate_answer",
    [
        (500, {"error": "InternalServerError", "message": "Internal Server Error"}),
        (400, {"error": "InvalidRequest", "message": "Record already exists"}),
        (409, {"error": "RecordAlreadyExists", "message": "Record already exists"}),
    ],
    ids=["bsky-social-today", "explicit-400", "explicit-409"],
)
def test_a_retry_after_a_crash_finds_the_post_instead_of_posting_twice(
    state_dir: Path, duplicate_answer: tuple[int, dict[str, str]]
) -> None:
    with FakeBluesky(duplicate_answer=duplicate_answer) as fake:
        context = PublisherContext(state_dir=state_dir, timeout=5.0)
        first = BlueskyPublisher(make_account(fake), context)
        posted = first.publish(make_post(), idempotency_key="d-1")
        first.close()  # the process dies before the ledger records the result

        again = BlueskyPublisher(make_account(fake), context)
        try:
            retried = again.publish(make_post(), idempotency_key="d-1")
        finally:
            again.close()

        assert len(fake.posts) == 1
        assert retried == PublishResult(remote_id=posted.remote_id, url=posted.url, duplicate=True)
        assert [(r.nsid, r.status) for r in fake.requests if r.nsid in (CREATE, GET)] == [
            (CREATE, 200),
            (CREATE, duplicate_answer[0]),
            (GET, 200),
        ]


def test_a_lost_answer_is_recovered_in_the_same_call_as_a_new_post(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    result = make_publisher().publish(make_post(), idempotency_key="d-1")

    post = only_post(fake)
    assert result == PublishResult(
        remote_id=post.uri, url=f"https://bsky.app/profile/{HANDLE}/post/{post.rkey}"
    )
    assert [(r.nsid, r.status) for r in fake.requests] == [
        (LOGIN, 200),
        (CREATE, None),
        (GET, 200),
    ]


def test_a_lost_answer_that_cannot_be_checked_is_retried_into_a_duplicate(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    fake.fail_next(status=503, nsid=GET)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.retryable, error.status) == (True, None)
    retried = publisher.publish(make_post(), idempotency_key="d-1")

    assert retried.duplicate
    assert retried.remote_id == only_post(fake).uri


def test_a_timed_out_create_is_retried_into_a_duplicate(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.accept_then_delay(seconds=2.0)
    publisher = make_publisher(timeout=0.3)

    error = publish_error(publisher)
    assert error.retryable
    assert fake.calls(GET) == []  # a slow PDS is not asked twice
    assert publisher.publish(make_post(), idempotency_key="d-1").duplicate
    assert len(fake.posts) == 1


def test_different_deliveries_are_different_posts(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    one = publisher.publish(make_post(), idempotency_key="d-1")
    two = publisher.publish(make_post(), idempotency_key="d-2")  # a repost: same text
    assert one.remote_id != two.remote_id
    assert not one.duplicate
    assert not two.duplicate
    assert len(fake.posts) == 2


# --- Bluesky's answers ---------------------------------------------------------------------


def test_a_rate_limit_is_retryable_after_its_reset(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=600)
    error = publish_error(make_publisher())

    assert (error.status, error.retryable) == (429, True)
    assert error.retry_after == pytest.approx(600, abs=2)
    assert "5000;w=3600" in str(error)
    assert "RateLimitExceeded" in str(error)
    assert fake.posts == []


def test_a_rate_limited_login_is_retryable(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next(reset_in=300, limit=30, window=300, nsid=LOGIN)
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (429, True)
    assert error.retry_after == pytest.approx(300, abs=2)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(
    fake: FakeBluesky, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.status, error.retryable, error.retry_after) == (status, True, None)
    assert fake.posts == []
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id  # next one works
    assert not publisher.publish(make_post("other"), idempotency_key="d-2").duplicate


def test_bluesky_down_then_up(fake: FakeBluesky, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    fake.down()
    assert publish_error(publisher).retryable
    fake.up()
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id
    assert len(fake.posts) == 1


def test_an_unreachable_pds_is_retryable(state_dir: Path) -> None:
    with FakeBluesky() as fake:
        account = make_account(fake)
    publisher = BlueskyPublisher(account, PublisherContext(state_dir=state_dir, timeout=2.0))
    try:
        error = publish_error(publisher)
    finally:
        publisher.close()
    assert (error.retryable, error.status) == (True, None)
    assert "cannot reach Bluesky" in str(error)


def test_a_slow_pds_is_a_retryable_timeout(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    fake.delay = 1.0
    error = publish_error(make_publisher(timeout=0.2))
    assert (error.retryable, error.status) == (True, None)
    assert "in time" in str(error)


def test_300_graphemes_fit_even_when_they_are_many_code_points(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    text = "é" * 150 + "🇭🇹" * 100 + "👍🏽" * 50  # 300 graphemes, 550 code points, 1,000 bytes
    make_publisher().publish(make_post(text), idempotency_key="d-1")
    assert only_post(fake).text == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("e\u0301" * 301, "300 graphemes"),
        ("👨‍👩‍👧‍👦" * 150, "3000 characters"),  # 150 graphemes, but 3,750 bytes
    ],
    ids=["301-graphemes", "over-3000-bytes"],
)
def test_text_over_the_lexicon_limits_is_a_permanent_400(
    fake: FakeBluesky, make_publisher: MakePublisher, text: str, message: str
) -> None:
    error = publish_error(make_publisher(), make_post(text))
    assert (error.status, error.retryable) == (400, False)
    assert "InvalidRequest" in str(error)
    assert message in str(error)
    assert fake.posts == []


def test_text_the_sdk_cannot_hold_is_permanent_without_a_request(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    error = publish_error(make_publisher(), make_post("a" * 3001))
    assert (error.retryable, error.status) == (False, None)
    assert "cannot build the Bluesky post" in str(error)
    assert "text" in str(error)
    assert fake.calls(CREATE) == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"ratelimit-reset": "garbage"}, None),
        ({"ratelimit-reset": "1600"}, 600.0),
        ({"ratelimit-reset": "900"}, 1.0),  # in the past
        ({"ratelimit-reset": "1e12"}, MAX_RETRY_AFTER),
        ({"retry-after": "30"}, 30.0),
        ({"ratelimit-reset": "1100", "retry-after": "30"}, 100.0),
    ],
)
def test_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert _retry_after(headers, now=1000.0) == expected


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_uri(publisher: BlueskyPublisher, key: str = "d-1") -> str:
    result = publisher.publish(make_post(), idempotency_key=key)
    assert result.remote_id is not None
    return result.remote_id


def test_bluesky_can_delete(make_publisher: MakePublisher) -> None:
    assert BlueskyPublisher.spec.can_delete
    assert isinstance(make_publisher(), Deleter)


def test_delete_removes_the_record_and_logs_it(
    fake: FakeBluesky, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_uri(publisher, "d-0")
    gone = posted_uri(publisher, "d-1")

    with caplog.at_level(logging.INFO, logger="bot.publishers.bluesky"):
        publisher.delete(gone)

    assert [p.uri for p in fake.posts] == [kept]
    assert [p.uri for p in fake.deleted] == [gone]
    assert fake.calls(DELETE)[-1].status == 200
    assert f"account bsky-main deleted post {gone}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeBluesky, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_uri(publisher)
    publisher.delete(gone)
    publisher.delete(gone)  # the reference PDS: 200, no commit

    assert fake.posts == []
    assert [r.status for r in fake.calls(DELETE)] == [200, 200]


def test_a_pds_answering_record_not_found_counts_as_gone(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = (400, {"error": "RecordNotFound", "message": "Could not locate record"})
    with FakeBluesky(missing_delete_answer=missing) as fake:
        publisher = BlueskyPublisher(
            make_account(fake), PublisherContext(state_dir=state_dir, timeout=5.0)
        )
        try:
            gone = posted_uri(publisher)
            publisher.delete(gone)
            with caplog.at_level(logging.INFO, logger="bot.publishers.bluesky"):
                publisher.delete(gone)
        finally:
            publisher.close()
        assert [r.status for r in fake.calls(DELETE)] == [200, 400]
    assert "was already gone" in caplog.text


def test_a_restarted_publisher_deletes_with_its_saved_session(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    gone = posted_uri(make_publisher())
    make_publisher().delete(gone)
    assert fake.posts == []
    assert fake.logins == 1


def test_delete_with_a_wrong_app_password_is_permanent_without_secrets(
    fake: FakeBluesky, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wxyz-wxyz-wxyz-wxyz"
    uri = f"at://{DID}/app.bsky.feed.post/{record_key('d-1')}"
    publisher = BlueskyPublisher(
        make_account(fake, app_password=wrong),
        PublisherContext(state_dir=tmp_path / "empty", timeout=5.0),
    )
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(PublishError) as info:
            publisher.delete(uri)
    finally:
        publisher.close()
    assert (info.value.status, info.value.retryable) == (401, False)
    for secret in (wrong, APP_PASSWORD):
        assert secret not in str(info.value)
        assert secret not in repr(info.value)
        assert secret not in caplog.text
    assert fake.calls(DELETE) == []


def test_an_expired_session_is_renewed_for_a_deletion(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    gone = posted_uri(publisher)
    fake.expire_access_tokens()
    publisher.delete(gone)
    assert fake.posts == []
    assert fake.refreshes == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_delete_server_errors_are_retryable(
    fake: FakeBluesky, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    gone = posted_uri(publisher)
    fake.fail_next(status=status, nsid=DELETE)

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.posts) == 1

    publisher.delete(gone)
    assert fake.posts == []


def test_a_rate_limited_deletion_is_retryable_after_its_reset(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    gone = posted_uri(publisher)
    fake.rate_limit_next(reset_in=1200, nsid=DELETE)
    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (429, True)
    assert info.value.retry_after == pytest.approx(1200, abs=5)


def test_a_post_in_another_repo_is_refused_before_deleting(
    fake: FakeBluesky, make_publisher: MakePublisher
) -> None:
    other = f"at://did:plc:someoneelse/app.bsky.feed.post/{record_key('d-1')}"
    with pytest.raises(PublishError, match="not in this account's repo") as info:
        make_publisher().delete(other)
    assert not info.value.retryable
    assert fake.calls(DELETE) == []


@pytest.mark.parametrize(
    "remote_id",
    [
        "",
        "1234567890",
        f"at://{DID}/app.bsky.feed.like/3kabc",
        f"https://bsky.app/profile/{HANDLE}/post/3kabc",
        f"at://{DID}/app.bsky.feed.post/3k/../x",
    ],
)
def test_an_id_that_is_not_a_post_uri_is_refused_before_any_request(
    fake: FakeBluesky, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Bluesky post's at-uri") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
