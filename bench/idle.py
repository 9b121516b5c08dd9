"""The idle daemon: ``syndbot run`` with N sources on the local farm and nothing new.

    python bench/idle.py [--sources 100] [--window 60] [--quick]

Starts the farm (bench/farm.py, its own process) and ``python -m bot run`` with one source per
feed (``every: 60s``, ``first_run: skip``) and a console account, waits for the first poll of
every source (all 200) plus a short warm-up, then measures over ``--window`` seconds: the
daemon's CPU (user+sys of the process, all threads, from /proc) as a percentage of one core,
its RSS, peak RSS and PSS at the end, and the farm's 200/304 counts during the window (polls
keep going: each source once a minute, with jitter). Prints one JSON object; exits 1 when the
daemon died or a feed was downloaded again (a 200: nothing changed, so every poll in the
window must get a 304).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SyndbotDaemon, machine, proc_cpu, proc_memory_mb, wait_for, write_yaml
from farm import FarmProcess


def run(sources: int, window: float, every: str, warmup: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FarmProcess(sources, 20) as farm:
        config = write_yaml(
            Path(tmp) / "syndbot.yaml",
            {
                "store": f"sqlite:///{tmp}/syndbot.db",
                "state_dir": f"{tmp}/state",
                "sources": [
                    {"id": f"feed-{n}", "feed": farm.url(n), "every": every, "first_run": "skip"}
                    for n in range(sources)
                ],
                "accounts": [{"id": "console", "platform": "console", "template": "{title} {url}"}],
            },
        )
        with SyndbotDaemon(config, Path(tmp) / "daemon.log") as daemon:
            t0 = time.monotonic()
            wait_for(
                lambda: farm.stats()["200"] >= sources or not daemon.alive(),
                120,
                "the first poll of every source",
            )
            first_polls = time.monotonic() - t0
            time.sleep(warmup)
            farm.reset()
            cpu0, w0 = proc_cpu(daemon.pid), time.monotonic()
            time.sleep(window)
            cpu, wall = proc_cpu(daemon.pid) - cpu0, time.monotonic() - w0
            memory = proc_memory_mb(daemon.pid)
            stats = farm.stats()
            alive = daemon.alive()
            log_tail = (Path(tmp) / "daemon.log").read_text(errors="replace")[-2000:]
    return {
        "machine": machine(),
        "sources": sources,
        "every": every,
        "first_polls_s": round(first_polls, 2),
        "window_s": round(wall, 1),
        "cpu_s": round(cpu, 3),
        "cpu_percent": round(100 * cpu / wall, 2),
        **memory,
        "farm_200": stats["200"],
        "farm_304": stats["304"],
        "ok": alive and stats["200"] == 0,
        **({} if alive else {"daemon_log_tail": log_tail}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="10 sources, every 1s, 3 s window")
    args = parser.parse_args()
    out = run(10, 3.0, "1s", 1.0) if args.quick else run(args.sources, args.window, "60s", 10.0)
    print(json.dumps(out, indent=2))
    if not out["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
