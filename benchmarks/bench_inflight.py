"""`queue:work --in-flight N` against one-at-a-time workers (issue 25).

I/O-bound: 1,000 `App\\Jobs\\SleepJob`s whose `async def handle` awaits 0.2 s, one worker
process with `--in-flight` 1 / 50 / 200 / 500, and `--concurrency 4` (one at a time per
process) beside them; Laravel's bound is 1 / 0.2 s = 5 jobs/s per process. No-op:
`App\\Jobs\\NoopJob` with `--in-flight 1` (the sync loop) and `--in-flight 50`. Each run is
the real `laravel-queue queue:work redis --stop-when-empty --sleep 0` timed from spawn to
exit (boot included) with its peak RSS, on a pre-filled private Redis; every run checks
that each job started exactly once.

Latency (`--only latency`): push to start on an idle worker at the defaults (block_for
null, `--sleep 3`), the sync loop and `--in-flight` 4 / 50 interleaved, `--latency-jobs`
pushes per mode and run through the real driver at random 5-20 ms gaps (bench_worker's
method: handler start minus the moment before the push, CLOCK_MONOTONIC).

    .venv/bin/python -m benchmarks.bench_inflight [--jobs 1000] [--noop-jobs 20000] [--runs 1]
    .venv/bin/python -m benchmarks.bench_inflight --only latency [--latency-jobs 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.backends import make_backend, wait_until
from benchmarks.measure import BackgroundWorker, Tally, median, percentile, run_processes, worker_argv
from benchmarks.noop_jobs import TALLY_ENV, async_noop_payload, noop_payload, sleep_payload

SLEEP_SECONDS = 0.2
LARAVEL_BOUND = 1 / SLEEP_SECONDS


def run(backend: Any, tally: Tally, payloads: list[str], extra: tuple[str, ...], runs: int) -> tuple[float, float]:
    """Median jobs/s (boot included) and the largest peak RSS in MiB over `runs` launches."""
    rates, peaks = [], []
    for _ in range(runs):
        tally.reset(len(payloads))
        backend.clear()
        backend.prefill(payloads)
        argv = worker_argv("redis", extra=extra)
        result = run_processes(argv, {**backend.env, TALLY_ENV: str(tally.path)}, timeout=600)
        tally.check_complete(range(len(payloads)))
        rates.append(len(payloads) / result.wall)
        peaks.append(result.peak_rss_kb / 1024)
    return median(rates), max(peaks)


def push_to_start_ms(backend: Any, tally: Tally, extra: tuple[str, ...], count: int, seed: int) -> list[float]:
    """One idle worker (`--sleep 3`, no --stop-when-empty); `count` pushes at random gaps."""
    backend.clear()
    tally.reset(count)
    payloads = backend.prepare([noop_payload(n) for n in range(-1, count)])
    worker = BackgroundWorker(worker_argv("redis", sleep=3, stop_when_empty=False, extra=extra),
                              {**backend.env, TALLY_ENV: str(tally.path)})
    pushed: list[int] = []
    try:
        backend.push(payloads[0])  # n = -1: booted and in its loop once this one has started
        wait_until(lambda: tally.refresh() >= 1, 60, "the latency worker to boot")
        gaps = random.Random(seed)
        for payload in payloads[1:]:
            time.sleep(gaps.uniform(0.005, 0.02))
            pushed.append(time.monotonic_ns())
            backend.push(payload)
        wait_until(lambda: tally.refresh() >= count + 1, 60 + 6 * count, "every latency job to start")
    finally:
        worker.stop()
    tally.check_complete(range(-1, count))
    return [(tally.starts[n] - pushed[n]) / 1e6 for n in range(count)]


def latency_rows(backend: Any, tally: Tally, count: int, runs: int) -> None:
    modes = [("sync loop (no --in-flight)", ()), ("--in-flight 4", ("--in-flight", "4")),
             ("--in-flight 50", ("--in-flight", "50"))]
    samples: dict[str, list[float]] = {label: [] for label, _ in modes}
    for run_index in range(runs):  # the modes interleaved, so machine noise hits each alike
        for label, extra in modes:
            samples[label] += push_to_start_ms(backend, tally, extra, count, seed=run_index)
    for label, values in samples.items():
        print(f"| redis | defaults (block_for null), --sleep 3, {label} | {len(values)} | "
              f"{percentile(values, 0.5):.2f} | {percentile(values, 0.99):.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--noop-jobs", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--only", default="io,noop", help="io, noop, latency (comma-separated)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lqbench-inflight-") as tmp:
        workdir = Path(tmp)
        backend = make_backend("redis", workdir)
        backend.open()
        tally = Tally(workdir / "tally")
        try:
            if "io" in args.only:
                payloads = backend.prepare([sleep_payload(n, SLEEP_SECONDS) for n in range(args.jobs)])
                modes = [("--in-flight 1", ("--in-flight", "1")), ("--in-flight 50", ("--in-flight", "50")),
                         ("--in-flight 200", ("--in-flight", "200")), ("--in-flight 500", ("--in-flight", "500")),
                         ("--concurrency 4", ("--concurrency", "4"))]
                for label, extra in modes:
                    one_at_a_time = {"--in-flight 1": 50, "--concurrency 4": 200}  # 5 jobs/s per process
                    jobs = payloads[: one_at_a_time.get(label, len(payloads))]
                    rate, rss = run(backend, tally, jobs, extra, args.runs)
                    row = f"| sleep 0.2 s (async def) | {label} | {len(jobs):,} | **{rate:,.0f}** | {rss:.1f} |"
                    print(row, flush=True)
            if "noop" in args.only:
                payloads = backend.prepare([noop_payload(n) for n in range(args.noop_jobs)])
                async_payloads = backend.prepare([async_noop_payload(n) for n in range(args.noop_jobs)])
                for job, label, extra, stored in [
                    ("no-op (sync def)", "--in-flight 1", (), payloads),
                    ("no-op (sync def, thread pool)", "--in-flight 50", ("--in-flight", "50"), payloads),
                    ("no-op (async def)", "--in-flight 50", ("--in-flight", "50"), async_payloads),
                ]:
                    rate, rss = run(backend, tally, stored, extra, args.runs)
                    print(f"| {job} | {label} | {len(stored):,} | **{rate:,.0f}** | {rss:.1f} |", flush=True)
            if "latency" in args.only:
                latency_rows(backend, tally, args.latency_jobs, args.runs)
        finally:
            backend.close()
    if "io" in args.only:
        print(f"\nLaravel's bound for the sleep job, one at a time: {LARAVEL_BOUND:g} jobs/s per process")


if __name__ == "__main__":
    main()
