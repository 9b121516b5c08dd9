"""The helpers every publisher shares (``bot.publishers.common``), as tables.

The publishers' integration tests cover how each one uses them; these pin the helpers' own
contract, including the parameters through which the platforms differ.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from urllib3.connection import HTTPConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from bot.config import AccountConfig
from bot.errors import ConfigError, PublishError
from bot.publishers.common import (
    MAX_WAIT,
    MIN_WAIT,
    bool_option,
    clamp_wait,
    http_date,
    never_sent,
    number,
    redact_error,
    scrub,
)

# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "min_length", "expected"),
    [
        ("token abc123 here", ["abc123"], 4, "token *** here"),
        ("abc123 and abc123", ["abc123"], 4, "*** and ***"),
        ("two: abcd, wxyz", ["abcd", "wxyz"], 4, "two: ***, ***"),
        ("nothing to hide", ["abc123"], 4, "nothing to hide"),
        ("nothing to hide", [], 4, "nothing to hide"),
        ("id 123 in it", ["123"], 4, "id 123 in it"),  # too short to blank by default
        ("id 123 in it", ["123"], 1, "id *** in it"),  # unless the publisher says so
        ("empty is never a secret", [""], 0, "empty is never a secret"),
        ("https://h/hook/tok", ["https://h/hook/tok", "/hook/tok"], 1, "***"),  # longest first
        ("https://h/hook/tok", ["/hook/tok", "https://h/hook/tok"], 1, "https://h***"),  # as given
    ],
)
def test_scrub(text: str, secrets: list[str], min_length: int, expected: str) -> None:
    assert scrub(text, secrets, min_length=min_length) == expected


def test_redact_error_copies_every_field_with_the_message_scrubbed() -> None:
    error = PublishError(
        "refused token s3cr3t-token",
        platform="x",
        retryable=True,
        retry_after=30.0,
        status=429,
    )
    redacted = redact_error(error, ["s3cr3t-token"])
    assert str(redacted) == "refused token ***"
    assert (redacted.platform, redacted.retryable, redacted.retry_after, redacted.status) == (
        "x",
        True,
        30.0,
        429,
    )


@pytest.mark.parametrize(
    ("secrets", "min_length"),
    [([], 4), (["absent-secret"], 4), (["tok"], 4), ([""], 1)],
)
def test_redact_error_returns_the_same_error_when_nothing_is_blanked(
    secrets: list[str], min_length: int
) -> None:
    error = PublishError("a tok message", platform="telegram", retryable=False)
    assert redact_error(error, secrets, min_length=min_length) is error


def test_redact_error_honours_min_length() -> None:
    error = PublishError("bot 1:a refused", platform="telegram", retryable=False)
    assert str(redact_error(error, ["1:a"], min_length=1)) == "bot *** refused"


# --- waits -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "bounds", "expected"),
    [
        (30.0, {}, 30.0),
        (0.2, {}, MIN_WAIT),
        (-500.0, {}, MIN_WAIT),  # a reset in the past still waits a moment
        (1e12, {}, MAX_WAIT),
        (1e12, {"high": 24 * 3600.0}, 24 * 3600.0),  # Mastodon's and webhooks' cap
        (1e12, {"high": math.inf}, 1e12),  # Telegram's wait is taken as it is
        (0.5, {"low": 0.0}, 0.5),
        (90_000.0, {"high": 86_400.0}, 86_400.0),  # Threads: at most the quota window
    ],
)
def test_clamp_wait(seconds: float, bounds: dict[str, float], expected: float) -> None:
    assert clamp_wait(seconds, **bounds) == expected


def test_the_default_bounds() -> None:
    assert (MIN_WAIT, MAX_WAIT) == (1.0, 25 * 3600.0)


# --- numbers and dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 1.5 ", 1.5),
        ("1e3", 1000.0),
        ("-4", -4.0),
        (7, 7.0),
        (2.5, 2.5),
        (None, None),
        (True, None),
        (False, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("1e999", None),
        (math.inf, None),
        (b"30", None),
        ([30], None),
    ],
)
def test_number(value: object, expected: float | None) -> None:
    assert number(value) == expected


@pytest.fixture
def local_time_utc_minus_5() -> Iterator[None]:
    """The host's local time zone set to UTC-5 for one test (POSIX ``TZ``)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "EST5"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 1445412480.0),
        ("Thu, 01 Jan 1970 00:20:00 GMT", 1200.0),
        ("Sun Nov  6 08:49:37 1994", None),  # no zone: unreadable unless naive_as_local
        ("Wed, 21 Oct 2015 07:28:00 -0000", None),
        ("", None),
        ("soon", None),
        ("30", None),
        ("Mon, 99 Jan 2020 00:00:00 GMT", None),
        ("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", None),  # OverflowError inside
    ],
)
def test_http_date(value: str, expected: float | None) -> None:
    assert http_date(value) == expected


@pytest.mark.usefixtures("local_time_utc_minus_5")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun Nov  6 08:49:37 1994", 784111777.0 + 5 * 3600),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0),  # a zone is a zone either way
        ("soon", None),
    ],
)
def test_http_date_naive_as_local(value: str, expected: float | None) -> None:
    assert http_date(value, naive_as_local=True) == expected


# --- requests that never left ------------------------------------------------------------------


def _wrapped(reason: Exception) -> MaxRetryError:
    return MaxRetryError(None, "/", reason)  # type: ignore[arg-type]


_REFUSED = NewConnectionError(HTTPConnection("localhost"), "Connection refused")


@pytest.mark.parametrize(
    ("exc", "tls", "expected"),
    [
        (requests.ConnectTimeout(), False, True),
        (requests.ConnectionError(_wrapped(_REFUSED)), False, True),
        (requests.ConnectionError(_wrapped(ConnectTimeoutError("timed out"))), False, True),
        (requests.ConnectionError(_REFUSED), False, True),
        (requests.ConnectionError(ProtocolError("Connection aborted.")), False, False),
        (requests.ConnectionError(OSError("reset")), False, False),
        (requests.ConnectionError(), False, False),
        (requests.ReadTimeout(), False, False),
        (requests.exceptions.ChunkedEncodingError(), False, False),
        (requests.exceptions.SSLError(_wrapped(Urllib3SSLError("handshake"))), False, False),
        (requests.exceptions.SSLError(_wrapped(Urllib3SSLError("handshake"))), True, True),
        (requests.ReadTimeout(), True, False),
        (ValueError("not a request"), False, False),
    ],
)
def test_never_sent(exc: BaseException, tls: bool, expected: bool) -> None:
    assert never_sent(exc, tls=tls) is expected


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_refused_connection_never_sent() -> None:
    with requests.Session() as session, pytest.raises(requests.ConnectionError) as info:
        session.post(f"http://127.0.0.1:{_closed_port()}/", data=b"x", timeout=5)
    assert never_sent(info.value)


def test_a_connection_dropped_after_the_request_may_have_been_sent() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def drop_after_reading() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)  # the request arrived; no answer goes back

    thread = threading.Thread(target=drop_after_reading, daemon=True)
    thread.start()
    try:
        with requests.Session() as session, pytest.raises(requests.ConnectionError) as info:
            session.post(f"http://127.0.0.1:{port}/", data=b"x", timeout=5)
    finally:
        thread.join(5)
        server.close()
    assert not never_sent(info.value)
    assert not never_sent(info.value, tls=True)


# --- options -----------------------------------------------------------------------------------


def _account(**options: str | int | float | bool) -> AccountConfig:
    return AccountConfig(id="acct", platform="console", options=options)


@pytest.mark.parametrize(
    ("options", "default", "words", "expected"),
    [
        ({}, False, False, False),
        ({}, True, False, True),
        ({"flag": True}, False, False, True),
        ({"flag": False}, True, False, False),
        ({"flag": True}, False, True, True),
        ({"flag": "yes"}, False, True, True),
        ({"flag": " ON "}, False, True, True),
        ({"flag": "True"}, False, True, True),
        ({"flag": 1}, False, True, True),
        ({"flag": "1"}, False, True, True),
        ({"flag": "no"}, True, True, False),
        ({"flag": "off"}, True, True, False),
        ({"flag": 0}, True, True, False),
        ({"flag": "FALSE"}, True, True, False),
    ],
)
def test_bool_option(
    options: dict[str, str | int | float | bool], default: bool, words: bool, expected: bool
) -> None:
    assert bool_option(_account(**options), "flag", default=default, words=words) is expected


@pytest.mark.parametrize(
    ("value", "words"),
    [("yes", False), (1, False), ("true", False), ("maybe", True), (2, True), (1.0, True)],
)
def test_bool_option_names_the_key_of_a_bad_value(value: str | int | float, words: bool) -> None:
    with pytest.raises(ConfigError) as info:
        bool_option(_account(flag=value), "flag", default=False, words=words)
    assert str(info.value) == f"accounts.acct.options.flag must be true or false, not {value!r}"
