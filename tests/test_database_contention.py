"""Exactly-once under contention: 4 worker processes, each with its own connection, 2,000 jobs."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import Counter
from typing import Any

import pytest

from laravel_queue.config import load_settings
from laravel_queue.db import Database, connect
from laravel_queue.drivers.database import DatabaseQueue
from laravel_queue.schema import migrate

WORKERS = 4
JOBS = 2000


def _worker(env: dict[str, str], start: Any, results: Any) -> None:
    """Pop with ack until nothing is available; report (uuid, attempts) of every job handled."""
    db = connect(load_settings(environ=env).db_connection())
    queue = DatabaseQueue(db, retry_after=3600)
    handled: list[tuple[str, int]] = []
    start.wait()
    previous = None
    try:
        while True:
            job = queue.pop(ack=previous)
            if job is None:
                break
            handled.append((json.loads(job.raw_body)["uuid"], job.attempts()))
            job.delete_later()
            previous = job
        results.put(("ok", handled, db.commits))
    except Exception as exc:  # report instead of dying silently
        results.put(("error", repr(exc), handled))
    finally:
        db.close()


@pytest.mark.timeout(90)
def test_every_job_is_handled_exactly_once(db: Database, db_env: dict[str, str]) -> None:
    migrate(db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
    queue = DatabaseQueue(db)
    queue.push_raw_many([json.dumps({"uuid": f"job-{i}", "job": "noop"}) for i in range(JOBS)])
    assert queue.size() == JOBS
    db.close()

    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()
    processes = [context.Process(target=_worker, args=(db_env, start, results)) for _ in range(WORKERS)]
    for process in processes:
        process.start()
    began = time.monotonic()
    start.set()
    reports = [results.get(timeout=80) for _ in processes]
    elapsed = time.monotonic() - began
    for process in processes:
        process.join(10)

    errors = [report for report in reports if report[0] != "ok"]
    assert not errors, errors
    handled = [item for report in reports for item in report[1]]
    counts = Counter(uuid for uuid, _ in handled)
    duplicates = {uuid: n for uuid, n in counts.items() if n > 1}
    assert not duplicates, f"handled more than once: {list(duplicates)[:10]}"
    assert set(counts) == {f"job-{i}" for i in range(JOBS)}, "some jobs were lost"
    assert {attempts for _, attempts in handled} == {1}
    assert queue.size() == 0  # every ack landed
    per_worker = [len(report[1]) for report in reports]
    if db.dialect != "sqlite":  # SQLite's file lock may legitimately let one process win most rounds
        assert sum(1 for n in per_worker if n > 0) >= 2, f"no real contention: {per_worker}"
    commits = sum(report[2] for report in reports)
    assert commits <= JOBS + 2 * WORKERS  # one commit per job (+ the final empty pops)
    print(f"{db.dialect}: {JOBS} jobs by {WORKERS} processes in {elapsed:.2f}s, split {per_worker}")
