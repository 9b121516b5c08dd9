"""The only HTTP client for news sites (feeds, article pages).

One ``requests.Session`` per ``Fetcher``; every fetch is a polite, bounded GET:

- a real User-Agent, ``Accept-Encoding: gzip, deflate``, conditional GET (``If-None-Match`` /
  ``If-Modified-Since``); ``304 Not Modified`` is a result, not an error;
- redirects followed by hand, every hop checked (http/https only, ``allowed_hosts`` when given,
  no loops, at most ``max_redirects``) and recorded;
- one deadline (``settings.timeout``) for the whole fetch, redirects and body included, checked
  between reads of at most one ``recv`` each, so a server trickling bytes cannot hold us;
- a cap (``settings.max_bytes``) on the decoded body: rejected from ``Content-Length`` before
  reading, or aborted while reading (gzip bombs included: we decode ourselves, bounded).

Everything that goes wrong raises ``FetchError`` (``.status`` set for HTTP errors). Request
headers are never logged or put into messages.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import time
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, ReadTimeoutError
from urllib3.util import parse_url

from bot.config import FetchSettings
from bot.errors import FetchError
from bot.identity import site_host

__all__ = ["FetchResult", "Fetcher"]

log = logging.getLogger(__name__)

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READ_SIZE = 64 * 1024
_MAX_CONNECT_TIMEOUT = 10.0
_POOL_SIZE = 16
_UNSUPPORTED_ENCODINGS = frozenset({"br", "zstd", "compress", "x-compress"})


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a successful fetch returned.

    ``redirects`` lists every URL a redirect sent us to, in order (so its last item, when there
    is one, is ``final_url``). On ``304`` the content is empty and the validators are the
    server's, or the ones we sent when it repeated none.
    """

    url: str
    final_url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    redirects: tuple[str, ...] = ()
    elapsed: float = 0.0
    link: str | None = None  # the Link header(s), joined (WebSub discovery reads rel=hub)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


_PROXY_SETTINGS = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


def _proxies_configured() -> bool:
    """True when the environment sets a proxy that requests must apply."""
    return any(k.lower() in _PROXY_SETTINGS for k in os.environ)


class Fetcher:
    """GETs site URLs with timeouts, size caps, conditional requests and checked redirects."""

    def __init__(self, settings: FetchSettings) -> None:
        self._settings = settings
        self._session = requests.Session()
        # requests reads the environment (proxies, CA bundle, ~/.netrc) on every request: a
        # fifth of a conditional GET's CPU. Read the CA bundle once here instead; only proxy
        # settings (applied per URL, with no_proxy) keep requests' own lookups.
        self._session.trust_env = _proxies_configured()
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle and not self._session.trust_env:
            self._session.verify = ca_bundle
        # Keep-alive connections per host, enough for concurrent polls (Pipeline.poll_many).
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=_POOL_SIZE)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"}
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allowed_hosts: Collection[str] | None = None,
        accept: str | None = None,
        max_bytes: int | None = None,
        auth: tuple[str, str] | None = None,
        public_only: bool = False,
    ) -> FetchResult:
        """GET ``url``; see the module docstring. Raises ``FetchError``.

        ``public_only`` (URLs taken from pages and feeds, like images on a CDN): a host not in
        ``allowed_hosts`` must resolve to public addresses only, at every hop, so a page
        cannot make syndbot request 127.0.0.1, 169.254.169.254 or the private network.

        ``max_bytes`` overrides the configured cap for this fetch (images); ``auth`` is a
        (user, password) pair sent as HTTP Basic (WordPress application passwords), only to
        the scheme and host of ``url``: it is dropped when a redirect leaves them."""
        started = time.monotonic()
        deadline = started + self._settings.timeout
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        allowed = _HostRule(allowed_hosts) if allowed_hosts is not None else None

        current = url
        hops: list[str] = []
        while True:
            _check_url(current, url, allowed if not public_only else None)
            if public_only and not (allowed is not None and allowed.allows(current)):
                self._check_public(current, url)
            # Credentials go only where they were meant to: same scheme and host as `url`.
            here, there = urlsplit(current), urlsplit(url)
            same_origin = (here.scheme, here.netloc) == (there.scheme, there.netloc)
            response = self._send(current, url, headers, deadline, auth if same_origin else None)
            try:
                status = response.status_code
                target = self._session.get_redirect_target(response)
                if status in _REDIRECT_STATUSES and target:
                    current = self._next_hop(current, target, url, hops)
                    hops.append(current)
                    continue
                if status == 304 and not (etag or last_modified):
                    # Nothing to be "not modified" against: a broken cache or server. Taken
                    # as unchanged, the source would never be read.
                    raise FetchError(
                        f"HTTP 304 Not Modified from {current} to a request without "
                        "validators (no If-None-Match or If-Modified-Since was sent)",
                        url=url,
                        status=304,
                    )
                if status == 304:
                    _release(response)
                    result = FetchResult(
                        url=url,
                        final_url=current,
                        status=304,
                        content=b"",
                        etag=response.headers.get("ETag") or etag,
                        last_modified=response.headers.get("Last-Modified") or last_modified,
                        content_type=response.headers.get("Content-Type"),
                        redirects=tuple(hops),
                        elapsed=time.monotonic() - started,
                        link=response.headers.get("Link"),
                    )
                elif 200 <= status < 300:
                    content = self._read_body(response, current, url, deadline, max_bytes)
                    result = FetchResult(
                        url=url,
                        final_url=current,
                        status=status,
                        content=content,
                        etag=response.headers.get("ETag"),
                        last_modified=response.headers.get("Last-Modified"),
                        content_type=response.headers.get("Content-Type"),
                        redirects=tuple(hops),
                        elapsed=time.monotonic() - started,
                        link=response.headers.get("Link"),
                    )
                else:
                    reason = (response.reason or "").strip()
                    shown = f"HTTP {status}{' ' + reason if reason else ''}"
                    raise FetchError(f"{shown} from {current}", url=url, status=status)
            finally:
                response.close()
            log.debug(
                "fetched %s: %s, %d bytes, %d redirects, %.2fs",
                url,
                result.status,
                len(result.content),
                len(hops),
                result.elapsed,
            )
            return result

    # --- one request ------------------------------------------------------------------------

    def _send(
        self,
        current: str,
        url: str,
        headers: dict[str, str],
        deadline: float,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        timeout = self._settings.timeout
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"timed out after {timeout:g}s fetching {current}", url=url)
        connect = min(_MAX_CONNECT_TIMEOUT, timeout, remaining)
        read = min(timeout, remaining)
        host = urlsplit(current).netloc
        target, headers = self._resolved(current, headers)
        try:
            return self._session.get(
                target,
                headers=headers,
                timeout=(connect, read),
                allow_redirects=False,
                stream=True,
                auth=auth,
            )
        except requests.exceptions.ConnectTimeout:
            raise FetchError(f"timed out connecting to {host}", url=url) from None
        except requests.exceptions.Timeout:
            raise FetchError(f"timed out waiting for {host} to answer", url=url) from None
        except requests.exceptions.SSLError as e:
            raise FetchError(f"TLS error with {host}: {_reason(e)}", url=url) from None
        except requests.exceptions.ConnectionError as e:
            raise FetchError(f"cannot connect to {host}: {_reason(e)}", url=url) from None
        except requests.exceptions.RequestException as e:
            raise FetchError(f"cannot fetch {current}: {_reason(e)}", url=url) from None

    def _check_public(self, current: str, url: str) -> None:
        """Refuse a host that is, or resolves to, a loopback, private, link-local or other
        non-public address (checked before connecting; a DNS answer that changes between this
        check and the connection is not caught)."""
        parts = urlsplit(current)
        host = (parts.hostname or "").lower()
        mapped = self._settings.resolve.get(host)
        try:
            infos = socket.getaddrinfo(mapped or host, parts.port or 80, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise FetchError(
                f"cannot connect to {parts.netloc}: host name not found", url=url
            ) from None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            if not address.is_global:
                raise FetchError(
                    f"refusing to fetch {current}: {host} is a non-public address ({address})",
                    url=url,
                )

    def _resolved(self, url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Apply ``settings.resolve`` (like curl's --resolve) to a plain-HTTP URL: connect to
        the mapped address, and keep the name in the Host header."""
        parts = urlsplit(url)
        address = self._settings.resolve.get((parts.hostname or "").lower())
        if address is None or parts.scheme != "http":
            return url, headers
        netloc = f"{address}:{parts.port}" if parts.port else address
        return parts._replace(netloc=netloc).geturl(), {**headers, "Host": parts.netloc}

    def _next_hop(self, current: str, target: str, url: str, hops: list[str]) -> str:
        nxt = urljoin(current, target.strip())
        if nxt == url or nxt in hops:
            raise FetchError(f"redirect loop: {current} redirects back to {nxt}", url=url)
        if len(hops) >= self._settings.max_redirects:
            raise FetchError(
                f"too many redirects (more than {self._settings.max_redirects}) from {url}",
                url=url,
            )
        return nxt

    def _read_body(
        self,
        response: requests.Response,
        current: str,
        url: str,
        deadline: float,
        max_bytes: int | None = None,
    ) -> bytes:
        limit = max_bytes if max_bytes is not None else self._settings.max_bytes
        encoding = (response.headers.get("Content-Encoding") or "").strip().lower()
        decoder = _Inflater.for_encoding(encoding, current, url)
        too_large = f"{current} is larger than {limit} bytes"
        declared = response.headers.get("Content-Length", "").strip()
        if decoder is None and declared.isdigit() and int(declared) > limit:
            raise FetchError(too_large, url=url)

        raw = response.raw
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(
                    f"timed out after {self._settings.timeout:g}s reading {current}", url=url
                )
            _set_read_timeout(raw, min(self._settings.timeout, remaining))
            try:
                chunk = raw.read1(_READ_SIZE, decode_content=False)
            except (ReadTimeoutError, TimeoutError):
                raise FetchError(f"timed out reading {current}", url=url) from None
            except (Urllib3Error, OSError) as e:
                raise FetchError(
                    f"connection broken reading {current}: {_reason(e)}", url=url
                ) from None
            if not chunk:
                break
            data = decoder.feed(chunk, limit - len(body)) if decoder else chunk
            body += data
            if len(body) > limit:
                raise FetchError(too_large, url=url)
        if decoder:
            body += decoder.finish(limit - len(body))
            if len(body) > limit:
                raise FetchError(too_large, url=url)
        return bytes(body)


# --- helpers ------------------------------------------------------------------------------------


def _release(response: requests.Response) -> None:
    """Hand the connection of a bodiless answer (304) back to the pool for keep-alive: reading
    its (empty) body does that, where closing the response would close the connection. A 304
    has no body whatever its Content-Length says (http.client reads none)."""
    with contextlib.suppress(Urllib3Error, OSError):  # else it closes with the response
        response.raw.read(decode_content=False)


class _HostRule:
    """``allowed_hosts``: names compared like ``identity.site_host`` (case, IDNA, ``www.``).

    An entry with a port allows only that port; an entry without one allows any port.
    """

    def __init__(self, hosts: Collection[str]) -> None:
        self._entries = frozenset(
            _host_of(h if "://" in h else "//" + h) for h in (h.strip() for h in hosts) if h
        )

    def allows(self, url: str) -> bool:
        host = _host_of(url)
        return host in self._entries or _strip_port(host) in self._entries


def _host_of(url: str) -> str:
    try:
        return site_host(url)
    except ValueError:
        return ""


def _strip_port(host: str) -> str:
    head, sep, tail = host.rpartition(":")
    return head if sep and tail.isdigit() and not host.endswith("]") else host


def _check_url(current: str, url: str, allowed: _HostRule | None) -> None:
    try:
        parts = urlsplit(current)
        scheme, hostname = parts.scheme.lower(), parts.hostname
    except ValueError:
        raise FetchError(f"not a valid URL: {current!r}", url=url) from None
    if scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {current!r}", url=url)
    if not hostname:
        raise FetchError(f"URL without a host: {current!r}", url=url)
    if not _same_host_for_urllib3(current):
        # In "http://internal:8080\\@site/" urlsplit reads the host "site", urllib3 (which makes
        # the connection) "internal": checking one and connecting to the other is an SSRF.
        raise FetchError(
            f"refusing to fetch {current!r}: its host is ambiguous (a backslash or a control "
            "character in the address)",
            url=url,
        )
    if allowed is not None and not allowed.allows(current):
        what = "redirected to" if current != url else "refusing to fetch"
        raise FetchError(f"{what} {current}: host {hostname!r} is not allowed", url=url)


def _same_host_for_urllib3(url: str) -> bool:
    """Whether urllib3, which opens the connection, reads the same host and port as urlsplit,
    which the allow-list checked."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):  # urlsplit drops tabs, urllib3 not
        return False
    try:
        parsed = parse_url(url)
        return _host_of(url) == _host_of(f"{parsed.scheme}://{parsed.netloc}/")
    except (LocationParseError, ValueError):
        return False


def _set_read_timeout(raw: object, seconds: float) -> None:
    """Bound the next ``recv`` by the time left (urllib3 resets it for the next request)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    settimeout = getattr(sock, "settimeout", None)
    if settimeout is not None:
        settimeout(max(seconds, 0.001))


def _reason(exc: BaseException) -> str:
    """A short cause, from the innermost exception that says something."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    innermost = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset"
        if "NameResolutionError" in type(cur).__name__ or "gaierror" in type(cur).__name__:
            return "host name not found"
        innermost = cur
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        if nxt is None and len(cur.args) > 1 and isinstance(cur.args[1], BaseException):
            nxt = cur.args[1]
        cur = nxt
    text = str(innermost) or type(innermost).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class _Inflater:
    """Incremental gzip / deflate decoding whose output never exceeds what the caller allows.

    ``feed(data, room)`` returns at most ``room + 1`` bytes, so a body that decodes past the cap
    is detected without ever holding more than the cap in memory (gzip bombs).
    """

    def __init__(self, encoding: str, current: str, url: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._current = current
        self._url = url
        self._raw_deflate = False
        self._started = False
        self._obj = self._new()

    @classmethod
    def for_encoding(cls, encoding: str, current: str, url: str) -> _Inflater | None:
        if encoding in ("gzip", "x-gzip", "deflate"):
            return cls(encoding, current, url)
        if encoding in _UNSUPPORTED_ENCODINGS or "," in encoding:
            raise FetchError(f"{current} uses an unsupported Content-Encoding: {encoding}", url=url)
        return None  # identity, or a bogus value some servers send: the body is as-is

    def _new(self) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        out = bytearray()
        try:
            first = not self._started
            self._started = True
            try:
                out += self._obj.decompress(data, max(room, 0) + 1)
            except zlib.error:
                if self._gzip or not first:
                    raise
                # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate
                self._raw_deflate = True
                self._obj = self._new()
                out += self._obj.decompress(data, max(room, 0) + 1)
            while len(out) <= room:
                if self._obj.unconsumed_tail:
                    tail = self._obj.unconsumed_tail
                    out += self._obj.decompress(tail, room - len(out) + 1)
                elif self._obj.eof and self._obj.unused_data and self._gzip:
                    rest = self._obj.unused_data  # a further gzip member
                    self._obj = self._new()
                    out += self._obj.decompress(rest, room - len(out) + 1)
                else:
                    break
        except zlib.error as e:
            raise self._error(f"invalid compressed body ({e})") from None
        return bytes(out)

    def finish(self, room: int) -> bytes:
        try:
            tail = self._obj.flush()
        except zlib.error as e:
            raise self._error(f"invalid compressed body ({e})") from None
        if self._started and not self._obj.eof:
            raise self._error("the compressed body is truncated")
        return tail[: max(room, 0) + 1]

    def _error(self, message: str) -> FetchError:
        return FetchError(f"{self._current}: {message}", url=self._url)
