"""The benchmark harness in quick mode: every job of every run ran exactly once (no speed asserted).

Runs the real `laravel-queue queue:work` subprocesses on Redis and SQLite with 200
jobs, the way `benchmarks/run_all.sh` does, so a broken harness is found before a
15-minute benchmark run is wasted on it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder of the repo, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_worker import BUSY_POLL_MODES, QUICK_MODES, Config, run  # noqa: E402
from benchmarks.measure import COMMIT_PROBE, POP_SCRIPT_PROBE  # noqa: E402
from benchmarks.report import render  # noqa: E402

JOBS = 200


@pytest.fixture
def quick_config(redis_server: tuple[str, int], tmp_path: Path) -> Config:
    return Config(
        backends=["redis", "sqlite"],
        jobs=JOBS,
        runs=1,
        modes=QUICK_MODES,
        redis_modes=BUSY_POLL_MODES[:1],
        laravel_comparison=False,
        latency_jobs=5,
        memory_jobs=0,
        limits=False,
        redis_host=redis_server[0],
        redis_port=redis_server[1],
        workdir=tmp_path,
        log=lambda line: None,
    )


def test_quick_benchmark_runs_every_job_once_and_reports_it(quick_config: Config) -> None:
    report = run(quick_config, "pytest")

    assert report.errors == []
    seen = {(result.backend, result.mode.label) for result in report.throughput}
    expected = {(backend, mode.label) for backend in ("redis", "sqlite") for mode in QUICK_MODES}
    assert seen == expected | {("redis", BUSY_POLL_MODES[0].label)}
    for result in report.throughput:
        assert [run.completed for run in result.runs] == [JOBS], (result.backend, result.mode.label)
        assert all(code == 0 for run in result.runs for code in run.process.exit_codes)
    assert {latency.backend for latency in report.latency} == {"redis", "sqlite"}
    assert all(len(latency.latencies_ms) == 5 for latency in report.latency)
    assert report.design_commits["sqlite"] > 0
    redis_runs = [run for result in report.throughput if result.backend == "redis" for run in result.runs]
    assert all(run.probe[POP_SCRIPT_PROBE] > 0 for run in redis_runs if run.jobs)  # the physical-limit probe ran
    sqlite_runs = [run for result in report.throughput if result.backend == "sqlite" for run in result.runs]
    assert all(run.probe[COMMIT_PROBE] > 0 for run in sqlite_runs if run.jobs)  # and the database's
    assert all(run.probe_drift[COMMIT_PROBE] > 0 for run in sqlite_runs if run.jobs)  # before and after each run

    text = render(report)
    for heading in ("## Throughput of no-op jobs", "## Round trips and commits per job", "## Latency, push to start"):
        assert heading in text
    assert "| redis | 1 process | 200 |" in text
    assert "| sqlite | --concurrency 4 | 200 |" in text
    assert f"probe {POP_SCRIPT_PROBE} " in text
    assert "of the one-row commit rate probed just before and just after each run" in text  # the sqlite summary row
    assert "commits/s, after/before " in text


def _ab_checkouts(*checkouts: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "benchmarks.ab_checkouts", "--backend", "sqlite", "--jobs", "50", "--rounds", "1"]
    return subprocess.run([*argv, *map(str, checkouts)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_checkout_ab_runs_the_checkout_it_names(tmp_path: Path) -> None:
    """The A/B script runs each worker from the named checkout, never from the editable install."""
    done = _ab_checkouts(ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{ROOT}: median " in done.stdout
    empty = tmp_path / "no-checkout-here"
    empty.mkdir()
    refused = _ab_checkouts(empty)  # no laravel_queue/ there: the launcher must not fall back
    assert refused.returncode != 0
    assert "worker exit codes" in refused.stderr


def test_database_results_write_keeps_the_hand_written_notes(tmp_path: Path) -> None:
    from benchmarks.bench_database_driver import HAND_WRITTEN_MARKER, write_results

    results = tmp_path / "RESULTS-database.md"
    write_results(results, "# Database driver throughput\n\nfirst run\n")
    assert results.read_text() == f"# Database driver throughput\n\nfirst run\n\n{HAND_WRITTEN_MARKER}\n"
    results.write_text(results.read_text() + "\n## A note written by hand\n\nkept\n")
    write_results(results, "# Database driver throughput\n\nsecond run\n")
    text = results.read_text()
    assert "first run" not in text and "second run" in text
    assert text.endswith(f"{HAND_WRITTEN_MARKER}\n\n## A note written by hand\n\nkept\n")


def test_mariadb_pop_variants_reserve_a_row_each(mysql_server: tuple[str, int, str, str], tmp_path: Path) -> None:
    """The one-packet pop experiments (RESULTS-database.md) still reserve a fresh row per pop."""
    from benchmarks.ab_mariadb_pop_packets import run as run_variants
    from benchmarks.backends import MariadbBackend

    host, port, user, password = mysql_server
    backend = MariadbBackend(tmp_path, host=host, port=port, user=user, password=password)
    backend.open()
    try:
        variants = ["two_packets", "into", "block", "assign"]
        times = run_variants(backend, 40, variants)  # raises if a pop reserved nothing
        assert backend.remaining() == 1  # every job but the last was acked by the next pop
    finally:
        backend.close()
    assert {name: len(seconds) for name, seconds in times.items()} == dict.fromkeys(variants, 10)
