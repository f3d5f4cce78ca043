"""Every version-dependent rule, named: Laravel's releases and the servers we talk to.

Code elsewhere asks a question (`unique_key_uses_xxh128(version)`) instead of comparing
version tuples inline, so supporting a new Laravel release means editing this module
and its tests only. A Laravel version is `(major, minor)`; a bare major means its newest
minor (`12` is `(12, 99)`).

This module is a leaf: it imports nothing from the package.
"""

from __future__ import annotations

import re

LaravelVersion = tuple[int, int]

#: the Laravel majors whose queue formats we read and write
OLDEST_SUPPORTED_MAJOR = 10
NEWEST_SUPPORTED_MAJOR = 13
#: the version assumed when neither LARAVEL_VERSION nor the app says otherwise
DEFAULT_VERSION: LaravelVersion = (12, 99)


def is_supported_major(major: int) -> bool:
    """Laravel 10 to 13."""
    return OLDEST_SUPPORTED_MAJOR <= major <= NEWEST_SUPPORTED_MAJOR


def supported_range_text() -> str:
    """The supported majors as the error messages state them ("10 to 13")."""
    return f"{OLDEST_SUPPORTED_MAJOR} to {NEWEST_SUPPORTED_MAJOR}"


# -- configuration defaults (config/*.php) ---------------------------------------------------------


def slugs_use_hyphens(version: LaravelVersion) -> bool:
    """12.x's skeleton slugs APP_NAME with `-` for the Redis and cache prefixes (before: `_`)."""
    return version >= (12, 0)


def cache_store_variable(version: LaravelVersion) -> str:
    """11.x renamed CACHE_DRIVER to CACHE_STORE."""
    return "CACHE_STORE" if version >= (11, 0) else "CACHE_DRIVER"


def default_cache_store(version: LaravelVersion) -> str:
    """11.x's skeleton caches in the database by default (before: files)."""
    return "database" if version >= (11, 0) else "file"


def cache_prefix_gets_colon(version: LaravelVersion) -> bool:
    """Before 11.x the cache stores append `:` to a non-empty prefix."""
    return version < (11, 0)


# -- keys of unique and overlapping jobs -----------------------------------------------------------


def unique_key_has_separator(version: LaravelVersion) -> bool:
    """11.x writes `laravel_unique_job:Class:id` (10.x: `laravel_unique_job:Classid`)."""
    return version >= (11, 0)


def lock_key_uses_display_name(version: LaravelVersion) -> bool:
    """12.41+ names unique / overlap locks after the job's `displayName()` when it has one."""
    return version >= (12, 41)


def unique_key_uses_xxh128(version: LaravelVersion) -> bool:
    """12.54+ hashes that display name with xxh128 inside the key."""
    return version >= (12, 54)


def unique_lock_has_owner(version: LaravelVersion) -> bool:
    """13.x stamps the lock owner on the command and in the context, so only the owner releases it."""
    return version >= (13, 0)


def context_carries_unique_lock(version: LaravelVersion) -> bool:
    """11.39+ PendingDispatch puts the unique lock's store and key in the hidden context."""
    return version >= (11, 39)


# -- the Queueable trait's properties --------------------------------------------------------------


def queueable_has_laravel11_properties(version: LaravelVersion) -> bool:
    """11.x reordered and extended Queueable's properties (10.x has its own list)."""
    return version >= (11, 0)


def queueable_has_message_group(version: LaravelVersion) -> bool:
    """12.27+ Queueable has `messageGroup` and `deduplicator` (SQS FIFO)."""
    return version >= (12, 27)


def queueable_has_lock_owners(version: LaravelVersion) -> bool:
    """13.x Queueable has `debounceOwner` and `uniqueLockOwner`."""
    return version >= (13, 0)


# -- the job payload ---------------------------------------------------------------------------------


def payload_has_created_at_and_delay(version: LaravelVersion) -> bool:
    """12.11+ payloads carry `createdAt` and `delay`."""
    return version >= (12, 11)


def payload_has_batch_id(version: LaravelVersion) -> bool:
    """12.51+ payloads carry `data.batchId`."""
    return version >= (12, 51)


def payload_has_delete_when_missing_models(version: LaravelVersion) -> bool:
    """13.x payloads carry `deleteWhenMissingModels`."""
    return version >= (13, 0)


# -- servers -----------------------------------------------------------------------------------------


def version_tuple(version: str) -> tuple[int, ...]:
    """The leading dotted number of a server's version string ("8.0.36-log" -> (8, 0, 36))."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else (0,)


def mariadb_version(server_version: str) -> tuple[int, ...] | None:
    """MariaDB's own version from its server string ("5.5.5-10.11.19-MariaDB-..." or
    "10.11.19-MariaDB-..."), None for any other server."""
    if "MariaDB" not in server_version:
        return None
    return version_tuple(server_version.split("5.5.5-", 1)[-1].split("-", 1)[0])


def mariadb_runs_compound_statements(server_version: str) -> bool:
    """MariaDB 10.1.1+ runs `BEGIN NOT ATOMIC ... END` (MySQL has no such statement)."""
    mariadb = mariadb_version(server_version)
    return mariadb is not None and mariadb >= (10, 1, 1)


def supports_skip_locked(dialect: str, server_version: str) -> bool:
    """Laravel's rule: MySQL >= 8.0.1, MariaDB >= 10.6, Vitess >= 19, PostgreSQL >= 9.5; never SQLite."""
    if dialect == "sqlite":
        return False
    mariadb = mariadb_version(server_version)
    if mariadb is not None:
        return mariadb >= (10, 6, 0)
    if "vitess" in server_version or "PlanetScale" in server_version:
        return version_tuple(server_version.split("-", 1)[0]) >= (19, 0)
    if dialect == "mysql":
        return version_tuple(server_version) >= (8, 0, 1)
    return version_tuple(server_version) >= (9, 5)


def redis_scripts_keep_db(redis_version: str) -> bool:
    """Redis 7.0+: a SELECT inside a script no longer leaks to the connection."""
    return version_tuple(redis_version)[0] >= 7


# -- Laravel 13's worker and schema rules (laravel13-deltas.md) -------------------------------------

#: `queue:pause --all` / Queue::pauseAll(): pauses every queue of every connection
GLOBAL_PAUSE_KEY = "illuminate:queues:paused"


def supports_debounce(version: LaravelVersion) -> bool:
    """13.x `#[DebounceFor]` jobs carry `debounceOwner`; superseded ones are deleted unrun."""
    return version >= (13, 0)


def pause_all_key(version: LaravelVersion) -> str | None:
    """13.x workers also read the global pause key (stored forever); None before 13."""
    return GLOBAL_PAUSE_KEY if version >= (13, 0) else None


def database_lock_release_is_single_delete(version: LaravelVersion) -> bool:
    """13.x DatabaseLock::release is `DELETE ... WHERE key = ? AND owner = ?` and its current
    owner ignores expired rows (12.x: read the owner, then delete)."""
    return version >= (13, 0)


def jobs_attempts_small_int(version: LaravelVersion) -> bool:
    """13.x's framework stub makes jobs.attempts unsignedSmallInteger (was unsignedTinyInteger)."""
    return version >= (13, 0)


def failed_jobs_connection_queue_strings(version: LaravelVersion) -> bool:
    """13.x failed_jobs.connection/queue are string(255) with an index (connection, queue, failed_at)."""
    return version >= (13, 0)


def cluster_queue_keys_hash_tagged(version: LaravelVersion) -> bool:
    """13.x RedisQueue on a cluster connection names keys `queues:{name}` unless the name has a tag."""
    return version >= (13, 0)
