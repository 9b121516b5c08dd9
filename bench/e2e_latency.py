"""End-to-end latency: an article appears on a (fake) site → the (fake) X API receives the post.

    python bench/e2e_latency.py [--feeds 10] [--articles 10] [--every 60] [--quick]

Starts the farm (bench/farm.py, its own process), a fake X API (tests/fakes/fake_x.py, in this
process) and ``python -m bot run`` (its own process) with one source per feed, polled every
``--every`` seconds (default jitter: 10 %, at most 30 s), ``first_run: skip``, all routed to one X
account. Once every source has been polled, ``--articles`` articles are published on random
feeds at random moments over two poll intervals; each one's latency is the time from its
publication to the fake X accepting its post, split into the wait for the next poll (to the
farm's first 200 answer of that feed after the publication) and the pipeline after it (parse,
record, scrape the page, compose, send).

Push: when this build has WebSub (a top-level ``websub:`` config section), the same is measured
with the farm advertising its own hub and pushing each changed feed to the daemon's callback
(sources keep the default ``websub: auto``); otherwise the result says
``"push": "not available in this build"``. Prints one JSON object; exits 1 when a post is missing
or duplicated.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import SyndbotDaemon, machine, wait_for, write_yaml
from farm import FarmProcess

from bot.config import Config
from tests.fakes.fake_x import FakeX
from tests.support import X_ENV, fake_x_credentials


def websub_available() -> bool:
    return "websub" in Config.model_fields


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "mean_s": round(statistics.fmean(ordered), 2),
        "median_s": round(statistics.median(ordered), 2),
        "p95_s": round(ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)], 2),
        "max_s": round(ordered[-1], 2),
    }


def measure(
    feeds: int, articles: int, every: float, push: bool, rng: random.Random
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FarmProcess(feeds, 20) as farm,
        FakeX(**fake_x_credentials()) as x,
    ):
        data: dict[str, Any] = {
            "store": f"sqlite:///{tmp}/syndbot.db",
            "state_dir": f"{tmp}/state",
            "deliver_every": "5s",
            "sources": [
                {"id": f"feed-{n}", "feed": farm.url(n), "every": f"{every}s", "first_run": "skip"}
                for n in range(feeds)
            ],
            "accounts": [
                {
                    "id": "x-main",
                    "platform": "x",
                    "api_base": x.url,
                    "credentials": {
                        "consumer_key": "${X_API_KEY}",
                        "consumer_secret": "${X_API_SECRET}",
                        "access_token": "${X_ACCESS_TOKEN}",
                        "access_token_secret": "${X_ACCESS_SECRET}",
                    },
                    "template": "{title} {url}",
                }
            ],
            "routes": [{"to": ["x-main"]}],
        }
        if push:
            port = free_port()
            farm.hub("self")
            data["websub"] = {
                "callback_url": f"http://127.0.0.1:{port}",
                "host": "127.0.0.1",
                "port": port,
            }
        config = write_yaml(Path(tmp) / "syndbot.yaml", data)
        log = Path(tmp) / "daemon.log"
        with SyndbotDaemon(config, log, env=dict(X_ENV)) as daemon:
            wait_for(
                lambda: farm.stats()["200"] >= feeds or not daemon.alive(),
                120,
                "the first poll of every source",
            )
            if not daemon.alive():
                raise SystemExit(f"the daemon died:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(3.0 if push else 1.0)  # subscriptions verified, first polls recorded
            offsets = sorted(rng.uniform(0, 2 * every) for _ in range(articles))
            start = time.time()
            published: list[dict[str, Any]] = []
            for offset in offsets:
                time.sleep(max(0.0, start + offset - time.time()))
                n = rng.randrange(feeds)
                published.append({"feed": n, **farm.publish(n)})

            def arrived() -> bool:
                return all(any(p["title"] in post["text"] for post in x.posts) for p in published)

            try:
                wait_for(
                    lambda: arrived() or not daemon.alive(),
                    every * 2 + 60,
                    "every article's post",
                    interval=0.05,
                )
            except SystemExit:
                print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
                raise
            posts = x.posts
        results = []
        for p in published:
            got = [post for post in posts if p["title"] in post["text"]]
            served = [t for t in farm_served(p, tmp_farm=farm) if t >= p["time"]]
            row: dict[str, Any] = {"feed": p["feed"], "posts": len(got)}
            if got:
                row["latency_s"] = round(got[0]["time"] - p["time"], 3)
                if served:
                    row["poll_wait_s"] = round(served[0] - p["time"], 3)
                    row["after_fetch_s"] = round(got[0]["time"] - served[0], 3)
            results.append(row)
    ok = all(r["posts"] == 1 for r in results)
    return {
        "mode": "push (WebSub)" if push else f"poll every {every:g}s",
        "articles": articles,
        "latency": summary([r["latency_s"] for r in results if "latency_s" in r]),
        "poll_wait": summary([r["poll_wait_s"] for r in results if "poll_wait_s" in r]),
        "after_fetch": summary([r["after_fetch_s"] for r in results if "after_fetch_s" in r]),
        "missing": sum(r["posts"] == 0 for r in results),
        "duplicates": sum(max(0, r["posts"] - 1) for r in results),
        "ok": ok,
        "each": results,
    }


def farm_served(p: dict[str, Any], tmp_farm: FarmProcess) -> list[float]:
    return tmp_farm.served(int(p["feed"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=10)
    parser.add_argument("--articles", type=int, default=10)
    parser.add_argument("--every", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="3 feeds, 2 articles, every 2 s")
    args = parser.parse_args()
    if args.quick:
        args.feeds, args.articles, args.every = 3, 2, 2.0
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"machine": machine()}
    out["poll"] = measure(args.feeds, args.articles, args.every, False, rng)
    if websub_available():
        out["push"] = measure(args.feeds, args.articles, args.every, True, rng)
    else:
        out["push"] = "not available in this build"
    out["machine"]["load_avg_end"] = machine()["load_avg"]
    print(json.dumps(out, indent=2))
    parts = [out["poll"], out["push"]]
    if not all(p["ok"] for p in parts if isinstance(p, dict)):
        sys.exit(1)


if __name__ == "__main__":
    main()
