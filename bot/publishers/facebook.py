"""Facebook Pages: link posts through the Graph API (``POST /{page_id}/feed``), with requests.

facebook-sdk was last released in 2018; requests go through ``bot.publishers.graph``.

The post is ``message`` (the composed text) plus ``link`` (the article URL): Facebook's
crawler builds the card from the page's Open Graph tags. The answer is
``{"id": "{page_id}_{post_id}"}``; the post's address is ``https://www.facebook.com/{id}``.

The Graph API version is pinned in the path: ``api_base`` defaults to
``https://graph.facebook.com/v25.0``; ``options.graph_version: v26.0`` replaces the version at
the end of ``api_base`` (or appends it when ``api_base`` has none).

Facebook has no idempotency key, but refuses the same message twice with code 506
("Duplicate status message"), which ``_translate`` turns into ``PublishResult(duplicate=True)``.
So a post whose answer was lost (timeout, 5xx) is retried like any transient failure: if
the first attempt went through, the retry meets 506 and the ledger records it as sent. A
post interrupted by a crash is still held for an editor (``InDoubt.HOLD``): Facebook's
duplicate check is not documented to hold for long.

Deleting (``on_unpublish: delete``): ``DELETE /{page_id}_{post_id}`` with the Page token
(``pages_manage_posts``, as for posting); Facebook answers ``{"success": true}``. A post that is
already gone gets Graph's code 100, subcode 33 ("Unsupported delete request. Object with ID …
does not exist"), which counts as deleted.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, ClassVar

import requests

from bot.errors import ConfigError, PublishError
from bot.models import Post, PublishResult
from bot.publishers.base import InDoubt, PlatformSpec, PublisherContext
from bot.publishers.common import checked_id, redact_error
from bot.publishers.graph import GraphAPIError, GraphSession, Service, object_missing, translate

if TYPE_CHECKING:
    from bot.config import AccountConfig

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://graph.facebook.com/v25.0"
CREDENTIAL_NAMES = ("page_id", "page_access_token")
POST_URL = "https://www.facebook.com/{id}"
DUPLICATE_CODE = 506

SERVICE = Service(
    platform="facebook",
    name="Facebook",
    auth_hint=(
        "create a new Page access token (docs/platforms/facebook.md) and put it in the "
        "account's credentials.page_access_token; a Page token stops working when its user "
        "changes password, loses the Page role or removes the app"
    ),
    permission_hint=(
        "the Page token needs the pages_manage_posts and pages_read_engagement permissions, "
        "and its user the 'create content' task on the Page"
    ),
)

_POST_ID = re.compile(r"[0-9]{1,32}(?:_[0-9]{1,32})?")  # {page_id}_{post_id}
_VERSION = re.compile(r"^v\d+\.\d+$")
_VERSION_SUFFIX = re.compile(r"/v\d+\.\d+$")


class FacebookPublisher:
    """Posts to one Facebook Page with a Page access token."""

    spec: ClassVar[PlatformSpec] = PlatformSpec(
        name="facebook",
        max_length=63206,
        counting="codepoints",
        url_length=None,
        in_doubt=InDoubt.HOLD,
        can_delete=True,
    )

    def __init__(
        self,
        account: AccountConfig,
        context: PublisherContext | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        self.context = context or PublisherContext()
        self.account_id = account.id
        self.page_id = account.credential("page_id")
        self._token = account.credential("page_access_token")
        self.api_base = _api_base(account)
        self._graph = GraphSession(
            self.api_base, timeout if timeout is not None else self.context.timeout
        )

    def publish(self, post: Post, *, idempotency_key: str) -> PublishResult:
        """Post ``message`` + ``link`` to the Page's feed. Facebook has no idempotency key:
        ``idempotency_key`` is only logged."""
        where = f"account {self.account_id}, {post.url} [{idempotency_key}]"
        try:
            body = self._graph.call(
                "POST",
                f"{self.page_id}/feed",
                data={"message": post.text, "link": post.url, "access_token": self._token},
            )
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            outcome = _translate(exc)
            if isinstance(outcome, PublishResult):
                log.info("facebook: %s: the Page already has this post (506 duplicate)", where)
                return outcome
            raise redact_error(outcome, [self._token]) from exc
        remote_id = body.get("id")
        if not isinstance(remote_id, str) or not remote_id:
            # A 2xx without an id: the post most likely exists; a retry meets 506.
            raise PublishError(
                "Facebook answered without a post id", platform="facebook", retryable=True
            )
        url = POST_URL.format(id=remote_id)
        log.info("facebook: %s: posted %s", where, url)
        return PublishResult(remote_id=remote_id, url=url)

    def delete(self, remote_id: str) -> None:
        """``DELETE /{post_id}``; a post that is already gone counts as deleted."""
        post_id = checked_id(remote_id, _POST_ID, platform="facebook", what="a Facebook post id")
        try:
            body = self._graph.call("DELETE", post_id, params={"access_token": self._token})
        except (GraphAPIError, requests.RequestException, ValueError) as exc:
            if object_missing(exc):
                log.info("facebook: account %s: post %s was already gone", self.account_id, post_id)
                return
            error = translate(exc, SERVICE, action="the deletion")
            raise redact_error(error, [self._token]) from exc
        if body.get("success") is not True:
            # Nothing says it is gone: deleting again is safe.
            raise PublishError(
                f"Facebook did not confirm the deletion of post {post_id}",
                platform="facebook",
                retryable=True,
            )
        log.info("facebook: account %s deleted post %s", self.account_id, post_id)

    def close(self) -> None:
        self._graph.close()


def _translate(exc: BaseException) -> PublishError | PublishResult:
    """Facebook's 506 is a result (the post exists); everything else is ``graph.translate``."""
    if isinstance(exc, GraphAPIError) and exc.code == DUPLICATE_CODE:
        return PublishResult(remote_id=None, url=None, duplicate=True)
    return translate(exc, SERVICE)


def _api_base(account: AccountConfig) -> str:
    """``api_base`` (default ``DEFAULT_API_BASE``) with ``options.graph_version`` applied."""
    base = (account.api_base or DEFAULT_API_BASE).rstrip("/")
    version = account.options.get("graph_version")
    if version is None:
        return base
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ConfigError(
            f"accounts.{account.id}.options.graph_version must look like v25.0, not {version!r}"
        )
    return f"{_VERSION_SUFFIX.sub('', base)}/{version}"
