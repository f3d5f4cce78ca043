"""The worker's restart and pause keys, read inside the Redis pop script (`pop_with_control`).

Separate from the driver because this is about the cache store, not the queue: whether
one script can reach the store's keys (same server and user, no cluster, Redis >= 7.0
so a SELECT inside a script leaves the connection's database alone) and what those keys
are called there. The driver only carries them into its pop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.redis_client import is_cluster

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore

__all__ = ["ControlKeys", "control_keys_for", "scripts_keep_db"]

log = logging.getLogger("laravel_queue.redis")

# What identifies one server for a redis-py client (TCP or unix socket).
_SERVER_FIELDS = ("host", "port", "path", "username")


@dataclass(frozen=True)
class ControlKeys:
    """The worker's restart and pause keys as physical names on the cache database.

    Built by `RedisQueue.control_keys`, only when `pop_with_control` can read them.
    Values are RedisStore's stored bytes.
    """

    cache_db: int
    restart: str
    paused: Mapping[str, str]  # queue name -> its paused key
    pause_all: str | None = None  # Laravel 13's global paused key, read after the queue's

    def encode(self, value: Any) -> bytes:
        from laravel_queue.cache.redis import encode_value

        return encode_value(value)

    def decode(self, raw: bytes | None) -> Any:
        from laravel_queue.cache.redis import decode_value

        return decode_value(raw)


def control_keys_for(
    client: Any,
    store: CacheStore,
    *,
    restart_key: str,
    paused_keys: Mapping[str, str],
    pause_all_key: str | None,
    scripts_keep_db: Callable[[], bool],
) -> ControlKeys | None:
    """The keys a pop script on `client` can read from `store`, or None when it cannot reach them.

    `scripts_keep_db` is asked last (it may cost a round trip): the queue's cached answer.
    """
    from laravel_queue.cache.redis import RedisStore

    if not isinstance(store, RedisStore) or is_cluster(client) or is_cluster(store.client):
        return None
    ours = client.connection_pool.connection_kwargs
    theirs = store.client.connection_pool.connection_kwargs
    if any(ours.get(field) != theirs.get(field) for field in _SERVER_FIELDS):
        return None
    if not scripts_keep_db():
        return None
    return ControlKeys(
        cache_db=int(theirs.get("db") or 0),
        restart=store.key(restart_key),
        paused={queue: store.key(key) for queue, key in paused_keys.items()},
        pause_all=None if pause_all_key is None else store.key(pause_all_key),
    )


def scripts_keep_db(client: Any) -> bool:
    """Redis >= 7.0 (asks INFO): before 7.0 a SELECT in a script leaked to the connection."""
    try:
        version = str(client.info("server").get("redis_version", "0"))
        return compat.redis_scripts_keep_db(version)
    except Exception as exc:  # INFO denied or unreachable: keep the plain path
        log.info("Redis version unknown (%s); restart/pause keys read separately", exc)
        return False
