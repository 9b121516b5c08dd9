"""TelegramPublisher against FakeTelegram: real HTTP on 127.0.0.1, HTML parsed like tdlib."""

from __future__ import annotations

import io
import json
import logging
import socket
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image as PILImage

from bot.config import AccountConfig
from bot.errors import ConfigError, MediaError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher
from bot.publishers.base import Deleter, InDoubt, Publisher, PublisherContext
from bot.publishers.telegram import DEFAULT_API_BASE, TelegramPublisher, to_html
from tests.fakes.fake_telegram import (
    CHANNEL_ID,
    TOKEN,
    Chat,
    EntityError,
    FakeTelegram,
    render,
)

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/?utm_source=telegram&utm_medium=social"
IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
TEXT = f"Ruto announces the end of the mission #Haïti {ARTICLE_URL}"

MakePublisher = Callable[..., TelegramPublisher]


def jpeg(width: int = 160, height: int = 90) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (width, height), (20, 90, 200)).save(buf, "JPEG")
    return buf.getvalue()


def make_post(text: str = TEXT, *, image: bool = True) -> Post:
    return Post(
        account_id="tg-ctn",
        platform="telegram",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=4096,
        image=Image(IMAGE_URL) if image else None,
        title="Ruto announces the end of the mission",
    )


def make_account(
    api_base: str | None, token: str = TOKEN, **options: str | int | float | bool
) -> AccountConfig:
    return AccountConfig(
        id="tg-ctn",
        platform="telegram",
        credentials={"bot_token": token},
        api_base=api_base,
        options={"chat_id": "@ctninfo"} | options,
    )


def publish_error(publisher: TelegramPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


def assert_no_token(error: BaseException, token: str = TOKEN) -> None:
    for text in (str(error), repr(error), "".join(traceback.format_exception(error))):
        assert token not in text
        assert token.split(":")[1] not in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def make_publisher(fake: FakeTelegram) -> Iterator[MakePublisher]:
    """Publishers for the fake's channel; ``options`` override the account's options."""
    made: list[TelegramPublisher] = []

    def make(
        *,
        timeout: float = 5.0,
        load_image: Callable[[str], bytes] | None = None,
        api_base: str | None = None,
        token: str = TOKEN,
        **options: str | int | float | bool,
    ) -> TelegramPublisher:
        context = PublisherContext(load_image=load_image or (lambda url: jpeg()))
        account = make_account(api_base or fake.url, token, **options)
        publisher = TelegramPublisher(account, context, timeout=timeout)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


# --- text ----------------------------------------------------------------------------------


HEADLINES = [
    "AT&T & Digicel: 5 < 7 > 3, \"quoted\" and 'single'",
    "Literal entities stay literal: &amp; &lt;b&gt; &quot; &#65; &nbsp;",
    "<b>not bold</b> <script>alert(1)</script> </i>",
    "Lekòl yo rouvri nan Pòtoprens; élèves à l'école, ça va",
    "Emoji 🇭🇹🎉👩🏽‍⚕️ and CJK 海地 count in UTF-16",
    "  Leading and trailing spaces are trimmed by Telegram, not by us  ",
]


@pytest.mark.parametrize("headline", HEADLINES)
def test_html_escaping_shows_exactly_the_post_text(
    fake: FakeTelegram, make_publisher: MakePublisher, headline: str
) -> None:
    text = f"{headline} {ARTICLE_URL}"
    make_publisher().publish(make_post(text), idempotency_key="d-1")

    [message] = fake.messages
    assert message["text"] == text.strip()
    assert message["parse_mode"] == "HTML"
    links = [e for e in message["entities"] if e["type"] == "text_link"]
    assert [link["url"] for link in links] == [ARTICLE_URL]
    assert not [e for e in message["entities"] if e["type"] in ("bold", "italic")]


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ('say "hi"', 'say "hi"'),
        ("&amp;", "&amp;amp;"),
        (
            "see https://x.ht/l'île?b=1&c=2 now",
            'see <a href="https://x.ht/l&#x27;île?b=1&amp;c=2">https://x.ht/l\'île?b=1&amp;c=2</a> now',
        ),
    ],
)
def test_to_html_table(text: str, html: str) -> None:
    assert to_html(text) == html
    assert render(html, "HTML")[0] == text


def test_the_4096_limit_is_in_utf16_units_after_parsing(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    fits = "&" * 4096  # 20,480 characters of HTML, 4,096 shown
    publisher.publish(make_post(fits, image=False), idempotency_key="d-1")
    error = publish_error(publisher, make_post("🎉" * 2049, image=False))  # 4,098 units

    assert fake.messages[0]["text"] == fits
    assert (error.status, error.retryable) == (400, False)
    assert "message is too long" in str(error)


def test_link_preview_shows_the_article_large(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    make_publisher().publish(make_post(), idempotency_key="d-1")
    message = fake.messages[0]
    assert message["method"] == "sendMessage"
    assert message["link_preview_options"] == {"url": ARTICLE_URL, "prefer_large_media": True}
    assert message["disable_notification"] is False


def test_link_preview_off_and_silent(fake: FakeTelegram, make_publisher: MakePublisher) -> None:
    make_publisher(link_preview=False, disable_notification="true").publish(
        make_post(), idempotency_key="d-1"
    )
    message = fake.messages[0]
    assert message["link_preview_options"] == {"is_disabled": True}
    assert message["disable_notification"] is True


# --- photos --------------------------------------------------------------------------------


def test_a_photo_account_sends_the_image_with_the_text_as_caption(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    loaded: list[str] = []

    def load(url: str) -> bytes:
        loaded.append(url)
        return jpeg()

    text = "Ayiti & Kenya: <mission> fini 🇭🇹 " + ARTICLE_URL
    result = make_publisher(photo=True, load_image=load).publish(
        make_post(text), idempotency_key="d-1"
    )

    [message] = fake.messages
    assert message["method"] == "sendPhoto"
    assert message["caption"] == text
    assert message["photo"] == {
        "source": "upload",
        "size": len(jpeg()),
        "width": 160,
        "height": 90,
        "format": "JPEG",
    }
    assert [e["url"] for e in message["caption_entities"] if e["type"] == "text_link"] == [
        ARTICLE_URL
    ]
    assert loaded == [IMAGE_URL]
    assert result == PublishResult(remote_id="1", url="https://t.me/ctninfo/1")


def test_live_spec_is_1024_for_photo_accounts_without_io(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    photo, text = make_publisher(photo=True), make_publisher()
    assert photo.live_spec().max_length == 1024
    assert text.live_spec().max_length == 4096
    assert photo.live_spec().counting == text.live_spec().counting == "utf16"
    assert TelegramPublisher.spec.max_length == 4096
    assert fake.requests == []


def test_a_text_over_1024_on_a_photo_account_goes_as_a_message(
    fake: FakeTelegram, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    text = "é" * 1100 + " " + ARTICLE_URL
    with caplog.at_level(logging.WARNING, logger="bot.publishers.telegram"):
        make_publisher(photo=True).publish(make_post(text), idempotency_key="d-1")
    assert [m["method"] for m in fake.messages] == ["sendMessage"]
    assert "over the 1024" in caplog.text


def test_the_fake_refuses_a_caption_over_1024_after_parsing(fake: FakeTelegram) -> None:
    def send(caption: str) -> tuple[int, dict[str, Any]]:
        data = json.dumps(
            {"chat_id": "@ctninfo", "photo": IMAGE_URL, "caption": caption, "parse_mode": "HTML"}
        ).encode()
        request = urllib.request.Request(
            f"{fake.url}/bot{TOKEN}/sendPhoto",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    fake.web_images[IMAGE_URL] = jpeg()
    assert send("<b>" + "x" * 1024 + "</b>")[0] == 200
    assert send("x" * 1025) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message caption is too long"},
    )


def test_an_image_that_cannot_be_loaded_is_fetched_by_telegram(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    def fails(url: str) -> bytes:
        raise MediaError("image refused")

    fake.web_images[IMAGE_URL] = jpeg(400, 300)
    make_publisher(photo=True, load_image=fails).publish(make_post(), idempotency_key="d-1")
    [message] = fake.messages
    assert (message["method"], message["photo"]["source"]) == ("sendPhoto", "url")


def test_an_image_telegram_cannot_use_falls_back_to_a_message(
    fake: FakeTelegram, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    def fails(url: str) -> bytes:
        raise MediaError("image refused")

    with caplog.at_level(logging.WARNING, logger="bot.publishers.telegram"):
        result = make_publisher(photo=True, load_image=fails).publish(
            make_post(), idempotency_key="d-1"
        )
    assert [m["method"] for m in fake.messages] == ["sendMessage"]
    assert [r.status for r in fake.requests] == [400, 200]
    assert "failed to get HTTP URL content" in caplog.text
    assert result.url == "https://t.me/ctninfo/1"


def test_a_photo_account_without_an_article_image_sends_a_message(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    make_publisher(photo=True).publish(make_post(image=False), idempotency_key="d-1")
    assert [m["method"] for m in fake.messages] == ["sendMessage"]


# --- results ---------------------------------------------------------------------------------


def test_a_channel_post_links_to_t_me(fake: FakeTelegram, make_publisher: MakePublisher) -> None:
    publisher = make_publisher()
    first = publisher.publish(make_post("one"), idempotency_key="d-1")
    second = publisher.publish(make_post("two"), idempotency_key="d-2")
    assert first == PublishResult(remote_id="1", url="https://t.me/ctninfo/1")
    assert second.url == "https://t.me/ctninfo/2"


def test_a_numeric_chat_id_of_a_public_channel_still_links(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    result = make_publisher(chat_id=CHANNEL_ID).publish(make_post(), idempotency_key="d-1")
    assert result.url == "https://t.me/ctninfo/1"


def test_a_private_channel_has_no_link(fake: FakeTelegram, make_publisher: MakePublisher) -> None:
    fake.add_chat(Chat(-1009876543210, "CTN newsroom (private)"))
    result = make_publisher(chat_id="-1009876543210").publish(make_post(), idempotency_key="d-1")
    assert result == PublishResult(remote_id="1", url=None)


def test_the_registry_builds_a_telegram_publisher(fake: FakeTelegram) -> None:
    publisher = create_publisher(make_account(fake.url))
    try:
        assert isinstance(publisher, TelegramPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.spec.in_doubt is InDoubt.HOLD
        assert publisher.spec.supports_images
    finally:
        publisher.close()
    assert fake.requests == []


def test_construction_defaults_to_api_telegram_org() -> None:
    publisher = TelegramPublisher(make_account(None))
    publisher.close()
    assert publisher.api_base == DEFAULT_API_BASE
    assert (publisher.photo, publisher.link_preview, publisher.disable_notification) == (
        False,
        True,
        False,
    )


# --- Telegram's answers ----------------------------------------------------------------------


def test_a_flood_wait_is_retryable_after_its_retry_after(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    fake.flood_next(retry_after=35)
    publisher = make_publisher()

    error = publish_error(publisher)
    assert (error.status, error.retryable, error.retry_after) == (429, True, 35.0)
    assert "retry after 35" in str(error)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id == "1"


@pytest.mark.parametrize(
    ("status", "description"),
    [
        ("kicked", "bot was kicked from the channel chat"),
        ("left", "bot is not a member of the channel chat"),
        ("member", "need administrator rights in the channel chat"),
    ],
)
def test_a_bot_that_cannot_post_is_permanent_with_a_hint(
    fake: FakeTelegram, make_publisher: MakePublisher, status: str, description: str
) -> None:
    fake.chats[CHANNEL_ID].bot_status = status
    error = publish_error(make_publisher())

    assert not error.retryable
    assert description in str(error)
    assert "administrator" in str(error) and "Add admin" in str(error)
    assert fake.messages == []


def test_an_unknown_chat_is_permanent(fake: FakeTelegram, make_publisher: MakePublisher) -> None:
    error = publish_error(make_publisher(chat_id="@nosuchchannel"))
    assert (error.status, error.retryable) == (400, False)
    assert "chat not found" in str(error)


def test_html_telegram_cannot_parse_is_permanent(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    fake.fail_next(
        status=400,
        description='Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0',
    )
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (400, False)
    assert "can't parse entities" in str(error)


def test_a_wrong_token_is_permanent_and_never_shown(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    wrong = "7000000001:AAWrongTokenValue_abcdefghijklmnopqrstu"
    error = publish_error(make_publisher(token=wrong))
    assert (error.status, error.retryable) == (401, False)
    assert "Unauthorized" in str(error) and "bot_token" in str(error)
    assert_no_token(error, wrong)


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_are_retryable(
    fake: FakeTelegram, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next(status=status)
    error = publish_error(make_publisher())
    assert (error.status, error.retryable) == (status, True)


def test_a_telegram_that_cannot_be_reached_is_retryable() -> None:
    publisher = TelegramPublisher(make_account(f"http://127.0.0.1:{free_port()}"), timeout=2.0)
    try:
        error = publish_error(publisher)
    finally:
        publisher.close()
    assert (error.retryable, error.status) == (True, None)
    assert "cannot reach Telegram" in str(error)
    assert_no_token(error)


def test_an_answer_lost_after_sending_is_not_retried(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    fake.accept_then_drop()
    error = publish_error(make_publisher())

    assert not error.retryable
    assert "may have been posted" in str(error) and "syndbot retry" in str(error)
    assert len(fake.messages) == 1
    assert_no_token(error)


def test_a_read_timeout_is_in_doubt(fake: FakeTelegram, make_publisher: MakePublisher) -> None:
    fake.delay = 1.0
    error = publish_error(make_publisher(timeout=0.2))
    assert not error.retryable
    assert "ReadTimeout" in str(error)
    assert_no_token(error)


FAILURES: dict[str, Callable[[FakeTelegram], Any]] = {
    "flood": lambda f: f.flood_next(),
    "server": lambda f: f.fail_next(status=502),
    "parse": lambda f: f.fail_next(status=400, description="Bad Request: can't parse entities"),
    "kicked": lambda f: setattr(f.chats[CHANNEL_ID], "bot_status", "kicked"),
    "dropped": lambda f: f.accept_then_drop(),
    "slow": lambda f: setattr(f, "delay", 1.0),
    "down": lambda f: f.stop(),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("photo", [False, True])
def test_the_token_is_never_in_an_error_or_a_log_line(
    fake: FakeTelegram,
    make_publisher: MakePublisher,
    caplog: pytest.LogCaptureFixture,
    failure: str,
    photo: bool,
) -> None:
    publisher = make_publisher(photo=photo, timeout=0.3)
    FAILURES[failure](fake)
    with caplog.at_level(logging.DEBUG, logger="bot.publishers.telegram"):
        error = publish_error(publisher)
    assert_no_token(error)
    assert TOKEN not in caplog.text


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "options", "message"),
    [
        (TOKEN, {"chat_id": ""}, r"options\.chat_id is required"),
        (TOKEN, {"chat_id": "ctn info"}, r"options\.chat_id must be"),
        ("not-a-token", {}, r"credentials\.bot_token does not look like"),
        (TOKEN, {"photo": "maybe"}, r"options\.photo must be true or false"),
    ],
)
def test_configuration_errors_name_the_key(
    token: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        TelegramPublisher(make_account(None, token, **options))
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("chat_id", "expected"),
    [
        ("@ctninfo", "@ctninfo"),
        ("ctninfo", "@ctninfo"),
        ("-1001234567890", CHANNEL_ID),
        (CHANNEL_ID, CHANNEL_ID),
    ],
)
def test_chat_ids(chat_id: str | int, expected: str | int) -> None:
    publisher = TelegramPublisher(make_account(None, chat_id=chat_id))
    publisher.close()
    assert publisher.chat_id == expected


# --- the fake's parser ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("AT&T", "AT&T"),
        ("&lt;b&gt; &amp; &quot;", '<b> & "'),
        ("&amp", "&"),  # tdlib: the semicolon is optional
        ("&nbsp; &copy;", "&nbsp; &copy;"),  # only four named entities exist
        ("&#233;t&#xe9;", "été"),
        ("<b>bold</b> <a href='https://x.ht/'>link</a>", "bold link"),
        ('<span class="tg-spoiler">s</span><blockquote expandable>q</blockquote>', "sq"),
    ],
)
def test_the_fakes_html_parser(html: str, text: str) -> None:
    assert render(html, "HTML")[0] == text


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("5 < 7", 'Unsupported start tag "" at byte offset 2'),
        ("é <x>", 'Unsupported start tag "x" at byte offset 3'),
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x <", "Unclosed start tag at byte offset 2"),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler"'),
    ],
)
def test_the_fakes_html_parser_refuses_like_tdlib(html: str, reason: str) -> None:
    with pytest.raises(EntityError, match=reason.replace("(", r"\(")):
        render(html, "HTML")


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_id(publisher: TelegramPublisher, text: str = TEXT) -> str:
    result = publisher.publish(make_post(text, image=False), idempotency_key="d-1")
    assert result.remote_id is not None
    return result.remote_id


def test_telegram_can_delete(make_publisher: MakePublisher) -> None:
    assert TelegramPublisher.spec.can_delete
    publisher = make_publisher(photo=True)
    assert isinstance(publisher, Deleter)
    assert publisher.live_spec().can_delete


def test_delete_takes_the_message_down_and_logs_it(
    fake: FakeTelegram, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    kept = posted_id(publisher, "another story")
    gone = posted_id(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.telegram"):
        publisher.delete(gone)

    assert [str(m["message_id"]) for m in fake.messages] == [kept]
    assert [(m["chat_id"], str(m["message_id"])) for m in fake.deleted] == [(CHANNEL_ID, gone)]
    assert (fake.requests[-1].method, fake.requests[-1].status) == ("deleteMessage", 200)
    assert f"account tg-ctn deleted message {gone}" in caplog.text


def test_deleting_twice_is_no_error(
    fake: FakeTelegram, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    publisher.delete(gone)

    with caplog.at_level(logging.INFO, logger="bot.publishers.telegram"):
        publisher.delete(gone)  # 400 "message to delete not found"

    assert [r.status for r in fake.requests if r.method == "deleteMessage"] == [200, 400]
    assert f"message {gone} was already gone" in caplog.text


def test_a_message_older_than_48_hours_is_a_permanent_refusal_saying_why(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    old = posted_id(publisher)
    fake.age_messages(48 * 3600 + 60)

    with pytest.raises(PublishError) as info:
        publisher.delete(old)

    assert (info.value.status, info.value.retryable) == (400, False)
    assert "can't be deleted" in str(info.value) and "48 hours" in str(info.value)
    assert len(fake.messages) == 1
    assert_no_token(info.value)


def test_delete_with_a_wrong_token_is_permanent_and_never_shown(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    gone = posted_id(make_publisher())
    wrong = "7000000001:AAWrongTokenValue_abcdefghijklmnopqrstu"

    with pytest.raises(PublishError) as info:
        make_publisher(token=wrong).delete(gone)

    assert (info.value.status, info.value.retryable) == (401, False)
    assert "bot_token" in str(info.value)
    assert_no_token(info.value, wrong)
    assert_no_token(info.value)
    assert len(fake.messages) == 1


def test_a_bot_that_lost_its_admin_rights_cannot_delete(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    fake.chats[CHANNEL_ID].bot_status = "kicked"
    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (403, False)
    assert "Add admin" in str(info.value)


@pytest.mark.parametrize("status", [500, 502])
def test_delete_server_errors_are_retryable(
    fake: FakeTelegram, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher()
    gone = posted_id(publisher)
    fake.fail_next_delete(status=status)

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.messages) == 1

    publisher.delete(gone)
    assert fake.messages == []


def test_a_flood_wait_on_deletion_is_retryable_after_its_retry_after(
    fake: FakeTelegram, make_publisher: MakePublisher
) -> None:
    fake.fail_next_delete(
        status=429, description="Too Many Requests: retry after 12", retry_after=12
    )
    with pytest.raises(PublishError) as info:
        make_publisher().delete("1")
    assert (info.value.retryable, info.value.retry_after) == (True, 12.0)


@pytest.mark.parametrize("failure", ["slow", "down"])
def test_a_deletion_without_an_answer_is_retryable_and_never_shows_the_token(
    fake: FakeTelegram,
    make_publisher: MakePublisher,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    publisher = make_publisher(timeout=0.3)
    FAILURES[failure](fake)
    with (
        caplog.at_level(logging.DEBUG, logger="bot.publishers.telegram"),
        pytest.raises(PublishError) as info,
    ):
        publisher.delete("1")
    assert info.value.retryable  # deleting twice is harmless
    assert_no_token(info.value)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("remote_id", ["", "0", "-5", "1/../2", "12?x=1", "abc"])
def test_an_id_that_is_not_a_message_id_is_refused_before_any_request(
    fake: FakeTelegram, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Telegram message id") as info:
        make_publisher().delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
