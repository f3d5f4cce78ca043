"""ShouldBeUnique at dispatch from Python: the lock PHP's PendingDispatch takes (spec §12.1, §2.4, §18 item 18).

A unique command takes `laravel_unique_job:<class>:<uniqueId>` in its cache store before it
is pushed, names the lock in the payload's hidden context (so PHP or our worker releases a
lock that was really taken), and is silently not queued while the lock is held.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import laravel_fixture

from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.config import ConfigError, load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import Command, DispatchError, dispatch
from laravel_queue.payload import CONTEXT_KEY
from laravel_queue.php import PhpObject, dumps, loads
from laravel_queue.registry import JobOptions, Registry
from laravel_queue.schedule import Schedule
from laravel_queue.schedule.context import ScheduleContext
from laravel_queue.worker import Worker, WorkerOptions

UNIQUE = "App\\Jobs\\UniqueJob"
STEP = "App\\Jobs\\StepJob"
KEY = "laravel_unique_job:App\\Jobs\\UniqueJob:product-77"
OWNER = re.compile(r"^[A-Za-z0-9]{16}$")
RANDOM_FIELDS = ("uuid", "createdAt", "id")


def unique_command(unique_for: int | None = 3600, **knobs: Any) -> Command:
    options = JobOptions(unique=True, unique_id="product-77", unique_for=unique_for, **knobs)
    return Command(UNIQUE, {"productId": 77}, options=options)


def assert_same_envelope(built: dict[str, Any], expected: dict[str, Any]) -> None:
    """Field for field and in Laravel's order (context included); only random values and times differ."""
    assert list(built) == list(expected)
    for key, value in expected.items():
        if key not in RANDOM_FIELDS:
            assert built[key] == value, key


def fixture_envelope(relative: str) -> dict[str, Any]:
    return json.loads(laravel_fixture(relative)["raw_payload"])


def run_one(connections: Connections, registry: Registry, connection: str) -> None:
    lifecycle = BusLifecycle(connections, registry=registry)
    Worker(
        connections, registry=registry, options=WorkerOptions(memory=4096, sleep=0), lifecycle=lifecycle
    ).run_next_job(connection, ["default"])


# -- Redis queue, Redis cache store ---------------------------------------------------------------


@pytest.fixture
def env(sqlite_env: dict[str, str], redis_env: dict[str, str]) -> dict[str, str]:
    return {**sqlite_env, **redis_env}


@pytest.fixture
def connections(env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=env))
    yield conns
    conns.close()


@pytest.fixture
def lock_key(env: dict[str, str]) -> str:
    """Where Laravel keeps the lock: <redis prefix><cache prefix><key> on db 0 (the lock connection)."""
    return env["REDIS_PREFIX"] + env["CACHE_PREFIX"] + KEY


def queued(redis_client: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis_client.lrange(env["REDIS_PREFIX"] + "queues:default", 0, -1)]


def test_fixture_lock_key_is_prefix_plus_key() -> None:
    [lock] = [k for k in laravel_fixture("redis/unique.json")["other_redis_keys"] if "unique" in k["key"]]
    assert lock["key"] == "laravel-database-" + "laravel-cache-" + KEY and lock["redis_db"] == 0


def test_unique_dispatch_takes_the_lock_and_writes_laravels_envelope(
    connections: Connections, redis_client: Any, env: dict[str, str], lock_key: str
) -> None:
    job_id = dispatch(unique_command(), connections=connections, registry=Registry())
    [payload] = queued(redis_client, env)
    assert payload["id"] == job_id and len(job_id) == 32
    assert_same_envelope(payload, fixture_envelope("redis/unique.json"))
    owner = redis_client.get(lock_key).decode()
    assert OWNER.match(owner)
    assert 3_590_000 < redis_client.pttl(lock_key) <= 3_600_000


def test_unique_for_zero_is_a_lock_without_expiry(connections: Connections, redis_client: Any, lock_key: str) -> None:
    dispatch(unique_command(unique_for=None), connections=connections, registry=Registry())
    assert OWNER.match(redis_client.get(lock_key).decode())
    assert redis_client.ttl(lock_key) == -1


def test_second_dispatch_while_held_queues_nothing(
    connections: Connections,
    redis_client: Any,
    env: dict[str, str],
    lock_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert dispatch(unique_command(), connections=connections, registry=Registry()) is not None
    owner = redis_client.get(lock_key)
    with caplog.at_level(logging.INFO, logger="laravel_queue.dispatch"):
        assert dispatch(unique_command(), connections=connections, registry=Registry()) is None
    assert len(queued(redis_client, env)) == 1
    assert redis_client.get(lock_key) == owner  # the first dispatch still owns it
    assert any("unique job already queued" in r.getMessage() for r in caplog.records)


def test_python_worker_releases_the_lock_so_a_third_dispatch_succeeds(
    connections: Connections, redis_client: Any, env: dict[str, str], lock_key: str
) -> None:
    handled: list[bool] = []
    registry = Registry()
    registry.register(
        UNIQUE,
        lambda job, command: handled.append(bool(redis_client.exists(lock_key))),
        unique=True,
        unique_id=lambda command: f"product-{command.productId}",
        unique_for=3600,
    )
    command = Command(UNIQUE, {"productId": 77})  # knobs from the registration
    assert dispatch(command, connections=connections, registry=registry) is not None
    assert dispatch(command, connections=connections, registry=registry) is None
    run_one(connections, registry, "redis")
    assert handled == [True] and not redis_client.exists(lock_key)
    assert dispatch(command, connections=connections, registry=registry) is not None
    assert len(queued(redis_client, env)) == 1 and redis_client.exists(lock_key)


@dataclass
class UniqueJob:
    productId: int

    def handle(self) -> None:
        return None


def test_bound_dataclass_reads_unique_id_and_unique_for_properties(
    connections: Connections, redis_client: Any, env: dict[str, str]
) -> None:
    """Without declarations PHP reads the public `uniqueId` / `uniqueFor` properties."""

    @dataclass
    class WithProperties:
        productId: int
        uniqueId: str = "p"
        uniqueFor: int = 60

    registry = Registry()
    registry.register(UNIQUE, WithProperties, unique="until_processing")
    dispatch(WithProperties(5, "p-5"), connections=connections, registry=registry)
    key = env["REDIS_PREFIX"] + env["CACHE_PREFIX"] + "laravel_unique_job:App\\Jobs\\UniqueJob:p-5"
    assert 0 < redis_client.ttl(key) <= 60
    assert dispatch(WithProperties(5, "p-5"), connections=connections, registry=registry) is None

    registry.register(UNIQUE, UniqueJob, unique=True, unique_id=lambda job: f"product-{job.productId}")
    dispatch(UniqueJob(77), connections=connections, registry=registry)
    [_, payload] = queued(redis_client, env)
    hidden = payload[CONTEXT_KEY]["hidden"]
    assert loads(hidden["laravel_unique_job_key"]) == KEY


def test_failed_push_releases_the_lock(connections: Connections, redis_client: Any, lock_key: str) -> None:
    with pytest.raises(ConfigError):
        dispatch(unique_command(), connection="nowhere", connections=connections, registry=Registry())
    assert not redis_client.exists(lock_key)
    encrypted = Command(UNIQUE, {"productId": 77}, should_be_encrypted=True, options=unique_command().options)
    with pytest.raises(DispatchError):  # no APP_KEY to encrypt with: fails after the lock was taken
        dispatch(encrypted, connections=connections, registry=Registry())
    assert not redis_client.exists(lock_key)
    assert dispatch(unique_command(), connections=connections, registry=Registry()) is not None


def test_bad_unique_for_is_refused_before_anything_is_taken(
    connections: Connections, redis_client: Any, env: dict[str, str]
) -> None:
    command = Command(UNIQUE, {"productId": 77, "uniqueFor": "soon"}, options=JobOptions(unique=True))
    with pytest.raises(DispatchError, match="uniqueFor"):
        dispatch(command, connections=connections, registry=Registry())
    assert queued(redis_client, env) == [] and not redis_client.keys(env["REDIS_PREFIX"] + "*unique*")


def test_unique_via_names_another_store(
    connections: Connections, redis_client: Any, env: dict[str, str], lock_key: str
) -> None:
    from laravel_queue.schema import migrate

    db = connections.db()
    migrate(db)
    dispatch(unique_command(unique_via="database"), connections=connections, registry=Registry())
    assert not redis_client.exists(lock_key)
    [row] = db.fetch_all(f"select * from {db.table('cache_locks')}")
    assert row["key"] == env["CACHE_PREFIX"] + KEY
    [payload] = queued(redis_client, env)
    assert payload[CONTEXT_KEY]["hidden"]["laravel_unique_job_cache_store"] == 's:8:"database";'


def test_existing_context_is_kept_and_extended(
    connections: Connections, redis_client: Any, env: dict[str, str]
) -> None:
    context = {"data": {"tenant": 's:4:"acme";'}, "hidden": {"trace": 's:3:"abc";'}}
    dispatch(unique_command(), connections=connections, registry=Registry(), context=context)
    [payload] = queued(redis_client, env)
    assert payload[CONTEXT_KEY] == {
        "data": {"tenant": 's:4:"acme";'},
        "hidden": {
            "trace": 's:3:"abc";',
            "laravel_unique_job_cache_store": 's:5:"redis";',
            "laravel_unique_job_key": dumps(KEY).decode(),
        },
    }


def test_non_unique_dispatch_takes_no_lock(connections: Connections, redis_client: Any, env: dict[str, str]) -> None:
    dispatch(Command(UNIQUE, {"productId": 77}), connections=connections, registry=Registry())
    dispatch(Command(UNIQUE, {"productId": 77}), connections=connections, registry=Registry())
    assert len(queued(redis_client, env)) == 2
    assert CONTEXT_KEY not in queued(redis_client, env)[0]
    assert not redis_client.keys(env["REDIS_PREFIX"] + "*unique*")


# -- versions ---------------------------------------------------------------------------------------


def test_before_11_39_the_lock_is_taken_without_context(env: dict[str, str], redis_client: Any) -> None:
    conns = Connections(load_settings(environ={**env, "LARAVEL_VERSION": "11.38"}))
    try:
        dispatch(unique_command(), connections=conns, registry=Registry())
        [payload] = queued(redis_client, env)
        assert CONTEXT_KEY not in payload
        assert redis_client.exists(env["REDIS_PREFIX"] + env["CACHE_PREFIX"] + KEY)
    finally:
        conns.close()


def test_laravel_13_stamps_the_owner_on_the_command_and_context(env: dict[str, str], redis_client: Any) -> None:
    conns = Connections(load_settings(environ={**env, "LARAVEL_VERSION": "13"}))
    try:
        dispatch(unique_command(), connections=conns, registry=Registry())
        [payload] = queued(redis_client, env)
        owner = redis_client.get(env["REDIS_PREFIX"] + env["CACHE_PREFIX"] + KEY).decode()
        assert loads(payload["data"]["command"]).uniqueLockOwner == owner
        assert loads(payload[CONTEXT_KEY]["hidden"]["laravel_unique_job_lock_owner"]) == owner
    finally:
        conns.close()


# -- chains and the scheduler go through the same dispatch ------------------------------------------


def test_next_chained_unique_job_takes_its_lock(
    connections: Connections, redis_client: Any, env: dict[str, str], lock_key: str
) -> None:
    registry = Registry()
    registry.register(STEP, lambda job, command: None)
    registry.register(UNIQUE, lambda job, command: None, unique=True, unique_id="product-77")
    nxt = dumps(PhpObject(UNIQUE, {"productId": 77})).decode()
    for _ in range(2):
        dispatch(PhpObject(STEP, {"step": 1, "chained": [nxt]}), connections=connections, registry=registry)

    run_one(connections, registry, "redis")  # first step: continues the chain with the unique job
    owner = redis_client.get(lock_key)
    assert owner is not None
    [_, continued] = queued(redis_client, env)
    assert continued["data"]["commandName"] == UNIQUE
    assert loads(continued[CONTEXT_KEY]["hidden"]["laravel_unique_job_key"]) == KEY

    run_one(connections, registry, "redis")  # second step: the unique job is already queued
    assert [p["data"]["commandName"] for p in queued(redis_client, env)] == [UNIQUE]
    assert redis_client.get(lock_key) == owner


def test_scheduled_unique_job_goes_through_the_same_dispatch(
    connections: Connections, redis_client: Any, env: dict[str, str], lock_key: str
) -> None:
    schedule = Schedule(php_binary="php")
    event = schedule.job(unique_command())
    ctx = ScheduleContext(connections.settings, connections)
    assert event.run(ctx) is not None
    assert event.run(ctx) is None  # lock held: the second run queues nothing
    assert len(queued(redis_client, env)) == 1 and redis_client.exists(lock_key)


# -- database cache store ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "mariadb"])
def db_connections(request: pytest.FixtureRequest) -> Iterator[Connections]:
    from laravel_queue.schema import migrate

    name = {"sqlite": "sqlite_env", "mariadb": "mysql_env"}[request.param]
    conns = Connections(load_settings(environ=dict(request.getfixturevalue(name))))
    migrate(conns.db())
    yield conns
    conns.close()


def test_database_store_lock_row_and_envelope(db_connections: Connections) -> None:
    fixture = laravel_fixture("sqlite/unique.json")
    db = db_connections.db()
    before = int(time.time())
    dispatch(unique_command(), connections=db_connections, registry=Registry())
    [row] = db.fetch_all(f"select * from {db.table('cache_locks')}")
    [expected] = fixture["other_db_rows"]["cache_locks"]
    assert row["key"] == expected["key"]
    assert OWNER.match(row["owner"])
    assert before + 3600 <= int(row["expiration"]) <= int(time.time()) + 3600
    [job] = db.fetch_all(f"select * from {db.table('jobs')}")
    assert_same_envelope(json.loads(job["payload"]), fixture_envelope("sqlite/unique.json"))

    assert dispatch(unique_command(), connections=db_connections, registry=Registry()) is None
    assert len(db.fetch_all(f"select id from {db.table('jobs')}")) == 1

    registry = Registry()
    registry.register(UNIQUE, lambda job, command: None)  # released from the context alone
    run_one(db_connections, registry, "database")
    assert db.fetch_all(f"select * from {db.table('cache_locks')}") == []
    assert dispatch(unique_command(unique_for=0), connections=db_connections, registry=Registry()) is not None
    [row] = db.fetch_all(f"select * from {db.table('cache_locks')}")
    assert before + 86_400 <= int(row["expiration"]) <= int(time.time()) + 86_400  # lock_timeout
