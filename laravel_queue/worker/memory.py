"""Resident memory of this process, for Laravel's `--memory` stop check."""

from __future__ import annotations

import os

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ResidentMemory:
    """Resident memory in MiB, read once per loop like Laravel's memory check.

    The /proc file stays open and is re-read with pread: a few microseconds instead of
    an open/read/close per job. It is reopened after a fork (the open file names the
    process that opened it).
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid = -1

    def __call__(self) -> float:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            if self._fd is not None:
                os.close(self._fd)
            try:
                self._fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._fd = None
        if self._fd is not None:
            try:
                return int(os.pread(self._fd, 64, 0).split()[1]) * _PAGE_SIZE / 1048576
            except OSError:
                self._fd = None
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


memory_usage_mb = ResidentMemory()
