"""Interleaved A/B of source checkouts through the real worker (`queue:work <backend>`).

Each round runs every checkout once, in turn (alternating the order), against one backend
opened once: pre-fill N NoopJob payloads, time `laravel-queue queue:work --stop-when-empty
--sleep 0` (boot included), check every job ran (queue empty, nothing failed). A checkout is
a directory holding `laravel_queue/`, e.g. `git worktree add /tmp/before HEAD~1` (copy the
built `laravel_queue/php/_speedups*.so` into it, or it runs the pure-Python codec).

The editable install's import finder wins over PYTHONPATH, so each worker is started by a
small launcher that drops that finder, puts the checkout first on sys.path and asserts that
`laravel_queue` was imported from it.

    .venv/bin/python -m benchmarks.ab_checkouts --backend redis --jobs 20000 --rounds 6 /tmp/before .
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.backends import BACKENDS, make_backend
from benchmarks.measure import median, run_processes, worker_argv
from benchmarks.noop_jobs import noop_payload

_LAUNCH_FROM_CHECKOUT = """
import os, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
checkout = os.path.realpath(sys.argv.pop(1))
sys.path.insert(0, checkout)
import laravel_queue
assert os.path.realpath(laravel_queue.__file__).startswith(checkout + os.sep), laravel_queue.__file__
from laravel_queue.cli import main
sys.argv[0] = "laravel-queue"
sys.exit(main())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="+", type=Path, help="directories holding laravel_queue/")
    parser.add_argument("--backend", default="redis", choices=BACKENDS)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--worker-args", default="", help="extra queue:work options, given with '=': --worker-args='--busy-poll 200'"
    )
    args = parser.parse_args()
    checkouts = [str(path.resolve()) for path in args.checkouts]
    rates: dict[str, list[float]] = {checkout: [] for checkout in checkouts}
    cpu: dict[str, list[float]] = {checkout: [] for checkout in checkouts}
    with tempfile.TemporaryDirectory(dir="/tmp") as workdir:
        backend = make_backend(args.backend, Path(workdir))
        backend.open()
        try:
            payloads = backend.prepare([noop_payload(n) for n in range(args.jobs)])
            for round_index in range(args.rounds):
                order = checkouts if round_index % 2 == 0 else checkouts[::-1]
                for checkout in order:
                    backend.clear()
                    backend.prefill(payloads)
                    worker = worker_argv(backend.connection, extra=args.worker_args.split())
                    argv = [sys.executable, "-c", _LAUNCH_FROM_CHECKOUT, checkout, *worker[1:]]
                    run = run_processes(argv, backend.env)  # raises on a failed worker
                    left, failed = backend.remaining(), backend.failed_count()
                    if left or failed:
                        raise AssertionError(f"{checkout}: {left} jobs left, {failed} failed")
                    rates[checkout].append(args.jobs / run.wall)
                    cpu[checkout].append(run.cpu_seconds / args.jobs * 1e6)
                    print(f"round {round_index + 1} {checkout}: {rates[checkout][-1]:8,.0f} jobs/s", flush=True)
        finally:
            backend.close()
    for checkout in checkouts:
        print(
            f"{checkout}: median {median(rates[checkout]):,.0f} jobs/s, worker CPU {median(cpu[checkout]):.1f} µs/job,"
            f" runs {[round(rate) for rate in rates[checkout]]}"
        )


if __name__ == "__main__":
    main()
