"""Version-dependent rules, one named predicate each (Laravel 10 to 13)."""

from __future__ import annotations

Version = tuple[int, int]

# -- Laravel 13 (laravel13-deltas.md) -------------------------------------------------------

GLOBAL_PAUSE_KEY = "illuminate:queues:paused"


def payload_has_delete_when_missing_models(v: Version) -> bool:
    """13.0: object payloads carry `deleteWhenMissingModels`; the worker reads only that key."""
    return v >= (13, 0)


def unique_lock_has_owner(v: Version) -> bool:
    """13.0: the unique lock's owner is in the command (`uniqueLockOwner`) and the hidden
    context; release is owner-checked (restoreLock(key, owner)->release())."""
    return v >= (13, 0)


def supports_debounce(v: Version) -> bool:
    """13.0: `#[DebounceFor]` jobs carry `debounceOwner`; superseded ones are deleted unrun."""
    return v >= (13, 0)


def pause_all_key(v: Version) -> str | None:
    """13.0: `queue:pause --all` writes `illuminate:queues:paused` (forever); None before 13."""
    return GLOBAL_PAUSE_KEY if v >= (13, 0) else None


def database_lock_release_is_single_delete(v: Version) -> bool:
    """13.0: DatabaseLock::release is `DELETE ... WHERE key=? AND owner=?`; getCurrentOwner
    ignores expired rows."""
    return v >= (13, 0)


def jobs_attempts_small_int(v: Version) -> bool:
    """13.0 framework stub: jobs.attempts is unsignedSmallInteger (was unsignedTinyInteger)."""
    return v >= (13, 0)


def failed_jobs_connection_queue_strings(v: Version) -> bool:
    """13.0: failed_jobs.connection/queue are string(255) with an index (connection, queue, failed_at)."""
    return v >= (13, 0)


def redis_cluster_hash_tags_queue_keys(v: Version) -> bool:
    """13.0: on a cluster connection the queue key is `queues:{name}` unless it has a hash tag."""
    return v >= (13, 0)
