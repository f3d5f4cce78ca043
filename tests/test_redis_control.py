"""Restart and pause keys read inside the Redis pop script: one round trip per worker iteration.

Real Redis (7.0.15 here): the cache values live on db 1 and the queues on db 0, as in
Laravel's skeleton. The restart and pause values are written both by our RedisStore and
byte for byte as PHP writes them (fixtures/laravel/redis-monitor/17: a bare decimal
string on db 1; `queue:pause` stores `b:1;`).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from conftest import FIXTURES, wait_for
from support.control import make_worker, push

from laravel_queue.cache.redis import RedisStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.redis import ControlKeys, RedisQueue
from laravel_queue.registry import Registry
from laravel_queue.worker.worker import RESTART_KEY, paused_key

PHP_PAUSED = b"b:1;"  # Cache::forever(key, true) through RedisStore::serialize


def php_restart_write() -> tuple[int, str, bytes]:
    """(db, logical key, value) of `php artisan queue:restart` from the MONITOR capture."""
    text = (FIXTURES / "laravel" / "redis-monitor" / "17-queue-restart-command.txt").read_text()
    match = re.search(r'\[(\d+) [^\]]+\] "SET" "laravel-database-laravel-cache-([^"]+)" "([^"]+)"', text)
    assert match, "fixture 17 has the SET of the restart key"
    return int(match.group(1)), match.group(2), match.group(3).encode()


@pytest.fixture
def conns(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    connections = Connections(load_settings(environ={**sqlite_env, **redis_env}))
    yield connections
    connections.close()


def queue_of(conns: Connections) -> RedisQueue:
    queue = conns.queue()
    assert isinstance(queue, RedisQueue)
    return queue


def store_of(conns: Connections) -> RedisStore:
    store = conns.cache()
    assert isinstance(store, RedisStore)
    return store


def control_for(conns: Connections, queues: list[str]) -> ControlKeys:
    queue = queue_of(conns)
    control = queue.control_keys(
        store_of(conns),
        restart_key=RESTART_KEY,
        paused_keys={q: paused_key(queue.connection_name, q) for q in queues},
    )
    assert control is not None, "same server, Redis >= 7: the pop script reads the cache"
    return control



def php_set(conns: Connections, logical_key: str, value: bytes) -> None:
    """Write a cache value on db 1 the way phpredis does (no RedisStore code involved)."""
    store = store_of(conns)
    assert store.client.connection_pool.connection_kwargs["db"] == 1
    store.client.set(store.key(logical_key), value)


class RoundTrips:
    """Counts requests written to Redis sockets (a pipeline or a script call is one).

    Counted at the socket: the queue's hot path writes its EVALSHA without redis-py's
    `send_packed_command`.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = socket.socket.sendall

        def counting(sock: socket.socket, data: Any, *args: Any) -> None:
            self.count += 1
            original(sock, data, *args)

        monkeypatch.setattr(socket.socket, "sendall", counting)



# -- the server guarantee the design rests on -----------------------------------------------------


def test_select_inside_a_script_leaves_the_connection_on_its_db(redis_server: tuple[str, int], conns: Any) -> None:
    client = redis.Redis(host=redis_server[0], port=redis_server[1], db=0, single_connection_client=True)
    try:
        version = client.info("server")["redis_version"]
        if int(version.split(".")[0]) < 7:
            pytest.skip(f"Redis {version}: SELECT in a script leaks (the worker keeps the MGET path)")
        queue = RedisQueue(client, prefix="lqtest-select-")
        control = ControlKeys(cache_db=1, restart="lqtest-select-restart", paused={"default": "lqtest-select-p"})
        assert queue.pop_with_control("default", control=control, restart=None).skipped is None
        assert client.client_info()["db"] == 0
        client.set("lqtest-select-marker", b"db0")
        assert redis.Redis(host=redis_server[0], port=redis_server[1], db=0).get("lqtest-select-marker") == b"db0"
        assert redis.Redis(host=redis_server[0], port=redis_server[1], db=1).get("lqtest-select-marker") is None
    finally:
        client.delete("lqtest-select-marker")
        client.close()


# -- the values match what the cache store reads ---------------------------------------------------


def test_script_reads_the_same_values_as_cache_many(conns: Connections) -> None:
    from laravel_queue.cache.redis import decode_value

    queue, store = queue_of(conns), store_of(conns)
    control = control_for(conns, ["default"])
    keys = [RESTART_KEY, paused_key("redis", "default")]

    def script_values(expected: bytes | None) -> list[Any]:
        result = queue.pop_with_control("default", control=control, restart=expected)
        return [decode_value(result.restart), decode_value(result.paused)]

    assert script_values(None) == store.many(keys) == [None, None]

    store.forever(RESTART_KEY, 1795417316)  # our writer
    store.forever(paused_key("redis", "default"), True)
    assert script_values(b"1795417316") == store.many(keys) == [1795417316, True]

    db, logical, value = php_restart_write()  # PHP's writer, byte for byte
    assert (db, logical) == (1, RESTART_KEY)
    php_set(conns, logical, value + b"0")
    php_set(conns, paused_key("redis", "default"), PHP_PAUSED)
    assert script_values(value + b"0") == store.many(keys) == [int(value + b"0"), True]


def test_restart_other_than_expected_pops_nothing_but_applies_the_ack(conns: Connections) -> None:
    queue = queue_of(conns)
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    push(conns, "Tests\\B")
    first = queue.pop_with_control("default", control=control, restart=None).job
    assert first is not None
    _, _, value = php_restart_write()
    php_set(conns, RESTART_KEY, value)
    first.delete_later()
    result = queue.pop_with_control("default", ack=first, control=control, restart=None)
    assert (result.skipped, result.job, result.restart) == ("restart", None, value)
    assert queue.reserved_size("default") == 0  # the ack rode along
    assert queue.pending_size("default") == 1  # nothing popped
    assert queue.pop_with_control("default", control=control, restart=value).job is not None


def test_paused_queue_is_not_popped(conns: Connections) -> None:
    queue = queue_of(conns)
    control = control_for(conns, ["default"])
    push(conns, "Tests\\A")
    php_set(conns, paused_key("redis", "default"), PHP_PAUSED)
    result = queue.pop_with_control("default", control=control, restart=None)
    assert (result.skipped, result.job, result.paused) == ("paused", None, PHP_PAUSED)
    assert queue.pending_size("default") == 1


# -- through the real worker ----------------------------------------------------------------------------


def test_worker_skips_a_paused_queue_and_pops_the_next_one(conns: Connections) -> None:
    order: list[str] = []
    registry = Registry()
    registry.register("Tests\\P", lambda job, data: order.append(data))
    push(conns, "Tests\\P", "paused-1", queue="paused")
    push(conns, "Tests\\P", "open-1", queue="open")
    push(conns, "Tests\\P", "open-2", queue="open")
    push(conns, "Tests\\P", "falsy-1", queue="falsy")
    php_set(conns, paused_key("redis", "paused"), PHP_PAUSED)
    php_set(conns, paused_key("redis", "falsy"), b"b:0;")  # stored but false: not paused, as Laravel
    worker = make_worker(conns, registry, stop_when_empty=True)
    assert worker.daemon(None, ["paused", "open", "falsy"]) == 0
    assert order == ["open-1", "open-2", "falsy-1"]
    assert queue_of(conns).size("paused") == 1
    assert queue_of(conns).size("open") == queue_of(conns).size("falsy") == 0


def test_worker_stops_on_a_restart_written_by_php_mid_run(conns: Connections) -> None:
    _, _, value = php_restart_write()
    ran: list[Any] = []
    registry = Registry()

    def signal_restart(job: Any, data: Any) -> None:
        ran.append(data)
        if data == 3:
            php_set(conns, RESTART_KEY, value)

    registry.register("Tests\\R", signal_restart)
    for n in range(1, 7):
        push(conns, "Tests\\R", n)
    worker = make_worker(conns, registry)  # no stop_when_empty: only the restart ends it
    started = time.monotonic()
    assert worker.daemon(None, ["default"]) == 0
    assert time.monotonic() - started < 10
    assert ran == [1, 2, 3]  # stopped after the job during which the restart was written
    queue = queue_of(conns)
    assert (queue.pending_size("default"), queue.reserved_size("default")) == (3, 0)


def test_worker_stops_on_restart_while_idle(conns: Connections) -> None:
    import threading

    ran = threading.Event()
    registry = Registry()
    registry.register("Tests\\I", lambda job, data: ran.set())
    push(conns, "Tests\\I")
    worker = make_worker(conns, registry, sleep=0.05)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(worker.daemon(None, ["default"])), daemon=True)
    thread.start()
    wait_for(ran.is_set, what="the job to run")
    # its ack rides on the next (empty) pop: once applied, the worker is idle
    wait_for(lambda: queue_of(conns).reserved_size("default") == 0, what="the worker to go idle")
    store_of(conns).forever(RESTART_KEY, int(time.time()))
    thread.join(10)
    assert codes == [0]


def test_restart_value_written_differently_is_not_a_restart(conns: Connections) -> None:
    """`" 1795417316"` == 1795417316 for PHP's `!=`: re-read, not stopped; every job runs."""
    _, _, value = php_restart_write()
    php_set(conns, RESTART_KEY, value)
    registry = Registry()
    ran: list[Any] = []

    def rewrite(job: Any, data: Any) -> None:
        ran.append(data)
        if data == 1:
            php_set(conns, RESTART_KEY, b" " + value)

    registry.register("Tests\\W", rewrite)
    for n in range(1, 4):
        push(conns, "Tests\\W", n)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert ran == [1, 2, 3]


def test_unreadable_restart_value_is_ignored_as_before(conns: Connections) -> None:
    php_set(conns, RESTART_KEY, b"O:9999:garbage")
    registry = Registry()
    ran: list[Any] = []
    registry.register("Tests\\G", lambda job, data: ran.append(data))
    for n in range(1, 4):
        push(conns, "Tests\\G", n)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert ran == [1, 2, 3]


def test_one_round_trip_per_job(conns: Connections, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = 200
    registry = Registry()
    registry.register("Tests\\N", lambda job, data: None)
    for n in range(jobs):
        push(conns, "Tests\\N", n)
    store_of(conns).get(RESTART_KEY)  # open the cache connection: its handshake is not per job
    trips = RoundTrips(monkeypatch)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert queue_of(conns).size("default") == 0
    # startup: restart MGET and INFO, and the handshake of the queue's hot-path connection
    # (a fixed few writes, once); then one EVALSHA per job plus the empty pop that ends it
    assert jobs + 3 <= trips.count <= jobs + 10, trips.count


# -- where the two-call path stays --------------------------------------------------------------------


def test_cache_on_another_server_keeps_the_mget_path(conns: Connections, redis_server: tuple[str, int]) -> None:
    """Same machine under another name counts as another server: only an exact match qualifies."""
    client = redis.Redis(host="localhost", port=redis_server[1], db=0)
    try:
        other = RedisQueue(client, prefix=queue_of(conns).prefix)
        assert other.control_keys(store_of(conns), restart_key=RESTART_KEY, paused_keys={}) is None
    finally:
        client.close()


def test_database_cache_store_keeps_the_mget_path(
    redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any
) -> None:
    from laravel_queue.schema import migrate

    connections = Connections(load_settings(environ={**sqlite_env, **redis_env, "CACHE_STORE": "database"}))
    try:
        migrate(connections.db())
        assert queue_of(connections).control_keys(connections.cache(), restart_key=RESTART_KEY, paused_keys={}) is None
        ran: list[Any] = []
        registry = Registry()
        registry.register("Tests\\M", lambda job, data: ran.append(data))
        push(connections, "Tests\\M", 1)
        push(connections, "Tests\\M", 2, queue="other")
        connections.cache().forever(paused_key("redis", "other"), True)
        assert make_worker(connections, registry, stop_when_empty=True).daemon(None, ["other", "default"]) == 0
        assert ran == [1]
    finally:
        connections.close()


def test_redis_older_than_7_keeps_the_mget_path(conns: Connections) -> None:
    queue = queue_of(conns)
    queue._scripts_keep_db = False  # what `_server_scripts_keep_db` concludes on Redis 6
    assert queue.control_keys(store_of(conns), restart_key=RESTART_KEY, paused_keys={}) is None
    registry = Registry()
    ran: list[Any] = []
    registry.register("Tests\\O", lambda job, data: ran.append(data))
    push(conns, "Tests\\O", 1)
    assert make_worker(conns, registry, stop_when_empty=True).daemon(None, ["default"]) == 0
    assert ran == [1]


def test_cache_on_the_queue_database_needs_no_select(
    redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any
) -> None:
    connections = Connections(load_settings(environ={**sqlite_env, **redis_env, "REDIS_CACHE_DB": "0"}))
    try:
        control = control_for(connections, ["default"])
        assert control.cache_db == 0
        push(connections, "Tests\\A")
        php_set_db0 = store_of(connections)
        php_set_db0.client.set(php_set_db0.key(paused_key("redis", "default")), PHP_PAUSED)
        result = queue_of(connections).pop_with_control("default", control=control, restart=None)
        assert (result.skipped, result.paused) == ("paused", PHP_PAUSED)
        php_set_db0.forget(paused_key("redis", "default"))
        assert queue_of(connections).pop_with_control("default", control=control, restart=None).job is not None
    finally:
        connections.close()
