"""The conftest guard kills processes a test leaves running, with their children."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from conftest import _descendants, wait_for

_left: list[int] = []


@pytest.fixture(scope="module")
def leftovers() -> Iterator[list[int]]:
    yield _left


def test_a_test_leaves_a_process_tree_behind(leftovers: list[int]) -> None:
    sleeper = "import time; time.sleep(600)"
    script = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", script])
    wait_for(lambda: len(_descendants(proc.pid)) == 1, what="the grandchild to start")
    leftovers.extend([proc.pid, *_descendants(proc.pid)])


def test_the_guard_killed_it(leftovers: list[int]) -> None:
    assert len(leftovers) == 2
    alive = [pid for pid in leftovers if pid in _descendants(os.getpid())]
    assert alive == []
    for pid in leftovers:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        with open(f"/proc/{pid}/stat") as stat:  # only a zombie awaiting its reaper may remain
            assert stat.read().rsplit(")", 1)[1].split()[0] == "Z"
