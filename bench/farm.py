"""A local farm of WordPress-like RSS feeds, for the polling benchmarks. Loopback only.

Runs as its own process (so its CPU is not counted as syndbot's):

    python bench/farm.py --feeds 1000 --items 20 [--port 0] [--latency-ms 0]

It prints one line ``farm listening on http://127.0.0.1:PORT`` and serves until killed:

- ``GET /site/N/feed/`` — feed N (0 ≤ N < feeds): an RSS 2.0 feed as WordPress 6.1 writes it
  (channel and items shaped like ``tests/fixtures/wordpress-6.1/feed-rss2.xml``: full
  ``content:encoded``, categories, ``dc:creator``, non-permalink GUID), ``items`` items, newest
  first, with ``ETag`` and ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since`` get
  ``304 Not Modified``. HTTP/1.1 keep-alive.
- ``GET /site/N/YYYY/MM/DD/slug/`` — a small article page (for end-to-end runs that scrape).
- ``GET /_stats`` — JSON counters ``{"200": n, "304": n, "other": n, "feeds": n}``;
  ``POST /_reset`` zeroes them.
- ``POST /_latency?ms=20`` — add that delay to every feed and page request from now on.
- ``POST /_publish?feed=N[&age=SECONDS]`` — a new item at the top of feed N, dated ``age``
  seconds ago (default 0: now; a "late" item is dated older than what other feeds show);
  returns its link as JSON ``{"link": ..., "title": ...}``.
- ``POST /_hub?url=...`` — advertise a WebSub hub (``<atom:link rel="hub">``) in every feed;
  ``url=self`` advertises the farm's own hub, ``POST /hub`` (WebSub 1.0: subscribe and
  unsubscribe requests, verified by a GET of the callback with ``hub.challenge``): when a
  subscribed feed gets a new item, the hub POSTs the whole feed to each callback (with
  ``X-Hub-Signature: sha256=…`` when the subscriber gave a ``hub.secret``).
- ``GET /_served?feed=N`` — the times (Unix seconds) feed N was answered with a 200.

:class:`FarmProcess` starts and stops it from a benchmark script.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import html
import json
import re
import secrets
import subprocess
import sys
import threading
import time
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests/fixtures/wordpress-6.1/feed-rss2.xml"
BASE_TIME = float(int(time.time()) // 60 * 60)  # items are dated before this, one hour apart


def _bodies() -> list[tuple[str, str, str]]:
    """(title, description, content) of the fixture's items: real WordPress item sizes."""
    text = FIXTURE.read_text(encoding="utf-8")
    out = []
    for item in re.findall(r"<item>(.*?)</item>", text, re.S):
        title = re.search(r"<title>(.*?)</title>", item, re.S)
        desc = re.search(r"<description><!\[CDATA\[(.*?)\]\]></description>", item, re.S)
        content = re.search(r"<content:encoded><!\[CDATA\[(.*?)\]\]></content:encoded>", item, re.S)
        if title and desc and content:
            out.append((html.unescape(title.group(1)), desc.group(1), content.group(1)))
    return out


class Feed:
    def __init__(self, farm: Farm, n: int) -> None:
        self.farm = farm
        self.n = n
        # (post id, title, unix time); newest first
        self.items: list[tuple[int, str, float]] = []
        for i in range(farm.items_per_feed):
            # Post ids are unique over the farm: all feeds share one host, and syndbot keys
            # WordPress articles by (host, post id).
            post_id = n * 100_000 + farm.items_per_feed - i
            title = f"{farm.bodies[post_id % len(farm.bodies)][0]} ({post_id})"
            self.items.append((post_id, title, BASE_TIME - 3600.0 * (i + 1) - n))
        self._rendered: tuple[bytes, str, str] | None = None
        self.served: list[float] = []  # times of 200 answers

    def base(self) -> str:
        return f"{self.farm.origin}/site/{self.n}"

    def link(self, post_id: int, title: str, when: float) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        day = time.strftime("%Y/%m/%d", time.gmtime(when))
        return f"{self.base()}/{day}/{slug}/"  # the title ends with the post id

    def publish(self, age: float) -> tuple[str, str]:
        post_id = max(p for p, _, _ in self.items) + 1
        body = self.farm.bodies[post_id % len(self.farm.bodies)][0]
        title = f"{body} ({post_id})"
        when = time.time() - age
        self.items.insert(0, (post_id, title, when))
        self.items.sort(key=lambda it: it[2], reverse=True)
        del self.items[self.farm.items_per_feed :]
        self._rendered = None
        return self.link(post_id, title, when), title

    def render(self) -> tuple[bytes, str, str]:
        """(body, etag, last-modified), cached until the feed changes."""
        if self._rendered is None:
            newest = max(when for _, _, when in self.items)
            lastmod = format_datetime(_utc(newest), usegmt=True)
            hub = (
                f'\n\t<atom:link rel="hub" href="{html.escape(self.farm.hub)}" />'
                if self.farm.hub
                else ""
            )
            parts = [
                '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"\n'
                '\txmlns:content="http://purl.org/rss/1.0/modules/content/"\n'
                '\txmlns:wfw="http://wellformedweb.org/CommentAPI/"\n'
                '\txmlns:dc="http://purl.org/dc/elements/1.1/"\n'
                '\txmlns:atom="http://www.w3.org/2005/Atom"\n'
                '\txmlns:sy="http://purl.org/rss/1.0/modules/syndication/"\n'
                '\txmlns:slash="http://purl.org/rss/1.0/modules/slash/"\n\t>\n\n<channel>\n'
                f"\t<title>Farm News {self.n}</title>\n"
                f'\t<atom:link href="{self.base()}/feed/" rel="self" '
                f'type="application/rss+xml" />{hub}\n'
                f"\t<link>{self.base()}</link>\n"
                "\t<description>A WordPress-like feed of the benchmark farm</description>\n"
                f"\t<lastBuildDate>{lastmod.replace('GMT', '+0000')}</lastBuildDate>\n"
                "\t<language>en-US</language>\n"
                "\t<sy:updatePeriod>\n\thourly\t</sy:updatePeriod>\n"
                "\t<sy:updateFrequency>\n\t1\t</sy:updateFrequency>\n"
                "\t<generator>https://wordpress.org/?v=6.1.9</generator>\n"
            ]
            for post_id, title, when in self.items:
                _, desc, content = self.farm.bodies[post_id % len(self.farm.bodies)]
                link = self.link(post_id, title, when)
                date = format_datetime(_utc(when)).replace("-0000", "+0000")
                parts.append(
                    "\t<item>\n"
                    f"\t\t<title>{html.escape(title, quote=False)}</title>\n"
                    f"\t\t<link>{link}</link>\n"
                    f"\t\t\t\t\t<comments>{link}#respond</comments>\n\t\t\n"
                    "\t\t<dc:creator><![CDATA[admin]]></dc:creator>\n"
                    f"\t\t<pubDate>{date}</pubDate>\n"
                    "\t\t\t\t<category><![CDATA[English]]></category>\n"
                    "\t\t<category><![CDATA[Haiti]]></category>\n"
                    f'\t\t<guid isPermaLink="false">{self.base()}/?p={post_id}</guid>\n\n'
                    f"\t\t\t\t\t<description><![CDATA[{desc}]]></description>\n"
                    f"\t\t\t\t\t\t\t\t\t\t<content:encoded><![CDATA[{content}]]>"
                    "</content:encoded>\n\t\t\t\t\t\n"
                    f"\t\t\t<wfw:commentRss>{link}feed/</wfw:commentRss>\n"
                    "\t\t\t<slash:comments>0</slash:comments>\n\t\t\n\t\t\n\t\t\t</item>\n"
                )
            parts.append("\t</channel>\n</rss>\n")
            body = "".join(parts).encode()
            etag = '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
            self._rendered = (body, etag, lastmod)
        return self._rendered

    def page(self, path: str) -> bytes | None:
        for post_id, title, when in self.items:
            link = self.link(post_id, title, when)
            if urlsplit(link).path == f"/site/{self.n}{path}":
                _, _desc, content = self.farm.bodies[post_id % len(self.farm.bodies)]
                published = _utc(when).isoformat()
                return (
                    '<!DOCTYPE html>\n<html lang="en-US"><head><meta charset="UTF-8">'
                    f"<title>{html.escape(title)} – Farm News {self.n}</title>"
                    f'<link rel="canonical" href="{link}">'
                    f'<link rel="shortlink" href="{self.base()}/?p={post_id}">'
                    f'<meta property="og:title" content="{html.escape(title)}">'
                    f'<meta property="og:url" content="{link}">'
                    f'<meta property="article:published_time" content="{published}">'
                    f'</head><body class="post-template-default single single-post postid-{post_id}">'
                    f'<article id="post-{post_id}"><h1 class="entry-title">{html.escape(title)}</h1>'
                    f'<div class="entry-content">{content}</div></article></body></html>'
                ).encode()
        return None


def _utc(when: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(when, UTC)


class Farm:
    def __init__(self, feeds: int, items: int, latency: float = 0.0) -> None:
        self.bodies = _bodies()
        self.items_per_feed = items
        self.latency = latency
        self.hub = ""
        self.origin = ""
        self.lock = threading.Lock()
        self.counts = {"200": 0, "304": 0, "other": 0}
        self.subscriptions: dict[tuple[str, str], str] = {}  # (topic, callback) -> secret
        self.feeds = [Feed(self, n) for n in range(feeds)]

    def verify(self, form: dict[str, str]) -> None:
        """WebSub intent verification, then (un)subscribe."""
        mode, topic, callback = form["hub.mode"], form.get("hub.topic", ""), form["hub.callback"]
        challenge = secrets.token_hex(8)
        sep = "&" if "?" in callback else "?"
        query = urlencode(
            {
                "hub.mode": mode,
                "hub.topic": topic,
                "hub.challenge": challenge,
                "hub.lease_seconds": form.get("hub.lease_seconds", "86400"),
            }
        )
        try:
            with urlopen(callback + sep + query, timeout=10) as r:
                ok = r.status == 200 and r.read().decode().strip() == challenge
        except OSError:
            ok = False
        with self.lock:
            self.subscriptions.pop((topic, callback), None)
            if ok and mode == "subscribe":
                self.subscriptions[(topic, callback)] = form.get("hub.secret", "")

    def notify(self, feed: Feed, body: bytes) -> None:
        """Content distribution: POST the changed feed to each subscriber of its topic."""
        topic = f"{feed.base()}/feed/"
        with self.lock:
            targets = [(cb, sec) for (t, cb), sec in self.subscriptions.items() if t == topic]
        for callback, secret in targets:
            headers = {
                "Content-Type": "application/rss+xml; charset=UTF-8",
                "Link": f'<{self.hub}>; rel="hub", <{topic}>; rel="self"',
            }
            if secret:
                digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={digest}"
            try:
                with urlopen(Request(callback, data=body, headers=headers), timeout=10) as r:
                    r.read()
            except OSError:
                pass

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: FarmServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)

    def do_GET(self) -> None:
        farm = self.server.farm
        parts = urlsplit(self.path)
        if parts.path == "/_served":
            with farm.lock:
                served = list(farm.feeds[int(parse_qs(parts.query)["feed"][0])].served)
            self._send(200, json.dumps(served).encode(), {"Content-Type": "application/json"})
            return
        if parts.path == "/_stats":
            with farm.lock:
                stats = dict(farm.counts, feeds=len(farm.feeds))
            self._send(200, json.dumps(stats).encode(), {"Content-Type": "application/json"})
            return
        m = re.match(r"^/site/(\d+)(/.*)$", parts.path)
        feed = farm.feeds[int(m.group(1))] if m and int(m.group(1)) < len(farm.feeds) else None
        if farm.latency:
            time.sleep(farm.latency)
        if feed is None or m is None:
            farm.count("other")
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        if m.group(2) == "/feed/" and "paged=" in parts.query:  # no older pages here
            farm.count("other")
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        if m.group(2) == "/feed/":
            with farm.lock:
                body, etag, lastmod = feed.render()
            validators = {"ETag": etag, "Last-Modified": lastmod}
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            fresh = inm == etag if inm else False
            if not inm and ims:
                try:
                    fresh = parsedate_to_datetime(ims) >= parsedate_to_datetime(lastmod)
                except (TypeError, ValueError):
                    fresh = False
            if fresh:
                farm.count("304")
                self._send(304, headers=validators)
                return
            farm.count("200")
            with farm.lock:
                feed.served.append(time.time())
            self._send(
                200, body, {"Content-Type": "application/rss+xml; charset=UTF-8"} | validators
            )
            return
        with farm.lock:
            page = feed.page(m.group(2))
        farm.count("other")
        if page is None:
            self._send(404, b"not found", {"Content-Type": "text/plain"})
        else:
            self._send(200, page, {"Content-Type": "text/html; charset=UTF-8"})

    def do_POST(self) -> None:
        farm = self.server.farm
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        out: dict[str, Any] = {"ok": True}
        if parts.path == "/hub":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if form.get("hub.mode") not in ("subscribe", "unsubscribe") or not form.get(
                "hub.callback"
            ):
                self._send(400, b"hub.mode and hub.callback are required")
                return
            threading.Thread(target=farm.verify, args=(form,), daemon=True).start()
            self._send(202, b"")
            return
        if parts.path == "/_reset":
            with farm.lock:
                farm.counts = dict.fromkeys(farm.counts, 0)
        elif parts.path == "/_latency":
            farm.latency = float(query.get("ms", "0")) / 1000
        elif parts.path == "/_hub":
            with farm.lock:
                hub = query.get("url", "")
                farm.hub = f"{farm.origin}/hub" if hub == "self" else hub
                for f in farm.feeds:
                    f._rendered = None
        elif parts.path == "/_publish":
            feed = farm.feeds[int(query["feed"])]
            with farm.lock:
                link, title = feed.publish(float(query.get("age", "0")))
                body, _, _ = feed.render()
            out = {"link": link, "title": title, "time": time.time()}
            threading.Thread(target=farm.notify, args=(feed, body), daemon=True).start()
        else:
            self._send(404, b"not found")
            return
        self._send(200, json.dumps(out).encode(), {"Content-Type": "application/json"})


class FarmServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is fine
            super().handle_error(request, client_address)

    def __init__(self, farm: Farm, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.farm = farm
        farm.origin = f"http://127.0.0.1:{self.server_address[1]}"


class FarmProcess:
    """``python bench/farm.py`` as a child process; ``url(n)`` is feed n, ``stats()`` the counts."""

    def __init__(self, feeds: int, items: int = 20, latency_ms: float = 0.0) -> None:
        self.feeds = feeds
        self._args = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--feeds={feeds}",
            f"--items={items}",
            f"--latency-ms={latency_ms}",
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.origin = ""

    def __enter__(self) -> FarmProcess:
        self.proc = subprocess.Popen(self._args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"farm did not start: {line!r}")
        self.origin = line.split("listening on", 1)[1].strip()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)

    def url(self, n: int) -> str:
        return f"{self.origin}/site/{n}/feed/"

    def _call(self, method: str, path: str) -> Any:
        req = Request(self.origin + path, method=method, data=b"" if method == "POST" else None)
        with urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, int]:
        return dict(self._call("GET", "/_stats"))

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def latency(self, ms: float) -> None:
        self._call("POST", f"/_latency?ms={ms}")

    def served(self, feed: int) -> list[float]:
        return list(self._call("GET", f"/_served?feed={feed}"))

    def publish(self, feed: int, age: float = 0.0) -> dict[str, Any]:
        return dict(self._call("POST", f"/_publish?feed={feed}&age={age}"))

    def hub(self, url: str) -> None:
        from urllib.parse import quote

        self._call("POST", f"/_hub?url={quote(url, safe='')}")

    def cpu_seconds(self) -> float:
        """The farm process's user+sys CPU so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    farm = Farm(args.feeds, args.items, args.latency_ms / 1000)
    server = FarmServer(farm, args.port)
    print(f"farm listening on {farm.origin}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
