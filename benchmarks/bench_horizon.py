"""What Horizon bookkeeping costs per job (docs/horizon.md; BENCHMARKS.md "Horizon bookkeeping").

Times the real `laravel-queue queue:work redis --stop-when-empty --sleep 0 --jobs
benchmarks.noop_jobs` subprocess on pre-filled queues of Laravel-shaped NoopJob
payloads, `--no-horizon` against `--horizon` (HORIZON_PREFIX under the run's own
prefix), alternated, `--runs` rounds; reports the median jobs/s (wall clock, start-up
included), the median CPU time per job of the worker process and of Redis (less
sensitive to other load on a shared machine than the wall clock), and the Redis commands
per job counted by INFO commandstats.

    .venv/bin/python -m benchmarks.bench_horizon [--jobs 5000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.backends import RedisBackend
from benchmarks.measure import median, run_processes, worker_argv
from benchmarks.noop_jobs import noop_payload
from laravel_queue.payload import php_json_encode

VARIANTS = ("--no-horizon", "--horizon")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    worker_cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    redis_cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    per_job: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        backend = RedisBackend(Path(workdir))
        backend.open()
        try:
            backend.env["HORIZON_PREFIX"] = backend.env["REDIS_PREFIX"] + "horizon:"
            queue = backend.queue()
            payloads = [php_json_encode(queue.prepare_payload(noop_payload(n))) for n in range(args.jobs)]
            print(backend.describe(), f"{args.jobs} jobs per run, {args.runs} rounds")
            for round_number in range(args.runs):
                for variant in VARIANTS:
                    backend.prefill(payloads)
                    before = backend.counters()
                    run = run_processes(worker_argv("redis", extra=[variant]), backend.env)
                    assert run.exit_codes == [0] and queue.size() == 0, run
                    per_job[variant] = backend.per_job(before, backend.counters(), args.jobs)
                    rates[variant].append(args.jobs / run.wall)
                    worker_cpu[variant].append(run.cpu_seconds / args.jobs * 1e6)
                    redis_cpu[variant].append(per_job[variant]["server_cpu_us"])
                    print(f"round {round_number + 1} {variant:13} {args.jobs / run.wall:8.0f} jobs/s "
                          f"worker CPU {worker_cpu[variant][-1]:5.0f} µs/job, Redis CPU {redis_cpu[variant][-1]:5.1f}")
        finally:
            backend.close()
    off, on = (median(rates[variant]) for variant in VARIANTS)
    print("\n| worker | jobs/s (median) | wall µs per job | worker CPU µs per job | Redis CPU µs per job "
          "| Redis commands per job (last run) |")
    print("|---|---|---|---|---|---|")
    for variant, rate in zip(VARIANTS, (off, on), strict=True):
        commands = ", ".join(f"{k.removeprefix('cmd:')} {v:.2f}" for k, v in sorted(per_job[variant].items())
                             if k.startswith("cmd:") and v >= 0.01)
        print(f"| `{variant}` | {rate:,.0f} | {1e6 / rate:,.0f} | {median(worker_cpu[variant]):,.0f} "
              f"| {median(redis_cpu[variant]):,.1f} | {commands} |")
    extra_cpu = median(worker_cpu["--horizon"]) - median(worker_cpu["--no-horizon"])
    print(f"\nHorizon bookkeeping: +{1e6 / on - 1e6 / off:,.0f} µs wall per job ({(off - on) / off:.0%} fewer jobs/s), "
          f"+{extra_cpu:,.0f} µs worker CPU per job")


if __name__ == "__main__":
    main()
