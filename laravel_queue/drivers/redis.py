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

Beside it: `redis_keys` (the key names), `redis_scripts` (the Lua), `redis_control` (the
restart and pause keys the pop reads), `redis_transport` (the hot-path socket), `redis_job`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from laravel_queue import compat
from laravel_queue.drivers import redis_scripts
from laravel_queue.drivers.base import ControlledPop, Queue
from laravel_queue.drivers.redis_control import ControlKeys, control_keys_for, scripts_keep_db
from laravel_queue.drivers.redis_job import RedisJob
from laravel_queue.drivers.redis_keys import QueueKeys, has_hash_tag
from laravel_queue.drivers.redis_transport import HotPathConnection, shrink_reader
from laravel_queue.drivers.wake import PushWait, RedisNotifyWait
from laravel_queue.job import Job
from laravel_queue.redis_client import is_cluster, redis_key_prefix
from laravel_queue.support import str_random

if TYPE_CHECKING:
    from laravel_queue.cache.base import CacheStore
    from laravel_queue.config.settings import QueueConnectionConfig
    from laravel_queue.resources import Resources

__all__ = ["ControlKeys", "RedisJob", "RedisQueue", "has_hash_tag"]


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
        hash_tag_keys: bool = False,
    ) -> None:
        """`hash_tag_keys` (Laravel 13 on a cluster): `queues:{name}` unless the name has a tag."""
        super().__init__(connection_name=connection_name, default_queue=default_queue)
        self.client = client
        self.prefix = prefix
        self.retry_after = retry_after
        self.block_for = block_for
        self.migration_batch_size = migration_batch_size
        self.clock = clock
        self._cluster = is_cluster(client)
        self._hash_tag_keys = hash_tag_keys and self._cluster
        self._keys: dict[str, QueueKeys] = {}
        self._secondary_queue_had_job = False
        self._push = client.register_script(redis_scripts.PUSH)
        self._later = client.register_script(redis_scripts.LATER)
        self._release = client.register_script(redis_scripts.RELEASE)
        self._size = client.register_script(redis_scripts.SIZE)
        self._clear = client.register_script(redis_scripts.CLEAR)
        self._pop = client.register_script(redis_scripts.POP)
        self._pop_control = client.register_script(redis_scripts.POP_WITH_CONTROL)
        self._hot = HotPathConnection(client)
        self._scripts_keep_db: bool | None = None
        self._give_back = client.register_script(redis_scripts.GIVE_BACK)

    @classmethod
    def from_config(cls, connections: Resources, cfg: QueueConnectionConfig) -> RedisQueue:
        redis_name = cfg.connection or "default"
        client = connections.redis(redis_name)
        return cls(
            client,
            connection_name=cfg.name,
            default_queue=cfg.queue,
            prefix=redis_key_prefix(connections.settings, redis_name),
            retry_after=cfg.retry_after,
            block_for=cfg.block_for,
            migration_batch_size=cfg.migration_batch_size,
            hash_tag_keys=compat.cluster_queue_keys_hash_tagged(connections.settings.laravel_version),
        )

    def keys(self, queue: str | None = None) -> QueueKeys:
        name = self.get_queue(queue)
        keys = self._keys.get(name)
        if keys is None:
            keys = self._keys[name] = QueueKeys(self.prefix, name, self._hash_tag_keys)
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

    def pop_with_control(  # type: ignore[override]  # takes only the keys its own control_keys() built
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
        if control.pause_all is not None:
            script_keys.append(control.pause_all)
        args = self._pop_args(migrate="1" if self.retry_after is None else "2")
        args += [control.cache_db, self._db(), "0" if restart is None else "1", b"" if restart is None else restart]
        args.append(len(script_keys) - 5)  # how many paused keys
        if ack is not None:
            self._attach_ack(ack, keys, script_keys, args)
        reply = self._hot.run(self._pop_control, script_keys, args)
        if reply[0] != 0:
            return ControlledPop(None, reply[4], reply[5], "restart" if reply[0] == 1 else "paused")
        job = self._finish_pop(keys, index, reply[1], reply[2], reply[3])
        return ControlledPop(job, restart, None, None)

    reads_pause_all_key = True

    def control_keys(
        self,
        store: CacheStore,
        *,
        restart_key: str,
        paused_keys: Mapping[str, str],
        pause_all_key: str | None = None,
    ) -> ControlKeys | None:
        """The keys for `pop_with_control`, or None when that cannot read `store` (use the store).

        Needs a Redis cache store whose value connection is this queue's server (same
        host/port or socket, same user; any database), no cluster, and Redis >= 7.0, where
        SELECT inside a script leaves the calling connection's database unchanged.
        """
        return control_keys_for(
            self.client,
            store,
            restart_key=restart_key,
            paused_keys=paused_keys,
            pause_all_key=pause_all_key,
            scripts_keep_db=self._server_scripts_keep_db,
        )

    def _server_scripts_keep_db(self) -> bool:
        """Redis >= 7.0, asked once per queue."""
        if self._scripts_keep_db is None:
            self._scripts_keep_db = scripts_keep_db(self.client)
        return self._scripts_keep_db

    def _db(self) -> int:
        return int(self.client.connection_pool.connection_kwargs.get("db") or 0)

    def _finish_pop(
        self, keys: QueueKeys, index: int, raw: bytes | None, reserved: bytes | None, attempts: int | None
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
        if reserved is None or raw is None:  # the script returns both or neither
            return None
        if index > 0:
            self._secondary_queue_had_job = True
        return RedisJob(self, raw=raw, reserved=reserved, queue=keys.name, attempts=attempts)

    def _pop_args(self, *, migrate: str) -> list[Any]:
        now = self.now()
        return [now + (self.retry_after or 0), now, self.migration_batch_size, migrate]

    def _attach_ack(self, ack: Job, keys: QueueKeys, script_keys: list[str], args: list[Any]) -> None:
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

    def push_wait(self) -> PushWait | None:
        """With `block_for` unset, BLPOP on the queues' `:notify` lists for at most `--sleep`;
        with it set, the pop itself blocks, as Laravel's does."""
        return RedisNotifyWait(self) if self.block_for is None else None

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
        self._hot.release_read_buffer()
        for connection in list(getattr(self.client.connection_pool, "_available_connections", ())):
            shrink_reader(getattr(getattr(connection, "_parser", None), "_reader", None))


def _payload_id(payload: str | bytes) -> str | None:
    """Laravel's `pushRaw` return value: the payload's `id`, if it has one."""
    try:
        decoded = json.loads(payload)
    except ValueError:
        return None
    value = decoded.get("id") if isinstance(decoded, dict) else None
    return None if value is None else str(value)
