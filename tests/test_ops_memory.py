"""A huge payload does not cost a restart: the hostile sequence of issue 30 on real Redis with a
real worker process at the default `--memory 128`, and the reclaimer's contract in process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, wait_for

from laravel_queue.connections import Connections
from laravel_queue.ops.memory import HeapReclaimer
from laravel_queue.payload import php_json_encode, string_job_payload
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.lifecycle import WorkerEvents
from laravel_queue.worker.output import WorkerOutput

MB = 1024 * 1024
DEEP = 1_000_000
MEMORY_LIMIT_MB = 128  # queue:work's default
WORKER = (sys.executable, "-m", "laravel_queue", "queue:work", "redis", "--jobs", "tests.support.reliability_jobs")


@pytest.fixture
def env(redis_queue_env: dict[str, str]) -> dict[str, str]:
    return {**redis_queue_env, "CACHE_STORE": "array", "REDIS_QUEUE_RETRY_AFTER": "600"}


@pytest.fixture
def conns(redis_queue_connections: Connections) -> Connections:
    return redis_queue_connections


def envelope(job: str, data: Any) -> str:
    uid = str(uuid.uuid4())
    return json.dumps({"uuid": uid, "displayName": job.partition("@")[0], "job": job, "data": data, "attempts": 0})


def deep_broken_command() -> str:
    """An object job whose command nests arrays 1,000,000 deep and is never closed."""
    command = 'O:15:"App\\Jobs\\Canary":1:{s:1:"n";' + "a:1:{i:0;" * DEEP + "N;" + "}" * (DEEP - 1)
    handler = "Illuminate\\Queue\\CallQueuedHandler@call"
    return envelope(handler, {"commandName": "App\\Jobs\\Canary", "command": command})


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_hostile_sequence_leaves_the_worker_running_under_the_default_memory_limit(
    env: dict[str, str], conns: Connections, tmp_path: Path
) -> None:
    log = tmp_path / "canary.log"
    queue = conns.queue()
    out = (tmp_path / "worker.out").open("wb")
    worker = subprocess.Popen(
        [*WORKER, "--sleep", "0.05", "--timeout", "0", "--memory", str(MEMORY_LIMIT_MB)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    canaries = iter(range(100))

    def canary() -> None:
        n = next(canaries)
        queue.push_raw(envelope("Tests\\Rel\\Record@handle", {"log": str(log), "n": n}), "default")
        wait_for(
            lambda: worker.poll() is not None or (log.exists() and f"done {n} " in log.read_text()),
            timeout=60,
            what=f"canary {n}",
        )
        assert worker.poll() is None, (tmp_path / "worker.out").read_text()[-3000:]

    sequence = {
        "20 MB string job, unknown class (fails)": lambda: envelope("App\\Jobs\\Huge@handle", {"blob": "x" * 20 * MB}),
        "20 MB string job, known handler (processed)": lambda: envelope(
            "Tests\\Rel\\Record@handle", {"blob": "x" * 20 * MB, "log": os.devnull, "n": -1}
        ),
        "1,000,000-deep broken serialize nesting": deep_broken_command,
    }
    measured: dict[str, float] = {}
    try:
        canary()
        for name, build in sequence.items():
            queue.push_raw(build(), "default")
            canary()  # the worker got past it, and past its memory check
            measured[name] = rss_mb(worker.pid)
        for _ in range(3):
            canary()
        measured["then good jobs"] = rss_mb(worker.pid)
    finally:
        worker.kill()
        worker.wait(10)
        out.close()
    print("\nRSS after each step:", {name: f"{mb:.0f} MB" for name, mb in measured.items()})
    assert max(measured.values()) < MEMORY_LIMIT_MB, measured
    failed = {json.loads(record.payload)["displayName"] for record in conns.failed().all()}
    assert failed == {"App\\Jobs\\Huge", "Illuminate\\Queue\\CallQueuedHandler"}


def test_the_reclaimer_runs_after_every_other_listener_and_sheds_only_large_jobs(conns: Connections) -> None:
    seen: list[tuple[str, int]] = []
    registry = Registry()
    registry.register("Tests\\Big", lambda job, data: None)
    trims: list[int] = []
    events = HeapReclaimer(threshold=MB, trim=lambda pad: trims.append(pad) or 1).attach(WorkerEvents())
    events.finished.append(lambda job, outcome, ms, exc: seen.append((outcome, len(job.raw_body))))
    queue = conns.queue()
    for size in (2 * MB, 10):
        payload = queue.prepare_payload(string_job_payload("Tests\\Big@handle", {"blob": "x" * size}))
        queue.push_raw(php_json_encode(payload), "default")
    held: list[Any] = []
    events.finished.append(lambda job, outcome, ms, exc: held.append(job))
    worker = Worker(
        conns,
        registry=registry,
        options=WorkerOptions(memory=4096, sleep=0, stop_when_empty=True),
        output=WorkerOutput(io.StringIO()),
        events=events,
    )
    assert worker.daemon(None, ["default"]) == 0
    assert [outcome for outcome, _ in seen] == ["processed", "processed"]
    assert seen[0][1] > 2 * MB, "a listener attached after the reclaimer still saw the whole body"
    big, small = held
    assert big.raw_body == "" and "data" not in big.payload and big.uuid  # shed, envelope kept
    assert small.raw_body != "" and small.payload["data"]["blob"] == "x" * 10
    assert trims == [0, 0]  # after the big job, and after the next pop
    assert queue.size("default") == 0  # the shed job was still deleted by its deferred ack
