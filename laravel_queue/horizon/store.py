"""Horizon's Redis keyspace, written the way Horizon's own listeners write it.

One `HorizonStore` per process. Every public method is one round trip: a single
HSET or one Lua script (scripts.py). Key names and value formats follow Horizon's
RedisJobRepository / RedisTagRepository / RedisMetricsRepository (spec horizon.md §2, §5).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from laravel_queue.horizon import scripts
from laravel_queue.support import php_float_to_string as php_float


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
    _scripts: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("PUSHED", "COMPLETED", "FAILED"):
            self._scripts[name] = self.client.register_script(getattr(scripts, name))

    def key(self, name: str) -> str:
        return self.prefix + name

    def _times(self, trim: str) -> tuple[float, str, str, int]:
        now = self.clock()
        return now, php_float(now), php_float(-now), int(now) + int(self.trim.get(trim, 60)) * 60

    def pushed(self, job: JobRecord) -> None:
        """JobPushed: recent + pending, the full pending hash, monitored tags (StoreJob, StoreMonitoredTags)."""
        _, now, score, expire_at = self._times("pending")
        self._scripts["PUSHED"](
            keys=[self.key(job.id), self.key("recent_jobs"), self.key("pending_jobs"), self.key("monitoring")],
            args=[job.id, now, score, expire_at, job.connection, job.queue, job.name, job.payload, self.prefix,
                  *job.tags],
        )

    def reserved(self, job_id: str, payload: str) -> None:
        """JobReserved: status reserved with the reserved copy (MarkJobAsReserved)."""
        now = php_float(self.clock())
        self.client.execute_command(
            "HSET", self.key(job_id), "status", "reserved", "payload", payload, "updated_at", now, "reserved_at", now
        )

    def released(self, job_id: str, payload: str) -> None:
        """JobReleased (and give-back): back to pending with the copy that was released."""
        self.client.execute_command(
            "HSET", self.key(job_id), "status", "pending", "payload", payload, "updated_at", php_float(self.clock())
        )

    def completed(self, job: JobRecord, runtime_ms: float) -> None:
        """JobDeleted after success: completed (or silenced), monitored copy, retry parent, metrics."""
        _, now, score, expire_at = self._times("completed")
        monitored_expire = int(float(now)) + int(self.trim.get("monitored", 10080)) * 60
        self._scripts["COMPLETED"](
            keys=[
                self.key(job.id), self.key("silenced_jobs" if job.silenced else "completed_jobs"),
                self.key("pending_jobs"), self.key("monitored_jobs"), self.key("monitoring"),
                self.key(f"queue:{job.queue}"), self.key("measured_queues"),
                self.key(f"job:{job.name}"), self.key("measured_jobs"),
                self.key(job.retry_of) if job.retry_of else "",
            ],
            args=[job.id, now, score, expire_at, monitored_expire, php_float(round(runtime_ms, 2)),
                  job.connection, job.queue, job.name, job.payload, *job.tags],
        )

    def failed(self, job: JobRecord, exception: str, context: str = "") -> None:
        """Job::fail: completed-while-failed, then the failed record and failed tag lists (MarkJobAsFailed)."""
        _, now, score, expire_at = self._times("failed")
        failed_ttl = int(self.trim.get("failed", 10080)) * 60
        self._scripts["FAILED"](
            keys=[
                self.key(job.id), self.key("completed_jobs"), self.key("silenced_jobs"), self.key("pending_jobs"),
                self.key("failed_jobs"), self.key("recent_failed_jobs"),
                self.key(job.retry_of) if job.retry_of else "",
            ],
            args=[job.id, now, score, expire_at, job.connection, job.queue, job.name, job.payload, exception,
                  context, failed_ttl, self.key("failed:"), *job.tags],
        )
