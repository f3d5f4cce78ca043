"""The whole worker against Laravel and the physical limits (issue 12).

Times the real `laravel-queue queue:work <connection> --stop-when-empty --sleep 0
--jobs benchmarks.noop_jobs` as a subprocess (wall clock from spawn to exit, peak RSS
from rusage), the way Laravel's own worker was timed for fixtures/laravel/throughput.txt,
on pre-filled queues of Laravel-shaped NoopJob payloads. Every run checks that each job
ran exactly once. Also: push-to-start latency, RSS over 100,000 jobs, the backends'
physical limits measured in the same run, and process scaling.

    .venv/bin/python -m benchmarks.bench_worker [--quick] [--only redis,sqlite] [--jobs N] [--runs N]
                                                [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.backends import BACKENDS, Backend, Limit, RedisBackend, SqlBackend, make_backend, wait_until
from benchmarks.measure import (
    BackgroundWorker,
    ProcessRun,
    Tally,
    bracketed,
    median,
    percentile,
    run_processes,
    worker_argv,
)
from benchmarks.noop_jobs import TALLY_ENV, noop_payload

LARAVEL_JOBS_PER_S = {"redis": 685.0, "sqlite": 271.0, "mariadb": 187.0}
"""Laravel 12.67's own worker, one process, 5,000 jobs, --sleep=0 (fixtures/laravel/throughput.txt)."""
LARAVEL_RSS_KB = {"redis": 50_668, "sqlite": 54_864, "mariadb": 51_992}
LARAVEL_JOB_COUNT = 5000


@dataclass(frozen=True)
class Mode:
    """How the worker is launched: `processes` identical commands, each with `extra` options."""

    label: str
    processes: int = 1
    extra: tuple[str, ...] = ()


ONE_PROCESS = Mode("1 process")
FULL_MODES = (
    ONE_PROCESS,
    Mode("2 processes", processes=2),
    Mode("4 processes", processes=4),
    Mode("--concurrency 4", extra=("--concurrency", "4")),
    Mode("--concurrency 16", extra=("--concurrency", "16")),
)
QUICK_MODES = (ONE_PROCESS, Mode("--concurrency 4", extra=("--concurrency", "4")))
BUSY_POLL_MODES = (
    Mode("1 process, --busy-poll 200", extra=("--busy-poll", "200")),
    Mode("4 processes, --busy-poll 200", processes=4, extra=("--busy-poll", "200")),
)
"""Redis only: the opt-in busy-poll, alone on a core and with more workers than cores."""


@dataclass
class Config:
    backends: list[str]
    jobs: int = 20_000
    db_jobs: int | None = None
    """Jobs per throughput run on the database backends (default: `jobs`)."""
    runs: int = 3
    extra_runs: int = 1
    """Runs of the modes beyond 1 and 2 processes (they only show how far it scales)."""
    modes: tuple[Mode, ...] = FULL_MODES
    redis_modes: tuple[Mode, ...] = BUSY_POLL_MODES
    sqs_jobs: int = 300
    laravel_comparison: bool = True
    latency_jobs: int = 200
    memory_jobs: int = 100_000
    limits: bool = True
    redis_host: str | None = None
    redis_port: int | None = None
    workdir: Path | None = None
    log: Callable[[str], None] = print


# -- results --------------------------------------------------------------------------------------


@dataclass
class Run:
    jobs: int
    process: ProcessRun
    per_job: dict[str, float]
    completed: int
    """Distinct jobs the handler saw start (the tally), checked equal to `jobs`."""
    probe: dict[str, float] = field(default_factory=dict)
    """Operations/s of each Backend.probe, the mean of one probe just before and one just
    after this run: the machine drifts within a run, so one side alone can mislead."""
    probe_drift: dict[str, float] = field(default_factory=dict)
    """Each probe's rate after the run divided by its rate before."""

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.process.wall


@dataclass
class Throughput:
    backend: str
    mode: Mode
    jobs: int
    runs: list[Run] = field(default_factory=list)

    @property
    def jobs_per_s(self) -> float:
        return median([run.jobs_per_s for run in self.runs])

    @property
    def wall(self) -> float:
        return median([run.process.wall for run in self.runs])

    @property
    def peak_rss_kb(self) -> float:
        return median([run.process.peak_rss_kb for run in self.runs])

    @property
    def cpu_per_job_us(self) -> float:
        return median([run.process.cpu_seconds / run.jobs * 1e6 for run in self.runs])

    def per_job(self, key: str, combine: Callable[[Sequence[float]], float] = median) -> float | None:
        values = [run.per_job[key] for run in self.runs if key in run.per_job]
        return combine(values) if values else None


@dataclass
class Latency:
    backend: str
    setting: str
    latencies_ms: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


@dataclass
class Memory:
    backend: str
    idle_kb: int
    samples: list[tuple[int, int]]
    """(jobs done, RSS kB) while the queue drained."""
    after_kb: int
    jobs: int


@dataclass
class Report:
    config: Config
    started: dt.datetime
    command: str
    environment: dict[str, str] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    boot: dict[str, Throughput] = field(default_factory=dict)
    throughput: list[Throughput] = field(default_factory=list)
    laravel_comparison: list[Throughput] = field(default_factory=list)
    design_commits: dict[str, float] = field(default_factory=dict)
    latency: list[Latency] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    limits: dict[str, list[Limit]] = field(default_factory=dict)
    push_cost: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    finished: dt.datetime | None = None

    def find(self, backend: str, label: str) -> Throughput | None:
        return next((t for t in self.throughput if t.backend == backend and t.mode.label == label), None)


# -- the measurements -----------------------------------------------------------------------------


class Bench:
    """Runs every measurement of one backend; results land in the shared Report."""

    def __init__(self, backend: Backend, report: Report, tally: Tally) -> None:
        self.backend = backend
        self.report = report
        self.config = report.config
        self.tally = tally
        self._payloads: dict[int, list[str]] = {}

    def log(self, text: str) -> None:
        self.config.log(f"[{self.backend.name}] {text}")

    def payloads(self, count: int) -> list[str]:
        """Prepared payloads n = 0..count-1 (built once per count: the same bytes for every run)."""
        if count not in self._payloads:
            self._payloads[count] = self.backend.prepare([noop_payload(n) for n in range(count)])
        return self._payloads[count]

    def started(self, n: int) -> bool:
        self.tally.refresh()
        return n in self.tally.starts

    @property
    def env(self) -> dict[str, str]:
        return {**self.backend.env, TALLY_ENV: str(self.tally.path)}

    def timed(self, jobs: int, mode: Mode) -> Run:
        """Pre-fill, then time the worker until it exits on the empty queue; verify every job ran once."""
        backend = self.backend
        backend.clear()
        if jobs:
            backend.prefill(self.payloads(jobs))
        queued = backend.remaining()
        if queued != jobs:
            raise AssertionError(f"pre-fill stored {queued} jobs, expected {jobs}")
        self.tally.reset(jobs)
        failed_before = backend.failed_count()
        probe_before = backend.probe() if jobs else {}
        before = backend.counters()
        argv = worker_argv(backend.connection, extra=mode.extra)
        process = run_processes(argv, self.env, mode.processes, timeout=120 + jobs / 50)
        after = backend.counters()
        probe_after = backend.probe() if jobs else {}
        self.tally.check_complete(range(jobs))
        left = backend.remaining()
        failed = backend.failed_count() - failed_before
        if left or failed:
            raise AssertionError(f"after the run: {left} jobs still queued, {failed} failed")
        per_job = backend.per_job(before, after, jobs) if jobs else {}
        probe, drift = bracketed(probe_before, probe_after)
        return Run(jobs, process, per_job, completed=len(self.tally.starts), probe=probe, probe_drift=drift)

    def throughput(self, jobs: int, mode: Mode, runs: int) -> Throughput:
        result = Throughput(self.backend.name, mode, jobs)
        for index in range(runs):
            run = self.timed(jobs, mode)
            result.runs.append(run)
            extras = ", ".join(f"{k} {v:.2f}" for k, v in run.per_job.items() if not k.startswith("cmd:"))
            self.log(
                f"{mode.label:<17} {jobs:>6} jobs run {index + 1}/{runs}: {run.process.wall:6.2f} s "
                f"{run.jobs_per_s:8.0f} jobs/s  peak RSS {run.process.peak_rss_kb / 1024:5.1f} MiB  {extras}"
            )
        return result

    def latency(self, setting: str, sleep: float, count: int, spacing: tuple[float, float]) -> Latency:
        """Open-loop pushes through the real driver at random gaps to an idle worker; push-to-start times."""
        backend = self.backend
        backend.clear()
        self.tally.reset(count)
        payloads = backend.prepare([noop_payload(n) for n in range(-1, count)])
        worker = BackgroundWorker(worker_argv(backend.connection, sleep=sleep, stop_when_empty=False), self.env)
        pushed: dict[int, int] = {}
        try:
            backend.push(payloads[0])  # n = -1: wait for boot, then the worker is in its loop
            wait_until(lambda: self.started(-1), 60, "the latency worker to boot")
            rng = random.Random(12)
            for n in range(count):
                time.sleep(rng.uniform(*spacing))
                pushed[n] = time.monotonic_ns()
                backend.push(payloads[n + 1])
            wait_until(lambda: self.tally.refresh() >= count + 1, 60 + 2 * sleep * count, "every latency job to start")
        finally:
            worker.stop()
        latencies = [(self.tally.starts[n] - pushed[n]) / 1e6 for n in range(count)]
        result = Latency(backend.name, setting, latencies)
        self.log(f"latency {setting}: p50 {result.p50:.2f} ms, p99 {result.p99:.2f} ms over {count} jobs")
        return result

    def memory(self, jobs: int) -> Memory:
        """RSS of an idle worker, then while it drains `jobs` jobs, then idle again."""
        backend = self.backend
        backend.clear()
        self.tally.reset(jobs)
        payloads = self.payloads(jobs)
        warmup = backend.prepare([noop_payload(-1)])[0]
        worker = BackgroundWorker(worker_argv(backend.connection, sleep=0.2, stop_when_empty=False), self.env)
        samples: list[tuple[int, int]] = []
        try:
            backend.push(warmup)
            wait_until(lambda: self.tally.refresh() >= 1 and backend.remaining() == 0, 60, "the memory worker to boot")
            time.sleep(1.0)  # settle in the idle loop before reading RSS
            idle = worker.rss_kb()
            backend.prefill(payloads)
            step = max(1, jobs // 10)
            next_mark = step
            deadline = time.monotonic() + 120 + jobs / 50
            while True:
                done = self.tally.refresh() - 1
                if done >= next_mark or done >= jobs:
                    samples.append((done, worker.rss_kb()))
                    next_mark = (done // step + 1) * step
                if done >= jobs:
                    break
                if time.monotonic() > deadline or worker.proc.poll() is not None:
                    raise AssertionError(f"memory run stalled at {done} of {jobs} jobs")
                time.sleep(0.05)
            wait_until(lambda: backend.remaining() == 0, 30, "the last job to be deleted")
            time.sleep(1.0)
            after = worker.rss_kb()
        finally:
            worker.stop()
        self.tally.check_complete(range(-1, jobs))
        self.log(f"memory: idle {idle} kB, after {jobs} jobs {after} kB; samples {samples}")
        return Memory(backend.name, idle, samples, after, jobs)


def run_backend(name: str, report: Report, workdir: Path) -> None:
    config = report.config
    options: dict[str, Any] = {"redis_host": config.redis_host, "redis_port": config.redis_port}
    backend = make_backend(name, workdir, **options)
    tally = Tally(workdir / f"tally-{name}.txt")
    backend.open()
    try:
        report.descriptions[name] = backend.describe()
        bench = Bench(backend, report, tally)
        bench.timed(0, ONE_PROCESS)  # not kept: the first launch pays cold caches (0.66 s vs 0.41 s here)
        boot_runs = max(1, config.runs)
        report.boot[name] = bench.throughput(0, ONE_PROCESS, boot_runs)
        if name == "sqs":
            report.throughput.append(bench.throughput(config.sqs_jobs, ONE_PROCESS, 1))
            return
        jobs = config.db_jobs if config.db_jobs is not None and isinstance(backend, SqlBackend) else config.jobs
        modes = config.modes + (config.redis_modes if name == "redis" else ())
        for mode in modes:
            key_mode = mode.label.startswith(("1 process", "2 processes"))
            runs = config.runs if key_mode else min(config.runs, config.extra_runs)
            report.throughput.append(bench.throughput(jobs, mode, runs))
        if config.laravel_comparison and name in LARAVEL_JOBS_PER_S:
            report.laravel_comparison.append(bench.throughput(LARAVEL_JOB_COUNT, ONE_PROCESS, config.runs))
        if isinstance(backend, SqlBackend):
            report.design_commits[name] = backend.design_commits_per_job()
        if isinstance(backend, RedisBackend):
            report.push_cost.update(push_cost(backend, bench))
        if config.limits:
            report.limits[name] = backend.limits()
        if config.latency_jobs:
            run_latency(bench, name, report)
        if config.memory_jobs and name == "redis":
            report.memory.append(bench.memory(config.memory_jobs))
    finally:
        backend.close()


def run_latency(bench: Bench, name: str, report: Report) -> None:
    count = report.config.latency_jobs
    if name == "redis":
        backend = bench.backend
        assert isinstance(backend, RedisBackend)
        # Laravel's defaults (block_for null): the idle worker waits on `:notify` (drivers/wake.py)
        report.latency.append(bench.latency("defaults (block_for null), --sleep 3", 3.0, count, (0.005, 0.02)))
        saved = dict(backend.env)
        backend.env["REDIS_QUEUE_BLOCK_FOR"] = "5"
        try:
            report.latency.append(bench.latency("REDIS_QUEUE_BLOCK_FOR=5, --sleep 3", 3.0, count, (0.005, 0.02)))
        finally:
            backend.env = saved
        return
    report.latency.append(bench.latency("--sleep 0.1", 0.1, max(5, count // 2), (0.01, 0.2)))
    if count >= 50:
        report.latency.append(bench.latency("--sleep 1", 1.0, count // 10, (0.05, 1.0)))


def push_cost(backend: RedisBackend, bench: Bench, count: int = 2000) -> dict[str, float]:
    """What the producer side costs Redis: `count` real pushes (push script) through the driver."""
    backend.clear()
    payloads = bench.payloads(count)
    before = backend.counters()
    started = time.perf_counter()
    for payload in payloads:
        backend.push(payload)
    elapsed = time.perf_counter() - started
    after = backend.counters()
    backend.clear()
    cost = backend.per_job(before, after, count)
    return {"round_trips": cost["round_trips"], "server_cpu_us": cost["server_cpu_us"], "pushes_per_s": count / elapsed}


# -- entry point ----------------------------------------------------------------------------------


def run(config: Config, command: str = "") -> Report:
    """Every selected measurement; a backend that fails is reported and the others still run."""
    report = Report(config=config, started=dt.datetime.now(dt.timezone.utc), command=command)
    with contextlib.ExitStack() as stack:
        workdir = config.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lqbench-")))
        for name in config.backends:
            try:
                run_backend(name, report, workdir)
            except Exception as exc:
                message = f"{name}: {type(exc).__name__}: {exc}"
                report.errors.append(message)
                config.log(f"[{name}] FAILED {message}")
    report.finished = dt.datetime.now(dt.timezone.utc)
    return report


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke check: 200 jobs, 1 run, 2 modes, no memory run.")
    parser.add_argument("--only", default=",".join(BACKENDS), help=f"Backends, comma-separated ({','.join(BACKENDS)}).")
    parser.add_argument("--jobs", type=int, help="Jobs per throughput run (default 20000; quick: 200).")
    parser.add_argument("--db-jobs", type=int, help="Jobs per run on the database backends (default: --jobs).")
    parser.add_argument("--runs", type=int, help="Runs per measurement; medians are quoted (default 3; quick: 1).")
    parser.add_argument("--extra-runs", type=int, help="Runs of the 4-process and --concurrency modes (default 1).")
    parser.add_argument("--memory-jobs", type=int, help="Jobs of the memory run (default 100000; quick: 0 = skip).")
    parser.add_argument("--latency-jobs", type=int, help="Jobs per push-to-start latency row (default 200; quick: 10).")
    parser.add_argument("--write", type=Path, help="Write the Markdown report here (e.g. BENCHMARKS.md).")
    parser.add_argument("--extra-dir", type=Path, help="Directory with other benchmarks' raw output (run_all.sh).")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    backends = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise SystemExit(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    config = Config(backends=backends)
    if args.quick:
        config = Config(
            backends=backends,
            jobs=200,
            runs=1,
            modes=QUICK_MODES,
            redis_modes=(),
            sqs_jobs=50,
            laravel_comparison=False,
            latency_jobs=10,
            memory_jobs=0,
            limits=False,
        )
    if args.jobs is not None:
        config.jobs = args.jobs
    if args.db_jobs is not None:
        config.db_jobs = args.db_jobs
    if args.runs is not None:
        config.runs = args.runs
    if args.extra_runs is not None:
        config.extra_runs = args.extra_runs
    if args.memory_jobs is not None:
        config.memory_jobs = args.memory_jobs
    if args.latency_jobs is not None:
        config.latency_jobs = args.latency_jobs
    return config


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    # Stop cleanly on SIGTERM/SIGINT (even when started in the background, where SIGINT is
    # ignored): the finally blocks stop the workers and servers and drop the databases.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    config = config_from_args(args)
    shown = [arg for arg in argv if arg != "--extra-dir" and (args.extra_dir is None or arg != str(args.extra_dir))]
    command = " ".join([".venv/bin/python -m benchmarks.bench_worker", *shown])
    from benchmarks.report import machine_environment, render

    environment = machine_environment()
    report = run(config, command)
    report.environment = environment
    report.environment["load average at end"] = machine_environment()["load average at start"]
    text = render(report, extra_dir=args.extra_dir)
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        print(text)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
