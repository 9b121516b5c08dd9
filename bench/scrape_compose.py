"""Articles per second through scraping (page → Article) and composing (Article → X post).

Uses the WordPress 6.1 pages captured in tests/fixtures (with and without SEO-plugin tags) and
the bundled sample site's pages, rendered once up front. No network. Run:

    python bench/scrape_compose.py [--rounds 30]

Prints one JSON object: the machine, pages, articles/s for scrape, compose and both, and the
per-page median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import requests

from bot.config import AccountConfig
from bot.demo.site import SampleSite
from bot.publishers import spec_for
from bot.scraper import parse_article
from bot.summarizer import compose

ROOT = Path(__file__).resolve().parent.parent


def pages() -> list[tuple[str, bytes]]:
    out = [
        (f"http://127.0.0.1:8080/{p.stem}/", p.read_bytes())
        for p in sorted((ROOT / "tests/fixtures/wordpress-6.1").glob("article-*.html"))
    ]
    with SampleSite.bundled() as site, requests.Session() as http:
        for a in site.articles():
            url = site.permalink(a.post_id)
            out.append((url, http.get(url, timeout=10).content))
    return out


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    account = AccountConfig(id="x", platform="x", template="{title} {hashtags} {url}")
    spec = spec_for(account)
    corpus = pages()
    scrape_ms: list[float] = []
    compose_ms: list[float] = []
    for _ in range(args.rounds):
        for url, html in corpus:
            t0 = time.perf_counter()
            article = parse_article(html, url)
            t1 = time.perf_counter()
            compose(article, account, spec)
            t2 = time.perf_counter()
            scrape_ms.append((t1 - t0) * 1000)
            compose_ms.append((t2 - t1) * 1000)
    total_s = (sum(scrape_ms) + sum(compose_ms)) / 1000

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "per_second": round(len(values) / (sum(values) / 1000), 1),
            "median_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        }

    print(
        json.dumps(
            {
                "machine": {
                    "cpu": cpu_model(),
                    "cores": os.cpu_count(),
                    "python": sys.version.split()[0],
                },
                "pages": len(corpus),
                "rounds": args.rounds,
                "scrape": summary(scrape_ms),
                "compose_x": summary(compose_ms),
                "scrape_and_compose_per_second": round(len(scrape_ms) / total_s, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
