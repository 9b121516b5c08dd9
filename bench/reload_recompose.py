"""The ledger side of a config reload that changes a template: finding the deliveries whose text
may be composed again (``Store.recomposable``: not sent, never tried, never edited) and
rewriting them (``Store.recompose_text``), with and without the events-by-delivery index of
schema v6. SQLite in a temporary directory; no network. Run:

    python bench/reload_recompose.py [--deliveries 5000] [--pending 500] [--events 200000]

Prints one JSON object: the machine, the sizes, and milliseconds for the lookup and the rewrites.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.store import Store, articles, deliveries, events


def ledger(path: Path, n: int, pending: int, n_events: int) -> Store:
    store = Store(f"sqlite:///{path}")
    store.migrate()
    now = datetime.now(UTC)
    every = max(n // pending, 1)
    with store.engine.begin() as conn:
        conn.execute(
            articles.insert(),
            [
                {
                    "id": i,
                    "source_id": "site",
                    "state": "routed",
                    "url": f"https://example.org/{i}/",
                    "title": f"Article {i}",
                    "item": "{}",
                    "first_seen": now,
                    "updated_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            deliveries.insert(),
            [
                {
                    "id": i,
                    "uid": f"uid-{i}",
                    "article_id": i,
                    "account_id": "x-main",
                    "purpose": "auto",
                    "state": "held" if i % every == 0 else "sent",
                    "text": f"Article {i} https://example.org/{i}/",
                    "url": f"https://example.org/{i}/",
                    "priority": 0,
                    "not_before": now,
                    "attempts": 0,
                    "created_by": "auto",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, n + 1)
            ],
        )
        conn.execute(
            events.insert(),
            [
                {
                    "at": now,
                    "actor": "system",
                    "action": "sent",
                    "article_id": i % n + 1,
                    "delivery_id": i % n + 1,
                    "account_id": "x-main",
                    "detail": None,
                }
                for i in range(n_events)
            ],
        )
    return store


def measure(store: Store) -> dict[str, float]:
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    found = store.recomposable("x-main")
    t1 = time.perf_counter()
    for d in found:
        store.recompose_text(d.id, d.text, "NEW " + d.text, url=d.url, now=now)
    t2 = time.perf_counter()
    return {
        "recomposable": len(found),
        "lookup_ms": round((t1 - t0) * 1000, 1),
        "rewrite_ms": round((t2 - t1) * 1000, 1),
        "per_rewrite_ms": round((t2 - t1) * 1000 / max(len(found), 1), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deliveries", type=int, default=5000)
    ap.add_argument("--pending", type=int, default=500)
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    out: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "python": sys.version.split()[0],
        "deliveries": args.deliveries,
        "events": args.events,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, index in (("with_index", True), ("without_index", False)):
            store = ledger(Path(tmp) / f"{label}.db", args.deliveries, args.pending, args.events)
            if not index:
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("DROP INDEX ix_events_delivery")
            out[label] = measure(store)
            store.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
