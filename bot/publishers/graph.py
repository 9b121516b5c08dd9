"""Meta's Graph API and its Threads twin: one HTTP seam and one map from answers to errors.

Facebook Pages (``graph.facebook.com``) and Threads (``graph.threads.net``) share the Graph
API's conventions, so ``bot.publishers.facebook`` and ``bot.publishers.threads`` share this
module:

- ``GraphSession.call`` sends one request (with a timeout, never following redirects, so no
  request leaves ``api_base``) and returns the JSON object of a 2xx answer, or raises
  ``GraphAPIError`` carrying the parsed error object::

      {"error": {"message": "...", "type": "OAuthException", "code": 190,
                 "error_subcode": 463, "is_transient": false, "fbtrace_id": "..."}}

- ``translate(exc, service)`` turns a ``GraphAPIError`` or a ``requests`` exception into a
  ``PublishError``. Each publisher's own ``_translate`` handles its special answers first
  (Facebook's 506 "Duplicate status message") and hands the rest here.
- ``object_missing(exc)``: the answer to a request about an object that does not exist
  (code 100, subcode 33: "Unsupported delete request. Object with ID '…' does not exist…"),
  which is what a ``DELETE /{id}`` of a post that is already gone gets.

What the codes mean (developers.facebook.com/docs/graph-api/guides/error-handling):

====================================  ==============================================
``190`` (subcodes 458/460/463/467)    token expired, revoked or invalid → permanent
``10``, ``200``–``299``               missing permission → permanent, with a hint
``368``                               blocked for a policy reason → permanent
``4``, ``17``, ``32``, ``613``,       throttling → retryable; the wait comes from
``80000``–``80014``, HTTP 429         ``X-Business-Use-Case-Usage`` when it says
``1``, ``2``, ``is_transient``, 5xx   transient → retryable
anything else                         permanent, with Meta's message
====================================  ==============================================

Tokens travel as the ``access_token`` parameter, as both services document it: in the form
body of a POST, in the query of a GET or a DELETE. The messages built here hold the service's message, the
codes and ``fbtrace_id`` (what Meta's support asks for), never a URL (a GET's URL holds the
token; urllib3's DEBUG log lines quote it, which the CLI's log formatter must redact);
the publishers blank any credential from messages anyway (``common.redact_error``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from bot.errors import PublishError
from bot.publishers.common import MAX_WAIT, clamp_wait, never_sent, number

if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_RETRY_AFTER = MAX_WAIT  # the cap on a rate limit's wait (clamp_wait's default)

TOKEN_CODE = 190
INVALID_PARAMETER_CODE = 100
MISSING_OBJECT_SUBCODE = 33  # "Object with ID '…' does not exist, cannot be loaded …"
POLICY_CODE = 368
TRANSIENT_CODES = frozenset({1, 2})
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
# The publishing cap of Meta's content APIs (Instagram documents it as 2207042: "the maximum
# number of posts that were published in 24 hours has been reached").
POST_CAP_SUBCODE = 2207042
_TOKEN_SUBCODES = {
    458: "the user removed the app",
    460: "the user changed their password",
    463: "the token has expired",
    464: "the user is not confirmed",
    467: "the token is invalid",
}


@dataclass(frozen=True, slots=True)
class Service:
    """How messages name one Graph-style service, and what to tell ops when it refuses."""

    platform: str  # "threads", "facebook": PublishError.platform
    name: str  # "Threads", "Facebook"
    auth_hint: str
    permission_hint: str


class GraphAPIError(Exception):
    """A non-2xx answer, with the fields of its Graph error object (when it had one)."""

    def __init__(
        self,
        status: int,
        *,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        transient: bool = False,
        fbtrace_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.transient = transient
        self.fbtrace_id = fbtrace_id
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        super().__init__(self.describe())

    @classmethod
    def from_response(cls, response: requests.Response) -> GraphAPIError:
        error: Any = None
        with contextlib.suppress(ValueError, AttributeError):
            error = response.json().get("error")
        headers = response.headers
        if not isinstance(error, dict):
            reason = response.reason or "no error object in the answer"
            return cls(response.status_code, message=str(reason), headers=headers)
        return cls(
            response.status_code,
            message=str(error.get("message") or error.get("error_user_msg") or "no message"),
            code=_int(error.get("code")),
            subcode=_int(error.get("error_subcode")),
            error_type=str(error["type"]) if error.get("type") else None,
            transient=error.get("is_transient") is True,
            fbtrace_id=str(error["fbtrace_id"]) if error.get("fbtrace_id") else None,
            headers=headers,
        )

    def describe(self) -> str:
        """``HTTP 400, code 190/463: <message> (fbtrace_id …)``."""
        codes = ""
        if self.code is not None:
            codes = f", code {self.code}" + (f"/{self.subcode}" if self.subcode else "")
        trace = f" (fbtrace_id {self.fbtrace_id})" if self.fbtrace_id else ""
        return f"HTTP {self.status}{codes}: {self.message}{trace}"


class GraphSession:
    """The only HTTP client of the Graph publishers: ``api_base``, a timeout, no redirects.

    Creating one does no I/O (``requests.Session`` connects on first use).
    """

    def __init__(self, api_base: str, timeout: float) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        base: str | None = None,
    ) -> dict[str, Any]:
        """The JSON object of a 2xx answer to ``method base/path``.

        Raises ``GraphAPIError`` for any other status, ``requests.RequestException`` when
        the service cannot be reached or answers too late, ``requests.JSONDecodeError`` (a
        ``RequestException`` too) for a 2xx that is not JSON, and ``ValueError`` for JSON
        that is not an object.
        """
        url = f"{(base or self.api_base).rstrip('/')}/{path.lstrip('/')}"
        response = self._session.request(
            method,
            url,
            params=dict(params) if params else None,
            data=dict(data) if data else None,
            timeout=self.timeout,
            allow_redirects=False,
        )
        with response:
            if not 200 <= response.status_code < 300:
                raise GraphAPIError.from_response(response)
            body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"expected a JSON object, got {type(body).__name__}")
        return body

    def close(self) -> None:
        self._session.close()


def may_have_taken_effect(exc: BaseException) -> bool:
    """Whether a failed write may still have taken effect: the answer was lost, late or
    unreadable, or the service said it had an internal problem (5xx, codes 1 and 2,
    ``is_transient``). A clear refusal (bad token, throttling, invalid text) is not."""
    if isinstance(exc, GraphAPIError):
        if exc.code in THROTTLE_CODES or exc.status == 429:
            return False  # throttled: refused before anything was done
        return exc.status >= 500 or exc.code in TRANSIENT_CODES or exc.transient
    if isinstance(exc, requests.RequestException):
        return not never_sent(exc)
    return isinstance(exc, ValueError)


def object_missing(exc: BaseException) -> bool:
    """Whether ``exc`` is Meta's answer for an object that does not exist (or that this token
    cannot see): code 100, subcode 33. For a post this account made, that means it is gone."""
    return (
        isinstance(exc, GraphAPIError)
        and exc.code == INVALID_PARAMETER_CODE
        and exc.subcode == MISSING_OBJECT_SUBCODE
    )


def translate(exc: BaseException, service: Service, *, action: str = "the post") -> PublishError:
    """The ``PublishError`` for a ``GraphAPIError`` or a ``requests`` exception; ``action``
    names what a refusal refused ("the deletion")."""
    name, platform = service.name, service.platform
    if isinstance(exc, GraphAPIError):
        return _translate_api(exc, service, action)
    if isinstance(exc, requests.Timeout):
        return PublishError(f"{name} did not answer in time", platform=platform, retryable=True)
    if isinstance(exc, requests.JSONDecodeError):
        return PublishError(f"{name}'s answer could not be read", platform=platform, retryable=True)
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return PublishError(
            f"cannot reach {name}: {type(exc).__name__}", platform=platform, retryable=True
        )
    if isinstance(exc, ValueError):
        return PublishError(
            f"{name} answered something unexpected: {exc}", platform=platform, retryable=True
        )
    # Never str(exc) of a requests exception: it may quote a URL holding the token.
    return PublishError(
        f"{name} request failed: {type(exc).__name__}", platform=platform, retryable=False
    )


def _translate_api(exc: GraphAPIError, service: Service, action: str) -> PublishError:
    name, platform, status, code = service.name, service.platform, exc.status, exc.code
    said = exc.describe()

    def error(message: str, *, retryable: bool, retry_after: float | None = None) -> PublishError:
        return PublishError(
            message, platform=platform, retryable=retryable, retry_after=retry_after, status=status
        )

    if code == TOKEN_CODE:
        why = _TOKEN_SUBCODES.get(exc.subcode or 0, "the token expired or was revoked")
        return error(
            f"{name} refused the access token: {why} ({said}); {service.auth_hint}",
            retryable=False,
        )
    if code in THROTTLE_CODES or status == 429:
        wait = usage_retry_after(exc.headers)
        when = f"; retry in {wait:.0f} s" if wait is not None else ""
        return error(
            f"{name} is throttling this account ({said}){when}", retryable=True, retry_after=wait
        )
    if exc.subcode == POST_CAP_SUBCODE:
        return error(
            f"{name}'s 24-hour post limit is reached ({said})", retryable=True, retry_after=3600.0
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return error(
            f"{name} denied permission ({said}); {service.permission_hint}", retryable=False
        )
    if code == POLICY_CODE:
        return error(
            f"{name} has temporarily blocked this account from posting for a policy reason "
            f"({said}); an admin must check the account's notifications",
            retryable=False,
        )
    if code in TRANSIENT_CODES or exc.transient or status >= 500:
        return error(f"{name} had a temporary problem ({said})", retryable=True)
    return error(f"{name} refused {action} ({said})", retryable=False)


def usage_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``X-Business-Use-Case-Usage`` (or a numeric ``Retry-After``).

    The BUC header maps business objects to lists of usage entries; each entry's
    ``estimated_time_to_regain_access`` is in **minutes**. The longest wait wins; 0, a
    missing or garbled header give ``None`` (the caller's own backoff applies).
    """
    minutes: list[float] = []
    raw = headers.get("X-Business-Use-Case-Usage")
    if raw:
        try:
            usage = json.loads(raw)
        except ValueError:
            usage = None
        if isinstance(usage, dict):
            for entries in usage.values():
                for entry in entries if isinstance(entries, list) else []:
                    if isinstance(entry, dict):
                        wait = number(entry.get("estimated_time_to_regain_access"))
                        if wait is not None and wait > 0:
                            minutes.append(wait)
    if minutes:
        return clamp_wait(max(minutes) * 60.0)
    seconds = number(headers.get("Retry-After"))
    return clamp_wait(seconds) if seconds is not None and seconds > 0 else None


def _int(value: object) -> int | None:
    whole = number(value)
    return int(whole) if whole is not None and whole.is_integer() else None
