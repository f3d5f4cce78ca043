"""The per-job cost of the worker's Prometheus metrics on the no-op path (issue 30).

Two measurements, each the median of `--runs`, for three sets of hooks: none,
`WorkerMetrics` alone (the counters and histogram), and everything `queue:work
--metrics-port` installs in a worker process (metrics, the /healthz heartbeat, the
`laravel_queue.jobs` records, the heap reclaimer):

* worker: N `App\\Jobs\\NoopJob` payloads through the real `Worker` in this process on the
  local Redis, alternating the two; CPU time of this process per job (`process_time`),
  which a loaded machine disturbs less than wall time;
* hooks: the events the worker fires for one processed job (looping, reserved, before,
  after, finished), fired N times on a real popped job: the hooks' own cost.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_metrics [--jobs 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import uuid

import benchmarks.noop_jobs as noop_jobs  # registers App\Jobs\NoopJob in the default registry
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.ops.metrics import WorkerMetrics
from laravel_queue.payload import php_json_encode
from laravel_queue.registry import default_registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

HOOKS = ("none", "metrics", "all")


def attach(events: WorkerEvents, hooks: str) -> WorkerEvents:
    if hooks == "metrics":
        WorkerMetrics().attach(events)
    elif hooks == "all":
        from laravel_queue.ops.hooks import Operations

        settings = load_settings(environ={"QUEUE_CONNECTION": "redis", "CACHE_STORE": "array"})
        Operations(settings, None, ["default"], WorkerOptions(), metrics_port=0).worker_events(events)
    return events


def run(jobs: int, hooks: str) -> float:
    """Seconds per job for one run of `jobs` no-op jobs."""
    tag = uuid.uuid4().hex[:8]
    env = {
        "QUEUE_CONNECTION": "redis",
        "CACHE_STORE": "redis",
        "REDIS_PREFIX": f"lqbench-{tag}-database-",
        "CACHE_PREFIX": f"lqbench-{tag}-cache-",
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": f"/tmp/lqbench-{tag}.sqlite",
    }
    connections = Connections(load_settings(environ=env))
    queue = connections.queue()
    pipe = queue.client.pipeline(transaction=False)
    for n in range(jobs):
        pipe.rpush(queue.keys().queue, php_json_encode(queue.prepare_payload(noop_jobs.noop_payload(n))))
        pipe.rpush(queue.keys().notify, 1)
    pipe.execute()
    connections.cache().get("warm-up")
    events = attach(WorkerEvents(), hooks)
    options = WorkerOptions(memory=4096, sleep=0, stop_when_empty=True)
    worker = Worker(
        connections, registry=default_registry, options=options, output=WorkerOutput(io.StringIO()), events=events
    )
    started = time.process_time()
    assert worker.daemon(None, ["default"]) == 0
    elapsed = time.process_time() - started
    assert queue.size() == 0
    connections.close()
    return elapsed / jobs


def fire_hooks(jobs: int, hooks: str) -> float:
    """CPU seconds per job of firing one processed job's events, `jobs` times."""
    connections = Connections(load_settings(environ={"QUEUE_CONNECTION": "redis", "CACHE_STORE": "array"}))
    queue = connections.queue()
    name = f"lqbench-hooks-{uuid.uuid4().hex[:8]}"
    queue.push_raw(php_json_encode(queue.prepare_payload(noop_jobs.noop_payload(1))), name)
    job = queue.pop(name)
    assert job is not None
    job.delete()
    connections.close()
    events = attach(WorkerEvents(), hooks)
    fire = events.fire
    started = time.process_time()
    for _ in range(jobs):
        events.should_loop()
        fire(getattr(events, "reserved", []), job)
        fire(events.before, job)
        fire(events.after, job)
        fire(getattr(events, "finished", []), job, "processed", 0.2, None)
    return (time.process_time() - started) / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for title, measure in (("worker", run), ("hooks", fire_hooks)):
        timings: dict[str, list[float]] = {hooks: [] for hooks in HOOKS}
        for _ in range(args.runs):
            for hooks in HOOKS:
                timings[hooks].append(measure(args.jobs, hooks))
        medians = {hooks: statistics.median(values) * 1e6 for hooks, values in timings.items()}
        costs = ", ".join(f"{hooks} {medians[hooks]:.1f} ({medians[hooks] - medians['none']:+.1f})" for hooks in HOOKS)
        print(f"{title:<7} CPU µs/job, median of {args.runs}: {costs}")


if __name__ == "__main__":
    main()
