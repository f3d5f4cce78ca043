"""BENCHMARKS.md from a bench_worker Report: the machine, the command, the date, every number.

Ratios are computed from numbers of the same run (the machine is shared and noisy, so
absolute rates drift from run to run; ratios measured side by side drift much less).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.measure import COMMIT_PROBE, POP_SCRIPT_PROBE, ROOT, median

if TYPE_CHECKING:
    from benchmarks.bench_worker import Report, Throughput

OTHER_RESULTS = (
    ("PHP serialize codec", "RESULTS-codec.md"),
    ("Redis driver (hot path, in process)", "RESULTS-redis.md"),
    ("Database driver (hot path, in process)", "RESULTS-database.md"),
    ("Job middleware", "RESULTS-middleware.md"),
)
TARGET_REDIS_PER_PROCESS = 3000.0
TARGET_DB_PER_PROCESS = 1000.0
TARGET_RSS_IDLE_MB = 60.0


def machine_environment() -> dict[str, str]:
    """What the numbers depend on: CPU, cores, memory, load, versions."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import redis

    return {
        "machine": f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, {memory} RAM",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "redis-py": f"{redis.__version__} ({'hiredis' if _has_hiredis() else 'pure-Python parser'})",
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def _has_hiredis() -> bool:
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return False
    return True


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], align: str = "") -> list[str]:
    header = list(header)
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


class _Numbers:
    """Derived numbers shared by several sections."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def boot_wall(self, backend: str) -> float | None:
        boot = self.report.boot.get(backend)
        return boot.wall if boot and boot.runs else None

    def steady(self, result: Throughput) -> float | None:
        """Jobs/s with the backend's median boot-and-exit time (empty queue) taken out."""
        boot = self.boot_wall(result.backend)
        if boot is None or not result.jobs:
            return None
        rates = [run.jobs / (run.process.wall - boot) for run in result.runs if run.process.wall > boot]
        return median(rates) if rates else None

    def limit(self, backend: str, prefix: str) -> float | None:
        for limit in self.report.limits.get(backend, []):
            if limit.what.startswith(prefix):
                return limit.ops_per_s
        return None

    def share_of_limit(self, result: Throughput, probe: str, per_job: str | None = "round_trips") -> float | None:
        """Median over runs of: jobs/s (boot excluded) / (probe operations/s around the run, the
        mean of the probes just before and just after it / operations per job); `per_job=None`
        counts one probe operation per job (a database commit)."""
        boot = self.boot_wall(result.backend) or 0.0
        shares = []
        for run in result.runs:
            ops_per_job = run.per_job.get(per_job) if per_job else 1.0
            rate = run.probe.get(probe)
            if ops_per_job and rate and run.process.wall > boot:
                shares.append(run.jobs / (run.process.wall - boot) / (rate / ops_per_job))
        return median(shares) if shares else None

    def redis_round_trips(self) -> float | None:
        one = self.report.find("redis", "1 process")
        return one.per_job("round_trips") if one else None


def render(report: Report, extra_dir: Path | None = None) -> str:
    numbers = _Numbers(report)
    lines: list[str] = ["# Benchmarks", ""]
    lines += _header(report, via_run_all=extra_dir is not None)
    lines += _summary(report, numbers)
    lines += _throughput(report, numbers)
    lines += _laravel(report)
    lines += _per_job(report)
    lines += _latency(report)
    lines += _memory(report)
    lines += _limits(report)
    lines += _scaling(report, numbers)
    lines += _others(extra_dir)
    if report.errors:
        lines += ["## Failures in this run", ""] + [f"- {error}" for error in report.errors] + [""]
    return "\n".join(lines).rstrip() + "\n"


def _header(report: Report, *, via_run_all: bool) -> list[str]:
    started = report.started.strftime("%Y-%m-%d %H:%M UTC")
    took = (report.finished - report.started).total_seconds() / 60 if report.finished else 0
    lines = [f"Measured on {started} (worker benchmark: {took:.0f} min), from the repository root, with:", ""]
    if via_run_all:
        args = report.command.split()[3:]
        if "--write" in args:  # run_all.sh adds `--write BENCHMARKS.md` itself
            at = args.index("--write")
            del args[at : at + 2]
        lines += [f"    benchmarks/run_all.sh {' '.join(args)}".rstrip(), ""]
        lines += ["which ran the other benchmark scripts (raw output at the end), then", ""]
    lines += [f"    {report.command}", ""]
    rows = [(key, value) for key, value in report.environment.items()]
    rows += [(name, text) for name, text in report.descriptions.items()]
    lines += _table(["", ""], rows, "ll")
    config = report.config
    lines += [
        "**Noise.** This is a 2-core virtual machine that also runs the database servers (and, on a",
        "shared day, other people's test suites); absolute rates move by 5-30% between runs. Every figure is the",
        f"median of {config.runs} runs (4-process and `--concurrency` modes: {min(config.runs, config.extra_runs)}),",
        "and ratios are taken between numbers of the same run.",
        "",
        "**How.** Each throughput run pre-fills the queue (Redis: pipelined RPUSH of the stored payload",
        "strings plus notify tokens; databases: Laravel's `bulk()`, multi-row INSERTs in one transaction)",
        "with NoopJob payloads built by `laravel_queue.dispatch` (byte-for-byte what PHP's",
        '`dispatch(new NoopJob($n))` stores: `O:16:"App\\Jobs\\NoopJob":1:{s:1:"n";i:<n>;}`), then times',
        "`laravel-queue queue:work <connection> --stop-when-empty --sleep 0 --jobs benchmarks.noop_jobs`",
        "as a subprocess: wall clock from spawn to exit (boot, imports, PHP-unserializing every command",
        "and shutdown included, like Laravel's `time -v php artisan queue:work`), peak RSS from",
        "`wait4` rusage. The handler records each job's start time and start count in a shared memory",
        "map (no system call per job); every run checks that each job ran exactly once, that the queue",
        "is empty and that `failed_jobs`",
        "gained nothing. Redis runs use a private `redis-server` (same binary as the shared one) so",
        "INFO commandstats and CPU counters see only the benchmark.",
        "",
    ]
    if config.db_jobs is not None and config.db_jobs != config.jobs:
        lines += [
            f"**Job counts.** {config.jobs:,} jobs per run on Redis, {config.db_jobs:,} on the database backends",
            "(`--db-jobs`): at 100-500 jobs/s a 20,000-job database run takes minutes, too long for nine runs",
            "per engine on a shared machine. Database pops get slower as the table grows (see the database",
            "driver section), so 20,000-job runs would be somewhat slower than these.",
            "",
        ]
    return lines


def _drift_text(result: Throughput, probe: str) -> str:
    """How far one probe moved during the runs: its rate after each run / before it."""
    drifts = [run.probe_drift[probe] for run in result.runs if probe in run.probe_drift]
    if not drifts:
        return ""
    return f", after/before {min(drifts):.2f}-{max(drifts):.2f}"


def _summary(report: Report, numbers: _Numbers) -> list[str]:
    rows = []
    redis_one = report.find("redis", "1 process")
    if redis_one:
        steady = numbers.steady(redis_one)
        ok = steady is not None and steady >= TARGET_REDIS_PER_PROCESS
        rows.append(
            (
                "Redis >= 3,000 jobs/s per process",
                f"{_fmt(redis_one.jobs_per_s)} jobs/s incl. boot; {_fmt(steady)} jobs/s boot excluded",
                "yes" if ok else "no",
            )
        )
        trips = numbers.redis_round_trips()
        pop_share = numbers.share_of_limit(redis_one, POP_SCRIPT_PROBE)
        c_share = numbers.share_of_limit(redis_one, "redis-benchmark PING -c 1")
        py_share = numbers.share_of_limit(redis_one, "redis-py PING")
        if trips and pop_share is not None:
            ping_text = f"; {c_share:.0%} of redis-benchmark -c 1 PING/s / {trips:.2f}" if c_share is not None else ""
            py_text = f"; {py_share:.0%} of redis-py's own PING loop / {trips:.2f}" if py_share is not None else ""
            rows.append(
                (
                    ">= 50% of the round-trip limit",
                    f"{pop_share:.0%} of (redis-benchmark -c 1 sending the worker's own pop EVALSHA, per s / "
                    f"{trips:.2f} round trips per job), the probe taken just before and just after each run"
                    f"{_drift_text(redis_one, POP_SCRIPT_PROBE)}{ping_text}{py_text}",
                    "yes" if pop_share >= 0.5 else "no",
                )
            )
    for backend in ("sqlite", "sqlite-wal", "mariadb", "pgsql"):
        one = report.find(backend, "1 process")
        if one:
            steady = numbers.steady(one)
            ok = steady is not None and steady >= TARGET_DB_PER_PROCESS
            share = numbers.share_of_limit(one, COMMIT_PROBE, per_job=None)
            commits = [run.probe[COMMIT_PROBE] for run in one.runs if COMMIT_PROBE in run.probe]
            commit_share = (
                f"; {share:.0%} of the one-row commit rate probed just before and just after each run"
                f" (median of their means {_fmt(median(commits))} commits/s{_drift_text(one, COMMIT_PROBE)};"
                " the worker makes one commit per job)"
                if share is not None
                else ""
            )
            rows.append(
                (
                    f"{backend} >= 1,000 jobs/s per process",
                    f"{_fmt(one.jobs_per_s)} jobs/s incl. boot; {_fmt(steady)} boot excluded{commit_share}",
                    "yes" if ok else "no",
                )
            )
    for memory in report.memory:
        idle_mb = memory.idle_kb / 1024
        met = "yes" if idle_mb <= TARGET_RSS_IDLE_MB else "no"
        rows.append(("RSS idle <= 60 MB", f"{idle_mb:.1f} MiB ({memory.backend})", met))
        growth = _growth_kb(memory)
        flat = growth is not None and growth <= 2048
        rows.append(
            (
                f"RSS flat over {memory.jobs:,} jobs",
                f"{_fmt(growth)} kB growth from the first 10% to the end (after: {memory.after_kb / 1024:.1f} MiB)",
                "yes" if flat else "no",
            )
        )
    if not rows:
        return []
    return ["## Summary against the targets", "", *_table(["target", "measured (medians)", "met"], rows, "llc")]


def _growth_kb(memory: object) -> float | None:
    samples = getattr(memory, "samples", [])
    if len(samples) < 2:
        return None
    return float(samples[-1][1] - samples[0][1])


def _per_job_text(result: Throughput) -> str:
    parts = []
    for key, label, digits in (
        ("round_trips", "round trips", 2),
        ("server_cpu_us", "Redis CPU µs", 1),
        ("commits", "Com_commit*", 2),
        ("statements", "Questions*", 2),
        ("transactions", "xact_commit", 2),
    ):
        combine = min if key in ("commits", "statements") else median
        value = result.per_job(key, combine)
        if value is not None:
            parts.append(f"{label} {value:.{digits}f}")
    probes = {name for run in result.runs for name in run.probe}
    for name in sorted(probes):
        rates = [run.probe[name] for run in result.runs if name in run.probe]
        parts.append(f"probe {name} {_fmt(median(rates))}/s")
    return ", ".join(parts) or "-"


def _throughput(report: Report, numbers: _Numbers) -> list[str]:
    if not report.throughput:
        return []
    rows = []
    for backend, boot in report.boot.items():
        rows.append(
            (
                backend,
                "boot + exit, empty queue",
                "0",
                str(len(boot.runs)),
                f"{boot.wall:.2f}",
                "-",
                "-",
                f"{boot.peak_rss_kb / 1024:.1f}",
                "-",
                "-",
            )
        )
        for result in (r for r in report.throughput if r.backend == backend):
            rows.append(
                (
                    backend,
                    result.mode.label,
                    f"{result.jobs:,}",
                    str(len(result.runs)),
                    f"{result.wall:.2f}",
                    f"**{_fmt(result.jobs_per_s)}**",
                    _fmt(numbers.steady(result)),
                    f"{result.peak_rss_kb / 1024:.1f}",
                    _fmt(result.cpu_per_job_us),
                    _per_job_text(result),
                )
            )
    header = [
        "backend",
        "mode",
        "jobs",
        "runs",
        "wall s",
        "jobs/s",
        "jobs/s excl. boot",
        "peak RSS MiB",
        "worker CPU µs/job",
        "server cost per job",
    ]
    return [
        "## Throughput of no-op jobs",
        "",
        "Median of the runs. `jobs/s` includes boot and exit (Laravel's measure); `excl. boot` subtracts",
        "the backend's median boot-and-exit time on an empty queue. `N processes` = N `queue:work`",
        "commands started together; `--concurrency N` = one command forking N workers. Peak RSS is the",
        "largest single process. Worker CPU = user+system of all worker processes / jobs. Counters marked",
        "* are server-global (MariaDB is shared with other test runs): the minimum over the runs is quoted.",
        "SQS runs against moto with far fewer jobs: the functional cost of the code path, not AWS speed.",
        "",
        *_table(header, rows, "llrrrrrrrl"),
    ]


def _laravel(report: Report) -> list[str]:
    from benchmarks.bench_worker import LARAVEL_JOBS_PER_S, LARAVEL_RSS_KB

    if not report.laravel_comparison:
        return []
    rows = []
    for result in report.laravel_comparison:
        laravel = LARAVEL_JOBS_PER_S[result.backend]
        rows.append(
            (
                result.backend,
                _fmt(laravel),
                _fmt(result.jobs_per_s),
                f"**{result.jobs_per_s / laravel:.1f}x**",
                f"{LARAVEL_RSS_KB[result.backend] / 1024:.1f}",
                f"{result.peak_rss_kb / 1024:.1f}",
            )
        )
    return [
        "## Against Laravel's own worker",
        "",
        "Same job count (5,000), same flags (`--stop-when-empty --sleep 0`), one process, boot included.",
        "Laravel's numbers are the captured medians in fixtures/laravel/throughput.txt (Laravel 12.67,",
        "PHP 8.2 CLI, phpredis, same machine class); they were not re-measured in this run (PHP is not",
        "part of this harness), so the ratio mixes two sessions of a noisy machine.",
        "",
        *_table(["backend", "Laravel jobs/s", "laravel-queue jobs/s", "ratio", "Laravel RSS MiB", "our RSS MiB"], rows),
    ]


def _per_job(report: Report) -> list[str]:
    lines = ["## Round trips and commits per job", ""]
    one = report.find("redis", "1 process")
    if one:
        commands = sorted(
            {key for run in one.runs for key in run.per_job if key.startswith("cmd:")},
            key=lambda key: -(one.per_job(key) or 0),
        )
        breakdown = ", ".join(f"{key.removeprefix('cmd:').upper()} {one.per_job(key):.3f}" for key in commands)
        lines += [
            f"- **Redis, consumer:** {one.per_job('round_trips'):.3f} round trips per job ({breakdown}), counted",
            "  from INFO commandstats deltas of the private server over the 1-process runs (commands run",
            "  inside scripts are not round trips and are left out). Laravel's worker needs 6 (GET restart,",
            "  GET paused, EVAL migrate delayed, EVAL migrate reserved, EVAL pop, ZREM).",
            f"  Redis server CPU: {one.per_job('server_cpu_us'):.1f} µs per job.",
        ]
    if report.push_cost:
        cost = report.push_cost
        lines.append(
            f"- **Redis, producer** (the driver's push script, one push at a time): {cost['round_trips']:.2f} "
            f"round trips and {cost['server_cpu_us']:.1f} µs of Redis CPU per push; "
            f"{_fmt(cost['pushes_per_s'])} pushes/s from one Python process."
        )
    for backend, commits in report.design_commits.items():
        server = ""
        one = report.find(backend, "1 process")
        if one is not None:
            if one.per_job("commits", min) is not None:
                server = (
                    f"; server side, MariaDB Com_commit {one.per_job('commits', min):.2f} and Questions "
                    f"{one.per_job('statements', min):.2f} per job (global counters, minimum over runs)"
                )
            elif one.per_job("transactions") is not None:
                server = (
                    f"; server side, pg_stat_database xact_commit {one.per_job('transactions'):.2f} per job "
                    "(every autocommit SELECT counts as a transaction too)"
                )
        lines.append(
            f"- **{backend}:** {commits:.2f} COMMITs per job, counted by the real Worker run in-process over "
            f"300 jobs (Database.commits){server}."
        )
    if len(lines) == 2:
        return []
    lines += [
        "",
        "By design one job costs one transaction on the database driver: the previous job's DELETE and",
        "the worker's read of the restart/pause keys ride in the transaction that reserves the next job",
        "(START TRANSACTION, DELETE ack, SELECT the cache values INTO variables, SELECT id INTO a variable",
        "... FOR UPDATE SKIP LOCKED, guarded UPDATE, SELECT the row, COMMIT): on MySQL those 7 statements",
        "travel in one packet, on MariaDB inside one BEGIN NOT ATOMIC block, which the server counts as",
        "one statement. PostgreSQL does all of it in one autocommit CTE statement: one round trip and one",
        "transaction per job.",
        "Laravel's worker uses two transactions per job (reserve, then delete) plus two cache SELECTs.",
        "",
    ]
    return lines


def _latency(report: Report) -> list[str]:
    if not report.latency:
        return []
    rows = [
        (
            item.backend,
            item.setting,
            str(len(item.latencies_ms)),
            f"{item.p50:.2f}",
            f"{item.p99:.2f}",
            f"{max(item.latencies_ms):.2f}",
        )
        for item in report.latency
    ]
    return [
        "## Latency, push to start",
        "",
        "An idle worker (started without `--stop-when-empty`); jobs pushed one at a time through the real",
        "driver (`push_raw`: the push script on Redis, an INSERT on databases) at random gaps; latency =",
        "handler start minus the moment just before the push (both CLOCK_MONOTONIC). Redis blocks on",
        "`:notify` with BLPOP (REDIS_QUEUE_BLOCK_FOR); the database driver polls every `--sleep` seconds,",
        "so its latency is about half the sleep on average and the whole sleep at worst.",
        "",
        *_table(["backend", "setting", "jobs", "p50 ms", "p99 ms", "max ms"], rows, "llrrrr"),
    ]


def _memory(report: Report) -> list[str]:
    lines: list[str] = []
    for memory in report.memory:
        samples = ", ".join(f"{done:,}: {kb / 1024:.1f}" for done, kb in memory.samples)
        lines += [
            "## Memory",
            "",
            f"One {memory.backend} worker (no `--stop-when-empty`), RSS from /proc/<pid>/status:",
            "",
            f"- idle after boot and one job: **{memory.idle_kb / 1024:.1f} MiB**",
            f"- while draining {memory.jobs:,} jobs (jobs done: MiB): {samples}",
            f"- idle again afterwards: **{memory.after_kb / 1024:.1f} MiB**",
            "",
            "Laravel's worker peaks at about 51 MB RSS on the same jobs (fixtures/laravel/throughput.txt).",
            "",
        ]
    return lines


def _limits(report: Report) -> list[str]:
    rows = []
    for backend, limits in report.limits.items():
        for limit in limits:
            rows.append((backend, limit.what, _fmt(limit.ops_per_s), f"`{limit.command}`"))
    if not rows:
        return []
    return [
        "## Physical limits (same run)",
        "",
        "One client doing one operation at a time is the ceiling for one worker process; a worker needs",
        "at least one round trip (Redis) or one committed transaction (databases) per job.",
        "",
        *_table(["backend", "what", "ops/s", "how"], rows, "llrl"),
    ]


def _scaling(report: Report, numbers: _Numbers) -> list[str]:
    rows = []
    for backend in dict.fromkeys(result.backend for result in report.throughput):
        one = report.find(backend, "1 process")
        if one is None:
            continue
        cells = [backend]
        for label in ("1 process", "2 processes", "4 processes", "--concurrency 4", "--concurrency 16"):
            result = report.find(backend, label)
            if result is None:
                cells.append("-")
                continue
            cells.append(f"{_fmt(result.jobs_per_s)} ({result.jobs_per_s / one.jobs_per_s:.2f}x)")
        rows.append(cells)
    if not rows:
        return []
    lines = [
        "## Scaling on this 2-core machine",
        "",
        "Median jobs/s including boot (speed-up against one process in the same run). The backend server",
        "(Redis, MariaDB, PostgreSQL) runs on the same two cores, so beyond two processes workers and",
        "server compete for CPU.",
        "",
        *_table(["backend", "1 process", "2 processes", "4 processes", "--concurrency 4", "--concurrency 16"], rows),
    ]
    lines += _paper_estimate(report, numbers)
    return lines


def _paper_estimate(report: Report, numbers: _Numbers) -> list[str]:
    one = report.find("redis", "1 process")
    two = report.find("redis", "2 processes")
    if one is None or not report.push_cost:
        return []
    consume_cpu = one.per_job("server_cpu_us") or 0.0
    push_cpu = report.push_cost["server_cpu_us"]
    trips = (one.per_job("round_trips") or 0.0) + report.push_cost["round_trips"]
    cpu_bound = 1e6 / (consume_cpu + push_cpu) if consume_cpu + push_cpu > 0 else None
    evalsha50 = numbers.limit("redis", "EVALSHA trivial script, 50 clients")
    ops_bound = evalsha50 / trips if evalsha50 and trips else None
    per_machine = numbers.steady(two) if two else numbers.steady(one)
    lines = [
        "### Paper estimate: N worker machines sharing one Redis",
        "",
        f"- Redis CPU per job (push + consume, measured above): {push_cpu:.1f} + {consume_cpu:.1f} = "
        f"{push_cpu + consume_cpu:.1f} µs. Redis executes commands on one thread, so it saturates near "
        f"**{_fmt(cpu_bound)} jobs/s**.",
        f"- Cross-check from redis-benchmark: {_fmt(evalsha50)} trivial EVALSHA/s with 50 clients, "
        f"{trips:.2f} round trips per job (push + consume) -> {_fmt(ops_bound)} jobs/s (trivial scripts are cheaper "
        "than the pop script, so this is the optimistic bound).",
    ]
    if per_machine and cpu_bound:
        lines.append(
            f"- One 2-core worker machine like this one does about {_fmt(per_machine)} jobs/s "
            f"({'2 processes' if two else '1 process'}, boot excluded, measured with Redis on the same cores). "
            f"So about **{cpu_bound / per_machine:.0f} such machines** saturate one Redis with no-op jobs; "
            "with real jobs (milliseconds of work each) proportionally more."
        )
    return [*lines, ""]


def _others(extra_dir: Path | None) -> list[str]:
    lines = ["## Other benchmarks (copied from their own result files)", ""]
    for title, filename in OTHER_RESULTS:
        path = ROOT / "benchmarks" / filename
        lines += [f"### {title}: benchmarks/{filename}", ""]
        if not path.exists():
            lines += ["Not written yet.", ""]
            continue
        body = path.read_text(encoding="utf-8").strip().splitlines()
        if body and body[0].startswith("# "):
            body = body[1:]
        lines += [("#" + line if line.startswith("#") else line) for line in body] + [""]
    if extra_dir is not None and extra_dir.is_dir():
        for output in sorted(extra_dir.glob("*.txt")):
            text = output.read_text(encoding="utf-8", errors="replace").strip()
            lines += [f"#### Raw output of `{output.stem}` in this run", "", "```", text, "```", ""]
    return lines
