"""What every publisher does the same way: redact secrets, bound a wait, read a number or a
date from an answer, tell a request that never left, read a flag from ``account.options``,
check a stored post id before it goes into a URL.

Pure functions (no I/O, no clock: a caller that needs the time passes ``now``). Where the
platforms really differ (a cap of 24 or 25 hours, a secret that is always blanked however
short, ``yes``/``no`` accepted as a flag), the difference is a parameter the publisher passes.
What is one platform's own (X's rate-limit windows, Mastodon's ISO reset time, Meta's
usage header) stays in its module, built from these.
"""

from __future__ import annotations

import email.utils
import math
import re
from typing import TYPE_CHECKING

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from bot.errors import ConfigError, PublishError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bot.config import AccountConfig

__all__ = [
    "MAX_WAIT",
    "MIN_WAIT",
    "REDACTED",
    "bool_option",
    "checked_id",
    "clamp_wait",
    "http_date",
    "never_sent",
    "number",
    "redact_error",
    "scrub",
]

REDACTED = "***"
MIN_WAIT = 1.0  # a reset already past still waits a moment
MAX_WAIT = 25 * 3600.0  # longer than any daily window: a garbled reset cannot hold an account

_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


# --- secrets -----------------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str], *, min_length: int = 4) -> str:
    """``text`` with every secret of at least ``min_length`` characters replaced by ``***``.

    Secrets are replaced in the order given: when one contains another, give the longer first.
    Shorter ones are left alone (a 2-character "secret" would blank half a message); a
    publisher whose secret must go whatever its length passes ``min_length=1``.
    """
    for secret in secrets:
        if secret and len(secret) >= min_length:
            text = text.replace(secret, REDACTED)
    return text


def redact_error(
    error: PublishError, secrets: Iterable[str], *, min_length: int = 4
) -> PublishError:
    """``error`` with its message ``scrub``-bed: a copy with the same fields, or ``error``
    itself when no secret was in it (belt and braces: messages are built without secrets)."""
    message = str(error)
    scrubbed = scrub(message, secrets, min_length=min_length)
    if scrubbed == message:
        return error
    return PublishError(
        scrubbed,
        platform=error.platform,
        retryable=error.retryable,
        retry_after=error.retry_after,
        status=error.status,
    )


# --- waits -------------------------------------------------------------------------------------


def clamp_wait(seconds: float, *, low: float = MIN_WAIT, high: float = MAX_WAIT) -> float:
    """``seconds`` brought within ``[low, high]``: the wait a platform asked for, bounded."""
    return min(max(seconds, low), high)


# --- numbers and dates in answers --------------------------------------------------------------


def number(value: object) -> float | None:
    """A finite float from an int, a float or a numeric string (a header, a JSON field;
    surrounding white space is allowed). ``None`` for anything else: a missing value, text,
    ``true``/``false``, NaN and infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def http_date(value: str, *, naive_as_local: bool = False) -> float | None:
    """The Unix time of an HTTP date (``Wed, 21 Oct 2015 07:28:00 GMT``), or ``None`` when it
    cannot be read.

    A date without a time zone (asctime, or ``-0000``) cannot be read either, unless
    ``naive_as_local`` reads it in the host's local time zone (what ``datetime.timestamp``
    does; LinkedIn's and Mastodon's publishers have always read it that way).
    """
    try:
        moment = email.utils.parsedate_to_datetime(value)
        if moment.tzinfo is None and not naive_as_local:
            return None
        return moment.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# --- requests that never left ------------------------------------------------------------------


def never_sent(exc: BaseException, *, tls: bool = False) -> bool:
    """Whether a ``requests`` exception means the request never reached the server, so
    whatever it asked for did not happen: no connection could be made (refused, DNS, connect
    timeout), or, with ``tls``, the TLS handshake failed before anything was sent.

    A read timeout or a connection lost after connecting may hide a request that went
    through: ``False``, as for anything that is not a ``requests`` exception.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if tls and isinstance(exc, requests.exceptions.SSLError):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        # requests sends without retries: a failed connect is a MaxRetryError around a
        # NewConnectionError (refused, DNS) or a ConnectTimeoutError; a connection lost
        # later is a bare ProtocolError or OSError.
        cause = exc.args[0]
        reason = getattr(cause, "reason", cause)
        return isinstance(reason, NewConnectionError | ConnectTimeoutError)
    return False


# --- stored ids ----------------------------------------------------------------------------------


def checked_id(remote_id: object, pattern: re.Pattern[str], *, platform: str, what: str) -> str:
    """``remote_id`` (a ``PublishResult.remote_id`` read back from the ledger) when the whole
    of it matches ``pattern``, else a permanent ``PublishError`` saying it is not ``what``.

    Ids go into request paths (``DELETE /2/tweets/{id}``): one that is not of the platform's
    form (a ``/``, a ``?``, another platform's id) must not reach the URL. The message quotes
    at most 80 characters of it; ids are not secrets.
    """
    text = remote_id if isinstance(remote_id, str) else ""
    if text and pattern.fullmatch(text):
        return text
    shown = repr(remote_id) if len(repr(remote_id)) <= 80 else repr(remote_id)[:79] + "…"
    raise PublishError(f"{shown} is not {what}", platform=platform, retryable=False)


# --- options -----------------------------------------------------------------------------------


def bool_option(account: AccountConfig, name: str, *, default: bool, words: bool = False) -> bool:
    """``account.options[name]`` as a flag, ``default`` when it is not set.

    YAML's ``true``/``false``; with ``words`` also ``yes``/``no``, ``on``/``off`` and ``1``/``0``
    (as text or numbers, any case). Anything else raises ``ConfigError`` naming the key.
    """
    value = account.options.get(name, default)
    if isinstance(value, bool):
        return value
    if words:
        word = str(value).strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ConfigError(f"accounts.{account.id}.options.{name} must be true or false, not {value!r}")
