"""Overhead of a Python callable target versus the loopback HTTP path.

The same scan (N benign text cases, no attack, refusal judge, SQLite store)
runs against:
- a sync Python callable that answers at once,
- an ``async def`` callable that answers at once,
- the loopback OpenAI-compatible mock server (mmsafe-testkit, zero latency),
at concurrency 1 and 16, and prints requests per second (whole scan: load,
call, judge, store) as a Markdown table for docs/benchmarks.md.

    python python/bench/callable_vs_http.py [-n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("MMSAFE_ATTACK_OCR", "off")

import mmsafe  # noqa: E402
from mmsafe._native import MockServer  # noqa: E402

ANSWER = "Start by listing your monthly income, then your fixed costs, then set a saving goal."


def sync_model(messages):
    return ANSWER


async def async_model(messages):
    return ANSWER


def write_suite(path: str, n: int) -> None:
    with open(path, "w") as f:
        f.write("dataset,category_id,task_id,category_name,question,instruction\n")
        for i in range(n):
            f.write(
                f"Bench,9,{i},Financial Advice,What is a sensible way to budget for item {i}?,"
                f"Steps to budget for item {i}.\n"
            )


def one(target, suite: str, store: str, concurrency: int, name: str) -> float:
    t0 = time.perf_counter()
    run = mmsafe.scan(
        target=target,
        suite=suite,
        attacks=["none"],
        judges=["refusal"],
        store=store,
        concurrency=concurrency,
        no_cache=True,
        run_name=name,
    )
    wall = time.perf_counter() - t0
    s = run.summary()
    assert s["error_rate"] == 0.0, s["error_rate"]
    return s["attempts"] / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2000, help="requests per scan")
    ap.add_argument("--repeats", type=int, default=3, help="scans per cell (the median is shown)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        suite_path = os.path.join(d, "bench.csv")
        write_suite(suite_path, args.n)
        suite = f"figstep:{suite_path}"
        store = os.path.join(d, "bench.db")
        server = MockServer(latency_ms=0)
        targets = [
            ("Python callable (sync)", sync_model),
            ("Python callable (async def)", async_model),
            ("loopback HTTP (mock server)", server.spec),
        ]
        # Warm-up: creates the store and loads the judge once.
        one(sync_model, suite, store, 4, "warmup")
        rows = []
        k = 0
        for label, target in targets:
            cells = []
            for c in (1, 16):
                rates = []
                for _ in range(args.repeats):
                    k += 1
                    rates.append(one(target, suite, store, c, f"bench-{k}"))
                cells.append(statistics.median(rates))
            rows.append((label, cells))
        server.stop()
    print(f"| target | requests/s, concurrency 1 | requests/s, concurrency 16 |")
    print("|---|---:|---:|")
    for label, (c1, c16) in rows:
        print(f"| {label} | {c1:,.0f} | {c16:,.0f} |")
    print(f"\n{args.n} requests per scan, median of {args.repeats} scans per cell; mmsafe {mmsafe.__version__}.")


if __name__ == "__main__":
    main()
