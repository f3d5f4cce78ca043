"""Horizon's Redis keyspace, written the way Horizon's own listeners write it.

One `HorizonStore` per process. Every public method sends one command: a single
HSET or one Lua script (scripts.py); the reserved write's reply is read with the next
write's (channel.py), so a job waits for Redis once for its bookkeeping. Key names and value formats follow Horizon's
RedisJobRepository / RedisTagRepository / RedisMetricsRepository (spec horizon.md §2, §5).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from laravel_queue.horizon import scripts
from laravel_queue.horizon.channel import DeferredReplies
from laravel_queue.support import php_float_to_string as php_float

_SHAS = {body: hashlib.sha1(body.encode()).hexdigest() for body in (scripts.PUSHED, scripts.COMPLETED, scripts.FAILED)}


@dataclass(frozen=True)
class JobRecord:
    """What Horizon stores about one job attempt: the identity fields and the payload copy."""

    id: str
    connection: str
    queue: str
    name: str
    payload: str
    tags: tuple[str, ...] = ()
    silenced: bool = False
    retry_of: str | None = None


@dataclass
class HorizonStore:
    """Writes a job's stages into Horizon's keyspace (`prefix` is horizon.prefix)."""

    client: Any
    prefix: str
    trim: Mapping[str, int]
    clock: Callable[[], float] = time.time
    _channel: DeferredReplies = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._channel = DeferredReplies(self.client)

    def _script(self, body: str, keys: list[str], args: list[Any]) -> None:
        sha = _SHAS.get(body) or hashlib.sha1(body.encode()).hexdigest()
        try:
            self._channel.send("EVALSHA", sha, len(keys), *keys, *args)
        except NoScriptError:
            self._channel.send("SCRIPT", "LOAD", body)
            self._channel.send("EVALSHA", sha, len(keys), *keys, *args)

    def close(self) -> None:
        self._channel.close()

    def key(self, name: str) -> str:
        return self.prefix + name

    def _times(self, trim: str) -> tuple[float, str, str, int]:
        now = self.clock()
        return now, php_float(now), php_float(-now), int(now) + int(self.trim.get(trim, 60)) * 60

    def pushed(self, job: JobRecord) -> None:
        """JobPushed: recent + pending, the full pending hash, monitored tags (StoreJob, StoreMonitoredTags)."""
        _, now, score, expire_at = self._times("pending")
        self._script(
            scripts.PUSHED,
            [self.key(job.id), self.key("recent_jobs"), self.key("pending_jobs"), self.key("monitoring")],
            [job.id, now, score, expire_at, job.connection, job.queue, job.name, job.payload, self.prefix, *job.tags],
        )

    def reserved(self, job_id: str, payload: str) -> None:
        """JobReserved: status reserved with the reserved copy (MarkJobAsReserved)."""
        now = php_float(self.clock())
        self._channel.send(
            "HSET", self.key(job_id), "status", "reserved", "payload", payload, "updated_at", now, "reserved_at", now,
            wait=False,
        )

    def released(self, job_id: str, payload: str) -> None:
        """JobReleased (and give-back): back to pending with the copy that was released."""
        self._channel.send(
            "HSET", self.key(job_id), "status", "pending", "payload", payload, "updated_at", php_float(self.clock())
        )

    def completed(self, job: JobRecord, runtime_ms: float) -> None:
        """JobDeleted after success: completed (or silenced), monitored copy, retry parent, metrics."""
        _, now, score, expire_at = self._times("completed")
        monitored_expire = int(float(now)) + int(self.trim.get("monitored", 10080)) * 60
        self._script(
            scripts.COMPLETED,
            [
                self.key(job.id), self.key("silenced_jobs" if job.silenced else "completed_jobs"),
                self.key("pending_jobs"), self.key("monitored_jobs"), self.key("monitoring"),
                self.key(f"queue:{job.queue}"), self.key("measured_queues"),
                self.key(f"job:{job.name}"), self.key("measured_jobs"),
                self.key(job.retry_of) if job.retry_of else "",
            ],
            [job.id, now, score, expire_at, monitored_expire, php_float(round(runtime_ms, 2)),
             job.connection, job.queue, job.name, job.payload, *job.tags],
        )

    def failed(self, job: JobRecord, exception: str, context: str = "") -> None:
        """Job::fail: completed-while-failed, then the failed record and failed tag lists (MarkJobAsFailed)."""
        _, now, score, expire_at = self._times("failed")
        failed_ttl = int(self.trim.get("failed", 10080)) * 60
        self._script(
            scripts.FAILED,
            [
                self.key(job.id), self.key("completed_jobs"), self.key("silenced_jobs"), self.key("pending_jobs"),
                self.key("failed_jobs"), self.key("recent_failed_jobs"),
                self.key(job.retry_of) if job.retry_of else "",
            ],
            [job.id, now, score, expire_at, job.connection, job.queue, job.name, job.payload, exception,
             context, failed_ttl, self.key("failed:"), *job.tags],
        )
