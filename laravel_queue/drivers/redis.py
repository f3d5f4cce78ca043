"""Laravel's Redis queue driver (`Illuminate\\Queue\\RedisQueue`), key for key.

Keys per queue Q under the connection prefix: `queues:Q` (list), `queues:Q:delayed`
and `queues:Q:reserved` (zsets scored by due second), `queues:Q:notify` (wake-up list).
A PHP worker and this driver can take turns on the same queue: pushes, reservations,
releases and deletes leave Redis exactly as Laravel's scripts would (spec §5).

Throughput: a pop is ONE EVALSHA carrying the previous job's deferred ack, both
migrations and the reservation (`redis_scripts.POP`), instead of Laravel's four calls.
With a Redis cache store on the same server (Redis >= 7.0), `pop_with_control` also
reads the worker's restart and pause keys inside that script (`control_keys`), so a
worker iteration is one round trip instead of two (MGET + EVALSHA).
Connection errors (`redis.exceptions.ConnectionError` / `TimeoutError`) propagate to
the worker; the pop script is atomic, so a job is either still listed or reserved
(and comes back after `retry_after`), never lost.
"""

from __future__ import annotations

import json
import logging
import os
import select
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from laravel_queue.drivers import redis_scripts
from laravel_queue.drivers.base import ControlledPop, Queue
from laravel_queue.job import InvalidPayloadError, Job
from laravel_queue.redis_client import is_cluster, redis_key_prefix
from laravel_queue.support import str_random

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.config.settings import QueueConnectionConfig
    from laravel_queue.connections import Connections

log = logging.getLogger("laravel_queue.redis")

# What identifies one server for a redis-py client (TCP or unix socket).
_SERVER_FIELDS = ("host", "port", "path", "username")


@dataclass(frozen=True)
class ControlKeys:
    """The worker's restart and pause keys as physical names on the cache database.

    Built by `RedisQueue.control_keys`, only when `pop_with_control` can read them.
    Values are RedisStore's stored bytes.
    """

    cache_db: int
    restart: str
    paused: Mapping[str, str]  # queue name -> its paused key

    def encode(self, value: Any) -> bytes:
        from laravel_queue.cache.redis import encode_value

        return encode_value(value)

    def decode(self, raw: bytes | None) -> Any:
        from laravel_queue.cache.redis import decode_value

        return decode_value(raw)


class _QueueKeys:
    """The four physical keys of one queue name."""

    __slots__ = ("delayed", "name", "notify", "queue", "reserved")

    def __init__(self, prefix: str, name: str) -> None:
        self.name = name
        self.queue = f"{prefix}queues:{name}"
        self.delayed = f"{self.queue}:delayed"
        self.reserved = f"{self.queue}:reserved"
        self.notify = f"{self.queue}:notify"


class RedisJob(Job):
    """A reserved Redis job: the original list element plus the exact reserved copy.

    `raw_bytes` is the element as it was listed (what `failed_jobs.payload` stores);
    `reserved` is the cjson copy with attempts incremented, byte for byte, because
    delete and release find the reservation by that exact member.
    """

    def __init__(
        self,
        driver: RedisQueue,
        *,
        raw: bytes,
        reserved: bytes,
        queue: str,
        attempts: int | None = None,
    ) -> None:
        body = raw.decode("utf-8", "replace")
        super().__init__(raw_body=body, queue=queue, connection_name=driver.connection_name)
        self.driver = driver
        self.raw_bytes = raw
        self.reserved = reserved
        self._attempts = attempts

    def attempts(self) -> int:
        """Original payload `attempts` + 1 (Laravel counts at reservation)."""
        if self._attempts is None:
            try:
                self._attempts = int(self.payload.get("attempts") or 0) + 1
            except (InvalidPayloadError, TypeError, ValueError):
                self._attempts = 1
        return self._attempts

    @property
    def job_id(self) -> str | None:
        try:
            value = self.payload.get("id")
        except InvalidPayloadError:
            return None
        return None if value is None else str(value)

    def _delete_from_backend(self) -> None:
        self.driver.delete_reserved(self.queue, self.reserved)

    def _release_to_backend(self, delay: int) -> None:
        self.driver.delete_and_release(self.queue, self.reserved, delay)

    def give_back(self) -> None:
        """Return the job exactly as it was listed, attempt not consumed (`--unknown=release`)."""
        self._released = True
        self.driver.give_back(self.queue, self.raw_bytes, self.reserved)

    def shed_body(self, *, acknowledged: bool = False) -> None:
        """Also drop the listed bytes (`reserved` stays until the deferred delete has used it)
        and the reply buffers that still hold the pop's reply."""
        super().shed_body(acknowledged=acknowledged)
        self.raw_bytes = b""
        if acknowledged:
            self.reserved = b""
        self.driver.release_read_buffers()


class RedisQueue(Queue):
    """One Redis queue connection with Laravel's semantics (push, pop, release, delete, sizes)."""

    def __init__(
        self,
        client: Any,
        *,
        connection_name: str = "redis",
        default_queue: str = "default",
        prefix: str = "",
        retry_after: int | None = 60,
        block_for: float | None = None,
        migration_batch_size: int = -1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(connection_name=connection_name, default_queue=default_queue)
        self.client = client
        self.prefix = prefix
        self.retry_after = retry_after
        self.block_for = block_for
        self.migration_batch_size = migration_batch_size
        self.clock = clock
        self._cluster = is_cluster(client)
        self._keys: dict[str, _QueueKeys] = {}
        self._secondary_queue_had_job = False
        self._push = client.register_script(redis_scripts.PUSH)
        self._later = client.register_script(redis_scripts.LATER)
        self._release = client.register_script(redis_scripts.RELEASE)
        self._size = client.register_script(redis_scripts.SIZE)
        self._clear = client.register_script(redis_scripts.CLEAR)
        self._pop = client.register_script(redis_scripts.POP)
        self._pop_control = client.register_script(redis_scripts.POP_WITH_CONTROL)
        self._hot = _HotPathConnection(client)
        self._scripts_keep_db: bool | None = None
        self._give_back = client.register_script(redis_scripts.GIVE_BACK)

    @classmethod
    def from_config(cls, connections: Connections, cfg: QueueConnectionConfig) -> RedisQueue:
        redis_name = cfg.connection or "default"
        return cls(
            connections.redis(redis_name),
            connection_name=cfg.name,
            default_queue=cfg.queue,
            prefix=redis_key_prefix(connections.settings, redis_name),
            retry_after=cfg.retry_after,
            block_for=cfg.block_for,
            migration_batch_size=cfg.migration_batch_size,
        )

    def keys(self, queue: str | None = None) -> _QueueKeys:
        name = self.get_queue(queue)
        keys = self._keys.get(name)
        if keys is None:
            keys = self._keys[name] = _QueueKeys(self.prefix, name)
        return keys

    def now(self) -> int:
        """Current Unix second, as Laravel's `currentTime()`."""
        return int(self.clock())

    # -- pushing ----------------------------------------------------------------------------
    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Add `id` and `attempts: 0` where Laravel puts them: after hook keys, before `delay`."""
        fields = {"id": str_random(32), "attempts": 0}
        if "id" in payload or "attempts" in payload or "delay" not in payload:
            merged = dict(payload)  # PHP array_merge: existing keys keep their place
            merged.update(fields)
            return merged
        prepared: dict[str, Any] = {}
        for key, value in payload.items():
            if key == "delay":
                prepared.update(fields)
            prepared[key] = value
        return prepared

    def push_raw(self, payload: str | bytes, queue: str | None = None, *, delay: int = 0) -> str | None:
        """RPUSH (+ notify token), or ZADD to `:delayed` at now + delay; returns the payload id."""
        keys = self.keys(queue)
        if delay > 0:
            self._later(keys=[keys.delayed], args=[self.now() + int(delay), payload])
        else:
            self._push(keys=[keys.queue, keys.notify], args=[payload])
        return _payload_id(payload)

    # -- popping ----------------------------------------------------------------------------
    def pop(self, queue: str | None = None, index: int = 0, *, ack: Job | None = None) -> RedisJob | None:
        """Migrate due delayed/expired jobs, then reserve the next job; `ack` rides along.

        Blocking follows Laravel (§5.3): only the first queue of the priority list
        blocks on `:notify` (BLPOP `block_for`), and not right after a lower queue
        produced a job.
        """
        keys = self.keys(queue)
        script_keys = [keys.queue, keys.reserved, keys.notify, keys.delayed]
        args = self._pop_args(migrate="1" if self.retry_after is None else "2")
        if ack is not None:
            self._attach_ack(ack, keys, script_keys, args)
        raw, reserved, attempts = self._pop(keys=script_keys, args=args)
        return self._finish_pop(keys, index, raw, reserved, attempts)

    def pop_with_control(
        self,
        queue: str | None,
        index: int = 0,
        *,
        ack: Job | None = None,
        control: ControlKeys,
        restart: bytes | None,
    ) -> ControlledPop:
        """`pop` that first reads the restart key and this queue's paused key, in the same script.

        `restart` is the restart value the worker expects (None: absent). When the stored
        value differs, or the paused key holds a value, nothing is migrated or popped and
        the worker decides (stop, or skip the queue). The ack is applied in every case.
        """
        keys = self.keys(queue)
        script_keys = [keys.queue, keys.reserved, keys.notify, keys.delayed, control.restart, control.paused[keys.name]]
        args = self._pop_args(migrate="1" if self.retry_after is None else "2")
        args += [control.cache_db, self._db(), "0" if restart is None else "1", b"" if restart is None else restart]
        if ack is not None:
            self._attach_ack(ack, keys, script_keys, args)
        reply = self._hot.run(self._pop_control, script_keys, args)
        if reply[0] != 0:
            return ControlledPop(None, reply[4], reply[5], "restart" if reply[0] == 1 else "paused")
        job = self._finish_pop(keys, index, reply[1], reply[2], reply[3])
        return ControlledPop(job, restart, None, None)

    def control_keys(
        self, store: CacheStore, *, restart_key: str, paused_keys: Mapping[str, str]
    ) -> ControlKeys | None:
        """The keys for `pop_with_control`, or None when that cannot read `store` (use the store).

        Needs a Redis cache store whose value connection is this queue's server (same
        host/port or socket, same user; any database), no cluster, and Redis >= 7.0, where
        SELECT inside a script leaves the calling connection's database unchanged.
        """
        from laravel_queue.cache.redis import RedisStore

        if not isinstance(store, RedisStore) or self._cluster or is_cluster(store.client):
            return None
        ours = self.client.connection_pool.connection_kwargs
        theirs = store.client.connection_pool.connection_kwargs
        if any(ours.get(field) != theirs.get(field) for field in _SERVER_FIELDS):
            return None
        if not self._server_scripts_keep_db():
            return None
        return ControlKeys(
            cache_db=int(theirs.get("db") or 0),
            restart=store.key(restart_key),
            paused={queue: store.key(key) for queue, key in paused_keys.items()},
        )

    def _server_scripts_keep_db(self) -> bool:
        """Redis >= 7.0 (asked once): before 7.0 a SELECT in a script leaked to the connection."""
        if self._scripts_keep_db is None:
            try:
                version = str(self.client.info("server").get("redis_version", "0"))
                self._scripts_keep_db = int(version.split(".")[0]) >= 7
            except Exception as exc:  # INFO denied or unreachable: keep the plain path
                log.info("Redis version unknown (%s); restart/pause keys read separately", exc)
                self._scripts_keep_db = False
        return self._scripts_keep_db

    def _db(self) -> int:
        return int(self.client.connection_pool.connection_kwargs.get("db") or 0)

    def _finish_pop(
        self, keys: _QueueKeys, index: int, raw: bytes | None, reserved: bytes | None, attempts: int | None
    ) -> RedisJob | None:
        """Laravel's BLPOP retry on the first queue, the secondary-queue flag, and the job."""
        block = not self._secondary_queue_had_job and index == 0
        if (
            raw is None
            and self.block_for is not None
            and block
            and self.client.blpop([keys.notify], timeout=self.block_for)
        ):
            script_keys = [keys.queue, keys.reserved, keys.notify, keys.delayed]
            raw, reserved, attempts = self._pop(keys=script_keys, args=self._pop_args(migrate="0"))
        if index == 0:
            self._secondary_queue_had_job = False
        if reserved is None:
            return None
        if index > 0:
            self._secondary_queue_had_job = True
        return RedisJob(self, raw=raw, reserved=reserved, queue=keys.name, attempts=attempts)

    def _pop_args(self, *, migrate: str) -> list[Any]:
        now = self.now()
        return [now + (self.retry_after or 0), now, self.migration_batch_size, migrate]

    def _attach_ack(self, ack: Job, keys: _QueueKeys, script_keys: list[str], args: list[Any]) -> None:
        """Add the ack's ZREM to this pop, or run it first when it cannot ride along."""
        if not isinstance(ack, RedisJob) or ack.driver is not self:
            ack._delete_from_backend()
            return
        ack_key = self.keys(ack.queue).reserved
        if self._cluster and self.client.keyslot(ack_key) != self.client.keyslot(keys.queue):
            ack._delete_from_backend()
            return
        script_keys.append(ack_key)
        args.append(ack.reserved)

    def flush_acks(self, jobs: list[Job]) -> None:
        """ZREM every deferred ack in one pipelined round trip."""
        pipe = self.client.pipeline(transaction=False)
        others = []
        for job in jobs:
            if isinstance(job, RedisJob) and job.driver is self:
                pipe.zrem(self.keys(job.queue).reserved, job.reserved)
            else:
                others.append(job)
        pipe.execute()
        super().flush_acks(others)

    # -- reserved-job operations ------------------------------------------------------------
    def delete_reserved(self, queue: str, reserved: bytes) -> None:
        """Laravel's `deleteReserved`: ZREM the exact reserved copy."""
        self.client.zrem(self.keys(queue).reserved, reserved)

    def delete_and_release(self, queue: str, reserved: bytes, delay: int) -> None:
        """Laravel's `deleteAndRelease`: the reserved copy moves to `:delayed` at now + delay."""
        keys = self.keys(queue)
        self._release(keys=[keys.delayed, keys.reserved], args=[reserved, self.now() + int(delay)])

    def give_back(self, queue: str, raw: bytes, reserved: bytes) -> None:
        keys = self.keys(queue)
        self._give_back(keys=[keys.queue, keys.reserved, keys.notify], args=[raw, reserved])

    # -- sizes and maintenance --------------------------------------------------------------
    @property
    def pop_may_wait(self) -> bool:
        return self.block_for is not None  # BLPOP on the notify list

    def size(self, queue: str | None = None) -> int:
        keys = self.keys(queue)
        return int(self._size(keys=[keys.queue, keys.delayed, keys.reserved]))

    def pending_size(self, queue: str | None = None) -> int:
        return int(self.client.llen(self.keys(queue).queue))

    def delayed_size(self, queue: str | None = None) -> int:
        return int(self.client.zcard(self.keys(queue).delayed))

    def reserved_size(self, queue: str | None = None) -> int:
        return int(self.client.zcard(self.keys(queue).reserved))

    def creation_time_of_oldest_pending_job(self, queue: str | None = None) -> int | None:
        """`createdAt` of the list head (Laravel 12), None when empty or absent."""
        head = self.client.lindex(self.keys(queue).queue, 0)
        if head is None:
            return None
        try:
            created = json.loads(head).get("createdAt")
        except (ValueError, AttributeError):
            return None
        return created if isinstance(created, int) and not isinstance(created, bool) else None

    def clear(self, queue: str | None = None) -> int:
        keys = self.keys(queue)
        return int(self._clear(keys=[keys.queue, keys.delayed, keys.reserved, keys.notify]))

    def close(self) -> None:
        """Close the hot-path connection; the client itself belongs to `Connections`."""
        self._hot.close()

    def busy_poll(self, microseconds: int) -> None:
        self._hot.spin_ns = max(microseconds, 0) * 1000

    def release_read_buffers(self) -> None:
        """Free the hiredis buffers that keep the last (huge) reply until the connection's next read."""
        _shrink_reader(self._hot._reader)
        for connection in list(getattr(self.client.connection_pool, "_available_connections", ())):
            _shrink_reader(getattr(getattr(connection, "_parser", None), "_reader", None))


def _shrink_reader(reader: Any) -> None:
    """hiredis frees a reader's grown buffer only on its next feed: feed it one tiny reply, read it back.

    Only between replies (no unread bytes), so the reader's state is what it was.
    """
    if reader is None or not hasattr(reader, "has_data") or reader.has_data():
        return
    reader.feed(b"+OK\r\n")
    reader.gets()


_HOT_READ_SIZE = 65536  # recv_into buffer; a bigger reply is fed to the reader in pieces


class _HotPathConnection:
    """One connection of the client's pool kept by the queue for the worker's per-job script.

    Through redis-py, a job's EVALSHA spends ~10 µs of ~25 µs on the client: packing
    (a generator with isinstance per argument), the pool's unread-data poll, metrics
    and connection layers. So redis-py only makes and handshakes the connection (AUTH or
    ACL user, HELLO/protocol, SELECT, TLS, unix socket, client name); each call is then
    one `hiredis.pack_command` + `sendall`, and the reply is read with `recv_into` into a
    preallocated buffer and parsed by that connection's own hiredis reader, so replies
    are exactly what `read_response()` returns (RESP2 or RESP3, bytes or decoded). A
    connection whose parser is not hiredis goes through `send_command`/`read_response`.

    With `spin_ns` (`queue:work --busy-poll`) the wait for a reply first polls the socket
    without sleeping, yielding the CPU on every turn, and only then blocks in `recv`: a
    sleeping process is woken through the scheduler (on a VM, an interrupt to a halted
    vCPU), which can cost more than the script itself. Off by default: it trades CPU for
    latency and only pays where the worker has a core to itself.

    Errors behave as through the client: NOSCRIPT loads the script and retries once;
    another error reply raises redis-py's exception for it (ResponseError, NoPermission,
    Busy...); a connection error drops the socket and any half-read reply (the next call
    reconnects) and propagates as redis-py's ConnectionError/TimeoutError to the worker,
    which logs it and backs off.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._connection: Any = None
        self._sock: Any = None  # set while connected with a hiredis parser
        self._reader: Any = None  # that parser's hiredis.Reader
        self._not_enough_data: object = None  # what the reader's gets() returns for "need more"
        self._push_type: Any = ()  # hiredis.PushNotification (hiredis >= 3.2)
        self._pack_command: Any = None  # hiredis.pack_command, set with _sock
        self._buffer = bytearray(_HOT_READ_SIZE)
        self._view = memoryview(self._buffer)
        self.spin_ns = 0  # busy-poll budget per reply wait (0: block at once)
        self._poller: Any = None  # select.poll on _sock, for the busy-poll

    def run(self, script: Any, keys: list[Any], args: list[Any]) -> Any:
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return self._call(command)
        except Exception as exc:
            from redis.exceptions import NoScriptError

            if not isinstance(exc, NoScriptError):
                raise
        self._client.script_load(script.script)
        return self._call(command)

    def _call(self, command: tuple[Any, ...]) -> Any:
        sock = self._sock
        if sock is None:
            sock = self._connect()
            if sock is None:
                return self._call_through_redis_py(command)
        try:
            packed = self._pack_command(command)
        except TypeError as exc:  # as redis-py's HiredisRespSerializer
            from redis.exceptions import DataError

            raise DataError(exc) from exc
        reader = self._reader
        not_enough_data = self._not_enough_data
        reading = False
        try:
            sock.sendall(packed)
            reading = True
            while True:
                reply = reader.gets()
                while reply is not_enough_data:
                    if self.spin_ns:
                        self._spin_until_readable()
                    got = sock.recv_into(self._buffer)
                    if not got:
                        from redis._parsers.socket import SERVER_CLOSED_CONNECTION_ERROR
                        from redis.exceptions import ConnectionError as RedisConnectionError

                        raise RedisConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
                    reader.feed(self._view, 0, got)
                    reply = reader.gets()
                if type(reply) is list and not (reply and isinstance(reply[0], Exception)):
                    return reply  # the pop scripts' reply
                if not isinstance(reply, self._push_type):
                    break
                self._connection._parser.handle_push_response(reply)  # as read_response does
        except BaseException as exc:
            self._disconnect()
            error = self._connection_error(exc, reading=reading)
            if error is exc:
                raise
            raise error from exc
        return self._checked(reply)

    def _spin_until_readable(self) -> None:
        """Poll (timeout 0) until the reply is readable or `spin_ns` has passed; each empty
        poll yields, so other runnable work on this core (Redis, other workers) goes first."""
        poll = self._poller.poll
        clock = time.perf_counter_ns
        deadline = clock() + self.spin_ns
        while not poll(0) and clock() < deadline:
            os.sched_yield()

    def _checked(self, reply: Any) -> Any:
        """What `Connection.read_response` does with an error (or error-led) reply."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError

        first = reply[0] if type(reply) is list else None
        if isinstance(reply, RedisConnectionError) or isinstance(first, RedisConnectionError):
            self._disconnect()
            raise reply if first is None else first
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _connect(self) -> Any:
        """Connect through redis-py; the socket for the hiredis path, or None for redis-py's."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._client.connection_pool.make_connection()
        connection.connect()
        try:
            import hiredis
            from redis._parsers.hiredis import NOT_ENOUGH_DATA, _HiredisParser
        except ImportError:
            return None
        parser = getattr(connection, "_parser", None)
        if not isinstance(parser, _HiredisParser) or not hasattr(parser, "handle_push_response"):
            return None
        sock, reader = getattr(connection, "_sock", None), getattr(parser, "_reader", None)
        if sock is None or reader is None:
            return None
        self._reader = reader
        self._not_enough_data = NOT_ENOUGH_DATA
        self._push_type = getattr(hiredis, "PushNotification", ())
        self._pack_command = hiredis.pack_command
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._sock = sock
        return sock

    def _call_through_redis_py(self, command: tuple[Any, ...]) -> Any:
        """The connection's own path; it disconnects itself on connection errors."""
        self._connection.send_command(*command)
        return self._connection.read_response()

    def _connection_error(self, exc: BaseException, *, reading: bool) -> BaseException:
        """redis-py's exception for a socket error (`exc` itself when it is not one)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        host = self._host()
        if isinstance(exc, TimeoutError):  # socket.timeout
            return RedisTimeoutError(f"Timeout reading from {host}" if reading else "Timeout writing to socket")
        if not isinstance(exc, OSError):
            return exc
        if reading:
            return RedisConnectionError(f"Error while reading from {host} : {exc.args}")
        errno, message = exc.args[:2] if len(exc.args) >= 2 else ("UNKNOWN", exc.args[0] if exc.args else exc)
        return RedisConnectionError(f"Error {errno} while writing to socket. {message}.")

    def _host(self) -> str:
        host_error = getattr(self._connection, "_host_error", None)
        return str(host_error()) if host_error is not None else "redis"

    def _disconnect(self) -> None:
        """Drop the socket and the reader with whatever part of a reply it holds."""
        self._sock = None
        self._reader = None
        self._poller = None
        if self._connection is not None:
            self._connection.disconnect()

    def close(self) -> None:
        self._disconnect()
        self._connection = None


def _payload_id(payload: str | bytes) -> str | None:
    """Laravel's `pushRaw` return value: the payload's `id`, if it has one."""
    try:
        decoded = json.loads(payload)
    except ValueError:
        return None
    value = decoded.get("id") if isinstance(decoded, dict) else None
    return None if value is None else str(value)
