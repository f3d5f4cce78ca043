"""Interleaved A/B of the pure-Python PHP decoder (`laravel_queue/php/_decode.py`) of two checkouts.

Both checkouts' `laravel_queue.php` packages are loaded side by side in one process (under
different names, from their files), so each round times every checkout's `_decode.loads` on
the same payload, in turn, under the same background load; the per-call medians over the
rounds are compared. By default the clock is this thread's CPU time, so that other processes
preempting this one on a busy machine do not count (`--clock wall` for elapsed time).
Payloads: the real Laravel commands in fixtures/laravel/redis and the synthetic 1 KB / 100 KB
commands of bench_codec.py. The C extension is not involved.

    .venv/bin/python -m benchmarks.ab_decode /tmp/before . --rounds 15 [--batch-seconds 0.02]

An A/A run (the same checkout twice) shows the noise floor of the machine at that moment.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.bench_codec import batch_size, fixture_commands, fmt_time, synthetic

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def load_decoder(checkout: Path, alias: str) -> Callable[[bytes], Any]:
    """The checkout's `laravel_queue.php._decode.loads`, imported as package `alias`."""
    package_dir = checkout / "laravel_queue" / "php"
    spec = importlib.util.spec_from_file_location(
        alias, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    assert spec is not None and spec.loader is not None
    package: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[alias] = package
    spec.loader.exec_module(package)
    decode = sys.modules[f"{alias}._decode"]
    assert Path(decode.__file__ or "").resolve().is_relative_to(checkout.resolve()), decode.__file__
    loads: Callable[[bytes], Any] = decode.loads
    return loads


def interleaved(
    fns: list[Callable[[], Any]], rounds: int, batch_seconds: float, clock: Callable[[], float]
) -> list[float]:
    """Median seconds per call of each function; the order alternates every round."""
    sizes = [batch_size(fn, batch_seconds) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            fn, n = fns[i], sizes[i]
            start = clock()
            for _ in range(n):
                fn()
            samples[i].append((clock() - start) / n)
    return [statistics.median(values) for values in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path, nargs="?", default=Path("."))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch-seconds", type=float, default=0.02, help="length of one timed batch")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = parser.parse_args()

    before = load_decoder(args.before, "ab_before_php")
    after = load_decoder(args.after, "ab_after_php")
    clock = CLOCKS[args.clock]
    payloads = dict(fixture_commands())
    payloads["synthetic 1 KB"] = synthetic(1024)
    payloads["synthetic 100 KB"] = synthetic(100 * 1024)

    print("| payload | size | before | after | after / before |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for name, raw in payloads.items():
        assert repr(before(raw)) == repr(after(raw)).replace("ab_after_php", "ab_before_php")
        fns: list[Callable[[], Any]] = [partial(before, raw), partial(after, raw)]
        t_before, t_after = interleaved(fns, args.rounds, args.batch_seconds, clock)
        ratios.append(t_after / t_before)
        print(f"| {name} | {len(raw):,} B | {fmt_time(t_before)} | {fmt_time(t_after)} | {t_after / t_before:.3f} |")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"\nGeometric mean after / before over {len(ratios)} payloads: {geomean:.3f}")


if __name__ == "__main__":
    main()
