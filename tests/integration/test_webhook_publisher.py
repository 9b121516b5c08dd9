"""WebhookPublisher against FakeWebhooks: Discord, Slack and JSON webhooks over real HTTP."""

from __future__ import annotations

import json
import logging
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.config import AccountConfig
from bot.errors import ConfigError, PublishError
from bot.models import Image, Post, PublishResult
from bot.publishers import create_publisher, spec_for
from bot.publishers.base import Deleter, InDoubt, Publisher
from bot.publishers.webhook import (
    DISCORD_SPEC,
    JSON_SPEC,
    SLACK_SPEC,
    STRICTEST_SPEC,
    WebhookPublisher,
    _retry_after_header,
    parse_template,
    render_template,
)
from tests.fakes.fake_webhook import (
    DISCORD_TOKEN,
    DISCORD_WEBHOOK_ID,
    SLACK_TOKEN,
    FakeWebhooks,
)

ARTICLE_URL = "https://ctninfo.com/2026/11/ruto-haiti/"
IMAGE_URL = "https://ctninfo.com/wp-content/uploads/2026/11/ruto.jpg"
TEXT = f"Ruto announces the end of the mission {ARTICLE_URL}"
PICTURE = Image(url=IMAGE_URL, alt="Ruto at a lectern")
API_KEY = "Bearer sk-live-0123456789abcdef"


def make_post(
    text: str = TEXT,
    *,
    title: str = "Ruto announces the end of the mission",
    description: str = "Kenya's president says the last officers leave in March.",
    image: Image | None = PICTURE,
    language: str | None = "en",
) -> Post:
    return Post(
        account_id="hook",
        platform="webhook",
        text=text,
        url=ARTICLE_URL,
        length=len(text),
        limit=2000,
        image=image,
        title=title,
        description=description,
        language=language,
    )


def make_account(url: str | None, **options: Any) -> AccountConfig:
    credentials = {"url": url} if url is not None else {}
    return AccountConfig(id="hook", platform="webhook", credentials=credentials, options=options)


MakePublisher = Callable[..., WebhookPublisher]


@pytest.fixture
def fake() -> Iterator[FakeWebhooks]:
    with FakeWebhooks() as server:
        yield server


@pytest.fixture
def make_publisher(fake: FakeWebhooks) -> Iterator[MakePublisher]:
    """``make("discord", embed=False)``: a publisher for the fake's webhook of that kind."""
    made: list[WebhookPublisher] = []

    def make(
        kind: str, *, url: str | None = None, timeout: float = 5.0, **options: Any
    ) -> WebhookPublisher:
        default = {"discord": fake.discord_url, "slack": fake.slack_url, "json": fake.json_url}
        account = make_account(url or default[kind], kind=kind, **options)
        publisher = WebhookPublisher(account, timeout=timeout)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()


def publish_error(publisher: WebhookPublisher, post: Post | None = None) -> PublishError:
    with pytest.raises(PublishError) as info:
        publisher.publish(post or make_post(), idempotency_key="d-1")
    return info.value


# --- the publisher as the program sees it ----------------------------------------------------


def test_the_registry_builds_a_webhook_publisher(fake: FakeWebhooks) -> None:
    account = make_account(fake.slack_url, kind="slack")
    publisher = create_publisher(account)
    try:
        assert isinstance(publisher, WebhookPublisher)
        assert isinstance(publisher, Publisher)
        assert publisher.live_spec() == SLACK_SPEC
    finally:
        publisher.close()
    assert spec_for(account) == STRICTEST_SPEC  # the class spec: the strictest kind's
    assert fake.requests == []  # construction does no I/O


@pytest.mark.parametrize(
    ("kind", "spec", "limit"),
    [("discord", DISCORD_SPEC, 2000), ("slack", SLACK_SPEC, 40_000), ("json", JSON_SPEC, 100_000)],
)
def test_each_kind_has_its_own_limits(
    make_publisher: MakePublisher, kind: str, spec: Any, limit: int
) -> None:
    live = make_publisher(kind).live_spec()
    assert live == spec
    assert (live.max_length, live.counting, live.url_length) == (limit, "codepoints", None)
    assert live.in_doubt is InDoubt.HOLD  # no webhook deduplicates
    assert WebhookPublisher.spec == STRICTEST_SPEC
    assert STRICTEST_SPEC.max_length == DISCORD_SPEC.max_length
    assert not STRICTEST_SPEC.can_delete


# --- Discord ---------------------------------------------------------------------------------


def test_discord_posts_content_and_an_embed_and_returns_the_message_id(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher(
        "discord", username="CTN Newsroom", avatar_url="https://ctninfo.com/logo.png"
    )
    result = publisher.publish(make_post(), idempotency_key="d-1")

    [message] = fake.messages
    assert result == PublishResult(remote_id=message.id, url=None)
    assert message.query == {"wait": "true"}
    assert message.body == {
        "content": TEXT,
        "allowed_mentions": {"parse": []},
        "username": "CTN Newsroom",
        "avatar_url": "https://ctninfo.com/logo.png",
        "embeds": [
            {
                "url": ARTICLE_URL,
                "title": "Ruto announces the end of the mission",
                "description": "Kenya's president says the last officers leave in March.",
                "image": {"url": IMAGE_URL},
            }
        ],
    }
    assert message.headers["Content-Type"] == "application/json; charset=utf-8"
    assert message.headers["User-Agent"].startswith("syndbot/")


def test_discord_without_embed_sends_only_the_text(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    make_publisher("discord", embed=False).publish(make_post(), idempotency_key="d-1")
    assert fake.messages[0].body == {"content": TEXT, "allowed_mentions": {"parse": []}}


def test_discord_embed_parts_are_cut_to_discords_limits(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    post = make_post(title="T" * 300, description="D" * 5000, image=None)
    make_publisher("discord").publish(post, idempotency_key="d-1")
    [embed] = fake.messages[0].body["embeds"]
    assert (len(embed["title"]), len(embed["description"])) == (256, 4096)
    assert embed["title"].endswith("…")
    assert "image" not in embed


def test_discord_keeps_a_thread_id_in_the_webhook_url(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher("discord", url=f"{fake.discord_url}?thread_id=42")
    publisher.publish(make_post(), idempotency_key="d-1")
    assert fake.messages[0].query == {"thread_id": "42", "wait": "true"}


def test_discord_content_over_2000_characters_is_a_permanent_400(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    error = publish_error(make_publisher("discord"), make_post("é" * 2001))
    assert (error.status, error.retryable) == (400, False)
    assert "Invalid Form Body (code 50035)" in str(error)
    assert "content: Must be 2000 or fewer in length." in str(error)
    assert fake.messages == []


def test_2000_characters_fit_discord(fake: FakeWebhooks, make_publisher: MakePublisher) -> None:
    make_publisher("discord").publish(make_post("é" * 2000), idempotency_key="d-1")
    assert len(fake.messages) == 1


def test_discord_rate_limit_waits_retry_after_from_the_body(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next("discord", retry_after=1.5)
    error = publish_error(make_publisher("discord"))
    assert (error.status, error.retryable, error.retry_after) == (429, True, 1.5)
    assert "You are being rate limited." in str(error)


def test_discord_rate_limit_falls_back_to_the_retry_after_header(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next("discord", retry_after=7.2, in_body=False)
    error = publish_error(make_publisher("discord"))
    assert (error.retryable, error.retry_after) == (True, 8.0)  # the header: whole seconds


@pytest.mark.parametrize("status", [500, 502, 503])
def test_discord_server_errors_are_retryable(
    fake: FakeWebhooks, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next("discord", status=status)
    publisher = make_publisher("discord")
    error = publish_error(publisher)
    assert (error.status, error.retryable) == (status, True)
    assert publisher.publish(make_post(), idempotency_key="d-1").remote_id


def test_a_deleted_discord_webhook_is_permanent_and_says_what_to_do(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.delete_discord_webhook()
    error = publish_error(make_publisher("discord"))
    assert (error.status, error.retryable) == (404, False)
    assert "Unknown Webhook (code 10015)" in str(error)
    assert "credentials.url" in str(error)


def test_a_wrong_discord_token_is_permanent(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    url = f"{fake.url}/api/webhooks/{DISCORD_WEBHOOK_ID}/not-the-token-{'x' * 40}"
    error = publish_error(make_publisher("discord", url=url))
    assert (error.status, error.retryable) == (401, False)
    assert "Invalid Webhook Token" in str(error)


@pytest.mark.parametrize("status", [400, 403])
def test_other_discord_refusals_are_permanent(
    fake: FakeWebhooks, make_publisher: MakePublisher, status: int
) -> None:
    fake.fail_next("discord", status=status, body={"message": "Missing Access", "code": 50001})
    error = publish_error(make_publisher("discord"))
    assert (error.status, error.retryable) == (status, False)
    assert "Missing Access (code 50001)" in str(error)


def test_a_mention_in_a_title_pings_nobody(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    make_publisher("discord").publish(make_post("@everyone look " + TEXT), idempotency_key="d-1")
    assert fake.messages[0].body["allowed_mentions"] == {"parse": []}


# --- Slack -------------------------------------------------------------------------------------


def test_slack_posts_the_text_and_has_no_id(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    result = make_publisher("slack").publish(make_post(), idempotency_key="d-1")
    assert result == PublishResult(remote_id=None, url=None)
    assert fake.messages[0].body == {"text": TEXT}
    assert [r.status for r in fake.requests] == [200]


def test_slack_text_is_escaped_so_it_cannot_mention_or_link(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    make_publisher("slack").publish(
        make_post(f"Q&A: <!channel> prices > wages {ARTICLE_URL}"), idempotency_key="d-1"
    )
    assert fake.messages[0].body["text"] == (
        f"Q&amp;A: &lt;!channel&gt; prices &gt; wages {ARTICLE_URL}"
    )


def test_slack_blocks_carry_the_linked_title_and_the_picture(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    make_publisher("slack", blocks=True).publish(make_post(), idempotency_key="d-1")
    body = fake.messages[0].body
    assert body["text"] == TEXT
    assert body["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": TEXT}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*<{ARTICLE_URL}|Ruto announces the end of the mission>*\n"
                "Kenya's president says the last officers leave in March.",
            },
            "accessory": {"type": "image", "image_url": IMAGE_URL, "alt_text": "Ruto at a lectern"},
        },
    ]


def test_slack_invalid_payload_is_permanent_with_slacks_code(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.fail_next("slack", status=400, body="invalid_payload")
    error = publish_error(make_publisher("slack"))
    assert (error.status, error.retryable) == (400, False)
    assert "invalid_payload" in str(error)


def test_the_fake_slack_refuses_a_body_that_is_not_json(fake: FakeWebhooks) -> None:
    import requests

    response = requests.post(fake.slack_url, data=b"text=hello", timeout=5)
    assert (response.status_code, response.text) == (400, "invalid_payload")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/services/T0FAKE0001/B0FAKE0001/wrongtoken0123456789", 403, "invalid_token"),
        (f"/services/T0GONE0001/B0GONE0001/{SLACK_TOKEN}", 404, "no_service"),
    ],
)
def test_a_revoked_or_removed_slack_webhook_is_permanent(
    fake: FakeWebhooks, make_publisher: MakePublisher, path: str, status: int, code: str
) -> None:
    error = publish_error(make_publisher("slack", url=fake.url + path))
    assert (error.status, error.retryable) == (status, False)
    assert code in str(error)
    assert "create a new one" in str(error)


def test_slack_rate_limit_waits_for_retry_after(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next("slack", retry_after=30)
    error = publish_error(make_publisher("slack"))
    assert (error.status, error.retryable, error.retry_after) == (429, True, 30.0)


def test_slack_server_errors_are_retryable(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.fail_next("slack", status=500)
    assert publish_error(make_publisher("slack")).retryable


# --- JSON ------------------------------------------------------------------------------------

TRICKY_TITLE = 'Le "Premier ministre" répond:\nÇa suffit \\ enough — ½ “quotes” ✓'


def test_json_template_values_are_escaped_inside_the_json(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    template = (
        '{"msg": {"title": "{title}", "line": "» {title} «", "link": "{url}"}, '
        '"lang": "{language}", "n": 3, "flags": [true, null, "{image}"]}'
    )
    post = make_post(title=TRICKY_TITLE, language="fr")
    make_publisher("json", template=template).publish(post, idempotency_key="d-1")

    [message] = fake.messages
    assert message.body == {
        "msg": {"title": TRICKY_TITLE, "line": f"» {TRICKY_TITLE} «", "link": ARTICLE_URL},
        "lang": "fr",
        "n": 3,
        "flags": [True, None, IMAGE_URL],
    }
    assert json.loads(message.raw.decode("utf-8")) == message.body  # UTF-8 JSON on the wire


def test_the_default_json_body_has_every_field(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    post = make_post(image=None, language=None)
    make_publisher("json").publish(post, idempotency_key="d-1")
    assert fake.messages[0].body == {
        "text": TEXT,
        "url": ARTICLE_URL,
        "title": post.title,
        "description": post.description,
        "language": None,  # a missing value alone in its string is null
        "image": None,
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"a": "{title}"}', {"a": 'Say "hi"\n'}),
        ('{"a": "{{title}}"}', {"a": "{title}"}),  # doubled braces are literal
        ('{"a": "[{language}]"}', {"a": "[]"}),  # missing inside a longer string: empty
        ('{"{language}": 1}', {"": 1}),
        ('["{text}", "{url}"]', ["t", ARTICLE_URL]),
        ('"{title}"', 'Say "hi"\n'),
        ('{"a": "{ not a placeholder"}', {"a": "{ not a placeholder"}),
    ],
)
def test_render_template_table(template: str, expected: Any) -> None:
    post = make_post("t", title='Say "hi"\n', language=None)
    assert render_template(parse_template(template), post) == expected


def test_json_headers_are_sent(make_publisher: MakePublisher) -> None:
    with FakeWebhooks(required_headers={"Authorization": API_KEY, "X-Source": "ctn"}) as fake:
        publisher = make_publisher(
            "json", url=fake.json_url, header_Authorization=API_KEY, **{"header_X-Source": "ctn"}
        )
        publisher.publish(make_post(), idempotency_key="d-1")
        assert len(fake.messages) == 1

        bare = make_publisher("json", url=fake.json_url)
        error = publish_error(bare)
    assert (error.status, error.retryable) == (401, False)
    assert "unauthorized" in str(error)


@pytest.mark.parametrize(
    ("answer", "id_field", "expected"),
    [
        ({"id": "evt-9"}, "id", "evt-9"),
        ({"data": {"id": 42}}, "data.id", "42"),
        ({"items": [{"id": "x"}]}, "items.0.id", "x"),
        ({"other": 1}, "id", None),
        ({"id": "evt-9"}, None, None),
    ],
)
def test_json_remote_id_comes_from_the_configured_field(
    make_publisher: MakePublisher, answer: Any, id_field: str | None, expected: str | None
) -> None:
    with FakeWebhooks(json_status=201, json_answer=answer) as fake:
        options = {"id_field": id_field} if id_field else {}
        result = make_publisher("json", url=fake.json_url, **options).publish(
            make_post(), idempotency_key="d-1"
        )
    assert result == PublishResult(remote_id=expected, url=None)


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (400, False), (404, False), (422, False)]
)
def test_json_answers(
    fake: FakeWebhooks, make_publisher: MakePublisher, status: int, retryable: bool
) -> None:
    fake.fail_next("json", status=status, body={"error": "nope", "detail": "bad field"})
    error = publish_error(make_publisher("json"))
    assert (error.status, error.retryable) == (status, retryable)
    assert '"detail": "bad field"' in str(error)  # the receiver's answer, quoted


def test_json_rate_limit_waits_for_retry_after(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.rate_limit_next("json", retry_after=12)
    error = publish_error(make_publisher("json"))
    assert (error.retryable, error.retry_after) == (True, 12.0)


def test_a_redirect_is_not_followed(fake: FakeWebhooks, make_publisher: MakePublisher) -> None:
    fake.fail_next("json", status=301, body="", headers={"Location": fake.slack_url})
    error = publish_error(make_publisher("json"))
    assert (error.status, error.retryable) == (301, False)
    assert fake.messages == []
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 100.0),
        ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),  # in the past
        ("soon", None),
    ],
)
def test_retry_after_header_table(value: str, expected: float | None) -> None:
    now = 1445412380.0  # 2015-10-21 07:26:20 UTC
    assert _retry_after_header({"Retry-After": value}, now=lambda: now) == expected


# --- uncertain outcomes --------------------------------------------------------------------


def test_no_answer_after_sending_is_held_for_an_editor_not_retried(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    fake.slow_next("discord", seconds=2.0)
    error = publish_error(make_publisher("discord", timeout=0.3))
    assert not error.retryable  # it may have been posted: no automatic second post
    assert "may have been posted" in str(error)
    assert len(fake.messages) == 1


def test_an_unreachable_webhook_is_retryable(make_publisher: MakePublisher) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_TOKEN}"
    error = publish_error(make_publisher("discord", url=url))
    assert error.retryable
    assert "nothing was sent" in str(error)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- secrets ---------------------------------------------------------------------------------


def closed_url(kind: str, fake: FakeWebhooks) -> str:
    real = {"discord": fake.discord_url, "slack": fake.slack_url, "json": fake.json_url}[kind]
    return real.replace(f":{fake.port}", f":{free_port()}")


def scripted(kind: str, fault: str) -> Callable[[FakeWebhooks], None]:
    def arrange(fake: FakeWebhooks) -> None:
        if fault == "429":
            fake.rate_limit_next(kind)  # type: ignore[arg-type]
        elif fault == "slow":
            fake.slow_next(kind, 2.0)  # type: ignore[arg-type]
        elif fault.isdigit():
            fake.fail_next(kind, status=int(fault))  # type: ignore[arg-type]

    return arrange


@pytest.mark.parametrize("kind", ["discord", "slack", "json"])
@pytest.mark.parametrize("fault", ["ok", "400", "404", "500", "429", "slow", "unreachable"])
def test_the_webhook_url_and_headers_never_reach_errors_or_logs(
    fake: FakeWebhooks,
    make_publisher: MakePublisher,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs each request's path at DEBUG
    options = {"header_Authorization": API_KEY} if kind == "json" else {}
    url = closed_url(kind, fake) if fault == "unreachable" else None
    scripted(kind, fault)(fake)
    publisher = make_publisher(kind, url=url, timeout=0.5, **options)

    shown: list[str] = []
    if fault == "ok":
        publisher.publish(make_post(), idempotency_key="d-1")
    else:
        error = publish_error(publisher)
        shown += [str(error), repr(error), "".join(traceback.format_exception(error))]
        assert (error.__cause__, error.__context__) == (None, None)  # nothing chained
    shown.append(caplog.text)
    shown += [str(record.args) for record in caplog.records]

    secrets = [DISCORD_TOKEN, SLACK_TOKEN, fake.discord_url, fake.slack_url, API_KEY]
    secrets.append(API_KEY.split(" ", 1)[1])
    for text in shown:
        for secret in secrets:
            assert secret not in text
    assert "urllib3" in caplog.text or fault == "unreachable"  # the filter saw the lines


def test_the_url_is_not_in_the_publishers_repr(fake: FakeWebhooks) -> None:
    publisher = WebhookPublisher(make_account(fake.discord_url, kind="discord"))
    try:
        assert DISCORD_TOKEN not in repr(publisher)
    finally:
        publisher.close()


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        (None, {"kind": "discord"}, r"credentials\.url is required"),
        ("", {"kind": "slack"}, r"credentials\.url is required"),
        ("ftp://hooks.example/x", {"kind": "json"}, r"credentials\.url must be an http"),
        ("https://hooks.example/x", {}, r"options\.kind is required"),
        ("https://hooks.example/x", {"kind": "teams"}, r"options\.kind must be one of"),
        ("https://hooks.example/x", {"kind": "json", "template": "{text}"}, "not valid JSON"),
        (
            "https://hooks.example/x",
            {"kind": "json", "template": '{"a": {text}}'},
            "not valid JSON",
        ),
        (
            "https://hooks.example/x",
            {"kind": "json", "template": '{"a": "{headline}"}'},
            r"unknown placeholder \{headline\}",
        ),
        ("https://hooks.example/x", {"kind": "json", "template": "  "}, r"options\.template"),
        ("https://hooks.example/x", {"kind": "discord", "embed": "no"}, r"options\.embed"),
        ("https://hooks.example/x", {"kind": "slack", "blocks": 1}, r"options\.blocks"),
        ("https://hooks.example/x", {"kind": "slack", "embed": True}, "not an option of slack"),
        ("https://hooks.example/x", {"kind": "discord", "template": "{}"}, "not an option"),
        (
            "https://hooks.example/x",
            {"kind": "discord", "header_Authorization": "x"},
            "not an option of discord",
        ),
        ("https://hooks.example/x", {"kind": "json", "header_Bad Name": "x"}, "header name"),
        ("https://hooks.example/x", {"kind": "json", "id_field": "data..id"}, r"id_field"),
        ("https://hooks.example/x", {"kind": "discord", "username": "x" * 81}, r"username"),
        ("https://hooks.example/x", {"kind": "discord", "avatar_url": "logo.png"}, "avatar_url"),
    ],
)
def test_config_errors(url: str | None, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        WebhookPublisher(make_account(url, **options))
    assert "accounts.hook." in str(info.value)
    if url:
        assert url not in str(info.value)  # the URL is a secret, even a wrong one


def test_a_wrong_secret_url_is_not_echoed(fake: FakeWebhooks) -> None:
    url = f"discord.com/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_TOKEN}"  # no scheme
    with pytest.raises(ConfigError) as info:
        WebhookPublisher(make_account(url, kind="discord"))
    assert DISCORD_TOKEN not in str(info.value)


# --- deleting (on_unpublish: delete) -------------------------------------------------------


def posted_id(publisher: WebhookPublisher, text: str = TEXT) -> str:
    result = publisher.publish(make_post(text), idempotency_key="d-1")
    assert result.remote_id is not None
    return result.remote_id


def assert_no_webhook_secret(fake: FakeWebhooks, *shown: str) -> None:
    for text in shown:
        for secret in (DISCORD_TOKEN, SLACK_TOKEN, fake.discord_url, fake.slack_url):
            assert secret not in text


@pytest.mark.parametrize(
    ("kind", "can_delete"), [("discord", True), ("slack", False), ("json", False)]
)
def test_only_discord_webhooks_can_delete(
    make_publisher: MakePublisher, kind: str, can_delete: bool
) -> None:
    publisher = make_publisher(kind)
    assert isinstance(publisher, Deleter)
    assert publisher.live_spec().can_delete is can_delete


@pytest.mark.parametrize("kind", ["slack", "json"])
def test_a_webhook_that_cannot_delete_refuses_without_a_request(
    fake: FakeWebhooks, make_publisher: MakePublisher, kind: str
) -> None:
    with pytest.raises(PublishError, match="cannot delete") as info:
        make_publisher(kind).delete("evt-1")
    assert not info.value.retryable
    assert fake.requests == []


def test_delete_removes_the_discord_message_and_logs_it(
    fake: FakeWebhooks, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher("discord")
    kept = posted_id(publisher, "another story")
    gone = posted_id(publisher)

    with caplog.at_level(logging.INFO, logger="bot.publishers.webhook"):
        publisher.delete(gone)

    assert [m.id for m in fake.messages] == [kept]
    assert [m.id for m in fake.deleted] == [gone]
    last = fake.requests[-1]
    path = f"/api/webhooks/{DISCORD_WEBHOOK_ID}/{DISCORD_TOKEN}/messages/{gone}"
    assert (last.method, last.path, last.status) == ("DELETE", path, 204)
    assert f"account hook (discord) deleted message {gone}" in caplog.text
    assert_no_webhook_secret(fake, caplog.text)


def test_deleting_twice_is_no_error(
    fake: FakeWebhooks, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = make_publisher("discord")
    gone = posted_id(publisher)
    publisher.delete(gone)

    with caplog.at_level(logging.INFO, logger="bot.publishers.webhook"):
        publisher.delete(gone)  # Discord: 404 Unknown Message (10008)

    assert [r.status for r in fake.requests if r.method == "DELETE"] == [204, 404]
    assert f"message {gone} was already gone" in caplog.text


def test_a_thread_id_in_the_webhook_url_is_kept_for_the_deletion(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher("discord", url=f"{fake.discord_url}?thread_id=1400000000000000003")
    gone = posted_id(publisher)
    publisher.delete(gone)
    assert fake.messages == []


def test_delete_with_a_wrong_token_is_permanent_without_secrets(
    fake: FakeWebhooks, make_publisher: MakePublisher, caplog: pytest.LogCaptureFixture
) -> None:
    gone = posted_id(make_publisher("discord"))
    wrong_url = fake.discord_url.replace(DISCORD_TOKEN, "wrongToken_" + "x" * 60)

    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(PublishError) as info,
    ):
        make_publisher("discord", url=wrong_url).delete(gone)

    assert (info.value.status, info.value.retryable) == (401, False)
    assert "Invalid Webhook Token" in str(info.value)
    shown = [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    assert_no_webhook_secret(fake, *shown, caplog.text)
    assert wrong_url not in "".join(shown) + caplog.text
    assert len(fake.messages) == 1


def test_a_deleted_webhook_is_a_permanent_error_not_a_deleted_message(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher("discord")
    gone = posted_id(publisher)
    fake.delete_discord_webhook()
    with pytest.raises(PublishError, match="Unknown Webhook") as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (404, False)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_delete_server_errors_are_retryable(
    fake: FakeWebhooks, make_publisher: MakePublisher, status: int
) -> None:
    publisher = make_publisher("discord")
    gone = posted_id(publisher)
    fake.fail_next_delete(status=status)

    with pytest.raises(PublishError) as info:
        publisher.delete(gone)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert len(fake.messages) == 1

    publisher.delete(gone)
    assert fake.messages == []


def test_a_rate_limited_deletion_waits_as_discord_says(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    body = {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    fake.fail_next_delete(status=429, body=body, headers={"Retry-After": "3"})
    with pytest.raises(PublishError) as info:
        make_publisher("discord").delete("1300000000000000009")
    assert (info.value.retryable, info.value.retry_after) == (True, 2.5)


def test_a_deletion_without_an_answer_is_retryable(
    fake: FakeWebhooks, make_publisher: MakePublisher
) -> None:
    publisher = make_publisher("discord", timeout=1.0)
    fake.stop()
    with pytest.raises(PublishError) as info:
        publisher.delete("1300000000000000009")
    assert info.value.retryable
    assert_no_webhook_secret(fake, str(info.value))


@pytest.mark.parametrize("remote_id", ["", "evt-1", "1/../2", "13?wait=true", "1" * 21])
def test_an_id_that_is_not_a_discord_message_id_is_refused_before_any_request(
    fake: FakeWebhooks, make_publisher: MakePublisher, remote_id: str
) -> None:
    with pytest.raises(PublishError, match="is not a Discord message id") as info:
        make_publisher("discord").delete(remote_id)
    assert not info.value.retryable
    assert fake.requests == []
