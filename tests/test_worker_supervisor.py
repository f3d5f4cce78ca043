"""`--concurrency`: the supervisor replaces a child that ends for any reason but a requested stop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

from laravel_queue.worker.supervisor import MAX_BACKOFF, restart_delay

SUPERVISED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from laravel_queue.worker.supervisor import run_children

    log = Path(sys.argv[1])
    ends = sys.argv[2].split(",")  # how the n-th child ends: error, exit1, memory, kill, segv, ok

    def work():
        with log.open("a") as handle:
            handle.write(f"{os.getpid()}\\n")
        n = len(log.read_text().splitlines())
        end = ends[n - 1] if n <= len(ends) else "ok"
        if end == "error":
            raise RuntimeError("a bug outside any job")
        if end == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if end == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"exit1": 1, "memory": 12, "ok": 0}[end]

    sys.exit(run_children(2, work))
    """
)


def supervise(tmp_path: Path, ends: str) -> tuple[int, list[str]]:
    log = tmp_path / "children"
    proc = subprocess.run(
        [sys.executable, "-c", SUPERVISED, str(log), ends], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    return proc.returncode, log.read_text().splitlines()


def test_a_child_that_crashes_or_is_killed_is_replaced(tmp_path: Path) -> None:
    code, children = supervise(tmp_path, "error,kill,exit1,segv,memory")
    assert code == 0  # the two last children stopped as asked
    assert len(children) == 7 and len(set(children)) == 7


def test_children_that_stop_as_asked_are_not_replaced(tmp_path: Path) -> None:
    code, children = supervise(tmp_path, "ok,ok")
    assert code == 0 and len(children) == 2


def test_the_restart_back_off_doubles_and_is_capped() -> None:
    assert restart_delay(0) == 0
    assert restart_delay(1) < restart_delay(2) < restart_delay(3)
    assert restart_delay(2) == 2 * restart_delay(1)
    assert restart_delay(100) == MAX_BACKOFF
