"""The Redis queue driver against a real Redis: keys, scripts, reservations, blocking, failures."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from conftest import free_port, wait_for

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.redis import RedisJob, RedisQueue
from laravel_queue.job import InvalidPayloadError

NOW = 1795417243


class Clock:
    """A settable wall clock, so scores and expiries are exact."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RoundTripCounter(redis.connection.Connection):
    """A connection that counts what it writes to the socket: one write per round trip."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def connections(redis_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=redis_env))
    yield conns
    conns.close()


@pytest.fixture
def queue(connections: Connections) -> RedisQueue:
    q = connections.queue("redis")
    assert isinstance(q, RedisQueue)
    q.clock = Clock()
    return q


def payload(tag: str = "a", **extra: Any) -> str:
    body = {
        "uuid": f"uuid-{tag}",
        "displayName": "App\\Jobs\\Demo",
        "job": "Demo@handle",
        "data": {"tag": tag},
    }
    body.update(createdAt=NOW - 1, id=f"id-{tag}", attempts=0, delay=None)
    body.update(extra)
    return json.dumps(body, separators=(",", ":"))


def dump(client: Any, prefix: str) -> dict[str, Any]:
    """Every key under the prefix with its content (list order, zset members and scores)."""
    state: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=f"{prefix}*")):
        kind = client.type(key)
        if kind == b"list":
            state[key.decode()] = client.lrange(key, 0, -1)
        elif kind == b"zset":
            state[key.decode()] = client.zrange(key, 0, -1, withscores=True)
        else:
            state[key.decode()] = (kind, client.get(key) if kind == b"string" else None)
    return state


def test_from_config_uses_connection_prefix_and_queue_settings(queue: RedisQueue, redis_prefix: str) -> None:
    assert queue.prefix == redis_prefix
    assert queue.connection_name == "redis"
    assert queue.default_queue == "default"
    assert queue.retry_after == 90
    assert queue.block_for is None
    assert queue.keys("emails").delayed == f"{redis_prefix}queues:emails:delayed"


def test_push_rpushes_payload_and_notify_token(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    assert queue.push_raw(payload("a")) == "id-a"
    assert queue.push_raw(payload("b").encode(), "emails") == "id-b"
    assert dump(redis_client, redis_prefix) == {
        f"{redis_prefix}queues:default": [payload("a").encode()],
        f"{redis_prefix}queues:default:notify": [b"1"],
        f"{redis_prefix}queues:emails": [payload("b").encode()],
        f"{redis_prefix}queues:emails:notify": [b"1"],
    }


def test_push_with_delay_zadds_at_now_plus_delay(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    queue.push_raw(payload("a"), delay=60)
    assert dump(redis_client, redis_prefix) == {
        f"{redis_prefix}queues:default:delayed": [(payload("a").encode(), float(NOW + 60))],
    }


def test_prepare_payload_places_id_and_attempts_before_delay(queue: RedisQueue) -> None:
    base = {"uuid": "u", "job": "X", "data": {}, "createdAt": NOW, "illuminate:log:context": {}, "delay": 5}
    prepared = queue.prepare_payload(base)
    assert list(prepared) == [
        "uuid",
        "job",
        "data",
        "createdAt",
        "illuminate:log:context",
        "id",
        "attempts",
        "delay",
    ]
    assert prepared["attempts"] == 0
    assert len(prepared["id"]) == 32 and prepared["id"].isalnum()
    assert queue.prepare_payload(base)["id"] != prepared["id"]
    assert list(queue.prepare_payload({"uuid": "u"})) == ["uuid", "id", "attempts"]


def test_pop_reserves_copy_with_incremented_attempts(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    queue.push_raw(payload("a", attempts=2))
    job = queue.pop()
    assert isinstance(job, RedisJob)
    assert job.raw_bytes == payload("a", attempts=2).encode()
    assert job.raw_body == payload("a", attempts=2)
    assert job.attempts() == 3
    assert job.job_id == "id-a"
    assert job.queue == "default" and job.connection_name == "redis"
    assert json.loads(job.reserved) == {**json.loads(payload("a")), "attempts": 3}
    assert dump(redis_client, redis_prefix) == {
        f"{redis_prefix}queues:default:reserved": [(job.reserved, float(NOW + 90))],
    }
    assert queue.pop() is None


def test_delete_and_release(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    queue.push_raw(payload("a"))
    queue.push_raw(payload("b"))
    first, second = queue.pop(), queue.pop()
    assert first is not None and second is not None
    first.delete()
    second.release(10)
    assert first.is_deleted() and second.is_released()
    assert dump(redis_client, redis_prefix) == {
        f"{redis_prefix}queues:default:delayed": [(second.reserved, float(NOW + 10))],
    }
    queue.clock.now = NOW + 10  # type: ignore[attr-defined]
    again = queue.pop()
    assert again is not None and again.raw_bytes == second.reserved and again.attempts() == 2


def test_deferred_ack_rides_in_the_next_pop_as_one_round_trip(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str
) -> None:
    pool = redis.ConnectionPool(host=redis_server[0], port=redis_server[1], connection_class=RoundTripCounter)
    queue = RedisQueue(redis.Redis(connection_pool=pool), prefix=redis_prefix, clock=Clock())
    for tag in "abc":
        queue.push_raw(payload(tag))
    queue.push_raw(payload("x"), "other")
    previous = queue.pop("other")
    assert previous is not None
    previous.delete_later()
    RoundTripCounter.sent = 0
    popped = 0
    while True:
        job = queue.pop(ack=previous)
        if job is None:
            break
        popped += 1
        job.delete_later()
        previous = job
    assert popped == 3
    assert RoundTripCounter.sent == 4  # three pops + the empty pop that carried the last ack
    assert dump(redis_client, redis_prefix) == {}


def test_flush_acks_pipelines_zrems(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    for tag in "ab":
        queue.push_raw(payload(tag))
    jobs = [queue.pop(), queue.pop()]
    for job in jobs:
        assert job is not None
        job.delete_later()
    queue.flush_acks(jobs)  # type: ignore[arg-type]
    assert dump(redis_client, redis_prefix) == {}


def test_due_delayed_jobs_migrate_in_score_order(queue: RedisQueue, redis_client: Any, redis_prefix: str) -> None:
    queue.push_raw(payload("late"), delay=30)
    queue.push_raw(payload("soon"), delay=5)
    queue.push_raw(payload("sooner"), delay=3)
    queue.clock.now = NOW + 5  # type: ignore[attr-defined]
    job = queue.pop()
    assert job is not None and job.job_id == "id-sooner"
    state = dump(redis_client, redis_prefix)
    assert state[f"{redis_prefix}queues:default"] == [payload("soon").encode()]
    assert state[f"{redis_prefix}queues:default:notify"] == [b"1"]
    assert state[f"{redis_prefix}queues:default:delayed"] == [(payload("late").encode(), float(NOW + 30))]


def test_migration_batch_size_limits_each_pop(redis_client: Any, redis_prefix: str) -> None:
    queue = RedisQueue(redis_client, prefix=redis_prefix, migration_batch_size=2, clock=Clock())
    for index in range(5):
        queue.push_raw(payload(str(index)), delay=1 + index)
    queue.clock.now = NOW + 10  # type: ignore[attr-defined]
    job = queue.pop()
    assert job is not None and job.job_id == "id-0"
    assert queue.pending_size() == 1 and queue.delayed_size() == 3


def test_expired_reservation_returns_with_its_attempt_counted(queue: RedisQueue) -> None:
    queue.push_raw(payload("a"))
    crashed = queue.pop()  # the worker dies: no delete, no release
    assert crashed is not None and crashed.attempts() == 1
    queue.clock.now = NOW + 89  # type: ignore[attr-defined]
    assert queue.pop() is None
    queue.clock.now = NOW + 90  # type: ignore[attr-defined]
    again = queue.pop()
    assert again is not None
    assert again.raw_bytes == crashed.reserved
    assert again.attempts() == 2
    assert json.loads(again.reserved)["attempts"] == 2
    assert queue.reserved_size() == 1


def test_retry_after_null_never_migrates_reservations(redis_client: Any, redis_prefix: str) -> None:
    queue = RedisQueue(redis_client, prefix=redis_prefix, retry_after=None, clock=Clock())
    queue.push_raw(payload("a"))
    assert queue.pop() is not None
    queue.clock.now = NOW + 10_000  # type: ignore[attr-defined]
    assert queue.pop() is None
    assert queue.reserved_size() == 1
    assert redis_client.zrange(queue.keys().reserved, 0, -1, withscores=True)[0][1] == float(NOW)


@pytest.mark.parametrize(
    ("body", "reserved_is_raw"),
    [
        (json.dumps({"uuid": "u", "id": "no-attempts", "job": "X"}), False),
        ("this is not json", True),
        ("[1,2,3]", False),
        ("123", True),
        ("", True),
    ],
)
def test_malformed_payload_is_kept_reserved_not_lost(queue: RedisQueue, body: str, reserved_is_raw: bool) -> None:
    queue.push_raw(body)
    job = queue.pop()
    assert job is not None, "Laravel's pop script loses this payload; ours must return it"
    assert job.raw_bytes == body.encode()
    assert job.attempts() == 1
    assert (job.reserved == body.encode()) is reserved_is_raw
    assert queue.reserved_size() == 1 and queue.pending_size() == 0
    if body.startswith("{"):
        assert job.job_id == "no-attempts"
        assert json.loads(job.reserved)["attempts"] == 1
    else:
        with pytest.raises(InvalidPayloadError):
            _ = job.payload
        assert job.job_id is None
    job.delete()  # the worker fails it into failed_jobs, then deletes
    assert queue.size() == 0


def test_sizes_oldest_pending_and_clear(queue: RedisQueue) -> None:
    assert queue.creation_time_of_oldest_pending_job() is None
    queue.push_raw(payload("a"))
    queue.push_raw(payload("b"))
    queue.push_raw(payload("c"), delay=10)
    assert queue.pop() is not None
    assert (queue.size(), queue.pending_size(), queue.delayed_size(), queue.reserved_size()) == (3, 1, 1, 1)
    assert queue.creation_time_of_oldest_pending_job() == NOW - 1
    assert queue.clear() == 3
    assert queue.size() == 0
    assert queue.client.exists(queue.keys().notify) == 0


def test_block_for_waits_on_notify_and_wakes_on_push(redis_client: Any, redis_prefix: str) -> None:
    worker_client = redis.Redis(
        redis_client.connection_pool.connection_kwargs["host"],
        redis_client.connection_pool.connection_kwargs["port"],
    )
    worker_client.client_setname(f"{redis_prefix}worker")
    queue = RedisQueue(worker_client, prefix=redis_prefix, block_for=5)
    producer = RedisQueue(redis_client, prefix=redis_prefix)
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(queue.pop()))
    started = time.monotonic()
    thread.start()
    wait_for(
        lambda: any(
            c.get("name") == f"{redis_prefix}worker" and c.get("cmd") == "blpop" for c in redis_client.client_list()
        ),
        what="worker to block in BLPOP",
    )
    producer.push_raw(payload("a"))
    thread.join(5)
    assert result and result[0] is not None and result[0].job_id == "id-a"
    assert time.monotonic() - started < 4
    assert producer.size() == 1 and redis_client.llen(queue.keys().notify) == 0
    worker_client.close()


def test_block_for_times_out_with_no_job(redis_client: Any, redis_prefix: str) -> None:
    queue = RedisQueue(redis_client, prefix=redis_prefix, block_for=0.2)
    started = time.monotonic()
    assert queue.pop() is None
    assert 0.15 < time.monotonic() - started < 2


def test_only_the_primary_queue_blocks_and_not_after_a_secondary_job(redis_client: Any, redis_prefix: str) -> None:
    queue = RedisQueue(redis_client, prefix=redis_prefix, block_for=3)
    queue.push_raw(payload("low"), "low")
    started = time.monotonic()
    assert queue.pop("low", 1) is not None  # secondary queue: never blocks, sets the flag
    assert queue.pop("high", 0) is None  # flag set: the primary does not block this time
    assert time.monotonic() - started < 1
    assert queue.pop("low", 1) is None  # secondary queue empty: no blocking either
    assert time.monotonic() - started < 1


# -- connection loss ------------------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy to Redis that the test can cut, to lose the connection on demand."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.cut = threading.Event()
        self.drop_replies = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            if self.cut.is_set():
                client.close()
                break
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()
        self._server.close()

    def _pipe(self, source: socket.socket, sink: socket.socket, is_reply: bool) -> None:
        try:
            while data := source.recv(65536):
                if is_reply and self.drop_replies.is_set():
                    self.close()
                    return
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.cut.set()
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_lost_reply_during_pop_raises_and_the_job_returns_after_retry_after(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str
) -> None:
    proxy = CuttableProxy(redis_server)
    clock = Clock()
    worker = RedisQueue(
        redis.Redis(port=proxy.port, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 1)),
        prefix=redis_prefix,
        clock=clock,
    )
    other = RedisQueue(redis_client, prefix=redis_prefix, clock=clock)
    worker.push_raw(payload("a"))
    proxy.drop_replies.set()  # Redis runs the pop, the reply never arrives
    with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        worker.pop()
    assert other.reserved_size() == 1 and other.pending_size() == 0
    clock.now = NOW + 90
    job = other.pop()
    assert job is not None and job.job_id == "id-a" and job.attempts() == 2


def test_lost_connection_before_ack_keeps_the_reservation(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str
) -> None:
    proxy = CuttableProxy(redis_server)
    clock = Clock()
    worker = RedisQueue(
        redis.Redis(port=proxy.port, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 1)),
        prefix=redis_prefix,
        clock=clock,
    )
    worker.push_raw(payload("a"))
    job = worker.pop()
    assert job is not None
    proxy.close()
    with pytest.raises(redis.exceptions.ConnectionError):
        job.delete()
    other = RedisQueue(redis_client, prefix=redis_prefix, clock=clock)
    clock.now = NOW + 90
    again = other.pop()
    assert again is not None and again.attempts() == 2


# -- client factory -------------------------------------------------------------------------


def test_client_kwargs_from_url_and_tls_scheme(redis_env: dict[str, str]) -> None:
    from laravel_queue.redis_client import connection_kwargs

    settings = load_settings(environ={**redis_env, "REDIS_URL": "rediss://worker:p%40ss@cache.internal:6380/3"})
    kwargs = connection_kwargs(settings.redis_connection("default"))
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6380, 3)
    assert (kwargs["username"], kwargs["password"], kwargs["ssl"]) == ("worker", "p@ss", True)
    assert kwargs["decode_responses"] is False
    tls = load_settings(environ={**redis_env, "REDIS_SCHEME": "tls", "REDIS_TIMEOUT": "2.5"})
    kwargs = connection_kwargs(tls.redis_connection("cache"))
    assert kwargs["ssl"] is True and kwargs["db"] == 1 and kwargs["socket_connect_timeout"] == 2.5


def test_acl_user_and_database_index_reach_the_server(
    redis_env: dict[str, str], redis_client: Any, redis_prefix: str
) -> None:
    from laravel_queue.redis_client import make_redis_client

    user = f"{redis_prefix}acl"
    redis_client.acl_setuser(user, enabled=True, passwords=["+s3cret"], keys=[f"{redis_prefix}*"], commands=["+@all"])
    try:
        env = {**redis_env, "REDIS_USERNAME": user, "REDIS_PASSWORD": "s3cret", "REDIS_CACHE_DB": "1"}
        client = make_redis_client(load_settings(environ=env), "cache")
        assert client.acl_whoami() in (user, user.encode())
        client.set(f"{redis_prefix}probe", b"1")
        assert client.connection_pool.connection_kwargs["db"] == 1
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.get("not-my-prefix")
        client.delete(f"{redis_prefix}probe")
        client.close()
        bad = make_redis_client(load_settings(environ={**env, "REDIS_PASSWORD": "wrong"}), "cache")
        with pytest.raises(redis.exceptions.AuthenticationError):
            bad.ping()
    finally:
        redis_client.acl_deluser(user)
