"""`queue:pause --all` / `queue:resume --all` (Laravel 13's Queue::pauseAll / resumeAll).

One cache key, `illuminate:queues:paused`, stored forever in the default cache store,
pauses every queue of every connection for every 13.x worker, PHP or Python. Workers
before 13 never read it, so under `LARAVEL_VERSION` <= 12 the command refuses instead of
writing a key nothing would honour.
"""

from __future__ import annotations

from typing import Any

from laravel_queue import compat
from laravel_queue.errors import ConfigurationError


def _key(connections: Any) -> str:
    version = connections.settings.laravel_version
    key = compat.pause_all_key(version)
    if key is None:
        raise ConfigurationError(
            f"--all needs Laravel 13 (LARAVEL_VERSION is {version[0]}): workers before 13 do not read "
            f"{compat.GLOBAL_PAUSE_KEY}; pause each queue instead"
        )
    return key


def pause_all(connections: Any) -> None:
    """QueueManager::pauseAll: the global key, `true`, forever."""
    connections.cache().forever(_key(connections), True)


def resume_all(connections: Any) -> None:
    """QueueManager::resumeAll: forget the global key (per-queue pauses stay)."""
    connections.cache().forget(_key(connections))
