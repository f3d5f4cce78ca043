"""Horizon's PHP side, replayed for the Horizon bookkeeping tests (tests/test_horizon*.py).

* `transcript_views` reads a MONITOR transcript of Horizon's own workers
  (fixtures/horizon) and folds its writes into what each job ends up as: hash fields,
  final status, sorted-set memberships, metric counters.
* `PhpHorizon` makes the writes Horizon's PHP code makes outside the worker, as the
  transcripts show them: the dispatching process's push (Horizon-prepared payload,
  StoreJob, StoreMonitoredTags), the dashboard's tag monitoring and Retry button.
* `redis_view` reads the same facts back from Redis after the Python worker ran.
"""

from __future__ import annotations

import json
import re
import time
import uuid as uuid_module
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.payload import php_json_encode_escaped
from laravel_queue.php import PhpObject, dumps
from laravel_queue.schema import migrate
from laravel_queue.support import php_float_to_string as php_float


@pytest.fixture
def hprefix(redis_prefix: str) -> str:
    """Horizon's prefix, under the test's Redis prefix so the keys are cleaned up with it."""
    return f"{redis_prefix}horizon:"


@pytest.fixture
def env(redis_env: dict[str, str], sqlite_env: dict[str, str], hprefix: str, redis_client: Any) -> dict[str, str]:
    """An app that uses Horizon (HORIZON_PREFIX set), failed_jobs in SQLite."""
    return {**sqlite_env, **redis_env, "APP_ENV": "local", "HORIZON_PREFIX": hprefix,
            "HORIZON_SILENCED": "App\\Jobs\\QuietJob"}


@pytest.fixture
def conns(env: dict[str, str]) -> Iterator[Connections]:
    connections = Connections(load_settings(environ=env))
    migrate(connections.db())
    yield connections
    connections.close()


JOB_SETS = ("recent_jobs", "pending_jobs", "completed_jobs", "silenced_jobs", "failed_jobs", "recent_failed_jobs",
            "monitored_jobs")
_LINE = re.compile(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$')
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"|<LUA ([^>]+)>')


def _unescape(text: str) -> str:
    return re.sub(r'\\(x[0-9a-f]{2}|.)', lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 3
                  else {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), text)


@dataclass
class JobView:
    """What Horizon's pages can see of one job."""

    fields: set[str] = field(default_factory=set)
    status: str | None = None
    sets: set[str] = field(default_factory=set)


@dataclass
class TranscriptView:
    jobs: dict[str, list[JobView]]
    """label (the dispatch MARK, e.g. "ok x3") -> the jobs pushed under it, in push order."""
    throughput: dict[str, int]
    """metric key without prefix (queue:default, job:App\\Jobs\\ControlledJob) -> updateMetrics calls."""
    tag_members: dict[str, int]


def parse_monitor(path: Path) -> list[tuple[str, list[str]]]:
    """(client, [command, args...]) per line; Lua bodies become `<LUA name>`."""
    out = []
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match:
            args = [_unescape(m.group(1)) if m.group(1) is not None else f"<LUA {m.group(2)}>"
                    for m in _ARG.finditer(match.group(3))]
            out.append((match.group(2), args))
    return out


def transcript_views(path: Path, start: str, end: str, prefix: str = "laravel_horizon:") -> TranscriptView:
    """Fold the Horizon writes between two MARKs into per-job views, labelled by dispatch MARK."""
    jobs: dict[str, list[JobView]] = {}
    by_id: dict[str, JobView] = {}
    throughput: dict[str, int] = {}
    tag_members: dict[str, int] = {}
    label, active = None, False
    for client, args in parse_monitor(path):
        command = args[0].upper()
        if command == "ECHO":
            mark = args[1].removeprefix("=== MARK ")
            active = (active or mark == start) and mark != end
            label = mark.removeprefix("dispatch ") if mark.startswith("dispatch ") else label
            continue
        if not active or client == "lua" or len(args) < 2:
            continue
        if command == "EVAL" and args[1] == "<LUA horizon:updateMetrics>":
            key = args[3].removeprefix(prefix)
            throughput[key] = throughput.get(key, 0) + 1
            continue
        key = args[1]
        if not key.startswith(prefix):
            continue
        name = key.removeprefix(prefix)
        if command == "ZADD" and name == "recent_jobs":
            view = by_id[args[3]] = JobView()
            jobs.setdefault(str(label), []).append(view)
        if command == "ZADD" and name in JOB_SETS:
            by_id[args[3]].sets.add(name)
        elif command == "ZREM" and name in JOB_SETS:
            by_id[args[2]].sets.discard(name)
        elif command == "ZADD":
            tag_members[name] = tag_members.get(name, 0) + 1
        elif command in ("HMSET", "HSET") and name in by_id:
            pairs = dict(zip(args[2::2], args[3::2], strict=True))
            by_id[name].fields |= set(pairs)
            by_id[name].status = pairs.get("status", by_id[name].status)
    return TranscriptView(jobs, throughput, tag_members)


def redis_view(client: Any, prefix: str, job_id: str) -> JobView:
    stored = {k.decode(): v.decode() for k, v in client.hgetall(prefix + job_id).items()}
    sets = {name for name in JOB_SETS if client.zscore(prefix + name, job_id) is not None}
    return JobView(fields=set(stored), status=stored.get("status"), sets=sets)


class PhpHorizon:
    """The PHP side of an app running Horizon: pushes, dashboard actions (spec horizon.md §2.1, §5.8)."""

    def __init__(self, conns: Connections, client: Any, prefix: str) -> None:
        self.conns, self.client, self.prefix = conns, client, prefix

    def monitor(self, tag: str) -> None:
        """The dashboard's "Monitor tag" (Horizon's own write)."""
        self.client.sadd(self.prefix + "monitoring", tag)

    def push(self, php_class: str, props: dict[str, Any], *, delay: int = 0, tags: list[str] | None = None,
             silenced: bool = False, extra: dict[str, Any] | None = None) -> str:
        """`dispatch()` in a Horizon app: Horizon's RedisQueue payload, then StoreJob/StoreMonitoredTags."""
        job_id = str(uuid_module.uuid4())
        now = time.time()
        command = dumps(PhpObject(php_class, props)).decode()
        payload: dict[str, Any] = {
            "uuid": job_id, "displayName": php_class, "job": "Illuminate\\Queue\\CallQueuedHandler@call",
            "maxTries": None, "maxExceptions": None, "failOnTimeout": False, "backoff": None, "timeout": None,
            "retryUntil": None, "data": {"commandName": php_class, "command": command},
            "createdAt": int(now), "delay": delay or None, "id": job_id, "attempts": 0, **(extra or {}),
            "type": "job", "tags": tags or [], "silenced": silenced, "pushedAt": php_float(now),
        }
        encoded = php_json_encode_escaped(payload)
        self.conns.queue().push_raw(encoded, "default", delay=delay)
        self.store_job(job_id, php_class, encoded, tags or [])
        return job_id

    def store_job(self, job_id: str, name: str, encoded: str, tags: list[str]) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.prefix + "recent_jobs", {job_id: -now})
        pipe.zadd(self.prefix + "pending_jobs", {job_id: -now})
        pipe.hset(self.prefix + job_id, mapping={
            "id": job_id, "connection": "redis", "queue": "default", "name": name, "status": "pending",
            "payload": encoded, "created_at": php_float(now), "updated_at": php_float(now)})
        pipe.expireat(self.prefix + job_id, int(now) + 3600)
        pipe.execute()
        monitoring = {m.decode() for m in self.client.smembers(self.prefix + "monitoring")}
        for tag in set(tags) & monitoring:
            self.client.zadd(self.prefix + tag, {job_id: now})

    def retry(self, failed_id: str) -> str:
        """The dashboard's Retry (RetryFailedJob): a copy with a new uuid, attempts 0, retry_of; parent's retried_by."""
        record = self.client.hget(self.prefix + failed_id, "payload")
        payload = json.loads(record)
        retry_id = str(uuid_module.uuid4())
        payload.update(uuid=retry_id, id=retry_id, attempts=0, retry_of=failed_id, pushedAt=php_float(time.time()))
        encoded = php_json_encode_escaped(payload)
        self.conns.queue().push_raw(encoded, "default")
        self.store_job(retry_id, payload["displayName"], encoded, [])
        retries = json.loads(self.client.hget(self.prefix + failed_id, "retried_by") or "[]")
        retries.append({"id": retry_id, "status": "pending", "retried_at": int(time.time())})
        self.client.hset(self.prefix + failed_id, "retried_by", php_json_encode_escaped(retries))
        return retry_id
