"""Unique jobs: the ShouldBeUnique lock released where and when Laravel releases it (spec §12.1)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import laravel_fixture

from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.bus.unique import (
    UniqueConfigError,
    declared_mode,
    resolve_unique_lock,
    unique_lock_key,
    xxh128_hex,
)
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import CONTEXT_KEY, php_json_encode
from laravel_queue.php import PhpObject
from laravel_queue.registry import JobOptions, Registry
from laravel_queue.worker import Worker, WorkerOptions

UNIQUE = "App\\Jobs\\UniqueJob"
FIXTURE = laravel_fixture("redis/unique.json")
KEY = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"


UniqueOptions = JobOptions


# -- the key formula ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "display_name", "expected"),
    [
        ((10, 48), None, "laravel_unique_job:App\\Jobs\\UniqueJob42"),
        ((11, 0), None, "laravel_unique_job:App\\Jobs\\UniqueJob:42"),
        ((12, 40), "Sync products", "laravel_unique_job:App\\Jobs\\UniqueJob:42"),
        ((12, 41), None, "laravel_unique_job:App\\Jobs\\UniqueJob:42"),
        ((12, 41), "Sync products", "laravel_unique_job:Sync products:42"),
        ((12, 53), "Sync products", "laravel_unique_job:Sync products:42"),
        ((12, 54), None, "laravel_unique_job:App\\Jobs\\UniqueJob:42"),
        ((13, 0), "Sync products", "laravel_unique_job:" + xxh128_hex("Sync products") + ":42"),
    ],
)
def test_key_formula_per_laravel_version(version: tuple[int, int], display_name: str | None, expected: str) -> None:
    assert unique_lock_key(UNIQUE, 42, display_name=display_name, version=version) == expected


def test_unique_id_is_converted_as_php_concatenation() -> None:
    assert unique_lock_key(UNIQUE, None) == "laravel_unique_job:App\\Jobs\\UniqueJob:"
    assert unique_lock_key(UNIQUE, True) == "laravel_unique_job:App\\Jobs\\UniqueJob:1"
    assert unique_lock_key(UNIQUE, False) == "laravel_unique_job:App\\Jobs\\UniqueJob:"


def test_xxh128_matches_php(php: str) -> None:
    text = "Sync products — ünïcode"
    out = subprocess.run(
        [php, "-r", "echo hash('xxh128', stream_get_contents(STDIN));"],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.decode() == xxh128_hex(text)


def test_declared_mode_values() -> None:
    assert declared_mode(JobOptions()) is None
    assert declared_mode(UniqueOptions(unique=True)) == "unique"
    assert declared_mode(UniqueOptions(unique="until_processing")) == "until_processing"
    with pytest.raises(UniqueConfigError, match="until_processing"):
        declared_mode(UniqueOptions(unique="sometimes"))


def test_context_key_wins_and_foreign_context_is_ignored() -> None:
    payload = json.loads(FIXTURE["raw_payload"])
    ref = resolve_unique_lock(payload, None, JobOptions(), version=(12, 99))
    assert ref is not None and (ref.store, ref.key, ref.mode) == ("redis", KEY, "unique")
    # A chain's next job inherits its predecessor's context: a key naming another class is not ours.
    payload["data"]["commandName"] = "App\\Jobs\\Other"
    assert resolve_unique_lock(payload, None, JobOptions(), version=(12, 99)) is None
    declared = resolve_unique_lock(payload, None, UniqueOptions(unique=True), version=(12, 99))
    assert declared is not None and declared.key == KEY


def test_computed_key_uses_the_declared_unique_id_or_the_property() -> None:
    payload = json.loads(FIXTURE["raw_payload"])
    del payload[CONTEXT_KEY]
    command = PhpObject(UNIQUE, {"productId": 77})
    assert resolve_unique_lock(payload, command, JobOptions(), version=(12, 99)) is None
    options = UniqueOptions(unique=True, unique_id=lambda c: f"product-{c.productId}")
    ref = resolve_unique_lock(payload, command, options, version=(12, 99))
    assert ref is not None and ref.key == KEY and ref.store is None
    command["uniqueId"] = "prop"
    ref = resolve_unique_lock(payload, command, UniqueOptions(unique="until_processing"), version=(11, 5))
    assert ref is not None and ref.key == "laravel_unique_job:App\\Jobs\\UniqueJob:prop"
    assert ref.mode == "until_processing"


# -- through the real worker, Redis store -------------------------------------------------------


@pytest.fixture
def connections(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ={**redis_env, "QUEUE_FAILED_DRIVER": "null"}))
    yield conns
    conns.close()


@pytest.fixture
def lock_key(redis_env: dict[str, str], redis_client: Any) -> str:
    """The physical lock key on db 0: <redis prefix><cache prefix>laravel_unique_job:..., held by PHP."""
    key = redis_env["REDIS_PREFIX"] + redis_env["CACHE_PREFIX"] + KEY
    redis_client.set(key, "kpqcCyWkDZ73xjHU", ex=3600, nx=True)
    return key


def run_one(connections: Connections, registry: Registry) -> None:
    lifecycle = BusLifecycle(connections, registry=registry)
    Worker(
        connections, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle
    ).run_next_job("redis", ["default"])


def test_lock_released_after_success(connections: Connections, redis_client: Any, lock_key: str) -> None:
    held_during_handle: list[bool] = []
    registry = Registry()
    registry.register(UNIQUE, lambda job, command: held_during_handle.append(bool(redis_client.exists(lock_key))))
    connections.queue("redis").push_raw(FIXTURE["raw_payload"], "default")
    run_one(connections, registry)
    assert held_during_handle == [True]
    assert not redis_client.exists(lock_key)


def test_released_job_keeps_its_lock(connections: Connections, redis_client: Any, lock_key: str) -> None:
    registry = Registry()
    registry.register(UNIQUE, lambda job, command: job.release(60))
    connections.queue("redis").push_raw(FIXTURE["raw_payload"], "default")
    run_one(connections, registry)
    assert redis_client.get(lock_key) == b"kpqcCyWkDZ73xjHU"


def test_failed_job_releases_its_lock(connections: Connections, redis_client: Any, lock_key: str) -> None:
    def fail(job: Any, command: Any) -> None:
        raise RuntimeError("boom")

    registry = Registry()
    registry.register(UNIQUE, fail)
    connections.queue("redis").push_raw(FIXTURE["raw_payload"], "default")
    run_one(connections, registry)
    assert not redis_client.exists(lock_key)


def test_exception_with_retries_left_keeps_the_lock(connections: Connections, redis_client: Any, lock_key: str) -> None:
    def fail(job: Any, command: Any) -> None:
        raise RuntimeError("boom")

    registry = Registry()
    registry.register(UNIQUE, fail, tries=3)
    payload = json.loads(FIXTURE["raw_payload"])
    payload["maxTries"] = 3
    connections.queue("redis").push_raw(php_json_encode(payload), "default")
    run_one(connections, registry)
    assert redis_client.exists(lock_key)


def test_until_processing_lock_released_before_handle(
    connections: Connections, redis_client: Any, lock_key: str
) -> None:
    held_during_handle: list[bool] = []
    registry = Registry()
    registry.register(
        UNIQUE,
        lambda job, command: held_during_handle.append(bool(redis_client.exists(lock_key))),
        options=UniqueOptions(unique="until_processing"),
    )
    connections.queue("redis").push_raw(FIXTURE["raw_payload"], "default")
    run_one(connections, registry)
    assert held_during_handle == [False]


def test_lock_without_context_found_from_the_declaration(
    connections: Connections, redis_client: Any, lock_key: str
) -> None:
    payload = json.loads(FIXTURE["raw_payload"])
    del payload[CONTEXT_KEY]
    registry = Registry()
    registry.register(
        UNIQUE,
        lambda job, command: None,
        options=UniqueOptions(unique=True, unique_id=lambda command: f"product-{command.productId}"),
    )
    connections.queue("redis").push_raw(php_json_encode(payload), "default")
    run_one(connections, registry)
    assert not redis_client.exists(lock_key)


# -- database cache store -------------------------------------------------------------------------


def test_lock_released_in_the_database_store(sqlite_env: dict[str, str]) -> None:
    from laravel_queue.schema import migrate

    conns = Connections(load_settings(environ=sqlite_env))
    try:
        db = conns.db()
        migrate(db)
        prefix = conns.settings.cache.prefix
        db.execute(
            f"insert into {db.table('cache_locks')} (key, owner, expiration) values (?, ?, ?)",
            (prefix + KEY, "kpqcCyWkDZ73xjHU", 4_000_000_000),
        )
        payload = json.loads(laravel_fixture("sqlite/unique.json")["raw_payload"])
        conns.queue("database").push_raw(php_json_encode(payload), "default")
        registry = Registry()
        registry.register(UNIQUE, lambda job, command: None)
        lifecycle = BusLifecycle(conns, registry=registry)
        Worker(conns, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle).run_next_job(
            "database", ["default"]
        )
        assert db.fetch_one(f"select * from {db.table('cache_locks')}") is None
    finally:
        conns.close()
