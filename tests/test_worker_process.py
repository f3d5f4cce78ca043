"""The `laravel-queue queue:work` process: signals, timeouts, restart, concurrency (real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode, string_job_payload


@pytest.fixture
def env(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> dict[str, str]:
    merged = {**sqlite_env, **redis_env}
    connections = Connections(load_settings(environ=merged))
    from laravel_queue.schema import migrate

    migrate(connections.db())
    connections.close()
    return merged


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    yield connections
    connections.close()


def push(conns: Connections, job: str, data: Any, **fields: Any) -> dict[str, Any]:
    queue = conns.queue()
    payload = queue.prepare_payload({**string_job_payload(f"{job}@handle", data), **fields})
    queue.push_raw(php_json_encode(payload), "default")
    return payload


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "laravel_queue",
            "queue:work",
            "--jobs",
            "tests.support.worker_jobs",
            "--sleep",
            "0.05",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigterm_finishes_the_current_job_then_exits_0(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    push(conns, "Tests\\Sleep", {"log": str(log), "seconds": 1, "n": 1})
    push(conns, "Tests\\Record", {"log": str(log), "n": 2})
    proc = start_worker(env)
    wait_for(lambda: any(line.startswith("start 1") for line in lines(log)), what="the sleeping job to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert [line.split()[0] for line in lines(log)] == ["start", "done"]
    assert conns.queue().size("default") == 1  # the second job was not started


def test_timeout_kills_the_worker_and_leaves_the_job_reserved(
    env: dict[str, str], conns: Connections, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    push(conns, "Tests\\Sleep", {"log": str(log), "seconds": 30}, maxTries=3)
    proc = start_worker(env, "--timeout", "1")
    assert proc.wait(20) == -signal.SIGKILL
    queue = conns.queue()
    assert queue.reserved_size("default") == 1  # back after retry_after, attempt counted
    assert conns.failed().all() == []


def test_timeout_with_fail_on_timeout_fails_the_job(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    payload = push(conns, "Tests\\Sleep", {"log": str(log), "seconds": 30}, maxTries=3, failOnTimeout=True)
    proc = start_worker(env, "--timeout", "1")
    assert proc.wait(20) == -signal.SIGKILL
    (record,) = conns.failed().all()
    assert record.uuid == payload["uuid"]
    assert record.exception.startswith("Illuminate\\Queue\\TimeoutExceededException: Tests\\Sleep has timed out.")
    assert conns.queue().size("default") == 0


def test_queue_restart_key_stops_a_running_worker(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    proc = start_worker(env)
    # the worker reads the key when it starts: wait until it has worked a job
    push(conns, "Tests\\Record", {"log": str(log), "n": 1})
    wait_for(lambda: lines(log), what="the worker to run a job")
    conns.cache().forever("illuminate:queue:restart", int(time.time()) + 100)
    assert proc.wait(15) == 0


def test_concurrency_runs_jobs_in_several_processes(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    for n in range(4):
        push(conns, "Tests\\Sleep", {"log": str(log), "seconds": 1, "n": n})
    proc = start_worker(env, "--concurrency", "2")
    wait_for(lambda: sum(line.startswith("done") for line in lines(log)) == 4, timeout=20, what="4 jobs done")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    starts = [line for line in lines(log) if line.startswith("start")]
    assert len(starts) == 4
    assert conns.queue().size("default") == 0


def test_stop_when_empty_exits_0(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    push(conns, "Tests\\Record", {"log": str(log), "n": 1})
    proc = start_worker(env, "--stop-when-empty")
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "Tests\\Record" in out and "DONE" in out
    assert len(lines(log)) == 1


def test_busy_poll_worker_runs_every_job_once(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    for n in range(20):
        push(conns, "Tests\\Record", {"log": str(log), "n": n})
    proc = start_worker(env, "--stop-when-empty", "--busy-poll", "200")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert sorted(int(line.split()[0]) for line in lines(log)) == list(range(20))
    assert all(line.endswith("attempt=1") for line in lines(log))
    assert out.count("DONE") == 20
    assert conns.queue().size("default") == 0


def test_sigusr2_pauses_and_sigcont_resumes(env: dict[str, str], conns: Connections, tmp_path: Path) -> None:
    log = tmp_path / "log"
    push(conns, "Tests\\Sleep", {"log": str(log), "seconds": 1, "n": 1})
    push(conns, "Tests\\Record", {"log": str(log), "n": 2})
    proc = start_worker(env)
    wait_for(lambda: lines(log)[:1] == ["start 1 attempt=1"], what="the first job to start")
    proc.send_signal(signal.SIGUSR2)  # arrives while the first job runs
    wait_for(lambda: "done 1" in lines(log), what="the first job to finish")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a bounded observation window: the paused worker takes nothing
        assert len(lines(log)) == 2
        time.sleep(0.1)
    proc.send_signal(signal.SIGCONT)
    wait_for(lambda: len(lines(log)) == 3, what="the second job after SIGCONT")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_mixed_run_of_real_laravel_payloads_leaves_laravels_final_state(
    env: dict[str, str], conns: Connections
) -> None:
    """Success, failure (tries 1), release with the payload's backoff, and a timeout, in one worker run."""
    from conftest import laravel_fixture

    queue = conns.queue()
    cases = ["plain_scalars", "visibility_props", "retry_options", "nested_arrays"]
    raw = {case: laravel_fixture(f"redis/{case}.json")["raw_payload"] for case in cases}
    for case in cases:
        queue.push_raw(raw[case], "default")
    started = int(time.time())
    proc = start_worker(env, "--timeout", "1")
    assert proc.wait(30) == -signal.SIGKILL  # the timeout ends the worker, as Laravel's SIGKILL does
    client, keys = queue.client, queue.keys("default")  # type: ignore[attr-defined]
    assert client.llen(keys.queue) == 0
    # retry_options: released after its first backoff value (1 s), attempts counted in the reserved copy
    ((delayed, score),) = client.zrange(keys.delayed, 0, -1, withscores=True)
    assert json.loads(delayed)["uuid"] == json.loads(raw["retry_options"])["uuid"]
    assert json.loads(delayed)["attempts"] == 1 and started + 1 <= score <= time.time() + 1
    # nested_arrays timed out on its last try (--tries 1): failed with Laravel's timeout exception
    assert client.zcard(keys.reserved) == 0
    records = {json.loads(r.payload)["displayName"]: r for r in conns.failed().all()}
    assert records["App\\Jobs\\NestedArrayJob"].exception.startswith(
        "Illuminate\\Queue\\TimeoutExceededException: App\\Jobs\\NestedArrayJob has timed out. in "
    )
    # visibility_props: tries 1 -> failed_jobs with the original bytes and Laravel's exception layout
    assert records["App\\Jobs\\VisibilityJob"].payload == raw["visibility_props"]
    assert records["App\\Jobs\\VisibilityJob"].exception.startswith("RuntimeError: cannot handle sekrit in ")
    assert len(records) == 2
