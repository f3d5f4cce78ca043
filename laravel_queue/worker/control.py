"""What tells a worker to stop or idle: the restart key, pause keys, maintenance mode.

Laravel reads `illuminate:queue:restart` and `illuminate:queue:paused:<conn>:<queue>`
(13.x: also the global `illuminate:queues:paused`) from the default cache store and
checks maintenance mode once per loop. Here the
restart and pause values are read in one round trip per iteration; where the driver
can read the cache itself (`Queue.control_keys`: a Redis cache on the queue's Redis
server >= 7.0, or a database cache store on the queue's SQLite/MySQL connection) they
ride on the pop (`pop_with_control`): on Redis one round trip per job, on a database
one transaction per job.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.connections import Connections
from laravel_queue.drivers.base import ControlKeys, Queue
from laravel_queue.job import Job

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore

log = logging.getLogger("laravel_queue.worker")

RESTART_KEY = "illuminate:queue:restart"
MAINTENANCE_KEY = "illuminate:foundation:down"

NOT_READ: Any = object()
"""No pop script read the restart key in this iteration."""


def paused_key(connection: str, queue: str) -> str:
    return f"illuminate:queue:paused:{connection}:{queue}"


class WorkerControl:
    """The restart, pause and maintenance reads of one worker, and the pop that carries them."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.settings = connections.settings
        self.last_restart: Any = None
        self.saw_restart = False  # the last pop found a new restart value and popped nothing
        self._cache: CacheStore | None = None
        self._cache_error_logged = False
        self._down_file = str(self.settings.app.base_path / "storage" / "framework" / "down")
        self._maintenance = False
        self._maintenance_checked_at = -1e9
        self._restart_raw: bytes | None = None  # the stored restart value the pop script expects
        self._restart_raw_value: Any = None  # ... and what it decodes to
        self._restart_from_pop: Any = NOT_READ

    # -- the cache ------------------------------------------------------------------------------
    def cache(self) -> CacheStore:
        """The default cache store (restart, pause and maxExceptions keys)."""
        if self._cache is None:
            self._cache = self.connections.cache()
        return self._cache

    def read(self, connection_name: str, queues: list[str]) -> tuple[Any, set[str]]:
        """The restart timestamp and the paused queues, in one cache round trip."""
        keys = [RESTART_KEY] + [paused_key(connection_name, q) for q in queues]
        pause_all = compat.pause_all_key(self.settings.laravel_version)  # 13.x: queue:pause --all
        if pause_all is not None:
            keys.append(pause_all)
        try:
            values = self.cache().many(keys)
        except Exception as exc:  # no cache: Laravel then neither restarts nor pauses
            if not self._cache_error_logged:
                log.warning("cache store unavailable, restart/pause signals not read: %s", exc)
                self._cache_error_logged = True
            return self.last_restart, set()
        paused = {q for q, value in zip(queues, values[1 : 1 + len(queues)], strict=True) if value}
        if pause_all is not None and values[-1]:
            paused = set(queues)
        return values[0], paused

    def restart_changed(self, restart: Any) -> bool:
        return not _loosely_equal(restart, self.last_restart)

    # -- maintenance mode -------------------------------------------------------------------------
    def in_maintenance(self) -> bool:
        """Laravel's isDownForMaintenance, looked up at most once a second (a stat or a cache
        read per job would cost more than the job loop itself)."""
        now = time.monotonic()
        if now - self._maintenance_checked_at >= 1.0:
            self._maintenance_checked_at = now
            self._maintenance = self._read_maintenance()
        return self._maintenance

    def _read_maintenance(self) -> bool:
        app = self.settings.app
        if app.maintenance_driver == "cache":
            try:
                return self.connections.cache(app.maintenance_store).get(MAINTENANCE_KEY) is not None
            except Exception:  # an unreachable store does not stop the worker
                return False
        return os.path.exists(self._down_file)

    # -- control keys read by the pop ---------------------------------------------------------------
    def keys_for(self, queue: Queue, queues: list[str]) -> ControlKeys | None:
        """`ControlKeys` when the driver's pop can read restart and pause itself, else None.

        Redis: a Redis cache on the same server (>= 7.0), read inside the pop script.
        SQLite/MySQL: a database cache store on the queue's connection, read inside the pop
        transaction. Otherwise (None) the worker reads the store once per iteration.
        """
        pause_all = compat.pause_all_key(self.settings.laravel_version)
        if pause_all is not None and not queue.reads_pause_all_key:
            return None  # the pop cannot read the global key too: read the store each iteration
        try:
            control = queue.control_keys(
                self.cache(),
                restart_key=RESTART_KEY,
                paused_keys={q: paused_key(queue.connection_name, q) for q in queues},
                **({"pause_all_key": pause_all} if pause_all is not None else {}),
            )
        except Exception as exc:  # no usable cache: the per-iteration read logs it
            log.debug("restart/pause keys not read by the pop: %s", exc)
            return None
        if control is not None:
            self._restart_raw = _stored_restart(control, self.last_restart)
            self._restart_raw_value = self.last_restart
            self._restart_from_pop = self.last_restart  # just read: the first iteration needs no MGET
        return control

    def for_iteration(
        self, connection_name: str, queues: list[str], control: ControlKeys | None
    ) -> tuple[Any, set[str]]:
        """Restart value and paused queues for this iteration's stop checks and pops.

        With `control`, the previous pop script already read the restart value (a newer
        one makes the next pop script stop without popping) and each pop reads its own
        pause key; the MGET is only needed when no pop ran (worker paused or in
        maintenance, pop error).
        """
        if control is not None and self._restart_from_pop is not NOT_READ:
            restart, self._restart_from_pop = self._restart_from_pop, NOT_READ
            return restart, set()
        return self.read(connection_name, queues)

    def pop(self, queue: Queue, name: str, index: int, ack: Job | None, control: ControlKeys) -> Job | None:
        """One script: ack, read restart and pause, then pop unless restarted or paused.

        A restart value other than the expected one pops nothing and sets `saw_restart`
        so the loop runs its stop checks at once (a value that is only written
        differently, or unreadable, becomes the new expected one).
        A paused queue is skipped when its value is truthy, as Laravel's `(bool) get()`.
        """
        result = queue.pop_with_control(name, index, ack=ack, control=control, restart=self._restart_raw)
        if result.skipped == "restart":
            self._restart_raw = result.restart
            self._restart_raw_value = self._decoded(control, result.restart, fallback=self.last_restart)
            self._restart_from_pop = self._restart_raw_value
            self.saw_restart = True
            return None
        self._restart_from_pop = self._restart_raw_value  # the script found the expected value
        if result.skipped == "paused":
            if self._decoded(control, result.paused, fallback=False):
                return None
            return queue.pop(name, index)  # a falsy value (e.g. `b:0;`): not paused
        return result.job

    def _decoded(self, control: ControlKeys, raw: Any, *, fallback: Any) -> Any:
        """A control value decoded as its cache store would; `fallback` if unreadable (as a failed MGET)."""
        try:
            return control.decode(raw)
        except Exception as exc:
            if not self._cache_error_logged:
                log.warning("unreadable restart/pause value in the cache, ignored: %s", exc)
                self._cache_error_logged = True
            return fallback


def _loosely_equal(a: Any, b: Any) -> bool:
    """PHP's `==` for the restart timestamp: "1714000000" equals 1714000000."""
    if a is None or b is None:
        return a is b
    return str(a) == str(b)


def _stored_restart(control: ControlKeys, value: Any) -> Any:
    """The stored form of a restart value (a guess is fine: a mismatch is re-read)."""
    if value is None:
        return None
    try:
        return control.encode(value)
    except Exception:
        return b""
