"""What job middleware cost: jobs/s and Redis round trips per job, no middleware vs RateLimited.

On a private redis-server (Redis queue + Redis cache store), each variant pre-fills N jobs
and times one `queue:work --stop-when-empty` process. Round trips are counted client-side:
200 more jobs run in-process with every redis-py command counted (what the middleware add
on top of the job without middleware; the pop's own round trip is the same). Variants: NoopJob (no
middleware), RateLimited under its limit, RateLimitedWithRedis under its limit, and
RateLimited over its limit with dont_release() (every job but the first dropped).

    .venv/bin/python -m benchmarks.bench_middleware --jobs 5000 --runs 3
"""

from __future__ import annotations

import argparse
import io
import tempfile
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.backends import make_backend
from benchmarks.measure import launcher, median, run_processes
from benchmarks.middleware_jobs import LIMITED, OVER_LIMIT, REDIS_LIMITED
from benchmarks.noop_jobs import NOOP_CLASS
from laravel_queue.bus.lifecycle import lifecycle_for
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, command_payload
from laravel_queue.registry import default_registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.output import WorkerOutput

COUNTED_JOBS = 200


def counting_pipeline(make: Any, sent: Counter[str]) -> Any:
    """client.pipeline() whose execute() counts as one round trip (its commands skip execute_command)."""

    def pipeline(*args: Any, **options: Any) -> Any:
        pipe = make(*args, **options)
        run = pipe.execute

        def execute(*run_args: Any, **run_options: Any) -> Any:
            sent[f"PIPELINE of {len(pipe)}"] += 1
            return run(*run_args, **run_options)

        pipe.execute = execute
        return pipe

    return pipeline


def commands_per_job(backend: Any, php_class: str) -> Counter[str]:
    """Every redis-py command an in-process worker sends for COUNTED_JOBS jobs, per job."""
    import benchmarks.middleware_jobs
    import benchmarks.noop_jobs  # noqa: F401

    backend.prefill(backend.prepare([command_payload(Command(php_class, {"n": n})) for n in range(COUNTED_JOBS)]))
    connections = Connections(load_settings(environ=backend.env))
    sent: Counter[str] = Counter()
    for name in ("default", "cache"):
        client = connections.redis(name)
        send = client.execute_command

        def counting(*args: Any, send: Any = send, **options: Any) -> Any:
            sent[str(args[0]).upper()] += 1
            return send(*args, **options)

        client.execute_command = counting
        client.pipeline = counting_pipeline(client.pipeline, sent)
    try:
        worker = Worker(
            connections,
            registry=default_registry,
            output=WorkerOutput(io.StringIO()),
            options=WorkerOptions(sleep=0, stop_when_empty=True, max_tries=0, memory=4096),
            lifecycle=lifecycle_for(connections),
        )
        worker.daemon("redis", ["default"])
    finally:
        connections.close()
    return Counter({command: count / COUNTED_JOBS for command, count in sent.items()})


VARIANTS = {
    "no middleware (NoopJob)": NOOP_CLASS,
    "RateLimited, under the limit": LIMITED,
    "RateLimitedWithRedis, under the limit": REDIS_LIMITED,
    "RateLimited over the limit, dont_release()": OVER_LIMIT,
}


def no_middleware_overhead() -> float:
    """µs the registry now spends per job looking for middleware on a job that has none."""
    from laravel_queue.middleware import resolve_middleware
    from laravel_queue.php import PhpObject

    command, count = PhpObject(NOOP_CLASS, {"n": 1}), 200_000
    return min(timeit.repeat(lambda: resolve_middleware(command, ()), number=count, repeat=7)) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant (0: count round trips only)")
    args = parser.parse_args()
    argv = [launcher(), "queue:work", "redis", "--sleep", "0", "--stop-when-empty", "--tries", "0"]
    argv += ["--jobs", "benchmarks.noop_jobs,benchmarks.middleware_jobs"]
    with tempfile.TemporaryDirectory(prefix="lqbench-mw-") as workdir:
        backend = make_backend("redis", Path(workdir))
        backend.open()
        try:
            print("| job | jobs/s (median) | redis-py commands per job (in-process) | round trips added |")
            print("| --- | ---: | --- | ---: |")
            baseline: Counter[str] | None = None
            for label, php_class in VARIANTS.items():
                rates = []
                for _ in range(args.runs):
                    backend.connections.redis().flushdb()
                    payloads = backend.prepare(
                        [command_payload(Command(php_class, {"n": n})) for n in range(args.jobs)]
                    )
                    backend.prefill(payloads)
                    run = run_processes(argv, backend.env)
                    if backend.remaining() or backend.failed_count():
                        raise AssertionError(f"{label}: jobs left or failed")
                    rates.append(args.jobs / run.wall)
                backend.connections.redis().flushdb()
                sent = commands_per_job(backend, php_class)
                baseline = sent if baseline is None else baseline
                added = sum(sent.values()) - sum(baseline.values())
                shown = ", ".join(f"{name} {count:.2f}" for name, count in sorted(sent.items()))
                rate = f"{median(rates):,.0f}" if rates else "-"
                print(f"| {label} | {rate} | {shown} | {added:.2f} |")
        finally:
            backend.close()
    print(f"\nlooking for middleware on a job without any: {no_middleware_overhead():.2f} µs per job (best of 7)")


if __name__ == "__main__":
    main()
