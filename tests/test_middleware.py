"""Job middleware on real Redis and on the database cache store: PHP's keys, values and outcomes."""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_worker import conns

from laravel_queue.bus.lifecycle import BusLifecycle
from laravel_queue.bus.unique import xxh128_hex
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.dispatch import dispatch
from laravel_queue.middleware import (
    Limit,
    Limiters,
    RateLimited,
    RateLimitedWithRedis,
    RateLimiter,
    Skip,
    ThrottlesExceptions,
    ThrottlesExceptionsWithRedis,
    WithoutOverlapping,
)
from laravel_queue.middleware.limiter import clean_rate_limiter_key
from laravel_queue.php import PhpObject
from laravel_queue.registry import Registry
from laravel_queue.worker import Worker, WorkerOptions
from laravel_queue.worker.output import WorkerOutput

BACKUP = "App\\Jobs\\Backup"
RATE_LIMITED = "Illuminate\\Queue\\Middleware\\RateLimited"


SHARED_FIXTURES = (conns,)  # test_worker's redis / SQLite queue, each with its own cache store


def run_next(conns: Connections, registry: Registry, **options: Any) -> None:
    worker = Worker(
        conns,
        registry=registry,
        options=WorkerOptions(memory=4096, sleep=0, **options),
        output=WorkerOutput(io.StringIO()),
        lifecycle=BusLifecycle(conns, registry=registry),
    )
    worker.run_next_job(None, ["default"])


def delayed(conns: Connections) -> list[tuple[int, int]]:
    """(attempts, seconds until available) of each released job still in the queue."""
    now = time.time()
    if conns.settings.queue_connection().driver == "redis":
        from laravel_queue.redis_client import redis_key_prefix

        key = redis_key_prefix(conns.settings) + "queues:default:delayed"
        entries = conns.redis().zrange(key, 0, -1, withscores=True)
        return sorted((json.loads(raw)["attempts"], math.ceil(score - now)) for raw, score in entries)
    rows = conns.db().fetch_all("select attempts, available_at from jobs where reserved_at is null")
    return sorted((int(row["attempts"]), math.ceil(int(row["available_at"]) - now)) for row in rows)


def limiter_for(conns: Connections, max_per_minute: int, key: Any = "") -> Limiters:
    limiters = Limiters()
    limiters.register("backups", lambda job, command: Limit.per_minute(max_per_minute).by(key))
    return limiters


def test_rate_limited_runs_five_per_minute_then_releases_with_the_attempt_counted(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    limited = RateLimited("backups", limiters=limiter_for(conns, 5, 42))
    registry.register(BACKUP, lambda job, command: ran.append(command.n), middleware=(limited,))
    for n in range(7):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=conns, registry=registry)
    for _ in range(7):
        run_next(conns, registry, max_tries=0)
    assert ran == [0, 1, 2, 3, 4]
    released = delayed(conns)
    assert [attempts for attempts, _ in released] == [1, 1]  # the limited attempt counts, as PHP's release()
    assert all(57 <= delay <= 63 for _, delay in released)  # availableIn + 3

    key = hashlib.md5(b"backups42").hexdigest()
    store = conns.cache()
    assert store.get(key) == 5
    assert 0 < store.get(key + ":timer") - time.time() <= 60
    assert RateLimiter(store).available_in(key) > 0


def test_dont_release_drops_the_over_limit_jobs_as_done(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    limited = RateLimited("backups", limiters=limiter_for(conns, 2)).dont_release()
    registry.register(BACKUP, lambda job, command: ran.append(command.n), middleware=(limited,))
    for n in range(4):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=conns, registry=registry)
    for _ in range(4):
        run_next(conns, registry)
    assert ran == [0, 1]
    assert conns.queue().size("default") == 0
    assert conns.failed().all() == []


def test_release_after_overrides_the_window(conns: Connections) -> None:
    registry = Registry()
    limited = RateLimited("backups", limiters=limiter_for(conns, 1)).release_after(7)
    registry.register(BACKUP, lambda job, command: None, middleware=(limited,))
    for n in range(2):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=conns, registry=registry)
        run_next(conns, registry, max_tries=0)
    assert delayed(conns) == [(1, 7)]


def test_several_limits_each_count_under_their_own_key(conns: Connections) -> None:
    limiters = Limiters()
    limiters.register("backups", lambda job, command: [Limit.per_minute(3), Limit.per_day(10).by("day")])
    registry = Registry()
    registry.register(BACKUP, lambda job, command: None, middleware=(RateLimited("backups", limiters=limiters),))
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry)
    store = conns.cache()
    assert store.get(hashlib.md5(b"backups").hexdigest()) == 1
    assert store.get(hashlib.md5(b"backupsday").hexdigest()) == 1
    assert 86_390 < store.get(hashlib.md5(b"backupsday").hexdigest() + ":timer") - time.time() <= 86_400


def test_duplicate_limit_keys_fall_back_to_laravels_fallback_key() -> None:
    limiters = Limiters()
    limiters.register("x", lambda job, command: [Limit.per_minute(3), Limit.per_hour(10)])
    limits = limiters.limits("x", None, None)
    assert limits is not None
    assert [limit.key for limit in limits] == ["attempts:3:decay:60", "attempts:10:decay:3600"]
    assert Limit.per_second(2).decay_seconds == 1
    assert Limit.per_minutes(5, 100).decay_seconds == 300
    assert limiters.limits("x", None, None) is not None
    limiters.register("none", lambda job, command: Limit.none())
    assert limiters.limits("none", None, None) is None


def test_serialized_rate_limited_is_honoured(conns: Connections) -> None:
    from laravel_queue.middleware import default_limiters

    default_limiters.register("serialized-backups", lambda job, command: Limit.per_minute(1))
    ran: list[int] = []
    registry = Registry()
    registry.register(BACKUP, lambda job, command: ran.append(command.n))
    middleware = PhpObject(RATE_LIMITED, {"\0*\0limiterName": "serialized-backups", "shouldRelease": False})
    for n in range(3):
        dispatch(PhpObject(BACKUP, {"n": n, "middleware": [middleware]}), connections=conns, registry=registry)
        run_next(conns, registry)
    assert ran == [0]
    assert conns.queue().size("default") == 0
    assert conns.failed().all() == []


def test_unknown_serialized_middleware_fails_the_job_naming_it(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.register(BACKUP, lambda job, command: ran.append(1))
    custom = PhpObject("App\\Jobs\\Middleware\\EnsureTokenIsValid", {})
    dispatch(PhpObject(BACKUP, {"middleware": [custom]}), connections=conns, registry=registry)
    run_next(conns, registry)
    assert ran == []
    (record,) = conns.failed().all()
    assert "App\\Jobs\\Middleware\\EnsureTokenIsValid" in record.exception.splitlines()[0]


def test_unknown_serialized_middleware_is_given_back_for_php_workers(conns: Connections) -> None:
    registry = Registry()
    registry.register(BACKUP, lambda job, command: None)
    custom = PhpObject("App\\Jobs\\Middleware\\EnsureTokenIsValid", {})
    dispatch(PhpObject(BACKUP, {"middleware": [custom]}), connections=conns, registry=registry)
    run_next(conns, registry, unknown="release")
    assert conns.failed().all() == []
    job = conns.queue().pop("default")
    assert job is not None and job.attempts() == 1  # unchanged: no attempt consumed


def test_rate_limited_without_a_python_limiter_is_not_run_unlimited(conns: Connections) -> None:
    registry = Registry()
    registry.register(BACKUP, lambda job, command: None)
    middleware = PhpObject(RATE_LIMITED, {"\0*\0limiterName": "only-in-php", "shouldRelease": True})
    dispatch(PhpObject(BACKUP, {"middleware": [middleware]}), connections=conns, registry=registry)
    run_next(conns, registry)
    (record,) = conns.failed().all()
    assert "only-in-php" in record.exception.splitlines()[0]


def test_throttles_exceptions_stops_calling_the_handler_for_the_decay_time(conns: Connections) -> None:
    calls: list[int] = []
    registry = Registry()

    def flaky(job: Any, command: Any) -> None:
        calls.append(command.n)
        raise ConnectionError("the service is down")

    registry.register(BACKUP, flaky, middleware=(ThrottlesExceptions(3, 120).backoff(1),))
    for n in range(5):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=conns, registry=registry)
        run_next(conns, registry, max_tries=0)
    assert calls == [0, 1, 2]  # after 3 exceptions the handler is not called
    released = delayed(conns)
    assert released[:3] == [(1, 60), (1, 60), (1, 60)]  # backoff(1): one minute
    assert all(117 <= delay <= 123 for _, delay in released[3:])  # until the window ends + 3 s
    key = "laravel_throttles_exceptions:" + xxh128_hex(BACKUP)
    assert conns.cache().get(key) == 3
    assert conns.failed().all() == []


def test_throttles_exceptions_success_clears_the_counter_and_delete_when_deletes(conns: Connections) -> None:
    outcomes = iter([ConnectionError("down"), None, KeyError("gone")])
    registry = Registry()

    def handler(job: Any, command: Any) -> None:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    throttle = ThrottlesExceptions(5, 60).by("svc").backoff(1).delete_when(KeyError)
    registry.register(BACKUP, handler, middleware=(throttle,))
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry, max_tries=0)
    assert conns.cache().get("laravel_throttles_exceptions:svc") == 1
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry, max_tries=0)  # success
    assert conns.cache().get("laravel_throttles_exceptions:svc") is None
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry, max_tries=0)  # KeyError: deleted
    assert [a for a, _ in delayed(conns)] == [1]  # only the first one was released
    assert conns.failed().all() == []


def test_without_overlapping_releases_while_another_worker_holds_the_lock(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.register(BACKUP, lambda job, command: ran.append(1), middleware=(WithoutOverlapping(7).release_after(9),))
    held = conns.cache().lock("laravel-queue-overlap:App\\Jobs\\Backup:7", 60, "phpOwner")
    assert held.acquire()
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry, max_tries=0)
    assert ran == [] and delayed(conns) == [(1, 9)]
    held.release()
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    run_next(conns, registry, max_tries=0)
    assert ran == [1]
    assert conns.cache().lock("laravel-queue-overlap:App\\Jobs\\Backup:7", 60).acquire()  # released after


def test_skip_when_ends_the_job_as_done(conns: Connections) -> None:
    ran: list[int] = []
    registry = Registry()
    registry.register(BACKUP, lambda job, command: ran.append(1), middleware=(Skip.when(lambda: True),))
    dispatch(PhpObject(BACKUP, {}), connections=conns, registry=registry)
    serialized = PhpObject("Illuminate\\Queue\\Middleware\\Skip", {"\0*\0skip": True})
    dispatch(PhpObject("App\\Jobs\\Other", {"middleware": [serialized]}), connections=conns, registry=registry)
    registry.register("App\\Jobs\\Other", lambda job, command: ran.append(2))
    run_next(conns, registry)
    run_next(conns, registry)
    assert ran == []
    assert conns.queue().size("default") == 0


# -- Redis-only: DurationLimiter variants -------------------------------------------------------


@pytest.fixture
def redis_conns(redis_env: dict[str, str], redis_client: Any, sqlite_env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ={**sqlite_env, **redis_env}))
    from laravel_queue.schema import migrate

    migrate(connections.db())
    yield connections
    connections.close()


def test_rate_limited_with_redis_uses_one_duration_window(
    redis_conns: Connections, redis_client: Any, redis_prefix: str
) -> None:
    ran: list[int] = []
    registry = Registry()
    limited = RateLimitedWithRedis("backups", limiters=limiter_for(redis_conns, 2))
    registry.register(BACKUP, lambda job, command: ran.append(command.n), middleware=(limited,))
    for n in range(3):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=redis_conns, registry=registry)
        run_next(redis_conns, registry, max_tries=0)
    assert ran == [0, 1]
    key = redis_prefix + hashlib.md5(b"backups").hexdigest()
    window = {k.decode(): int(v) for k, v in redis_client.hgetall(key).items()}
    assert window["count"] == 3 and window["end"] - window["start"] == 60
    assert 118 <= redis_client.ttl(key) <= 120  # EXPIRE 2 x decay
    assert [(a, d) for a, d in delayed(redis_conns) if 60 <= d <= 63] == delayed(redis_conns)


def test_throttles_exceptions_with_redis_counts_in_a_window(
    redis_conns: Connections, redis_client: Any, redis_prefix: str
) -> None:
    calls: list[int] = []
    registry = Registry()

    def flaky(job: Any, command: Any) -> None:
        calls.append(1)
        raise ConnectionError("down")

    registry.register(BACKUP, flaky, middleware=(ThrottlesExceptionsWithRedis(2, 30).by("svc").backoff(1),))
    for _ in range(3):
        dispatch(PhpObject(BACKUP, {}), connections=redis_conns, registry=registry)
        run_next(redis_conns, registry, max_tries=0)
    assert len(calls) == 2
    key = redis_prefix + "laravel_throttles_exceptions:svc"
    assert int(redis_client.hget(key, "count")) == 2
    assert [d for _, d in delayed(redis_conns)] == [29, 60, 60] or [d for _, d in delayed(redis_conns)] == [30, 60, 60]


# -- keys and values PHP computes ----------------------------------------------------------------

KEYS = ["backups42", "Ünïcødé & <tags> \"quoted\" 'single'", "café©®", "x&amp;y ²½"]


def test_limiter_keys_match_php(php: str) -> None:
    import subprocess

    script = (
        "foreach (json_decode(stream_get_contents(STDIN)) as $k) {"
        " echo md5($k), ' ', preg_replace('/&([a-z])[a-z]+;/i', '$1', htmlentities($k)), \"\\n\"; }"
    )
    out = subprocess.run([php, "-r", script], input=json.dumps(KEYS).encode(), capture_output=True, check=True)
    expected = out.stdout.decode().splitlines()
    assert [f"{hashlib.md5(k.encode()).hexdigest()} {clean_rate_limiter_key(k)}" for k in KEYS] == expected


def test_until_processing_lock_is_released_inside_the_pipeline_and_kept_when_released(conns: Connections) -> None:
    def owner(n: int) -> str | None:
        return conns.cache().lock(f"laravel_unique_job:{BACKUP}:{n}", 0).get_current_owner()

    held_while_handling: list[str | None] = []
    registry = Registry()
    limited = RateLimited("backups", limiters=limiter_for(conns, 1))
    registry.register(
        BACKUP,
        lambda job, command: held_while_handling.append(owner(command.n)),
        middleware=(limited,),
        unique="until_processing",
        unique_id=lambda command: str(command.n),
    )
    for n in range(2):
        dispatch(PhpObject(BACKUP, {"n": n}), connections=conns, registry=registry)
        assert owner(n) is not None
        run_next(conns, registry, max_tries=0)
    assert held_while_handling == [None]  # released just before the handler
    assert owner(1) is not None  # the rate-limited job was released: it keeps its lock, as in PHP


def test_rate_limiter_rows_in_the_database_store_are_phps(db_env: dict[str, str]) -> None:
    """On SQLite, MariaDB and PostgreSQL: the counter and timer rows Laravel's RateLimiter writes."""
    from laravel_queue.schema import migrate

    connections = Connections(load_settings(environ=db_env))
    try:
        migrate(connections.db())
        store = connections.cache()
        limiter = RateLimiter(store, clock=lambda: 1_800_000_000.5)
        key = hashlib.md5(b"backups").hexdigest()
        assert [limiter.hit(key, 60) for _ in range(3)] == [1, 2, 3]
        assert limiter.too_many_attempts(key, 3) and not limiter.too_many_attempts(key, 4)
        rows = {
            row["key"].removeprefix(connections.settings.cache.prefix): row
            for row in connections.db().fetch_all("select * from cache")
        }
        assert set(rows) == {key, key + ":timer"}
        assert store.get(key) == 3 and store.get(key + ":timer") == 1_800_000_060
        raw = rows[key]["value"]
        if connections.settings.db_connection().driver != "pgsql":  # Laravel base64-encodes on PostgreSQL
            assert raw == "i:3;" and rows[key + ":timer"]["value"] == "i:1800000060;"
        limiter.clear(key)
        assert store.get(key) is None and store.get(key + ":timer") is None
    finally:
        connections.close()


def test_without_overlapping_decorator_holds_the_lock_until_an_async_handler_finishes(conns: Connections) -> None:
    import asyncio

    from laravel_queue.middleware import without_overlapping

    name = "laravel-queue-overlap:App\\Jobs\\Backup:7"
    seen: list[bool] = []

    @without_overlapping(7)
    async def handler(job: Any, command: Any) -> None:
        await asyncio.sleep(0)
        seen.append(not conns.cache().lock(name, 5).acquire())  # someone holds it: us

    class Job:
        connections, display_name, command_name = conns, BACKUP, BACKUP

    asyncio.run(handler(Job(), PhpObject(BACKUP, {})))
    assert seen == [True]
    assert conns.cache().lock(name, 5).acquire()  # released afterwards
