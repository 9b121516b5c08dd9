"""Polling: cold ingest, warm poll, and warm poll with 20 ms of latency, against bench/farm.py.

    python bench/poll.py [--feeds 1000] [--items 20] [--latency-ms 20] [--quick] [--per-source]

The farm runs in its own process (its CPU is not counted). syndbot runs in this process, on a
fresh SQLite ledger in a temporary directory, with one source per feed (``first_run: latest:N``
so every item of the first poll is recorded as a *new* article, ready to be processed). What is
timed is the daemon's poll of all its sources, once per phase:

- ``cold``: every feed answers 200; each feed is fetched, parsed (feedparser), its items keyed
  (identity aliases), looked up in the ledger and inserted as new articles with their keys;
  the source's validators and poll outcome are recorded. Scraping, composing and publishing are
  not included (they are the deliver job's; see bench/scrape_compose.py).
- ``warm``: nothing changed; every feed answers 304 to the conditional GET.
- ``warm+latency``: the same, with the farm adding ``--latency-ms`` to every response.

For each: wall time, this process's CPU (user+sys, ``resource.getrusage``), peak RSS so far,
and the farm's count of 200 and 304 responses. ``--per-source`` uses the per-source path
(``Pipeline.poll`` of each source on a pool of 8 threads, as the scheduler's jobs did) instead
of ``Pipeline.poll_many``. Prints one JSON object; exits 1 when a count is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, self_cpu, self_peak_rss_mb
from farm import FarmProcess

from bot.config import Config, parse_config
from bot.pipeline import Pipeline, PollReport
from bot.store import Store


def bench_config(farm: FarmProcess, store: Path, items: int) -> Config:
    data = {
        "store": f"sqlite:///{store}",
        "fetch": {"timeout": "20s"},
        "sources": [
            {"id": f"feed-{n}", "feed": farm.url(n), "every": "60s", "first_run": f"latest:{items}"}
            for n in range(farm.feeds)
        ],
        "accounts": [{"id": "console", "platform": "console", "template": "{title} {url}"}],
    }
    return parse_config(yaml.safe_dump(data), {}, path="<bench>")


def poller(pipeline: Pipeline, per_source: bool) -> Callable[[], list[PollReport]]:
    sources = [s for s in pipeline.config.sources if s.enabled]
    if per_source:

        def run() -> list[PollReport]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(pipeline.poll, sources))

        return run
    return lambda: pipeline.poll_many(sources)


def phase(
    name: str, farm: FarmProcess, run: Callable[[], list[PollReport]]
) -> tuple[dict[str, Any], list[PollReport]]:
    farm.reset()
    farm_cpu = farm.cpu_seconds()
    cpu0, t0 = self_cpu(), time.perf_counter()
    reports = run()
    wall, cpu = time.perf_counter() - t0, self_cpu() - cpu0
    stats = farm.stats()
    return {
        "phase": name,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "peak_rss_mb": self_peak_rss_mb(),
        "farm_200": stats["200"],
        "farm_304": stats["304"],
        "farm_cpu_s": round(farm.cpu_seconds() - farm_cpu, 2),
        "new_articles": sum(r.new for r in reports),
        "errors": sum(r.status == "error" for r in reports),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }, reports


def run(feeds: int, items: int, latency_ms: float, per_source: bool) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, FarmProcess(feeds, items) as farm:
        config = bench_config(farm, Path(tmp) / "bench.db", items)
        store = Store(config.store)
        store.migrate()
        pipeline = Pipeline(config, store)
        go = poller(pipeline, per_source)
        try:
            results.append(phase("cold", farm, go)[0])
            results.append(phase("warm", farm, go)[0])
            farm.latency(latency_ms)
            results.append(phase(f"warm+{latency_ms:g}ms", farm, go)[0])
        finally:
            pipeline.close()
            store.close()
    expected = [(feeds, 0, feeds * items), (0, feeds, 0), (0, feeds, 0)]
    ok = all(
        (r["farm_200"], r["farm_304"], r["new_articles"]) == e and r["errors"] == 0
        for r, e in zip(results, expected, strict=True)
    )
    return {
        "machine": machine(),
        "feeds": feeds,
        "items_per_feed": items,
        "path": "per-source (Pipeline.poll on 8 threads)" if per_source else "Pipeline.poll_many",
        "phases": results,
        "counts_ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--per-source", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20 feeds × 5 items")
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.items = 20, 5
    out = run(args.feeds, args.items, args.latency_ms, args.per_source)
    print(json.dumps(out, indent=2))
    if not out["counts_ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
