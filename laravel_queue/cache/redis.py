"""Laravel's Redis cache store and lock (`RedisStore`, `RedisLock`), byte-compatible.

PHP and Python read each other's restart signal, pause flags, exception counters,
unique-job and overlap locks and scheduler mutexes through these keys and values
(spec §13.1, §13.3): key = Redis connection prefix + cache prefix (+ `:` before
Laravel 11) + key; numbers stored as decimal strings, everything else PHP-serialized;
values on the store's `connection`, locks on its `lock_connection`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from laravel_queue import compat
from laravel_queue.cache.base import CacheStore, Lock
from laravel_queue.redis_client import redis_key_prefix
from laravel_queue.support import php_float_to_string, str_random

if TYPE_CHECKING:
    from laravel_queue.config.settings import CacheStoreConfig, Settings
    from laravel_queue.resources import Resources

# KEYS: key   ARGV: value, seconds   (Laravel's `add`: set only when absent)
ADD = "return redis.call('exists', KEYS[1]) < 1 and redis.call('setex', KEYS[1], ARGV[2], ARGV[1])"

# KEYS: key   ARGV: owner   (release only if we still own it)
RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end
"""

# KEYS: key   ARGV: owner, seconds   (extend only if we still own it; 0 = no expiry)
REFRESH_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    if tonumber(ARGV[2]) > 0 then
        redis.call('expire', KEYS[1], ARGV[2])
    else
        redis.call('persist', KEYS[1])
    end
    return 1
end
return 0
"""

# PHP 8 `is_numeric` on a string: optional surrounding whitespace, sign, decimal or exponent.
_PHP_NUMERIC = re.compile(rb"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_PHP_INTEGER = re.compile(rb"^[ \t\n\r\v\f]*[+-]?\d+[ \t\n\r\v\f]*$")




def cache_key_prefix(settings: Settings, cfg: CacheStoreConfig) -> str:
    """The cache part of the key: `PFX_C`, plus `:` on Laravel ≤ 10 when non-empty."""
    prefix = cfg.prefix if cfg.prefix is not None else settings.cache.prefix
    if prefix and compat.cache_prefix_gets_colon(settings.laravel_version):
        prefix += ":"
    return prefix


def encode_value(value: Any) -> bytes:
    """RedisStore::serialize: finite numbers as decimal strings, the rest PHP-serialized."""
    from laravel_queue.php import dumps

    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    if isinstance(value, float) and math.isfinite(value):
        return php_float_to_string(value).encode()
    if isinstance(value, str) and _PHP_NUMERIC.match(value.encode()):
        return value.encode()
    return dumps(value)


def decode_value(raw: bytes | None) -> Any:
    """RedisStore::unserialize: numeric strings as numbers, the rest PHP-unserialized."""
    if raw is None:
        return None
    if _PHP_NUMERIC.match(raw):
        return int(raw) if _PHP_INTEGER.match(raw) else float(raw)
    from laravel_queue.php import loads

    return loads(raw)




class RedisLock(Lock):
    """`Cache::lock()` on Redis: SET NX (EX), owner-checked release."""

    def __init__(self, store: RedisStore, name: str, seconds: int, owner: str) -> None:
        super().__init__(name, seconds, owner)
        self.store = store
        self.key = store.lock_prefix + name

    def acquire(self) -> bool:
        client = self.store.lock_client
        if self.seconds > 0:
            return bool(client.set(self.key, self.owner, ex=self.seconds, nx=True))
        return bool(client.setnx(self.key, self.owner))

    def release(self) -> bool:
        return bool(self.store._release_lock(keys=[self.key], args=[self.owner]))

    def refresh(self, seconds: int | None = None) -> bool:
        """Extend our own lock by `seconds` (default: its original TTL)."""
        ttl = self.seconds if seconds is None else seconds
        return bool(self.store._refresh_lock(keys=[self.key], args=[self.owner, ttl]))

    def force_release(self) -> None:
        self.store.lock_client.delete(self.key)

    def get_current_owner(self) -> str | None:
        owner = self.store.lock_client.get(self.key)
        return None if owner is None else owner.decode("utf-8", "replace")

    def is_owned_by_current_process(self) -> bool:
        return self.get_current_owner() == self.owner


class RedisStore(CacheStore):
    """Laravel's Redis cache store (Repository semantics for put/add TTLs ≤ 0)."""

    def __init__(self, client: Any, lock_client: Any, *, prefix: str, lock_prefix: str) -> None:
        self.client = client
        self.lock_client = lock_client
        self.prefix = prefix
        self.lock_prefix = lock_prefix
        self._add = client.register_script(ADD)
        self._add_loaded = False
        self._release_lock = lock_client.register_script(RELEASE_LOCK)
        self._refresh_lock = lock_client.register_script(REFRESH_LOCK)

    @classmethod
    def from_config(cls, connections: Resources, cfg: CacheStoreConfig) -> RedisStore:
        settings = connections.settings
        value_connection = cfg.connection or "default"
        lock_connection = cfg.lock_connection or value_connection
        cache_prefix = cache_key_prefix(settings, cfg)
        return cls(
            connections.redis(value_connection),
            connections.redis(lock_connection),
            prefix=redis_key_prefix(settings, value_connection) + cache_prefix,
            lock_prefix=redis_key_prefix(settings, lock_connection) + cache_prefix,
        )

    def key(self, key: str) -> str:
        """The physical key of a logical cache key on the value connection."""
        return self.prefix + key

    def get(self, key: str) -> Any:
        return decode_value(self.client.get(self.prefix + key))

    def many(self, keys: Sequence[str]) -> list[Any]:
        if not keys:
            return []
        return [decode_value(raw) for raw in self.client.mget([self.prefix + k for k in keys])]

    def put(self, key: str, value: Any, seconds: int) -> None:
        if seconds <= 0:
            self.forget(key)
            return
        # SETEX, as Laravel sends it (redis-py deprecates its setex() helper)
        self.client.execute_command("SETEX", self.prefix + key, max(1, int(seconds)), encode_value(value))

    def forever(self, key: str, value: Any) -> None:
        self.client.set(self.prefix + key, encode_value(value))

    def add(self, key: str, value: Any, seconds: int) -> bool:
        if seconds <= 0:
            return False
        return bool(self._add(keys=[self.prefix + key], args=[encode_value(value), max(1, int(seconds))]))

    def increment(self, key: str, by: int = 1) -> int | None:
        return int(self.client.incrby(self.prefix + key, by))

    def decrement(self, key: str, by: int = 1) -> int | None:
        return int(self.client.decrby(self.prefix + key, by))

    def forget(self, key: str) -> bool:
        return bool(self.client.delete(self.prefix + key))

    def add_timer_add_and_increment(self, key: str, timer_value: int, seconds: int, by: int = 1) -> tuple[bool, int]:
        """The same EVALSHA, EVALSHA, INCRBY as three calls, pipelined (not MULTI): one round trip."""
        if seconds <= 0:
            return super().add_timer_add_and_increment(key, timer_value, seconds, by)
        physical, ttl = self.prefix + key, max(1, int(seconds))
        for attempt in (1, 2):
            if not self._add_loaded:
                self.client.script_load(ADD)
                self._add_loaded = True
            pipe = self.client.pipeline(transaction=False)
            pipe.evalsha(self._add.sha, 1, physical + ":timer", encode_value(timer_value), ttl)
            pipe.evalsha(self._add.sha, 1, physical, b"0", ttl)
            pipe.incrby(physical, by)
            try:
                _, added, hits = pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
                self._add_loaded = False  # the server lost its scripts (restart, SCRIPT FLUSH)
                continue
            return bool(added), int(hits)
        raise AssertionError("unreachable")

    def lock(self, name: str, seconds: int = 0, owner: str | None = None) -> RedisLock:
        return RedisLock(self, name, int(seconds), owner or str_random(16))

    def close(self) -> None:
        """Nothing to do: the clients belong to `Connections`, which closes them."""
