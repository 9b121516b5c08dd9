"""The bench/ scripts still run, at tiny scale (``--quick``), and count right.

Not a timing test: speed is only claimed from full runs, in BENCHMARKS.md. These keep the
scripts from rotting and check what each measures is what it says: the feed farm answers 200
then 304, every item becomes one new article, the idle daemon only gets 304s, and every
published article reaches the fake X exactly once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def run_bench(script: str, *args: str, timeout: float = 240) -> Any:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_bench_scripts_run_and_count_right() -> None:
    poll = run_bench("poll.py")
    cold, warm, latency = poll["phases"]
    assert (cold["farm_200"], cold["farm_304"], cold["new_articles"]) == (20, 0, 100)
    assert (warm["farm_200"], warm["farm_304"], warm["new_articles"]) == (0, 20, 0)
    assert (latency["farm_200"], latency["farm_304"], latency["errors"]) == (0, 20, 0)

    per_source = run_bench("poll.py", "--per-source")
    assert [p["new_articles"] for p in per_source["phases"]] == [100, 0, 0]

    idle = run_bench("idle.py")
    assert idle["farm_200"] == 0 and idle["farm_304"] >= 10
    assert idle["rss_mb"] > 0

    e2e = run_bench("e2e_latency.py")
    assert e2e["poll"]["missing"] == 0 and e2e["poll"]["duplicates"] == 0
    assert [row["posts"] for row in e2e["poll"]["each"]] == [1, 1]
    assert all(row["latency_s"] > 0 for row in e2e["poll"]["each"])
