"""Start N identical commands, wait for all, print wall clock and each one's rusage as JSON.

Why a separate small process: Linux keeps the RSS high-water mark of the memory a
process had *before* execve in its ru_maxrss. A worker spawned straight from the
harness (which holds 100,000 prepared payloads) would report the harness's peak, not
its own. Spawned from this stdlib-only script, the inherited mark is ~10 MB, below any
worker's real peak: the same trick GNU time relies on by being small.

    python benchmarks/spawn_timed.py COUNT TIMEOUT_S -- argv...
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time


def main(argv: list[str]) -> int:
    count, timeout = int(argv[0]), float(argv[1])
    command = argv[argv.index("--") + 1 :]
    started = time.perf_counter()
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(count)]
    killer = threading.Timer(timeout, _kill_unreaped, args=(procs,))
    killer.start()
    results = []
    try:
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            results.append(
                {"code": proc.returncode, "maxrss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime}
            )
        wall = time.perf_counter() - started
    finally:
        killer.cancel()
    print(json.dumps({"wall": wall, "processes": results}))
    return 0


def _kill_unreaped(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
