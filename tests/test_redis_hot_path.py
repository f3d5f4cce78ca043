"""The Redis queue's hot path (`drivers.redis_transport.HotPathConnection`): the worker's per-job EVALSHA written
with hiredis and read with `recv_into`, on a connection redis-py made, against a real Redis.

Large replies, NOSCRIPT, error replies, the server killing the connection, a reply cut
in the middle and a read timeout: each behaves as it did through redis-py's
`send_command`/`read_response`, and the next call works on a fresh connection.
"""

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
from conftest import wait_for
from support.control import push

from laravel_queue.cache.redis import RedisStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.redis import ControlKeys, RedisQueue
from laravel_queue.worker.worker import RESTART_KEY, paused_key


@pytest.fixture
def conns(redis_env: dict[str, str], sqlite_env: dict[str, str], redis_client: Any) -> Iterator[Connections]:
    connections = Connections(load_settings(environ={**sqlite_env, **redis_env}))
    yield connections
    connections.close()


def queue_of(conns: Connections) -> RedisQueue:
    queue = conns.queue()
    assert isinstance(queue, RedisQueue)
    return queue


def control_of(queue: RedisQueue, store: Any) -> ControlKeys:
    control = queue.control_keys(
        store, restart_key=RESTART_KEY, paused_keys={"default": paused_key(queue.connection_name, "default")}
    )
    assert control is not None, "same server, Redis >= 7: pops go through the hot path"
    return control


def pop(queue: RedisQueue, control: ControlKeys) -> Any:
    return queue.pop_with_control("default", control=control, restart=None).job


def hot_client_id(queue: RedisQueue) -> int:
    """The server's id of the hot-path connection (found by its local address)."""
    host, port = queue._hot._sock.getsockname()[:2]
    for client in queue.client.client_list():
        if client["addr"] == f"{host}:{port}":
            return int(client["id"])
    raise AssertionError("hot-path connection not in CLIENT LIST")


def test_workers_connection_takes_the_hiredis_path(conns: Connections) -> None:
    queue = queue_of(conns)
    control = control_of(queue, conns.cache())
    push(conns, "Tests\\N", 1)
    assert pop(queue, control) is not None
    assert queue._hot._sock is not None and queue._hot._reader is not None


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_are_those_of_redis_py_in_resp2_and_resp3(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str, protocol: int
) -> None:
    client = redis.Redis(host=redis_server[0], port=redis_server[1], protocol=protocol)
    queue = RedisQueue(client, prefix=redis_prefix)
    redis_client.set(redis_prefix + "k", "v")
    script = client.register_script(
        "return {0, ARGV[1], false, 3, redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), {}, {ok='OK'}}"
    )
    keys, args = [redis_prefix + "k", redis_prefix + "absent"], ["é", b"\xff\x00"]
    assert queue._hot.run(script, keys, args) == script(keys=keys, args=args)
    assert queue._hot._connection.protocol == protocol and queue._hot._sock is not None
    queue.close()
    client.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_pure_python_parser_falls_back_to_redis_pys_own_path(
    redis_server: tuple[str, int], redis_client: Any, redis_prefix: str, protocol: int
) -> None:
    """No hiredis reader to borrow (parser_class chosen by the user): same replies, via read_response."""
    from redis._parsers import _RESP2Parser, _RESP3Parser

    parser = _RESP2Parser if protocol == 2 else _RESP3Parser
    pool = redis.ConnectionPool(host=redis_server[0], port=redis_server[1], protocol=protocol, parser_class=parser)
    client = redis.Redis(connection_pool=pool)
    queue = RedisQueue(client, prefix=redis_prefix)
    redis_client.set(redis_prefix + "k", "v")
    script = client.register_script("return {0, ARGV[1], false, redis.call('GET', KEYS[1])}")
    keys, args = [redis_prefix + "k"], [b"\xff\x00"]
    assert queue._hot.run(script, keys, args) == script(keys=keys, args=args)
    assert queue._hot._sock is None  # redis-py's send_command/read_response carried it
    client.script_flush()
    assert queue._hot.run(script, keys, args) == [0, b"\xff\x00", None, b"v"]  # NOSCRIPT: loaded, retried
    queue.close()
    client.close()


@pytest.mark.parametrize("busy_poll_us", [0, 200])
def test_reply_larger_than_the_read_buffer_pops_intact(conns: Connections, busy_poll_us: int) -> None:
    queue = queue_of(conns)
    queue.busy_poll(busy_poll_us)
    control = control_of(queue, conns.cache())
    big = "é" + "x" * (1024 * 1024) + "\r\n$-1\r\n"  # RESP-looking bytes inside the payload
    push(conns, "Tests\\Big", big)
    job = pop(queue, control)
    assert job is not None
    assert json.loads(job.raw_bytes)["data"] == big
    assert json.loads(job.reserved)["attempts"] == 1
    job.delete()
    push(conns, "Tests\\Small", 2)  # the same connection keeps reading replies in step
    small = pop(queue, control)
    assert small is not None and json.loads(small.raw_bytes)["data"] == 2


def test_noscript_after_script_flush_loads_the_script_and_retries(conns: Connections, redis_client: Any) -> None:
    queue = queue_of(conns)
    control = control_of(queue, conns.cache())
    push(conns, "Tests\\N", 1)
    assert pop(queue, control) is not None
    sock = queue._hot._sock
    redis_client.script_flush()
    assert redis_client.script_exists(queue._pop_control.sha) == [False]
    push(conns, "Tests\\N", 2)
    job = pop(queue, control)
    assert job is not None and json.loads(job.raw_bytes)["data"] == 2
    assert redis_client.script_exists(queue._pop_control.sha) == [True]
    assert queue._hot._sock is sock  # an error reply is not a connection error


def test_error_reply_raises_response_error_and_the_connection_stays(conns: Connections, redis_client: Any) -> None:
    queue = queue_of(conns)
    control = control_of(queue, conns.cache())
    push(conns, "Tests\\N", 1)
    assert pop(queue, control) is not None
    sock = queue._hot._sock
    pending = queue.keys("default").queue
    redis_client.delete(pending)
    redis_client.set(pending, "not a list")  # the script's LPOP fails with WRONGTYPE
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        pop(queue, control)
    assert queue._hot._sock is sock
    redis_client.delete(pending)
    push(conns, "Tests\\N", 2)
    job = pop(queue, control)
    assert job is not None and json.loads(job.raw_bytes)["data"] == 2


@pytest.mark.parametrize("reply", ["ERR plain", "NOPERM no access", "BUSY script running", "READONLY replica"])
def test_error_replies_map_to_redis_py_exceptions(conns: Connections, redis_client: Any, reply: str) -> None:
    queue = queue_of(conns)
    script = queue.client.register_script(f"return redis.error_reply({reply!r})")
    with pytest.raises(redis.exceptions.ResponseError) as through_redis_py:
        script(keys=[], args=[])
    with pytest.raises(redis.exceptions.ResponseError) as hot:
        queue._hot.run(script, [], [])
    assert type(hot.value) is type(through_redis_py.value)
    assert str(hot.value) == str(through_redis_py.value)
    assert queue._hot.run(queue.client.register_script("return {1, 'ok'}"), [], []) == [1, b"ok"]


def test_server_killing_the_connection_raises_and_the_next_call_reconnects(
    conns: Connections, redis_client: Any
) -> None:
    queue = queue_of(conns)
    control = control_of(queue, conns.cache())
    push(conns, "Tests\\N", 1)
    assert pop(queue, control) is not None
    killed = hot_client_id(queue)
    assert redis_client.client_kill_filter(_id=killed) == 1
    wait_for(lambda: all(int(c["id"]) != killed for c in redis_client.client_list()), what="the kill")
    push(conns, "Tests\\N", 2)
    with pytest.raises(redis.exceptions.ConnectionError):
        pop(queue, control)
    assert queue._hot._sock is None and queue._hot._reader is None
    assert queue.pending_size("default") == 1  # the script never ran: nothing lost
    job = pop(queue, control)
    assert job is not None and json.loads(job.raw_bytes)["data"] == 2
    assert hot_client_id(queue) != killed


# -- a proxy that cuts a reply in the middle, or holds it ---------------------------------------------


class ReplyCutter:
    """A TCP proxy to Redis; when armed, it forwards part of the next reply and closes the client."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self.cut_after: int | None = None  # bytes of the next reply to forward, then close
        self.hold = threading.Event()  # swallow replies (the client times out)
        self.delay = 0.0  # seconds each reply is held before it is forwarded
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, is_reply: bool) -> None:
        try:
            while data := source.recv(65536):
                if is_reply and self.hold.is_set():
                    continue
                if is_reply and self.delay:
                    time.sleep(self.delay)
                if is_reply and self.cut_after is not None:
                    sink.sendall(data[: self.cut_after])
                    self.cut_after = None
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def cutter(redis_server: tuple[str, int]) -> Iterator[ReplyCutter]:
    proxy = ReplyCutter(redis_server)
    yield proxy
    proxy.close()


def proxied_queue(cutter: ReplyCutter, redis_prefix: str, **client_options: Any) -> tuple[RedisQueue, ControlKeys]:
    client = redis.Redis(port=cutter.port, db=0, **client_options)
    store = RedisStore(client, client, prefix=redis_prefix + "cache:", lock_prefix="")
    queue = RedisQueue(client, prefix=redis_prefix)
    return queue, control_of(queue, store)


@pytest.mark.parametrize("busy_poll_us", [0, 200])
def test_reply_cut_in_the_middle_is_dropped_not_parsed_later(
    cutter: ReplyCutter, redis_prefix: str, busy_poll_us: int
) -> None:
    queue, control = proxied_queue(cutter, redis_prefix)
    queue.busy_poll(busy_poll_us)
    assert pop(queue, control) is None  # connects the hot path and loads the script
    queue.push_raw(json.dumps({"id": "big", "attempts": 0, "data": "x" * 200_000}))
    queue.push_raw(json.dumps({"id": "next", "attempts": 0}))
    cutter.cut_after = 1000  # the reply's head reaches the reader, the rest never does
    with pytest.raises(redis.exceptions.ConnectionError):
        pop(queue, control)
    assert queue._hot._sock is None and queue._hot._reader is None
    job = pop(queue, control)  # a fresh connection and reader: no stale half reply
    assert job is not None and job.job_id == "next"
    assert queue.reserved_size("default") == 2  # "big" comes back after retry_after
    queue.close()


@pytest.mark.parametrize("busy_poll_us", [0, 200_000])
def test_read_timeout_raises_timeout_error_and_the_next_call_reconnects(
    cutter: ReplyCutter, redis_client: Any, redis_prefix: str, busy_poll_us: int
) -> None:
    queue, control = proxied_queue(cutter, redis_prefix, socket_timeout=0.3)
    queue.busy_poll(busy_poll_us)
    queue.push_raw(json.dumps({"id": "a", "attempts": 0}))
    assert pop(queue, control) is not None
    cutter.hold.set()
    with pytest.raises(redis.exceptions.TimeoutError):
        pop(queue, control)
    assert queue._hot._sock is None
    cutter.hold.clear()
    queue.push_raw(json.dumps({"id": "b", "attempts": 0}))
    job = pop(queue, control)
    assert job is not None and job.job_id == "b"
    queue.close()


def _cpu_while_popping(queue: RedisQueue, control: ControlKeys) -> tuple[Any, float]:
    started = time.thread_time()
    job = pop(queue, control)
    return job, time.thread_time() - started


def test_busy_poll_spins_up_to_its_budget_then_sleeps_until_the_reply(
    cutter: ReplyCutter, redis_prefix: str
) -> None:
    """A reply slower than the budget: the pop burns about the budget in CPU, not the whole
    wait, and still returns the job; with busy-poll off the same wait costs no CPU."""
    queue, control = proxied_queue(cutter, redis_prefix)
    assert pop(queue, control) is None  # connects the hot path and loads the script
    cutter.delay = 0.4
    for n in range(2):
        queue.push_raw(json.dumps({"id": f"j{n}", "attempts": 0}))
    job, blocked_cpu = _cpu_while_popping(queue, control)
    assert job is not None and job.job_id == "j0"
    queue.busy_poll(50_000)  # 50 ms
    job, spun_cpu = _cpu_while_popping(queue, control)
    assert job is not None and job.job_id == "j1"
    assert blocked_cpu < 0.02
    assert 0.01 < spun_cpu < 0.3  # spun for part of the 400 ms wait, then slept in recv
    queue.close()
