"""Peers side by side: syndbot, feed2toot and feediverse on the same feed farm and fake Mastodon.

    python bench/peers.py [--feeds 100] [--tools syndbot,feed2toot,feediverse] [--quick]

The peers come from PyPI, each into its own virtualenv under ``bench/.venvs/`` (created on
first use, not committed): ``feed2toot`` and ``feediverse`` with ``Mastodon.py<2``. All three
run the way they are meant to be run from cron: one pass per invocation (``syndbot once``,
``feed2toot``, ``feediverse``), each on its own fresh farm (bench/farm.py, its own process:
``--feeds`` feeds × 20 WordPress-like items) and its own fake Mastodon
(tests/fakes/fake_mastodon.py, in this process). Each tool is configured as its documentation
says for "don't post what is already in the feeds" and "post at most what is new" (feed2toot:
``--populate-cache`` first, a cache large enough for every item, ``--limit 20``; feediverse:
``updated`` set to the start time, as its setup does when old posts are not wanted; syndbot:
``first_run: skip``). Passes:

1. ``init`` — the first pass over feeds that hold 20 items each (nothing should be posted);
2. ``warm`` — nothing changed (nothing to post; a polite poller gets 304s);
3. ``new`` — one new item on feed 0 (one post);
4. ``late`` — one new item on feed 1 dated 10 minutes *before* the ``new`` item: it appears
   late (a scheduled post, a clock-skewed CMS, a feed cache); one post is due. A tool that keeps
   one global "last seen date" misses it.

Per pass and tool: wall time, CPU (user+sys of the child, ``os.wait4``), peak RSS, the farm's
200 and 304 answers, statuses posted; then missed and duplicated posts over the run.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, machine, write_yaml
from farm import FarmProcess

from tests.fakes.fake_mastodon import FakeMastodon

VENVS = ROOT / "bench" / ".venvs"
PEERS = {
    "feed2toot": ["feed2toot"],
    "feediverse": ["feediverse", "Mastodon.py<2"],
}


def venv(tool: str) -> Path:
    """The tool's virtualenv (created and installed with pip on first use)."""
    path = VENVS / tool
    if not (path / "bin" / tool).exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(path)], check=True)
        subprocess.run(
            [str(path / "bin" / "pip"), "install", "-q", *PEERS[tool]],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def timed(
    cmd: list[str], cwd: Path, log_path: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``cmd``; its wall time, CPU and peak RSS (from wait4's rusage)."""
    log = log_path.open("ab")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
        "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
    }


def syndbot_runner(farm: FarmProcess, masto: FakeMastodon, work: Path) -> Callable[[], Any]:
    config = write_yaml(
        work / "syndbot.yaml",
        {
            "store": f"sqlite:///{work}/syndbot.db",
            "state_dir": f"{work}/state",
            "sources": [
                {"id": f"feed-{n}", "feed": farm.url(n), "first_run": "skip"}
                for n in range(farm.feeds)
            ],
            "accounts": [
                {
                    "id": "masto",
                    "platform": "mastodon",
                    "api_base": masto.url,
                    "credentials": {"access_token": "${MASTO_TOKEN}"},
                    "template": "{title} {url}",
                }
            ],
            "routes": [{"to": ["masto"]}],
        },
    )
    cmd = [sys.executable, "-m", "bot", "once", "--config", str(config)]
    env = {"MASTO_TOKEN": masto.credentials()["access_token"]}
    return lambda: timed(cmd, ROOT, work / "run.log", env)


def feed2toot_runner(farm: FarmProcess, masto: FakeMastodon, work: Path) -> Callable[[], Any]:
    exe = str(venv("feed2toot") / "bin" / "feed2toot")
    (work / "feeds.txt").write_text("".join(farm.url(n) + "\n" for n in range(farm.feeds)))
    (work / "usercred.secret").write_text(masto.credentials()["access_token"] + "\n")
    (work / "clientcred.secret").write_text("feed2toot-bench-id\nfeed2toot-bench-secret\n")
    (work / "feed2toot.ini").write_text(
        "[mastodon]\n"
        f"instance_url={masto.url}\n"
        f"user_credentials={work}/usercred.secret\n"
        f"client_credentials={work}/clientcred.secret\n"
        "toot_visibility=public\n\n"
        "[cache]\n"
        f"cachefile={work}/feed2toot.cache\n"
        f"cache_limit={farm.feeds * 40 + 100}\n\n"
        "[lock]\n"
        f"lock_file={work}/feed2toot.lock\n"
        "lock_timeout=3600\n\n"
        "[rss]\n"
        f"uri_list={work}/feeds.txt\n"
        "toot={title} {link}\n\n"
        "[feedparser]\n"
        "accept_bozo_exceptions=true\n"
    )
    base = [exe, "-c", str(work / "feed2toot.ini"), "--limit", "20"]
    first = [True]

    def run() -> Any:
        cmd = [*base, "--populate-cache"] if first[0] else base
        first[0] = False
        return timed(cmd, work, work / "run.log")

    return run


def feediverse_runner(farm: FarmProcess, masto: FakeMastodon, work: Path) -> Callable[[], Any]:
    exe = str(venv("feediverse") / "bin" / "feediverse")
    config = write_yaml(
        work / "feediverse.yaml",
        {
            "name": "feediverse",
            "url": masto.url,
            "client_id": "feediverse-bench",
            "client_secret": "unused",
            "access_token": masto.credentials()["access_token"],
            "feeds": [
                {"url": farm.url(n), "template": "{title} {link}", "include_images": False}
                for n in range(farm.feeds)
            ],
            "updated": datetime.now(UTC).isoformat(),
        },
    )
    return lambda: timed([exe, "-c", str(config)], work, work / "run.log")


RUNNERS = {
    "syndbot": syndbot_runner,
    "feed2toot": feed2toot_runner,
    "feediverse": feediverse_runner,
}


def compare(tool: str, feeds: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FarmProcess(feeds, 20) as farm,
        FakeMastodon(rate_limit=100_000) as masto,
    ):
        work = Path(tmp)
        run = RUNNERS[tool](farm, masto, work)
        passes: list[dict[str, Any]] = []
        expected: list[str] = []

        def one(name: str) -> None:
            farm.reset()
            before = len(masto.statuses)
            result = run()
            stats = farm.stats()
            passes.append(
                {
                    "pass": name,
                    **result,
                    "farm_200": stats["200"],
                    "farm_304": stats["304"],
                    "posted": len(masto.statuses) - before,
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                }
            )

        one("init")
        one("warm")
        expected.append(farm.publish(0)["title"])
        one("new")
        time.sleep(1.0)
        expected.append(farm.publish(1, age=600)["title"])
        one("late")
        texts = [s["text"] for s in masto.statuses]
        log_tail = Path(tmp, "run.log").read_text(errors="replace")[-1500:]
    missed = [t for t in expected if not any(t in x for x in texts)]
    return {
        "tool": tool,
        "passes": passes,
        "posts": len(texts),
        "expected_posts": len(expected),
        "missed": len(missed),
        "missed_titles": missed,
        "duplicates": len(texts) - len(set(texts)),
        "unexpected": sum(not any(t in x for t in expected) for x in texts),
        **({"log_tail": log_tail} if any(p["exit"] for p in passes) else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--tools", default="syndbot,feed2toot,feediverse")
    parser.add_argument("--quick", action="store_true", help="5 feeds")
    args = parser.parse_args()
    feeds = 5 if args.quick else args.feeds
    out = {
        "machine": machine(),
        "feeds": feeds,
        "items_per_feed": 20,
        "results": [compare(tool, feeds) for tool in args.tools.split(",")],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
