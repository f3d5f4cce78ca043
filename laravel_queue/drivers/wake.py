"""Wake an idle worker when a job is pushed, instead of sleeping `--sleep` seconds blind.

Laravel's Redis push adds a token to `queues:Q:notify` beside every job (so do its
delayed-job migration and release paths); its worker only waits on that list when
`block_for` is set, and otherwise sleeps `--sleep` seconds between empty polls. Here an
idle worker on Redis with `block_for` unset waits on the notify lists of all its
(unpaused) queues with one BLPOP, for at most `--sleep` seconds: the same longest wait
as Laravel's sleep, but a push ends it at once. An explicit `block_for` keeps Laravel's
meaning (the pop itself blocks). The database driver on PostgreSQL LISTENs instead when
`migrate --notify` installed its insert trigger (drivers/database/notify.py); other drivers
keep sleeping.

Consuming a token is what Laravel's own `block_for` BLPOP does, so PHP workers on the
same queues (with or without `block_for`) see nothing new. The wait is cut in short
slices so a stop signal ends it within `SLICE_SECONDS`, as it ends a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

SLICE_SECONDS = 0.25
"""Longest BLPOP: how long a stop signal may wait for an idle worker to notice it."""


class PushWait(Protocol):
    def __call__(self, queues: Sequence[str], seconds: float, stop: Callable[[], bool]) -> bool: ...


def push_wait_for(driver: Any) -> PushWait | None:
    """The driver's wait-for-a-push (`Queue.push_wait`), or None when the worker should sleep
    as Laravel's does (a driver without one, or one that cannot wait)."""
    offered = getattr(driver, "push_wait", None)
    return offered() if callable(offered) else None


class RedisNotifyWait:
    """BLPOP over the queues' `:notify` lists, in slices, until a token, the deadline or a stop."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def _keys(self, queues: Sequence[str]) -> list[str]:
        keys = [self.driver.keys(queue).notify for queue in queues]
        if getattr(self.driver, "_cluster", False):  # one BLPOP may not span hash slots
            slot = self.driver.client.keyslot
            keys = [key for key in keys if slot(key) == slot(keys[0])]
        return keys

    def __call__(self, queues: Sequence[str], seconds: float, stop: Callable[[], bool]) -> bool:
        """True when a push woke the wait; False after `seconds` or a stop."""
        keys = self._keys(queues)
        if not keys:
            time.sleep(min(seconds, SLICE_SECONDS))
            return False
        deadline = time.monotonic() + seconds
        while not stop():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.driver.client.blpop(keys, timeout=min(remaining, SLICE_SECONDS)) is not None:
                return True
        return False
