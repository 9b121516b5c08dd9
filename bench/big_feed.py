"""A feed of thousands of entries: parse, identity keys, first recording and a repeat poll.

Builds an RSS 2.0 feed of N items (WordPress-like: ``?p=ID`` GUIDs, permalinks, dates,
categories, HTML descriptions) in memory, then times each stage on a fresh SQLite ledger.
No network. Run:

    python bench/big_feed.py [--items 5000] [--rounds 3]

Prints one JSON object: the machine, the feed size, and the median seconds of each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.feeds import parse_feed  # noqa: E402
from bot.identity import item_keys  # noqa: E402
from bot.store import Store  # noqa: E402


def feed(n: int) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Story number {i} &amp; its headline</title>"
        f"<link>https://news.example/2026/01/story-{i}/</link>"
        f'<guid isPermaLink="false">https://news.example/?p={i + 1}</guid>'
        f"<pubDate>{(start + timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
        f"</pubDate><category><![CDATA[Haiti]]></category>"
        f"<description><![CDATA[<p>The lead of story {i}, with <b>markup</b>.</p>]]></description>"
        "</item>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://news.example/</link>{items}</channel></rss>"
    ).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    body = feed(args.items)
    times: dict[str, list[float]] = {"parse": [], "keys": [], "record_new": [], "record_known": []}
    for _ in range(args.rounds):
        t = time.perf_counter()
        parsed = parse_feed(body, source_id="big", url="https://news.example/feed/")
        times["parse"].append(time.perf_counter() - t)
        assert len(parsed.items) == args.items
        t = time.perf_counter()
        keyed = [(item, item_keys(item)) for item in parsed.items]
        times["keys"].append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/ledger.db")
            store.migrate()
            now = datetime.now(UTC)
            t = time.perf_counter()
            new = store.record_items("big", keyed, now=now, select_new=lambda items: set())
            times["record_new"].append(time.perf_counter() - t)
            t = time.perf_counter()
            again = store.record_items("big", keyed, now=now)
            times["record_known"].append(time.perf_counter() - t)
            assert new == [] and again == []
            store.close()
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
                "items": args.items,
                "feed_bytes": len(body),
                "rounds": args.rounds,
                "median_seconds": {k: round(statistics.median(v), 3) for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
