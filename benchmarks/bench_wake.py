"""Push-to-start latency on PostgreSQL with and without `migrate --notify`'s insert trigger (issue 26).

Without the trigger the idle worker sleeps `--sleep` seconds between polls, as Laravel's
does: a job waits half the sleep on average. With it the worker LISTENs while idle and a
push wakes it (drivers/database/notify.py). Same method as bench_worker's latency rows:
open-loop pushes through the real driver at random gaps to one idle `laravel-queue
queue:work database --sleep 3` process on a private database; push-to-start is the
handler's start time minus the push time (both CLOCK_MONOTONIC). The gaps (0.2-3 s) put
the pushes at random points of the sleep. Also: single-row push rate through the driver
with and without the trigger (its NOTIFY serialises commits on a cluster-wide lock),
interleaved.

    .venv/bin/python benchmarks/bench_wake.py [--jobs 60] [--sleep 3] [--push-rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script by run_all.sh
    sys.path.insert(0, str(ROOT))

from benchmarks.backends import SqlBackend, make_backend  # noqa: E402
from benchmarks.bench_worker import Bench, Config, Latency, Report  # noqa: E402
from benchmarks.measure import Tally, median, percentile  # noqa: E402
from benchmarks.noop_jobs import noop_payload  # noqa: E402
from laravel_queue.drivers.database import notify  # noqa: E402

SPACING = (0.2, 3.0)


def push_rate(backend: SqlBackend, payload: str, count: int) -> float:
    """Single-row pushes per second through the driver (each one INSERT, one commit)."""
    queue = backend.queue()
    backend.clear()
    queue.push_raw(payload)  # warm-up: connection, statements
    started = time.perf_counter()
    for _ in range(count):
        queue.push_raw(payload)
    rate = count / (time.perf_counter() - started)
    backend.clear()
    return rate


def row(setting: str, result: Latency) -> str:
    values = result.latencies_ms
    cells = [percentile(values, 0.50), percentile(values, 0.95), percentile(values, 0.99), max(values)]
    return f"| {setting} | {len(values)} | " + " | ".join(f"{value:,.1f}" for value in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60, help="Jobs per latency row (0: push rates only).")
    parser.add_argument("--sleep", type=float, default=3.0)
    parser.add_argument("--push-rounds", type=int, default=3, help="Interleaved push-rate rounds per setting.")
    parser.add_argument("--pushes", type=int, default=2000, help="Pushes per push-rate round.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lqbench-wake-"))
    backend = make_backend("pgsql", workdir)
    assert isinstance(backend, SqlBackend)
    backend.open()
    try:
        config = Config(backends=["pgsql"], workdir=workdir)
        report = Report(config, dt.datetime.now(dt.timezone.utc), " ".join(sys.argv))
        bench = Bench(backend, report, Tally(workdir / "tally"))
        db, table = backend.queue().db, backend.queue().table_name
        print(f"{backend.describe()}, started {report.started:%Y-%m-%d %H:%M} UTC")

        rows = []
        for installed in (False, True) if args.jobs else ():
            if installed:
                notify.install_trigger(db, table)
            else:
                notify.drop_trigger(db, table)
            setting = "`migrate --notify` trigger: LISTEN" if installed else "no trigger: sleep (Laravel's behaviour)"
            result = bench.latency(f"{setting}, --sleep {args.sleep:g}", args.sleep, args.jobs, SPACING)
            rows.append(row(f"{setting}, --sleep {args.sleep:g}", result))

        payload = backend.prepare([noop_payload(0)])[0]
        rates: dict[bool, list[float]] = {False: [], True: []}
        for round_number in range(args.push_rounds):  # ABBA: neither setting always goes first
            for installed in (False, True) if round_number % 2 == 0 else (True, False):
                (notify.install_trigger if installed else notify.drop_trigger)(db, table)
                rates[installed].append(push_rate(backend, payload, args.pushes))

        print()
        if rows:
            print("| setting | jobs | p50 ms | p95 ms | p99 ms | max ms |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            print("\n".join(rows))
            print()
        print(f"Single-row `push_raw`, {args.pushes} per round, {args.push_rounds} rounds interleaved (median):")
        print(f"without trigger {median(rates[False]):,.0f}/s, with trigger {median(rates[True]):,.0f}/s")
        print("rounds without: " + ", ".join(f"{rate:,.0f}" for rate in rates[False]))
        print("rounds with:    " + ", ".join(f"{rate:,.0f}" for rate in rates[True]))
    finally:
        backend.close()


if __name__ == "__main__":
    main()
