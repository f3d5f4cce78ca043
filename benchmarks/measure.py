"""Running the real `laravel-queue queue:work` and measuring it like GNU time does.

Wall clock is taken from just before the first spawn to the last exit, peak RSS from
the kernel's rusage (`os.wait4`), so boot, imports and shutdown are part of the number,
exactly as in Laravel's own captured throughput (fixtures/laravel/throughput.txt).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS_MODULE = "benchmarks.noop_jobs"
POP_SCRIPT_PROBE = "redis-benchmark pop EVALSHA -c 1"  # the Redis physical limit the summary quotes
COMMIT_PROBE = "one-row commit"  # the database physical limit: begin; update one row; commit
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def launcher() -> str:
    """The installed `laravel-queue` console script next to this interpreter (or on PATH)."""
    candidates = [Path(sys.executable).parent / "laravel-queue", ROOT / ".venv" / "bin" / "laravel-queue"]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("laravel-queue")
    if not found:
        raise RuntimeError("laravel-queue is not installed (pip install -e . in the venv)")
    return found


def clean_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Only what a process needs plus the backend's Laravel variables: nothing leaks in from the shell."""
    base = {key: os.environ[key] for key in _PASSED_THROUGH if key in os.environ}
    base.update(env)
    return base


def worker_argv(
    connection: str, *, sleep: float = 0.0, stop_when_empty: bool = True, extra: Sequence[str] = ()
) -> list[str]:
    argv = [launcher(), "queue:work", connection, "--sleep", f"{sleep:g}", "--jobs", JOBS_MODULE]
    if stop_when_empty:
        argv.append("--stop-when-empty")
    return [*argv, *extra]


@dataclass
class ProcessRun:
    """One timed launch of one or more worker processes."""

    wall: float
    peak_rss_kb: int
    exit_codes: list[int]
    cpu_seconds: float


def run_processes(argv: Sequence[str], env: Mapping[str, str], count: int = 1, timeout: float = 600.0) -> ProcessRun:
    """Start `count` identical processes at once; wall clock until the last one exits.

    Spawned through benchmarks/spawn_timed.py so ru_maxrss is the worker's own peak
    (see that file for why the harness cannot spawn them itself).
    """
    spawner = [sys.executable, "-S", str(ROOT / "benchmarks" / "spawn_timed.py"), str(count), str(timeout), "--"]
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a chatty worker never blocks
        done = subprocess.run(
            [*spawner, *argv],
            cwd=ROOT,
            env=clean_environment(env),
            stdout=subprocess.PIPE,
            stderr=log,
            timeout=timeout + 30,
            check=False,
        )
        result = json.loads(done.stdout) if done.returncode == 0 and done.stdout else None
        codes = [item["code"] for item in result["processes"]] if result else [done.returncode]
        if result is None or any(codes):
            log.seek(0)
            tail = log.read().decode("utf-8", "replace")[-2000:]
            raise WorkerFailed(f"worker exit codes {codes}; stderr tail:\n{tail}")
    processes = result["processes"]
    return ProcessRun(
        wall=float(result["wall"]),
        peak_rss_kb=max(int(item["maxrss_kb"]) for item in processes),
        exit_codes=codes,
        cpu_seconds=sum(float(item["cpu_s"]) for item in processes),
    )


class WorkerFailed(RuntimeError):
    """A worker process exited non-zero (or was killed by the harness's timeout)."""


class BackgroundWorker:
    """A long-running worker (latency and memory runs): started, observed, then stopped with SIGTERM."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=clean_environment(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def rss_kb(self) -> int:
        return rss_kb(self.proc.pid)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def rss_kb(pid: int) -> int:
    """Current resident set (VmRSS) of a live process, in kB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid} has no VmRSS")


# -- the tally written by benchmarks/noop_jobs.py ------------------------------------------------


class Tally:
    """Reads the slots the no-op handler fills in a shared memory map (benchmarks/noop_jobs.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.starts: dict[int, int] = {}
        self.duplicates = 0

    def reset(self, jobs: int) -> None:
        """A zeroed file with a slot for each job n in -1 .. jobs - 1."""
        from benchmarks.noop_jobs import SLOT

        self.path.unlink(missing_ok=True)
        with open(self.path, "wb") as handle:
            handle.truncate((jobs + 1) * SLOT.size)
        self.starts.clear()
        self.duplicates = 0

    def refresh(self) -> int:
        """Read every slot again; returns how many jobs have started."""
        from benchmarks.noop_jobs import SLOT

        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        self.starts.clear()
        self.duplicates = 0
        for index, (started, count) in enumerate(SLOT.iter_unpack(data)):
            if count:
                self.starts[index - 1] = started
                self.duplicates += count - 1
        return len(self.starts)

    def check_complete(self, expected: Iterable[int]) -> None:
        """Every expected job ran exactly once, or a clear error saying which did not."""
        self.refresh()
        wanted = set(expected)
        missing = wanted - self.starts.keys()
        if missing or self.duplicates:
            sample = sorted(missing)[:5]
            raise AssertionError(
                f"{len(missing)} of {len(wanted)} jobs never ran (e.g. {sample}); {self.duplicates} ran twice"
            )

# -- statistics ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def bracketed(before: Mapping[str, float], after: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Probe rates taken before and after one run: (their means, after / before) per probe."""
    names = [name for name in before if before[name] > 0 and after.get(name, 0) > 0]
    return (
        {name: (before[name] + after[name]) / 2 for name in names},
        {name: after[name] / before[name] for name in names},
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Samples:
    """Repeated measurements of one quantity; the report quotes the median."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return median(self.values)
