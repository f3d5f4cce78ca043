"""Typed doors to prometheus_client's multiprocess helpers, which ship without annotations.

prometheus_client 0.26 (the newest) marks its package `py.typed` but leaves `get_value_class`,
`MultiProcessCollector.__init__` and `mark_process_dead` unannotated, so strict mypy would
treat each call as untyped. Each wrapper below casts one helper to the signature its source
has, in one place, instead of relaxing the checker for the modules that call them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client import CollectorRegistry


def refresh_value_class() -> None:
    """Let prometheus_client pick its value class again from PROMETHEUS_MULTIPROC_DIR as it is now."""
    from prometheus_client import values

    get_value_class = cast(Callable[[], type], values.get_value_class)
    values.ValueClass = get_value_class()


def add_multiprocess_collector(registry: CollectorRegistry, path: str) -> None:
    """Register on `registry` a collector that adds up every process's samples in `path`."""
    from prometheus_client import multiprocess

    collector = cast(Callable[[CollectorRegistry, str], object], multiprocess.MultiProcessCollector)
    collector(registry, path)


def mark_process_dead(pid: int, path: str) -> None:
    """Drop the live gauges (e.g. a heartbeat) that process `pid` left in `path`."""
    from prometheus_client import multiprocess

    mark_dead = cast(Callable[[int, str], None], multiprocess.mark_process_dead)
    mark_dead(pid, path)
