"""Database queue driver throughput, one process, on SQLite (default journal and WAL),
MariaDB and PostgreSQL.

For each engine, in a private database that is dropped afterwards:

* physical limits: a single-row SELECT loop (one round trip) and a one-row autocommit
  UPDATE loop (one durable commit);
* `push_raw_many` of N jobs (Laravel's bulk insert) and `push_raw` one by one;
* the worker hot path: `pop(ack=previous)` + `delete_later()` over N no-op jobs, with
  commits and round trips (client calls) per job;
* Laravel's own protocol for comparison: `pop()` then `delete()` (two transactions per job).

Usage:
    .venv/bin/python benchmarks/bench_database_driver.py --jobs 20000 [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from laravel_queue.config import load_settings  # noqa: E402
from laravel_queue.db import Database, connect  # noqa: E402
from laravel_queue.drivers.database import DatabaseQueue  # noqa: E402
from laravel_queue.schema import migrate  # noqa: E402

PAYLOAD = json.dumps({"uuid": "00000000-0000-0000-0000-000000000000", "displayName": "App\\Jobs\\NoopJob",
                      "job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": {"n": 1}})


@dataclass
class Result:
    engine: str
    version: str = ""
    rows: list[tuple[str, float, str]] = field(default_factory=list)  # what, rate/s, note

    def add(self, what: str, count: int, seconds: float, note: str = "") -> float:
        rate = count / seconds if seconds > 0 else float("inf")
        self.rows.append((what, rate, note))
        print(f"  {self.engine:<12} {what:<58} {rate:>9,.0f} /s  {note}", flush=True)
        return rate


@contextmanager
def private_database(engine: str) -> Iterator[dict[str, str]]:
    name = f"lqbench_{uuid.uuid4().hex[:10]}"
    if engine.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(Path(tmp) / "bench.sqlite")}
            if engine == "sqlite-wal":
                env["DB_JOURNAL_MODE"] = "wal"
            yield env
        return
    if engine == "mariadb":
        import pymysql

        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
        admin.cursor().execute(f"CREATE DATABASE `{name}`")
        try:
            yield {"DB_CONNECTION": "mariadb", "DB_HOST": "127.0.0.1", "DB_PORT": "3306", "DB_DATABASE": name,
                   "DB_USERNAME": "root"}
        finally:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
            admin.close()
        return
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"DB_CONNECTION": "pgsql", "DB_HOST": "127.0.0.1", "DB_PORT": "5432", "DB_DATABASE": name,
               "DB_USERNAME": "postgres"}
    finally:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RoundTrips:
    """Counts client calls into the engine (one call = one packet/round trip on MySQL)."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        engine: Any = db._engine
        original = engine.run_many

        def counted(conn: Any, statements: Any) -> Any:
            self.count += 1 if db.dialect == "mysql" else len(statements)
            return original(conn, statements)

        engine.run_many = counted


def timed(callback: Callable[[], Any]) -> float:
    started = time.perf_counter()
    callback()
    return time.perf_counter() - started


def bench_engine(engine: str, jobs: int) -> Result:
    result = Result(engine)
    with private_database(engine) as env:
        db = connect(load_settings(environ=env).db_connection())
        migrate(db, failed_table=None, batches_table=None, cache_table=None, lock_table=None)
        result.version = f"{db.dialect} {db.server_version}"
        if engine.startswith("sqlite"):
            result.version += f", journal_mode={db.fetch_value('PRAGMA journal_mode')}"
        queue = DatabaseQueue(db)
        table = db.table("jobs")
        probe = max(1000, jobs // 10)

        # physical limits
        job_id = queue.push_raw(PAYLOAD)
        select_one = f"select * from {table} where id = ?"
        result.add("single-row SELECT by id (one round trip)", probe,
                   timed(lambda: [db.fetch_one(select_one, (job_id,)) for _ in range(probe)]))
        result.add("one-row autocommit UPDATE (one durable commit)", probe // 2,
                   timed(lambda: [db.execute(f"update {table} set attempts = ? where id = ?", (i % 200, job_id))
                                  for i in range(probe // 2)]))
        queue.clear()

        # pushes
        result.add(f"push_raw one by one ({probe} jobs)", probe, timed(lambda: [queue.push_raw(PAYLOAD)
                                                                                   for _ in range(probe)]))
        queue.clear()
        result.add(f"push_raw_many ({jobs} jobs, bulk insert)", jobs,
                   timed(lambda: queue.push_raw_many([PAYLOAD] * jobs)))
        if db.dialect == "pgsql":  # planner statistics, as benchmarks/backends.py's prefill gives them
            db.execute(f"ANALYZE {table}")

        # the worker hot path
        commits_before = db.commits
        trips = RoundTrips(db)
        handled = 0

        def hot_path() -> None:
            nonlocal handled
            previous = None
            while True:
                job = queue.pop(ack=previous)
                if job is None:
                    return
                _ = (job.payload, job.attempts(), job.job_id)
                job.delete_later()
                previous = job
                handled += 1

        seconds = timed(hot_path)
        assert handled == jobs and queue.size() == 0, (handled, queue.size())
        commits = (db.commits - commits_before) / jobs
        round_trips = trips.count / jobs
        result.add(f"hot path: pop(ack=previous) + delete_later ({jobs} jobs)", jobs, seconds,
                   f"{commits:.4f} commits/job, {round_trips:.2f} round trips/job")

        # Laravel's protocol: reservation and delete in two transactions
        laravel_jobs = max(1000, jobs // 4)
        queue.push_raw_many([PAYLOAD] * laravel_jobs)
        commits_before, trips.count = db.commits, 0

        def laravel_protocol() -> None:
            while (job := queue.pop()) is not None:
                job.delete()

        seconds = timed(laravel_protocol)
        result.add(f"Laravel protocol: pop() then delete() ({laravel_jobs} jobs)", laravel_jobs, seconds,
                   f"{(db.commits - commits_before) / laravel_jobs:.4f} commits/job, "
                   f"{trips.count / laravel_jobs:.2f} round trips/job")
        db.close()
    return result


def markdown(results: list[Result], jobs: int, started: datetime, load: tuple[float, ...]) -> str:
    lines = [
        "# Database driver throughput",
        "",
        "Command (one process, local servers on loopback, 2-core machine shared with other test runs):",
        "",
        f"    .venv/bin/python benchmarks/bench_database_driver.py --jobs {jobs} --write",
        "",
        f"Run of {started:%Y-%m-%d %H:%M} UTC, load average at start {' '.join(f'{v:.2f}' for v in load)}, "
        f"Python {platform.python_version()}.",
        "",
    ]
    for result in results:
        lines += [f"## {result.engine} ({result.version})", "", "| measurement | rate | per op | note |",
                  "|---|---:|---:|---|"]
        for what, rate, note in result.rows:
            bold = "**" if what.startswith("hot path") else ""
            lines.append(f"| {bold}{what}{bold} | {bold}{rate:,.0f} /s{bold} | {1e6 / rate:,.0f} µs | {note} |")
        lines.append("")
    return "\n".join(lines)


HAND_WRITTEN_MARKER = "<!-- Written by hand from here on: bench_database_driver.py --write keeps it. -->"


def write_results(path: Path, generated: str) -> None:
    """Replace the generated part of the results file, keeping the notes below the marker."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    index = existing.find(HAND_WRITTEN_MARKER)
    kept = existing[index:] if index >= 0 else HAND_WRITTEN_MARKER + "\n"
    path.write_text(f"{generated.rstrip()}\n\n{kept}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--engines", default="sqlite,sqlite-wal,mariadb,pgsql")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS-database.md")
    args = parser.parse_args()
    started, load = datetime.now(timezone.utc), os.getloadavg()
    results = [bench_engine(engine, args.jobs) for engine in args.engines.split(",")]
    text = markdown(results, args.jobs, started, load)
    if args.write:
        write_results(ROOT / "benchmarks" / "RESULTS-database.md", text)
    else:
        print(text)


if __name__ == "__main__":
    main()
