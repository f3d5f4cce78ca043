"""The Redis cache store and locks: Laravel's keys, values and lock commands on a real Redis."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from conftest import FIXTURES

from laravel_queue.cache.redis import RedisLock, RedisStore, decode_value, encode_value
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections

LARAVEL_PREFIX = "laravel-database-"


def monitor_commands(relative: str) -> list[tuple[int, list[str]]]:
    """(db, args) of the client commands in a captured MONITOR transcript."""
    commands = []
    for line in (FIXTURES / "laravel" / relative).read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\d+\.\d+ \[(\d+) (\S+)\] (.*)$", line)
        if match and match.group(2) != "lua":
            args = [
                a.replace('\\"', '"').replace("\\\\", "\\") for a in re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(3))
            ]
            commands.append((int(match.group(1)), args))
    return commands


@pytest.fixture
def env(redis_env: dict[str, str]) -> dict[str, str]:
    """The capture's cache prefix (`laravel-cache-`) under this test's Redis prefix."""
    return {**redis_env, "CACHE_PREFIX": "laravel-cache-"}


@pytest.fixture
def connections(env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=env))
    yield conns
    conns.close()


@pytest.fixture
def store(connections: Connections) -> RedisStore:
    cache = connections.cache("redis")
    assert isinstance(cache, RedisStore)
    return cache


@pytest.fixture
def db(redis_server: tuple[str, int]) -> Iterator[dict[int, Any]]:
    clients = {n: redis.Redis(host=redis_server[0], port=redis_server[1], db=n) for n in (0, 1)}
    yield clients
    for client in clients.values():
        client.close()


def physical(key: str, redis_prefix: str) -> str:
    """A key from a transcript, moved under this test's Redis prefix."""
    assert key.startswith(LARAVEL_PREFIX)
    return redis_prefix + key[len(LARAVEL_PREFIX) :]


def test_restart_signal_matches_queue_restart_transcript(
    store: RedisStore, db: dict[int, Any], redis_prefix: str
) -> None:
    [_, (dbnum, (command, key, value))] = monitor_commands("redis-monitor/17-queue-restart-command.txt")
    assert (dbnum, command) == (1, "SET")
    store.forever("illuminate:queue:restart", int(value))
    assert db[1].get(physical(key, redis_prefix)) == value.encode()
    assert db[1].ttl(physical(key, redis_prefix)) == -1
    assert store.get("illuminate:queue:restart") == int(value)


def test_paused_flag_and_many_read_php_values(store: RedisStore, db: dict[int, Any], redis_prefix: str) -> None:
    [(_, (_, paused_key))] = [
        c for c in monitor_commands("redis-monitor/05-worker-once-pop-ack.txt") if c[1][0] == "GET"
    ]
    db[1].set(physical(paused_key, redis_prefix), b"b:1;")  # as `queue:pause redis:default` writes it
    db[1].set(f"{redis_prefix}laravel-cache-job-exceptions:abc", b"2")
    assert store.many(["illuminate:queue:paused:redis:default", "job-exceptions:abc", "missing"]) == [True, 2, None]
    store.forever("illuminate:queue:paused:redis:emails", True)
    assert db[1].get(f"{redis_prefix}laravel-cache-illuminate:queue:paused:redis:emails") == b"b:1;"


def test_unique_job_lock_matches_dispatch_and_worker_transcripts(
    store: RedisStore, db: dict[int, Any], redis_prefix: str
) -> None:
    [(dbnum, set_args)] = [c for c in monitor_commands("redis-monitor/04-dispatch-unique.txt") if c[1][0] == "SET"]
    _, key, owner, _, seconds, _ = set_args
    name = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"
    assert key == LARAVEL_PREFIX + "laravel-cache-" + name
    lock = store.lock(name, int(seconds), owner)
    assert lock.acquire()
    assert dbnum == 0 and db[0].get(physical(key, redis_prefix)) == owner.encode()
    assert 3590 < db[0].ttl(physical(key, redis_prefix)) <= 3600
    assert not store.lock(name, 10).acquire()
    assert store.restore_lock(name, owner).get_current_owner() == owner
    [(deldb, (_, del_key))] = [
        c for c in monitor_commands("redis-monitor/11-worker-once-unique-job.txt") if c[1][0] == "DEL"
    ]
    assert (deldb, del_key) == (0, key)
    lock.force_release()
    assert db[0].exists(physical(key, redis_prefix)) == 0


def test_scheduler_mutex_keys_match_schedule_run(store: RedisStore, db: dict[int, Any], redis_prefix: str) -> None:
    sets = [a for dbnum, a in monitor_commands("scheduler/03-monitor-schedule-run-one-minute.txt") if a[0] == "SET"]
    overlap, one_server = sets[0], sets[1]
    mutex = overlap[1][len(LARAVEL_PREFIX + "laravel-cache-") :]
    assert one_server[1].endswith("0658")
    lock = store.lock(mutex, int(overlap[4]))
    assert lock.acquire()
    assert db[0].ttl(physical(overlap[1], redis_prefix)) > 590
    assert lock.release() is True
    assert not db[0].exists(physical(overlap[1], redis_prefix))
    assert store.lock(mutex + "0658", 3600).acquire()
    left = (FIXTURES / "laravel" / "scheduler" / "03c-redis-keys-after-run.txt").read_text().split()
    assert physical(left[1], redis_prefix).encode() in db[0].keys(f"{redis_prefix}*")


def test_lock_release_is_owner_checked_and_refresh(store: RedisStore, db: dict[int, Any], redis_prefix: str) -> None:
    mine = store.lock("laravel-queue-overlap:job", 60, "me")
    assert isinstance(mine, RedisLock) and mine.acquire()
    theirs = store.lock("laravel-queue-overlap:job", 60, "them")
    assert not theirs.acquire() and not theirs.release() and not theirs.refresh()
    assert mine.is_owned_by_current_process()
    assert mine.refresh(500)
    assert db[0].ttl(f"{redis_prefix}laravel-cache-laravel-queue-overlap:job") > 400
    assert mine.refresh(0) and db[0].ttl(f"{redis_prefix}laravel-cache-laravel-queue-overlap:job") == -1
    assert mine.release() and mine.get_current_owner() is None
    forever = store.lock("no-ttl")
    assert forever.acquire() and db[0].ttl(f"{redis_prefix}laravel-cache-no-ttl") == -1
    assert len(forever.owner) == 16 and forever.owner.isalnum()


def test_put_add_increment_forget(store: RedisStore, db: dict[int, Any], redis_prefix: str) -> None:
    physical_key = f"{redis_prefix}laravel-cache-k"
    store.put("k", {"a": [1, 2]}, 0)
    assert not db[1].exists(physical_key)
    store.put("k", {"a": [1, 2]}, 30)
    assert db[1].get(physical_key) == b'a:1:{s:1:"a";a:2:{i:0;i:1;i:1;i:2;}}'
    assert 0 < db[1].ttl(physical_key) <= 30
    assert store.get("k") == {"a": [1, 2]}
    assert store.add("k", "other", 30) is False
    assert store.add("fresh", "v", 30) is True and db[1].get(f"{redis_prefix}laravel-cache-fresh") == b's:1:"v";'
    assert store.add("never", "v", 0) is False
    assert store.increment("job-exceptions:x") == 1
    assert store.increment("job-exceptions:x", 4) == 5 and store.decrement("job-exceptions:x") == 4
    assert store.get("job-exceptions:x") == 4
    assert store.forget("k") is True and store.forget("k") is False
    assert store.many([]) == []


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1795417316, b"1795417316"),
        (-7, b"-7"),
        (0.1, b"0.1"),
        (1.0, b"1"),
        (1e25, b"1.0E+25"),
        (1.5e-7, b"1.5E-7"),
        ("42", b"42"),
        (True, b"b:1;"),
        (None, b"N;"),
        ("text", b's:4:"text";'),
        (float("inf"), b"d:INF;"),
    ],
)
def test_value_encoding_follows_laravel(value: Any, stored: bytes) -> None:
    assert encode_value(value) == stored


@pytest.mark.parametrize(
    ("stored", "value"),
    [(b"1795417316", 1795417316), (b" 12 ", 12), (b"1.5", 1.5), (b"1e3", 1000.0), (b"b:0;", False), (b"i:5;", 5)],
)
def test_value_decoding_follows_laravel(stored: bytes, value: Any) -> None:
    assert decode_value(stored) == value


@pytest.mark.parametrize(
    ("version", "cache_prefix", "expected"),
    [
        ("12", "laravel-cache-", "laravel-cache-illuminate:queue:restart"),
        ("11", "laravel_cache_", "laravel_cache_illuminate:queue:restart"),
        ("10", "laravel_cache_", "laravel_cache_:illuminate:queue:restart"),
        ("10", "laravel_cache", "laravel_cache:illuminate:queue:restart"),
        ("10", "", "illuminate:queue:restart"),
    ],
)
def test_key_formula_per_laravel_version(
    redis_env: dict[str, str], redis_client: Any, redis_prefix: str, version: str, cache_prefix: str, expected: str
) -> None:
    env = {**redis_env, "LARAVEL_VERSION": version, "CACHE_PREFIX": cache_prefix}
    conns = Connections(load_settings(environ=env))
    try:
        store = conns.cache("redis")
        assert isinstance(store, RedisStore)
        assert store.key("illuminate:queue:restart") == redis_prefix + expected
        assert store.lock("illuminate:queue:restart").key == redis_prefix + expected
    finally:
        conns.close()


def test_store_level_prefix_overrides_cache_prefix(redis_client: Any, redis_env: dict[str, str]) -> None:
    settings = load_settings(environ=redis_env)
    cfg = settings.cache.stores["redis"].model_copy(update={"prefix": "own-"})
    conns = Connections(settings)
    try:
        store = RedisStore.from_config(conns, cfg)
        assert store.key("k") == settings.database.redis.prefix + "own-k"
    finally:
        conns.close()
