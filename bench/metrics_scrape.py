"""How long a /metrics scrape and `syndbot status` take on a large ledger (SQLite).

Builds a ledger of ``--articles`` articles with one delivery each over 4 accounts (97% sent,
the rest failed, queued, held or cancelled), then times ``generate_latest`` on the daemon's
registry (the ledger gauges are read at scrape time) and ``bot.status.gather``. No network.

    python bench/metrics_scrape.py [--articles 100000] [--rounds 20]

Prints one JSON object: the machine, the ledger size, and median / p95 milliseconds.
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
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest

from bot.config import load_config
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.status import gather
from bot.store import Store, articles, deliveries

ACCOUNTS = ("x-en", "x-fr", "mastodon-fr", "bluesky-en")
CONFIG = """
store: sqlite:///{db}
sources: [{{id: site, feed: "https://site.example/feed/"}}]
accounts:
  - {{id: x-en, platform: x, budget: {{monthly: 30}},
     credentials: {{consumer_key: k, consumer_secret: s, access_token: t, access_token_secret: u}}}}
  - {{id: x-fr, platform: x, budget: {{monthly: 30}},
     credentials: {{consumer_key: k, consumer_secret: s, access_token: t, access_token_secret: u}}}}
  - {{id: mastodon-fr, platform: console}}
  - {{id: bluesky-en, platform: console}}
routes: [{{to: [x-en, x-fr, mastodon-fr, bluesky-en]}}]
"""


def build(store: Store, n: int) -> None:
    now = datetime.now(UTC)
    states = ["sent"] * 97 + ["failed", "queued", "held"]
    with store.engine.begin() as conn:
        for start in range(0, n, 5000):
            rows = range(start, min(start + 5000, n))
            conn.execute(
                articles.insert(),
                [
                    {
                        "id": i + 1,
                        "source_id": "site",
                        "state": "routed",
                        "url": f"https://site.example/{i}/",
                        "title": f"Story {i}",
                        "item": "{}",
                        "first_seen": now - timedelta(minutes=n - i),
                        "updated_at": now,
                    }
                    for i in rows
                ],
            )
            conn.execute(
                deliveries.insert(),
                [
                    {
                        "uid": str(uuid.uuid4()),
                        "article_id": i + 1,
                        "account_id": ACCOUNTS[i % len(ACCOUNTS)],
                        "purpose": "auto",
                        "state": states[i % len(states)],
                        "text": f"Story {i} https://site.example/{i}/",
                        "url": f"https://site.example/{i}/",
                        "priority": 0,
                        "not_before": now - timedelta(minutes=n - i),
                        "attempts": 1,
                        "created_by": "auto",
                        "created_at": now - timedelta(minutes=n - i),
                        "updated_at": now - timedelta(minutes=n - i),
                        "sent_at": now - timedelta(minutes=n - i),
                        "cost": 0.2,
                    }
                    for i in rows
                ],
            )


def timed(fn: Callable[[], object], rounds: int) -> dict[str, float]:
    fn()  # warm the page cache
    ms = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "syndbot.yaml"
        path.write_text(CONFIG.format(db=Path(tmp) / "ledger.db"), encoding="utf-8")
        config = load_config(path)
        store = Store(config.store)
        store.migrate()
        build(store, args.articles)
        pipeline = Pipeline(config, store)
        metrics = Metrics(pipeline)
        result = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "python": sys.version.split()[0],
            "deliveries": args.articles,
            "scrape": timed(lambda: generate_latest(metrics.registry), args.rounds),
            "status": timed(lambda: gather(pipeline), args.rounds),
        }
        pipeline.close()
        store.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
