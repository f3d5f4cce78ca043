"""Throughput of the Redis driver's hot path, with round trips counted.

Pushes N no-op jobs (one push_raw each), then runs the worker's loop without a handler:
pop(ack=previous) -> read the payload -> delete_later(), until the queue is empty.
Round trips are counted on the socket (one write = one request/response exchange).
For scale it also measures redis-py PING and EVALSHA loops and runs
`redis-benchmark -c 1` (one sequential client, the physical limit for one process).

    .venv/bin/python benchmarks/bench_redis_driver.py [--jobs 20000] [--host 127.0.0.1] [--port 6379]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
import uuid
from typing import Any

import redis

from laravel_queue.drivers.redis import RedisQueue


class CountingConnection(redis.connection.Connection):
    """Counts socket writes: each is one round trip (a pipeline is one write)."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        super().send_packed_command(command, check_health)


def noop_payload(queue: RedisQueue, index: int) -> str:
    body = queue.prepare_payload(
        {
            "uuid": str(uuid.uuid4()),
            "displayName": "bench.noop",
            "job": "bench.noop",
            "maxTries": None,
            "maxExceptions": None,
            "failOnTimeout": False,
            "backoff": None,
            "timeout": None,
            "data": {"n": index},
            "createdAt": int(time.time()),
            "delay": None,
        }
    )
    return json.dumps(body, separators=(",", ":"))


def timed_loop(label: str, count: int, call: Any) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    elapsed = time.perf_counter() - started
    print(f"{label:<44} {count / elapsed:>10,.0f} /s   {elapsed / count * 1e6:7.1f} µs each")
    return count / elapsed


def redis_benchmark(host: str, port: int) -> None:
    binary = shutil.which("redis-benchmark")
    if not binary:
        print("redis-benchmark not installed")
        return
    base = [binary, "-h", host, "-p", str(port), "-q", "-n", "100000"]
    for label, extra in (
        ("redis-benchmark ping, 1 client", ["-c", "1", "-t", "ping"]),
        ("redis-benchmark ping, 50 clients", ["-t", "ping"]),
        ("redis-benchmark EVAL 'return 1', 1 client", ["-c", "1", "EVAL", "return 1", "0"]),
    ):
        out = subprocess.run(base + extra, capture_output=True, text=True, timeout=120).stdout
        lines = [line.split("\r")[-1].strip() for line in out.splitlines() if "requests per second" in line]
        print(f"{label:<44} {' | '.join(lines)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    args = parser.parse_args()

    pool = redis.ConnectionPool(host=args.host, port=args.port, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    prefix = f"bench-{uuid.uuid4().hex[:8]}-database-"
    queue = RedisQueue(client, prefix=prefix, retry_after=90)
    print(f"redis-py {redis.__version__}, server {client.info('server')['redis_version']}, {args.jobs:,} jobs")

    try:
        timed_loop("redis-py PING loop", 5000, client.ping)
        sha = client.script_load("return 1")
        timed_loop("redis-py EVALSHA 'return 1' loop", 5000, lambda: client.evalsha(sha, 0))

        payloads = [noop_payload(queue, i) for i in range(args.jobs)]
        CountingConnection.writes = 0
        it = iter(payloads)
        push_rate = timed_loop("push_raw (push script)", args.jobs, lambda: queue.push_raw(next(it)))
        push_trips = CountingConnection.writes / args.jobs

        CountingConnection.writes = 0
        processed = 0
        previous = None
        started = time.perf_counter()
        while True:
            job = queue.pop("default", 0, ack=previous)
            if job is None:
                break
            _ = job.payload, job.attempts(), job.job_id  # what a worker reads before running a handler
            job.delete_later()
            previous = job
            processed += 1
        elapsed = time.perf_counter() - started
        pop_trips = CountingConnection.writes / processed
        assert processed == args.jobs, processed
        assert queue.size() == 0, "every job acked"
        pop_rate = processed / elapsed
        label = "pop(ack=previous) + payload read loop"
        print(f"{label:<44} {pop_rate:>10,.0f} /s   {elapsed / processed * 1e6:7.1f} µs each")
        print(
            f"round trips per job: push {push_trips:.3f}, pop+ack {pop_trips:.4f} (last empty pop carries the last ack)"
        )
        print(f"push + pop per job: {1 / (1 / push_rate + 1 / pop_rate):,.0f} jobs/s end to end in one process")
        redis_benchmark(args.host, args.port)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
