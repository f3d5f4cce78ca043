"""Interleaved A/B of SQLite journal settings through the real worker (`queue:work database`).

Each round runs one fresh database per mode, in turn, so a noisy minute hits every mode:
pre-fill N NoopJob rows, time `laravel-queue queue:work database --stop-when-empty` (boot
included), check the queue is empty. `default` leaves DB_JOURNAL_MODE unset (the worker's
own choice); any other name is passed as DB_JOURNAL_MODE.

    PYTHONPATH=. .venv/bin/python benchmarks/ab_sqlite_journal.py --jobs 5000 --rounds 6 --modes delete,default
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.backends import SqliteBackend
from benchmarks.measure import median, run_processes, worker_argv
from benchmarks.noop_jobs import noop_payload


def one_run(jobs: int, mode: str) -> float:
    """Jobs/s of one worker process draining `jobs` rows in a fresh database."""
    with tempfile.TemporaryDirectory(dir="/tmp") as workdir:
        backend = SqliteBackend(Path(workdir), journal_mode=None if mode == "default" else mode)
        backend.open()
        try:
            backend.prefill(backend.prepare([noop_payload(n) for n in range(jobs)]))
            process = run_processes(worker_argv(backend.connection), backend.env)  # raises on a failed worker
            left = backend.remaining()
        finally:
            backend.close()
    if left:
        raise AssertionError(f"mode {mode}: {left} jobs left after the worker exited")
    return jobs / process.wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--modes", default="delete,default", help="comma-separated: default, delete, persist, wal ...")
    args = parser.parse_args()
    modes = args.modes.split(",")
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    for round_index in range(args.rounds):
        for mode in modes:
            rates[mode].append(one_run(args.jobs, mode))
            print(f"round {round_index + 1} {mode:8s} {rates[mode][-1]:7.0f} jobs/s", flush=True)
    for mode in modes:
        print(f"{mode:8s} median {median(rates[mode]):7.0f} jobs/s  runs {[round(r) for r in rates[mode]]}")


if __name__ == "__main__":
    main()
