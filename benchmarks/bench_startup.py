"""Start-up time of the commands people run from cron and scripts, hyperfine-style.

Runs each command N times, alternating between them (so a noisy minute on a shared VM
hits every command alike), and prints the median, min and max wall time of each, beside
artisan's figures measured on the same kind of VM (issue 26: medians of 7, alternating).

    python benchmarks/bench_startup.py [--runs 15] [--redis-port 6379] [--baseline DIR] [--bytecode]

`--baseline DIR` adds the same commands run from another checkout's `laravel_queue`
(e.g. `git archive main laravel_queue | tar -x -C DIR`, plus the built `.so` files),
interleaved with these runs, so a before/after comparison shares the same noise.

`--bytecode` lets Python cache the compiled modules (in a temporary PYTHONPYCACHEPREFIX,
so no checkout is touched), as an installed package has them. Without it the environment
decides: where PYTHONDONTWRITEBYTECODE is set (this VM sets it) every start compiles the
package's own modules again, as PHP's CLI does without opcache, which is how issue 26's
figures were taken.

Commands: `--help`; `queue:failed` on an empty, migrated SQLite database; `schedule:run`
with nothing due (a schedule whose only event runs on 1 January); `dispatch` of one job
to Redis (its key is deleted afterwards). Each is `python -m laravel_queue ...` from the
virtualenv, exactly what the `laravel-queue` script runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ARTISAN_MS = {"--help": ("php artisan list", 218), "queue:failed": ("php artisan queue:failed", 232)}
SCHEDULE_MODULE = """
from laravel_queue.schedule import Schedule

schedule = Schedule()
schedule.job("App\\\\Jobs\\\\NewYear").cron("0 0 1 1 *")
"""


def _commands() -> dict[str, list[str]]:
    return {
        "--help": ["--help"],
        "queue:failed": ["queue:failed"],
        "schedule:run": ["schedule:run", "--schedule", "bench_nothing_due"],
        "dispatch": ["dispatch", "App\\Jobs\\Bench", "--connection", "redis", "--queue", "bench"],
    }


def _environment(workdir: Path, redis_port: int, prefix: str, bytecode: bool) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "REDIS_", "QUEUE_", "CACHE_"))}
    if bytecode:
        keep.pop("PYTHONDONTWRITEBYTECODE", None)
        keep["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return {
        **keep,
        "DB_CONNECTION": "sqlite",
        "DB_DATABASE": str(workdir / "database.sqlite"),
        "CACHE_STORE": "array",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "REDIS_PREFIX": prefix,
        "NO_COLOR": "1",
    }


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--baseline", type=Path, help="another checkout's root, run with PYTHONPATH=DIR")
    parser.add_argument("--bytecode", action="store_true", help="cache compiled modules, as an installed package")
    args = parser.parse_args()
    prefix = f"bench-startup-{uuid.uuid4().hex[:8]}-"
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_nothing_due.py").write_text(SCHEDULE_MODULE)
        env = _environment(workdir, args.redis_port, prefix, args.bytecode)
        base = [sys.executable, "-m", "laravel_queue"]
        _timed([*base, "migrate"], env, workdir)
        variants = {"": env}
        if args.baseline:
            variants[" (baseline)"] = {**env, "PYTHONPATH": str(args.baseline.resolve())}
        commands = _commands()
        for variant_env in variants.values():  # warm the page cache and the .pyc files once
            for argv in commands.values():
                _timed([*base, *argv], variant_env, workdir)
        samples: dict[str, list[float]] = {name + label: [] for name in commands for label in variants}
        for _ in range(args.runs):
            for name, argv in commands.items():
                for label, variant_env in variants.items():
                    samples[name + label].append(_timed([*base, *argv], variant_env, workdir))
        _cleanup_redis(args.redis_port, prefix)
    cached = "cached" if args.bytecode or "PYTHONDONTWRITEBYTECODE" not in os.environ else "compiled on every start"
    print(f"start-up, {args.runs} runs each, alternating ({sys.executable} -m laravel_queue; bytecode {cached})")
    print(f"{'command':<25} {'median':>8} {'min':>8} {'max':>8}   artisan (issue 26)")
    for name, values in samples.items():
        artisan = ARTISAN_MS.get(name)
        beside = f"{artisan[0]}: {artisan[1]} ms" if artisan else "-"
        if not artisan and not name.endswith(")"):  # every artisan command boots the framework first
            beside = "not captured (artisan boots the framework: 218-232 ms)"
        print(f"{name:<25} {statistics.median(values):>6.0f}ms {min(values):>6.0f}ms {max(values):>6.0f}ms   {beside}")


def _cleanup_redis(port: int, prefix: str) -> None:
    import redis

    client = redis.Redis(port=port)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    main()
